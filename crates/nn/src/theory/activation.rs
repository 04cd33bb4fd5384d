//! The nonlinearities the mean-field theory knows: φ, φ' and φ'' for the
//! built-in ones, and user functions with their derivatives.

use std::fmt;
use std::sync::Arc;

/// A scalar function `f64 -> f64` shared between threads.
pub type ScalarFn = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// A nonlinearity `φ` with its derivative `φ'` (and `φ''` where known).
#[derive(Clone)]
pub enum Activation {
    /// `φ(x) = tanh x`, `φ' = 1 − tanh² x`, `φ'' = −2 tanh x (1 − tanh² x)`.
    Tanh,
    /// `φ(x) = max(x, 0)`, `φ' = 1[x > 0]`; the maps use the closed forms of
    /// the arc-cosine kernel (Cho & Saul 2009) instead of quadrature.
    ReLU,
    /// `φ(x) = 1 / (1 + e^{−x})`, `φ' = φ (1 − φ)`, `φ'' = φ (1 − φ)(1 − 2φ)`.
    Sigmoid,
    /// `φ(x) = erf x = (2/√π) ∫₀ˣ e^{−t²} dt`, `φ' = (2/√π) e^{−x²}`,
    /// `φ'' = −2x φ'`.
    Erf,
    /// `φ(x) = x`: the maps are linear and use closed forms.
    Linear,
    /// A user's `φ` and `φ'`, and optionally `φ''`. Without `φ''`, the one
    /// place that needs it (the slope of the length map, for `ξ_q`) uses
    /// Stein's lemma instead, `E[φ(√q z) φ''(√q z)] = E[z φ(√q z) φ'(√q z)]/√q − E[φ'(√q z)²]`,
    /// which needs only `φ` and `φ'` (and at `q = 0`, `φ''(0)` by a central
    /// difference of `φ'` with step `1e-5`).
    Custom(CustomActivation),
}

/// The functions of an [`Activation::Custom`].
#[derive(Clone)]
pub struct CustomActivation {
    /// A name for reports.
    pub name: String,
    /// `φ`.
    pub phi: ScalarFn,
    /// `φ'`.
    pub dphi: ScalarFn,
    /// `φ''`, if known.
    pub d2phi: Option<ScalarFn>,
}

impl fmt::Debug for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Activation {
    /// A user nonlinearity `φ` with derivative `φ'` (see [`Activation::Custom`]).
    pub fn custom(
        name: &str,
        phi: impl Fn(f64) -> f64 + Send + Sync + 'static,
        dphi: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        Activation::Custom(CustomActivation {
            name: name.to_string(),
            phi: Arc::new(phi),
            dphi: Arc::new(dphi),
            d2phi: None,
        })
    }

    /// [`custom`](Self::custom) with the second derivative `φ''` too.
    pub fn custom_with_second(
        name: &str,
        phi: impl Fn(f64) -> f64 + Send + Sync + 'static,
        dphi: impl Fn(f64) -> f64 + Send + Sync + 'static,
        d2phi: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        let mut a = Self::custom(name, phi, dphi);
        if let Activation::Custom(c) = &mut a {
            c.d2phi = Some(Arc::new(d2phi));
        }
        a
    }

    /// Lower-case name (`"tanh"`, or the custom name).
    pub fn name(&self) -> &str {
        match self {
            Activation::Tanh => "tanh",
            Activation::ReLU => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Erf => "erf",
            Activation::Linear => "linear",
            Activation::Custom(c) => &c.name,
        }
    }

    /// `φ(x)`.
    pub fn phi(&self, x: f64) -> f64 {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::ReLU => x.max(0.0),
            Activation::Sigmoid => sigmoid(x),
            Activation::Erf => erf(x),
            Activation::Linear => x,
            Activation::Custom(c) => (c.phi)(x),
        }
    }

    /// `φ'(x)` (ReLU: `1[x > 0]`, so `φ'(0) = 0` as in the autodiff rule).
    pub fn dphi(&self, x: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - x.tanh().powi(2),
            Activation::ReLU => f64::from(u8::from(x > 0.0)),
            Activation::Sigmoid => {
                // e^{−|x|} / (1 + e^{−|x|})², symmetric, no cancellation
                let e = (-x.abs()).exp();
                e / ((1.0 + e) * (1.0 + e))
            }
            Activation::Erf => std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp(),
            Activation::Linear => 1.0,
            Activation::Custom(c) => (c.dphi)(x),
        }
    }

    /// `φ''(x)` where it is known in closed form (ReLU: 0 away from the kink,
    /// whose delta never matters here because `φ(0) = 0`); `None` for a
    /// [`Custom`](Activation::Custom) without one.
    pub fn d2phi(&self, x: f64) -> Option<f64> {
        Some(match self {
            Activation::Tanh => {
                let t = x.tanh();
                -2.0 * t * (1.0 - t * t)
            }
            Activation::ReLU | Activation::Linear => 0.0,
            Activation::Sigmoid => {
                let s = sigmoid(x);
                self.dphi(x) * (1.0 - 2.0 * s)
            }
            Activation::Erf => -2.0 * x * self.dphi(x),
            Activation::Custom(c) => return c.d2phi.as_ref().map(|f| f(x)),
        })
    }
}

impl From<crate::study::Activation> for Activation {
    fn from(a: crate::study::Activation) -> Self {
        match a {
            crate::study::Activation::Sigmoid => Activation::Sigmoid,
            crate::study::Activation::Tanh => Activation::Tanh,
            crate::study::Activation::ReLU => Activation::ReLU,
        }
    }
}

/// `1 / (1 + e^{−x})`, without overflow for large `|x|`.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The error function, to a few ulp (at most about 10): for `|x| ≤ 6` the series
/// `erf x = (2/√π) e^{−x²} Σₖ 2ᵏ x^{2k+1} / (1·3·5···(2k+1))`, whose terms
/// are all positive (no cancellation); beyond, `|erf x| = 1` in f64
/// (`erfc 6 ≈ 2·10⁻¹⁷`).
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    if a > 6.0 {
        return x.signum();
    }
    let (mut term, mut sum) = (a, a);
    let mut k = 0.0;
    while term > sum * 1e-17 {
        k += 1.0;
        term *= 2.0 * a * a / (2.0 * k + 1.0);
        sum += term;
    }
    let v = (std::f64::consts::FRAC_2_SQRT_PI * (-a * a).exp() * sum).min(1.0);
    v.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_reference_values() {
        // erf(0.5), erf(1), erf(2), erf(3.5) from Python's math.erf (the C library's, to < 1 ulp).
        let cases = [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.5, 0.999_999_256_901_627_7),
        ];
        for (x, want) in cases {
            // The dominant terms k ≈ 2x² of the series are products of k
            // rounded factors (relative error ~ k ulp, ≤ 25 ulp at x = 3.5,
            // partly cancelling), times e^{−x²} (1 ulp): 2e-15 ≈ 9 ulp.
            assert!((erf(x) - want).abs() < 2e-15, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 2e-15);
        }
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(7.0), 1.0);
    }

    #[test]
    fn derivatives_match_central_differences() {
        // Central difference with h = 1e-5: truncation h² φ'''/6 ≲ 1e-10,
        // rounding ε/h ≈ 2e-11; 1e-8 is far above both.
        let h = 1e-5;
        for a in [Activation::Tanh, Activation::Sigmoid, Activation::Erf] {
            for x in [-2.3, -0.4, 0.0, 0.7, 3.1] {
                let d = (a.phi(x + h) - a.phi(x - h)) / (2.0 * h);
                assert!((a.dphi(x) - d).abs() < 1e-8, "{a:?}' at {x}");
                let d2 = (a.dphi(x + h) - a.dphi(x - h)) / (2.0 * h);
                assert!((a.d2phi(x).unwrap() - d2).abs() < 1e-8, "{a:?}'' at {x}");
            }
        }
    }
}
