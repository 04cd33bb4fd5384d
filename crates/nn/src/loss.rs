//! Loss functions on vars, each averaged over its elements or samples
//! (PyTorch's `reduction="mean"`), in numerically stable forms.
//!
//! | loss | formula (per sample) | gradient wrt the input |
//! |---|---|---|
//! | [`mse`] | `(p - t)²` | `2 (p - t) / n` |
//! | [`cross_entropy`] | `logsumexp(z) - z_y` | `(softmax(z) - onehot(y)) / N` |
//! | [`nll`] | `-q_y` (log-probabilities `q`) | `-onehot(y) / N` |
//! | [`binary_cross_entropy_with_logits`] | `softplus(x) - x t` | `(σ(x) - t) / n` |
//!
//! ```
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::loss;
//! use tapegrad_tensor::Tensor;
//!
//! let tape = Tape::<f64>::new();
//! // Two samples, three classes; equal logits give ln 3 whatever the label.
//! let logits = tape.var(Tensor::zeros(&[2, 3]));
//! let l = loss::cross_entropy(logits, &[0, 2]);
//! assert!((l.item() - 3f64.ln()).abs() < 1e-12);
//! let g = l.backward()[logits].to_vec(); // (softmax - onehot) / N
//! assert!((g[0] - (1.0 / 3.0 - 1.0) / 2.0).abs() < 1e-12);
//! ```

use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, IndexTensor};

/// Mean squared error `mean((pred - target)²)` over all elements.
///
/// # Panics
/// If the shapes differ (no broadcasting: `[N, 1]` against `[N]` would
/// silently compare every prediction with every target).
#[track_caller]
pub fn mse<'t, E: Float>(pred: Var<'t, E>, target: Var<'t, E>) -> Var<'t, E> {
    same_shape("mse", pred, target);
    (pred - target).square().mean_all()
}

/// Options of [`cross_entropy_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropyOptions {
    /// Label smoothing `ε` in `[0, 1]`: the target is the mixture
    /// `(1 - ε) onehot(y) + ε / C` of the label and the uniform
    /// distribution (Szegedy et al. 2016). Default 0.
    pub label_smoothing: f64,
}

/// Cross-entropy of `logits` `[N, C]` against class indices `labels`
/// (`N` of them), averaged over the samples:
///
/// `L = (1/N) Σₙ (logsumexp(zₙ) - zₙ,yₙ) = -(1/N) Σₙ log_softmax(zₙ)_yₙ`
///
/// computed from `log_softmax` (max-shifted log-sum-exp), so logits of any
/// size give a finite loss. Gradient: `(softmax(z) - onehot(y)) / N`.
/// As PyTorch's `F.cross_entropy(logits, labels)`.
///
/// # Panics
/// If `logits` is not 2-D, the number of labels is not `N`, or a label is
/// not below `C`.
#[track_caller]
pub fn cross_entropy<'t, E: Float>(logits: Var<'t, E>, labels: &[usize]) -> Var<'t, E> {
    cross_entropy_with(logits, labels, &CrossEntropyOptions::default())
}

/// [`cross_entropy`] with options. With label smoothing `ε` over `C`
/// classes (PyTorch's formula):
///
/// `L = (1/N) Σₙ [ (1 - ε) (-qₙ,yₙ) + (ε / C) Σ_c (-qₙ,c) ]`, `q = log_softmax(z)`,
///
/// with gradient `(softmax(z) - (1 - ε) onehot(y) - ε / C) / N`.
///
/// # Panics
/// As [`cross_entropy`], and if `ε` is not in `[0, 1]`.
#[track_caller]
pub fn cross_entropy_with<'t, E: Float>(
    logits: Var<'t, E>,
    labels: &[usize],
    options: &CrossEntropyOptions,
) -> Var<'t, E> {
    let eps = options.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        panic!("cross_entropy: label_smoothing {eps} is not in [0, 1]");
    }
    check_labels("cross_entropy", logits, labels);
    let log_probs = stable_log_softmax(logits);
    let picked = pick(log_probs, labels);
    if eps == 0.0 {
        return -picked;
    }
    // mean over N of (1/C) Σ_c q = mean over all N·C entries.
    picked * (eps - 1.0) - log_probs.mean_all() * eps
}

/// Cross-entropy of each sample (PyTorch's `reduction="none"`): shape
/// `[N]`, entry `n` is `logsumexp(zₙ) - zₙ,yₙ`; the mean of these is
/// [`cross_entropy`]. The per-example losses that
/// [`per_sample_grads`](crate::per_sample::per_sample_grads) differentiates.
///
/// # Panics
/// As [`cross_entropy`].
#[track_caller]
pub fn cross_entropy_each<'t, E: Float>(logits: Var<'t, E>, labels: &[usize]) -> Var<'t, E> {
    check_labels("cross_entropy_each", logits, labels);
    let index = IndexTensor::from_vec(labels.to_vec(), &[labels.len(), 1]);
    -stable_log_softmax(logits)
        .gather(1, &index)
        .reshape(&[labels.len()])
}

/// Negative log-likelihood of log-probabilities `log_probs` `[N, C]` (e.g.
/// from `log_softmax`) at the class indices `labels`, averaged over the
/// samples: `L = -(1/N) Σₙ qₙ,yₙ`. Gradient: `-onehot(y) / N`.
/// `nll(z.log_softmax(1), y)` is `cross_entropy(z, y)`.
///
/// # Panics
/// As [`cross_entropy`].
#[track_caller]
pub fn nll<'t, E: Float>(log_probs: Var<'t, E>, labels: &[usize]) -> Var<'t, E> {
    check_labels("nll", log_probs, labels);
    -pick(log_probs, labels)
}

/// Binary cross-entropy of `logits` against `targets` in `[0, 1]` (same
/// shape), averaged over all elements; as PyTorch's
/// `F.binary_cross_entropy_with_logits`:
///
/// `ℓ = -[t ln σ(x) + (1 - t) ln(1 - σ(x))] = softplus(x) - x t
///    = max(x, 0) - x t + ln(1 + e^-|x|)`
///
/// The last form (softplus evaluated stably) never forms `σ(x)` or its
/// log, so it stays finite and exact for logits like ±1e4, where
/// `ln σ(x)` would be `ln 0`. Gradient: `(σ(x) - t) / n`.
///
/// # Panics
/// If the shapes differ.
#[track_caller]
pub fn binary_cross_entropy_with_logits<'t, E: Float>(
    logits: Var<'t, E>,
    targets: Var<'t, E>,
) -> Var<'t, E> {
    same_shape("binary_cross_entropy_with_logits", logits, targets);
    (logits.softplus() - logits * targets).mean_all()
}

/// `log_softmax` along axis 1 of `z - max(z)`, the row maximum held as a
/// constant. The value and every derivative are those of `log_softmax(z)`
/// (it is invariant to the shift), but with large logits this is exact
/// where `z - logsumexp(z)` loses the low bits: for the row `[1e4, 1e4]`
/// the shifted row is `[0, 0]` and the result exactly `-ln 2`, not
/// `1e4 - fl(1e4 + ln 2)` (off by up to half an ulp of 1e4, which in f32
/// is 5e-4).
#[track_caller]
fn stable_log_softmax<'t, E: Float>(z: Var<'t, E>) -> Var<'t, E> {
    (z - z.max_keepdim(&[1]).detach()).log_softmax(1)
}

/// The mean over samples of `values[n, labels[n]]` (a 0-d var). The labels
/// stay integers all the way to the kernel (an `f32` holds class 16777217
/// as 16777216).
#[track_caller]
fn pick<'t, E: Float>(values: Var<'t, E>, labels: &[usize]) -> Var<'t, E> {
    let index = IndexTensor::from_vec(labels.to_vec(), &[labels.len(), 1]);
    values.gather(1, &index).mean_all()
}

/// Panics unless `x` is `[N, C]` with `N = labels.len()` and every label `< C`.
#[track_caller]
fn check_labels<E: Float>(op: &str, x: Var<'_, E>, labels: &[usize]) {
    let shape = x.shape();
    if shape.len() != 2 || shape[0] != labels.len() {
        panic!(
            "{op}: expects input [N, C] and N labels, got input {shape:?} and {} labels",
            labels.len()
        );
    }
    if let Some(&bad) = labels.iter().find(|&&y| y >= shape[1]) {
        panic!("{op}: label {bad} is out of range for {} classes", shape[1]);
    }
}

/// Panics unless both vars have the same shape.
#[track_caller]
fn same_shape<E: Float>(op: &str, a: Var<'_, E>, b: Var<'_, E>) {
    let (sa, sb) = (a.shape(), b.shape());
    if sa != sb {
        panic!("{op}: input shape {sa:?} and target shape {sb:?} differ");
    }
}
