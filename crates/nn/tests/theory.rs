//! Mean-field theory (`tapegrad_nn::theory`) against closed forms, against
//! reference values computed independently with SciPy, and against wide
//! random networks. Every tolerance is derived in a comment.
//!
//! The SciPy references (scipy 1.17, `scipy.integrate.quad` with
//! `epsabs=1e-15, epsrel=1e-14`; rerun with `epsabs=1e-13, epsrel=1e-11`
//! they move by at most 3e-15) come from this script:
//!
//! ```python
//! import numpy as np
//! from scipy.integrate import quad
//! from scipy.optimize import brentq
//! D = lambda z: np.exp(-z*z/2)/np.sqrt(2*np.pi)
//! E = lambda f: quad(lambda z: f(z)*D(z), -np.inf, np.inf, epsabs=1e-15, epsrel=1e-14, limit=200)[0]
//! dt = lambda x: 1 - np.tanh(x)**2
//! def qstar(w, b):
//!     return brentq(lambda q: w*E(lambda z: np.tanh(np.sqrt(q)*z)**2) + b - q, 1e-12, 100, xtol=1e-15, rtol=1e-15)
//! def chi1(w, b):
//!     q = qstar(w, b); return w*E(lambda z: dt(np.sqrt(q)*z)**2)
//! def E2(q, c, f):
//!     s = np.sqrt(1-c*c)
//!     inner = lambda z1: quad(lambda z2: f(np.sqrt(q)*z1, np.sqrt(q)*(c*z1+s*z2))*D(z2), -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13)[0]
//!     return quad(lambda z1: inner(z1)*D(z1), -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13)[0]
//! print(E(lambda z: np.tanh(z)**2))
//! for b in [0.05, 0.1, 0.3]:
//!     w = brentq(lambda w: chi1(w, b) - 1, 1.0, 4.0, xtol=1e-14, rtol=1e-14)
//!     print(f"critical sigma_w^2 at sigma_b^2={b}: {w!r}  q*={qstar(w,b)!r}")
//! w, b = 2.5, 0.1
//! q = qstar(w, b)
//! c = brentq(lambda c: (w*E2(q, c, lambda u, v: np.tanh(u)*np.tanh(v)) + b)/q - c, 0.0, 0.999, xtol=1e-13)
//! chic = w*E2(q, c, lambda u, v: dt(u)*dt(v))
//! slope = w*E(lambda z: dt(np.sqrt(q)*z)**2 + np.tanh(np.sqrt(q)*z)*(-2*np.tanh(np.sqrt(q)*z)*dt(np.sqrt(q)*z)))
//! print(q, c, chi1(w, b), chic, -1/np.log(slope), -1/np.log(chic))
//! ```

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::f64::consts::PI;
use tapegrad_nn::init;
use tapegrad_nn::theory::{erf, Activation, FixedPointError, GaussHermite, MeanField, Variances};
use tapegrad_tensor::Tensor;

fn v(weight: f64, bias: f64) -> Variances {
    Variances::new(weight, bias)
}

/// `|got − want| ≤ tol`, with both in the message.
#[track_caller]
fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, want {want:e} (|diff| {:e} > {tol:e})",
        (got - want).abs()
    );
}

// ---------------------------------------------------------------- quadrature

#[test]
fn gauss_hermite_integrates_polynomials_exactly_up_to_degree_2n_minus_1() {
    // E[z^{2k}] = (2k − 1)!!, odd moments 0. An n-point rule is exact to
    // degree 2n − 1, so k ≤ n − 1 must hold to rounding: the terms wᵢ zᵢ^{2k}
    // are positive, each with relative error ≤ (2k + 2) ulp (2k products and
    // the node's own ulp), so the sum is within (2k + 2)·2.2e-16 relative;
    // 1e-13 covers k ≤ 19. Degree 2n is not exact: the rule's error there is
    // n! (the known remainder E[Heₙ²] = n!, non-zero), which the last check sees.
    let n = 20;
    let g = GaussHermite::new(n);
    let mut double_factorial = 1.0; // (2k − 1)!!
    for k in 0..n {
        if k > 0 {
            double_factorial *= (2 * k - 1) as f64;
        }
        let even = g.expect(|z| z.powi(2 * k as i32));
        close(
            even / double_factorial,
            1.0,
            1e-13,
            &format!("E[z^{}]", 2 * k),
        );
        let odd = g.expect(|z| z.powi(2 * k as i32 + 1));
        // symmetric nodes: the odd terms cancel pairwise, exactly
        assert!(odd.abs() <= 1e-13 * double_factorial * (2 * k + 1) as f64);
    }
    let exact_2n: f64 = (1..=2 * n - 1).step_by(2).map(|m| m as f64).product();
    let rel_err = (g.expect(|z| z.powi(2 * n as i32)) / exact_2n - 1.0).abs();
    assert!(rel_err > 1e-6, "degree 2n should not be exact: {rel_err:e}");
}

#[test]
fn gauss_hermite_gets_known_expectations() {
    let g = GaussHermite::new(100);
    let g200 = GaussHermite::new(200);
    // E[relu(z)²] = E[z²]/2 = 1/2: the nodes are symmetric, so the rule
    // sums z²·1[z > 0] over half of an exact rule for z²: exact to rounding.
    close(g.expect(|z| z.max(0.0).powi(2)), 0.5, 1e-15, "E[relu(z)²]");
    // E[tanh(z)²] = 0.3942944903978413 (SciPy, above). The poles of tanh²
    // at z = ±iπ/2 lie b = π/(2√2) = 1.11 from the real axis in x = z/√2,
    // and the error of the n-point rule for a double pole is about
    // 2√π e^{b²} · 2√(2n) · e^{−2b√(2n)} (Barrett 1961): 7.8e-12 at n = 100,
    // 2.5e-17 at n = 200. Rounding of n positive terms below 1: n ulp.
    let tanh2 = |z: f64| z.tanh().powi(2);
    let want = 0.3942944903978413;
    let err_100 = (g.expect(tanh2) - want).abs();
    assert!(
        err_100 > 1e-13 && err_100 < 2.0 * 7.8e-12 + 2.2e-14,
        "n = 100: {err_100:e}"
    );
    close(
        g200.expect(tanh2),
        want,
        2.5e-17 + 4.4e-14,
        "E[tanh(z)²], n = 200",
    );
    // E[erf(a z)²] = (2/π) asin(2a²/(1 + 2a²)). The rule converges
    // geometrically here, so the gap |Q_n − Q_2n| to the 2n-point rule
    // estimates the n-point error; allow twice it plus n ulp of rounding.
    let g400 = GaussHermite::new(400);
    for a in [0.5f64, 1.0, 2.0] {
        let want = 2.0 / PI * (2.0 * a * a / (1.0 + 2.0 * a * a)).asin();
        let f = |z: f64| erf(a * z).powi(2);
        let (q_n, q_2n) = (g200.expect(f), g400.expect(f));
        let tol = 2.0 * (q_n - q_2n).abs() + 4.4e-14;
        close(q_n, want, tol, &format!("E[erf({a}z)²]"));
    }
}

#[test]
fn correlated_pairs_have_the_right_covariance() {
    // E[u₁u₂] = √(q11 q22) c, E[u₁²u₂²] = q11 q22 (1 + 2c²) (Isserlis):
    // degree-4 polynomials, exact for n ≥ 3; rounding over n² = 100
    // terms of size ≤ 20: 1e-12.
    let g = GaussHermite::new(10);
    for (q11, q22, c) in [(1.0, 1.0, 0.3), (2.0, 0.5, -0.7), (0.3, 4.0, 1.0)] {
        let cov = g.expect_pair(q11, q22, c, |a, b| a * b);
        close(cov, (q11 * q22).sqrt() * c, 1e-12, "E[u1 u2]");
        let fourth = g.expect_pair(q11, q22, c, |a, b| a * a * b * b);
        close(fourth, q11 * q22 * (1.0 + 2.0 * c * c), 1e-12, "E[u1² u2²]");
    }
}

// ---------------------------------------------------------------- closed forms

#[test]
fn relu_closed_forms() {
    let relu = MeanField::new(Activation::ReLU);
    for (w, b) in [(0.5, 0.0), (1.0, 0.2), (2.0, 0.1), (3.0, 1.0)] {
        for q in [0.1, 1.0, 7.0] {
            // χ₁ = σ_w² E[1[z > 0]] = σ_w²/2 and 𝓠(q) = σ_w² q/2 + σ_b²,
            // both exact formulas: equal to rounding (one operation).
            close(relu.chi(v(w, b), q), w / 2.0, 1e-15, "χ(q)");
            close(
                relu.length_map(v(w, b), q),
                w * q / 2.0 + b,
                1e-15 * (w * q + b),
                "𝓠(q)",
            );
            close(relu.length_map_slope(v(w, b), q), w / 2.0, 1e-15, "𝓠'(q)");
        }
    }
    // q* = σ_b² / (1 − σ_w²/2) below σ_w² = 2; none at and above.
    close(relu.q_star(v(1.0, 0.3)).unwrap(), 0.6, 1e-15, "q*");
    assert_eq!(relu.q_star(v(2.0, 0.0)), Err(FixedPointError::Neutral));
    assert_eq!(relu.q_star(v(2.0, 0.1)), Err(FixedPointError::Diverges));
    assert_eq!(relu.q_star(v(2.5, 0.0)), Err(FixedPointError::Diverges));
    // ReLU is never chaotic where q* exists (χ₁ = σ_w²/2 < 1): c* = 1, and
    // ξ_c = −1/ln(σ_w²/2).
    let fp = relu.fixed_point(v(1.5, 0.1)).unwrap();
    assert_eq!(fp.c_star, 1.0);
    close(fp.xi_c, -1.0 / (0.75f64).ln(), 1e-14, "ξ_c");
    assert_eq!(relu.critical_weight_variance(0.3), Some(2.0));
}

#[test]
fn relu_correlation_map_is_the_arc_cosine_kernel() {
    // Independent oracle: with u = √q (a·z, b·z) for unit vectors a, b at
    // angle θ = arccos c, E[relu(a·z) relu(b·z)] = E[r²]/(2π) ∫ relu(cos t)
    // relu(cos(t − θ)) dt with E[r²] = 2 for a 2-D standard normal. The
    // midpoint rule with N = 2·10⁵ cells (h = 3.1e-5) errs by ≤ 2π h² max|f''|/24
    // ≈ 5e-10 on the smooth pieces, and O(h²) in each of the 4 cells with a
    // kink: 1e-8 covers both.
    let relu = MeanField::new(Activation::ReLU);
    let n = 200_000;
    let h = 2.0 * PI / n as f64;
    for c in [-0.9, -0.3, 0.0, 0.5, 0.99, 1.0] {
        let theta = f64::acos(c);
        let angular: f64 = (0..n)
            .map(|i| {
                let t = (i as f64 + 0.5) * h;
                t.cos().max(0.0) * (t - theta).cos().max(0.0)
            })
            .sum::<f64>()
            * h;
        let q = 1.7;
        let want = q * angular / PI;
        close(
            relu.kernel(q, c),
            want,
            1e-8 * q,
            &format!("kernel at c = {c}"),
        );
        // The map at q* with σ_w² = 1, σ_b² = 0.3 (q* = 0.6).
        let vv = v(1.0, 0.3);
        let map = relu.correlation_map(vv, 0.6, c);
        close(map, (0.6 * angular / PI + 0.3) / 0.6, 1e-8, "c map");
    }
    // The derivative kernel (π − θ)/(2π) is the slope of the kernel /q
    // (Price's theorem): central difference in c, step 1e-5 (error h²·|κ'''|
    // ≈ 1e-10 away from c = ±1, rounding 1e-11).
    for c in [-0.5, 0.2, 0.7] {
        let d = (relu.kernel(1.0, c + 1e-5) - relu.kernel(1.0, c - 1e-5)) / 2e-5;
        close(relu.derivative_kernel(1.0, c), d, 1e-8, "Price");
    }
}

#[test]
fn erf_kernels_match_their_closed_forms() {
    // Williams (1997): E[erf(u₁) erf(u₂)] = (2/π) asin(2qc / (1 + 2q)), and
    // E[erf'(u₁) erf'(u₂)] = (4/π) det(I + 2Σ)^{-1/2}, det = (1 + 2q)² − 4q²c².
    // The derivative kernel integrates a Gaussian e^{−β x²} (x = z/√2) against
    // the weight, with β ≤ 4q (at c = 1, along z₁); the n-point error is
    // about (β/(1 + β))ⁿ of the value (Mehler's expansion of e^{−βx²}):
    // 6e-11 at q = 2, n = 200, below 1e-19 for q ≤ 1. The erf kernel itself
    // converges faster. Rounding over n² = 4·10⁴ bounded terms: ≤ 1e-11.
    let erf_mf = MeanField::new(Activation::Erf);
    for q in [0.3f64, 1.0, 2.0] {
        for c in [-0.8f64, 0.0, 0.4, 0.95, 1.0] {
            let k = 2.0 / PI * (2.0 * q * c / (1.0 + 2.0 * q)).asin();
            close(
                erf_mf.kernel(q, c),
                k,
                1e-11,
                &format!("erf kernel q={q} c={c}"),
            );
            let det = (1.0 + 2.0 * q).powi(2) - 4.0 * q * q * c * c;
            let dk = 4.0 / PI / det.sqrt();
            let beta = 4.0 * q;
            let tol = 1e-11 + 2.0 * dk * (beta / (1.0 + beta)).powi(200);
            close(erf_mf.derivative_kernel(q, c), dk, tol, "erf' kernel");
        }
    }
}

#[test]
fn linear_units_have_affine_maps() {
    let lin = MeanField::new(Activation::Linear);
    close(
        lin.q_star(v(0.5, 0.2)).unwrap(),
        0.4,
        1e-15,
        "q* = σ_b²/(1 − σ_w²)",
    );
    assert_eq!(lin.q_star(v(1.0, 0.0)), Err(FixedPointError::Neutral));
    assert_eq!(lin.q_star(v(1.0, 0.1)), Err(FixedPointError::Diverges));
    close(
        lin.correlation_map(v(0.5, 0.2), 0.4, 0.3),
        (0.5 * 0.4 * 0.3 + 0.2) / 0.4,
        1e-15,
        "c map",
    );
}

// ---------------------------------------------------------------- tanh phases

#[test]
fn tanh_without_bias_is_critical_at_unit_weight_variance() {
    let tanh = MeanField::new(Activation::Tanh);
    // σ_b² = 0: 𝓠(q) = σ_w² E[tanh²(√q z)] < σ_w² q, so for σ_w² ≤ 1 the only
    // fixed point is q* = 0, where χ₁ = σ_w² tanh'(0)² = σ_w² exactly.
    for w in [0.5, 0.9, 1.0] {
        let fp = tanh.fixed_point(v(w, 0.0)).unwrap();
        assert_eq!(fp.q_star, 0.0, "σ_w² = {w}");
        // Σ wᵢ tanh'(0)² = Σ wᵢ = 1 to n = 200 ulp.
        close(fp.chi_1, w, 4.4e-14 * w, "χ₁ = σ_w²");
        assert_eq!(fp.c_star, 1.0, "ordered: c* = 1 is stable (χ₁ = {w} ≤ 1)");
    }
    let at_one = tanh.fixed_point(v(1.0, 0.0)).unwrap();
    // ξ = −1/ln χ₁ with χ₁ = Σ wᵢ = 1 − δ, δ ≤ 200 ulp = 4.4e-14: ξ ≥ 1/δ.
    assert!(at_one.xi_c > 2e13 && at_one.xi_q > 2e13, "{at_one:?}");
    // Above 1: q* > 0, χ₁ > 1, so c = 1 repels (slope χ₁ > 1) and c* = 0
    // (odd φ, no bias: the map fixes 0), where the slope χ_c < 1 attracts.
    // c* comes from a bisection to 1e-14; rounding of the pair quadrature
    // at 0 (odd terms cancel to ~1e-17): 1e-13.
    for w in [1.2, 1.5, 3.0] {
        let fp = tanh.fixed_point(v(w, 0.0)).unwrap();
        assert!(fp.q_star > 0.0 && fp.chi_1 > 1.0, "σ_w² = {w}: {fp:?}");
        close(fp.c_star, 0.0, 1e-13, "c*");
        assert!(fp.chi_c < 1.0 && fp.xi_c.is_finite());
        let c_near_one = 1.0 - 1e-3;
        let next = tanh.correlation_map(v(w, 0.0), fp.q_star, c_near_one);
        assert!(next < c_near_one, "c = 1 must repel above criticality");
    }
    // The bisection for the critical σ_w² at σ_b² = 0 lands on 1: there
    // χ₁(1 + ε) − 1 is of order ε² (q* ≈ ε/2), so f64 resolves ε only to
    // about √(1e-16 / O(1)) = 1e-8; 1e-6 is a safe bound.
    close(
        tanh.critical_weight_variance(0.0).unwrap(),
        1.0,
        1e-6,
        "critical σ_w²",
    );
}

#[test]
fn tanh_ordered_phase_attracts_correlations_to_one() {
    // σ_w² = 1.2 at σ_b² = 0.3 is ordered (critical ≈ 2.505, SciPy): χ₁ < 1,
    // c* = 1, and the map pulls every c in [0, 1) up towards 1.
    let tanh = MeanField::new(Activation::Tanh);
    let vv = v(1.2, 0.3);
    let fp = tanh.fixed_point(vv).unwrap();
    assert!(fp.chi_1 < 1.0 && fp.c_star == 1.0 && fp.xi_c.is_finite());
    for c in [0.0, 0.5, 0.9, 0.999] {
        let next = tanh.correlation_map(vv, fp.q_star, c);
        assert!(next > c && next <= 1.0, "c = {c} -> {next}");
    }
}

#[test]
fn tanh_critical_line_matches_scipy() {
    // References: SciPy (above), accurate to ~3e-15 (tight vs loose rerun),
    // so χ₁ there is 1 to ~1e-14. Ours: χ₁ carries the quadrature error of
    // E[tanh'²] at q*: tanh'² = sech⁴ has poles of order m = 4, so
    // σ_w² · 2√π e^{b²} · (2√(2n))³/3! · e^{−2b√(2n)} with b = π/(2√(2q*))
    // (DEFAULT_ORDER's doc; 1.4e-11 at q* = 1.46), plus ≲ 1e-13 from q* (converged
    // to 1e-13 relative, χ₁ varying slowly with q). An error e in χ₁ moves
    // the root by e / (dχ₁/dσ_w²), the slope taken along the line by a
    // central difference; add the bisection's width 1e-13 σ_w².
    let tanh = MeanField::new(Activation::Tanh);
    let reference = [
        (0.05f64, 1.7609546396067401f64, 0.5700478816407653f64),
        (0.1, 1.9860726411358625, 0.8057991819134861),
        (0.3, 2.5051271896797638, 1.4611694469319787),
    ];
    for (b, w_crit, q_star) in reference {
        let w = tanh.critical_weight_variance(b).unwrap();
        let chi1 = |w: f64| {
            let q = tanh.q_star(v(w, b)).unwrap();
            tanh.chi(v(w, b), q)
        };
        let slope = (chi1(w_crit + 1e-4) - chi1(w_crit - 1e-4)) / 2e-4;
        let (n, pb) = (200.0f64, PI / (2.0 * (2.0 * q_star).sqrt()));
        let quad = 2.0 * PI.sqrt() * (pb * pb).exp() * (2.0 * (2.0 * n).sqrt()).powi(3) / 6.0
            * (-2.0 * pb * (2.0 * n).sqrt()).exp();
        let tol = (w_crit * quad + 1e-13 + 1e-14) / slope.abs() + 1e-13 * w_crit;
        close(
            w,
            w_crit,
            tol,
            &format!("critical σ_w² at σ_b² = {b} (χ₁' = {slope:.4})"),
        );
        // q* at the reference point: Newton to 1e-13 relative.
        close(
            tanh.q_star(v(w_crit, b)).unwrap(),
            q_star,
            1e-12,
            "q* on the line",
        );
        close(
            tanh.chi(v(w_crit, b), q_star),
            1.0,
            w_crit * quad + 1e-13 + 1e-14, // the error budget above, before dividing by the slope
            "χ₁ = 1 on the line",
        );
    }
}

#[test]
fn tanh_chaotic_fixed_point_matches_scipy() {
    // SciPy at σ_w² = 2.5, σ_b² = 0.1: the 2-D references (nested quad at
    // epsrel 1e-13, brentq to xtol 1e-13) are good to ~1e-12; ours: c* by
    // bisection to 1e-14. χ_c moves with c* at slope O(1), so 1e-11 for
    // q*, c*, χ₁, χ_c; ξ = −1/ln χ has dξ/dχ = 1/(χ ln² χ) ≈ 195 at
    // χ_c = 0.928 (and ≈ 1.3 for ξ_q), so ξ_c to 195·1e-11 ≈ 2e-9: 5e-9.
    let tanh = MeanField::new(Activation::Tanh);
    let fp = tanh.fixed_point(v(2.5, 0.1)).unwrap();
    close(fp.q_star, 1.149093029163689, 1e-11, "q*");
    close(fp.c_star, 0.664361346726964, 1e-11, "c*");
    close(fp.chi_1, 1.0998010980121664, 1e-11, "χ₁");
    close(fp.chi_c, 0.9283989582811013, 1e-11, "χ_c");
    close(fp.xi_q, 1.0842040760353253, 1e-10, "ξ_q");
    close(fp.xi_c, 13.46008667508984, 5e-9, "ξ_c");
}

#[test]
fn custom_activation_without_second_derivative_matches_builtin() {
    // Custom tanh: ξ_q then comes from Stein's lemma instead of φ''; both
    // are exact identities evaluated by the same rule; z tanh tanh' has
    // poles of order 3 at the same place as tanh², so its error is the one
    // of DEFAULT_ORDER's doc times another 2√(2n) = 40: ≤ 2e-12 at q* ≤ 1.5.
    // q* is converged to 1e-13 relative: 1e-11 leaves room for the ξ_q
    // factor dξ/dx ≈ 1.3 seen above.
    let builtin = MeanField::new(Activation::Tanh);
    let custom = MeanField::new(Activation::custom("my_tanh", f64::tanh, |x| {
        1.0 - x.tanh().powi(2)
    }));
    for (w, b) in [(1.5, 0.05), (2.5, 0.1), (0.8, 0.2)] {
        let (a, c) = (
            builtin.fixed_point(v(w, b)).unwrap(),
            custom.fixed_point(v(w, b)).unwrap(),
        );
        close(c.q_star, a.q_star, 1e-11, "q*");
        close(c.chi_1, a.chi_1, 1e-11, "χ₁");
        close(c.xi_q, a.xi_q, 1e-11, "ξ_q");
        close(c.c_star, a.c_star, 1e-11, "c*");
    }
    // At q = 0 the Stein form is replaced by φ(0) φ''(0) with a central
    // difference; for a custom sigmoid (φ(0) = 1/2, φ''(0) = 0) the slope of
    // the length map at 0 is σ_w² φ'(0)² = σ_w²/16; the difference is exact
    // for an odd φ' − φ'(0) up to rounding (~1e-11 at h = 1e-5).
    let sig = MeanField::new(Activation::custom(
        "my_sigmoid",
        |x| 1.0 / (1.0 + (-x).exp()),
        |x| {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 - s)
        },
    ));
    close(
        sig.length_map_slope(v(2.0, 0.0), 0.0),
        2.0 / 16.0,
        1e-10,
        "𝓠'(0)",
    );
}

// ---------------------------------------------------------------- wide networks

/// Per-layer mean square of the pre-activations `h¹..h^depth` of one wide
/// random tanh MLP on `batch` inputs of mean square `q_input`, and the
/// backward ratios `‖δˡ‖²/‖δˡ⁺¹‖²` for a random `δ^depth ~ N(0, 1)`.
fn wide_tanh_net(
    vv: Variances,
    width: usize,
    batch: usize,
    depth: usize,
    q_input: f64,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = width;
    // Inputs rescaled to mean square exactly q_input, so q¹ is known.
    let x = Tensor::<f64>::rand_normal(&[n, batch], 0.0, 1.0, &mut rng).to_vec();
    let mut x_cols = vec![0.0; n * batch];
    for b in 0..batch {
        let ms = (0..n).map(|i| x[i * batch + b].powi(2)).sum::<f64>() / n as f64;
        for i in 0..n {
            x_cols[i * batch + b] = x[i * batch + b] * (q_input / ms).sqrt();
        }
    }
    let mut act = Tensor::from_vec(x_cols, &[n, batch]);
    let (mut q_hat, mut weights, mut pre) = (vec![], vec![], vec![]);
    for _ in 0..depth {
        let w = init::normal::<f64>(&[n, n], 0.0, (vv.weight / n as f64).sqrt(), &mut rng);
        let bias = init::normal::<f64>(&[n, 1], 0.0, vv.bias.sqrt(), &mut rng);
        let h = &w.matmul(&act) + &bias;
        let hv = h.to_vec();
        q_hat.push(hv.iter().map(|x| x * x).sum::<f64>() / hv.len() as f64);
        act = h.map(f64::tanh);
        weights.push(w);
        pre.push(h);
    }
    // Backward: δˡ = tanh'(hˡ) ⊙ Wˡ⁺¹ᵀ δˡ⁺¹.
    let norm2 = |t: &Tensor<f64>| t.to_vec().iter().map(|x| x * x).sum::<f64>();
    let mut delta = Tensor::<f64>::rand_normal(&[n, batch], 0.0, 1.0, &mut rng);
    let mut ratios = vec![0.0; depth - 1];
    for l in (0..depth - 1).rev() {
        let back = weights[l + 1].t().matmul(&delta);
        let next = &back * &pre[l].map(|x| 1.0 - x.tanh().powi(2));
        ratios[l] = norm2(&next) / norm2(&delta);
        delta = next;
    }
    (q_hat, ratios)
}

#[test]
fn wide_tanh_networks_follow_the_predicted_layer_statistics() {
    // Finite-width error budget, per input, linearised in logs. Given layer
    // l − 1, the units of hˡ are i.i.d. N(0, vˡ) with vˡ = σ_w² mˡ⁻¹ + σ_b²
    // and mˡ⁻¹ = mean over units of φ(hˡ⁻¹)². So, with D_l = ln vˡ − ln qˡ
    // (D_1 = 0: the inputs have mean square exactly q_input):
    //   D_{l+1} = ε_l D_l + ω_l η_l,
    // where ε = q 𝓠'(q)/𝓠(q) (the elasticity of the length map),
    // ω = σ_w² E[φ²]/𝓠(q) ≤ 1, and η_l, the relative error of a mean of n
    // values φ², has SD r = √((E[φ⁴]/E[φ²]² − 1)/n), independent of D_l.
    // The measured mean square of hˡ adds a fresh chi-square error of SD
    // ≤ √(2/n) (exactly √(2/n) if all inputs of the batch were parallel,
    // less otherwise; the shared bias makes them correlated). Hence
    //   SD(ln q̂ˡ − ln qˡ) ≤ √(Var D_l + 2/n), Var D_{l+1} = ε² Var D_l + ω² r²,
    // all moments taken by the theory at the predicted qˡ; we allow 4 SD.
    // Backward, given the layer: ‖δˡ‖² = Σᵢ φ'(hᵢ)² gᵢ² with gᵢ i.i.d.
    // N(0, σ_w² ‖δˡ⁺¹‖²/n) (the mean-field assumption that the backward
    // weights are independent of the forward ones), a mean of n terms with
    // relative SD √((3 E[φ'⁴]/E[φ'²]² − 1)/n); the error D_l of vˡ moves
    // ln χ by λ D_l, λ = d ln χ/d ln q (central difference, step 1e-4).
    // 4 SD of the sum of the two.
    let (width, batch, depth, q_input) = (2000, 8, 12, 4.0);
    for (seed, vv) in [(1, v(1.5, 0.1)), (2, v(3.0, 0.05))] {
        let theory = MeanField::new(Activation::Tanh);
        let predicted = theory.predict_layers(vv, q_input, depth);
        let (q_hat, ratios) = wide_tanh_net(vv, width, batch, depth, q_input, seed);
        let g = theory.quadrature();
        let n = width as f64;
        let mut var_d = 0.0f64;
        for l in 0..depth {
            let q = predicted[l].q;
            let sd_q = (var_d + 2.0 / n).sqrt();
            let err = (q_hat[l] / q).ln();
            assert!(
                err.abs() <= 4.0 * sd_q,
                "{vv:?} layer {}: measured q {:.5}, predicted {q:.5} (log error {err:.4}, 4 SD = {:.4})",
                l + 1,
                q_hat[l],
                4.0 * sd_q
            );
            let s = q.sqrt();
            if l + 1 < depth {
                let chi = predicted[l].chi;
                let m2 = g.expect(|z| (1.0 - (s * z).tanh().powi(2)).powi(2));
                let m4 = g.expect(|z| (1.0 - (s * z).tanh().powi(2)).powi(4));
                let lambda = (theory.chi(vv, q * (1.0 + 1e-4)).ln()
                    - theory.chi(vv, q * (1.0 - 1e-4)).ln())
                    / 2e-4;
                let sd_g = ((3.0 * m4 / (m2 * m2) - 1.0) / n).sqrt() + lambda.abs() * var_d.sqrt();
                let err = (ratios[l] / chi).ln();
                assert!(
                    err.abs() <= 4.0 * sd_g,
                    "{vv:?} layer {}: gradient gain {:.5}, predicted χ {chi:.5} (log error {err:.4}, 4 SD = {:.4})",
                    l + 1,
                    ratios[l],
                    4.0 * sd_g
                );
            }
            let big_q = theory.length_map(vv, q);
            let eps = q * theory.length_map_slope(vv, q) / big_q;
            let phi2 = g.expect(|z| (s * z).tanh().powi(2));
            let phi4 = g.expect(|z| (s * z).tanh().powi(4));
            let omega = vv.weight * phi2 / big_q;
            let r2 = (phi4 / (phi2 * phi2) - 1.0) / n;
            var_d = eps * eps * var_d + omega * omega * r2;
        }
        // The predictions are not trivially flat: q moves by a factor > 3
        // over the depth in both cases (far beyond the ≤ 4 SD ≈ 0.15 in logs).
        let (first, last) = (predicted[0].q, predicted[depth - 1].q);
        assert!((first / last).ln().abs() > 1.0, "{first} -> {last}");
    }
}

#[test]
fn unit_variance_tanh_layers_sit_in_the_chaotic_phase() {
    // The README's LSUV claim: a tanh layer whose pre-activation has unit
    // variance (q = 1) with σ_b = 0 needs σ_w² = 1 / E[tanh(z)²], where
    // χ₁ = σ_w² E[tanh'(z)²] > 1. Independent values (composite Simpson on
    // [-10, 10], h = 1e-3, in plain Python: error below 1e-11): 2.536175433217459
    // and 1.1778072323041662; 1e-9 leaves room for both rules.
    let mf = MeanField::new(Activation::Tanh);
    let weight = 1.0 / mf.mean_square(1.0);
    let chi = weight * mf.mean_square_derivative(1.0);
    assert!((weight - 2.536175433217459).abs() < 1e-9, "σ_w² = {weight}");
    assert!((chi - 1.1778072323041662).abs() < 1e-9, "χ₁ = {chi}");
}
