//! Shape and view ops: broadcast_to / sum_to (each the other's gradient),
//! reshape, permute, narrow / pad_axis, concat, and composites built on
//! them (transpose, squeeze, unsqueeze, flatten, stack).

use super::{Ctx, GradOps, Grads, JvpCtx, Op};
use crate::var::Var;
use tapegrad_tensor::shape_rules::{as_axes, permutation, transposition};
use tapegrad_tensor::{normalize_axis, Float, Tensor};

/// Broadcast to a larger shape. Gradient: `sum_to` the input shape.
pub struct BroadcastTo(pub Vec<usize>);
/// Sum a broadcast shape back down. Gradient: `broadcast_to` the input shape.
pub struct SumTo(pub Vec<usize>);
/// Same elements, new shape. Gradient: reshape back.
pub struct Reshape(pub Vec<usize>);
/// Reorder dimensions: output dimension `i` is input dimension `perm[i]`.
/// Gradient: the inverse permutation.
pub struct Permute(pub Vec<usize>);
/// A slice along one axis. Gradient: zero-pad back to the input's size.
pub struct Narrow {
    /// The axis.
    pub axis: usize,
    /// First element kept.
    pub start: usize,
    /// Number of elements kept.
    pub len: usize,
}
/// Zero padding along one axis. Gradient: narrow back to the input.
pub struct PadAxis {
    /// The axis.
    pub axis: usize,
    /// Zeros before the input.
    pub before: usize,
    /// Zeros after the input.
    pub after: usize,
}
/// Concatenation along an axis. Gradient: each input's slice of `g`.
pub struct Concat(pub usize);

/// Linear shape ops: the forward-mode rule is the op itself applied to the
/// tangent (`d f(x) = f(dx)` for linear `f`).
macro_rules! linear_jvp {
    () => {
        fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
            let t = c.tangent(0)?;
            Some(self.apply_to(t))
        }
    };
}

impl BroadcastTo {
    fn apply_to<E: Float, V: GradOps<E>>(&self, v: &V) -> V {
        v.broadcast_to(&self.0)
    }
}

impl<E: Float> Op<E> for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].broadcast_to(&self.0)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.sum_to(&c.x[0].shape()))].into()
    }
    linear_jvp!();
    /// A batched input keeps its leading axis (a new leading axis would
    /// give every output row all examples).
    fn preserves_batch(&self, shapes: &[&[usize]], _: &[bool]) -> bool {
        shapes[0].len() == self.0.len() && shapes[0].first() == self.0.first()
    }
}

impl SumTo {
    fn apply_to<E: Float, V: GradOps<E>>(&self, v: &V) -> V {
        v.sum_to(&self.0)
    }
}

impl<E: Float> Op<E> for SumTo {
    fn name(&self) -> &'static str {
        "sum_to"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].sum_to(&self.0)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.broadcast_to(&c.x[0].shape()))].into()
    }
    linear_jvp!();
    fn preserves_batch(&self, shapes: &[&[usize]], _: &[bool]) -> bool {
        shapes[0].len() == self.0.len() && shapes[0].first() == self.0.first()
    }
}

impl Reshape {
    fn apply_to<E: Float, V: GradOps<E>>(&self, v: &V) -> V {
        v.reshape(&self.0)
    }
}

impl<E: Float> Op<E> for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].reshape(&self.0)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.reshape(&c.x[0].shape()))].into()
    }
    linear_jvp!();
    /// Row-major: equal leading sizes keep each example's elements together.
    fn preserves_batch(&self, shapes: &[&[usize]], _: &[bool]) -> bool {
        !shapes[0].is_empty() && shapes[0].first() == self.0.first()
    }
}

impl Permute {
    fn apply_to<E: Float, V: GradOps<E>>(&self, v: &V) -> V {
        v.permute(&self.0)
    }
}

impl<E: Float> Op<E> for Permute {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].permute(&as_axes(&self.0))
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let mut inverse = vec![0; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inverse[p] = i;
        }
        [Some(c.g.permute(&inverse))].into()
    }
    linear_jvp!();
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        self.0.first() == Some(&0)
    }
}

impl Narrow {
    fn apply_to<E: Float, V: GradOps<E>>(&self, v: &V) -> V {
        v.narrow(self.axis, self.start, self.len)
    }
}

impl<E: Float> Op<E> for Narrow {
    fn name(&self) -> &'static str {
        "narrow"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].narrow(self.axis as isize, self.start, self.len)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let size = c.x[0].shape()[self.axis];
        let after = size - self.start - self.len;
        [Some(c.g.pad_axis(self.axis, self.start, after))].into()
    }
    linear_jvp!();
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        self.axis != 0
    }
}

impl PadAxis {
    fn apply_to<E: Float, V: GradOps<E>>(&self, v: &V) -> V {
        v.pad_axis(self.axis, self.before, self.after)
    }
}

impl<E: Float> Op<E> for PadAxis {
    fn name(&self) -> &'static str {
        "pad_axis"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].pad_axis(self.axis as isize, self.before, self.after, E::ZERO)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let len = c.x[0].shape()[self.axis];
        [Some(c.g.narrow(self.axis, self.before, len))].into()
    }
    linear_jvp!();
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        self.axis != 0
    }
}

impl<E: Float> Op<E> for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        Tensor::concat(x, self.0 as isize)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let mut start = 0;
        let mut grads = Grads::new();
        for (i, x) in c.x.iter().enumerate() {
            let len = x.shape()[self.0];
            grads.push(c.needs(i).then(|| c.g.narrow(self.0, start, len)));
            start += len;
        }
        grads
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        // The concatenation of the tangents, zeros where an input has none.
        let parts: Vec<V> =
            c.x.iter()
                .zip(c.t)
                .map(|(x, t)| {
                    t.clone()
                        .unwrap_or_else(|| x.lift(Tensor::zeros(&x.shape())))
                })
                .collect();
        Some(V::concat(&parts, self.0))
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        self.0 != 0
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// Broadcasts to `shape` (a view; no node when the shape is unchanged).
    ///
    /// # Panics
    /// If this shape does not broadcast to `shape`.
    #[track_caller]
    pub fn broadcast_to(self, shape: &[usize]) -> Var<'t, E> {
        if self.shape().as_slice() == shape {
            return self;
        }
        Var::apply(BroadcastTo(shape.into()), &[self])
    }

    /// Sums down to `shape`, the reverse of [`broadcast_to`](Self::broadcast_to).
    #[track_caller]
    pub fn sum_to(self, shape: &[usize]) -> Var<'t, E> {
        if self.shape().as_slice() == shape {
            return self;
        }
        Var::apply(SumTo(shape.into()), &[self])
    }

    /// Same elements, new shape.
    #[track_caller]
    pub fn reshape(self, shape: &[usize]) -> Var<'t, E> {
        Var::apply(Reshape(shape.into()), &[self])
    }

    /// Reorders dimensions: output dim `i` is input dim `perm[i]` (negative
    /// entries count from the end), as [`Tensor::permute`].
    ///
    /// # Panics
    /// If `perm` is not a permutation of the dimensions.
    #[track_caller]
    pub fn permute(self, perm: &[isize]) -> Var<'t, E> {
        let perm = permutation(perm, &self.shape(), "permute");
        self.permute_dims(&perm)
    }

    /// [`permute`](Self::permute) by a checked permutation of `0..ndim`.
    #[track_caller]
    pub(crate) fn permute_dims(self, perm: &[usize]) -> Var<'t, E> {
        Var::apply(Permute(perm.to_vec()), &[self])
    }

    /// Swaps two dimensions (negative axes count from the end).
    #[track_caller]
    pub fn transpose(self, a: isize, b: isize) -> Var<'t, E> {
        self.permute_dims(&transposition(a, b, self.ndim(), "transpose"))
    }

    /// Transpose of the last two dimensions.
    #[track_caller]
    pub fn t(self) -> Var<'t, E> {
        self.transpose(-2, -1)
    }

    /// Removes a size-1 dimension.
    #[track_caller]
    pub fn squeeze(self, axis: isize) -> Var<'t, E> {
        let shape = self.value().squeeze(axis).shape().to_vec();
        self.reshape(&shape)
    }

    /// Inserts a size-1 dimension.
    #[track_caller]
    pub fn unsqueeze(self, axis: isize) -> Var<'t, E> {
        let shape = self.value().unsqueeze(axis).shape().to_vec();
        self.reshape(&shape)
    }

    /// Flattens dimensions `1..` into one: `[n, a, b, ..] -> [n, a*b*..]`.
    #[track_caller]
    pub fn flatten(self) -> Var<'t, E> {
        let s = self.shape();
        let rest: usize = s.iter().skip(1).product();
        self.reshape(&[s.first().copied().unwrap_or(1), rest])
    }

    /// Element `index` along `axis`, with that axis removed (PyTorch's
    /// `select`): a narrow then a reshape, so its gradient is `g` placed at
    /// `index` with zeros elsewhere.
    ///
    /// # Panics
    /// As [`Tensor::select`].
    #[track_caller]
    pub fn select(self, axis: isize, index: usize) -> Var<'t, E> {
        let shape = self.value().select(axis, index).shape().to_vec();
        let d = normalize_axis(axis, self.ndim(), "select");
        self.narrow(d as isize, index, 1).reshape(&shape)
    }

    /// Elements `start..start + len` along `axis`.
    #[track_caller]
    pub fn narrow(self, axis: isize, start: usize, len: usize) -> Var<'t, E> {
        let axis = normalize_axis(axis, self.ndim(), "narrow");
        Var::apply(Narrow { axis, start, len }, &[self])
    }

    /// Pads with `before` and `after` zeros along `axis`.
    #[track_caller]
    pub fn pad_axis(self, axis: isize, before: usize, after: usize) -> Var<'t, E> {
        let axis = normalize_axis(axis, self.ndim(), "pad_axis");
        Var::apply(
            PadAxis {
                axis,
                before,
                after,
            },
            &[self],
        )
    }

    /// Concatenates vars along `axis`.
    ///
    /// # Panics
    /// If `parts` is empty, the shapes differ outside `axis`, or the parts
    /// live on different tapes.
    #[track_caller]
    pub fn concat(parts: &[Var<'t, E>], axis: isize) -> Var<'t, E> {
        let Some(&first) = parts.first() else {
            panic!("concat: needs at least one var");
        };
        crate::var::check_tape(first.tape, parts, "concat");
        let axis = normalize_axis(axis, first.ndim(), "concat");
        Var::apply(Concat(axis), parts)
    }

    /// Stacks same-shape vars along a new axis.
    ///
    /// # Panics
    /// If `parts` is empty, the shapes differ, or the parts live on
    /// different tapes.
    #[track_caller]
    pub fn stack(parts: &[Var<'t, E>], axis: isize) -> Var<'t, E> {
        let Some(&first) = parts.first() else {
            panic!("stack: needs at least one var");
        };
        crate::var::check_tape(first.tape, parts, "stack");
        if let Some(p) = parts.iter().find(|p| p.shape() != first.shape()) {
            panic!(
                "stack: shapes {:?} and {:?} differ",
                first.shape(),
                p.shape()
            );
        }
        let lifted: Vec<Var<'t, E>> = parts.iter().map(|p| p.unsqueeze(axis)).collect();
        Var::concat(&lifted, axis)
    }
}
