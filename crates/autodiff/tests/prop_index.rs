//! Property tests of the indexing ops and their adjoint pairs:
//! index_select / index_add_zeros, gather / scatter_add, im2col / col2im
//! (small random convolution geometries). All are linear in the
//! differentiated input, so each `*_gradgrad` test runs `gradgradcheck` on
//! the square of the op's output.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::ConvParams;
use tapegrad_tensor::{IndexTensor, Tensor};

/// A tensor, an axis (either sign), and 1..=5 indices into it (repeats allowed).
fn index_select_case() -> impl Strategy<Value = (Tensor<f64>, isize, Vec<usize>)> {
    shape_rank(1, 3, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), 0..r, any::<bool>()).prop_flat_map(move |(s, axis, neg)| {
            let idx = prop::collection::vec(0..s[axis], 1..=5);
            let ax = if neg {
                axis as isize - r as isize
            } else {
                axis as isize
            };
            (tensor_of(s, smooth()), Just(ax), idx)
        })
    })
}

/// A source tensor, an axis, target positions (one per source row along the
/// axis, repeats allowed) and the output length along the axis.
fn index_add_case() -> impl Strategy<Value = (Tensor<f64>, isize, Vec<usize>, usize)> {
    (shape_rank(1, 3, 4), 1..=5usize).prop_flat_map(|(s, size)| {
        (Just(s.clone()), 0..s.len()).prop_flat_map(move |(s, axis)| {
            let idx = prop::collection::vec(0..size, s[axis]);
            (tensor_of(s, smooth()), Just(axis as isize), idx, Just(size))
        })
    })
}

/// An index tensor shaped `ishape` with values in `0..bound`.
fn index_tensor(ishape: Vec<usize>, bound: usize) -> impl Strategy<Value = IndexTensor> {
    let n: usize = ishape.iter().product();
    prop::collection::vec(0..bound, n).prop_map(move |v| IndexTensor::from_vec(v, &ishape))
}

/// For `gather`: a tensor, an axis, and an index tensor of the same rank,
/// no larger outside the axis, of any length 1..=4 along it.
fn gather_case() -> impl Strategy<Value = (Tensor<f64>, isize, IndexTensor)> {
    shape_rank(1, 3, 4)
        .prop_flat_map(|s| {
            (Just(s.clone()), 0..s.len()).prop_flat_map(|(s, axis)| {
                let dims: Vec<BoxedStrategy<usize>> = s
                    .iter()
                    .enumerate()
                    .map(|(d, &n)| {
                        if d == axis {
                            (1..=4usize).boxed()
                        } else {
                            (1..=n).boxed()
                        }
                    })
                    .collect();
                (Just(s), Just(axis), dims)
            })
        })
        .prop_flat_map(|(s, axis, ishape)| {
            let bound = s[axis];
            (
                tensor_of(s, smooth()),
                Just(axis as isize),
                index_tensor(ishape, bound),
            )
        })
}

/// For `scatter_add`: a destination, an axis, an index tensor, and a source
/// at least as large as the index in every dim (one larger half of the time,
/// which the docs allow: only the index-shaped leading block of `src` is used).
fn scatter_case() -> impl Strategy<Value = (Tensor<f64>, isize, IndexTensor, Tensor<f64>)> {
    gather_case()
        .prop_flat_map(|(dst, axis, index)| {
            let extra = prop::collection::vec(0..=1usize, index.ndim());
            (Just(dst), Just(axis), Just(index), extra)
        })
        .prop_flat_map(|(dst, axis, index, extra)| {
            let sshape: Vec<usize> = index
                .shape()
                .iter()
                .zip(&extra)
                .map(|(a, b)| a + b)
                .collect();
            (
                Just(dst),
                Just(axis),
                Just(index),
                tensor_of(sshape, smooth()),
            )
        })
}

/// A small convolution geometry and an input `[N, C, H, W]` it fits.
fn conv_case() -> impl Strategy<Value = (Tensor<f64>, ConvParams)> {
    let pair = |lo: usize, hi: usize| (lo..=hi, lo..=hi);
    (
        pair(1, 3),
        pair(1, 2),
        pair(0, 1),
        pair(1, 2),
        1..=2usize,
        1..=2usize,
        pair(0, 2),
    )
        .prop_flat_map(|(kernel, stride, padding, dilation, n, c, grow)| {
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
            (tensor_of(vec![n, c, h, w], smooth()), Just(p))
        })
}

/// Number of window positions along one axis (as `conv_output_size`).
fn out_size(input: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (input + 2 * p - d * (k - 1) - 1) / s + 1
}

/// Columns `[N, C kh kw, L]` for `col2im` into the image size of a conv case.
fn col2im_case() -> impl Strategy<Value = (Tensor<f64>, ConvParams, (usize, usize))> {
    conv_case().prop_flat_map(|(img, p)| {
        let s = img.shape();
        let oh = out_size(s[2], p.kernel.0, p.stride.0, p.padding.0, p.dilation.0);
        let ow = out_size(s[3], p.kernel.1, p.stride.1, p.padding.1, p.dilation.1);
        let cols = vec![s[0], s[1] * p.kernel.0 * p.kernel.1, oh * ow];
        (tensor_of(cols, smooth()), Just(p), Just((s[2], s[3])))
    })
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn index_select_grad((t, axis, idx) in index_select_case()) {
        check1(|_, v| v[0].index_select(axis, &idx), &[t])?;
    }

    #[test]
    fn index_select_gradgrad((t, axis, idx) in index_select_case()) {
        check2(|_, v| v[0].index_select(axis, &idx).square(), &[t])?;
    }

    #[test]
    fn index_add_zeros_grad((t, axis, idx, size) in index_add_case()) {
        check1(|_, v| v[0].index_add_zeros(axis, &idx, size), &[t])?;
    }

    #[test]
    fn index_add_zeros_gradgrad((t, axis, idx, size) in index_add_case()) {
        check2(|_, v| v[0].index_add_zeros(axis, &idx, size).square(), &[t])?;
    }

    #[test]
    fn gather_grad((t, axis, index) in gather_case()) {
        check1(|_, v| v[0].gather(axis, &index), &[t])?;
    }

    #[test]
    fn gather_gradgrad((t, axis, index) in gather_case()) {
        check2(|_, v| v[0].gather(axis, &index).square(), &[t])?;
    }

    #[test]
    fn scatter_add_grad((dst, axis, index, src) in scatter_case()) {
        check1(|_, v| v[0].scatter_add(axis, &index, v[1]), &[dst, src])?;
    }

    #[test]
    fn scatter_add_gradgrad((dst, axis, index, src) in scatter_case()) {
        check2(|_, v| v[0].scatter_add(axis, &index, v[1]).square(), &[dst, src])?;
    }

    #[test]
    fn im2col_grad((x, p) in conv_case()) {
        check1(|_, v| v[0].im2col(p), &[x])?;
    }

    #[test]
    fn im2col_gradgrad((x, p) in conv_case()) {
        check2(|_, v| v[0].im2col(p).square(), &[x])?;
    }

    #[test]
    fn col2im_grad((cols, p, hw) in col2im_case()) {
        check1(|_, v| v[0].col2im(p, hw), &[cols])?;
    }

    #[test]
    fn col2im_gradgrad((cols, p, hw) in col2im_case()) {
        check2(|_, v| v[0].col2im(p, hw).square(), &[cols])?;
    }

    /// A whole convolution: `w.reshape([O, C kh kw]) @ im2col(x)`, both inputs trainable.
    #[test]
    fn conv2d_via_im2col_grad((x, p) in conv_case(), o in 1..=2usize, wv in prop::collection::vec(-1.0..1.0f64, 18)) {
        let c = x.shape()[1];
        let kk = c * p.kernel.0 * p.kernel.1;
        let w = Tensor::from_vec(wv.into_iter().cycle().take(o * kk).collect(), &[o, kk]);
        check1(|_, v| v[1].matmul(v[0].im2col(p)).tanh(), &[x.clone(), w.clone()])?;
        check2(|_, v| v[1].matmul(v[0].im2col(p)).tanh(), &[x, w])?;
    }
}

/// Regression: `scatter_add` with a source larger than its index (allowed:
/// only the index-shaped leading block of `src` is read) used to return a
/// gradient of the index's shape for `src` and panic in backward.
#[test]
fn scatter_add_src_larger_than_index() {
    let tape = tapegrad_autodiff::Tape::<f64>::new();
    let dst = tape.var(Tensor::zeros(&[3]));
    let src = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0], &[5]));
    let index = IndexTensor::from_vec(vec![2, 2, 0], &[3]);
    let y = dst.scatter_add(0, &index, src);
    assert_eq!(y.value().to_vec(), vec![3.0, 0.0, 3.0]);
    // d/dsrc Σ w ⊙ y: src[j] lands on index[j] for j < 3; src[3], src[4] are unread.
    let w = tape.constant(Tensor::from_vec(vec![10.0, 20.0, 30.0], &[3]));
    let g = (y * w).sum_all().backward();
    assert_eq!(g[src].to_vec(), vec![30.0, 30.0, 10.0, 0.0, 0.0]);
    assert_eq!(g[dst].to_vec(), vec![10.0, 20.0, 30.0]);
}
