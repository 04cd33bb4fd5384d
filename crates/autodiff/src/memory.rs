//! Memory: gradient checkpointing (a block's values dropped after the
//! forward pass and recomputed during backward) and the bookkeeping that
//! lets backward free gradients and values as it goes.
//!
//! A deep network's training step holds every activation until backward
//! reaches it. [`checkpoint`] trades compute for memory: the block's inner
//! values are dropped as soon as it has run, and recomputed, from the
//! block's input and the op records the tape already holds, when backward
//! needs them; then dropped again. Every op can recompute its output
//! ([`Op::forward`](crate::Op::forward)), so any block can be checkpointed,
//! and the recomputed values are bit-identical (every kernel is
//! deterministic), so the gradients are too. Leaves created inside the
//! block (a dropout mask, a parameter bound there) keep their values, so
//! dropout replays the same mask.

use crate::tape::{Segment, Tape, ValueState};
use crate::var::Var;
use smallvec::SmallVec;
use tapegrad_tensor::{Float, Tensor};

/// Runs `block` on `x` and checkpoints it: the values of the ops recorded
/// inside are dropped at once (the output is kept) and recomputed during
/// backward, when a rule needs them. Gradients, of any order, are
/// bit-identical to the run without checkpointing; the memory held between
/// forward and backward is the block's input and output instead of all its
/// activations, for about one more forward pass of the block in time.
///
/// ```
/// use tapegrad_autodiff::{checkpoint, Tape};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]));
/// let y = checkpoint(x, |h| h.tanh().sin().exp()).sum_all();
/// let g = y.backward()[x].clone();
///
/// let plain = Tape::<f64>::new();
/// let x2 = plain.var(Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]));
/// let g2 = x2.tanh().sin().exp().sum_all().backward()[x2].clone();
/// assert_eq!(g.to_vec(), g2.to_vec()); // bit-identical
/// ```
#[track_caller]
pub fn checkpoint<'t, E: Float>(
    x: Var<'t, E>,
    block: impl FnOnce(Var<'t, E>) -> Var<'t, E>,
) -> Var<'t, E> {
    let tape = x.tape();
    let start = tape.len();
    let y = block(x);
    crate::var::check_tape(tape, &[y], "checkpoint (block output)");
    let end = y.id();
    if end <= start {
        return y; // nothing recorded inside but the output
    }
    let index = tape.segments.borrow().len();
    tape.segments.borrow_mut().push(Segment {
        start,
        end,
        held: true,
    });
    {
        let mut nodes = tape.nodes.borrow_mut();
        for node in &mut nodes[start..end] {
            if node.op.is_some() && node.segment.is_none() && node.state == ValueState::Held {
                node.segment = Some(index);
            }
        }
    }
    release_segment(tape, index);
    y
}

/// A placeholder for a dropped value: one zero broadcast to its shape.
pub(crate) fn placeholder<E: Float>(shape: &[usize]) -> Tensor<E> {
    Tensor::scalar(E::ZERO).broadcast_to(shape)
}

/// Drops the values of block `index` (they become recomputable).
pub(crate) fn release_segment<E: Float>(tape: &Tape<E>, index: usize) {
    let (start, end) = {
        let mut segments = tape.segments.borrow_mut();
        let s = &mut segments[index];
        if !s.held {
            return;
        }
        s.held = false;
        (s.start, s.end)
    };
    let mut nodes = tape.nodes.borrow_mut();
    for node in &mut nodes[start..end] {
        if node.segment == Some(index) && node.state == ValueState::Held {
            node.value = placeholder(node.value.shape());
            node.state = ValueState::Recomputable;
        }
    }
}

/// Recomputes the dropped values of block `index`, in recording order, from
/// values held outside it (its input, leaves) and those already recomputed.
pub(crate) fn recompute_segment<E: Float>(tape: &Tape<E>, index: usize) {
    let (start, end) = {
        let mut segments = tape.segments.borrow_mut();
        let s = &mut segments[index];
        if s.held {
            return;
        }
        s.held = true;
        (s.start, s.end)
    };
    for id in start..end {
        let (op, parents) = {
            let nodes = tape.nodes.borrow();
            let n = &nodes[id];
            if n.segment != Some(index) || n.state != ValueState::Recomputable {
                continue;
            }
            (
                n.op.clone().expect("only ops are recomputable"),
                n.parents.clone(),
            )
        };
        // Parents outside this block (an earlier block's output, say) may
        // themselves need recomputing first.
        for &p in &parents {
            tape.ensure_held(p);
        }
        let value = {
            let nodes = tape.nodes.borrow();
            let xs: SmallVec<[&Tensor<E>; 3]> = parents.iter().map(|&p| &nodes[p].value).collect();
            op.forward(&xs)
        };
        let mut nodes = tape.nodes.borrow_mut();
        nodes[id].value = value;
        nodes[id].state = ValueState::Held;
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// Keeps this var's gradient after [`backward`](Var::backward), which
    /// otherwise frees the gradient of every node that is not a trainable
    /// leaf as soon as it has been used (as PyTorch's `retain_grad`).
    #[track_caller]
    pub fn retain_grad(self) -> Var<'t, E> {
        self.tape.nodes.borrow_mut()[self.id]
            .extras_mut()
            .retain_grad = true;
        self
    }

    /// True if [`retain_grad`](Self::retain_grad) was called on this var.
    pub fn retains_grad(self) -> bool {
        self.tape.nodes.borrow()[self.id].retain_grad()
    }
}

/// Releases node `id`'s value for good (after its last use in a consuming
/// backward pass). Trainable leaves go too: their storage is shared with
/// the parameters they came from, and letting go of it lets an optimiser
/// update those parameters in place.
pub(crate) fn release_value<E: Float>(tape: &Tape<E>, id: usize) {
    let mut nodes = tape.nodes.borrow_mut();
    let node = &mut nodes[id];
    if node.state == ValueState::Released {
        return;
    }
    node.value = placeholder(node.value.shape());
    node.state = ValueState::Released;
}
