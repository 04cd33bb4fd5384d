//! Evaluation metrics on a model's outputs.

use tapegrad_tensor::{Float, Tensor};

/// Classification accuracy: the fraction of rows of `logits` `[N, C]`
/// whose argmax (the first, on ties) is the row's label. NaN for `N = 0`.
///
/// ```
/// use tapegrad_nn::metrics::accuracy;
/// use tapegrad_tensor::Tensor;
///
/// let logits = Tensor::<f32>::from_vec(vec![0.1, 2.0, 3.0, -1.0, 0.0, 0.5], &[3, 2]);
/// assert_eq!(accuracy(&logits, &[1, 0, 0]), 2.0 / 3.0);
/// ```
///
/// # Panics
/// If `logits` is not 2-D or has another number of rows than `labels`.
#[track_caller]
pub fn accuracy<E: Float>(logits: &Tensor<E>, labels: &[usize]) -> f64 {
    let shape = logits.shape();
    if shape.len() != 2 || shape[0] != labels.len() {
        panic!(
            "accuracy: logits {shape:?} do not fit {} labels (expects [{}, classes])",
            labels.len(),
            labels.len()
        );
    }
    if labels.is_empty() {
        return f64::NAN;
    }
    let predicted = logits.argmax(1).to_vec();
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len() as f64
}
