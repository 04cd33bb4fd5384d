//! The length and correlation maps of a random network, their slopes, and
//! the Gaussian expectations they are made of.

use super::activation::Activation;
use super::quadrature::GaussHermite;
use std::f64::consts::PI;

/// The number of Gauss–Hermite nodes [`MeanField::new`] uses. For tanh at
/// length `q` the integrands have poles at `z = ±iπ/(2√q)`, a distance
/// `b = π/(2√(2q))` from the real axis in the physicists' variable
/// `x = z/√2`, and the rule's error behaves like
/// `2√π e^{b²} · (2√(2n))^{m−1}/(m−1)! · e^{−2b√(2n)}` for poles of order
/// `m` (Barrett 1961): for `E[tanh²]` (`m = 2`) at `n = 200` about
/// `3·10⁻¹⁷` at `q = 1`, `5·10⁻¹⁴` at `q = 1.5`, `10⁻⁷` at `q = 10`; for
/// `E[tanh'²]` (`m = 4`) some 270 times more. (At `n = 100`, `E[tanh²]`
/// errs by `8·10⁻¹²` already at `q = 1`.)
pub const DEFAULT_ORDER: usize = 200;

/// The variances of a random layer `z = W h + b`: `Var Wᵢⱼ = σ_w² / n` (for
/// `n` inputs) and `Var bᵢ = σ_b²`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variances {
    /// `σ_w²`, the weight variance times the fan-in.
    pub weight: f64,
    /// `σ_b²`, the bias variance.
    pub bias: f64,
}

impl Variances {
    /// `(σ_w², σ_b²)`.
    ///
    /// # Panics
    /// If either is negative or not finite.
    #[track_caller]
    pub fn new(weight: f64, bias: f64) -> Self {
        if !(weight >= 0.0 && bias >= 0.0 && weight.is_finite() && bias.is_finite()) {
            panic!("Variances::new: σ_w² = {weight} and σ_b² = {bias} must be finite and >= 0");
        }
        Variances { weight, bias }
    }
}

/// Mean-field signal propagation through a deep random network with
/// nonlinearity `φ` (Poole et al. 2016; Schoenholz et al. 2017, "Deep
/// Information Propagation"): the Gaussian expectations of `φ`, evaluated in
/// closed form for ReLU and linear units and by Gauss–Hermite quadrature
/// otherwise.
///
/// Throughout, `z, z₁, z₂ ~ N(0, 1)` are independent and, for a pair of
/// inputs at length `q` and correlation `c`,
/// `u₁ = √q z₁`, `u₂ = √q (c z₁ + √(1 − c²) z₂)`.
#[derive(Clone, Debug)]
pub struct MeanField {
    activation: Activation,
    quadrature: GaussHermite,
}

impl MeanField {
    /// The theory of `activation` with [`DEFAULT_ORDER`] quadrature nodes.
    pub fn new(activation: Activation) -> Self {
        Self::with_order(activation, DEFAULT_ORDER)
    }

    /// The theory of `activation` with an `order`-point Gauss–Hermite rule
    /// (per axis: the pair expectations cost `order²` evaluations).
    ///
    /// # Panics
    /// As [`GaussHermite::new`].
    #[track_caller]
    pub fn with_order(activation: Activation, order: usize) -> Self {
        MeanField {
            activation,
            quadrature: GaussHermite::new(order),
        }
    }

    /// The nonlinearity.
    pub fn activation(&self) -> &Activation {
        &self.activation
    }

    /// The quadrature rule.
    pub fn quadrature(&self) -> &GaussHermite {
        &self.quadrature
    }

    /// `E[φ(√q z)²]` (ReLU: `q/2`; linear: `q`).
    pub fn mean_square(&self, q: f64) -> f64 {
        let a = &self.activation;
        match a {
            Activation::ReLU => q / 2.0,
            Activation::Linear => q,
            _ => self.quadrature.expect(|z| a.phi(q.sqrt() * z).powi(2)),
        }
    }

    /// `E[φ'(√q z)²]` (ReLU: `1/2`; linear: `1`).
    pub fn mean_square_derivative(&self, q: f64) -> f64 {
        let a = &self.activation;
        match a {
            Activation::ReLU => 0.5,
            Activation::Linear => 1.0,
            _ => self.quadrature.expect(|z| a.dphi(q.sqrt() * z).powi(2)),
        }
    }

    /// `E[φ(√q z) φ''(√q z)]`: by quadrature of `φ φ''` when `φ''` is known,
    /// otherwise by Stein's lemma `E[z g(z)] = E[g'(z)]` applied to
    /// `g = φ(√q z) φ'(√q z)`: `E[φ φ''] = E[z φ φ'] / √q − E[φ'²]`; at
    /// `q = 0` it is `φ(0) φ''(0)`, with `φ''(0)` a central difference of `φ'`
    /// (step `1e-5`). ReLU and linear: 0.
    pub fn mean_phi_second_derivative(&self, q: f64) -> f64 {
        let a = &self.activation;
        let s = q.sqrt();
        match a {
            Activation::ReLU | Activation::Linear => 0.0,
            Activation::Custom(c) if c.d2phi.is_none() => {
                if q == 0.0 {
                    let h = 1e-5;
                    a.phi(0.0) * (a.dphi(h) - a.dphi(-h)) / (2.0 * h)
                } else {
                    let zgz = self.quadrature.expect(|z| z * a.phi(s * z) * a.dphi(s * z));
                    zgz / s - self.mean_square_derivative(q)
                }
            }
            _ => self.quadrature.expect(|z| {
                let x = s * z;
                a.phi(x) * a.d2phi(x).expect("a closed-form φ''")
            }),
        }
    }

    /// `E[φ(u₁) φ(u₂)]` at length `q` and correlation `c`. ReLU: the
    /// arc-cosine kernel `q (sin θ + (π − θ) cos θ) / (2π)`, `θ = arccos c`
    /// (Cho & Saul 2009); linear: `q c`.
    ///
    /// # Panics
    /// If `q < 0` or `|c| > 1`.
    #[track_caller]
    pub fn kernel(&self, q: f64, c: f64) -> f64 {
        check_pair("kernel", q, c);
        let a = &self.activation;
        match a {
            Activation::ReLU => {
                let theta = c.acos();
                q * (theta.sin() + (PI - theta) * c) / (2.0 * PI)
            }
            Activation::Linear => q * c,
            _ => self
                .quadrature
                .expect_pair(q, q, c, |u1, u2| a.phi(u1) * a.phi(u2)),
        }
    }

    /// `E[φ'(u₁) φ'(u₂)]` at length `q` and correlation `c`. ReLU:
    /// `(π − arccos c) / (2π)`; linear: 1.
    ///
    /// # Panics
    /// If `q < 0` or `|c| > 1`.
    #[track_caller]
    pub fn derivative_kernel(&self, q: f64, c: f64) -> f64 {
        check_pair("derivative_kernel", q, c);
        let a = &self.activation;
        match a {
            Activation::ReLU => (PI - c.acos()) / (2.0 * PI),
            Activation::Linear => 1.0,
            _ => self
                .quadrature
                .expect_pair(q, q, c, |u1, u2| a.dphi(u1) * a.dphi(u2)),
        }
    }

    /// The length map `𝓠(q) = σ_w² E[φ(√q z)²] + σ_b²`: the second moment
    /// of the next layer's pre-activations given this layer's `q`.
    pub fn length_map(&self, v: Variances, q: f64) -> f64 {
        v.weight * self.mean_square(q) + v.bias
    }

    /// The slope of the length map,
    /// `d𝓠/dq = σ_w² E[φ'(√q z)² + φ(√q z) φ''(√q z)]` (Stein's lemma);
    /// at `q*` it is `e^{−1/ξ_q}`.
    pub fn length_map_slope(&self, v: Variances, q: f64) -> f64 {
        v.weight * (self.mean_square_derivative(q) + self.mean_phi_second_derivative(q))
    }

    /// `χ(q) = σ_w² E[φ'(√q z)²]`: the slope of the correlation map at
    /// `c = 1`, and the factor by which the mean squared gradient grows from
    /// one layer back to the previous one when its pre-activations have
    /// second moment `q`. At `q = q*` this is `χ₁`.
    pub fn chi(&self, v: Variances, q: f64) -> f64 {
        v.weight * self.mean_square_derivative(q)
    }

    /// The correlation map `c ↦ (σ_w² E[φ(u₁) φ(u₂)] + σ_b²) / q` at length
    /// `q` (the paper's map at `q = q*`, where `𝓠(q*) = q*`).
    ///
    /// # Panics
    /// If `q <= 0` or `|c| > 1`.
    #[track_caller]
    pub fn correlation_map(&self, v: Variances, q: f64, c: f64) -> f64 {
        if q <= 0.0 {
            panic!("correlation_map: length q = {q} must be > 0");
        }
        (v.weight * self.kernel(q, c) + v.bias) / q
    }

    /// The slope of the correlation map, `χ_c(c) = σ_w² E[φ'(u₁) φ'(u₂)]`
    /// (Price's theorem: `∂/∂c E[φ(u₁)φ(u₂)] = q E[φ'(u₁)φ'(u₂)]`). At
    /// `c = 1` it is [`chi`](Self::chi).
    ///
    /// # Panics
    /// If `q < 0` or `|c| > 1`.
    #[track_caller]
    pub fn correlation_slope(&self, v: Variances, q: f64, c: f64) -> f64 {
        v.weight * self.derivative_kernel(q, c)
    }
}

#[track_caller]
fn check_pair(op: &str, q: f64, c: f64) {
    if !(q >= 0.0 && c.abs() <= 1.0) {
        panic!("{op}: need length q = {q} >= 0 and correlation |c| = |{c}| <= 1");
    }
}
