//! `Tensor::<f32>::tanh` runs a vectorised polynomial/`exp` form instead of
//! the C library's `tanhf`; these tests bound its error against `f64` tanh
//! over a dense sweep of `f32` inputs and check its exact properties.

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

/// Every 61st `f32` bit pattern from 0 to 10 (about 18 million values,
/// subnormals and both branch boundaries included), through the tensor path
/// (vectorised, and parallel above the threshold), both signs.
#[test]
fn tanh_f32_is_within_two_ulp_of_exact() {
    let end = 10.0f32.to_bits();
    let xs: Vec<f32> = (0..=end).step_by(61).map(f32::from_bits).collect();
    for sign in [1.0f32, -1.0] {
        let x: Vec<f32> = xs.iter().map(|&v| sign * v).collect();
        let y = Tensor::from_vec(x.clone(), &[x.len()]).tanh().to_vec();
        let (mut worst, mut at) = (0.0f64, 0.0f32);
        for (&x, &y) in x.iter().zip(&y) {
            let e = ulps(y, (x as f64).tanh());
            if e > worst {
                (worst, at) = (e, x);
            }
        }
        assert!(worst <= 2.0, "tanh off by {worst:.2} ulp at x = {at:e}");
    }
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
