//! Property tests of `matmul`: 2-D, batched, broadcast batch dimensions and
//! 1-D operands (NumPy semantics). The product is bilinear, so its second
//! derivative (the cross term between the operands) is nonzero and
//! `gradgradcheck` runs on the product itself.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::Tensor;

/// Operand shapes: `lhs` is `[k]` or `batch_a ++ [m, k]`, `rhs` is `[k]` or
/// `batch_b ++ [k, n]`, with `batch_a` and `batch_b` broadcast-compatible
/// (rank up to 2).
fn matmul_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let batch = broadcast_group(2).prop_map(|s| {
        let cut = |v: &Vec<usize>| v[v.len().saturating_sub(2)..].to_vec();
        (cut(&s[0]), cut(&s[1]))
    });
    (
        batch,
        1..=4usize,
        1..=4usize,
        1..=4usize,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|((ba, bb), m, k, n, lhs_1d, rhs_1d)| {
            let lhs = if lhs_1d {
                vec![k]
            } else {
                [ba, vec![m, k]].concat()
            };
            let rhs = if rhs_1d {
                vec![k]
            } else {
                [bb, vec![k, n]].concat()
            };
            (lhs, rhs)
        })
}

fn matmul_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    matmul_shapes().prop_flat_map(|(a, b)| (tensor_of(a, smooth()), tensor_of(b, smooth())))
}

/// Plain 2-D products `[m, k] x [k, n]`.
fn matmul_2d_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    (1..=5usize, 1..=5usize, 1..=5usize).prop_flat_map(|(m, k, n)| {
        (
            tensor_of(vec![m, k], smooth()),
            tensor_of(vec![k, n], smooth()),
        )
    })
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn matmul_2d_grad((a, b) in matmul_2d_case()) {
        check1(|_, v| v[0].matmul(v[1]), &[a, b])?;
    }

    #[test]
    fn matmul_2d_gradgrad((a, b) in matmul_2d_case()) {
        check2(|_, v| v[0].matmul(v[1]), &[a, b])?;
    }

    #[test]
    fn matmul_batched_grad((a, b) in matmul_case()) {
        check1(|_, v| v[0].matmul(v[1]), &[a, b])?;
    }

    #[test]
    fn matmul_batched_gradgrad((a, b) in matmul_case()) {
        check2(|_, v| v[0].matmul(v[1]), &[a, b])?;
    }

    /// `x @ x.T` uses one input on both sides (gradients accumulate).
    #[test]
    fn matmul_self_transpose_grad(a in (1..=4usize, 1..=4usize).prop_flat_map(|(m, k)| tensor_of(vec![m, k], smooth()))) {
        check1(|_, v| v[0].matmul(v[0].t()), std::slice::from_ref(&a))?;
        check2(|_, v| v[0].matmul(v[0].t()), &[a])?;
    }
}

/// The 1-D cases give NumPy's shapes.
#[test]
fn matmul_one_d_shapes() {
    let tape = tapegrad_autodiff::Tape::<f64>::new();
    let v = |s: &[usize]| tape.var(Tensor::ones(s));
    assert_eq!(v(&[3]).matmul(v(&[3])).shape().as_slice(), &[] as &[usize]);
    assert_eq!(v(&[3]).matmul(v(&[3, 2])).shape().as_slice(), &[2]);
    assert_eq!(v(&[2, 3]).matmul(v(&[3])).shape().as_slice(), &[2]);
    assert_eq!(v(&[3]).matmul(v(&[4, 3, 2])).shape().as_slice(), &[4, 2]);
    assert_eq!(v(&[4, 2, 3]).matmul(v(&[3])).shape().as_slice(), &[4, 2]);
    assert_eq!(
        v(&[5, 1, 2, 3]).matmul(v(&[4, 3, 2])).shape().as_slice(),
        &[5, 4, 2, 2]
    );
}

/// `addmm` operands: a bias of a shape that broadcasts to `[m, n]` (`[]`,
/// `[n]`, `[1, n]`, `[m, 1]` or `[m, n]`), `a` `[m, k]` and `b` `[k, n]`,
/// `b` given transposed (`[n, k]`, used as `bᵀ`, as `Linear` does) or not.
fn addmm_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, Tensor<f64>, bool)> {
    (
        1..=5usize,
        1..=5usize,
        1..=5usize,
        0..5usize,
        prop::bool::ANY,
    )
        .prop_flat_map(|(m, k, n, bias_kind, transposed)| {
            let bias = match bias_kind {
                0 => vec![],
                1 => vec![n],
                2 => vec![1, n],
                3 => vec![m, 1],
                _ => vec![m, n],
            };
            let b = if transposed { vec![n, k] } else { vec![k, n] };
            (
                tensor_of(bias, smooth()),
                tensor_of(vec![m, k], smooth()),
                tensor_of(b, smooth()),
                Just(transposed),
            )
        })
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn addmm_grad((bias, a, b, tr) in addmm_case()) {
        check1(|_, v| v[0].addmm(v[1], if tr { v[2].t() } else { v[2] }), &[bias, a, b])?;
    }

    #[test]
    fn addmm_gradgrad((bias, a, b, tr) in addmm_case()) {
        check2(|_, v| v[0].addmm(v[1], if tr { v[2].t() } else { v[2] }), &[bias, a, b])?;
    }

    /// One addmm node equals the matmul and broadcast add it replaces, in
    /// value and in every gradient, bit for bit.
    #[test]
    fn addmm_equals_matmul_plus_bias((bias, a, b, tr) in addmm_case()) {
        let run = |fused: bool| {
            let tape = tapegrad_autodiff::Tape::<f64>::new();
            let (vb, va, vw) = (tape.var(bias.clone()), tape.var(a.clone()), tape.var(b.clone()));
            let w = if tr { vw.t() } else { vw };
            let y = if fused { vb.addmm(va, w) } else { va.matmul(w) + vb };
            let grads = y.square().sum_all().backward();
            [y.value(), grads[vb].clone(), grads[va].clone(), grads[vw].clone()].map(|t| t.to_vec())
        };
        prop_assert_eq!(run(true), run(false));
    }
}
