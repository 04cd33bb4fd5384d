//! `Tape::to_dot`: the tape as a Graphviz graph.

use super::{fmt_location, fmt_norm, fmt_shape, grad_norms, snapshot, NodeInfo};
use crate::backward::Gradients;
use crate::tape::{NodeKind, Tape};
use std::fmt::Write;
use tapegrad_tensor::Float;

impl<E: Float> Tape<E> {
    /// The tape as a Graphviz DOT graph (`dot -Tsvg tape.dot -o tape.svg`).
    ///
    /// Each node is drawn once, named `n<id>`: ops as boxes showing id, op
    /// name, label and shape; trainable leaves as light-blue ellipses;
    /// constants as grey ellipses. Ops that need no gradient are dashed.
    /// Edges run from each input to the op that used it (one per input, so
    /// `x * x` draws two), labelled with the shape flowing along them. The
    /// tooltip of each node (shown on hover in SVG) is its source line.
    ///
    /// ```
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f32>::new();
    /// let w = tape.var(Tensor::ones(&[3, 2])).label("w");
    /// let x = tape.constant(Tensor::ones(&[4, 3]));
    /// let y = x.matmul(w).relu().label("h \"relu\"");
    /// let dot = tape.to_dot();
    /// assert!(dot.contains(r#"n2 -> n3 [label="[4, 2]"]"#));
    /// assert!(dot.contains(r#"h \"relu\""#)); // quotes escaped
    /// # let _ = y;
    /// ```
    pub fn to_dot(&self) -> String {
        render(&snapshot(self), None)
    }

    /// Like [`to_dot`](Self::to_dot), with the L2 norm of each node's gradient
    /// in `grads` written on the node (`|g| = 1.234e-2`); nodes whose gradient
    /// is NaN or infinite get a red border.
    ///
    /// # Panics
    /// If `grads` come from another tape.
    #[track_caller]
    pub fn to_dot_with(&self, grads: &Gradients<E>) -> String {
        let norms = grad_norms(self, grads, "to_dot_with");
        render(&snapshot(self), Some(&norms))
    }
}

/// Escapes text for a double-quoted DOT string: `\` and `"` are escaped, a
/// line break becomes DOT's `\n`, other control characters are dropped.
pub(crate) fn escape_dot(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The whole graph.
fn render(nodes: &[NodeInfo], norms: Option<&[Option<f64>]>) -> String {
    let mut out = String::from("digraph tape {\n");
    out.push_str("  node [fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");
    for n in nodes {
        let norm = norms.and_then(|v| v[n.id]);
        node_line(&mut out, n, norm);
    }
    for n in nodes {
        for &p in &n.parents {
            let shape = escape_dot(&fmt_shape(&nodes[p].shape));
            let _ = writeln!(out, "  n{p} -> n{} [label=\"{shape}\"];", n.id);
        }
    }
    out.push_str("}\n");
    out
}

/// One node statement: its label lines and style.
fn node_line(out: &mut String, n: &NodeInfo, norm: Option<f64>) {
    let mut lines = vec![format!("#{} {}", n.id, n.op)];
    lines.extend(n.label.clone());
    lines.push(fmt_shape(&n.shape));
    match n.value {
        super::ValueStatus::Held => {}
        super::ValueStatus::Checkpointed => lines.push("(checkpointed)".into()),
        super::ValueStatus::Released => lines.push("(value released)".into()),
    }
    if let Some(norm) = norm {
        lines.push(format!("|g| = {}", fmt_norm(norm)));
    }
    let label: Vec<String> = lines.iter().map(|l| escape_dot(l)).collect();
    let mut style = match n.kind {
        NodeKind::Var => "shape=ellipse, style=filled, fillcolor=lightblue".to_string(),
        NodeKind::Constant => "shape=ellipse, style=filled, fillcolor=lightgrey".to_string(),
        NodeKind::Op if n.requires_grad => "shape=box".to_string(),
        NodeKind::Op => "shape=box, style=dashed".to_string(),
    };
    if norm.is_some_and(|v| !v.is_finite()) {
        style.push_str(", color=red, penwidth=2");
    }
    let tooltip = escape_dot(&fmt_location(n.location));
    let _ = writeln!(
        out,
        "  n{} [label=\"{}\", {style}, tooltip=\"{tooltip}\"];",
        n.id,
        label.join("\\n")
    );
}
