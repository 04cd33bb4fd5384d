//! Gradient clipping, as PyTorch's `torch.nn.utils.clip_grad_norm_` and
//! `clip_grad_value_`, on an owned [`ParamGrads`].
//!
//! ```
//! use tapegrad_nn::optim::{clip_grad_norm, ParamGrads};
//! # use tapegrad_autodiff::Tape;
//! # use tapegrad_nn::{Module, Param};
//! # use tapegrad_tensor::Tensor;
//! # struct Dot { w: Param<f64> }
//! # impl Module<f64> for Dot {
//! #     fn forward<'t>(&self, x: tapegrad_autodiff::Var<'t, f64>) -> tapegrad_autodiff::Var<'t, f64> { (x * self.w.bind(x.tape())).sum_all() }
//! #     fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f64>)) { f("w", &self.w) }
//! #     fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f64>)) { f("w", &mut self.w) }
//! # }
//! let model = Dot { w: Param::new(Tensor::zeros(&[2])) };
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2]));
//! let grads = model.forward(x).backward(); // d/dw (w · x) = x = [3, 4]
//!
//! let mut g = ParamGrads::collect(&model, &grads);
//! let total = clip_grad_norm(&mut g, 1.0);
//! assert_eq!(total, 5.0); // ||[3, 4]||, before clipping
//! let clipped = g.by_name("w").unwrap().to_vec();
//! assert!((clipped[0] - 0.6).abs() < 1e-6 && (clipped[1] - 0.8).abs() < 1e-6);
//! ```

use super::grads::ParamGrads;
use tapegrad_tensor::{Float, Tensor};

/// Scales all gradients together so their L2 norm is at most `max_norm`;
/// returns the norm before clipping (see [`clip_grad_norm_with`]).
///
/// # Panics
/// If `max_norm` is negative or NaN (`f64::INFINITY` clips nothing).
#[track_caller]
pub fn clip_grad_norm<E: Float>(grads: &mut ParamGrads<E>, max_norm: f64) -> f64 {
    check_max_norm("clip_grad_norm", max_norm);
    clip_grad_norm_with(grads, max_norm, 2.0)
}

/// Panics unless `max_norm >= 0` (NaN fails), naming `op`.
#[track_caller]
fn check_max_norm(op: &str, max_norm: f64) {
    if max_norm.is_nan() || max_norm < 0.0 {
        panic!("{op}: max_norm must be >= 0, got {max_norm}");
    }
}

/// Scales all gradients together so their `norm_type`-norm is at most
/// `max_norm`, and returns the norm before clipping.
///
/// As PyTorch: the total norm is the norm of the per-parameter norms (equal
/// to the norm of all gradients concatenated), `‖g‖_p = (Σ|gᵢ|ᵖ)^(1/p)`, or
/// `max |gᵢ|` for `norm_type = f64::INFINITY`; then every gradient is
/// multiplied by
///
/// `c = min(1, max_norm / (total_norm + 1e-6))`.
///
/// With no gradients the total norm is 0. A NaN or infinite gradient makes
/// the total NaN or infinite and the clipped gradients NaN or 0, as in
/// PyTorch (with `error_if_nonfinite=False`). The norm is accumulated in
/// `f64` whatever `E` is.
///
/// # Panics
/// If `norm_type` is not positive (`> 0`, or infinity), or `max_norm` is
/// negative or NaN (a NaN bound would silently turn every gradient to NaN,
/// a negative one flip their signs).
#[track_caller]
pub fn clip_grad_norm_with<E: Float>(
    grads: &mut ParamGrads<E>,
    max_norm: f64,
    norm_type: f64,
) -> f64 {
    check_max_norm("clip_grad_norm_with", max_norm);
    if norm_type.is_nan() || norm_type <= 0.0 {
        panic!("clip_grad_norm_with: norm_type must be > 0 (or infinity), got {norm_type}");
    }
    if grads.is_empty() {
        return 0.0;
    }
    let norms: Vec<f64> = grads
        .iter()
        .map(|(_, g)| vector_norm(&g.to_f64_vec(), norm_type))
        .collect();
    let total = vector_norm(&norms, norm_type);
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    // NaN-propagating like torch.clamp: a NaN total gives NaN gradients.
    let coef = if total.is_nan() { f64::NAN } else { coef };
    grads.scale(coef);
    total
}

/// Clamps every gradient element into `[-clip_value, clip_value]`:
/// `gᵢ ← min(max(gᵢ, -clip_value), clip_value)`.
///
/// # Panics
/// If `clip_value` is negative or NaN.
#[track_caller]
pub fn clip_grad_value<E: Float>(grads: &mut ParamGrads<E>, clip_value: f64) {
    if clip_value.is_nan() || clip_value < 0.0 {
        panic!("clip_grad_value: clip_value must be >= 0, got {clip_value}");
    }
    grads.map(|g: &Tensor<E>| g.clamp(-clip_value, clip_value));
}

/// `(Σ|xᵢ|ᵖ)^(1/p)`, or `max |xᵢ|` for `p = ∞` (0 for no elements).
fn vector_norm(xs: &[f64], p: f64) -> f64 {
    if p == f64::INFINITY {
        // NaN-propagating maximum, as torch's inf-norm.
        return xs.iter().fold(0.0, |m, x| {
            if x.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(x.abs())
            }
        });
    }
    if p == 2.0 {
        return xs.iter().map(|x| x * x).sum::<f64>().sqrt();
    }
    xs.iter()
        .map(|x| x.abs().powf(p))
        .sum::<f64>()
        .powf(1.0 / p)
}
