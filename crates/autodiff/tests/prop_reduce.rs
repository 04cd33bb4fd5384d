//! Property tests of the reductions over random axes (negative, repeated or
//! none meaning all), with `keepdim` true and false: sum, mean, max, min,
//! logsumexp, var; and softmax / log_softmax along a random axis.
//! `*_grad` runs `gradcheck`, `*_gradgrad` runs `gradgradcheck` (through the
//! square of the output for the linear and piecewise-linear reductions).

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::Tensor;

fn smooth_input(s: Vec<usize>) -> BoxedStrategy<Tensor<f64>> {
    tensor_of(s, smooth()).boxed()
}

fn distinct_input(s: Vec<usize>) -> BoxedStrategy<Tensor<f64>> {
    distinct_tensor(s).boxed()
}

/// A tensor of rank 1..=4 and an axis into it, negative half of the time.
fn axis_case() -> impl Strategy<Value = (Tensor<f64>, isize)> {
    shape_rank(1, 4, 4).prop_flat_map(|s| {
        let r = s.len() as isize;
        (tensor_of(s, (-4.0..4.0f64).boxed()), 0..r, any::<bool>())
            .prop_map(move |(t, a, neg)| (t, if neg { a - r } else { a }))
    })
}

/// A variance case: the correction is 1 only where at least two elements
/// are reduced (so the divisor `N - correction` is positive).
fn var_case() -> impl Strategy<Value = (Tensor<f64>, Vec<isize>, bool, usize)> {
    (reduce_case(smooth_input), 0..=1usize).prop_map(|((t, axes, keep), corr)| {
        let n: usize = norm_axes(&axes, t.ndim())
            .iter()
            .map(|&a| t.shape()[a])
            .product();
        let corr = if n >= 2 { corr } else { 0 };
        (t, axes, keep, corr)
    })
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn sum_grad((t, axes, keep) in reduce_case(smooth_input)) {
        check1(|_, v| if keep { v[0].sum_keepdim(&axes) } else { v[0].sum(&axes) }, &[t])?;
    }

    #[test]
    fn sum_gradgrad((t, axes, keep) in reduce_case(smooth_input)) {
        check2(|_, v| (if keep { v[0].sum_keepdim(&axes) } else { v[0].sum(&axes) }).square(), &[t])?;
    }

    #[test]
    fn mean_grad((t, axes, keep) in reduce_case(smooth_input)) {
        check1(|_, v| if keep { v[0].mean_keepdim(&axes) } else { v[0].mean(&axes) }, &[t])?;
    }

    #[test]
    fn mean_gradgrad((t, axes, keep) in reduce_case(smooth_input)) {
        check2(|_, v| (if keep { v[0].mean_keepdim(&axes) } else { v[0].mean(&axes) }).square(), &[t])?;
    }

    #[test]
    fn max_grad((t, axes, keep) in reduce_case(distinct_input)) {
        check1(|_, v| if keep { v[0].max_keepdim(&axes) } else { v[0].max(&axes) }, &[t])?;
    }

    #[test]
    fn max_gradgrad((t, axes, keep) in reduce_case(distinct_input)) {
        check2(|_, v| (if keep { v[0].max_keepdim(&axes) } else { v[0].max(&axes) }).square(), &[t])?;
    }

    #[test]
    fn min_grad((t, axes, keep) in reduce_case(distinct_input)) {
        check1(|_, v| if keep { v[0].min_keepdim(&axes) } else { v[0].min(&axes) }, &[t])?;
    }

    #[test]
    fn min_gradgrad((t, axes, keep) in reduce_case(distinct_input)) {
        check2(|_, v| (if keep { v[0].min_keepdim(&axes) } else { v[0].min(&axes) }).square(), &[t])?;
    }

    #[test]
    fn logsumexp_grad((t, axes, keep) in reduce_case(smooth_input)) {
        check1(|_, v| if keep { v[0].logsumexp_keepdim(&axes) } else { v[0].logsumexp(&axes) }, &[t])?;
    }

    #[test]
    fn logsumexp_gradgrad((t, axes, keep) in reduce_case(smooth_input)) {
        check2(|_, v| if keep { v[0].logsumexp_keepdim(&axes) } else { v[0].logsumexp(&axes) }, &[t])?;
    }

    #[test]
    fn var_grad((t, axes, keep, corr) in var_case()) {
        check1(|_, v| if keep { v[0].var_with_correction_keepdim(&axes, corr) } else { v[0].var_with_correction(&axes, corr) }, &[t])?;
    }

    #[test]
    fn var_gradgrad((t, axes, keep, corr) in var_case()) {
        check2(|_, v| if keep { v[0].var_with_correction_keepdim(&axes, corr) } else { v[0].var_with_correction(&axes, corr) }, &[t])?;
    }

    #[test]
    fn softmax_grad((t, axis) in axis_case()) {
        check1(|_, v| v[0].softmax(axis), &[t])?;
    }

    #[test]
    fn softmax_gradgrad((t, axis) in axis_case()) {
        check2(|_, v| v[0].softmax(axis), &[t])?;
    }

    #[test]
    fn log_softmax_grad((t, axis) in axis_case()) {
        check1(|_, v| v[0].log_softmax(axis), &[t])?;
    }

    #[test]
    fn log_softmax_gradgrad((t, axis) in axis_case()) {
        check2(|_, v| v[0].log_softmax(axis), &[t])?;
    }

    /// `sum_all` and `mean_all` reduce every axis to a 0-d value.
    #[test]
    fn sum_all_mean_all_grad(t in any_tensor(smooth())) {
        check1(|_, v| v[0].sum_all() * v[0].mean_all(), std::slice::from_ref(&t))?;
        check2(|_, v| v[0].sum_all() * v[0].mean_all(), &[t])?;
    }
}

/// Values of the reductions themselves against a naive loop, so a wrong
/// forward cannot hide behind a consistent gradient.
#[test]
fn reductions_match_naive_values() {
    // x = [[1, 5, 2], [7, 3, 4]]
    let tape = tapegrad_autodiff::Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(
        vec![1.0, 5.0, 2.0, 7.0, 3.0, 4.0],
        &[2, 3],
    ));
    assert_eq!(x.sum(&[1]).value().to_vec(), vec![8.0, 14.0]);
    assert_eq!(x.mean_keepdim(&[0]).value().to_vec(), vec![4.0, 4.0, 3.0]);
    assert_eq!(x.max(&[-1]).value().to_vec(), vec![5.0, 7.0]);
    assert_eq!(x.min(&[0, 1]).value().item(), 1.0);
    // var over axis 1, correction 1: row 0 mean 8/3, Σ(x-m)² = 26/3, /2 = 13/3.
    assert!((x.var_with_correction(&[1], 1).value().to_vec()[0] - 13.0 / 3.0).abs() < 1e-12);
    // logsumexp of row 0 = ln(e + e^5 + e^2).
    let want = (1f64.exp() + 5f64.exp() + 2f64.exp()).ln();
    assert!((x.logsumexp(&[1]).value().to_vec()[0] - want).abs() < 1e-12);
}
