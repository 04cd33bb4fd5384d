//! Mean-field theory of signal propagation in deep random networks (Poole
//! et al. 2016, "Exponential expressivity in deep neural networks through
//! transient chaos"; Schoenholz et al. 2017, "Deep Information
//! Propagation"), as code, to put beside what the [study](crate::study)
//! measures.
//!
//! For a layer `hˡ⁺¹ = W φ(hˡ) + b` with `Var Wᵢⱼ = σ_w²/n` and
//! `Var bᵢ = σ_b²` ([`Variances`]), and `z, z₁, z₂ ~ N(0, 1)`:
//!
//! - the **length map** `qˡ⁺¹ = σ_w² E[φ(√qˡ z)²] + σ_b²` and its fixed
//!   point `q*` ([`MeanField::length_map`], [`MeanField::q_star`]);
//! - the **correlation map** `c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²) / q*` with
//!   `u₁ = √q* z₁`, `u₂ = √q* (c z₁ + √(1 − c²) z₂)`, and its stable fixed
//!   point `c*` ([`MeanField::correlation_map`], [`MeanField::c_star`]);
//! - `χ₁ = σ_w² E[φ'(√q* z)²]`, the slope of the correlation map at `c = 1`
//!   and the per-layer gain of the mean squared gradient: `χ₁ < 1` is the
//!   ordered phase (`c* = 1`, gradients vanish), `χ₁ > 1` the chaotic one
//!   (`c* < 1`, gradients explode), `χ₁ = 1` the critical line
//!   ([`MeanField::critical_weight_variance`]);
//! - the depth scales `ξ_q = −1/ln(χ₁ + σ_w² E[φ''(√q* z) φ(√q* z)])` and
//!   `ξ_c = −1/ln(σ_w² E[φ'(u₁*) φ'(u₂*)])` ([`FixedPoint`]), `ξ_c → ∞` on
//!   the critical line;
//! - layer-by-layer predictions `qˡ` and `χ(qˡ)` from a given input
//!   ([`MeanField::predict_layers`]).
//!
//! Expectations are by [`GaussHermite`] quadrature, except for ReLU and
//! linear units, which have closed forms (the arc-cosine kernel).
//!
//! ```
//! use tapegrad_nn::theory::{Activation, MeanField, Variances};
//! // He initialisation (σ_w² = 2) is critical for ReLU: χ₁ = σ_w²/2 = 1.
//! let relu = MeanField::new(Activation::ReLU);
//! assert_eq!(relu.chi(Variances::new(2.0, 0.0), 1.0), 1.0);
//! // tanh at σ_b² = 0.05 is ordered at σ_w² = 1 and chaotic at σ_w² = 2.
//! let tanh = MeanField::new(Activation::Tanh);
//! let ordered = tanh.fixed_point(Variances::new(1.0, 0.05)).unwrap();
//! let chaotic = tanh.fixed_point(Variances::new(2.0, 0.05)).unwrap();
//! assert!(ordered.chi_1 < 1.0 && ordered.c_star == 1.0);
//! assert!(chaotic.chi_1 > 1.0 && chaotic.c_star < 1.0);
//! let critical = tanh.critical_weight_variance(0.05).unwrap();
//! assert!(1.0 < critical && critical < 2.0);
//! ```

mod activation;
mod fixed_point;
mod layers;
mod maps;
mod quadrature;

pub use activation::{erf, Activation, CustomActivation, ScalarFn};
pub use fixed_point::{FixedPoint, FixedPointError};
pub use layers::LayerPrediction;
pub use maps::{MeanField, Variances, DEFAULT_ORDER};
pub use quadrature::{GaussHermite, MAX_ORDER};
