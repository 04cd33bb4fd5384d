//! Adam (with L2 weight decay, optionally AMSGrad) and AdamW (decoupled
//! weight decay), as `torch.optim.Adam` and `torch.optim.AdamW`.
//!
//! ```
//! use tapegrad_nn::optim::{Adam, Optimizer};
//! use tapegrad_nn::Param;
//! use tapegrad_tensor::Tensor;
//!
//! // The first Adam step moves each weight by about lr, whatever the gradient's scale:
//! // m̂ = g, v̂ = g², so p ← p − lr · g / (|g| + ε).
//! let mut w = Param::new(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2]));
//! let mut opt = Adam::new(0.01);
//! opt.update(&mut w, &Tensor::from_vec(vec![1000.0, -0.001], &[2]));
//! let w = w.value().to_vec();
//! assert!((w[0] - 0.99).abs() < 1e-9 && (w[1] - 1.01).abs() < 1e-7);
//! ```

use super::sgd::check_non_negative;
use super::state::{
    buffer_tensor, check_values, param_list, step_from_tensor, step_tensor, StateError,
    StateReader, Values,
};
use super::Optimizer;
use crate::module::Module;
use crate::param::Param;
use std::collections::HashMap;
use tapegrad_tensor::{Float, Tensor};

/// One parameter's Adam state.
#[derive(Clone, Debug)]
struct AdamState<E> {
    step: u64,
    exp_avg: Vec<E>,
    exp_avg_sq: Vec<E>,
    max_exp_avg_sq: Option<Vec<E>>,
}

/// Adam (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization"),
/// with PyTorch's update equations.
///
/// For each parameter `p` with gradient `g`, at its step `t = 1, 2, ...`
/// (counted per parameter; `m`, `v`, `v_max` start at zero):
///
/// ```text
/// g ← g + λ p                                 (weight_decay λ ≠ 0: L2, in the gradient)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// v_max ← max(v_max, v)                       (amsgrad; then v_max replaces v below)
/// p ← p − γ / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Defaults as PyTorch: `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight
/// decay, no AMSGrad. For decoupled weight decay use [`AdamW`]. State is
/// saved as `"{param}.exp_avg"`, `"{param}.exp_avg_sq"`,
/// `"{param}.max_exp_avg_sq"` (AMSGrad only) and `"{param}.step"`.
#[derive(Clone, Debug)]
pub struct Adam<E: Float = f32> {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    /// AdamW: decay the weights directly instead of adding `λ p` to `g`.
    decoupled: bool,
    state: HashMap<u64, AdamState<E>>,
}

impl<E: Float> Adam<E> {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Panics
    /// If `lr` is negative, infinite or NaN.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        check_non_negative("Adam", "lr", lr);
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            decoupled: false,
            state: HashMap::new(),
        }
    }

    /// Sets the decay rates `(β₁, β₂)` of the moment estimates (default `(0.9, 0.999)`).
    ///
    /// # Panics
    /// If either is outside `[0, 1)`.
    #[track_caller]
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        for (i, b) in [beta1, beta2].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                panic!("Adam: beta{} must be in [0, 1), got {b}", i + 1);
            }
        }
        self.betas = (beta1, beta2);
        self
    }

    /// Sets `ε`, added to the denominator for stability (default `1e-8`).
    ///
    /// # Panics
    /// If `eps` is negative, infinite or NaN.
    #[track_caller]
    pub fn eps(mut self, eps: f64) -> Self {
        check_non_negative("Adam", "eps", eps);
        self.eps = eps;
        self
    }

    /// Sets the weight decay `λ` (default 0): L2, added to the gradient as `λ p`.
    ///
    /// # Panics
    /// If `weight_decay` is negative, infinite or NaN.
    #[track_caller]
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        check_non_negative("Adam", "weight_decay", weight_decay);
        self.weight_decay = weight_decay;
        self
    }

    /// Turns AMSGrad (Reddi et al., 2018) on or off (default off): divide by
    /// the running maximum of `v` instead of `v`.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    /// The named state slots of a parameter of `shape`.
    fn slots<'s>(&self, shape: &'s [usize]) -> Vec<(&'static str, &'s [usize])> {
        let mut slots = vec![("exp_avg", shape), ("exp_avg_sq", shape)];
        if self.amsgrad {
            slots.push(("max_exp_avg_sq", shape));
        }
        slots.push(("step", &[1]));
        slots
    }

    /// One Adam step of `param` along `grad`, in one pass:
    /// `m ← β₁ m + (1 − β₁) g`, `v ← β₂ v + (1 − β₂) g²`,
    /// `p ← p − γ / (1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)` with `v̂ = v`
    /// (or its running maximum under AMSGrad); weight decay added to `g`
    /// (Adam) or applied to `p` first as `p ← (1 − γλ) p` (AdamW).
    fn adam_update(&mut self, param: &mut Param<E>, grad: &Tensor<E>, name: &str) {
        super::check_grad_shape(param, grad, name);
        let g = grad.contiguous();
        let g = g.as_slice().expect("contiguous");
        let n = g.len();
        let amsgrad = self.amsgrad;
        let s = self.state.entry(param.id()).or_insert_with(|| AdamState {
            step: 0,
            exp_avg: vec![E::ZERO; n],
            exp_avg_sq: vec![E::ZERO; n],
            max_exp_avg_sq: amsgrad.then(|| vec![E::ZERO; n]),
        });
        s.step += 1;
        let (b1, b2) = self.betas;
        let t = s.step as f64;
        let (w1, b2e, w2) = (
            E::from_f64(1.0 - b1),
            E::from_f64(b2),
            E::from_f64(1.0 - b2),
        );
        let step_size = E::from_f64(-(self.lr / (1.0 - b1.powf(t))));
        let bc2_sqrt = E::from_f64((1.0 - b2.powf(t)).sqrt());
        let eps = E::from_f64(self.eps);
        let decoupled = self.weight_decay != 0.0 && self.decoupled;
        let keep = E::from_f64(if decoupled {
            1.0 - self.lr * self.weight_decay
        } else {
            1.0
        });
        let wd = E::from_f64(if decoupled { 0.0 } else { self.weight_decay });
        let moments = move |p: E, g: E, m: E, v: E| {
            let g = g + wd * p;
            (lerp(m, g, w1), v * b2e + w2 * g * g)
        };
        let stepped =
            move |p: E, m: E, vhat: E| p * keep + step_size * (m / (vhat.sqrt() / bc2_sqrt + eps));
        match &mut s.max_exp_avg_sq {
            None => param.update_elementwise(
                g,
                [&mut s.exp_avg, &mut s.exp_avg_sq],
                move |p, g, [m, v]| {
                    let (m, v) = moments(p, g, m, v);
                    (stepped(p, m, v), [m, v])
                },
            ),
            Some(max) => param.update_elementwise(
                g,
                [&mut s.exp_avg, &mut s.exp_avg_sq, max],
                move |p, g, [m, v, mx]| {
                    let (m, v) = moments(p, g, m, v);
                    let mx = if v > mx { v } else { mx };
                    (stepped(p, m, mx), [m, v, mx])
                },
            ),
        }
    }

    fn adam_state_dict(&self, model: &dyn Module<E>) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        for (name, id, shape) in param_list(model) {
            let Some(s) = self.state.get(&id) else {
                continue;
            };
            out.push((format!("{name}.exp_avg"), buffer_tensor(&s.exp_avg, &shape)));
            out.push((
                format!("{name}.exp_avg_sq"),
                buffer_tensor(&s.exp_avg_sq, &shape),
            ));
            if let Some(max) = &s.max_exp_avg_sq {
                out.push((format!("{name}.max_exp_avg_sq"), buffer_tensor(max, &shape)));
            }
            out.push((format!("{name}.step"), step_tensor(s.step)));
        }
        out
    }

    fn adam_load(
        &mut self,
        model: &dyn Module<E>,
        entries: Vec<(String, Tensor<E>)>,
    ) -> Result<(), StateError> {
        let mut reader = StateReader::new(entries)?;
        let mut state = HashMap::new();
        for (name, id, shape) in param_list(model) {
            let Some(ts) = reader.take_param(&name, &self.slots(&shape))? else {
                continue;
            };
            let step = step_from_tensor(&name, ts.last().expect("step slot"))?;
            check_values(&format!("{name}.exp_avg"), &ts[0], Values::Finite)?;
            check_values(&format!("{name}.exp_avg_sq"), &ts[1], Values::NonNegative)?;
            if self.amsgrad {
                check_values(
                    &format!("{name}.max_exp_avg_sq"),
                    &ts[2],
                    Values::NonNegative,
                )?;
            }
            let s = AdamState {
                step,
                exp_avg: ts[0].to_vec(),
                exp_avg_sq: ts[1].to_vec(),
                max_exp_avg_sq: self.amsgrad.then(|| ts[2].to_vec()),
            };
            state.insert(id, s);
        }
        reader.finish()?;
        self.state = state;
        Ok(())
    }
}

/// `a + w (b − a)`, computed as PyTorch's `lerp` does (from the nearer end).
fn lerp<E: Float>(a: E, b: E, w: E) -> E {
    if w.to_f64().abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (E::ONE - w)
    }
}

impl<E: Float> Optimizer<E> for Adam<E> {
    fn update(&mut self, param: &mut Param<E>, grad: &Tensor<E>) {
        self.adam_update(param, grad, "Adam");
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    #[track_caller]
    fn set_lr(&mut self, lr: f64) {
        check_non_negative("Adam", "lr", lr);
        self.lr = lr;
    }

    fn state_dict(&self, model: &dyn Module<E>) -> Vec<(String, Tensor<E>)> {
        self.adam_state_dict(model)
    }

    fn load_state_dict(
        &mut self,
        model: &dyn Module<E>,
        entries: Vec<(String, Tensor<E>)>,
    ) -> Result<(), StateError> {
        self.adam_load(model, entries)
    }
}

/// AdamW (Loshchilov & Hutter, 2019, "Decoupled Weight Decay
/// Regularization"): Adam whose weight decay shrinks the weights directly
/// instead of entering the gradient, with PyTorch's update equations.
///
/// For each parameter `p` with gradient `g`, at its step `t`:
///
/// ```text
/// p ← p − γ λ p                               (decoupled weight decay λ, before the Adam step)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// v_max ← max(v_max, v)                       (amsgrad; then v_max replaces v below)
/// p ← p − γ / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Defaults as PyTorch: `betas = (0.9, 0.999)`, `eps = 1e-8`,
/// `weight_decay = 0.01`, no AMSGrad. State is saved as for [`Adam`].
///
/// ```
/// use tapegrad_nn::optim::{AdamW, Optimizer};
/// use tapegrad_nn::Param;
/// use tapegrad_tensor::Tensor;
///
/// // With a zero gradient only the decay acts: p ← (1 − γλ) p.
/// let mut w = Param::new(Tensor::<f64>::from_vec(vec![2.0], &[1]));
/// let mut opt = AdamW::new(0.1).weight_decay(0.5);
/// opt.update(&mut w, &Tensor::zeros(&[1]));
/// assert!((w.value().item() - 1.9).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct AdamW<E: Float = f32> {
    inner: Adam<E>,
}

impl<E: Float> AdamW<E> {
    /// AdamW with learning rate `lr` and PyTorch's other defaults (weight decay 0.01).
    ///
    /// # Panics
    /// If `lr` is negative, infinite or NaN.
    #[track_caller]
    pub fn new(lr: f64) -> Self {
        let mut inner = Adam::new(lr).weight_decay(0.01);
        inner.decoupled = true;
        AdamW { inner }
    }

    /// Sets `(β₁, β₂)` (default `(0.9, 0.999)`); see [`Adam::betas`].
    #[track_caller]
    pub fn betas(self, beta1: f64, beta2: f64) -> Self {
        AdamW {
            inner: self.inner.betas(beta1, beta2),
        }
    }

    /// Sets `ε` (default `1e-8`).
    ///
    /// # Panics
    /// If `eps` is negative, infinite or NaN.
    #[track_caller]
    pub fn eps(self, eps: f64) -> Self {
        AdamW {
            inner: self.inner.eps(eps),
        }
    }

    /// Sets the decoupled weight decay `λ` (default 0.01): `p ← p − γ λ p` each step.
    ///
    /// # Panics
    /// If `weight_decay` is negative, infinite or NaN.
    #[track_caller]
    pub fn weight_decay(self, weight_decay: f64) -> Self {
        AdamW {
            inner: self.inner.weight_decay(weight_decay),
        }
    }

    /// Turns AMSGrad on or off (default off); see [`Adam::amsgrad`].
    pub fn amsgrad(self, amsgrad: bool) -> Self {
        AdamW {
            inner: self.inner.amsgrad(amsgrad),
        }
    }
}

impl<E: Float> Optimizer<E> for AdamW<E> {
    fn update(&mut self, param: &mut Param<E>, grad: &Tensor<E>) {
        self.inner.adam_update(param, grad, "AdamW");
    }

    fn lr(&self) -> f64 {
        self.inner.lr
    }

    #[track_caller]
    fn set_lr(&mut self, lr: f64) {
        check_non_negative("AdamW", "lr", lr);
        self.inner.lr = lr;
    }

    fn state_dict(&self, model: &dyn Module<E>) -> Vec<(String, Tensor<E>)> {
        self.inner.adam_state_dict(model)
    }

    fn load_state_dict(
        &mut self,
        model: &dyn Module<E>,
        entries: Vec<(String, Tensor<E>)>,
    ) -> Result<(), StateError> {
        self.inner.adam_load(model, entries)
    }
}
