//! Strided leaves: the same gradchecks with inputs that are views (reversed
//! axes, narrowed with an offset) rather than contiguous buffers. The
//! analytic pass runs the kernels on the views as given; the numeric pass
//! on contiguous copies, so a kernel that mishandles strides or offsets
//! disagrees with itself.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::{ConvParams, Var};
use tapegrad_tensor::Tensor;

/// A view of `shape` that is not a contiguous buffer: data laid out with
/// the axes reversed and permuted back, or a slice (offset) of a larger
/// tensor along its first axis.
fn strided_of(shape: Vec<usize>, values: BoxedStrategy<f64>) -> impl Strategy<Value = Tensor<f64>> {
    let r = shape.len();
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    let mut padded = shape.clone();
    if let Some(first) = padded.first_mut() {
        *first += 2;
    }
    let len = shape.first().copied().unwrap_or(0);
    prop_oneof![
        tensor_of(reversed, values.clone())
            .prop_map(move |t| t.permute(&(0..r as isize).rev().collect::<Vec<_>>())),
        tensor_of(padded, values).prop_map(move |t| if r == 0 { t } else { t.narrow(0, 1, len) }),
    ]
}

/// The same values with the axes stored in reverse order (column-major for 2-D).
fn reversed_storage(t: Tensor<f64>) -> Tensor<f64> {
    let rev: Vec<isize> = (0..t.ndim() as isize).rev().collect();
    t.permute(&rev).contiguous().permute(&rev)
}

fn strided(values: BoxedStrategy<f64>) -> impl Strategy<Value = Tensor<f64>> {
    shape_rank(1, 4, 4).prop_flat_map(move |s| strided_of(s, values.clone()))
}

/// Unary ops of every kind, applied to one strided input.
fn unary_zoo<'t>(x: Var<'t, f64>) -> Vec<Var<'t, f64>> {
    vec![
        x.exp(),
        x.tanh(),
        x.sigmoid(),
        x.gelu(),
        x.erf(),
        x.softplus(),
        x.sin(),
        x.square(),
        x.mul_scalar(-1.5).add_scalar(0.3),
        x.relu(),
        x.abs(),
        x.leaky_relu(0.1),
    ]
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn strided_unary_grad(t in strided(away_from_zero())) {
        for k in 0..12 {
            check1(|_, v| unary_zoo(v[0]).swap_remove(k), std::slice::from_ref(&t))?;
        }
    }

    #[test]
    fn strided_binary_grad((a, b) in broadcast_pair().prop_flat_map(|(sa, sb)| (strided_of(sa, smooth()), strided_of(sb, away(0.3))))) {
        check1(|_, v| v[0] * v[1] + v[0] / v[1] - v[1], &[a.clone(), b.clone()])?;
        check2(|_, v| v[0] * v[1] + v[0] / v[1] - v[1], &[a, b])?;
    }

    #[test]
    fn strided_reductions_grad((t, axes, keep) in reduce_case(|s| strided_of(s, smooth()))) {
        check1(|_, v| (if keep { v[0].sum_keepdim(&axes) } else { v[0].sum(&axes) }).square() + (if keep { v[0].logsumexp_keepdim(&axes) } else { v[0].logsumexp(&axes) }), std::slice::from_ref(&t))?;
        check1(|_, v| if keep { v[0].var_with_correction_keepdim(&axes, 0) } else { v[0].var_with_correction(&axes, 0) }, std::slice::from_ref(&t))?;
    }

    #[test]
    fn strided_max_grad((t, axes, keep) in reduce_case(|s| distinct_tensor(s).prop_map(reversed_storage))) {
        check1(|_, v| (if keep { v[0].max_keepdim(&axes) } else { v[0].max(&axes) }) - (if keep { v[0].min_keepdim(&axes) } else { v[0].min(&axes) }), std::slice::from_ref(&t))?;
    }

    #[test]
    fn strided_matmul_grad((m, k, n) in (1..=4usize, 1..=4usize, 1..=4usize), seed in prop::collection::vec(-1.0..1.0f64, 32)) {
        // a: [m, k] stored as [k, m] transposed; b: [k, n] sliced out of [k + 2, n].
        let a = Tensor::from_vec(seed.iter().cycle().take(m * k).copied().collect(), &[k, m]).t();
        let b = Tensor::from_vec(seed.iter().rev().cycle().take((k + 2) * n).copied().collect(), &[k + 2, n]).narrow(0, 1, k);
        check1(|_, v| v[0].matmul(v[1]), &[a.clone(), b.clone()])?;
        check2(|_, v| v[0].matmul(v[1]), &[a, b])?;
    }

    #[test]
    fn strided_index_ops_grad(t in shape_rank(2, 2, 4).prop_flat_map(|s| strided_of(s, smooth())), pick in prop::collection::vec(0..4usize, 1..=4)) {
        let n = t.shape()[0];
        let idx: Vec<usize> = pick.iter().map(|i| i % n).collect();
        let index = tapegrad_tensor::IndexTensor::from_vec(idx.clone(), &[idx.len(), 1]);
        check1(|_, v| v[0].index_select(0, &idx), std::slice::from_ref(&t))?;
        check1(|_, v| v[0].narrow(-1, 0, 1).gather(0, &index.reshape(&[idx.len(), 1])), std::slice::from_ref(&t))?;
        check1(|_, v| Var::concat(&[v[0], v[0].square()], -1), std::slice::from_ref(&t))?;
    }

    #[test]
    fn strided_im2col_grad(t in (1..=2usize, 3..=5usize, 3..=5usize).prop_flat_map(|(c, h, w)| strided_of(vec![1, c, h, w], smooth()))) {
        let p = ConvParams { kernel: (2, 3), stride: (1, 2), padding: (1, 0), dilation: (1, 1) };
        check1(|_, v| v[0].im2col(p), std::slice::from_ref(&t))?;
    }
}
