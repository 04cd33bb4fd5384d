//! Property tests of the convolution ops: `conv2d`, `conv_transpose2d` and
//! `conv2d_weight_grad`, each against finite differences (first and second
//! order, forward and reverse mode) on small random geometries, half of
//! them stride 1 and dilation 1 (the direct kernels), the rest strided or
//! dilated (`im2col` and a product). Each is bilinear, so the second-order
//! tests differentiate the square of its output. A last test holds
//! `conv2d` to the `im2col` composition it replaced.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::{ConvParams, Tape};
use tapegrad_tensor::Tensor;

/// Window positions along one axis (as `conv_output_size`).
fn out_size(input: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (input + 2 * p - d * (k - 1) - 1) / s + 1
}

/// A geometry and the three tensors it relates: input `x` `[N, C, H, W]`,
/// weight `w` `[O, C, kh, kw]` and output gradient `g` `[N, O, oh, ow]`.
fn conv_case() -> impl Strategy<Value = (ConvParams, Tensor<f64>, Tensor<f64>, Tensor<f64>)> {
    let pair = |lo: usize, hi: usize| (lo..=hi, lo..=hi);
    let unit_or = |hi: usize| prop_oneof![Just((1, 1)), (1..=hi, 1..=hi)];
    (
        pair(1, 3),
        unit_or(2),
        pair(0, 2),
        unit_or(2),
        (1..=2usize, 1..=2usize, 1..=5usize),
        pair(0, 3),
    )
        .prop_flat_map(|(kernel, stride, padding, dilation, (n, c, o), grow)| {
            let p = ConvParams {
                kernel,
                stride,
                padding,
                dilation,
            };
            let min =
                |k: usize, d: usize, pad: usize| (d * (k - 1) + 1).saturating_sub(2 * pad).max(1);
            let h = min(kernel.0, dilation.0, padding.0) + grow.0;
            let w = min(kernel.1, dilation.1, padding.1) + grow.1;
            let oh = out_size(h, kernel.0, stride.0, padding.0, dilation.0);
            let ow = out_size(w, kernel.1, stride.1, padding.1, dilation.1);
            (
                Just(p),
                tensor_of(vec![n, c, h, w], smooth()),
                tensor_of(vec![o, c, kernel.0, kernel.1], smooth()),
                tensor_of(vec![n, o, oh, ow], smooth()),
            )
        })
}

/// A bias `[O]` for the weight `w`, values in `[-1, 1)` from `seed`.
fn bias_for(w: &Tensor<f64>, seed: u64) -> Tensor<f64> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Tensor::rand_uniform(&[w.shape()[0]], -1.0, 1.0, &mut rng)
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn conv2d_grad((p, x, w, _) in conv_case()) {
        check1(|_, v| v[0].conv2d(v[1], None, p), &[x, w])?;
    }

    #[test]
    fn conv2d_gradgrad((p, x, w, _) in conv_case()) {
        check2(|_, v| v[0].conv2d(v[1], None, p).square(), &[x, w])?;
    }

    #[test]
    fn conv2d_with_bias_grad((p, x, w, _) in conv_case(), seed in any::<u64>()) {
        let b = bias_for(&w, seed);
        check1(|_, v| v[0].conv2d(v[1], Some(v[2]), p), &[x, w, b])?;
    }

    #[test]
    fn conv2d_with_bias_gradgrad((p, x, w, _) in conv_case(), seed in any::<u64>()) {
        let b = bias_for(&w, seed);
        check2(|_, v| v[0].conv2d(v[1], Some(v[2]), p).square(), &[x, w, b])?;
    }

    #[test]
    fn conv_transpose2d_grad((p, x, w, g) in conv_case()) {
        let hw = (x.shape()[2], x.shape()[3]);
        check1(|_, v| v[0].conv_transpose2d(v[1], p, hw), &[g, w])?;
    }

    #[test]
    fn conv_transpose2d_gradgrad((p, x, w, g) in conv_case()) {
        let hw = (x.shape()[2], x.shape()[3]);
        check2(|_, v| v[0].conv_transpose2d(v[1], p, hw).square(), &[g, w])?;
    }

    #[test]
    fn conv2d_weight_grad_grad((p, x, _, g) in conv_case()) {
        check1(|_, v| v[0].conv2d_weight_grad(v[1], p), &[x, g])?;
    }

    #[test]
    fn conv2d_weight_grad_gradgrad((p, x, _, g) in conv_case()) {
        check2(|_, v| v[0].conv2d_weight_grad(v[1], p).square(), &[x, g])?;
    }

    /// The op's value and both gradients equal those of
    /// `w.reshape([O, C kh kw]) @ im2col(x)`, to rounding.
    #[test]
    fn conv2d_equals_the_im2col_product((p, x, w, g) in conv_case()) {
        let tape = Tape::<f64>::new();
        let (xv, wv, gv) = (tape.var(x.clone()), tape.var(w.clone()), tape.constant(g.clone()));
        let direct = xv.conv2d(wv, None, p);
        let ws = w.shape().to_vec();
        let cols = wv.reshape(&[ws[0], ws[1] * ws[2] * ws[3]]).matmul(xv.im2col(p));
        let via_cols = cols.reshape(g.shape());
        assert_close(&direct.value().to_vec(), &via_cols.value().to_vec(), 1e-12, 1e-12);
        let a = (direct * gv).sum_all().backward();
        let b = (via_cols * gv).sum_all().backward();
        assert_close(&a[xv].to_vec(), &b[xv].to_vec(), 1e-12, 1e-12);
        assert_close(&a[wv].to_vec(), &b[wv].to_vec(), 1e-12, 1e-12);
    }
}

#[test]
#[should_panic(
    expected = "conv2d: input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2"
)]
fn conv2d_names_both_shapes() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[1, 3, 8, 8]));
    let w = tape.var(Tensor::zeros(&[4, 2, 3, 3]));
    x.conv2d(w, None, ConvParams::default().kernel(3));
}

#[test]
#[should_panic(expected = "conv2d: bias [3] does not match weight [4, 2, 3, 3] (expects [4])")]
fn conv2d_checks_the_bias() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[1, 2, 8, 8]));
    let w = tape.var(Tensor::zeros(&[4, 2, 3, 3]));
    let b = tape.var(Tensor::zeros(&[3]));
    x.conv2d(w, Some(b), ConvParams::default().kernel(3));
}

#[test]
#[should_panic(expected = "conv_transpose2d: gradient [1, 4, 6, 6] does not match image (7, 7)")]
fn conv_transpose2d_checks_the_image_size() {
    let tape = Tape::<f32>::new();
    let g = tape.var(Tensor::zeros(&[1, 4, 6, 6]));
    let w = tape.var(Tensor::zeros(&[4, 2, 3, 3]));
    g.conv_transpose2d(w, ConvParams::default().kernel(3), (7, 7));
}
