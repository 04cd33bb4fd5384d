//! Differentiable ops. Each op family lives in one file with, side by side,
//! the op's forward (a `Var` method), its backward rule and its tests.
//!
//! A backward rule is written once, generically over [`GradOps`], the small
//! vocabulary of tensor operations rules may use. The engine runs it on plain
//! [`Tensor`]s for first-order `backward()` (nothing is recorded) and on
//! [`Var`]s for [`Tape::grad`](crate::Tape::grad), where the rule's own
//! operations are recorded and can be differentiated again.

pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod reduce;
pub mod shape;

use crate::var::Var;
use smallvec::SmallVec;
use tapegrad_tensor::{Float, IndexTensor, Shape, Tensor};

/// Gradients a rule returns, one per input (`None`: no gradient needed there).
pub type Grads<V> = SmallVec<[Option<V>; 3]>;

/// What a backward rule sees: inputs `x`, output `out`, incoming gradient `g`,
/// and which inputs need a gradient.
pub struct Ctx<'a, V> {
    /// The op's inputs, in order.
    pub x: &'a [V],
    /// The op's output.
    pub out: &'a V,
    /// The gradient of the loss with respect to `out` (same shape as `out`).
    pub g: &'a V,
    pub(crate) needs: &'a [bool],
}

impl<V> Ctx<'_, V> {
    /// True if input `i` needs a gradient (rules may skip the others).
    pub fn needs(&self, i: usize) -> bool {
        self.needs[i]
    }
}

/// A primitive differentiable op: a name and a backward rule.
///
/// The forward pass is computed by the `Var` method that records the op.
pub trait Op<E: Float>: 'static {
    /// Short name, shown in tape summaries and errors (`"matmul"`).
    fn name(&self) -> &'static str;
    /// The vector-Jacobian product: gradients of the inputs from `ctx.g`.
    ///
    /// Must return, for every input `i` with `ctx.needs(i)`, a gradient of
    /// exactly that input's shape.
    fn backward<V: GradOps<E>>(&self, ctx: &Ctx<V>) -> Grads<V>;
}

/// The object-safe face of [`Op`], which the tape stores.
pub trait DynOp<E: Float> {
    /// See [`Op::name`].
    fn name(&self) -> &'static str;
    /// The rule on plain tensors (first order, nothing recorded).
    fn backward_tensor(&self, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>>;
    /// The rule on vars (recorded, for higher-order gradients).
    fn backward_var<'t>(&self, ctx: &Ctx<Var<'t, E>>) -> Grads<Var<'t, E>>;
}

/// Stores a built-in [`Op`] on the tape behind [`DynOp`].
pub(crate) struct Rule<T>(pub T);

impl<E: Float, T: Op<E>> DynOp<E> for Rule<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn backward_tensor(&self, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>> {
        self.0.backward(ctx)
    }
    fn backward_var<'t>(&self, ctx: &Ctx<Var<'t, E>>) -> Grads<Var<'t, E>> {
        self.0.backward(ctx)
    }
}

/// The operations backward rules are written in, implemented for [`Tensor`]
/// (first order) and [`Var`] (recorded, so rules differentiate again).
///
/// Shapes in rules never broadcast implicitly: binary operands have equal
/// shapes, and broadcasting is spelled out with `broadcast_to` / `sum_to`.
pub trait GradOps<E: Float>: Clone + Sized {
    /// The current value.
    fn value(&self) -> Tensor<E>;
    /// A constant next to `self` (on the same tape, for `Var`).
    fn lift(&self, t: Tensor<E>) -> Self;
    /// The shape.
    fn shape(&self) -> Shape;
    /// `self + rhs` (equal shapes).
    fn add(&self, rhs: &Self) -> Self;
    /// `self - rhs` (equal shapes).
    fn sub(&self, rhs: &Self) -> Self;
    /// `self * rhs` (equal shapes).
    fn mul(&self, rhs: &Self) -> Self;
    /// `self / rhs` (equal shapes).
    fn div(&self, rhs: &Self) -> Self;
    /// `-self`.
    fn neg(&self) -> Self;
    /// `self * c`.
    fn mul_scalar(&self, c: f64) -> Self;
    /// `self + c`.
    fn add_scalar(&self, c: f64) -> Self;
    /// `self^p`.
    fn powf(&self, p: f64) -> Self;
    /// `self^rhs` elementwise (equal shapes).
    fn pow(&self, rhs: &Self) -> Self;
    /// `e^self`.
    fn exp(&self) -> Self;
    /// `ln self`.
    fn ln(&self) -> Self;
    /// `sin self`.
    fn sin(&self) -> Self;
    /// `cos self`.
    fn cos(&self) -> Self;
    /// `tanh self`.
    fn tanh(&self) -> Self;
    /// `σ(self)`.
    fn sigmoid(&self) -> Self;
    /// `erf(self)`.
    fn erf(&self) -> Self;
    /// Matrix product (`[.., m, k] x [.., k, n]`, equal batch dims).
    fn matmul(&self, rhs: &Self) -> Self;
    /// Reorders dimensions.
    fn permute(&self, perm: &[usize]) -> Self;
    /// New shape, same elements.
    fn reshape(&self, shape: &[usize]) -> Self;
    /// Broadcasts to a larger shape.
    fn broadcast_to(&self, shape: &[usize]) -> Self;
    /// Sums a broadcast shape back down.
    fn sum_to(&self, shape: &[usize]) -> Self;
    /// Sum over axes.
    fn sum(&self, axes: &[isize], keepdim: bool) -> Self;
    /// Elements `start..start + len` along `axis`.
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Self;
    /// Zero padding along `axis`: `before` zeros, then `self`, then `after` zeros.
    fn pad_axis(&self, axis: usize, before: usize, after: usize) -> Self;
    /// Concatenation along `axis`.
    fn concat(parts: &[Self], axis: usize) -> Self;
    /// `self[.., indices, ..]` along `axis`.
    fn index_select(&self, axis: usize, indices: &std::rc::Rc<[usize]>) -> Self;
    /// Zeros of length `size` along `axis`, with the rows of `self` added at `indices`.
    fn index_add_zeros(&self, axis: usize, indices: &std::rc::Rc<[usize]>, size: usize) -> Self;
    /// `torch.gather` along `axis` with an index tensor.
    fn gather(&self, axis: usize, index: &IndexTensor) -> Self;
    /// Zeros of `shape` with `self` scattered (added) at `index` along `axis`.
    fn scatter_add_zeros(&self, axis: usize, index: &IndexTensor, shape: &[usize]) -> Self;
    /// Unfold image patches into columns (see `Tensor::im2col`).
    fn im2col(&self, p: &ConvParams) -> Self;
    /// Fold columns back into an image, summing overlaps (adjoint of `im2col`).
    fn col2im(&self, p: &ConvParams, hw: (usize, usize)) -> Self;
}

/// Kernel, stride, padding and dilation of a 2-D convolution window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Step between windows.
    pub stride: (usize, usize),
    /// Zero padding added on each side.
    pub padding: (usize, usize),
    /// Spacing between kernel taps.
    pub dilation: (usize, usize),
}
