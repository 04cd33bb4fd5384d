//! Deciding whether gradients vanish or explode.
//!
//! The measure is the root-mean-square gradient with respect to each tapped
//! layer output, compared between the layer nearest the input and the one
//! nearest the loss. Plain SGD moves every layer with one learning rate, so
//! when the first layer's gradient is [`Thresholds::factor`] (100) times
//! smaller than the last one's, a step size that trains the last layer
//! leaves the first one practically frozen (vanishing); 100 times larger,
//! and a step size safe for the first layer leaves the last one stalled,
//! while the first layer's steps are already near the edge of divergence
//! (exploding). A factor of 100 over a 30-layer network is a per-layer
//! factor of about 1.17 (100^(1/30)), the scale at which a per-layer
//! variance change of sqrt(2) (ReLU with Xavier init) is caught well inside
//! 30 layers.

use super::report::LayerStats;

/// Limits for the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// First-to-last gradient RMS ratio beyond which gradients count as
    /// vanishing (`< 1/factor`) or exploding (`> factor`). Default 100.
    pub factor: f64,
    /// A gradient RMS below this counts as vanished outright. Default 1e-12.
    pub floor: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            factor: 100.0,
            floor: 1e-12,
        }
    }
}

/// The verdict on a gradient flow.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Gradients stay within the factor from the first layer to the last.
    Healthy {
        /// RMS gradient of the first layer over that of the last.
        ratio: f64,
    },
    /// Gradients shrink toward the input.
    Vanishing {
        /// First-to-last ratio.
        ratio: f64,
        /// Layers whose gradient is below `last / factor` or the floor.
        layers: Vec<String>,
    },
    /// Gradients grow toward the input, or are NaN / Inf somewhere.
    Exploding {
        /// First-to-last ratio (NaN or Inf when values overflowed).
        ratio: f64,
        /// Layers whose gradient is above `last · factor`, or not finite.
        layers: Vec<String>,
    },
}

impl Verdict {
    /// A one-word label: `healthy`, `vanishing` or `exploding`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Healthy { .. } => "healthy",
            Verdict::Vanishing { .. } => "vanishing",
            Verdict::Exploding { .. } => "exploding",
        }
    }

    /// The first-to-last gradient ratio.
    pub fn ratio(&self) -> f64 {
        match self {
            Verdict::Healthy { ratio }
            | Verdict::Vanishing { ratio, .. }
            | Verdict::Exploding { ratio, .. } => *ratio,
        }
    }
}

/// Judges the layers' gradient RMS values (input side first).
pub fn judge(layers: &[LayerStats], t: &Thresholds) -> Verdict {
    let rms: Vec<(String, f64)> = layers
        .iter()
        .filter_map(|l| l.grad_rms.map(|g| (l.name.clone(), g)))
        .collect();
    let bad_values = layers
        .iter()
        .any(|l| !l.act_std.is_finite() || !l.act_mean.is_finite());
    let (Some(first), Some(last)) = (rms.first(), rms.last()) else {
        return Verdict::Healthy { ratio: 1.0 };
    };
    let ratio = first.1 / last.1;
    let non_finite: Vec<String> = rms
        .iter()
        .filter(|(_, g)| !g.is_finite())
        .map(|(n, _)| n.clone())
        .collect();
    if bad_values || !non_finite.is_empty() || !last.1.is_finite() {
        let mut named = non_finite;
        named.extend(
            layers
                .iter()
                .filter(|l| !l.act_std.is_finite())
                .map(|l| l.name.clone()),
        );
        return Verdict::Exploding {
            ratio,
            layers: named,
        };
    }
    if ratio > t.factor {
        let layers = rms
            .iter()
            .filter(|(_, g)| *g > last.1 * t.factor)
            .map(|(n, _)| n.clone())
            .collect();
        return Verdict::Exploding { ratio, layers };
    }
    if ratio < 1.0 / t.factor || first.1 < t.floor {
        let layers = rms
            .iter()
            .filter(|(_, g)| *g < last.1 / t.factor || *g < t.floor)
            .map(|(n, _)| n.clone())
            .collect();
        return Verdict::Vanishing { ratio, layers };
    }
    Verdict::Healthy { ratio }
}
