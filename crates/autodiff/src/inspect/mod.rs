//! Seeing inside backprop: labels and gradient hooks on vars
//! ([`Var::label`](crate::Var::label), [`Var::register_hook`](crate::Var::register_hook)),
//! the tape as a table ([`Tape::summary`]) and as a Graphviz graph ([`Tape::to_dot`]).
//! Anomaly mode lives next door, in `anomaly.rs`.
//!
//! ```
//! use tapegrad_autodiff::Tape;
//! use tapegrad_tensor::Tensor;
//!
//! let tape = Tape::<f64>::new();
//! let w = tape.var(Tensor::from_vec(vec![0.5, -0.5], &[2, 1])).label("w");
//! let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[1, 2])).label("x");
//! let loss = x.matmul(w).tanh().label("act").sum_all().label("loss");
//! let grads = loss.backward_retain_all(); // every node's gradient
//!
//! let table = tape.summary_with(&grads).to_string();
//! assert!(table.contains("act") && table.contains("tanh"));
//! let dot = tape.to_dot_with(&grads);
//! assert!(dot.starts_with("digraph tape {"));
//! ```

mod dot;
mod hooks;
mod summary;

pub use summary::{SummaryRow, TapeSummary};

/// Whether a node still holds its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueStatus {
    /// The value is held.
    Held,
    /// Dropped inside a [`checkpoint`](crate::checkpoint)ed block, to be
    /// recomputed when needed.
    Checkpointed,
    /// Released by [`Var::backward_consuming`](crate::Var::backward_consuming).
    Released,
}

use crate::backward::Gradients;
use crate::tape::{NodeId, NodeKind, Tape};
use std::panic::Location;
use tapegrad_tensor::Float;

/// A copy of what the inspectors need from one node, taken under a single
/// short borrow of the tape.
pub(crate) struct NodeInfo {
    pub id: NodeId,
    pub op: &'static str,
    pub kind: NodeKind,
    pub requires_grad: bool,
    pub shape: Vec<usize>,
    pub parents: Vec<NodeId>,
    pub label: Option<String>,
    pub location: &'static Location<'static>,
    /// Address of the storage buffer (to spot views sharing it).
    pub storage: usize,
    pub storage_bytes: usize,
    pub value: ValueStatus,
}

pub(crate) use crate::tape::node_name as op_name;

/// Every node of `tape`, in id order.
pub(crate) fn snapshot<E: Float>(tape: &Tape<E>) -> Vec<NodeInfo> {
    let nodes = tape.nodes.borrow();
    nodes
        .iter()
        .enumerate()
        .map(|(id, n)| NodeInfo {
            id,
            op: op_name(n.op.as_ref().map(|o| o.name()), n.kind),
            kind: n.kind,
            requires_grad: n.requires_grad,
            shape: n.value.shape().to_vec(),
            parents: n.parents.to_vec(),
            label: n.label().map(|l| l.to_string()),
            location: n.location,
            storage: n.value.storage().as_ptr() as usize,
            storage_bytes: n.value.storage_bytes(),
            value: match n.state {
                crate::tape::ValueState::Held => ValueStatus::Held,
                crate::tape::ValueState::Recomputable => ValueStatus::Checkpointed,
                crate::tape::ValueState::Released => ValueStatus::Released,
            },
        })
        .collect()
}

/// The L2 norm `sqrt(Σ g²)` of each node's gradient (computed in `f64`),
/// `None` where no gradient flowed.
///
/// # Panics
/// If `grads` come from another tape (or an earlier step of this one).
#[track_caller]
pub(crate) fn grad_norms<E: Float>(
    tape: &Tape<E>,
    grads: &Gradients<E>,
    what: &str,
) -> Vec<Option<f64>> {
    if grads.tape_uid() != tape.uid() {
        panic!("{what}: the gradients belong to another tape (or an earlier step of this one)");
    }
    (0..tape.len())
        .map(|id| {
            let g = grads.by_id(id)?;
            let sq: f64 = g
                .to_vec()
                .into_iter()
                .map(|v| v.to_f64() * v.to_f64())
                .sum();
            Some(sq.sqrt())
        })
        .collect()
}

/// `[2, 3]`, or `[]` for a scalar.
pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    format!("{shape:?}")
}

/// A gradient norm for people: `1.234e-3`, `NaN`, `inf`.
pub(crate) fn fmt_norm(norm: f64) -> String {
    if norm.is_finite() {
        format!("{norm:.3e}")
    } else {
        format!("{norm}")
    }
}

/// `file:line` of a source location.
pub(crate) fn fmt_location(location: &Location<'_>) -> String {
    format!("{}:{}", location.file(), location.line())
}
