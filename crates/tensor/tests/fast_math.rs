//! `Tensor::<f32>::tanh` runs a vectorised polynomial/`exp` form instead of
//! the C library's `tanhf`; these tests bound its error against `f64` tanh
//! over a dense sweep of `f32` inputs and check its exact properties.

use tapegrad_tensor::tuning::stable_sigmoid;
use tapegrad_tensor::Tensor;

/// Distance in units in the last place of `f32` between `got` and the
/// exact value `want` (in `f64`).
fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    let ulp = if w == 0.0 {
        f32::from_bits(1) as f64
    } else {
        // The spacing of f32 values at |want|.
        (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64
    };
    (got as f64 - want).abs() / ulp
}

/// The largest error in ulp of `op` (a tensor op) against `exact` over
/// `xs` and their negatives, and where it is.
fn worst_ulps(
    xs: &[f32],
    op: impl Fn(&Tensor<f32>) -> Tensor<f32>,
    exact: impl Fn(f64) -> f64,
) -> (f64, f32) {
    let (mut worst, mut at) = (0.0f64, 0.0f32);
    for sign in [1.0f32, -1.0] {
        let x: Vec<f32> = xs.iter().map(|&v| sign * v).collect();
        let y = op(&Tensor::from_vec(x.clone(), &[x.len()])).to_vec();
        for (&x, &y) in x.iter().zip(&y) {
            let e = ulps(y, exact(x as f64));
            if e > worst {
                (worst, at) = (e, x);
            }
        }
    }
    (worst, at)
}

/// Every 61st `f32` bit pattern from 0 to 10 (about 18 million values,
/// subnormals and both branch boundaries included), through the tensor path
/// (vectorised, and parallel above the threshold), both signs.
#[test]
fn tanh_f32_is_within_two_ulp_of_exact() {
    let end = 10.0f32.to_bits();
    let xs: Vec<f32> = (0..=end).step_by(61).map(f32::from_bits).collect();
    let (worst, at) = worst_ulps(&xs, |t| t.tanh(), f64::tanh);
    assert!(worst <= 2.0, "tanh off by {worst:.2} ulp at x = {at:e}");
}

#[test]
fn tanh_f32_edge_values() {
    let x = vec![
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.625,
        -0.625,
        9.0,
        9.5,
        -1e30,
        1e-40,
    ];
    let y = Tensor::from_vec(x.clone(), &[x.len()]).tanh().to_vec();
    assert_eq!(y[0].to_bits(), 0.0f32.to_bits());
    assert_eq!(y[1].to_bits(), (-0.0f32).to_bits(), "tanh(-0) = -0");
    assert_eq!((y[2], y[3]), (1.0, -1.0));
    assert!(y[4].is_nan());
    assert_eq!(y[5], -y[6], "odd at the branch boundary");
    assert!(ulps(y[5], 0.625f64.tanh()) <= 2.0);
    assert!(ulps(y[7], 9.0f64.tanh()) <= 2.0 && y[8] == 1.0 && y[9] == -1.0);
    assert_eq!(y[10], 1e-40, "subnormal: tanh x = x");
    assert!(y.iter().filter(|v| !v.is_nan()).all(|v| v.abs() <= 1.0));
}

/// Strided (non-contiguous) input goes through the same function.
#[test]
fn tanh_f32_on_a_view_matches_contiguous() {
    let x = Tensor::<f32>::arange(-6.0, 6.0, 0.01).reshape(&[40, 30]);
    let a = x.t().tanh().to_vec();
    let b = x.t().contiguous().tanh().to_vec();
    assert_eq!(a, b);
}

/// Every 97th `f32` bit pattern from 0 to 110 (about 11 million values,
/// both signs: the outputs run from 1 down through the subnormals to 0),
/// through the tensor path, within 2.5 ulp of exact (2.28 seen).
#[test]
fn sigmoid_f32_is_within_two_and_a_half_ulp_of_exact() {
    let end = 110.0f32.to_bits();
    let xs: Vec<f32> = (0..=end).step_by(97).map(f32::from_bits).collect();
    // The reference: the two-branch form on the C library's f64 `exp`.
    let (worst, at) = worst_ulps(&xs, |t| t.sigmoid(), stable_sigmoid::<f64>);
    assert!(worst <= 2.5, "sigmoid off by {worst:.2} ulp at x = {at:e}");
}

#[test]
fn sigmoid_f32_edge_values() {
    let x = vec![
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -105.0,
        -1e30,
        1e30,
        1e-40,
    ];
    let y = Tensor::from_vec(x.clone(), &[x.len()]).sigmoid().to_vec();
    assert_eq!((y[0], y[1]), (0.5, 0.5));
    assert_eq!((y[2], y[3]), (1.0, 0.0));
    assert!(y[4].is_nan());
    assert_eq!((y[5], y[6], y[7]), (0.0, 0.0, 1.0));
    assert_eq!(y[8], 0.5);
    // Monotone over a fine sweep across both branches and the subnormals.
    let sweep: Vec<f32> = (-110_000..=20_000).map(|i| i as f32 * 1e-3).collect();
    let s = Tensor::from_vec(sweep.clone(), &[sweep.len()])
        .sigmoid()
        .to_vec();
    assert!(
        s.windows(2).all(|w| w[0] <= w[1]),
        "sigmoid is not monotone"
    );
}
