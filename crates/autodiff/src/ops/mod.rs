//! Differentiable ops. Each op family lives in one file with, side by side
//! for every op, its `Var` method, its forward on tensors, its backward
//! (VJP) rule, its forward-mode (JVP) rule and the formula in its doc
//! comment. Their tests live in `tests/prop_*.rs` (property tests against
//! finite differences) and `tests/edge_cases.rs`.
//!
//! A rule is written once, generically over [`GradOps`], the small
//! vocabulary of tensor operations rules may use. The engine runs it on plain
//! [`Tensor`]s for first-order `backward()` and for forward mode (nothing is
//! recorded) and on [`Var`]s for [`Tape::grad`](crate::Tape::grad) and
//! var-valued tangents, where the rule's own operations are recorded and can
//! be differentiated again.
//!
//! Every op, built-in or a user's, goes through one door: a type that
//! implements [`Op`], recorded by [`Var::apply`]. A user's op gets the same
//! tensor fast path for first order, works under `tape.grad` at any order,
//! and is checked with `gradcheck` / `gradgradcheck` / `check_jvp`.
//!
//! # Adding an op
//!
//! A unary elementwise op touches three files (four if the tensor crate
//! lacks its forward):
//!
//! 1. `crates/tensor/src/unary.rs`: the forward on tensors, one line in the
//!    `unary_ops!` list (`log1p => |x| x.ln_1p();`), if it is new.
//! 2. `src/ops/elementwise.rs`: one entry in `unary_ops!` with its doc and
//!    formula: `Log1p, "log1p", log1p, |t| t.log1p(), |x, out, v| v.div(&x.add_scalar(1.0));`
//!    The rule is `v · f'(x)`; the same expression serves backward (`v` is
//!    the incoming gradient) and forward mode (`v` is the tangent), because
//!    the Jacobian is diagonal. Write it over [`GradOps`] only, so it is
//!    differentiable again. If the rule makes several passes, a trailing
//!    `fused |x, out, g| g.zip_map(out, "..", |g, o| ..)` clause gives
//!    first-order backward one pass instead ([`Op::backward_tensors`]); add
//!    the op to `fused_backward_equals_the_generic_rule` in
//!    `tests/prop_elementwise.rs`, which holds the two to the same bits.
//! 3. `tests/prop_elementwise.rs`: one `unary_case!(log1p_grad,
//!    log1p_gradgrad, positive(), |x| x.log1p());` line. `check1` runs
//!    `gradcheck`, `check_jvp` and the JVP/VJP dot test; `check2` runs
//!    `gradgradcheck` and reverse-over-forward. Pick a value generator
//!    that keeps away from kinks and poles (never loosen tolerances).
//! 4. `crates/autodiff/README.md`: a row in the op table (and in the kink
//!    table if the op has a kink).
//!
//! Any other op is a struct implementing [`Op`] in its family's file:
//! `name`, `forward` (on tensors), `backward` (returning [`Grads`], `None`
//! for inputs that need no gradient: check `Ctx::needs`), `jvp` (or leave
//! the default, which derives the JVP from the VJP by the double-VJP
//! identity at the price of two extra backward passes), and
//! `preserves_batch` if row `b` of the output depends only on row `b` of
//! the batched inputs (for per-sample gradients). Then a `Var` method that
//! checks shapes (panicking with the op's name and both shapes, at the
//! caller's line: `#[track_caller]`) and calls `Var::apply`, and a property
//! test in the family's `tests/prop_*.rs`.

pub mod conv;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod reduce;
pub mod shape;

use crate::var::Var;
use smallvec::SmallVec;
use tapegrad_tensor::{Float, IndexTensor, Tensor};

/// The gradients a backward rule returns, one per input, in order (`None`
/// where no gradient is needed). Built from an array:
/// `[Some(g_lhs), g_rhs].into()`, or collected from an iterator.
#[derive(Clone, Debug)]
pub struct Grads<V>(SmallVec<[Option<V>; 3]>);

impl<V> Grads<V> {
    /// No gradients yet.
    pub fn new() -> Self {
        Grads(SmallVec::new())
    }
    /// Appends the gradient of the next input.
    pub fn push(&mut self, g: Option<V>) {
        self.0.push(g);
    }
    /// The gradient of input `i`, if the rule gave one.
    pub fn get(&self, i: usize) -> Option<&V> {
        self.0.get(i).and_then(|g| g.as_ref())
    }
    /// Takes the gradient of input `i` out, if the rule gave one.
    pub fn take(&mut self, i: usize) -> Option<V> {
        self.0.get_mut(i).and_then(|g| g.take())
    }
    /// The entries in input order (`None` where the rule gave no gradient).
    pub fn iter(&self) -> impl Iterator<Item = Option<&V>> {
        self.0.iter().map(|g| g.as_ref())
    }
    /// Number of entries (inputs the rule answered for).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True if the rule returned no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> Default for Grads<V> {
    fn default() -> Self {
        Grads::new()
    }
}

impl<V, const N: usize> From<[Option<V>; N]> for Grads<V> {
    fn from(gs: [Option<V>; N]) -> Self {
        Grads(gs.into_iter().collect())
    }
}

impl<V> FromIterator<Option<V>> for Grads<V> {
    fn from_iter<I: IntoIterator<Item = Option<V>>>(iter: I) -> Self {
        Grads(iter.into_iter().collect())
    }
}

/// What a backward rule (a vector-Jacobian product) sees: inputs `x`,
/// output `out`, incoming gradient `g`, and which inputs need a gradient.
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

/// What a forward-mode rule (a Jacobian-vector product) sees: inputs `x`,
/// output `out`, and the tangent of each input (`None` where it is zero).
pub struct JvpCtx<'a, V> {
    /// The op's inputs, in order.
    pub x: &'a [V],
    /// The op's output.
    pub out: &'a V,
    /// The tangent of each input, shaped like it; `None` is a zero tangent.
    /// At least one is `Some` whenever a rule runs.
    pub t: &'a [Option<V>],
}

impl<V> JvpCtx<'_, V> {
    /// The tangent of input `i`, if it is not zero.
    pub fn tangent(&self, i: usize) -> Option<&V> {
        self.t[i].as_ref()
    }
}

/// A differentiable op: its name, its forward computation, its backward
/// rule (vector-Jacobian product) and, optionally, its forward-mode rule
/// (Jacobian-vector product). Every built-in op is one, and so is a user's:
/// record it with [`Var::apply`].
///
/// The rules are written once, generically over [`GradOps`]: the engine runs
/// them on [`Tensor`]s for first-order `backward()` and `jvp` (nothing is
/// recorded) and on [`Var`]s under [`Tape::grad`](crate::Tape::grad) or
/// differentiable forward mode, where their own operations are recorded and
/// can be differentiated again. So an op with these two rules has
/// derivatives of every order.
///
/// ```
/// use tapegrad_autodiff::ops::{Ctx, GradOps, Grads, JvpCtx, Op};
/// use tapegrad_autodiff::{gradcheck, gradgradcheck, GradcheckOptions, Var};
/// use tapegrad_tensor::{Float, Tensor};
///
/// /// softsign(x) = x / (1 + |x|); d/dx = 1 / (1 + |x|)².
/// struct Softsign;
///
/// impl<E: Float> Op<E> for Softsign {
///     fn name(&self) -> &'static str {
///         "softsign"
///     }
///     fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
///         x[0].div(&x[0].abs().add_scalar(1.0))
///     }
///     fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
///         let x = &c.x[0];
///         // g / (1 + |x|)², with |x| = x · sign(x) (sign is a constant)
///         let abs = x.mul(&x.lift(x.value().signum()));
///         [Some(c.g.div(&abs.add_scalar(1.0).powf(2.0)))].into()
///     }
///     fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
///         let x = &c.x[0];
///         let abs = x.mul(&x.lift(x.value().signum()));
///         Some(c.tangent(0)?.div(&abs.add_scalar(1.0).powf(2.0)))
///     }
/// }
///
/// let x = Tensor::from_vec(vec![-1.5, 0.3, 2.0], &[3]);
/// let opts = GradcheckOptions::default();
/// assert!(gradcheck(|_, v| Var::apply(Softsign, &[v[0]]), &[x.clone()], &opts).is_ok());
/// assert!(gradgradcheck(|_, v| Var::apply(Softsign, &[v[0]]), &[x], &opts).is_ok());
/// ```
pub trait Op<E: Float>: 'static {
    /// Short name, shown in tape summaries and errors (`"matmul"`).
    fn name(&self) -> &'static str;
    /// The output from the inputs' values.
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E>;
    /// The vector-Jacobian product: gradients of the inputs from `ctx.g`.
    ///
    /// Must return, for every input `i` with `ctx.needs(i)`, a gradient of
    /// exactly that input's shape.
    fn backward<V: GradOps<E>>(&self, ctx: &Ctx<V>) -> Grads<V>;
    /// The backward rule on plain tensors: what first-order `backward()`
    /// runs. The default is [`backward`](Self::backward) on tensors.
    ///
    /// Override it only for speed, with a kernel that makes one pass where
    /// the generic rule makes several (tanh's `g (1 - out²)` is four tensor
    /// ops and four allocations in the generic rule, one `zip_map` here).
    /// It must compute the same values: `gradcheck` tests this path and
    /// `gradgradcheck` the generic one, which `Tape::grad` records.
    fn backward_tensors(&self, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>> {
        self.backward(ctx)
    }
    /// The Jacobian-vector product: the output's tangent from the inputs'
    /// tangents `ctx.t`, shaped like the output.
    ///
    /// `None` (the default) means the op has no forward-mode rule; forward
    /// mode then falls back to the double-VJP identity `J v = ∂/∂u ⟨Jᵀu, v⟩`,
    /// which runs the backward rule on vars (two recorded passes: correct,
    /// and slower).
    fn jvp<V: GradOps<E>>(&self, ctx: &JvpCtx<V>) -> Option<V> {
        let _ = ctx;
        None
    }
    /// True if the op keeps examples apart along axis 0: given inputs of
    /// `shapes` of which those marked `batched` hold one example per index
    /// of axis 0, output row `b` depends only on row `b` of each batched
    /// input (and on the unbatched ones). Elementwise ops and ops on the
    /// trailing axes do; a sum over axis 0 does not. Per-sample gradients
    /// ([`per_sample_grads`](crate::per_sample_grads)) flow through such ops
    /// in one pass. The default, `false`, is always safe.
    fn preserves_batch(&self, shapes: &[&[usize]], batched: &[bool]) -> bool {
        let _ = (shapes, batched);
        false
    }
}

/// The object-safe face of [`Op`], which the tape stores.
pub(crate) trait DynOp<E: Float> {
    /// See [`Op::name`].
    fn name(&self) -> &'static str;
    /// See [`Op::forward`].
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E>;
    /// The backward rule on plain tensors (first order, nothing recorded).
    fn backward_tensor(&self, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>>;
    /// The backward rule on vars (recorded, for higher-order gradients).
    fn backward_var<'t>(&self, ctx: &Ctx<Var<'t, E>>) -> Grads<Var<'t, E>>;
    /// The forward-mode rule on tensors, if the op has one.
    fn jvp_tensor(&self, ctx: &JvpCtx<Tensor<E>>) -> Option<Tensor<E>>;
    /// The forward-mode rule on vars, if the op has one.
    fn jvp_var<'t>(&self, ctx: &JvpCtx<Var<'t, E>>) -> Option<Var<'t, E>>;
    /// See [`Op::preserves_batch`].
    fn preserves_batch(&self, shapes: &[&[usize]], batched: &[bool]) -> bool;
    /// The op itself, to recognise built-in ops by type.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Stores an [`Op`] on the tape behind [`DynOp`].
pub(crate) struct Rule<T>(pub T);

impl<E: Float, T: Op<E>> DynOp<E> for Rule<T> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        self.0.forward(x)
    }
    fn backward_tensor(&self, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>> {
        self.0.backward_tensors(ctx)
    }
    fn backward_var<'t>(&self, ctx: &Ctx<Var<'t, E>>) -> Grads<Var<'t, E>> {
        self.0.backward(ctx)
    }
    fn jvp_tensor(&self, ctx: &JvpCtx<Tensor<E>>) -> Option<Tensor<E>> {
        self.0.jvp(ctx)
    }
    fn jvp_var<'t>(&self, ctx: &JvpCtx<Var<'t, E>>) -> Option<Var<'t, E>> {
        self.0.jvp(ctx)
    }
    fn preserves_batch(&self, shapes: &[&[usize]], batched: &[bool]) -> bool {
        self.0.preserves_batch(shapes, batched)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        &self.0
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
    fn shape(&self) -> Vec<usize>;
    /// True if `self` and `other` have the same shape (what the reverse
    /// walk checks of every gradient a rule returns; no allocation).
    fn same_shape(&self, other: &Self) -> bool {
        self.shape() == other.shape()
    }
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
    /// `e^x - 1`, accurate near 0.
    fn expm1(&self) -> Self;
    /// `ln(1 + x)`, accurate near 0.
    fn log1p(&self) -> Self;
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
    /// `conv2d(self, w)` (see `Var::conv2d`).
    fn conv2d(&self, w: &Self, p: &ConvParams) -> Self;
    /// `conv_transpose2d(self, w)` onto an `hw` image: conv2d's input gradient.
    fn conv_transpose2d(&self, w: &Self, p: &ConvParams, hw: (usize, usize)) -> Self;
    /// `conv2d_weight_grad(self, g)`: conv2d's weight gradient.
    fn conv2d_weight_grad(&self, g: &Self, p: &ConvParams) -> Self;
}

/// Kernel, stride, padding and dilation of a 2-D convolution window, each
/// `(height, width)`.
///
/// The default is PyTorch's: a 1 x 1 kernel, stride 1, no padding,
/// dilation 1. The builder methods set both axes to one value; set a field
/// for a non-square window.
///
/// ```
/// use tapegrad_autodiff::ConvParams;
///
/// let p = ConvParams::default().kernel(3).stride(2).padding(1);
/// assert_eq!(p, ConvParams { kernel: (3, 3), stride: (2, 2), padding: (1, 1), dilation: (1, 1) });
/// let tall = ConvParams { kernel: (5, 1), ..ConvParams::default() };
/// assert_eq!(tall.stride, (1, 1));
/// ```
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

impl Default for ConvParams {
    /// A 1 x 1 kernel, stride 1, no padding, dilation 1.
    fn default() -> Self {
        ConvParams {
            kernel: (1, 1),
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

impl ConvParams {
    /// A `k x k` kernel on both axes.
    pub fn kernel(mut self, k: usize) -> Self {
        self.kernel = (k, k);
        self
    }

    /// Stride `s` on both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = (s, s);
        self
    }

    /// Padding `p` on each side of both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = (p, p);
        self
    }

    /// Dilation `d` on both axes.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = (d, d);
        self
    }
}
