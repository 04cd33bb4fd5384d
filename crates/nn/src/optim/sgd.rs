//! Stochastic gradient descent with momentum, dampening, Nesterov momentum
//! and L2 weight decay, as `torch.optim.SGD`.
//!
//! ```
//! use tapegrad_nn::optim::{Optimizer, SGD};
//! use tapegrad_nn::Param;
//! use tapegrad_tensor::Tensor;
//!
//! let mut w = Param::new(Tensor::<f64>::from_vec(vec![1.0], &[1]));
//! let mut opt = SGD::new(0.1).momentum(0.9);
//! let g = Tensor::from_vec(vec![1.0], &[1]);
//! opt.update(&mut w, &g); // b = g = 1, w = 1 - 0.1 * 1
//! opt.update(&mut w, &g); // b = 0.9 * 1 + 1 = 1.9, w = 0.9 - 0.1 * 1.9
//! assert!((w.value().item() - 0.71).abs() < 1e-12);
//! ```

use super::state::{buffer_tensor, check_values, param_list, StateError, StateReader, Values};
use super::Optimizer;
use crate::module::Module;
use crate::param::Param;
use std::collections::HashMap;
use tapegrad_tensor::{Float, Tensor};

/// Stochastic gradient descent, with PyTorch's update equations.
///
/// For each parameter `p` with gradient `g`, at step `t`:
///
/// ```text
/// g ← g + λ p                          (weight_decay λ ≠ 0)
/// b ← g                                (momentum μ ≠ 0, first step)
/// b ← μ b + (1 − τ) g                  (momentum μ ≠ 0, later steps; dampening τ)
/// g ← g + μ b   if nesterov,  else g ← b
/// p ← p − γ g                          (learning rate γ)
/// ```
///
/// The momentum buffer `b` starts as the first gradient, not zero, as in
/// PyTorch (so dampening does not apply to the first step). State (the
/// buffers) is kept per parameter, keyed by [`Param::id`], and saved as
/// `"{param}.momentum_buffer"`.
#[derive(Clone, Debug)]
#[allow(clippy::upper_case_acronyms)]
pub struct SGD<E: Float = f32> {
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    buffers: HashMap<u64, Vec<E>>,
}

impl<E: Float> SGD<E> {
    /// Plain SGD with learning rate `lr`: no momentum, no weight decay.
    ///
    /// # Panics
    /// If `lr` is negative, infinite or NaN.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        check_non_negative("SGD", "lr", lr);
        SGD {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            buffers: HashMap::new(),
        }
    }

    /// Sets the momentum factor `μ` (default 0: no momentum, no state).
    ///
    /// # Panics
    /// If `momentum` is negative, infinite or NaN.
    #[track_caller]
    pub fn momentum(mut self, momentum: f64) -> Self {
        check_non_negative("SGD", "momentum", momentum);
        self.momentum = momentum;
        self
    }

    /// Sets the dampening `τ` applied to new gradients in the momentum buffer (default 0).
    ///
    /// # Panics
    /// If `dampening` is negative, infinite or NaN.
    #[track_caller]
    pub fn dampening(mut self, dampening: f64) -> Self {
        check_non_negative("SGD", "dampening", dampening);
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay `λ` added to the gradient (default 0).
    ///
    /// # Panics
    /// If `weight_decay` is negative, infinite or NaN.
    #[track_caller]
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        check_non_negative("SGD", "weight_decay", weight_decay);
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off (default off). Needs momentum > 0
    /// and dampening 0, checked at the first update.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

impl<E: Float> Optimizer<E> for SGD<E> {
    #[track_caller]
    fn update(&mut self, param: &mut Param<E>, grad: &Tensor<E>) {
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            panic!("SGD: Nesterov momentum needs momentum > 0 and dampening 0 (momentum {}, dampening {})", self.momentum, self.dampening);
        }
        super::check_grad_shape(param, grad, "SGD");
        let g = grad.contiguous();
        let g = g.as_slice().expect("contiguous");
        let (lr, wd) = (E::from_f64(self.lr), E::from_f64(self.weight_decay));
        // d = g + λ p (L2 weight decay), then the step along d or momentum.
        if self.momentum == 0.0 {
            param.update_elementwise(g, [], move |p, g, []| (p - lr * (g + wd * p), []));
            return;
        }
        let (mu, damp) = (
            E::from_f64(self.momentum),
            E::from_f64(1.0 - self.dampening),
        );
        let nesterov = self.nesterov;
        // The first step starts the buffer at d itself (as PyTorch).
        let first = !self.buffers.contains_key(&param.id());
        let buf = self
            .buffers
            .entry(param.id())
            .or_insert_with(|| vec![E::ZERO; g.len()]);
        param.update_elementwise(g, [buf.as_mut_slice()], move |p, g, [b]| {
            let d = g + wd * p;
            let b = if first { d } else { b * mu + damp * d };
            let dir = if nesterov { d + mu * b } else { b };
            (p - lr * dir, [b])
        });
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    #[track_caller]
    fn set_lr(&mut self, lr: f64) {
        check_non_negative("SGD", "lr", lr);
        self.lr = lr;
    }

    fn state_dict(&self, model: &dyn Module<E>) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        for (name, id, shape) in param_list(model) {
            if let Some(buf) = self.buffers.get(&id) {
                out.push((
                    format!("{name}.momentum_buffer"),
                    buffer_tensor(buf, &shape),
                ));
            }
        }
        out
    }

    fn load_state_dict(
        &mut self,
        model: &dyn Module<E>,
        entries: Vec<(String, Tensor<E>)>,
    ) -> Result<(), StateError> {
        let mut reader = StateReader::new(entries)?;
        let mut buffers = HashMap::new();
        if self.momentum != 0.0 {
            for (name, id, shape) in param_list(model) {
                if let Some(ts) = reader.take_param(&name, &[("momentum_buffer", &shape)])? {
                    check_values(&format!("{name}.momentum_buffer"), &ts[0], Values::Finite)?;
                    buffers.insert(id, ts[0].to_vec());
                }
            }
        }
        reader.finish()?;
        self.buffers = buffers;
        Ok(())
    }
}

/// Panics unless `value` is finite and `>= 0` (NaN and infinities fail:
/// an infinite learning rate, momentum, eps or decay makes every step
/// NaN or zero), naming the optimiser and setting.
#[track_caller]
pub(crate) fn check_non_negative(opt: &str, what: &str, value: f64) {
    if !value.is_finite() || value < 0.0 {
        panic!("{opt}: {what} must be finite and >= 0, got {value}");
    }
}
