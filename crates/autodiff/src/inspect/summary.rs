//! `Tape::summary`: the tape as data ([`SummaryRow`]s) and as an aligned table.

use super::{fmt_location, fmt_norm, fmt_shape, grad_norms, snapshot, NodeInfo, ValueStatus};
use crate::backward::Gradients;
use crate::tape::{NodeId, NodeKind, Tape};
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use tapegrad_tensor::Float;

/// One node of a [`TapeSummary`].
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// Node id (index on the tape).
    pub id: NodeId,
    /// The label set with [`Var::label`](crate::Var::label).
    pub label: Option<String>,
    /// The op's name, or `"var"` / `"constant"` for leaves.
    pub op: &'static str,
    /// Trainable leaf, constant leaf, or op output.
    pub kind: NodeKind,
    /// Whether a gradient flows to this node.
    pub requires_grad: bool,
    /// Shape of the value.
    pub shape: Vec<usize>,
    /// Ids of the op's inputs, in order (empty for leaves).
    pub parents: Vec<NodeId>,
    /// Bytes of storage this node keeps alive that no earlier node does
    /// (0 for a view of an earlier node's buffer), so the rows add up to
    /// [`Tape::bytes`].
    pub bytes: usize,
    /// The first earlier node whose buffer this node's value views, if any.
    pub view_of: Option<NodeId>,
    /// Where the node was created (the caller's line, via `#[track_caller]`).
    pub location: &'static Location<'static>,
    /// L2 norm of the node's gradient, from [`Tape::summary_with`]
    /// (`None` where no gradient flowed or it was not kept, or without gradients).
    pub grad_norm: Option<f64>,
    /// Whether the value is held, checkpointed or released (its bytes are
    /// then 0).
    pub value: ValueStatus,
}

/// The tape as a table: [`rows`](Self::rows) as data, and a
/// [`Display`](fmt::Display) that prints them aligned for a terminal.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f32>::new();
/// let x = tape.var(Tensor::ones(&[2, 3])).label("x");
/// let y = x.exp().sum_all().label("y");
/// let s = y.backward_retain_all(); // every node's gradient, for the table
/// let summary = tape.summary_with(&s);
/// assert_eq!(summary.rows.len(), tape.len());
/// assert_eq!(summary.total_bytes(), tape.bytes());
/// assert_eq!(summary.rows[y.id()].grad_norm, Some(1.0));
/// println!("{summary}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TapeSummary {
    /// One row per node, in id (= recording) order.
    pub rows: Vec<SummaryRow>,
    /// Whether the rows carry gradient norms (made by [`Tape::summary_with`]).
    pub with_grads: bool,
}

impl TapeSummary {
    /// Bytes of storage the tape keeps alive (each buffer counted once).
    pub fn total_bytes(&self) -> usize {
        self.rows.iter().map(|r| r.bytes).sum()
    }
}

impl<E: Float> Tape<E> {
    /// The tape as a table: per node its id, label, op, shape, inputs, bytes
    /// held and source line. Print it with `{}`, or read its rows.
    pub fn summary(&self) -> TapeSummary {
        TapeSummary {
            rows: rows(snapshot(self), None),
            with_grads: false,
        }
    }

    /// Like [`summary`](Self::summary), with the L2 norm of each node's
    /// gradient in `grads` (a column in the table).
    ///
    /// # Panics
    /// If `grads` come from another tape.
    #[track_caller]
    pub fn summary_with(&self, grads: &Gradients<E>) -> TapeSummary {
        let norms = grad_norms(self, grads, "summary_with");
        TapeSummary {
            rows: rows(snapshot(self), Some(norms)),
            with_grads: true,
        }
    }
}

/// Rows from a snapshot, attributing each storage buffer to its first node.
fn rows(nodes: Vec<NodeInfo>, norms: Option<Vec<Option<f64>>>) -> Vec<SummaryRow> {
    let mut owner: HashMap<usize, NodeId> = HashMap::new();
    nodes
        .into_iter()
        .map(|n| {
            let held = n.value == ValueStatus::Held;
            let first = if held {
                *owner.entry(n.storage).or_insert(n.id)
            } else {
                n.id
            };
            let view_of = (first != n.id).then_some(first);
            SummaryRow {
                id: n.id,
                grad_norm: norms.as_ref().and_then(|v| v[n.id]),
                label: n.label,
                op: n.op,
                kind: n.kind,
                requires_grad: n.requires_grad,
                shape: n.shape,
                parents: n.parents,
                bytes: if view_of.is_some() || !held {
                    0
                } else {
                    n.storage_bytes
                },
                view_of,
                value: n.value,
                location: n.location,
            }
        })
        .collect()
}

/// Text alignment of a column.
#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

/// `512 B`, `4.0 KiB`, `1.5 MiB`.
fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The table cells of one row.
fn cells(r: &SummaryRow, with_grads: bool) -> Vec<String> {
    let parents: Vec<String> = r.parents.iter().map(|p| p.to_string()).collect();
    let bytes = match (r.value, r.view_of) {
        (ValueStatus::Released, _) => "released".to_string(),
        (ValueStatus::Checkpointed, _) => "checkpointed".to_string(),
        (ValueStatus::Held, Some(owner)) => format!("view #{owner}"),
        (ValueStatus::Held, None) => human_bytes(r.bytes),
    };
    let mut cells = vec![
        r.id.to_string(),
        r.label.clone().unwrap_or_default(),
        r.op.to_string(),
        fmt_shape(&r.shape),
        parents.join(", "),
        bytes,
    ];
    if with_grads {
        cells.push(r.grad_norm.map_or_else(|| "-".to_string(), fmt_norm));
    }
    cells.push(fmt_location(r.location));
    cells
}

/// Writes one line of cells padded to `widths`, trailing spaces trimmed.
fn write_line(
    f: &mut fmt::Formatter<'_>,
    cells: &[String],
    widths: &[usize],
    align: &[Align],
) -> fmt::Result {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = " ".repeat(widths[i] - cell.chars().count());
        match align[i] {
            Align::Left => line.extend([cell.as_str(), &pad]),
            Align::Right => line.extend([pad.as_str(), cell]),
        }
    }
    writeln!(f, "{}", line.trim_end())
}

impl fmt::Display for TapeSummary {
    /// An aligned table, one line per node, then a total line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Align::{Left, Right};
        let mut header = vec!["id", "label", "op", "shape", "inputs", "bytes"];
        let mut align = vec![Right, Left, Left, Left, Left, Right];
        if self.with_grads {
            header.push("grad L2");
            align.push(Right);
        }
        header.push("created at");
        align.push(Left);
        let header: Vec<String> = header.into_iter().map(String::from).collect();
        let body: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| cells(r, self.with_grads))
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &body {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        write_line(f, &header, &widths, &align)?;
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        write_line(f, &rule, &widths, &align)?;
        for row in &body {
            write_line(f, row, &widths, &align)?;
        }
        let n = self.rows.len();
        write!(
            f,
            "{n} node{}, {} held",
            if n == 1 { "" } else { "s" },
            human_bytes(self.total_bytes())
        )
    }
}
