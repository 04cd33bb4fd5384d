//! Labels and gradient hooks on vars.

use crate::tape::Hook;
use crate::var::Var;
use std::panic::Location;
use std::rc::Rc;
use tapegrad_tensor::{Float, Tensor};

impl<'t, E: Float> Var<'t, E> {
    /// Names this node (`"layer3.pre_act"`) and returns the var, so a label
    /// can end an expression. The label shows in [`Tape::summary`](crate::Tape::summary),
    /// [`Tape::to_dot`](crate::Tape::to_dot) and anomaly reports; a second
    /// call replaces the first.
    ///
    /// An op's forward anomaly fires while the op is recorded, before a label
    /// can be set on its output, so the report also names the (labelled) inputs.
    ///
    /// ```
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f32>::new();
    /// let x = tape.var(Tensor::ones(&[3])).label("x");
    /// let h = (x * 2.0).tanh().label("layer1.act");
    /// assert_eq!(h.label_of().as_deref(), Some("layer1.act"));
    /// assert_eq!(x.label_of().as_deref(), Some("x"));
    /// ```
    pub fn label(self, name: impl AsRef<str>) -> Var<'t, E> {
        self.tape.nodes.borrow_mut()[self.id].extras_mut().label = Some(Rc::from(name.as_ref()));
        self
    }

    /// This node's label, if [`label`](Self::label) set one.
    pub fn label_of(self) -> Option<String> {
        self.tape.nodes.borrow()[self.id]
            .label()
            .map(|l| l.to_string())
    }

    /// Adds a hook that sees the gradient flowing into this var during the
    /// backward pass and may replace it; returns the var.
    ///
    /// The hook receives the *total* gradient of the loss with respect to this
    /// node (every path's contribution already summed), once, before the
    /// gradient moves on to the node's inputs. Returning `Some(t)` replaces
    /// it: the replacement is what this node's inputs receive and what
    /// [`Gradients`](crate::Gradients) reports for it. Returning `None` keeps
    /// it. Hooks run in the order they were added, each seeing the previous
    /// one's result.
    ///
    /// With [`Tape::grad`](crate::Tape::grad) (higher order) the hook sees the
    /// gradient's value, and a replacement enters the graph as a constant: it
    /// is not differentiated further.
    ///
    /// ```
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let h = (x * x).retain_grad().register_hook(|g| Some(g.mul_scalar(2.0))); // h = x², dL/dh doubled
    /// let loss = h * 5.0;
    /// let grads = loss.backward();
    /// assert_eq!(grads[h].item(), 10.0);
    /// assert_eq!(grads[x].item(), 60.0); // 2 · 5 · 2x
    /// ```
    ///
    /// # Panics
    /// During backward, if the hook returns a tensor of another shape than the
    /// gradient it was given (the message names this var and this line).
    #[track_caller]
    pub fn register_hook(
        self,
        hook: impl Fn(&Tensor<E>) -> Option<Tensor<E>> + 'static,
    ) -> Var<'t, E> {
        let (id, added_at) = (self.id, Location::caller());
        let checked: Hook<E> = Rc::new(move |g: &Tensor<E>| {
            let replaced = hook(g)?;
            if replaced.shape() != g.shape() {
                panic!(
                    "gradient hook on node #{id} (added at {added_at}) returned shape {:?} for a gradient of shape {:?}",
                    replaced.shape(),
                    g.shape()
                );
            }
            Some(replaced)
        });
        self.tape.nodes.borrow_mut()[self.id]
            .extras_mut()
            .hooks
            .push(checked);
        self
    }

    /// Number of gradient hooks on this var.
    pub fn hook_count(self) -> usize {
        self.tape.nodes.borrow()[self.id].hooks().len()
    }
}
