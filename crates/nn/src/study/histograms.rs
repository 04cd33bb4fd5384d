//! The distributions behind the statistics: every hidden layer's outputs and
//! back-propagated gradients at initialisation, and their histograms (Glorot
//! & Bengio 2010, figures 6 and 7).

use super::config::MlpConfig;
use super::run::{build_model, forward_tapped};
use crate::data::Dataset;
use crate::diagnostics::FlowProbe;
use crate::loss::cross_entropy;
use rand::SeedableRng;
use tapegrad_autodiff::Tape;

/// One hidden layer's outputs and the gradient of the loss with respect to
/// them, on a batch, at initialisation.
#[derive(Clone, Debug)]
pub struct LayerValues {
    /// `h1`, `h2`, ..
    pub name: String,
    /// Every element of the layer's output (batch x width).
    pub activations: Vec<f64>,
    /// Every element of ∂L/∂h for the mean cross-entropy of the batch.
    pub gradients: Vec<f64>,
}

/// The hidden layers' values of a fresh `config` model (the same one
/// [`flow_at_init`](super::flow_at_init) and [`train`](super::train) build
/// from `seed`) on the first `batch` samples of `data`.
///
/// # Panics
/// If `data` is empty or `batch` is 0.
#[track_caller]
pub fn layer_values(
    config: &MlpConfig,
    data: &Dataset<f32>,
    batch: usize,
    seed: u64,
) -> Vec<LayerValues> {
    if data.is_empty() || batch == 0 {
        panic!(
            "layer_values: needs at least one sample, got a data set of {} and batch {batch}",
            data.len()
        );
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let model = build_model(config, data, &mut rng);
    let n = batch.min(data.len());
    let tape = Tape::new();
    let probe = FlowProbe::new();
    let logits = forward_tapped(
        &model,
        tape.constant(data.features().narrow(0, 0, n)),
        &probe,
    );
    let _grads = cross_entropy(logits, &data.labels()[..n]).backward();
    let taps = probe.taps();
    taps[..taps.len() - 1]
        .iter()
        .map(|t| LayerValues {
            name: t.name.clone(),
            activations: t.var.value().to_f64_vec(),
            gradients: t
                .grad
                .borrow()
                .as_ref()
                .map_or_else(Vec::new, |g| g.to_f64_vec()),
        })
        .collect()
}

/// A normalised histogram of `values` over `[lo, hi]` in `bins` equal bins,
/// as `(bin centre, density)` points: `density = count / (N · width)` with
/// `N` every value given, so the curve integrates to the fraction of values
/// inside the range (1 when none falls outside). NaN values count in `N` and
/// in no bin; `hi` itself falls in the last bin.
///
/// ```
/// use tapegrad_nn::study::histogram;
///
/// let h = histogram(&[0.1, 0.2, 0.6, 2.0], 0.0, 1.0, 2);
/// // Two of four values in [0, 0.5), one in [0.5, 1]; 2.0 is outside.
/// assert_eq!(h, vec![(0.25, 1.0), (0.75, 0.5)]);
/// ```
///
/// # Panics
/// If `bins` is 0 or `lo < hi` does not hold for finite bounds.
#[track_caller]
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64)> {
    if bins == 0 || !(lo.is_finite() && hi.is_finite() && lo < hi) {
        panic!("histogram: needs bins >= 1 and finite lo < hi, got {bins} bins over [{lo}, {hi}]");
    }
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        if v >= lo && v <= hi {
            // `as` saturates, and `min` puts `hi` in the last bin.
            counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
        }
    }
    let total = values.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| (lo + (i as f64 + 0.5) * width, c as f64 / (total * width)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_integrates_to_the_fraction_inside_its_range() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 / 999.0) * 4.0 - 2.0).collect();
        let h = histogram(&values, -1.0, 1.0, 20);
        let area: f64 = h.iter().map(|p| p.1 * 0.1).sum();
        // 500 of the 1000 evenly spread values lie in [-1, 1].
        assert!((area - 0.5).abs() < 0.002, "{area}");
        assert!(histogram(&[f64::NAN], 0.0, 1.0, 3)
            .iter()
            .all(|p| p.1 == 0.0));
    }

    #[test]
    #[should_panic(expected = "histogram: needs bins >= 1 and finite lo < hi")]
    fn an_empty_range_is_refused() {
        histogram(&[1.0], 1.0, 1.0, 4);
    }
}
