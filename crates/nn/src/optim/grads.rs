//! Where an optimiser finds each parameter's gradient: straight from the
//! tape's [`Gradients`], or from an owned [`ParamGrads`] that can be
//! clipped, scaled or accumulated first.

use crate::module::Module;
use crate::param::Param;
use std::collections::HashMap;
use tapegrad_autodiff::Gradients;
use tapegrad_tensor::{Float, Tensor};

/// Something that gives a parameter's gradient: [`Gradients`] (by the
/// parameter's binding on the tape) or [`ParamGrads`] (by its id).
pub trait GradSource<E: Float = f32> {
    /// The gradient of `param`, or `None` if it has none (the optimiser
    /// then leaves that parameter and its state alone).
    fn grad_of(&self, param: &Param<E>) -> Option<&Tensor<E>>;
}

impl<E: Float> GradSource<E> for Gradients<E> {
    fn grad_of(&self, param: &Param<E>) -> Option<&Tensor<E>> {
        param.grad(self)
    }
}

/// The gradients of a model's parameters, owned and keyed by parameter, so
/// they can be changed before a step: clipped ([`clip_grad_norm`],
/// [`clip_grad_value`]), scaled, or summed over several micro-batches.
///
/// Only parameters that received a gradient are held, in the model's
/// visiting order.
///
/// [`clip_grad_norm`]: super::clip_grad_norm
/// [`clip_grad_value`]: super::clip_grad_value
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::optim::ParamGrads;
/// use tapegrad_nn::{Module, Param};
/// use tapegrad_tensor::Tensor;
/// # struct Scale { w: Param<f64> }
/// # impl Module<f64> for Scale {
/// #     fn forward<'t>(&self, x: tapegrad_autodiff::Var<'t, f64>) -> tapegrad_autodiff::Var<'t, f64> { x * self.w.bind(x.tape()) }
/// #     fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f64>)) { f("w", &self.w) }
/// #     fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f64>)) { f("w", &mut self.w) }
/// # }
/// let model = Scale { w: Param::new(Tensor::from_vec(vec![2.0], &[1])) };
/// let mut total = ParamGrads::new();
/// for x in [1.0, 3.0] {
///     // two micro-batches: d/dw (w x) = x
///     let tape = Tape::new();
///     let grads = model.forward(tape.constant(Tensor::from_vec(vec![x], &[1]))).sum_all().backward();
///     total.accumulate(&model, &grads);
/// }
/// assert_eq!(total.by_name("w").unwrap().to_vec(), vec![4.0]);
/// ```
#[derive(Clone, Debug)]
pub struct ParamGrads<E: Float = f32> {
    entries: Vec<(String, u64, Tensor<E>)>,
    index: HashMap<u64, usize>,
}

impl<E: Float> Default for ParamGrads<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Float> GradSource<E> for ParamGrads<E> {
    fn grad_of(&self, param: &Param<E>) -> Option<&Tensor<E>> {
        self.get(param)
    }
}

impl<E: Float> ParamGrads<E> {
    /// No gradients.
    pub fn new() -> Self {
        ParamGrads {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The gradient of every parameter of `model` that has one in `grads`.
    pub fn collect(model: &dyn Module<E>, grads: &Gradients<E>) -> Self {
        let mut out = ParamGrads::new();
        out.accumulate(model, grads);
        out
    }

    /// Adds `grads` to the gradients held (gradient accumulation): a
    /// parameter seen for the first time gets its gradient, one already
    /// held gets the sum.
    pub fn accumulate(&mut self, model: &dyn Module<E>, grads: &Gradients<E>) {
        model.visit_params(&mut |name, p| {
            let Some(g) = p.grad(grads) else { return };
            match self.index.get(&p.id()) {
                Some(&i) => self.entries[i].2 = self.entries[i].2.add(g),
                None => {
                    self.index.insert(p.id(), self.entries.len());
                    self.entries.push((name.to_string(), p.id(), g.clone()));
                }
            }
        });
    }

    /// Sets the gradient of `param` (named `name`, as the model visits it)
    /// to `grad`, replacing any held: how gradients computed elsewhere
    /// (averaged across processes by data-parallel training, say) become
    /// an optimiser's input. A new parameter goes after those held.
    ///
    /// # Panics
    /// If `grad`'s shape differs from `param`'s.
    #[track_caller]
    pub fn insert(&mut self, name: &str, param: &Param<E>, grad: Tensor<E>) {
        if grad.shape() != param.shape() {
            panic!(
                "ParamGrads::insert: gradient of '{name}' has shape {:?}, the parameter has {:?}",
                grad.shape(),
                param.shape()
            );
        }
        match self.index.get(&param.id()) {
            Some(&i) => self.entries[i].2 = grad,
            None => {
                self.index.insert(param.id(), self.entries.len());
                self.entries.push((name.to_string(), param.id(), grad));
            }
        }
    }

    /// The gradient of `param`, if held.
    pub fn get(&self, param: &Param<E>) -> Option<&Tensor<E>> {
        self.index.get(&param.id()).map(|&i| &self.entries[i].2)
    }

    /// The gradient of the parameter named `name` (`"0.weight"`), if held.
    pub fn by_name(&self, name: &str) -> Option<&Tensor<E>> {
        self.entries
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, g)| g)
    }

    /// `(name, gradient)` pairs in the model's visiting order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor<E>)> {
        self.entries.iter().map(|(n, _, g)| (n.as_str(), g))
    }

    /// Number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no parameter has a gradient.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Replaces every gradient `g` by `f(g)` (same shape).
    ///
    /// # Panics
    /// If `f` changes a gradient's shape.
    #[track_caller]
    pub fn map(&mut self, f: impl Fn(&Tensor<E>) -> Tensor<E>) {
        for (name, _, g) in &mut self.entries {
            let new = f(g);
            if new.shape() != g.shape() {
                panic!(
                    "ParamGrads::map: gradient of '{name}' changed shape from {:?} to {:?}",
                    g.shape(),
                    new.shape()
                );
            }
            *g = new;
        }
    }

    /// Multiplies every gradient by `factor`: `g ← factor · g`.
    pub fn scale(&mut self, factor: f64) {
        self.map(|g| g.mul_scalar(factor));
    }
}
