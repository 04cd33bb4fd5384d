//! Class 4: options and arguments that make a check meaningless are
//! refused, and obscure panics name the op and the value.

use crate::panics_with;
use rand::SeedableRng;
use tapegrad::autodiff::{gradcheck, gradgradcheck, GradcheckError, GradcheckOptions};
use tapegrad::tensor::Tensor;

/// A rule that is 50% wrong: d/dx x² reported as x (via a custom op that
/// halves the true gradient).
fn half_wrong(opts: &GradcheckOptions) -> Result<(), GradcheckError> {
    let x = Tensor::from_vec(vec![0.5, -1.5, 2.0], &[3]);
    gradcheck(
        |_, v| {
            // y = x² computed as x·x, with the gradient of one factor cut:
            // ∂y/∂x = x instead of 2x.
            v[0] * v[0].detach()
        },
        &[x],
        opts,
    )
    .map(|_| ())
}

/// With `atol` NaN, `rtol` NaN or `projections: 0`, gradcheck passed an op
/// that is 50% wrong.
#[test]
fn gradcheck_refuses_options_that_pass_anything() {
    assert!(matches!(
        half_wrong(&GradcheckOptions::default()),
        Err(GradcheckError::Mismatch { .. })
    ));
    let bad = [
        GradcheckOptions {
            atol: f64::NAN,
            ..Default::default()
        },
        GradcheckOptions {
            rtol: f64::NAN,
            ..Default::default()
        },
        GradcheckOptions {
            atol: f64::INFINITY,
            ..Default::default()
        },
        GradcheckOptions {
            rtol: -1.0,
            ..Default::default()
        },
        GradcheckOptions {
            eps: 0.0,
            ..Default::default()
        },
        GradcheckOptions {
            eps: f64::NAN,
            ..Default::default()
        },
        GradcheckOptions {
            projections: 0,
            max_full: 0,
            ..Default::default()
        },
    ];
    for opts in bad {
        match half_wrong(&opts) {
            Err(GradcheckError::InvalidOptions { what }) => assert!(!what.is_empty()),
            other => panic!("{opts:?} gave {other:?}"),
        }
        let x = Tensor::from_vec(vec![0.5], &[1]);
        assert!(matches!(
            gradgradcheck(|_, v| v[0].tanh(), &[x], &opts),
            Err(GradcheckError::InvalidOptions { .. })
        ));
    }
    // No inputs: nothing would be compared.
    assert!(matches!(
        gradcheck(
            |t, _| t.constant(Tensor::scalar(1.0)),
            &[],
            &GradcheckOptions::default()
        ),
        Err(GradcheckError::InvalidOptions { .. })
    ));
}

#[test]
fn creation_refuses_meaningless_arguments() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    panics_with(&["rand_normal", "std -1"], || {
        Tensor::<f32>::rand_normal(&[2], 0.0, -1.0, &mut rng)
    });
    panics_with(&["rand_normal", "NaN"], || {
        Tensor::<f32>::rand_normal(&[2], 0.0, f64::NAN, &mut rng)
    });
    panics_with(&["rand_normal", "mean"], || {
        Tensor::<f32>::rand_normal(&[2], f64::INFINITY, 1.0, &mut rng)
    });
    panics_with(&["rand_uniform"], || {
        Tensor::<f32>::rand_uniform(&[2], 0.0, f64::INFINITY, &mut rng)
    });
    panics_with(&["arange", "NaN"], || {
        Tensor::<f32>::arange(0.0, 1.0, f64::NAN)
    });
    panics_with(&["arange", "step 0"], || {
        Tensor::<f32>::arange(0.0, 1.0, 0.0)
    });
    // Was "capacity overflow" from deep inside Vec.
    panics_with(&["arange", "must be finite"], || {
        Tensor::<f32>::arange(0.0, f64::INFINITY, 1.0)
    });
    panics_with(&["arange", "more elements than fit in memory"], || {
        Tensor::<f32>::arange(0.0, 1e30, 1.0)
    });
    panics_with(&["eye", "[4294967296, 4294967296]"], || {
        Tensor::<f32>::eye(1 << 32)
    });
}

#[test]
fn reshape_infer_refuses_negative_sizes_other_than_minus_one() {
    let a = Tensor::<f32>::zeros(&[2, 6]);
    assert_eq!(a.reshape_infer(&[-1, 3]).shape(), &[4, 3]);
    // -2 was read as "infer" too.
    panics_with(&["reshape", "size -2"], || a.reshape_infer(&[-2, 3]));
    panics_with(&["reshape", "size -3"], || a.reshape_infer(&[4, -3]));
    panics_with(&["reshape"], || a.reshape_infer(&[-1, -1]));
}

#[test]
fn clamp_refuses_a_nan_bound() {
    let a = Tensor::<f32>::from_vec(vec![-2.0, 0.5, f32::NAN], &[3]);
    panics_with(&["clamp", "NaN"], || a.clamp(f64::NAN, 1.0));
    panics_with(&["clamp", "NaN"], || a.clamp(0.0, f64::NAN));
    // One-sided clamps with infinite bounds stay allowed; NaN elements stay NaN.
    let c = a.clamp(f64::NEG_INFINITY, 0.0).to_vec();
    assert_eq!(&c[..2], &[-2.0, 0.0]);
    assert!(c[2].is_nan());
}
