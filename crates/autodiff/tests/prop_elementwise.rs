//! Property tests of the elementwise ops: every unary op, the ops with a
//! scalar, and the binary ops with NumPy broadcasting. Each op has a
//! first-order `gradcheck` test (`*_grad`) and a second-order
//! `gradgradcheck` test (`*_gradgrad`). Ops that are piecewise linear
//! (second derivative 0) are checked at second order through `op(x)²`, whose
//! Hessian runs the op's recorded backward rule.
//!
//! Inputs stay away from kinks by construction (see `common`).

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::Var;
use tapegrad_tensor::Tensor;

/// A first-order test of `|x| body` and a second-order test of `|x| body2`
/// (`body` when omitted) on random tensors (any rank up to 4, dims up to 4)
/// drawn from `values`.
macro_rules! unary_case {
    ($first:ident, $second:ident, $values:expr, |$x:ident| $body:expr) => {
        unary_case!($first, $second, $values, |$x| $body, |$x| $body);
    };
    ($first:ident, $second:ident, $values:expr, |$x:ident| $body:expr, |$y:ident| $body2:expr) => {
        proptest! {
            #![proptest_config(config(40))]
            #[test]
            fn $first(t in any_tensor($values)) {
                check1(|_, v| { let $x = v[0]; $body }, &[t])?;
            }
            #[test]
            fn $second(t in any_tensor($values)) {
                check2(|_, v| { let $y = v[0]; $body2 }, &[t])?;
            }
        }
    };
}

unary_case!(exp_grad, exp_gradgrad, smooth(), |x| x.exp());
unary_case!(ln_grad, ln_gradgrad, positive(), |x| x.ln());
unary_case!(log1p_grad, log1p_gradgrad, positive(), |x| x.log1p());
unary_case!(expm1_grad, expm1_gradgrad, smooth(), |x| x.expm1());
unary_case!(
    log_sigmoid_grad,
    log_sigmoid_gradgrad,
    (-5.0..5.0f64).boxed(),
    |x| x.log_sigmoid()
);
unary_case!(sqrt_grad, sqrt_gradgrad, positive(), |x| x.sqrt());
unary_case!(sin_grad, sin_gradgrad, smooth(), |x| x.sin());
unary_case!(cos_grad, cos_gradgrad, smooth(), |x| x.cos());
unary_case!(tanh_grad, tanh_gradgrad, smooth(), |x| x.tanh());
unary_case!(
    sigmoid_grad,
    sigmoid_gradgrad,
    (-5.0..5.0f64).boxed(),
    |x| x.sigmoid()
);
unary_case!(erf_grad, erf_gradgrad, smooth(), |x| x.erf());
unary_case!(
    softplus_grad,
    softplus_gradgrad,
    (-5.0..5.0f64).boxed(),
    |x| x.softplus()
);
unary_case!(recip_grad, recip_gradgrad, away(0.3), |x| x.recip());
unary_case!(square_grad, square_gradgrad, smooth(), |x| x.square());
unary_case!(gelu_grad, gelu_gradgrad, (-3.0..3.0f64).boxed(), |x| x
    .gelu());
unary_case!(
    gelu_tanh_grad,
    gelu_tanh_gradgrad,
    (-3.0..3.0f64).boxed(),
    |x| x.gelu_tanh()
);
// Piecewise linear or linear: the second-order test goes through op(x)².
unary_case!(neg_grad, neg_gradgrad, smooth(), |x| x.neg(), |x| x
    .neg()
    .square());
unary_case!(
    relu_grad,
    relu_gradgrad,
    away_from_zero(),
    |x| x.relu(),
    |x| x.relu().square()
);
unary_case!(abs_grad, abs_gradgrad, away_from_zero(), |x| x.abs(), |x| x
    .abs()
    .square());

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn leaky_relu_grad(t in any_tensor(away_from_zero()), s in 0.01..0.5f64) {
        check1(|_, v| v[0].leaky_relu(s), &[t])?;
    }

    #[test]
    fn leaky_relu_gradgrad(t in any_tensor(away_from_zero()), s in 0.01..0.5f64) {
        check2(|_, v| v[0].leaky_relu(s).square(), &[t])?;
    }

    #[test]
    fn clamp_grad((t, lo, hi) in clamp_case()) {
        check1(|_, v| v[0].clamp(lo, hi), &[t])?;
    }

    #[test]
    fn clamp_gradgrad((t, lo, hi) in clamp_case()) {
        check2(|_, v| v[0].clamp(lo, hi).square(), &[t])?;
    }

    #[test]
    fn mul_scalar_grad(t in any_tensor(smooth()), c in -3.0..3.0f64) {
        check1(|_, v| v[0].mul_scalar(c), &[t])?;
    }

    #[test]
    fn mul_scalar_gradgrad(t in any_tensor(smooth()), c in -3.0..3.0f64) {
        check2(|_, v| v[0].mul_scalar(c).square(), &[t])?;
    }

    #[test]
    fn add_scalar_grad(t in any_tensor(smooth()), c in -3.0..3.0f64) {
        check1(|_, v| v[0].add_scalar(c), &[t])?;
    }

    #[test]
    fn add_scalar_gradgrad(t in any_tensor(smooth()), c in -3.0..3.0f64) {
        check2(|_, v| v[0].add_scalar(c).square(), &[t])?;
    }

    #[test]
    fn powf_grad(t in any_tensor(positive()), p in -2.5..3.0f64) {
        check1(|_, v| v[0].powf(p), &[t])?;
    }

    #[test]
    fn powf_gradgrad(t in any_tensor(positive()), p in -2.5..3.0f64) {
        check2(|_, v| v[0].powf(p), &[t])?;
    }

    /// `x + c`, `c - x`, `x * c`, `x / c`, `c / x`, `-x` through the operators.
    #[test]
    fn scalar_operators_grad(t in any_tensor(away(0.3)), c in 0.5..3.0f64) {
        check1(|_, v| (c - v[0]) * (v[0] / c) + c / v[0] - (-v[0] + c), std::slice::from_ref(&t))?;
        check2(|_, v| (c - v[0]) * (v[0] / c) + c / v[0] - (-v[0] + c), &[t])?;
    }
}

/// A tensor, and clamp bounds `lo < hi` with every value at least 0.05
/// from both bounds (values near a bound are moved 0.2 up, past it).
fn clamp_case() -> impl Strategy<Value = (Tensor<f64>, f64, f64)> {
    (-1.0..0.0f64, 0.5..2.0f64).prop_flat_map(|(lo, width)| {
        let hi = lo + width;
        let away_from_bounds = (-3.0..3.0f64)
            .prop_map(move |x| {
                if (x - lo).abs() < 0.05 || (x - hi).abs() < 0.05 {
                    x + 0.2
                } else {
                    x
                }
            })
            .boxed();
        (any_tensor(away_from_bounds), Just(lo), Just(hi))
    })
}

/// A first-order and a second-order property test of a binary op on two
/// broadcast-compatible tensors drawn from `pair`.
macro_rules! binary_case {
    ($first:ident, $second:ident, $pair:expr, |$a:ident, $b:ident| $body:expr, |$c:ident, $d:ident| $body2:expr) => {
        proptest! {
            #![proptest_config(config(40))]
            #[test]
            fn $first((ta, tb) in $pair) {
                check1(|_, v| { let ($a, $b) = (v[0], v[1]); $body }, &[ta, tb])?;
            }
            #[test]
            fn $second((ta, tb) in $pair) {
                check2(|_, v| { let ($c, $d) = (v[0], v[1]); $body2 }, &[ta, tb])?;
            }
        }
    };
}

binary_case!(
    add_grad,
    add_gradgrad,
    broadcast_tensors(smooth(), smooth()),
    |a, b| a + b,
    |a, b| (a + b).square()
);
binary_case!(
    sub_grad,
    sub_gradgrad,
    broadcast_tensors(smooth(), smooth()),
    |a, b| a - b,
    |a, b| (a - b).square()
);
binary_case!(
    mul_grad,
    mul_gradgrad,
    broadcast_tensors(smooth(), smooth()),
    |a, b| a * b,
    |a, b| a * b
);
binary_case!(
    div_grad,
    div_gradgrad,
    broadcast_tensors(smooth(), away(0.3)),
    |a, b| a / b,
    |a, b| a / b
);
binary_case!(
    pow_grad,
    pow_gradgrad,
    broadcast_tensors(positive(), (-2.0..2.0f64).boxed()),
    |a, b| a.pow(b),
    |a, b| a.pow(b)
);
binary_case!(
    maximum_grad,
    maximum_gradgrad,
    separated_pair(),
    |a, b| a.maximum(b),
    |a, b| a.maximum(b).square()
);
binary_case!(
    minimum_grad,
    minimum_gradgrad,
    separated_pair(),
    |a, b| a.minimum(b),
    |a, b| a.minimum(b).square()
);

/// A 0/1 condition and two values, all three of broadcast-compatible shapes.
fn where_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, Tensor<f64>)> {
    broadcast_group(3).prop_flat_map(|s| {
        let cond = tensor_of(
            s[0].clone(),
            prop::bool::ANY
                .prop_map(|b| if b { 1.0 } else { 0.0 })
                .boxed(),
        );
        (
            cond,
            tensor_of(s[1].clone(), smooth()),
            tensor_of(s[2].clone(), smooth()),
        )
    })
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn where_cond_grad((cond, a, b) in where_case()) {
        check1(|_, v| Var::where_cond(&cond, v[0], v[1]), &[a, b])?;
    }

    #[test]
    fn where_cond_gradgrad((cond, a, b) in where_case()) {
        check2(|_, v| Var::where_cond(&cond, v[0], v[1]).square(), &[a, b])?;
    }
}

/// Values including the ones a fused kernel could get wrong: ±0, ±∞, NaN,
/// huge, tiny and ordinary.
fn special_f32() -> BoxedStrategy<f32> {
    prop_oneof![
        3 => -30.0f32..30.0,
        1 => prop::sample::select(vec![
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-30,
        ]),
    ]
    .boxed()
}

/// A unary op on f32 vars.
type UnaryF32 = fn(Var<'_, f32>) -> Var<'_, f32>;

/// The gradient of `op` at `x` for the incoming gradient `g`, through the
/// first-order tensor path (`backward_with`) and through the recorded
/// generic rule (`Tape::grad_with`), as bits (every NaN as one NaN: the
/// sign and payload of a NaN are not specified by IEEE 754 arithmetic, and
/// the compiler may reorder `-(o²) + 1` into `1 - o²`).
fn both_paths(op: UnaryF32, x: &[f32], g: &[f32]) -> (Vec<u32>, Vec<u32>) {
    let bits = |t: &Tensor<f32>| {
        t.to_vec()
            .iter()
            .map(|v| {
                if v.is_nan() {
                    f32::NAN.to_bits()
                } else {
                    v.to_bits()
                }
            })
            .collect::<Vec<_>>()
    };
    let n = x.len();
    let tape = tapegrad_autodiff::Tape::<f32>::new();
    let v = tape.var(Tensor::from_vec(x.to_vec(), &[n]));
    let fused = op(v).backward_with(Tensor::from_vec(g.to_vec(), &[n]))[v].clone();
    let seed = tape.constant(Tensor::from_vec(g.to_vec(), &[n]));
    let generic = tape.grad_with(op(v), &[v], seed)[0].value();
    (bits(&fused), bits(&generic))
}

proptest! {
    #![proptest_config(config(200))]

    /// The ops with a fused first-order kernel (`backward_tensors`) give
    /// the generic rule's gradient bit for bit, NaN and infinities included.
    #[test]
    fn fused_backward_equals_the_generic_rule(
        xg in prop::collection::vec((special_f32(), special_f32()), 1..40),
    ) {
        let (x, g): (Vec<f32>, Vec<f32>) = xg.into_iter().unzip();
        let ops: [(&str, UnaryF32); 3] =
            [("tanh", |v| v.tanh()), ("sigmoid", |v| v.sigmoid()), ("relu", |v| v.relu())];
        for (name, op) in ops {
            let (fused, generic) = both_paths(op, &x, &g);
            prop_assert_eq!(fused, generic, "{} at x = {:?}, g = {:?}", name, x, g);
        }
    }
}
