//! Running one configuration: the gradient flow at initialisation, and a
//! fixed training budget.

use super::config::MlpConfig;
use crate::data::{Batches, Dataset};
use crate::diagnostics::{judge, FlowProbe, FlowReport, Thresholds, Verdict};
use crate::loss::cross_entropy;
use crate::module::{Module, Sequential};
use crate::optim::{clip_grad_norm, Optimizer, ParamGrads, SGD};
use rand::SeedableRng;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::Tensor;

/// The training budget every configuration gets: plain SGD with momentum.
///
/// SGD rather than Adam on purpose: Adam rescales each parameter's step by
/// its own gradient magnitude, which hides the vanishing and exploding
/// gradients this study is about.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Optimiser steps. 0 trains for no step: [`train`] returns the freshly
    /// initialised model at once, with no losses.
    pub steps: usize,
    /// Samples per step (at least 1).
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// Momentum.
    pub momentum: f64,
    /// Largest total gradient norm per step (`clip_grad_norm`), if any.
    pub clip: Option<f64>,
}

impl Budget {
    /// Panics, naming the setting and its value, unless the budget can run:
    /// `batch_size >= 1`, `lr` and `momentum` finite and `>= 0`, `clip`
    /// (if set) `>= 0` and not NaN.
    #[track_caller]
    fn check(&self, op: &str) {
        if self.batch_size == 0 {
            panic!("{op}: budget.batch_size must be at least 1, got 0");
        }
        for (name, v) in [("lr", self.lr), ("momentum", self.momentum)] {
            if !v.is_finite() || v < 0.0 {
                panic!("{op}: budget.{name} must be finite and >= 0, got {v}");
            }
        }
        if let Some(c) = self.clip.filter(|c| c.is_nan() || *c < 0.0) {
            panic!("{op}: budget.clip must be >= 0, got {c}");
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            steps: 1000,
            batch_size: 64,
            lr: 0.01,
            momentum: 0.9,
            clip: Some(1.0),
        }
    }
}

/// What training one configuration gave.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Training loss at each step (until divergence).
    pub losses: Vec<f64>,
    /// Accuracy on the held-out split after training.
    pub test_accuracy: f64,
    /// The step at which the loss became NaN or Inf, if it did.
    pub diverged_at: Option<usize>,
}

impl TrainOutcome {
    /// The first step after which the mean of the last `window` losses is
    /// below `target` (counting steps from 1), or `None` if training never
    /// got there: a measure of training speed that one noisy batch cannot
    /// fake.
    ///
    /// ```
    /// use tapegrad_nn::study::TrainOutcome;
    /// let o = TrainOutcome { losses: vec![2.0, 1.0, 0.4, 0.6, 0.2], test_accuracy: 0.9, diverged_at: None };
    /// assert_eq!(o.steps_to(0.5, 1), Some(3));
    /// assert_eq!(o.steps_to(0.5, 2), Some(5)); // (0.6 + 0.2) / 2 = 0.4
    /// assert_eq!(o.steps_to(0.1, 1), None);
    /// ```
    ///
    /// # Panics
    /// If `window` is 0.
    #[track_caller]
    pub fn steps_to(&self, target: f64, window: usize) -> Option<usize> {
        if window == 0 {
            panic!("TrainOutcome::steps_to: window must be at least 1");
        }
        self.losses
            .windows(window)
            .position(|w| w.iter().sum::<f64>() / (window as f64) < target)
            .map(|i| i + window)
    }

    /// Mean loss over the last `n` recorded steps (NaN if none was
    /// recorded, or `n` is 0: there is no loss to report).
    pub fn final_loss(&self, n: usize) -> f64 {
        let tail = &self.losses[self.losses.len().saturating_sub(n)..];
        if tail.is_empty() {
            return f64::NAN;
        }
        tail.iter().sum::<f64>() / tail.len() as f64
    }
}

/// `train` and `test` with every feature shifted and scaled to zero mean and
/// unit variance, using the statistics of `train` only (features that never
/// vary, like the digits' corner pixels, are only centred).
///
/// The variance arguments behind Xavier and He initialisation assume
/// zero-mean inputs of unit scale; raw pixels in [0, 1] have neither.
pub fn standardize(train: &Dataset<f32>, test: &Dataset<f32>) -> (Dataset<f32>, Dataset<f32>) {
    let x = train.features();
    let mean = x.mean_keepdim(&[0]);
    let std = x
        .var_with_correction_keepdim(&[0], 0)
        .sqrt()
        .map(|s| if s > 1e-6 { s } else { 1.0 });
    let scale = |d: &Dataset<f32>| {
        Dataset::new(
            d.features().sub(&mean).div(&std),
            d.labels().to_vec(),
            d.num_classes(),
        )
    };
    (scale(train), scale(test))
}

/// Samples of the training set a data-dependent scheme (LSUV) measures on.
pub const INIT_BATCH: usize = 256;

/// A fresh `config` model for `data`: the same weights from the same `rng`
/// state in [`flow_at_init`] and [`train`], LSUV measured on the first
/// [`INIT_BATCH`] samples.
pub(super) fn build_model(
    config: &MlpConfig,
    data: &Dataset<f32>,
    rng: &mut rand::rngs::StdRng,
) -> Sequential<f32> {
    let batch = data.features().narrow(0, 0, INIT_BATCH.min(data.len()));
    config.build(&batch, data.num_classes(), rng)
}

/// The verdict on the hidden layers alone: the gradient RMS of the first
/// hidden layer's output `h1` over that of the last hidden layer's `hL`
/// ([`judge`] on every tapped layer but the logits).
///
/// The output layer's own gain is left out on purpose ([`output_gain`]
/// reports it): with small weights the output layer alone shrinks the
/// gradient 30-fold, which says nothing about depth.
pub fn hidden_verdict(report: &FlowReport) -> Verdict {
    let hidden = &report.layers[..report.layers.len().saturating_sub(1)];
    judge(hidden, &Thresholds::default())
}

/// The output layer's gain on the gradient: `rms(∂L/∂hL) / rms(∂L/∂logits)`,
/// the factor by which back-propagating through the output layer alone
/// scales the gradient (`None` without a hidden layer or a gradient).
pub fn output_gain(report: &FlowReport) -> Option<f64> {
    match &report.layers[..] {
        [.., last_hidden, logits] => Some(last_hidden.grad_rms? / logits.grad_rms?),
        _ => None,
    }
}

/// The seed of the `k`-th draw of `config` in a study seeded with `base`:
/// every configuration gets its own seeds (a hash of its name), so no two
/// configurations share a draw and one unlucky draw cannot line up across
/// a whole row of the table. SplitMix64 over the name's bytes: stable
/// across platforms and Rust versions, unlike `std`'s hasher.
pub fn config_seed(base: u64, config: &MlpConfig, k: usize) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let name = config.to_string();
    let h = name.bytes().fold(mix(base), |h, b| mix(h ^ u64::from(b)));
    mix(h ^ k as u64)
}

/// The model's forward pass with every child's output tapped as `h1, h2, ..`
/// (the last one, the output layer, as `logits`).
pub fn forward_tapped<'t>(
    model: &Sequential<f32>,
    x: Var<'t, f32>,
    probe: &FlowProbe<'t, f32>,
) -> Var<'t, f32> {
    let n = model.len();
    model.layers().iter().enumerate().fold(x, |h, (i, layer)| {
        let name = if i + 1 == n {
            "logits".to_string()
        } else {
            format!("h{}", i + 1)
        };
        probe.tap(name, layer.forward(h))
    })
}

/// Gradient flow of a fresh `config` model on the first `batch` samples of
/// `data`, and the update-to-weight ratios of one step of the budget's SGD.
///
/// # Panics
/// If `data` is empty, `batch` is 0, or the budget's `lr` or `momentum` is
/// negative, infinite or NaN.
#[track_caller]
pub fn flow_at_init(
    config: &MlpConfig,
    data: &Dataset<f32>,
    batch: usize,
    budget: &Budget,
    seed: u64,
) -> FlowReport {
    if data.is_empty() || batch == 0 {
        panic!(
            "flow_at_init: needs at least one sample, got a data set of {} and batch {batch}",
            data.len()
        );
    }
    budget.check("flow_at_init");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut model = build_model(config, data, &mut rng);
    let n = batch.min(data.len());
    let x = data.features().narrow(0, 0, n);
    let labels = &data.labels()[..n];
    let tape = Tape::new();
    let probe = FlowProbe::new();
    let logits = forward_tapped(&model, tape.constant(x), &probe);
    let grads = cross_entropy(logits, labels).backward();
    let mut report = FlowReport::collect(&probe, &model, &grads, &Thresholds::default());
    let before = model.named_parameters();
    SGD::new(budget.lr)
        .momentum(budget.momentum)
        .step(&mut model, &grads);
    report.record_update(&before, &model);
    report
}

/// Trains a fresh `config` model on `train` for the budget and measures its
/// accuracy on `test`. Stops early (and says so) if the loss stops being finite.
///
/// With `budget.steps == 0` no step is taken: the freshly initialised
/// model comes back at once, with no losses and its accuracy on `test`.
/// Epochs repeat (reshuffled) until the budget's steps are done.
///
/// # Panics
/// If `train` is empty (no step could ever be taken), or the budget cannot
/// run: `batch_size` 0, `lr` or `momentum` negative, infinite or NaN,
/// `clip` negative or NaN.
#[track_caller]
pub fn train(
    config: &MlpConfig,
    train: &Dataset<f32>,
    test: &Dataset<f32>,
    budget: &Budget,
    seed: u64,
) -> (Sequential<f32>, TrainOutcome) {
    budget.check("train");
    if train.is_empty() {
        panic!("train: the training set is empty, so no step can be taken");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut model = build_model(config, train, &mut rng);
    let mut opt = SGD::new(budget.lr).momentum(budget.momentum);
    let features = train.features();
    let mut losses = Vec::with_capacity(budget.steps);
    let mut diverged_at = None;
    let mut tape = Tape::new();
    // Every epoch yields at least one batch (the set is not empty), so this
    // ends after `budget.steps` steps.
    'epochs: while losses.len() < budget.steps {
        for (x, y) in Batches::new(&features, train.labels(), budget.batch_size, true, &mut rng) {
            let loss = cross_entropy(model.forward(tape.constant(x)), &y);
            let value = loss.item();
            if !value.is_finite() {
                diverged_at = Some(losses.len());
                break 'epochs;
            }
            losses.push(value);
            let grads = loss.backward();
            let mut g = ParamGrads::collect(&model, &grads);
            if let Some(max_norm) = budget.clip {
                clip_grad_norm(&mut g, max_norm);
            }
            opt.step(&mut model, &g);
            drop(grads);
            tape.clear();
            if losses.len() == budget.steps {
                break 'epochs;
            }
        }
    }
    let test_accuracy = accuracy(&model, test);
    (
        model,
        TrainOutcome {
            losses,
            test_accuracy,
            diverged_at,
        },
    )
}

/// Fraction of `data` whose arg-max logit is the label (NaN for an empty
/// `data`: no sample, no accuracy).
pub fn accuracy(model: &Sequential<f32>, data: &Dataset<f32>) -> f64 {
    if data.is_empty() {
        return f64::NAN;
    }
    let tape = Tape::new();
    let logits: Tensor<f32> = model.forward(tape.constant(data.features())).value();
    crate::metrics::accuracy(&logits, data.labels())
}
