//! The `Module` trait (forward + a visitor over named parameters) and
//! `Sequential`.

use crate::param::Param;
use tapegrad_autodiff::{Gradients, Var};
use tapegrad_tensor::{Float, Tensor};

/// A layer or model: a forward pass on vars and its named parameters.
///
/// Parameter names are dotted paths, as in PyTorch's `state_dict`
/// (`"0.weight"`, `"encoder.fc1.bias"`): containers prefix their children's
/// names with the child's name or index.
pub trait Module<E: Float = f32> {
    /// The forward pass. Parameters are bound to `x`'s tape.
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E>;

    /// Calls `f(name, param)` for every parameter.
    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>));

    /// Calls `f(name, param)` for every parameter, mutably (optimisers, loading).
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>));

    /// Switches training mode (dropout active) on or off; containers pass it on.
    fn set_training(&mut self, _training: bool) {}

    /// A short description for tables (`"Linear(64 -> 128)"`).
    fn describe(&self) -> String {
        std::any::type_name::<Self>()
            .rsplit("::")
            .next()
            .unwrap_or("Module")
            .to_string()
    }

    /// Number of scalar weights.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |_, p| n += p.numel());
        n
    }

    /// Every parameter's name and current value.
    fn named_parameters(&self) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        self.visit_params(&mut |name, p| out.push((name.to_string(), p.value().clone())));
        out
    }

    /// Every parameter's name and gradient in `grads` (zeros if none flowed).
    fn named_grads(&self, grads: &Gradients<E>) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        self.visit_params(&mut |name, p| {
            let g = p
                .grad(grads)
                .cloned()
                .unwrap_or_else(|| Tensor::zeros(p.shape()));
            out.push((name.to_string(), g));
        });
        out
    }
}

/// Visits a child module's parameters with `prefix.` in front of their names.
pub fn visit_child<E: Float, M: Module<E> + ?Sized>(
    child: &M,
    prefix: &str,
    f: &mut dyn FnMut(&str, &Param<E>),
) {
    child.visit_params(&mut |name, p| f(&format!("{prefix}.{name}"), p));
}

/// Mutable [`visit_child`].
pub fn visit_child_mut<E: Float, M: Module<E> + ?Sized>(
    child: &mut M,
    prefix: &str,
    f: &mut dyn FnMut(&str, &mut Param<E>),
) {
    child.visit_params_mut(&mut |name, p| f(&format!("{prefix}.{name}"), p));
}

/// Layers applied one after another; parameters are named `"{index}.{name}"`.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::{Module, Sequential};
/// use tapegrad_tensor::Tensor;
///
/// let model: Sequential<f32> = Sequential::new();
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[2, 3]));
/// assert_eq!(model.forward(x).value().to_vec(), vec![1.0; 6]); // empty = identity
/// ```
pub struct Sequential<E: Float = f32> {
    layers: Vec<Box<dyn Module<E>>>,
}

impl<E: Float> Default for Sequential<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Float> Sequential<E> {
    /// An empty sequence (the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// Appends a layer (builder style).
    #[allow(clippy::should_implement_trait)] // a builder step, not `std::ops::Add`
    pub fn add(mut self, layer: impl Module<E> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a layer.
    pub fn push(&mut self, layer: impl Module<E> + 'static) {
        self.layers.push(Box::new(layer));
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Module<E>>] {
        &self.layers
    }

    /// Mutable access to the layers.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Module<E>>] {
        &mut self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True if there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<E: Float> Module<E> for Sequential<E> {
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        self.layers.iter().fold(x, |h, layer| layer.forward(h))
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            visit_child(layer.as_ref(), &i.to_string(), f);
        }
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            visit_child_mut(layer.as_mut(), &i.to_string(), f);
        }
    }

    fn set_training(&mut self, training: bool) {
        for layer in &mut self.layers {
            layer.set_training(training);
        }
    }

    fn describe(&self) -> String {
        let inner: Vec<String> = self.layers.iter().map(|l| l.describe()).collect();
        format!("Sequential[{}]", inner.join(", "))
    }
}
