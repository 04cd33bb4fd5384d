//! `FlowProbe`: taps layer outputs during a forward pass, through the tape's
//! labels and gradient hooks.

use crate::module::Sequential;
use std::cell::RefCell;
use std::rc::Rc;
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// One tapped layer output: its var and the gradient that flowed into it.
pub struct Tap<'t, E: Float> {
    /// Name of the tap (also the node's label on the tape).
    pub name: String,
    /// The tapped var.
    pub var: Var<'t, E>,
    /// Filled by a gradient hook during backward.
    pub grad: Rc<RefCell<Option<Tensor<E>>>>,
}

/// Collects layer outputs of one forward pass and, through hooks, the
/// gradients that flow back into them.
///
/// Nothing here knows what a layer is: [`tap`](FlowProbe::tap) labels any
/// var and hooks its gradient, and [`forward_traced`] taps the output of
/// every child of a [`Sequential`].
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::diagnostics::FlowProbe;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let probe = FlowProbe::new();
/// let x = tape.var(Tensor::from_vec(vec![0.5, -1.0], &[1, 2]));
/// let h = probe.tap("hidden", x.tanh());
/// let _grads = (h * 3.0).sum_all().backward();
/// assert_eq!(probe.taps()[0].grad.borrow().as_ref().unwrap().to_vec(), vec![3.0, 3.0]);
/// ```
pub struct FlowProbe<'t, E: Float> {
    taps: RefCell<Vec<Tap<'t, E>>>,
}

impl<E: Float> Default for FlowProbe<'_, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'t, E: Float> FlowProbe<'t, E> {
    /// An empty probe.
    pub fn new() -> Self {
        FlowProbe {
            taps: RefCell::new(Vec::new()),
        }
    }

    /// Labels `var` with `name`, hooks its gradient, and returns it.
    pub fn tap(&self, name: impl Into<String>, var: Var<'t, E>) -> Var<'t, E> {
        let name = name.into();
        let grad = Rc::new(RefCell::new(None));
        let slot = grad.clone();
        let var = var.label(&name).register_hook(move |g| {
            *slot.borrow_mut() = Some(g.clone());
            None
        });
        self.taps.borrow_mut().push(Tap { name, var, grad });
        var
    }

    /// The taps so far, in forward order.
    pub fn taps(&self) -> std::cell::Ref<'_, Vec<Tap<'t, E>>> {
        self.taps.borrow()
    }
}

/// Runs `model` on `x`, tapping the output of each of its children as
/// `"{index}: {description}"`.
pub fn forward_traced<'t, E: Float>(
    model: &Sequential<E>,
    x: Var<'t, E>,
    probe: &FlowProbe<'t, E>,
) -> Var<'t, E> {
    model.layers().iter().enumerate().fold(x, |h, (i, layer)| {
        probe.tap(format!("{i}: {}", layer.describe()), layer.forward(h))
    })
}
