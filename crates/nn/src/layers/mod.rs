//! Layers: each a [`Module`](crate::Module), generic over the element type
//! so that a whole model can be gradient-checked in `f64`.
//!
//! | layer | forward |
//! |---|---|
//! | [`Linear`] | `x Wᵀ + b` over the last axis |
//! | [`ReLU`], [`LeakyReLU`], [`Sigmoid`], [`Tanh`], [`GELU`], [`Softmax`] | elementwise / along an axis |
//! | [`Dropout`] | inverted dropout in training, identity in evaluation |
//! | [`LayerNorm`] | normalise the trailing axes, then scale and shift |
//! | [`Embedding`] | rows of a table picked by index |
//! | [`Flatten`] | `[n, a, b, ..] -> [n, a·b·..]` |
//! | [`Residual`] | `x + α · branch(x)` around any module |
//!
//! The layers with weights also have a functional form taking the weights
//! as vars ([`linear`], [`layer_norm`]), which is what their `forward`
//! calls: useful to gradient-check a model with its weights as inputs.
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::layers::{Linear, ReLU};
//! use tapegrad_nn::{Module, Sequential};
//! use tapegrad_tensor::Tensor;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model = Sequential::new()
//!     .add(Linear::new(4, 8, &mut rng))
//!     .add(ReLU)
//!     .add(Linear::new(8, 2, &mut rng));
//! let tape = Tape::<f32>::new();
//! let y = model.forward(tape.constant(Tensor::ones(&[5, 4])));
//! assert_eq!(y.shape().as_slice(), &[5, 2]);
//! assert_eq!(model.num_parameters(), 4 * 8 + 8 + 8 * 2 + 2);
//! assert_eq!(model.describe(), "Sequential[Linear(4 -> 8), ReLU, Linear(8 -> 2)]");
//! ```

mod activation;
mod dropout;
mod embedding;
mod flatten;
mod layer_norm;
mod linear;
mod residual;

pub use activation::{LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, GELU};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use layer_norm::{layer_norm, LayerNorm};
pub use linear::{linear, Linear};
pub use residual::Residual;
