//! `Var`: a `Copy` handle to a node on a tape, with the recording machinery
//! every op method uses.

use crate::ops::{DynOp, Op, Rule};
use crate::tape::{NodeId, NodeKind, Tape};
use std::panic::Location;
use std::rc::Rc;
use tapegrad_tensor::{Float, Tensor};

/// A value recorded on a [`Tape`]: a tape reference and a node id.
///
/// `Var` is `Copy`, so expressions read like math (`a * b + c`) with no `&`
/// or `.clone()`. Every op on a `Var` computes its value at once and records
/// itself, with the caller's source line, for the backward pass.
#[derive(Clone, Copy)]
pub struct Var<'t, E: Float = f32> {
    pub(crate) tape: &'t Tape<E>,
    pub(crate) id: NodeId,
}

impl<'t, E: Float> Var<'t, E> {
    pub(crate) fn new(tape: &'t Tape<E>, id: NodeId) -> Self {
        Var { tape, id }
    }

    /// The node's index on its tape.
    pub fn id(self) -> NodeId {
        self.id
    }

    /// The tape this var lives on.
    pub fn tape(self) -> &'t Tape<E> {
        self.tape
    }

    /// The value (a cheap clone sharing storage).
    pub fn value(self) -> Tensor<E> {
        self.tape.value_of(self.id)
    }

    /// The shape of the value.
    pub fn shape(self) -> Vec<usize> {
        self.tape.nodes.borrow()[self.id].value.shape().to_vec()
    }

    /// Number of dimensions.
    pub fn ndim(self) -> usize {
        self.tape.nodes.borrow()[self.id].value.ndim()
    }

    /// Number of elements.
    pub fn numel(self) -> usize {
        self.tape.nodes.borrow()[self.id].value.numel()
    }

    /// The only element of a one-element var, as `f64`.
    #[track_caller]
    pub fn item(self) -> f64 {
        self.tape.value_of(self.id).item().to_f64()
    }

    /// True if gradients flow to this var (it is, or depends on, a trainable leaf).
    pub fn requires_grad(self) -> bool {
        self.tape.requires_grad(self.id)
    }

    /// What kind of node this is (trainable leaf, constant, or op output).
    pub fn kind(self) -> NodeKind {
        self.tape.nodes.borrow()[self.id].kind
    }

    /// Name of the op that made this var (`"tanh"`, `"matmul"`, ...), or
    /// `"var"` / `"constant"` for leaves.
    pub fn op_name(self) -> &'static str {
        let nodes = self.tape.nodes.borrow();
        let n = &nodes[self.id];
        n.op.as_ref().map_or(
            if n.kind == NodeKind::Var {
                "var"
            } else {
                "constant"
            },
            |o| o.name(),
        )
    }

    /// A constant copy of this value: no gradient flows back through it.
    #[track_caller]
    pub fn detach(self) -> Var<'t, E> {
        self.tape
            .leaf(self.value(), NodeKind::Constant, Location::caller())
    }

    /// A constant on the same tape.
    #[track_caller]
    pub fn constant_like(self, value: Tensor<E>) -> Var<'t, E> {
        self.tape.constant(value)
    }

    /// Applies `op` to `inputs` and records it: the one way every op, built
    /// in or a user's, enters the tape. The output is `op.forward` of the
    /// inputs' values; gradients flow back through `op.backward` (first
    /// order on tensors, higher order on vars) and forward-mode tangents
    /// through `op.jvp`. See [`Op`] for an example.
    ///
    /// # Panics
    /// If `inputs` is empty or the inputs live on different tapes.
    #[track_caller]
    pub fn apply(op: impl Op<E>, inputs: &[Var<'t, E>]) -> Var<'t, E> {
        let Some(first) = inputs.first() else {
            panic!("{}: Var::apply needs at least one input", op.name());
        };
        let tape = first.tape;
        check_tape(tape, inputs, op.name());
        for v in inputs {
            tape.ensure_held(v.id);
        }
        let value = {
            let nodes = tape.nodes.borrow();
            let xs: smallvec::SmallVec<[&Tensor<E>; 3]> =
                inputs.iter().map(|v| &nodes[v.id].value).collect();
            op.forward(&xs)
        };
        Var::record_dyn(tape, Rc::new(Rule(op)), inputs, value, Location::caller())
    }

    /// Records any op behind the tape's op interface.
    ///
    /// Every op, built-in or custom, is recorded here, so this is where the
    /// tape identity of the inputs is checked: a var from another tape has
    /// a node id that means nothing on this one, and would silently route
    /// its gradient to an unrelated node.
    ///
    /// # Panics
    /// If an input lives on another tape than `tape`.
    #[track_caller]
    pub(crate) fn record_dyn(
        tape: &'t Tape<E>,
        op: Rc<dyn DynOp<E>>,
        parents: &[Var<'t, E>],
        value: Tensor<E>,
        location: &'static Location<'static>,
    ) -> Var<'t, E> {
        check_tape(tape, parents, op.name());
        let ids: smallvec::SmallVec<[NodeId; 3]> = parents.iter().map(|p| p.id).collect();
        tape.record(op, &ids, value, location)
    }

    /// Panics unless both vars are on the same tape.
    #[track_caller]
    pub(crate) fn same_tape(self, other: Var<'t, E>, op: &str) {
        check_tape(self.tape, &[other], op);
    }

    /// True if this var lives on `tape`.
    pub fn is_on(self, tape: &Tape<E>) -> bool {
        std::ptr::eq(self.tape, tape)
    }
}

/// Panics unless every var in `vars` lives on `tape`; the message names
/// `op`, the position and node of the stray var, and both tapes.
#[track_caller]
pub(crate) fn check_tape<E: Float>(tape: &Tape<E>, vars: &[Var<'_, E>], op: &str) {
    if let Some((k, v)) = vars.iter().enumerate().find(|(_, v)| !v.is_on(tape)) {
        panic!(
            "{op}: input {k} (node #{} of tape {}) lives on a different tape than the op (tape {}); \
             vars from different tapes cannot be combined",
            v.id,
            v.tape.uid(),
            tape.uid()
        );
    }
}

impl<E: Float> std::fmt::Debug for Var<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes = self.tape.nodes.borrow();
        let n = &nodes[self.id];
        let op = n.op.as_ref().map_or(
            if n.kind == NodeKind::Var {
                "var"
            } else {
                "constant"
            },
            |o| o.name(),
        );
        write!(
            f,
            "Var(#{} {} {:?} {})",
            self.id,
            op,
            n.value.shape(),
            E::DTYPE
        )
    }
}
