//! Forward mode: Jacobian-vector products computed alongside the values,
//! in the same forward pass, with no reverse pass.
//!
//! [`Tape::seed_tangent`] gives a var a tangent `ẋ` and turns forward mode
//! on: from then on every op recorded on the tape whose inputs carry
//! tangents runs its [`Op::jvp`](crate::Op::jvp) rule and stores the output's
//! tangent `ẏ = J ẋ` beside its value ([`Tape::tangent`]). The rule runs on
//! tensors (nothing recorded: the fast path of `jvp`), or, after
//! [`Tape::seed_tangent_var`], on vars: tangents are then recorded nodes of
//! the tape and can be differentiated in reverse ("reverse-over-forward").
//! With tensor tangents on, a [`Tape::grad`] records its backward rules as
//! ops, so their tangents are directional derivatives of the gradient
//! ("forward-over-reverse", how [`hvp`](crate::hvp) works).
//!
//! One tape carries one set of tangents (one forward-mode "level").
//!
//! ```
//! use tapegrad_autodiff::Tape;
//! use tapegrad_tensor::Tensor;
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
//! tape.seed_tangent(x, Tensor::from_vec(vec![1.0, 0.0], &[2])); // d/dx₀
//! let y = (x * x).sum_all(); // y = x₀² + x₁²
//! assert_eq!(tape.tangent(y).unwrap().item(), 2.0); // ∂y/∂x₀ = 2 x₀
//! ```

use crate::ops::{Ctx, DynOp, JvpCtx};
use crate::tape::{NodeId, Tape};
use crate::var::{check_tape, Var};
use smallvec::SmallVec;
use tapegrad_tensor::{Float, Tensor};

/// How a tape carries tangents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No forward mode.
    Off,
    /// Tangents are tensors, computed without recording.
    Tensor,
    /// Tangents are vars on the tape (differentiable).
    Var,
}

/// A node's tangent.
#[derive(Clone)]
pub(crate) enum Tangent<E: Float> {
    /// A tensor (forward mode on tensors).
    Value(Tensor<E>),
    /// The id of a node holding it (forward mode on vars).
    Node(NodeId),
}

impl<E: Float> Tape<E> {
    /// Gives `x` the tangent `t` and turns forward mode on, with tangents as
    /// tensors: every op recorded afterwards that depends on `x` computes
    /// its output's tangent (`J t`) as it is recorded. Seeding several vars
    /// sums their contributions (the tangent of `f(x, w)` is
    /// `∂f/∂x ẋ + ∂f/∂w ẇ`).
    ///
    /// # Panics
    /// If `t`'s shape differs from `x`'s, `x` lives on another tape, or the
    /// tape already carries tangents as vars ([`seed_tangent_var`](Self::seed_tangent_var)).
    #[track_caller]
    pub fn seed_tangent(&self, x: Var<'_, E>, t: Tensor<E>) {
        self.check_seed(x, t.shape(), Mode::Tensor, "seed_tangent");
        self.forward.set(Mode::Tensor);
        self.nodes.borrow_mut()[x.id].extras_mut().tangent = Some(Tangent::Value(t));
    }

    /// Gives `x` the tangent `t`, a var on this tape, and turns forward mode
    /// on with tangents as vars: each op's tangent is then computed by
    /// recorded ops, so tangents can be differentiated again (for example
    /// `tape.grad` of a tangent: reverse-over-forward).
    ///
    /// # Panics
    /// As [`seed_tangent`](Self::seed_tangent), with modes swapped.
    #[track_caller]
    pub fn seed_tangent_var<'t>(&'t self, x: Var<'t, E>, t: Var<'t, E>) {
        check_tape(self, &[t], "seed_tangent_var (tangent)");
        self.check_seed(x, &t.shape(), Mode::Var, "seed_tangent_var");
        self.forward.set(Mode::Var);
        self.nodes.borrow_mut()[x.id].extras_mut().tangent = Some(Tangent::Node(t.id));
    }

    #[track_caller]
    fn check_seed(&self, x: Var<'_, E>, t_shape: &[usize], mode: Mode, op: &str) {
        check_tape(self, &[x], op);
        let shape = x.shape();
        if shape.as_slice() != t_shape {
            panic!("{op}: tangent of shape {t_shape:?} for a var of shape {shape:?}");
        }
        let current = self.forward.get();
        if current != Mode::Off && current != mode {
            panic!(
                "{op}: this tape already carries tangents as {current:?}s; one tape holds one kind"
            );
        }
    }

    /// The forward-mode tangent of `y` as a tensor, or `None` if `y` does not
    /// depend on a seeded var (its tangent is zero) or forward mode is off.
    ///
    /// # Panics
    /// If `y` lives on another tape.
    #[track_caller]
    pub fn tangent(&self, y: Var<'_, E>) -> Option<Tensor<E>> {
        check_tape(self, &[y], "tangent");
        match self.nodes.borrow()[y.id].tangent().cloned()? {
            Tangent::Value(t) => Some(t),
            Tangent::Node(id) => Some(self.value_of(id)),
        }
    }

    /// The tangent of `y` as a var on this tape (a constant holding it when
    /// tangents are tensors), or `None` if it is zero.
    ///
    /// # Panics
    /// If `y` lives on another tape.
    #[track_caller]
    pub fn tangent_var<'t>(&'t self, y: Var<'t, E>) -> Option<Var<'t, E>> {
        check_tape(self, &[y], "tangent_var");
        let tangent = self.nodes.borrow()[y.id].tangent().cloned()?;
        Some(match tangent {
            Tangent::Value(t) => self.constant(t),
            Tangent::Node(id) => Var::new(self, id),
        })
    }

    /// Turns forward mode off: ops recorded afterwards carry no tangents
    /// (those already computed stay readable).
    pub fn stop_tangents(&self) {
        self.forward.set(Mode::Off);
    }
}

/// Computes and stores the tangent of node `id` (just recorded) from its
/// parents' tangents, if any of them has one.
pub(crate) fn propagate<E: Float>(tape: &Tape<E>, id: NodeId) {
    let (op, parents, tangents) = {
        let nodes = tape.nodes.borrow();
        let node = &nodes[id];
        let Some(op) = node.op.clone() else { return };
        let tangents: SmallVec<[Option<Tangent<E>>; 3]> = node
            .parents
            .iter()
            .map(|&p| nodes[p].tangent().cloned())
            .collect();
        if tangents.iter().all(|t| t.is_none()) {
            return;
        }
        (op, node.parents.clone(), tangents)
    };
    let tangent = match tape.forward.get() {
        Mode::Off => return,
        Mode::Tensor => {
            let x: SmallVec<[Tensor<E>; 3]> = parents.iter().map(|&p| tape.value_of(p)).collect();
            let out = tape.value_of(id);
            let t: SmallVec<[Option<Tensor<E>>; 3]> = tangents
                .into_iter()
                .map(|t| {
                    t.map(|t| match t {
                        Tangent::Value(v) => v,
                        Tangent::Node(n) => tape.value_of(n),
                    })
                })
                .collect();
            let ctx = JvpCtx {
                x: &x,
                out: &out,
                t: &t,
            };
            let r = op
                .jvp_tensor(&ctx)
                .unwrap_or_else(|| double_vjp_tensor(op.as_ref(), &x, &out, &t));
            check_shape(tape, id, op.as_ref(), r.shape(), out.shape());
            Tangent::Value(r)
        }
        Mode::Var => {
            // The rule's own ops must not carry tangents of their own (that
            // would be a second forward-mode level): off while it runs.
            tape.forward.set(Mode::Off);
            let x: SmallVec<[Var<'_, E>; 3]> = parents.iter().map(|&p| Var::new(tape, p)).collect();
            let out = Var::new(tape, id);
            let t: SmallVec<[Option<Var<'_, E>>; 3]> = tangents
                .into_iter()
                .map(|t| {
                    t.map(|t| match t {
                        Tangent::Node(n) => Var::new(tape, n),
                        Tangent::Value(v) => tape.constant(v),
                    })
                })
                .collect();
            let ctx = JvpCtx {
                x: &x,
                out: &out,
                t: &t,
            };
            let r = op
                .jvp_var(&ctx)
                .unwrap_or_else(|| double_vjp_var(tape, op.as_ref(), &x, out, &t));
            tape.forward.set(Mode::Var);
            check_shape(tape, id, op.as_ref(), &r.shape(), &out.shape());
            Tangent::Node(r.id)
        }
    };
    tape.nodes.borrow_mut()[id].extras_mut().tangent = Some(tangent);
}

/// Panics unless a jvp rule returned a tangent shaped like the output.
fn check_shape<E: Float>(
    tape: &Tape<E>,
    id: NodeId,
    op: &dyn DynOp<E>,
    got: &[usize],
    want: &[usize],
) {
    if got != want {
        let loc = tape.nodes.borrow()[id].location;
        panic!(
            "jvp of `{}` (node #{id}, created at {loc}) returned a tangent of shape {got:?} for an output of shape {want:?}",
            op.name()
        );
    }
}

/// The double-VJP identity, for ops without a forward-mode rule: the
/// backward rule `u ↦ Jᵀu` is linear in `u`, so `J t = ∂/∂u Σᵢ ⟨(Jᵀu)ᵢ, tᵢ⟩`.
/// Runs the rule on vars of a scratch tape and differentiates it once.
fn double_vjp_tensor<E: Float>(
    op: &dyn DynOp<E>,
    x: &[Tensor<E>],
    out: &Tensor<E>,
    t: &[Option<Tensor<E>>],
) -> Tensor<E> {
    let scratch = Tape::<E>::new();
    let xs: SmallVec<[Var<'_, E>; 3]> = x.iter().map(|v| scratch.constant(v.clone())).collect();
    let out = scratch.constant(out.clone());
    let ts: SmallVec<[Option<Var<'_, E>>; 3]> = t
        .iter()
        .map(|t| t.as_ref().map(|t| scratch.constant(t.clone())))
        .collect();
    let jv = double_vjp_var(&scratch, op, &xs, out, &ts);
    jv.value()
}

/// [`double_vjp_tensor`] on vars of `tape`: recorded, so differentiable in
/// the inputs and the tangents.
fn double_vjp_var<'t, E: Float>(
    tape: &'t Tape<E>,
    op: &dyn DynOp<E>,
    x: &[Var<'t, E>],
    out: Var<'t, E>,
    t: &[Option<Var<'t, E>>],
) -> Var<'t, E> {
    let u = tape.var(Tensor::zeros(&out.shape()));
    let needs: SmallVec<[bool; 3]> = t.iter().map(|t| t.is_some()).collect();
    let ctx = Ctx {
        x,
        out: &out,
        g: &u,
        needs: &needs,
    };
    let grads = op.backward_var(&ctx);
    let terms: Vec<Var<'t, E>> = t
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let t = t.as_ref()?;
            let g = grads.get(i).copied().unwrap_or_else(|| {
                panic!(
                    "jvp of `{}` (double-VJP fallback): its backward rule gave no gradient for input {i}",
                    op.name()
                )
            });
            Some((g * *t).sum_all())
        })
        .collect();
    let s = terms
        .into_iter()
        .reduce(|a, b| a + b)
        .expect("at least one tangent");
    tape.grad(s, &[u])[0]
}
