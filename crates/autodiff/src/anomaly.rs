//! Anomaly mode: stop at the first op whose forward output or backward
//! gradient holds NaN or Inf, naming the op, node, label and source line.

use crate::tape::{Node, NodeId, Tape};
use tapegrad_tensor::{Float, Tensor};

/// Where an anomaly appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In an op's output value.
    Forward,
    /// In the gradient flowing into a node.
    Backward,
}

impl<E: Float> Tape<E> {
    /// Turns anomaly mode on or off. When on, the first non-finite value
    /// panics with a message naming the op, node id, label, source location
    /// and phase.
    pub fn detect_anomaly(&self, on: bool) {
        self.anomaly.set(on);
    }

    /// Whether anomaly mode is on.
    pub fn anomaly_mode(&self) -> bool {
        self.anomaly.get()
    }
}

fn describe_bad<E: Float>(t: &Tensor<E>) -> Option<String> {
    let v = t.to_vec();
    let nan = v.iter().filter(|x| x.is_nan()).count();
    let inf = v.iter().filter(|x| !x.is_nan() && !x.is_finite()).count();
    (nan + inf > 0).then(|| format!("{nan} NaN and {inf} Inf of {} elements", v.len()))
}

fn report<E: Float>(node: &Node<E>, id: NodeId, phase: Phase, what: String) -> ! {
    let op = node.op.as_ref().map_or("leaf", |o| o.name());
    let label = node
        .label
        .as_deref()
        .map(|l| format!(" \"{l}\""))
        .unwrap_or_default();
    panic!(
        "anomaly: {:?} of `{op}` (node #{id}{label}, created at {}) produced {what}",
        phase, node.location
    );
}

/// Checks an op's output before it is recorded as node `tape.len()`.
pub(crate) fn check_forward<E: Float>(tape: &Tape<E>, node: &Node<E>) {
    if let Some(what) = describe_bad(&node.value) {
        report(node, tape.len(), Phase::Forward, what);
    }
}

/// Checks a gradient that the backward rule of node `id` produced.
pub(crate) fn check_backward<E: Float>(tape: &Tape<E>, id: NodeId, g: &Tensor<E>) {
    if let Some(what) = describe_bad(g) {
        let nodes = tape.nodes.borrow();
        report(&nodes[id], id, Phase::Backward, what);
    }
}
