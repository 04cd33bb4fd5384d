//! The 2-D convolution and its two adjoints as tensor ops: [`conv2d`],
//! [`conv_transpose2d`] (the input's gradient) and [`conv2d_weight_grad`]
//! (the weight's). All three are the same trilinear form
//!
//! `F(x, w, g) = <conv2d(x, w), g> = <x, conv_transpose2d(g, w)> = <w, conv2d_weight_grad(x, g)>`,
//!
//! so each one's gradient is written with the other two.
//!
//! With stride 1 and dilation 1 they run the direct kernels of
//! `conv_direct.rs` (no column buffer, no gemm packing); otherwise `im2col`
//! or `col2im` and one batched matrix product, as PyTorch's `unfold` form.
//!
//! [`conv2d`]: Tensor::conv2d
//! [`conv_transpose2d`]: Tensor::conv_transpose2d
//! [`conv2d_weight_grad`]: Tensor::conv2d_weight_grad

use crate::conv_direct::{self, Plan};
use crate::float::Float;
use crate::shape_rules::{conv2d_shape, conv2d_weight_grad_shape, conv_transpose2d_shape};
use crate::tensor::Tensor;

/// The four sizes of a shape already checked to be 4-D.
fn dims(shape: &[usize]) -> [usize; 4] {
    shape.try_into().expect("checked by the shape rule")
}

/// The direct kernels' plan when they apply: stride 1 and dilation 1, on a
/// CPU they have vector kernels for.
fn direct_plan(
    [n, c, o]: [usize; 3],
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    stride: (usize, usize),
    (ph, pw): (usize, usize),
    dilation: (usize, usize),
) -> Option<Plan> {
    let fits = stride == (1, 1) && dilation == (1, 1);
    // Without AVX2 and FMA the direct kernels are plain scalar loops, which
    // run slower than im2col and `matrixmultiply`'s vector kernels.
    (fits && conv_direct::Kernel::detect().is_vectorised()).then_some(Plan {
        n,
        c,
        o,
        h,
        w,
        kh,
        kw,
        ph,
        pw,
    })
}

impl<E: Float> Tensor<E> {
    /// 2-D cross-correlation (PyTorch's `F.conv2d` without groups) of
    /// `self: [N, C, H, W]` with `weight: [O, C, kh, kw]`, plus an optional
    /// `bias: [O]` (added in the same pass):
    ///
    /// `y[n, o, oy, ox] = b[o] + Σ_{c, i, j} w[o, c, i, j] x[n, c, oy sh - ph + i dh, ox sw - pw + j dw]`
    ///
    /// with `x` zero outside the image, shape `[N, O, out_h, out_w]` and
    /// along each axis `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
    /// Stride 1 and dilation 1 run a direct kernel; other geometries
    /// `im2col` and one batched matrix product. Parallel over images.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// // A 3x3 image and a 2x2 kernel summing each window.
    /// let x = Tensor::<f32>::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]);
    /// let w = Tensor::ones(&[1, 1, 2, 2]);
    /// let y = x.conv2d(&w, None, (1, 1), (0, 0), (1, 1));
    /// assert_eq!(y.to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
    /// let b = Tensor::from_vec(vec![0.5], &[1]);
    /// assert_eq!(x.conv2d(&w, Some(&b), (1, 1), (0, 0), (1, 1)).to_vec(), vec![8.5, 12.5, 20.5, 24.5]);
    /// ```
    ///
    /// # Panics
    /// If either is not 4-D, the channels differ, the bias is not `[O]`, a
    /// kernel size, stride or dilation is 0, or the dilated kernel does not
    /// fit the padded input.
    #[track_caller]
    pub fn conv2d(
        &self,
        weight: &Tensor<E>,
        bias: Option<&Tensor<E>>,
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Tensor<E> {
        let [n, o, oh, ow] = conv2d_shape(self.shape(), weight.shape(), stride, padding, dilation);
        if let Some(b) = bias {
            if b.shape() != [o] {
                panic!(
                    "conv2d: bias {:?} does not match weight {:?} (expects [{o}])",
                    b.shape(),
                    weight.shape()
                );
            }
        }
        let bias = bias.map(Tensor::contiguous);
        let bias = bias.as_ref().map(|b| b.as_slice().expect("contiguous"));
        let [_, c, h, w] = dims(self.shape());
        let [_, _, kh, kw] = dims(weight.shape());
        let kernel = (kh, kw);
        if let Some(p) = direct_plan([n, c, o], (h, w), kernel, stride, padding, dilation) {
            return conv_direct::forward(self, weight, bias, &p);
        }
        let cols = self.im2col(kernel, stride, padding, dilation);
        let y = weight.reshape(&[o, c * kh * kw]).matmul(&cols);
        let y = match bias {
            Some(b) => Tensor::from_vec(b.to_vec(), &[o, 1]).add(&y),
            None => y,
        };
        y.reshape(&[n, o, oh, ow])
    }

    /// The adjoint of [`conv2d`](Self::conv2d) in its input (PyTorch's
    /// `F.conv_transpose2d` with `weight: [O, C, kh, kw]`): from
    /// `self: [N, O, out_h, out_w]`, the `[N, C, H, W]` image with
    ///
    /// `dx[n, c, y, x] = Σ_{o, i, j} w[o, c, i, j] g[n, o, oy, ox]` over the
    /// `(oy, ox, i, j)` with `oy sh - ph + i dh = y` and `ox sw - pw + j dw = x`,
    ///
    /// so `<conv2d(x, w), g> = <x, conv_transpose2d(g, w)>`: it is conv2d's
    /// gradient with respect to its input. `input_hw = (H, W)` picks the
    /// image size (several give the same `out_h x out_w` when the stride is
    /// above 1). Stride 1, dilation 1 and padding below the kernel size run
    /// conv2d's direct kernel with the weight transposed and flipped;
    /// other geometries one batched product and `col2im`.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// // Each of the four 2x2 windows of a 3x3 image spreads its gradient
    /// // over the window: the centre is in all four.
    /// let g = Tensor::<f32>::ones(&[1, 1, 2, 2]);
    /// let w = Tensor::ones(&[1, 1, 2, 2]);
    /// let dx = g.conv_transpose2d(&w, (3, 3), (1, 1), (0, 0), (1, 1));
    /// assert_eq!(dx.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If either is not 4-D, the channels differ, the geometry is invalid
    /// (as for `conv2d`), or `input_hw` does not give `out_h x out_w`.
    #[track_caller]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor<E>,
        input_hw: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Tensor<E> {
        conv_transpose2d_shape(
            self.shape(),
            weight.shape(),
            input_hw,
            stride,
            padding,
            dilation,
        );
        let [n, o, oh, ow] = dims(self.shape());
        let [_, c, kh, kw] = dims(weight.shape());
        let (h, w) = input_hw;
        let fits = padding.0 < kh && padding.1 < kw;
        if let (true, Some(_)) = (
            fits,
            direct_plan([n, c, o], (h, w), (kh, kw), stride, padding, dilation),
        ) {
            // A full correlation: pad the gradient by `k - 1 - p` and slide
            // the transposed, flipped kernel over it.
            let flipped = weight.permute(&[1, 0, 2, 3]).flip_spatial();
            let p = Plan {
                n,
                c: o,
                o: c,
                h: oh,
                w: ow,
                kh,
                kw,
                ph: kh - 1 - padding.0,
                pw: kw - 1 - padding.1,
            };
            return conv_direct::forward(self, &flipped, None, &p);
        }
        let cols = weight
            .reshape(&[o, c * kh * kw])
            .transpose(0, 1)
            .matmul(&self.reshape(&[n, o, oh * ow]));
        cols.col2im(input_hw, (kh, kw), stride, padding, dilation)
    }

    /// The adjoint of [`conv2d`](Self::conv2d) in its weight: from the
    /// input `self: [N, C, H, W]` and an output gradient `grad_out: [N, O,
    /// out_h, out_w]`, the `[O, C, kh, kw]` tensor
    ///
    /// `dw[o, c, i, j] = Σ_{n, oy, ox} g[n, o, oy, ox] x[n, c, oy sh - ph + i dh, ox sw - pw + j dw]`
    ///
    /// (`x` zero outside the image), so `<conv2d(x, w), g> = <w, conv2d_weight_grad(x, g)>`.
    /// Stride 1 and dilation 1 run a direct kernel, summing images in a
    /// fixed order (the result does not depend on the thread count);
    /// other geometries `im2col` and one batched product.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// let x = Tensor::<f32>::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]);
    /// let g = Tensor::ones(&[1, 1, 2, 2]);
    /// // Tap (i, j) sums the 2x2 block of x starting at (i, j).
    /// let dw = x.conv2d_weight_grad(&g, (2, 2), (1, 1), (0, 0), (1, 1));
    /// assert_eq!(dw.to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
    /// ```
    ///
    /// # Panics
    /// If either is not 4-D, the images differ, the geometry is invalid (as
    /// for `conv2d`), or `grad_out` is not the output's shape.
    #[track_caller]
    pub fn conv2d_weight_grad(
        &self,
        grad_out: &Tensor<E>,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Tensor<E> {
        conv2d_weight_grad_shape(
            self.shape(),
            grad_out.shape(),
            kernel,
            stride,
            padding,
            dilation,
        );
        let [n, c, h, w] = dims(self.shape());
        let [_, o, oh, ow] = dims(grad_out.shape());
        if let Some(p) = direct_plan([n, c, o], (h, w), kernel, stride, padding, dilation) {
            return conv_direct::weight_grad(self, grad_out, &p);
        }
        let cols = self.im2col(kernel, stride, padding, dilation);
        grad_out
            .reshape(&[n, o, oh * ow])
            .matmul(&cols.transpose(1, 2))
            .sum(&[0])
            .reshape(&[o, c, kernel.0, kernel.1])
    }

    /// The tensor with its last two axes reversed (a 180-degree rotation of
    /// each kernel), contiguous.
    fn flip_spatial(&self) -> Tensor<E> {
        let [a, b, kh, kw] = dims(self.shape());
        let src = self.contiguous();
        let s = src.as_slice().expect("contiguous");
        let mut out = Vec::with_capacity(s.len());
        for ab in 0..a * b {
            for i in (0..kh).rev() {
                for j in (0..kw).rev() {
                    out.push(s[(ab * kh + i) * kw + j]);
                }
            }
        }
        Tensor::from_vec(out, &[a, b, kh, kw])
    }
}
