//! `Flatten`: keeps the batch axis, merges the rest.

use crate::module::Module;
use tapegrad_autodiff::Var;
use tapegrad_tensor::Float;

/// `[n, a, b, ..] -> [n, a·b·..]`, elements in row-major order (PyTorch's
/// `nn.Flatten()` with its defaults `start_dim = 1`, `end_dim = -1`); a
/// 1-D input `[n]` becomes `[n, 1]`. A view when the input is contiguous.
/// The gradient is reshaped back.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::{layers::Flatten, Module};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::zeros(&[8, 3, 4, 4]));
/// assert_eq!(Flatten.forward(x).shape().as_slice(), &[8, 48]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flatten;

impl<E: Float> Module<E> for Flatten {
    /// Merges every axis after the first.
    ///
    /// # Panics
    /// If `x` is 0-D.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        if x.ndim() == 0 {
            panic!("Flatten: needs an input with a batch axis, got a 0-D value");
        }
        x.flatten()
    }

    fn describe(&self) -> String {
        "Flatten".to_string()
    }
}
