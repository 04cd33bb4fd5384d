//! Anomaly mode: find the first op whose forward output or backward
//! gradient holds NaN or Inf, and name its op, node, label and source line.
//!
//! Two ways in:
//!
//! - **Panicking, as it happens**: [`Tape::detect_anomaly`]`(true)` checks
//!   every op's output as it is recorded and every gradient a backward rule
//!   produces, and panics at the first bad one with an [`Anomaly`]'s message.
//!   Costs one scan of each value while on.
//! - **As a value, afterwards**: [`Var::try_backward`] (or
//!   [`Tape::check_finite`] and [`Tape::check_gradients`]) runs normally,
//!   then looks for the first anomaly and returns it as an `Err(Anomaly)`.
//!   Both ways name the same op.
//!
//! ```
//! use tapegrad_autodiff::{Phase, Tape};
//! use tapegrad_tensor::Tensor;
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::from_vec(vec![1.0, 0.0], &[2])).label("x");
//! let loss = x.sqrt().label("root").sum_all(); // d sqrt / dx = inf at 0
//! let anomaly = loss.try_backward().err().unwrap();
//! assert_eq!((anomaly.op, anomaly.phase), ("sqrt", Phase::Backward));
//! assert_eq!(anomaly.label.as_deref(), Some("root"));
//! ```

use crate::backward::Gradients;
use crate::nonfinite::describe_bad;
pub use crate::nonfinite::{Anomaly, AnomalyInput, Phase};
use crate::ops::Ctx;
use crate::tape::{NodeId, Tape};
use crate::var::Var;
use smallvec::SmallVec;
use tapegrad_tensor::{Float, Tensor};

impl<E: Float> Tape<E> {
    /// Turns anomaly mode on or off. While on, recording an op whose output
    /// holds NaN or Inf, or a backward rule producing such a gradient,
    /// panics with the [`Anomaly`] message: op, node id, label, source line,
    /// phase and the op's inputs.
    ///
    /// Gradient hooks and the summing of several paths' gradients are not
    /// checked as they happen; [`check_gradients`](Self::check_gradients)
    /// covers them afterwards. Under [`Tape::grad`] the rules' own ops are
    /// recorded, so a bad gradient is caught as the forward output of an op
    /// inside a rule (say `div`, created in the crate's `grad_ops.rs`), with
    /// the op whose rule it is among its inputs.
    ///
    /// ```should_panic
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f32>::new();
    /// tape.detect_anomaly(true);
    /// let p = tape.var(Tensor::from_vec(vec![0.5, 0.0], &[2])).label("p");
    /// let _ = p.ln(); // panics: "anomaly: Forward of `ln` (node #1, created at ...) ..."
    /// ```
    pub fn detect_anomaly(&self, on: bool) {
        self.anomaly.set(on);
    }

    /// Whether anomaly mode is on.
    pub fn anomaly_mode(&self) -> bool {
        self.anomaly.get()
    }

    /// The first node (in recording order) whose value holds NaN or Inf, as
    /// a forward [`Anomaly`]; `Ok(())` if every value is finite.
    pub fn check_finite(&self) -> Result<(), Anomaly> {
        match self.len() {
            0 => Ok(()),
            n => self.first_bad_value(&vec![true; n]),
        }
    }

    /// The first gradient rule, in backward order, that turned finite
    /// gradients into NaN or Inf, as a backward [`Anomaly`] naming that op.
    /// If a node's gradient is bad although every rule feeding it gave finite
    /// values (overflow while summing paths, or a hook), that node is named.
    ///
    /// # Panics
    /// If `grads` come from another tape.
    #[track_caller]
    pub fn check_gradients(&self, grads: &Gradients<E>) -> Result<(), Anomaly> {
        if grads.tape_uid() != self.uid() {
            panic!("check_gradients: the gradients belong to another tape (or an earlier step of this one)");
        }
        for id in (0..self.len()).rev() {
            let Some(g) = grads.by_id(id) else { continue };
            if let Some(detail) = describe_bad(g) {
                let detail = format!("{detail} in its own gradient, from finite inputs (overflow when summing paths, or a hook)");
                return Err(self.anomaly_at(id, Phase::Backward, detail));
            }
            if let Some(detail) = self.rerun_if_parents_bad(id, grads) {
                return Err(self.anomaly_at(id, Phase::Backward, detail));
            }
        }
        Ok(())
    }

    /// The first bad value among nodes with `mask[id]`.
    fn first_bad_value(&self, mask: &[bool]) -> Result<(), Anomaly> {
        for (id, &keep) in mask.iter().enumerate() {
            if !keep {
                continue;
            }
            let detail = describe_bad(&self.nodes.borrow()[id].value);
            if let Some(detail) = detail {
                return Err(self.anomaly_at(id, Phase::Forward, detail));
            }
        }
        Ok(())
    }

    /// If an input of node `id` has a bad gradient, reruns `id`'s backward
    /// rule on its (finite) incoming gradient and describes a bad output.
    fn rerun_if_parents_bad(&self, id: NodeId, grads: &Gradients<E>) -> Option<String> {
        let (op, parents) = {
            let nodes = self.nodes.borrow();
            (nodes[id].op.clone()?, nodes[id].parents.clone())
        };
        let bad = |p: NodeId| grads.by_id(p).is_some_and(|g| describe_bad(g).is_some());
        if !parents.iter().any(|&p| bad(p)) {
            return None;
        }
        let needs: SmallVec<[bool; 3]> = parents.iter().map(|&p| self.requires_grad(p)).collect();
        let x: SmallVec<[Tensor<E>; 3]> = parents.iter().map(|&p| self.value_of(p)).collect();
        let (out, g) = (self.value_of(id), grads.by_id(id)?.clone());
        let ctx = Ctx {
            x: &x,
            out: &out,
            g: &g,
            needs: &needs,
        };
        let result = op.backward_tensor(&ctx);
        let bad = result.iter().flatten().find_map(describe_bad);
        bad
    }

    /// Nodes `0..=root` that `root` depends on (itself included).
    fn ancestors(&self, root: NodeId) -> Vec<bool> {
        let mut mask = vec![false; root + 1];
        mask[root] = true;
        let nodes = self.nodes.borrow();
        for id in (0..=root).rev() {
            if mask[id] {
                for &p in &nodes[id].parents {
                    mask[p] = true;
                }
            }
        }
        mask
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// Like [`backward`](Self::backward), but returns the first anomaly
    /// instead of gradients holding NaN or Inf: first a forward one (a value
    /// this output depends on, see [`Tape::check_finite`]), then a backward
    /// one (see [`Tape::check_gradients`]). Anomaly mode is paused while it
    /// runs, so it never panics over non-finite values. It keeps every
    /// node's gradient, as [`backward_retain_all`](Self::backward_retain_all).
    ///
    /// ```
    /// use tapegrad_autodiff::{Phase, Tape};
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f32>::new();
    /// let p = tape.var(Tensor::from_vec(vec![0.5, 0.0], &[2])).label("p");
    /// let loss = p.ln().sum_all();
    /// let err = loss.try_backward().err().unwrap();
    /// assert_eq!((err.op, err.phase, err.inputs[0].label.as_deref()), ("ln", Phase::Forward, Some("p")));
    /// ```
    ///
    /// # Panics
    /// If this var has more than one element.
    #[track_caller]
    pub fn try_backward(self) -> Result<Gradients<E>, Anomaly> {
        let tape = self.tape;
        tape.first_bad_value(&tape.ancestors(self.id))?;
        let was_on = tape.anomaly.replace(false);
        let grads = self.backward_retain_all();
        tape.anomaly.set(was_on);
        tape.check_gradients(&grads)?;
        Ok(grads)
    }
}
