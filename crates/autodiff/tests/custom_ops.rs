//! Custom ops through the public [`CustomOp`] trait: a correct two-input op
//! passes `gradcheck` and `gradgradcheck` on random inputs; deliberately
//! wrong ops are caught, and the error names the input, the element and
//! the analytic and numeric values.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::{
    check_fn, gradcheck, gradgradcheck, CustomOp, GradcheckError, GradcheckOptions, Var,
};
use tapegrad_tensor::Tensor;

/// `f(x, y) = softsign(x) · y = x / (1 + |x|) · y`, with derivatives
/// `∂f/∂x = y / (1 + |x|)²` and `∂f/∂y = softsign(x)`, each multiplied by
/// `wrong_x` (elementwise, shaped like `x`) to plant a bug where wanted.
struct SoftsignMul {
    wrong_x: Option<Tensor<f64>>,
}

impl CustomOp<f64> for SoftsignMul {
    fn name(&self) -> &'static str {
        "softsign_mul"
    }
    fn forward(&self, x: &[Tensor<f64>]) -> Tensor<f64> {
        x[0].div(&x[0].abs().add_scalar(1.0)).mul(&x[1])
    }
    fn backward<'t>(
        &self,
        x: &[Var<'t, f64>],
        _out: Var<'t, f64>,
        g: Var<'t, f64>,
    ) -> Vec<Option<Var<'t, f64>>> {
        let (a, b) = (x[0], x[1]);
        let denom = a.abs() + 1.0;
        let mut ga = g * b / denom.square();
        if let Some(w) = &self.wrong_x {
            ga = ga * a.constant_like(w.clone());
        }
        vec![Some(ga), Some(g * a / denom)]
    }
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
        check1(|_, v| v[0].custom(SoftsignMul { wrong_x: None }, &[v[1]]), &[a, b])?;
    }

    #[test]
    fn custom_op_gradgrad((a, b) in pair()) {
        check2(|_, v| v[0].custom(SoftsignMul { wrong_x: None }, &[v[1]]), &[a, b])?;
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
            v[0].custom(
                SoftsignMul {
                    wrong_x: Some(wrong.clone()),
                },
                &[v[1]],
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
        |_, v| v[0].custom(SoftsignMul { wrong_x: None }, &[v[1]]),
        &fixed_inputs(),
        &Default::default(),
    );
    let report = r.expect("the correct op passes");
    assert_eq!(report.comparisons, 12);
}

/// `x²` whose rule detaches `x`: right at first order, but the second
/// derivative is lost (treated as 0 instead of 2).
struct DetachedSquare;

impl CustomOp<f64> for DetachedSquare {
    fn name(&self) -> &'static str {
        "detached_square"
    }
    fn forward(&self, x: &[Tensor<f64>]) -> Tensor<f64> {
        x[0].square()
    }
    fn backward<'t>(
        &self,
        x: &[Var<'t, f64>],
        _out: Var<'t, f64>,
        g: Var<'t, f64>,
    ) -> Vec<Option<Var<'t, f64>>> {
        vec![Some(g * x[0].detach() * 2.0)]
    }
}

#[test]
fn gradgradcheck_catches_a_rule_that_is_not_differentiable() {
    let x = Tensor::from_vec(vec![0.5, -1.5, 2.0], &[3]);
    let f = check_fn(|_, v| v[0].custom(DetachedSquare, &[]).sin());
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
            v[0].custom(
                SoftsignMul {
                    wrong_x: Some(wrong.clone()),
                },
                &[v[1]],
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
