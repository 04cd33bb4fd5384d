//! The `Module` trait (forward, visitors over named parameters and buffers,
//! the state dict built on them) and `Sequential`.

use crate::checkpoint::{self, CheckpointError};
use crate::param::Param;
use std::collections::BTreeMap;
use tapegrad_autodiff::{Gradients, Var};
use tapegrad_tensor::{Float, Tensor};

/// A layer or model: a forward pass on vars, its named parameters and its
/// named buffers.
///
/// Parameter and buffer names are dotted paths, as in PyTorch's
/// `state_dict` (`"0.weight"`, `"encoder.fc1.bias"`, `"1.running_mean"`):
/// containers prefix their children's names with the child's name or index.
///
/// Buffers are state that is not trained but belongs to the model, such as
/// [`BatchNorm2d`](crate::conv::BatchNorm2d)'s running statistics. Both
/// buffer visitors do nothing by default, which is right for a layer
/// without buffers; a container must forward them to its children (with
/// [`visit_child_buffers`] and [`visit_child_buffers_mut`]) as it forwards
/// parameters, or its children's buffers are left out of its
/// [`state_dict`](Module::state_dict).
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use tapegrad_nn::{BatchNorm2d, Conv2d, Module, Sequential};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let model: Sequential<f32> = Sequential::new()
///     .add(Conv2d::new(1, 2, 3, &mut rng))
///     .add(BatchNorm2d::new(2));
/// let names: Vec<String> = model.state_dict().into_iter().map(|(name, _)| name).collect();
/// assert_eq!(
///     names,
///     [
///         "0.weight", "0.bias", "1.weight", "1.bias", // parameters, then
///         "1.running_mean", "1.running_var", "1.num_batches_tracked", // buffers
///     ]
/// );
/// let mut copy: Sequential<f32> = Sequential::new()
///     .add(Conv2d::new(1, 2, 3, &mut rng))
///     .add(BatchNorm2d::new(2));
/// copy.load_state_dict(model.state_dict().into_iter().collect())?;
/// assert_eq!(copy.named_parameters()[0].1.to_vec(), model.named_parameters()[0].1.to_vec());
/// # Ok::<(), tapegrad_nn::checkpoint::CheckpointError>(())
/// ```
pub trait Module<E: Float = f32> {
    /// The forward pass. Parameters are bound to `x`'s tape.
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E>;

    /// Calls `f(name, param)` for every parameter. None by default (for
    /// layers without parameters: activations, pooling, dropout).
    fn visit_params(&self, _f: &mut dyn FnMut(&str, &Param<E>)) {}

    /// Calls `f(name, param)` for every parameter, mutably (optimisers,
    /// loading). None by default.
    fn visit_params_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Param<E>)) {}

    /// Calls `f(name, buffer)` for every buffer (non-trainable state such as
    /// running statistics). None by default.
    fn visit_buffers(&self, _f: &mut dyn FnMut(&str, &Tensor<E>)) {}

    /// Calls `f(name, buffer)` for every buffer, mutably (loading). A layer
    /// may panic if `f` changes a buffer's shape. None by default.
    fn visit_buffers_mut(&mut self, _f: &mut dyn FnMut(&str, &mut Tensor<E>)) {}

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

    /// Every buffer's name and current value.
    fn named_buffers(&self) -> Vec<(String, Tensor<E>)> {
        let mut out = Vec::new();
        self.visit_buffers(&mut |name, b| out.push((name.to_string(), b.clone())));
        out
    }

    /// Everything that defines the model, as PyTorch's `state_dict()`: every
    /// parameter, then every buffer, each in visit order, by dotted name.
    ///
    /// PyTorch lists each module's parameters and buffers together (so
    /// `"1.running_mean"` would follow `"1.bias"`); the names are the same,
    /// and the order does not matter to [`load_state_dict`](Module::load_state_dict)
    /// nor to a safetensors file (which sorts them). Save it with
    /// [`checkpoint::save_safetensors`], or use [`checkpoint::save_module`].
    fn state_dict(&self) -> Vec<(String, Tensor<E>)> {
        let mut out = self.named_parameters();
        out.extend(self.named_buffers());
        out
    }

    /// Replaces every parameter and buffer with the tensor of the same name,
    /// strictly, as PyTorch's `load_state_dict(strict=True)`: each one must
    /// be present with its shape, and a name that is neither is an error.
    /// The tensors are all checked first, so on an error (which names the
    /// tensor, see [`checkpoint::check_tensors`]) nothing has changed.
    ///
    /// Parameters keep their identity ([`Param::set`]), so optimiser state
    /// keyed by them still applies.
    fn load_state_dict(
        &mut self,
        tensors: BTreeMap<String, Tensor<E>>,
    ) -> Result<(), CheckpointError> {
        checkpoint::load_state_into(self, tensors)
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

/// Visits a child module's buffers with `prefix.` in front of their names.
pub fn visit_child_buffers<E: Float, M: Module<E> + ?Sized>(
    child: &M,
    prefix: &str,
    f: &mut dyn FnMut(&str, &Tensor<E>),
) {
    child.visit_buffers(&mut |name, b| f(&format!("{prefix}.{name}"), b));
}

/// Mutable [`visit_child_buffers`].
pub fn visit_child_buffers_mut<E: Float, M: Module<E> + ?Sized>(
    child: &mut M,
    prefix: &str,
    f: &mut dyn FnMut(&str, &mut Tensor<E>),
) {
    child.visit_buffers_mut(&mut |name, b| f(&format!("{prefix}.{name}"), b));
}

/// Layers applied one after another; parameters and buffers are named
/// `"{index}.{name}"`.
///
/// The layers are held as `Box<dyn Module<E> + Send>`, so a `Sequential`
/// is [`Send`] and a model built from it can be moved to (and trained on)
/// another thread; every layer of this crate is `Send`. It is not `Sync`:
/// a [`Param`] records its binding to a tape in a `Cell` (see the crate
/// docs on threads).
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
    layers: Vec<Box<dyn Module<E> + Send>>,
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

    /// Appends a layer (builder style). The layer must be `Send`, as every
    /// layer of this crate is, so that the model can move between threads.
    #[allow(clippy::should_implement_trait)] // a builder step, not `std::ops::Add`
    pub fn add(mut self, layer: impl Module<E> + Send + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a layer (which must be `Send`, see [`add`](Self::add)).
    pub fn push(&mut self, layer: impl Module<E> + Send + 'static) {
        self.layers.push(Box::new(layer));
    }

    /// Appends a layer that is already boxed (one of several layer types
    /// picked at run time).
    pub fn push_boxed(&mut self, layer: Box<dyn Module<E> + Send>) {
        self.layers.push(layer);
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Module<E> + Send>] {
        &self.layers
    }

    /// Mutable access to the layers.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Module<E> + Send>] {
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

    /// The forward pass with gradient checkpointing every `every` layers:
    /// each run of `every` layers is a [`checkpoint`]ed block, so between
    /// forward and backward only the blocks' inputs and outputs are held
    /// (about `1/every` of the activations, plus one block while backward
    /// recomputes it). Gradients, of any order, are bit-identical to
    /// [`forward`](Module::forward)'s; dropout inside a block replays its mask.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_nn::{Linear, Module, Sequential, Tanh};
    /// use tapegrad_tensor::Tensor;
    ///
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let mut model = Sequential::<f64>::new();
    /// for _ in 0..6 {
    ///     model.push(Linear::new(4, 4, &mut rng));
    ///     model.push(Tanh);
    /// }
    /// let x = Tensor::ones(&[2, 4]);
    /// let grad = |checkpointed: bool| {
    ///     let tape = Tape::new();
    ///     let h = tape.var(x.clone());
    ///     let y = if checkpointed { model.forward_checkpointed(h, 4) } else { model.forward(h) };
    ///     y.sum_all().backward()[h].to_vec()
    /// };
    /// assert_eq!(grad(true), grad(false));
    /// ```
    ///
    /// # Panics
    /// If `every` is 0.
    ///
    /// [`checkpoint`]: tapegrad_autodiff::checkpoint
    #[track_caller]
    pub fn forward_checkpointed<'t>(&self, x: Var<'t, E>, every: usize) -> Var<'t, E> {
        if every == 0 {
            panic!("Sequential::forward_checkpointed: every must be at least 1 layer");
        }
        self.layers.chunks(every).fold(x, |h, block| {
            tapegrad_autodiff::checkpoint(h, |h| block.iter().fold(h, |h, layer| layer.forward(h)))
        })
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

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<E>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            visit_child_buffers(layer.as_ref(), &i.to_string(), f);
        }
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<E>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            visit_child_buffers_mut(layer.as_mut(), &i.to_string(), f);
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
