//! Numerically stable formulations at extreme inputs (|x| = 1e4, where the
//! naive formulas overflow to inf or NaN), in f32 and f64, against values
//! derived in f64 with the same algebra by hand.

use tapegrad_tensor::{Float, Tensor};

fn logsumexp_f64(xs: &[f64]) -> f64 {
    // ln Σ e^x = m + ln Σ e^(x - m), m = max x (exact algebra, no overflow).
    let m = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn check_logsumexp<E: Float>(tol: f64) {
    let rows: [[f64; 3]; 4] = [
        [1e4, 1e4 - 1.0, 1e4 - 2.0],
        [-1e4, -1e4, -1e4], // = -1e4 + ln 3
        [1e4, -1e4, 0.0],   // = 1e4 (+ e^-1e4, lost)
        [-1e4, 5.0, -1e4 + 1.0],
    ];
    let data: Vec<E> = rows.iter().flatten().map(|&v| E::from_f64(v)).collect();
    let t = Tensor::from_vec(data, &[4, 3]);
    // The naive formula overflows on these rows.
    assert!(!t.exp().sum(&[1]).ln().all_finite());
    let got = t.logsumexp(&[1]);
    assert_eq!(got.shape(), &[4]);
    for (i, row) in rows.iter().enumerate() {
        let want = logsumexp_f64(row);
        let g = got.get(&[i]).to_f64();
        assert!(g.is_finite(), "{} row {i}: {g}", E::DTYPE);
        assert!(
            (g - want).abs() <= tol * want.abs().max(1.0),
            "{} row {i}: {g} vs {want}",
            E::DTYPE
        );
    }
    // Over both axes at once, and keepdim.
    let all = t.logsumexp_keepdim(&[0, 1]);
    assert_eq!(all.shape(), &[1, 1]);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let want = logsumexp_f64(&flat);
    assert!((all.item().to_f64() - want).abs() <= tol * want.abs());
}

#[test]
fn logsumexp_is_finite_and_right_at_1e4() {
    check_logsumexp::<f32>(1e-6);
    check_logsumexp::<f64>(1e-15);
}

fn check_sigmoid_softplus<E: Float>() {
    let x = Tensor::<E>::from_vec(
        [-1e4, -30.0, 0.0, 30.0, 1e4].map(E::from_f64).to_vec(),
        &[5],
    );
    let s = x.sigmoid().to_f64_vec();
    assert!(
        s.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
        "{s:?}"
    );
    // σ(-1e4) = e^-1e4 / (1 + e^-1e4) underflows to 0; σ(1e4) rounds to 1;
    // σ(0) = 1/2; σ(-30) = e^-30 / (1 + e^-30) ≈ 9.36e-14, representable in both types.
    assert_eq!((s[0], s[2], s[4]), (0.0, 0.5, 1.0));
    let want = (-30f64).exp() / (1.0 + (-30f64).exp());
    assert!(
        (s[1] - want).abs() <= 1e-6 * want,
        "{} σ(-30) = {}",
        E::DTYPE,
        s[1]
    );
    // σ(x) + σ(-x) = 1.
    assert!((s[1] + s[3] - 1.0).abs() <= 1e-6);

    let sp = x.softplus().to_f64_vec();
    assert!(sp.iter().all(|v| v.is_finite()), "{sp:?}");
    // softplus(x) = max(x, 0) + ln(1 + e^-|x|): 1e4 at 1e4, e^-1e4 -> 0 at -1e4,
    // ln 2 at 0, and ≈ e^-30 at -30 (the naive ln(1 + e^-30) rounds to 0 in f32).
    assert_eq!((sp[0], sp[4]), (0.0, 1e4));
    assert!((sp[2] - std::f64::consts::LN_2).abs() <= 1e-7);
    let want = (-30f64).exp().ln_1p();
    assert!(
        (sp[1] - want).abs() <= 1e-6 * want,
        "{} softplus(-30) = {}",
        E::DTYPE,
        sp[1]
    );
}

#[test]
fn sigmoid_and_softplus_are_finite_and_right_at_1e4() {
    check_sigmoid_softplus::<f32>();
    check_sigmoid_softplus::<f64>();
}

#[test]
fn sigmoid_keeps_subnormal_tail_in_f32() {
    // σ(-100) = e^-100 / (1 + e^-100) ≈ 3.7e-44: a subnormal f32, which the
    // naive 1 / (1 + e^100) loses because e^100 overflows f32.
    let s = Tensor::<f32>::from_vec(vec![-100.0], &[1]).sigmoid().item() as f64;
    let want = (-100f64).exp();
    assert!(s > 0.0 && (s - want).abs() <= 0.05 * want, "σ(-100) = {s}");
}
