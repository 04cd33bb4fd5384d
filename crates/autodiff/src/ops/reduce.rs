//! Reductions (sum, max, min, logsumexp as primitives; mean, variance,
//! softmax and log_softmax composed from them) over chosen axes, `keepdim`
//! or not.

use super::{Ctx, GradOps, Grads, JvpCtx, Op};
use crate::var::Var;
use tapegrad_tensor::{Float, Tensor};

/// Sum over `axes` (normalised). Gradient: `g` broadcast back over the axes.
pub struct Sum {
    /// Reduced axes of the input (sorted).
    pub axes: Vec<usize>,
    /// Whether the output kept the reduced axes as size 1.
    pub keepdim: bool,
}
/// Max or min over axes. Gradient: `g` split evenly among the tied extrema.
pub struct Extremum {
    /// Reduced axes.
    pub axes: Vec<usize>,
    /// Keepdim flag of the output.
    pub keepdim: bool,
    /// `"max"` or `"min"`.
    pub name: &'static str,
}
/// `ln Σ e^x` over axes. Gradient: `g · softmax(x) = g e^(x - out)`.
pub struct LogSumExp {
    /// Reduced axes.
    pub axes: Vec<usize>,
    /// Keepdim flag of the output.
    pub keepdim: bool,
}

/// The output shape with the reduced `axes` kept as size 1.
fn keepdim_shape(input: &[usize], axes: &[usize]) -> Vec<usize> {
    input
        .iter()
        .enumerate()
        .map(|(d, &s)| if axes.contains(&d) { 1 } else { s })
        .collect()
}

/// `g` (shaped like a reduction's output) broadcast back to the input shape.
fn expand<E: Float, V: GradOps<E>>(g: &V, input: &[usize], axes: &[usize]) -> V {
    g.reshape(&keepdim_shape(input, axes)).broadcast_to(input)
}

impl<E: Float> Op<E> for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let axes = isize_axes(&self.axes);
        match self.keepdim {
            false => x[0].sum(&axes),
            true => x[0].sum_keepdim(&axes),
        }
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        // ∂(Σ x)/∂x = 1: g broadcast back over the summed axes.
        [Some(expand(c.g, &c.x[0].shape(), &self.axes))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.sum(&isize_axes(&self.axes), self.keepdim))
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        !self.axes.contains(&0)
    }
}

impl Extremum {
    /// Weights 1/k on the k elements of `x` equal to the extremum `out`, 0
    /// elsewhere: the derivative of max/min (ties split evenly).
    fn weights<E: Float>(&self, x: &Tensor<E>, out: &Tensor<E>) -> Tensor<E> {
        let out = out.reshape(&keepdim_shape(x.shape(), &self.axes));
        let hit = x.eq(&out);
        hit.div(&hit.sum_keepdim(&isize_axes(&self.axes)))
    }
}

impl<E: Float> Op<E> for Extremum {
    fn name(&self) -> &'static str {
        self.name
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let axes = isize_axes(&self.axes);
        match (self.name == "max", self.keepdim) {
            (true, false) => x[0].max(&axes),
            (true, true) => x[0].max_keepdim(&axes),
            (false, false) => x[0].min(&axes),
            (false, true) => x[0].min_keepdim(&axes),
        }
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let x = &c.x[0];
        let w = x.lift(self.weights(&x.value(), &c.out.value()));
        [Some(expand(c.g, &x.shape(), &self.axes).mul(&w))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        let x = &c.x[0];
        let w = x.lift(self.weights(&x.value(), &c.out.value()));
        Some(
            c.tangent(0)?
                .mul(&w)
                .sum(&isize_axes(&self.axes), self.keepdim),
        )
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        !self.axes.contains(&0)
    }
}

impl<E: Float> Op<E> for LogSumExp {
    fn name(&self) -> &'static str {
        "logsumexp"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let axes = isize_axes(&self.axes);
        match self.keepdim {
            false => x[0].logsumexp(&axes),
            true => x[0].logsumexp_keepdim(&axes),
        }
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        // ∂ logsumexp(x)/∂x = softmax(x) = e^(x - out)
        let x = &c.x[0];
        let shape = x.shape();
        let softmax = x.sub(&expand(c.out, &shape, &self.axes)).exp();
        [Some(expand(c.g, &shape, &self.axes).mul(&softmax))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        let x = &c.x[0];
        let softmax = x.sub(&expand(c.out, &x.shape(), &self.axes)).exp();
        Some(
            c.tangent(0)?
                .mul(&softmax)
                .sum(&isize_axes(&self.axes), self.keepdim),
        )
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        !self.axes.contains(&0)
    }
}

/// Normalised axes as the `isize` the reductions take.
fn isize_axes(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize).collect()
}

impl<'t, E: Float> Var<'t, E> {
    fn axes_of(self, axes: &[isize], op: &str) -> Vec<usize> {
        self.value().reduce_axes(axes, op)
    }

    /// Sum over `axes` (all when empty).
    #[track_caller]
    pub fn sum(self, axes: &[isize]) -> Var<'t, E> {
        self.sum_dims(axes, false)
    }

    /// [`sum`](Self::sum) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn sum_keepdim(self, axes: &[isize]) -> Var<'t, E> {
        self.sum_dims(axes, true)
    }

    /// [`sum`](Self::sum) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn sum_dims(self, axes: &[isize], keepdim: bool) -> Var<'t, E> {
        let axes = self.axes_of(axes, "sum");
        Var::apply(Sum { axes, keepdim }, &[self])
    }

    /// Sum of every element (a 0-d var).
    #[track_caller]
    pub fn sum_all(self) -> Var<'t, E> {
        self.sum(&[])
    }

    /// Mean over `axes` (all when empty): `sum / count`.
    #[track_caller]
    pub fn mean(self, axes: &[isize]) -> Var<'t, E> {
        self.mean_dims(axes, false)
    }

    /// [`mean`](Self::mean) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn mean_keepdim(self, axes: &[isize]) -> Var<'t, E> {
        self.mean_dims(axes, true)
    }

    /// [`mean`](Self::mean) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn mean_dims(self, axes: &[isize], keepdim: bool) -> Var<'t, E> {
        let count = self.value().reduce_count(axes, "mean");
        self.sum_dims(axes, keepdim).mul_scalar(1.0 / count as f64)
    }

    /// Mean of every element (a 0-d var).
    #[track_caller]
    pub fn mean_all(self) -> Var<'t, E> {
        self.mean(&[])
    }

    /// Maximum over `axes`; the gradient is split evenly among ties.
    #[track_caller]
    pub fn max(self, axes: &[isize]) -> Var<'t, E> {
        self.max_dims(axes, false)
    }

    /// [`max`](Self::max) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn max_keepdim(self, axes: &[isize]) -> Var<'t, E> {
        self.max_dims(axes, true)
    }

    /// [`max`](Self::max) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn max_dims(self, axes: &[isize], keepdim: bool) -> Var<'t, E> {
        let op = Extremum {
            axes: self.axes_of(axes, "max"),
            keepdim,
            name: "max",
        };
        Var::apply(op, &[self])
    }

    /// Minimum over `axes`; the gradient is split evenly among ties.
    #[track_caller]
    pub fn min(self, axes: &[isize]) -> Var<'t, E> {
        self.min_dims(axes, false)
    }

    /// [`min`](Self::min) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn min_keepdim(self, axes: &[isize]) -> Var<'t, E> {
        self.min_dims(axes, true)
    }

    /// [`min`](Self::min) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn min_dims(self, axes: &[isize], keepdim: bool) -> Var<'t, E> {
        let op = Extremum {
            axes: self.axes_of(axes, "min"),
            keepdim,
            name: "min",
        };
        Var::apply(op, &[self])
    }

    /// `ln Σ e^x` over `axes`, computed stably (max-shifted).
    #[track_caller]
    pub fn logsumexp(self, axes: &[isize]) -> Var<'t, E> {
        self.logsumexp_dims(axes, false)
    }

    /// [`logsumexp`](Self::logsumexp) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn logsumexp_keepdim(self, axes: &[isize]) -> Var<'t, E> {
        self.logsumexp_dims(axes, true)
    }

    /// [`logsumexp`](Self::logsumexp) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn logsumexp_dims(self, axes: &[isize], keepdim: bool) -> Var<'t, E> {
        let axes = self.axes_of(axes, "logsumexp");
        Var::apply(LogSumExp { axes, keepdim }, &[self])
    }

    /// Unbiased variance over `axes`, `Σ (x - mean)² / (N - 1)`, as PyTorch's
    /// default.
    #[track_caller]
    pub fn var(self, axes: &[isize]) -> Var<'t, E> {
        self.var_dims(axes, false)
    }

    /// [`var`](Self::var) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn var_keepdim(self, axes: &[isize]) -> Var<'t, E> {
        self.var_dims(axes, true)
    }

    /// [`var`](Self::var) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn var_dims(self, axes: &[isize], keepdim: bool) -> Var<'t, E> {
        self.var_with_correction_dims(axes, keepdim, 1)
    }

    /// Variance over `axes`: `Σ (x - mean)² / (N - correction)` (0 for the
    /// population variance, as layer and batch norm use).
    #[track_caller]
    pub fn var_with_correction(self, axes: &[isize], correction: usize) -> Var<'t, E> {
        self.var_with_correction_dims(axes, false, correction)
    }

    /// [`var_with_correction`](Self::var_with_correction) keeping the
    /// reduced axes as size 1.
    #[track_caller]
    pub fn var_with_correction_keepdim(self, axes: &[isize], correction: usize) -> Var<'t, E> {
        self.var_with_correction_dims(axes, true, correction)
    }

    /// [`var_with_correction`](Self::var_with_correction) with `keepdim` as a flag.
    #[track_caller]
    pub(crate) fn var_with_correction_dims(
        self,
        axes: &[isize],
        keepdim: bool,
        correction: usize,
    ) -> Var<'t, E> {
        let n = self.value().reduce_count(axes, "var");
        let centered = self - self.mean_keepdim(axes);
        let denom = (n as f64 - correction as f64).max(0.0);
        centered
            .square()
            .sum_dims(axes, keepdim)
            .mul_scalar(1.0 / denom)
    }

    /// `log softmax` along `axis`: `s - logsumexp(s)` with `s = x - max(x)`.
    ///
    /// The max is a constant (log-softmax does not change under a shift, so
    /// the gradient is the same); shifting first keeps the low bits that
    /// `x - logsumexp(x)` loses when |x| is large (1e4 in f32).
    #[track_caller]
    pub fn log_softmax(self, axis: isize) -> Var<'t, E> {
        let max = self.value().max_keepdim(&[axis]);
        let shift = max.map(|v| if v.is_finite() { v } else { E::ZERO });
        let shifted = self - self.tape.constant(shift);
        shifted - shifted.logsumexp_keepdim(&[axis])
    }

    /// Softmax along `axis`: `e^(x - logsumexp(x))`, stable for large |x|.
    #[track_caller]
    pub fn softmax(self, axis: isize) -> Var<'t, E> {
        self.log_softmax(axis).exp()
    }
}
