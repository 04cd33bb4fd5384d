//! The NaN/Inf check and the report of where it was found: [`Anomaly`],
//! [`AnomalyInput`], [`Phase`] and `describe_bad`. A leaf: it depends on
//! the tensor crate only, so the tape (which checks values as they are
//! recorded), the backward loop (which checks gradients) and the anomaly
//! analysis (`anomaly.rs`) all use it without depending on each other.

use std::fmt;
use std::panic::Location;
use tapegrad_tensor::{Float, Tensor};

/// A node's id on its tape (the same as `tape::NodeId`).
type NodeId = usize;

/// Where an anomaly appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In an op's output value (or a leaf's value).
    Forward,
    /// In a gradient produced during the backward pass.
    Backward,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An input of the op an [`Anomaly`] names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnomalyInput {
    /// The input's node id.
    pub node: NodeId,
    /// Its op name (`"var"` / `"constant"` for leaves).
    pub op: &'static str,
    /// Its label, if any.
    pub label: Option<String>,
}

/// The first NaN or Inf found, and where it came from: returned by
/// [`Var::try_backward`](crate::Var::try_backward), [`Tape::check_finite`](crate::Tape::check_finite) and
/// [`Tape::check_gradients`](crate::Tape::check_gradients); [`Tape::detect_anomaly`](crate::Tape::detect_anomaly) panics with its message.
///
/// Its `Display` is the message anomaly mode panics with:
/// ``anomaly: Forward of `ln` (node #2, created at src/main.rs:9:17) produced
/// 1 Inf (of 3 values); inputs: #1 constant "probs"``.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Forward (the op's output) or backward (a gradient its rule produced).
    pub phase: Phase,
    /// The op's name (`"ln"`), or `"var"` / `"constant"` for a leaf.
    pub op: &'static str,
    /// The node id of the op's output.
    pub node: NodeId,
    /// The node's label, if one was set (forward anomalies are found while
    /// the op is recorded, before its output can be labelled: see `inputs`).
    pub label: Option<String>,
    /// The line that created the node.
    pub location: &'static Location<'static>,
    /// The op's inputs.
    pub inputs: Vec<AnomalyInput>,
    /// What was found (`"1 NaN, 2 Inf (of 6 values)"`).
    pub detail: String,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self
            .label
            .as_deref()
            .map(|l| format!(" \"{l}\""))
            .unwrap_or_default();
        write!(
            f,
            "anomaly: {} of `{}` (node #{}{label}, created at {}) produced {}",
            self.phase, self.op, self.node, self.location, self.detail
        )?;
        if self.phase == Phase::Backward {
            f.write_str(" in the gradient of an input")?;
        }
        for (i, input) in self.inputs.iter().enumerate() {
            f.write_str(if i == 0 { "; inputs: " } else { ", " })?;
            write!(f, "#{} {}", input.node, input.op)?;
            if let Some(l) = &input.label {
                write!(f, " \"{l}\"")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Anomaly {}

/// `"1 NaN, 2 Inf (of 6 values)"` if `t` holds non-finite values.
pub(crate) fn describe_bad<E: Float>(t: &Tensor<E>) -> Option<String> {
    let v = t.to_vec();
    let nan = v.iter().filter(|x| x.is_nan()).count();
    let inf = v.iter().filter(|x| !x.is_nan() && !x.is_finite()).count();
    let parts: Vec<String> = [(nan, "NaN"), (inf, "Inf")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    (!parts.is_empty()).then(|| format!("{} (of {} values)", parts.join(", "), v.len()))
}
