//! Shape and view ops: broadcast_to / sum_to (each the other's gradient),
//! reshape, permute, narrow / pad_axis, concat, and composites built on
//! them (transpose, squeeze, unsqueeze, flatten, stack).

use super::{Ctx, GradOps, Grads, Op};
use crate::var::Var;
use smallvec::smallvec;
use std::panic::Location;
use tapegrad_tensor::{normalize_axis, Float, Tensor};

/// Broadcast to a larger shape. Gradient: `sum_to` the input shape.
pub struct BroadcastTo;
/// Sum a broadcast shape back down. Gradient: `broadcast_to` the input shape.
pub struct SumTo;
/// Same elements, new shape. Gradient: reshape back.
pub struct Reshape;
/// Reorder dimensions. Gradient: the inverse permutation.
pub struct Permute(pub Vec<usize>);
/// A slice along one axis. Gradient: zero-pad back to the input's size.
pub struct Narrow {
    /// The axis.
    pub axis: usize,
    /// First element kept.
    pub start: usize,
}
/// Zero padding along one axis. Gradient: narrow back to the input.
pub struct PadAxis {
    /// The axis.
    pub axis: usize,
    /// Zeros before the input.
    pub before: usize,
}
/// Concatenation along an axis. Gradient: each input's slice of `g`.
pub struct Concat(pub usize);

impl<E: Float> Op<E> for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        smallvec![Some(c.g.sum_to(&c.x[0].shape()))]
    }
}

impl<E: Float> Op<E> for SumTo {
    fn name(&self) -> &'static str {
        "sum_to"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        smallvec![Some(c.g.broadcast_to(&c.x[0].shape()))]
    }
}

impl<E: Float> Op<E> for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        smallvec![Some(c.g.reshape(&c.x[0].shape()))]
    }
}

impl<E: Float> Op<E> for Permute {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let mut inverse = vec![0; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inverse[p] = i;
        }
        smallvec![Some(c.g.permute(&inverse))]
    }
}

impl<E: Float> Op<E> for Narrow {
    fn name(&self) -> &'static str {
        "narrow"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let size = c.x[0].shape()[self.axis];
        let len = c.g.shape()[self.axis];
        smallvec![Some(c.g.pad_axis(
            self.axis,
            self.start,
            size - self.start - len
        ))]
    }
}

impl<E: Float> Op<E> for PadAxis {
    fn name(&self) -> &'static str {
        "pad_axis"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let len = c.x[0].shape()[self.axis];
        smallvec![Some(c.g.narrow(self.axis, self.before, len))]
    }
}

impl<E: Float> Op<E> for Concat {
    fn name(&self) -> &'static str {
        "concat"
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
        self.unary(BroadcastTo, Location::caller(), |t| t.broadcast_to(shape))
    }

    /// Sums down to `shape`, the reverse of [`broadcast_to`](Self::broadcast_to).
    #[track_caller]
    pub fn sum_to(self, shape: &[usize]) -> Var<'t, E> {
        if self.shape().as_slice() == shape {
            return self;
        }
        self.unary(SumTo, Location::caller(), |t| t.sum_to(shape))
    }

    /// Same elements, new shape.
    #[track_caller]
    pub fn reshape(self, shape: &[usize]) -> Var<'t, E> {
        self.unary(Reshape, Location::caller(), |t| t.reshape(shape))
    }

    /// Reorders dimensions: output dim `i` is input dim `perm[i]`.
    #[track_caller]
    pub fn permute(self, perm: &[usize]) -> Var<'t, E> {
        self.unary(Permute(perm.to_vec()), Location::caller(), |t| {
            t.permute(perm)
        })
    }

    /// Swaps two dimensions.
    #[track_caller]
    pub fn transpose(self, a: isize, b: isize) -> Var<'t, E> {
        let nd = self.ndim();
        let (a, b) = (
            normalize_axis(a, nd, "transpose"),
            normalize_axis(b, nd, "transpose"),
        );
        let mut perm: Vec<usize> = (0..nd).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Transpose of the last two dimensions.
    #[track_caller]
    pub fn t(self) -> Var<'t, E> {
        self.transpose(-2, -1)
    }

    /// Removes a size-1 dimension.
    #[track_caller]
    pub fn squeeze(self, axis: isize) -> Var<'t, E> {
        let shape = self.value().squeeze(axis).shape_vec();
        self.reshape(&shape)
    }

    /// Inserts a size-1 dimension.
    #[track_caller]
    pub fn unsqueeze(self, axis: isize) -> Var<'t, E> {
        let shape = self.value().unsqueeze(axis).shape_vec();
        self.reshape(&shape)
    }

    /// Flattens dimensions `1..` into one: `[n, a, b, ..] -> [n, a*b*..]`.
    #[track_caller]
    pub fn flatten(self) -> Var<'t, E> {
        let s = self.shape();
        let rest: usize = s.iter().skip(1).product();
        self.reshape(&[s.first().copied().unwrap_or(1), rest])
    }

    /// Elements `start..start + len` along `axis`.
    #[track_caller]
    pub fn narrow(self, axis: isize, start: usize, len: usize) -> Var<'t, E> {
        let axis = normalize_axis(axis, self.ndim(), "narrow");
        self.unary(Narrow { axis, start }, Location::caller(), |t| {
            t.narrow(axis as isize, start, len)
        })
    }

    /// Pads with `before` and `after` zeros along `axis`.
    #[track_caller]
    pub fn pad_axis(self, axis: isize, before: usize, after: usize) -> Var<'t, E> {
        let axis = normalize_axis(axis, self.ndim(), "pad_axis");
        self.unary(PadAxis { axis, before }, Location::caller(), |t| {
            t.pad_axis(axis as isize, before, after, E::ZERO)
        })
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
        let axis_n = normalize_axis(axis, first.ndim(), "concat");
        let values: Vec<Tensor<E>> = parts.iter().map(|p| p.value()).collect();
        let refs: Vec<&Tensor<E>> = values.iter().collect();
        let value = Tensor::concat(&refs, axis);
        Var::record_op(first.tape, Concat(axis_n), parts, value, Location::caller())
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
