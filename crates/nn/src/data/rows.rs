//! Copying chosen rows (first-axis entries) of a tensor into a new one.

use tapegrad_tensor::{Float, Tensor};

/// The rows `indices` of `x` (along axis 0), in that order: shape `[indices.len(), x.shape()[1..]]`.
///
/// `x` should be contiguous (callers make it so once, not per call); a
/// strided `x` is made contiguous here first.
///
/// # Panics
/// If `x` is 0-dimensional or an index is out of range (callers check both).
pub(crate) fn gather_rows<E: Float>(x: &Tensor<E>, indices: &[usize]) -> Tensor<E> {
    let x = x.contiguous();
    let data = x
        .as_slice()
        .expect("contiguous() gives a contiguous tensor");
    let row: usize = x.shape()[1..].iter().product();
    let mut out = Vec::with_capacity(indices.len() * row);
    for &i in indices {
        out.extend_from_slice(&data[i * row..(i + 1) * row]);
    }
    let mut shape = x.shape().to_vec();
    shape[0] = indices.len();
    Tensor::from_vec(out, &shape)
}
