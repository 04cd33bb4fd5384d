//! `Param`: a trainable tensor that lives outside any tape and is bound to
//! the tape of each step.

use std::sync::atomic::{AtomicU64, Ordering};
use tapegrad_autodiff::{Gradients, Tape, Var};
use tapegrad_tensor::{Float, Tensor};

static NEXT_PARAM_ID: AtomicU64 = AtomicU64::new(1);

/// A trainable tensor (a weight or bias).
///
/// A parameter is not on any tape. Each step, [`bind`](Param::bind) puts it
/// on that step's tape as a trainable leaf (once per tape, however many
/// times it is used), and [`grad`](Param::grad) finds its gradient again.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::Param;
/// use tapegrad_tensor::Tensor;
///
/// let w = Param::new(Tensor::<f64>::from_vec(vec![2.0], &[1]));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![3.0], &[1]));
/// let loss = (w.bind(&tape) * x + w.bind(&tape)).sum_all(); // w used twice
/// let grads = loss.backward();
/// assert_eq!(w.grad(&grads).unwrap().to_vec(), vec![4.0]); // x + 1
/// ```
pub struct Param<E: Float = f32> {
    value: Tensor<E>,
    id: u64,
}

impl<E: Float> Clone for Param<E> {
    /// A copy with the same value and a new identity (optimiser state and
    /// bindings are not shared).
    fn clone(&self) -> Self {
        Param::new(self.value.clone())
    }
}

impl<E: Float> std::fmt::Debug for Param<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Param(#{} {:?} {})",
            self.id,
            self.value.shape(),
            E::DTYPE
        )
    }
}

impl<E: Float> Param<E> {
    /// A parameter holding `value`.
    pub fn new(value: Tensor<E>) -> Self {
        Param {
            value,
            id: NEXT_PARAM_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A unique id, stable for the parameter's life (optimisers key state by it).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current value.
    pub fn value(&self) -> &Tensor<E> {
        &self.value
    }

    /// The shape of the value.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// Number of scalar weights.
    pub fn numel(&self) -> usize {
        self.value.numel()
    }

    /// Replaces the value (an optimiser step, or loading a checkpoint).
    ///
    /// # Panics
    /// If the new shape differs from the old one.
    #[track_caller]
    pub fn set(&mut self, value: Tensor<E>) {
        if value.shape() != self.value.shape() {
            panic!(
                "Param::set: new value has shape {:?}, the parameter has {:?}",
                value.shape(),
                self.value.shape()
            );
        }
        self.value = value;
    }

    /// Updates the value in one pass over memory, element by element: for
    /// each `i`, `(p, s) ← f(p, grad[i], s)` with `s` element `i` of each
    /// `state` buffer (an optimiser's moments). In place when this
    /// parameter is the only owner of its storage (after
    /// [`backward_consuming`](tapegrad_autodiff::Var::backward_consuming),
    /// or once the step's tape is dropped); else (the step's tape still
    /// holds the value) the new values go to a fresh buffer in the same
    /// pass, and the tape keeps the old one. Parameters of at least
    /// [`PARALLEL_THRESHOLD`](tapegrad_tensor::tuning::PARALLEL_THRESHOLD)
    /// elements are split over rayon's threads in fixed chunks; every
    /// element's update is its own, so the result is the same bits on any
    /// number of threads.
    ///
    /// ```
    /// use tapegrad_nn::Param;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let mut w = Param::new(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
    /// let mut velocity = vec![0.5, 0.5];
    /// // v ← 0.9 v + g;  p ← p - 0.1 v
    /// w.update_elementwise(&[1.0, -1.0], [&mut velocity], |p, g, [v]| {
    ///     let v = 0.9 * v + g;
    ///     (p - 0.1 * v, [v])
    /// });
    /// assert_eq!(velocity, vec![1.45, -0.55]);
    /// assert!((w.value().to_vec()[0] - 0.855).abs() < 1e-15);
    /// ```
    ///
    /// # Panics
    /// If `grad` or a state buffer does not have one entry per element.
    #[track_caller]
    pub fn update_elementwise<const N: usize>(
        &mut self,
        grad: &[E],
        state: [&mut [E]; N],
        f: impl Fn(E, E, [E; N]) -> (E, [E; N]) + Sync,
    ) {
        let n = self.value.numel();
        if grad.len() != n || state.iter().any(|s| s.len() != n) {
            panic!(
                "Param::update_elementwise: parameter of {n} elements, gradient of {}, state of {:?}",
                grad.len(),
                state.iter().map(|s| s.len()).collect::<Vec<_>>()
            );
        }
        if let Some(values) = self.value.as_mut_slice() {
            crate::elementwise_update::update_in_place(values, grad, state, f);
            return;
        }
        // The storage is shared (a tape still holds the value) or strided:
        // write the new values into a buffer of their own, reading the old
        // ones where they are (one pass, as in place).
        let old = self.value.contiguous();
        let src = old.as_slice().expect("contiguous");
        let fresh = crate::elementwise_update::update_into(src, grad, state, f);
        self.value = Tensor::from_vec(fresh, self.value.shape());
    }

    /// This parameter as a trainable var on `tape`: created on first use in
    /// a step, the same var afterwards.
    ///
    /// The binding belongs to the tape ([`Tape::keyed_var`], keyed by
    /// [`id`](Self::id)), so binding the parameter on a second tape in the
    /// middle of a step (evaluating the model elsewhere between forward
    /// and backward) leaves the first tape's leaf, and its gradient, whole.
    #[track_caller]
    pub fn bind<'t>(&self, tape: &'t Tape<E>) -> Var<'t, E> {
        tape.keyed_var(self.id, || self.value.clone())
    }

    /// The var this parameter is bound to on `tape`, if it was bound this step.
    pub fn bound<'t>(&self, tape: &'t Tape<E>) -> Option<Var<'t, E>> {
        tape.keyed(self.id)
    }

    /// The gradient of this parameter in `grads`, if it was bound on the
    /// tape those gradients came from and the loss depends on it.
    pub fn grad<'g>(&self, grads: &'g Gradients<E>) -> Option<&'g Tensor<E>> {
        grads.by_key(self.id)
    }
}

/// Visits a layer's `"weight"` and `"bias"` (each if the layer has it), the
/// names PyTorch gives them, for [`Module::visit_params`](crate::Module::visit_params).
pub(crate) fn visit_weight_bias<E: Float>(
    weight: Option<&Param<E>>,
    bias: Option<&Param<E>>,
    f: &mut dyn FnMut(&str, &Param<E>),
) {
    for (name, p) in [("weight", weight), ("bias", bias)] {
        if let Some(p) = p {
            f(name, p);
        }
    }
}

/// [`visit_weight_bias`] for [`Module::visit_params_mut`](crate::Module::visit_params_mut).
pub(crate) fn visit_weight_bias_mut<E: Float>(
    weight: Option<&mut Param<E>>,
    bias: Option<&mut Param<E>>,
    f: &mut dyn FnMut(&str, &mut Param<E>),
) {
    for (name, p) in [("weight", weight), ("bias", bias)] {
        if let Some(p) = p {
            f(name, p);
        }
    }
}

/// A layer's weight and optional bias bound to `tape`.
pub(crate) fn bind_weight_bias<'t, E: Float>(
    weight: &Param<E>,
    bias: Option<&Param<E>>,
    tape: &'t Tape<E>,
) -> (Var<'t, E>, Option<Var<'t, E>>) {
    (weight.bind(tape), bias.map(|b| b.bind(tape)))
}
