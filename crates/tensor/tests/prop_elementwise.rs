//! Elementwise ops against loops: binary ops broadcast like an explicit
//! expansion by index arithmetic, `where_cond` with three operands, unary ops
//! on strided views, and large non-contiguous inputs on the parallel path.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::{Float, Tensor};

/// Two operand shapes that broadcast to a random output shape.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        shape(0, 4, 4),
        0..=4usize,
        0..=4usize,
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(out, da, db, oa, ob)| {
            (broadcastable(&out, da, oa), broadcastable(&out, db, ob))
        })
}

/// `f` applied over the broadcast of `a` and `b`, by explicit expansion.
fn zip_ref(
    a: &[f64],
    a_shape: &[usize],
    b: &[f64],
    b_shape: &[usize],
    f: impl Fn(f64, f64) -> f64,
) -> (Vec<f64>, Vec<usize>) {
    let out = broadcast(a_shape, b_shape).expect("shapes broadcast");
    let data = (0..numel(&out))
        .map(|lin| {
            let idx = unravel(lin, &out);
            let x = a[ravel(&broadcast_index(&idx, a_shape), a_shape)];
            let y = b[ravel(&broadcast_index(&idx, b_shape), b_shape)];
            f(x, y)
        })
        .collect();
    (data, out)
}

/// A binary op on tensors and its scalar reference.
type BinaryOp<E> = fn(&Tensor<E>, &Tensor<E>) -> Tensor<E>;
type Binary = fn(f64, f64) -> f64;
type Unary = fn(f64) -> f64;

/// Every binary op with its reference, checked on operands of `kinds`.
/// Divisors are kept away from 0 and bases of `pow` positive; the
/// comparisons use whole numbers so that ties happen.
fn check_binary<E: Float>(
    shapes: &(Vec<usize>, Vec<usize>),
    kinds: (Kind, Kind),
    seed: u64,
    tol: f64,
) {
    let (sa, sb) = shapes;
    let ops: Vec<(&str, BinaryOp<E>, Binary)> = vec![
        ("add", Tensor::add, |x, y| x + y),
        ("sub", Tensor::sub, |x, y| x - y),
        ("mul", Tensor::mul, |x, y| x * y),
        ("div", Tensor::div, |x, y| x / y),
        ("pow", Tensor::pow, f64::powf),
        ("maximum", Tensor::maximum, f64::max),
        ("minimum", Tensor::minimum, f64::min),
        ("eq", Tensor::eq, |x, y| (x == y) as u8 as f64),
        ("ne", Tensor::ne, |x, y| (x != y) as u8 as f64),
        ("gt", Tensor::gt, |x, y| (x > y) as u8 as f64),
        ("ge", Tensor::ge, |x, y| (x >= y) as u8 as f64),
        ("lt", Tensor::lt, |x, y| (x < y) as u8 as f64),
        ("le", Tensor::le, |x, y| (x <= y) as u8 as f64),
        ("operator +", |a, b| a + b, |x, y| x + y),
        ("operator /", |a, b| a / b, |x, y| x / y),
    ];
    for (name, op, f) in ops {
        let (mut a, mut b) = if ["eq", "ne", "gt", "ge", "lt", "le"].contains(&name) {
            (quantized(numel(sa), seed), quantized(numel(sb), seed + 1))
        } else {
            (values(numel(sa), seed), values(numel(sb), seed + 1))
        };
        if name.contains('/') || name == "div" {
            b.iter_mut().for_each(|y| *y = y.signum() * (0.5 + y.abs()));
        }
        if name == "pow" {
            a.iter_mut().for_each(|x| *x = x.abs() + 0.1);
        }
        let (a, b) = (rounded::<E>(&a), rounded::<E>(&b));
        let (want, want_shape) = zip_ref(&a, sa, &b, sb, f);
        let want = rounded::<E>(&want);
        let got = op(&view(&a, sa, kinds.0), &view(&b, sb, kinds.1));
        assert_eq!(
            got.shape(),
            want_shape.as_slice(),
            "{name}: {sa:?} with {sb:?}"
        );
        assert_close(
            &got.to_f64_vec(),
            &want,
            tol,
            &format!("{name}: {sa:?} with {sb:?}"),
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn binary_ops_broadcast_like_explicit_expansion(
        shapes in broadcast_pair(), kinds in (kind(), kind()), seed in any::<u64>(),
    ) {
        check_binary::<f64>(&shapes, kinds, seed, 1e-15);
        check_binary::<f32>(&shapes, kinds, seed, 1e-6);
    }

    #[test]
    fn where_cond_broadcasts_three_operands(
        (sc, sa) in broadcast_pair(), sb in shape(0, 2, 4), seed in any::<u64>(),
    ) {
        prop_assume!(broadcast(&broadcast(&sc, &sa).unwrap(), &sb).is_some());
        let c = quantized(numel(&sc), seed).iter().map(|v| (*v > 0.0) as u8 as f64).collect::<Vec<_>>();
        let (a, b) = (values(numel(&sa), seed + 1), values(numel(&sb), seed + 2));
        let (ca, ca_shape) = zip_ref(&c, &sc, &a, &sa, |c, a| if c != 0.0 { a } else { f64::NAN });
        let (want, want_shape) = zip_ref(&ca, &ca_shape, &b, &sb, |ca, b| if ca.is_nan() { b } else { ca });
        let got = view::<f64>(&c, &sc, Kind::Permuted)
            .where_cond(&view(&a, &sa, Kind::Narrowed), &view(&b, &sb, Kind::Contiguous));
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        assert_close(&got.to_vec(), &want, 0.0, "where_cond");
    }

    #[test]
    fn unary_ops_on_strided_views_match_scalar_math(
        s in shape(0, 4, 5), k in kind(), seed in any::<u64>(),
    ) {
        let x = values(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let ops: Vec<(&str, Tensor<f64>, Unary)> = vec![
            ("neg", t.neg(), |v| -v),
            ("exp", t.exp(), f64::exp),
            ("abs", t.abs(), f64::abs),
            ("tanh", t.tanh(), f64::tanh),
            ("sin", t.sin(), f64::sin),
            ("square", t.square(), |v| v * v),
            ("sigmoid", t.sigmoid(), |v| 1.0 / (1.0 + (-v).exp())),
            ("softplus", t.softplus(), |v| (1.0 + v.exp()).ln()),
            ("relu", t.relu(), |v| v.max(0.0)),
            ("ln of |x| + 0.5", t.abs().add_scalar(0.5).ln(), |v| (v.abs() + 0.5).ln()),
            ("sqrt of |x|", t.abs().sqrt(), |v| v.abs().sqrt()),
            ("clamp", t.clamp(-0.5, 1.0), |v| v.clamp(-0.5, 1.0)),
            ("leaky_relu", t.leaky_relu(0.1), |v| if v > 0.0 { v } else { 0.1 * v }),
            ("mul_scalar", t.mul_scalar(3.0), |v| 3.0 * v),
        ];
        for (name, got, f) in ops {
            prop_assert_eq!(got.shape(), s.as_slice());
            let want: Vec<f64> = x.iter().map(|&v| f(v)).collect();
            assert_close(&got.to_vec(), &want, 1e-14, name);
        }
    }
}

/// Above `PARALLEL_THRESHOLD` the walk is split into fixed chunks that start
/// mid-row; a transposed, sliced operand plus a broadcast row must still line up.
#[test]
fn large_strided_broadcast_add_matches_loop() {
    // Rows of 217 (prime to CHUNK): several chunks past the threshold, none row-aligned.
    let c = 217;
    let r = tapegrad_tensor::tuning::PARALLEL_THRESHOLD / c + 50;
    assert!(r * c > tapegrad_tensor::tuning::PARALLEL_THRESHOLD);
    let a = values(r * c, 11);
    let b = values(c, 12);
    let (want, _) = zip_ref(&a, &[r, c], &b, &[1, c], |x, y| x * 2.0 + y);
    let av = view::<f64>(&a, &[r, c], Kind::PermutedNarrowed);
    let bv = view::<f64>(&b, &[1, c], Kind::Narrowed);
    let got = av.mul_scalar(2.0).add(&bv);
    assert_close(&got.to_vec(), &want, 0.0, "parallel add");
    let mapped = av.map(|x| x * 2.0).add(&bv);
    assert_close(&mapped.to_vec(), &want, 0.0, "parallel map then add");
    let three = av.zip3_map(&bv, &Tensor::scalar(1.0), "fma", |x, y, z| x * 2.0 + y * z);
    assert_close(&three.to_vec(), &want, 0.0, "parallel zip3_map");
}
