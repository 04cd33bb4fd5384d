//! User-defined ops through the public [`Op`] trait and [`Var::apply`]
//! (the mechanism the built-in ops use): a correct two-input op
//! passes `gradcheck` and `gradgradcheck` on random inputs; deliberately
//! wrong ops are caught, and the error names the input, the element and
//! the analytic and numeric values.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::{
    check_fn, gradcheck, gradgradcheck, Ctx, GradOps, GradcheckError, GradcheckOptions, Grads, Op,
    Var,
};
use tapegrad_tensor::Tensor;

/// `f(x, y) = softsign(x) · y = x / (1 + |x|) · y`, with derivatives
/// `∂f/∂x = y / (1 + |x|)²` and `∂f/∂y = softsign(x)`, each multiplied by
/// `wrong_x` (elementwise, shaped like `x`) to plant a bug where wanted.
struct SoftsignMul {
    wrong_x: Option<Tensor<f64>>,
}

impl Op<f64> for SoftsignMul {
    fn name(&self) -> &'static str {
        "softsign_mul"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        x[0].div(&x[0].abs().add_scalar(1.0)).mul(x[1])
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (a, b, g) = (&c.x[0], &c.x[1], c.g);
        // |a| = a · sign(a), the sign a constant (a stays away from 0).
        let denom = a.mul(&a.lift(a.value().signum())).add_scalar(1.0);
        let mut ga = g.mul(b).div(&denom.mul(&denom));
        if let Some(w) = &self.wrong_x {
            ga = ga.mul(&a.lift(w.clone()));
        }
        [Some(ga), Some(g.mul(a).div(&denom))].into()
    }
}

/// Records `SoftsignMul` on `a` and `b`.
fn softsign_mul<'t>(op: SoftsignMul, a: Var<'t, f64>, b: Var<'t, f64>) -> Var<'t, f64> {
    Var::apply(op, &[a, b])
}

/// Two same-shape tensors, the first away from softsign's kink at 0.
fn pair() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    shape(3, 4).prop_flat_map(|s| {
        (
            tensor_of(s.clone(), away_from_zero()),
            tensor_of(s, smooth()),
        )
    })
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn custom_op_grad((a, b) in pair()) {
        check1(|_, v| softsign_mul(SoftsignMul { wrong_x: None }, v[0], v[1]), &[a, b])?;
    }

    #[test]
    fn custom_op_gradgrad((a, b) in pair()) {
        check2(|_, v| softsign_mul(SoftsignMul { wrong_x: None }, v[0], v[1]), &[a, b])?;
    }
}

/// A 2x3 case for the planted-bug tests: `x` away from 0, `y` smooth.
fn fixed_inputs() -> [Tensor<f64>; 2] {
    [
        Tensor::from_vec(vec![0.7, -1.1, 0.4, 1.9, -0.3, 0.8], &[2, 3]),
        Tensor::from_vec(vec![1.2, 0.5, -0.9, 0.3, 2.0, -1.4], &[2, 3]),
    ]
}

#[test]
fn wrong_custom_op_is_reported_with_input_and_element() {
    // The x-derivative is 1.5 times too large from flat element 2 on, so the
    // first element checked that disagrees is input 0, element [0, 2].
    let wrong = Tensor::from_vec(vec![1.0, 1.0, 1.5, 1.5, 1.5, 1.5], &[2, 3]);
    let err = gradcheck(
        |_, v| {
            softsign_mul(
                SoftsignMul {
                    wrong_x: Some(wrong.clone()),
                },
                v[0],
                v[1],
            )
        },
        &fixed_inputs(),
        &GradcheckOptions::default(),
    )
    .expect_err("a planted bug must be caught");
    let GradcheckError::Mismatch {
        input,
        index,
        analytic,
        numeric,
        ..
    } = err.clone()
    else {
        panic!("expected a mismatch, got {err:?}");
    };
    assert_eq!((input, index), (0, Some(vec![0, 2])));
    assert!(
        (analytic / numeric - 1.5).abs() < 1e-6,
        "analytic {analytic} numeric {numeric}"
    );
    let msg = err.to_string();
    for part in [
        "input 0",
        "[0, 2]",
        "analytic",
        "numeric",
        &format!("{analytic:.10e}"),
        &format!("{numeric:.10e}"),
    ] {
        assert!(msg.contains(part), "{msg:?} does not mention {part:?}");
    }
}

#[test]
fn correct_custom_op_passes_on_the_same_inputs() {
    let r = gradcheck(
        |_, v| softsign_mul(SoftsignMul { wrong_x: None }, v[0], v[1]),
        &fixed_inputs(),
        &Default::default(),
    );
    let report = r.expect("the correct op passes");
    assert_eq!(report.comparisons, 12);
}

/// `x²` whose rule detaches `x`: right at first order, but the second
/// derivative is lost (treated as 0 instead of 2).
struct DetachedSquare;

impl Op<f64> for DetachedSquare {
    fn name(&self) -> &'static str {
        "detached_square"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        x[0].square()
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        // The bug: `x` enters as a constant, so the rule is not differentiated.
        let x = c.x[0].lift(c.x[0].value());
        [Some(c.g.mul(&x).mul_scalar(2.0))].into()
    }
}

#[test]
fn gradgradcheck_catches_a_rule_that_is_not_differentiable() {
    let x = Tensor::from_vec(vec![0.5, -1.5, 2.0], &[3]);
    let f = check_fn(|_, v| Var::apply(DetachedSquare, &[v[0]]).sin());
    assert!(
        gradcheck(f, std::slice::from_ref(&x), &Default::default()).is_ok(),
        "first order is right"
    );
    let err = gradgradcheck(f, &[x], &Default::default()).expect_err("second order is wrong");
    assert!(
        matches!(
            err,
            GradcheckError::Mismatch {
                input: 0,
                index: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_op_on_a_large_input_is_caught_along_a_random_direction() {
    // 2500 elements: above max_full (2048), so gradcheck projects on random
    // directions; a factor 3 on every element cannot hide from them.
    let n = 2500;
    let x = Tensor::from_vec(
        (0..n).map(|i| 0.5 + (i as f64 * 0.01).sin()).collect(),
        &[50, 50],
    );
    let y = Tensor::from_vec((0..n).map(|i| (i as f64 * 0.7).cos()).collect(), &[50, 50]);
    let wrong = Tensor::full(&[50, 50], 3.0);
    let err = gradcheck(
        |_, v| {
            softsign_mul(
                SoftsignMul {
                    wrong_x: Some(wrong.clone()),
                },
                v[0],
                v[1],
            )
        },
        &[x, y],
        &Default::default(),
    )
    .expect_err("caught along a projection");
    assert!(
        matches!(
            err,
            GradcheckError::Mismatch {
                input: 0,
                index: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("random direction"), "{err}");
}
