//! The 2-D convolution and its two adjoints as ops: [`Var::conv2d`],
//! [`Var::conv_transpose2d`] and [`Var::conv2d_weight_grad`].
//!
//! All three are one trilinear form,
//!
//! `F(x, w, g) = <conv2d(x, w), g> = <x, conv_transpose2d(g, w)> = <w, conv2d_weight_grad(x, g)>`,
//!
//! so the gradient of each is written with the other two, and the set is
//! closed: a convolution has derivatives of every order without `im2col`
//! columns on the tape. Each is bilinear, so its JVP is the sum of the op
//! applied with one argument replaced by its tangent.

use super::{ConvParams, Ctx, GradOps, Grads, JvpCtx, Op};
use crate::var::Var;
use tapegrad_tensor::shape_rules::{
    conv2d_shape, conv2d_weight_grad_shape, conv_transpose2d_shape,
};
use tapegrad_tensor::{Float, Tensor};

/// `y = conv2d(x, w) + b`, inputs `[x, w]` or `[x, w, b]`. Gradients:
/// `dx = conv_transpose2d(g, w)`, `dw = conv2d_weight_grad(x, g)`,
/// `db = Σ_{n, oy, ox} g`.
pub struct Conv2d {
    /// Window geometry; `kernel` is the weight's `(kh, kw)`.
    pub p: ConvParams,
}

/// `dx = conv_transpose2d(g, w)` onto an `hw` image, inputs `[g, w]`.
/// With `u` the gradient of its output: `d g = conv2d(u, w)`,
/// `dw = conv2d_weight_grad(u, g)`.
pub struct ConvTranspose2d {
    /// Window geometry of the convolution it is the adjoint of.
    pub p: ConvParams,
    /// Image height and width.
    pub hw: (usize, usize),
}

/// `dw = conv2d_weight_grad(x, g)`, inputs `[x, g]`. With `u` the gradient
/// of its output: `dx = conv_transpose2d(g, u)`, `d g = conv2d(x, u)`.
pub struct Conv2dWeightGrad {
    /// Window geometry; `kernel` is the weight's `(kh, kw)`.
    pub p: ConvParams,
}

/// The spatial size `(H, W)` of a `[N, C, H, W]` shape.
fn image_hw(shape: &[usize]) -> (usize, usize) {
    (shape[2], shape[3])
}

/// The sum of the terms that are present (`None` if none is).
fn sum_terms<E: Float, V: GradOps<E>>(terms: [Option<V>; 2]) -> Option<V> {
    terms.into_iter().flatten().reduce(|acc, t| acc.add(&t))
}

impl<E: Float> Op<E> for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let p = &self.p;
        x[0].conv2d(x[1], x.get(2).copied(), p.stride, p.padding, p.dilation)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (x, w) = (&c.x[0], &c.x[1]);
        let hw = image_hw(&x.shape());
        let mut grads: Grads<V> = [
            c.needs(0).then(|| c.g.conv_transpose2d(w, &self.p, hw)),
            c.needs(1).then(|| x.conv2d_weight_grad(c.g, &self.p)),
        ]
        .into();
        if c.x.len() == 3 {
            // Σ over each channel's rows, then over images: two passes along
            // contiguous axes (no permuted copy of `g`).
            let [n, o, oh, ow] = <[usize; 4]>::try_from(c.g.shape()).expect("4-D output");
            let per_image = |g: &V| g.reshape(&[n, o, oh * ow]).sum(&[2], false);
            grads.push(c.needs(2).then(|| per_image(c.g).sum(&[0], false)));
        }
        grads
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        let (x, w) = (&c.x[0], &c.x[1]);
        let o = c.out.shape()[1];
        let bias = c.t.get(2).and_then(Option::as_ref);
        [
            c.tangent(0).map(|tx| tx.conv2d(w, &self.p)),
            c.tangent(1).map(|tw| x.conv2d(tw, &self.p)),
            bias.map(|tb| tb.reshape(&[1, o, 1, 1]).broadcast_to(&c.out.shape())),
        ]
        .into_iter()
        .flatten()
        .reduce(|acc, t| acc.add(&t))
    }
    /// The images are axis 0 of `x`; a batched weight or bias would mix them.
    fn preserves_batch(&self, _: &[&[usize]], batched: &[bool]) -> bool {
        !batched[1] && !batched.get(2).copied().unwrap_or(false)
    }
}

impl<E: Float> Op<E> for ConvTranspose2d {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let p = &self.p;
        x[0].conv_transpose2d(x[1], self.hw, p.stride, p.padding, p.dilation)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (g, w) = (&c.x[0], &c.x[1]);
        [
            c.needs(0).then(|| c.g.conv2d(w, &self.p)),
            c.needs(1).then(|| c.g.conv2d_weight_grad(g, &self.p)),
        ]
        .into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        let (g, w) = (&c.x[0], &c.x[1]);
        sum_terms([
            c.tangent(0)
                .map(|tg| tg.conv_transpose2d(w, &self.p, self.hw)),
            c.tangent(1)
                .map(|tw| g.conv_transpose2d(tw, &self.p, self.hw)),
        ])
    }
    /// The images are axis 0 of `g`; a batched weight would mix them.
    fn preserves_batch(&self, _: &[&[usize]], batched: &[bool]) -> bool {
        !batched[1]
    }
}

impl<E: Float> Op<E> for Conv2dWeightGrad {
    fn name(&self) -> &'static str {
        "conv2d_weight_grad"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let p = &self.p;
        x[0].conv2d_weight_grad(x[1], p.kernel, p.stride, p.padding, p.dilation)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (x, g) = (&c.x[0], &c.x[1]);
        let hw = image_hw(&x.shape());
        [
            c.needs(0).then(|| g.conv_transpose2d(c.g, &self.p, hw)),
            c.needs(1).then(|| x.conv2d(c.g, &self.p)),
        ]
        .into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        let (x, g) = (&c.x[0], &c.x[1]);
        sum_terms([
            c.tangent(0).map(|tx| tx.conv2d_weight_grad(g, &self.p)),
            c.tangent(1).map(|tg| x.conv2d_weight_grad(tg, &self.p)),
        ])
    }
    // `preserves_batch` stays `false`: the result sums over the images.
}

/// `p` with its kernel set to the weight's `(kh, kw)`, for a 4-D weight shape.
fn with_kernel(p: ConvParams, w: &[usize]) -> ConvParams {
    ConvParams {
        kernel: (w[2], w[3]),
        ..p
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// 2-D cross-correlation of `self: [N, C, H, W]` with `weight: [O, C,
    /// kh, kw]` plus an optional `bias: [O]` (PyTorch's `F.conv2d` without
    /// groups):
    ///
    /// `y[n, o, oy, ox] = b[o] + Σ_{c, i, j} w[o, c, i, j] x[n, c, oy sh - ph + i dh, ox sw - pw + j dw]`
    ///
    /// (zero outside the image), shape `[N, O, out_h, out_w]` with
    /// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
    /// The kernel size is the weight's; `p.kernel` is ignored. One node,
    /// with no `im2col` columns kept for the backward pass. Gradients:
    /// `dx = conv_transpose2d(g, w)`, `dw = conv2d_weight_grad(x, g)`,
    /// themselves differentiable, and `db = Σ_{n, oy, ox} g`.
    ///
    /// ```
    /// use tapegrad_autodiff::{ConvParams, Tape};
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]));
    /// let w = tape.var(Tensor::ones(&[1, 1, 2, 2]));
    /// let b = tape.var(Tensor::from_vec(vec![0.5], &[1]));
    /// let y = x.conv2d(w, Some(b), ConvParams::default());
    /// assert_eq!(y.value().to_vec(), vec![8.5, 12.5, 20.5, 24.5]);
    /// let grads = y.sum_all().backward();
    /// // Each weight tap sums the 2x2 block of x it sees; the bias is in
    /// // all four outputs.
    /// assert_eq!(grads.wrt(w).unwrap().to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
    /// assert_eq!(grads.wrt(b).unwrap().to_vec(), vec![4.0]);
    /// ```
    ///
    /// # Panics
    /// If they are on different tapes, either is not 4-D, the channels
    /// differ, the bias is not `[O]`, or the kernel does not fit the padded
    /// input.
    #[track_caller]
    pub fn conv2d(self, weight: Var<'t, E>, bias: Option<Var<'t, E>>, p: ConvParams) -> Var<'t, E> {
        self.same_tape(weight, "conv2d");
        let ws = weight.shape();
        conv2d_shape(&self.shape(), &ws, p.stride, p.padding, p.dilation);
        let op = Conv2d {
            p: with_kernel(p, &ws),
        };
        match bias {
            Some(b) => {
                self.same_tape(b, "conv2d");
                if b.shape() != [ws[0]] {
                    panic!(
                        "conv2d: bias {:?} does not match weight {ws:?} (expects [{}])",
                        b.shape(),
                        ws[0]
                    );
                }
                Var::apply(op, &[self, weight, b])
            }
            None => Var::apply(op, &[self, weight]),
        }
    }

    /// The adjoint of [`conv2d`](Self::conv2d) in its input (PyTorch's
    /// `F.conv_transpose2d`): from `self: [N, O, out_h, out_w]` and
    /// `weight: [O, C, kh, kw]`, the `[N, C, H, W]` image with `(H, W) =
    /// hw`, so that `<conv2d(x, w), g> = <x, conv_transpose2d(g, w)>`.
    ///
    /// # Panics
    /// If the two are on different tapes, either is not 4-D, the channels
    /// differ, or `hw` does not give `out_h x out_w` positions.
    #[track_caller]
    pub fn conv_transpose2d(
        self,
        weight: Var<'t, E>,
        p: ConvParams,
        hw: (usize, usize),
    ) -> Var<'t, E> {
        self.same_tape(weight, "conv_transpose2d");
        let ws = weight.shape();
        conv_transpose2d_shape(&self.shape(), &ws, hw, p.stride, p.padding, p.dilation);
        let p = with_kernel(p, &ws);
        Var::apply(ConvTranspose2d { p, hw }, &[self, weight])
    }

    /// The adjoint of [`conv2d`](Self::conv2d) in its weight: from the
    /// input `self: [N, C, H, W]` and an output gradient `grad_out: [N, O,
    /// out_h, out_w]`, the `[O, C, kh, kw]` tensor (`(kh, kw) = p.kernel`)
    /// `dw[o, c, i, j] = Σ_{n, oy, ox} g[n, o, oy, ox] x[n, c, oy sh - ph + i dh, ox sw - pw + j dw]`.
    ///
    /// # Panics
    /// If the two are on different tapes, either is not 4-D, or `grad_out`
    /// is not the shape of the convolution's output.
    #[track_caller]
    pub fn conv2d_weight_grad(self, grad_out: Var<'t, E>, p: ConvParams) -> Var<'t, E> {
        self.same_tape(grad_out, "conv2d_weight_grad");
        conv2d_weight_grad_shape(
            &self.shape(),
            &grad_out.shape(),
            p.kernel,
            p.stride,
            p.padding,
            p.dilation,
        );
        Var::apply(Conv2dWeightGrad { p }, &[self, grad_out])
    }
}
