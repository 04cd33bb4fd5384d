//! Optimisers ([`SGD`], [`Adam`], [`AdamW`]) with PyTorch's update
//! equations, gradient clipping ([`clip_grad_norm`], [`clip_grad_value`]),
//! and optimiser state that saves and loads with the weights.
//!
//! A step reads the gradients of one backward pass and updates every
//! parameter of the model that has one:
//!
//! ```text
//! let grads = loss.backward();                  // Gradients of this step's tape
//! opt.step(&mut model, &grads);
//! ```
//!
//! There is no `zero_grad`: gradients are not stored on the parameters but
//! returned fresh by each `backward()`, so nothing accumulates between steps
//! unless asked for with [`ParamGrads::accumulate`]. To clip, collect the
//! gradients into an owned [`ParamGrads`] first:
//!
//! ```text
//! let mut g = ParamGrads::collect(&model, &grads);
//! let total_norm = clip_grad_norm(&mut g, 1.0);
//! opt.step(&mut model, &g);
//! ```
//!
//! State (momentum buffers, moment estimates) is kept per parameter, keyed
//! by [`Param::id`]; [`Optimizer::state_dict`] names it by parameter name so
//! it outlives the process (see [`state`]).
//!
//! A full step on a one-weight model, `loss = (w x − y)²`:
//!
//! ```
//! use tapegrad_autodiff::{Tape, Var};
//! use tapegrad_nn::optim::{Optimizer, SGD};
//! use tapegrad_nn::{Module, Param};
//! use tapegrad_tensor::Tensor;
//!
//! struct Scale {
//!     w: Param<f64>,
//! }
//! impl Module<f64> for Scale {
//!     fn forward<'t>(&self, x: Var<'t, f64>) -> Var<'t, f64> {
//!         x * self.w.bind(x.tape())
//!     }
//!     fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f64>)) {
//!         f("w", &self.w)
//!     }
//!     fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
//!         f("w", &mut self.w)
//!     }
//! }
//!
//! let mut model = Scale { w: Param::new(Tensor::from_vec(vec![0.0], &[1])) };
//! let mut opt = SGD::new(0.1);
//! for _ in 0..50 {
//!     let tape = Tape::new();
//!     let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[2]));
//!     let y = tape.constant(Tensor::from_vec(vec![3.0, 6.0], &[2]));
//!     let loss = (model.forward(x) - y).square().mean_all();
//!     let grads = loss.backward();
//!     opt.step(&mut model, &grads);
//! }
//! assert!((model.w.value().item() - 3.0).abs() < 1e-6);
//! ```

mod adam;
mod clip;
mod grads;
mod sgd;
pub mod state;

pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, clip_grad_norm_with, clip_grad_value};
pub use grads::{GradSource, ParamGrads};
pub use sgd::SGD;
pub use state::StateError;

use crate::module::Module;
use crate::param::Param;
use tapegrad_tensor::{Float, Tensor};

/// An optimiser: updates parameters from their gradients, keeping
/// per-parameter state between steps.
///
/// The trait is object safe, so `Box<dyn Optimizer<E>>` can hold any of
/// them; `&mut model` and `&grads` coerce to the `dyn` arguments.
pub trait Optimizer<E: Float = f32> {
    /// Applies the update equation to one parameter with gradient `grad`
    /// (the building block of [`step`](Optimizer::step)).
    ///
    /// # Panics
    /// If `grad`'s shape differs from the parameter's.
    fn update(&mut self, param: &mut Param<E>, grad: &Tensor<E>);

    /// One optimisation step: [`update`](Optimizer::update)s every parameter
    /// of `model` that has a gradient in `grads` (a [`Gradients`] or a
    /// [`ParamGrads`]). Parameters without a gradient keep their value and
    /// state, as in PyTorch.
    ///
    /// [`Gradients`]: tapegrad_autodiff::Gradients
    fn step(&mut self, model: &mut dyn Module<E>, grads: &dyn GradSource<E>) {
        model.visit_params_mut(&mut |_, p| {
            if let Some(g) = grads.grad_of(p) {
                self.update(p, g);
            }
        });
    }

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (for schedules); state is kept.
    ///
    /// # Panics
    /// If `lr` is negative, infinite or NaN.
    fn set_lr(&mut self, lr: f64);

    /// The state of `model`'s parameters as named tensors
    /// (`"0.weight.exp_avg"`, `"0.weight.step"`, ...), ready for
    /// [`checkpoint::save_safetensors`](crate::checkpoint::save_safetensors).
    /// Parameters never stepped have no entries. Hyperparameters (learning
    /// rate, betas, ...) are not included: they are the optimiser's
    /// construction arguments.
    fn state_dict(&self, model: &dyn Module<E>) -> Vec<(String, Tensor<E>)>;

    /// Replaces the state with `entries` saved by
    /// [`state_dict`](Optimizer::state_dict), matched to `model`'s
    /// parameters by name (so a freshly built model works).
    ///
    /// Strict: an entry that fits no parameter, a parameter with only some
    /// of its entries, a wrong shape, a bad step count or a value no
    /// optimiser could have produced (NaN or infinite anywhere, a negative
    /// second moment) is an error, and the state is then left as it was.
    ///
    /// # Errors
    /// A [`StateError`] naming the entry (and, for a bad value, the element).
    fn load_state_dict(
        &mut self,
        model: &dyn Module<E>,
        entries: Vec<(String, Tensor<E>)>,
    ) -> Result<(), StateError>;
}

/// Panics unless `grad` has the parameter's shape.
#[track_caller]
fn check_grad_shape<E: Float>(param: &Param<E>, grad: &Tensor<E>, opt: &str) {
    if grad.shape() != param.shape() {
        panic!(
            "{opt}: gradient of shape {:?} for a parameter of shape {:?}",
            grad.shape(),
            param.shape()
        );
    }
}
