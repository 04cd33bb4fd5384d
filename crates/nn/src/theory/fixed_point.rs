//! The fixed points `q*` and `c*` of the maps, `χ₁`, and the depth scales
//! `ξ_q` and `ξ_c` of Schoenholz et al. (2017).

use super::activation::Activation;
use super::maps::{MeanField, Variances};
use std::fmt;

/// Why a length map has no (unique) stable fixed point `q*`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FixedPointError {
    /// `q` grows without bound: ReLU with `σ_w² > 2`, or `σ_w² = 2` and
    /// `σ_b² > 0`; linear with `σ_w² > 1`, or `σ_w² = 1` and `σ_b² > 0`; a
    /// custom `φ` whose iterates pass `10¹⁵⁰`.
    Diverges,
    /// Every `q` is a fixed point (ReLU with `σ_w² = 2`, linear with
    /// `σ_w² = 1`, both with `σ_b² = 0`): the length of a signal is kept,
    /// whatever it is.
    Neutral,
    /// The iteration did not settle within its budget.
    NotConverged {
        /// Iterations run.
        iterations: usize,
        /// The last iterate.
        q: f64,
    },
}

impl fmt::Display for FixedPointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixedPointError::Diverges => f.write_str("the length map diverges: no fixed point q*"),
            FixedPointError::Neutral => f.write_str("every q is a fixed point of the length map"),
            FixedPointError::NotConverged { iterations, q } => {
                write!(
                    f,
                    "q* not converged after {iterations} iterations (last q = {q})"
                )
            }
        }
    }
}

impl std::error::Error for FixedPointError {}

/// The fixed point of a network's signal propagation and its depth scales.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedPoint {
    /// `q* = 𝓠(q*)`, the stable fixed point of the length map.
    pub q_star: f64,
    /// `c*`, the stable fixed point of the correlation map in `[0, 1]`.
    pub c_star: f64,
    /// `χ₁ = σ_w² E[φ'(√q* z)²]`: ordered phase below 1, chaotic above.
    pub chi_1: f64,
    /// `χ_c = σ_w² E[φ'(u₁*) φ'(u₂*)]` at `(q*, c*)`; equal to `χ₁` when
    /// `c* = 1`.
    pub chi_c: f64,
    /// `ξ_q = −1 / ln(χ₁ + σ_w² E[φ''(√q* z) φ(√q* z)])` (eq. 6 of the
    /// paper): lengths approach `q*` like `e^{−l/ξ_q}`.
    pub xi_q: f64,
    /// `ξ_c = −1 / ln χ_c` (eq. 9): correlations approach `c*` like
    /// `e^{−l/ξ_c}`; infinite on the critical line `χ₁ = 1`.
    pub xi_c: f64,
}

/// Iterations [`MeanField::q_star`] allows itself.
const MAX_ITER: usize = 1000;
/// Relative tolerance of `|𝓠(q) − q|` for `q*` (the quadrature's own
/// rounding is a few `10⁻¹⁶`).
const Q_TOL: f64 = 1e-13;

/// `−1 / ln x`, infinite for `x ≥ 1` (no decay), 0 for `x = 0`.
fn depth_scale(x: f64) -> f64 {
    if x >= 1.0 {
        f64::INFINITY
    } else {
        -1.0 / x.ln()
    }
}

impl MeanField {
    /// The stable fixed point `q* = σ_w² E[φ(√q* z)²] + σ_b²`.
    ///
    /// ReLU and linear units in closed form: `q* = σ_b² / (1 − σ_w²/2)` for
    /// `σ_w² < 2` (linear: `σ_b² / (1 − σ_w²)` for `σ_w² < 1`), otherwise
    /// an error ([`FixedPointError`]). Other nonlinearities start at `q = 1`
    /// and take Newton steps on `𝓠(q) − q` (using
    /// [`length_map_slope`](Self::length_map_slope)) when they shrink
    /// `|𝓠(q) − q|`, plain steps `q ← 𝓠(q)` otherwise, until
    /// `|𝓠(q) − q| ≤ 10⁻¹³ q` (at most 1000 steps). When `𝓠(0) = 0`
    /// (`σ_b² = 0` and `φ(0) = 0`) and the iterates fall below `10⁻¹²`, the
    /// fixed point is 0 exactly (tanh with `σ_b² = 0`, `σ_w² ≤ 1`).
    pub fn q_star(&self, v: Variances) -> Result<f64, FixedPointError> {
        match self.activation() {
            Activation::ReLU => return linear_q_star(v.weight / 2.0, v.bias),
            Activation::Linear => return linear_q_star(v.weight, v.bias),
            _ => {}
        }
        let zero_is_fixed = self.length_map(v, 0.0) == 0.0;
        let mut q = 1.0f64;
        let mut big_q = self.length_map(v, q);
        for _ in 0..MAX_ITER {
            if !big_q.is_finite() || big_q > 1e150 {
                return Err(FixedPointError::Diverges);
            }
            let g = big_q - q;
            if g.abs() <= Q_TOL * q {
                return Ok(big_q);
            }
            if zero_is_fixed && q < 1e-12 {
                return Ok(0.0);
            }
            (q, big_q) = self.next_length(v, q, big_q);
        }
        Err(FixedPointError::NotConverged {
            iterations: MAX_ITER,
            q,
        })
    }

    /// One step towards `q*` from `q` (with `big_q = 𝓠(q)`): Newton's if it
    /// lands at `q' ≥ 0` with a smaller `|𝓠(q') − q'|`, else `q ← 𝓠(q)`.
    /// Returns `(q', 𝓠(q'))`.
    fn next_length(&self, v: Variances, q: f64, big_q: f64) -> (f64, f64) {
        let g = big_q - q;
        let slope = self.length_map_slope(v, q);
        if slope < 1.0 {
            let newton = q - g / (slope - 1.0);
            if newton.is_finite() && newton >= 0.0 {
                let at = self.length_map(v, newton);
                if (at - newton).abs() < g.abs() {
                    return (newton, at);
                }
            }
        }
        (big_q, self.length_map(v, big_q))
    }

    /// The stable fixed point `c*` of the correlation map at length `q*`,
    /// among correlations in `[0, 1]` (where the map stays: by Mehler's
    /// formula `E[φ(u₁)φ(u₂)] = Σₖ aₖ² cᵏ`, a power series with
    /// non-negative coefficients, so on `[0, 1]` the map is increasing,
    /// convex and non-negative).
    ///
    /// Hence: if `χ₁ ≤ 1`, every `c ∈ [0, 1]` flows to `c* = 1` (ordered
    /// phase; also when `q* = 0`). If `χ₁ > 1`, `c = 1` is unstable and the
    /// map has exactly one other fixed point in `[0, 1)`, stable, found by
    /// bisection on `f(c) = map(c) − c` (`f(0) ≥ 0 > f(1⁻)`) to `10⁻¹⁴`.
    pub fn c_star(&self, v: Variances, q_star: f64) -> f64 {
        if q_star <= 0.0 || self.chi(v, q_star) <= 1.0 {
            return 1.0;
        }
        let f = |c: f64| self.correlation_map(v, q_star, c) - c;
        if f(0.0) <= 0.0 {
            return 0.0; // odd φ, σ_b² = 0: the map fixes 0 (up to rounding)
        }
        // f(1 − ε) ≈ (1 − χ₁) ε < 0 for small ε: walk towards 1.
        let Some(mut hi) = (1..=52).map(|k| 1.0 - 0.5f64.powi(k)).find(|&c| f(c) < 0.0) else {
            return 1.0; // χ₁ within rounding of 1
        };
        let mut lo = 0.0;
        while hi - lo > 1e-14 {
            let mid = 0.5 * (lo + hi);
            if f(mid) >= 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// `q*`, `c*`, `χ₁`, `χ_c`, `ξ_q` and `ξ_c` (see [`FixedPoint`]).
    pub fn fixed_point(&self, v: Variances) -> Result<FixedPoint, FixedPointError> {
        let q_star = self.q_star(v)?;
        let c_star = self.c_star(v, q_star);
        let chi_1 = self.chi(v, q_star);
        let chi_c = if c_star == 1.0 {
            chi_1
        } else {
            self.correlation_slope(v, q_star, c_star)
        };
        Ok(FixedPoint {
            q_star,
            c_star,
            chi_1,
            chi_c,
            xi_q: depth_scale(self.length_map_slope(v, q_star)),
            xi_c: depth_scale(chi_c),
        })
    }

    /// The critical weight variance at bias variance `bias`: the `σ_w²` on
    /// the line `χ₁(σ_w², σ_b²) = 1` between the ordered and the chaotic
    /// phase, by bisection (relative width `10⁻¹³`) on `χ₁ − 1`, which
    /// increases with `σ_w²` for tanh, sigmoid and erf. A `σ_w²` whose `q*`
    /// diverges counts as chaotic. ReLU: 2 (`χ₁ = σ_w²/2`); linear: 1.
    /// `None` when no `σ_w² ≤ 10⁶` is chaotic.
    ///
    /// # Panics
    /// If `bias` is negative or not finite.
    #[track_caller]
    pub fn critical_weight_variance(&self, bias: f64) -> Option<f64> {
        let chaotic = |w: f64| {
            let v = Variances::new(w, bias);
            match self.q_star(v) {
                Ok(q) => self.chi(v, q) > 1.0,
                Err(_) => true,
            }
        };
        match self.activation() {
            Activation::ReLU => return Some(2.0),
            Activation::Linear => return Some(1.0),
            _ => {}
        }
        let mut hi = 1.0;
        while !chaotic(hi) {
            hi *= 2.0;
            if hi > 1e6 {
                return None;
            }
        }
        let mut lo = 0.0;
        while hi - lo > 1e-13 * hi {
            let mid = 0.5 * (lo + hi);
            if chaotic(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(0.5 * (lo + hi))
    }
}

/// The fixed point of the affine map `q ↦ a q + b`.
fn linear_q_star(a: f64, b: f64) -> Result<f64, FixedPointError> {
    if a < 1.0 {
        Ok(b / (1.0 - a))
    } else if a == 1.0 && b == 0.0 {
        Err(FixedPointError::Neutral)
    } else {
        Err(FixedPointError::Diverges)
    }
}
