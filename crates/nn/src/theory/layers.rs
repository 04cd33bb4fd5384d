//! Layer-by-layer predictions for a deep random MLP: the second moment of
//! each layer's pre-activations and the gradient's gain through it.

use super::maps::{MeanField, Variances};

/// The mean-field prediction for one hidden layer `l` of a deep random MLP
/// `h¹ = W¹ x + b¹`, `hˡ⁺¹ = Wˡ⁺¹ φ(hˡ) + bˡ⁺¹` (square layers,
/// `Var W = σ_w²/n`, `Var b = σ_b²`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerPrediction {
    /// `qˡ`, the mean square of the layer's pre-activations `hˡ` (over units,
    /// in expectation over the weights).
    pub q: f64,
    /// `χ(qˡ) = σ_w² E[φ'(√qˡ z)²]`: the gain of the mean squared gradient
    /// from this layer's successor back to it,
    /// `E‖∂L/∂hˡ‖² / E‖∂L/∂hˡ⁺¹‖²`, since `∂L/∂hˡ = φ'(hˡ) ⊙ Wˡ⁺¹ᵀ ∂L/∂hˡ⁺¹`
    /// (treating the backward weights as independent of the forward ones,
    /// as the theory does). At `qˡ = q*` it is `χ₁`.
    pub chi: f64,
}

impl MeanField {
    /// The predictions for layers `1..=depth` from inputs `x` of mean square
    /// `q_input = ‖x‖²/n₀`: `q¹ = σ_w² q_input + σ_b²` (the first layer sees
    /// the raw input), `qˡ⁺¹ = 𝓠(qˡ) = σ_w² E[φ(√qˡ z)²] + σ_b²`, and
    /// `χ(qˡ)` beside each. The predicted gradient gain from layer `L` back
    /// to layer `k` is `Πₖ≤ₗ<L χ(qˡ)`.
    pub fn predict_layers(&self, v: Variances, q_input: f64, depth: usize) -> Vec<LayerPrediction> {
        let mut q = v.weight * q_input + v.bias;
        let mut out = Vec::with_capacity(depth);
        for _ in 0..depth {
            out.push(LayerPrediction {
                q,
                chi: self.chi(v, q),
            });
            q = self.length_map(v, q);
        }
        out
    }
}
