//! Activation layers: parameter-free modules wrapping the `Var` ops
//! (`relu`, `leaky_relu`, `sigmoid`, `tanh`, `gelu`, `softmax`).
//!
//! ```
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::layers::{LeakyReLU, ReLU};
//! use tapegrad_nn::Module;
//! use tapegrad_tensor::Tensor;
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.constant(Tensor::from_vec(vec![-2.0, 0.0, 3.0], &[3]));
//! assert_eq!(ReLU.forward(x).value().to_vec(), vec![0.0, 0.0, 3.0]);
//! assert_eq!(LeakyReLU::new(0.1).forward(x).value().to_vec(), vec![-0.2, 0.0, 3.0]);
//! ```

use crate::module::Module;
use tapegrad_autodiff::Var;
use tapegrad_tensor::Float;

/// Implements `Module` for a parameter-free layer given its forward.
macro_rules! stateless_module {
    ($ty:ty, |$s:ident, $x:ident| $forward:expr, |$d:ident| $describe:expr) => {
        impl<E: Float> Module<E> for $ty {
            #[track_caller]
            fn forward<'t>(&self, $x: Var<'t, E>) -> Var<'t, E> {
                let $s = self;
                $forward
            }
            fn describe(&self) -> String {
                let $d = self;
                $describe
            }
        }
    };
}

/// `max(x, 0)`. Derivative 1 for `x > 0`, else 0 (0 at the kink, as PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReLU;

/// `x` for `x > 0`, else `slope · x`. Derivative 1 or `slope`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// The negative slope (PyTorch's default 0.01).
    pub slope: f64,
}

impl LeakyReLU {
    /// Leaky ReLU with negative slope `slope`.
    ///
    /// # Panics
    /// If `slope` is infinite or NaN (every output, or every gradient,
    /// would be NaN or infinite).
    #[track_caller]
    pub fn new(slope: f64) -> Self {
        if !slope.is_finite() {
            panic!("LeakyReLU: slope must be finite, got {slope}");
        }
        LeakyReLU { slope }
    }
}

impl Default for LeakyReLU {
    /// Slope 0.01, as PyTorch.
    fn default() -> Self {
        LeakyReLU { slope: 0.01 }
    }
}

/// The logistic sigmoid `σ(x) = 1 / (1 + e^-x)`, computed stably.
/// Derivative `σ(x)(1 - σ(x))`, at most 1/4: it saturates for large |x|.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

/// `tanh x`. Derivative `1 - tanh² x`; saturates for large |x|.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

/// The exact GELU `x Φ(x)` (Φ the standard normal CDF), as PyTorch's
/// default `approximate="none"`. Derivative `Φ(x) + x φ(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GELU;

/// Softmax along `axis`: `e^(xᵢ) / Σⱼ e^(xⱼ)`, computed as
/// `exp(x - logsumexp(x))` so large logits do not overflow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    /// The axis the probabilities sum to 1 along (negative counts from the end).
    pub axis: isize,
}

impl Softmax {
    /// Softmax along `axis`.
    pub fn new(axis: isize) -> Self {
        Softmax { axis }
    }
}

stateless_module!(ReLU, |_s, x| x.relu(), |_d| "ReLU".to_string());
stateless_module!(LeakyReLU, |s, x| x.leaky_relu(s.slope), |d| format!(
    "LeakyReLU({})",
    d.slope
));
stateless_module!(Sigmoid, |_s, x| x.sigmoid(), |_d| "Sigmoid".to_string());
stateless_module!(Tanh, |_s, x| x.tanh(), |_d| "Tanh".to_string());
stateless_module!(GELU, |_s, x| x.gelu(), |_d| "GELU".to_string());
stateless_module!(Softmax, |s, x| x.softmax(s.axis), |d| format!(
    "Softmax(axis={})",
    d.axis
));
