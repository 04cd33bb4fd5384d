//! The initialisation study: why deep networks' gradients vanish or explode,
//! and what zero, plain random, small random, Xavier and He initialisation
//! do about it, measured on deep MLPs.
//!
//! The theory, for a layer `z = W h` with `fan_in = n` and i.i.d. weights of
//! variance `σ²`: `Var z = n σ² E[h²]`. Forward, the signal keeps its scale
//! when `n σ² E[φ(z)²] = Var z`; backward, the gradient keeps its scale when
//! `n σ² E[φ'(z)²] = 1`.
//!
//! - **Xavier** (`σ² = 2 / (fan_in + fan_out)`, `= 1/n` for square layers)
//!   keeps both for a function that is linear near 0 (tanh): Glorot &
//!   Bengio (2010).
//! - **ReLU** passes `E[h²] = Var z / 2`, so with Xavier every layer halves
//!   the variance (the std shrinks by √2 per layer); **He** (`σ² = 2/n`)
//!   doubles it back: He et al. (2015).
//! - **N(0, 1)** multiplies the variance by about `n` per layer (ReLU:
//!   explodes; tanh, sigmoid: saturate); **N(0, 0.01²)** multiplies it by
//!   `n · 10⁻⁴` (the signal dies).
//! - **Zeros** gives every unit of a layer the same value and the same
//!   gradient, forever: the layer acts as a single unit.
//!
//! - **Orthogonal** (Saxe et al. 2014) makes every singular value of each
//!   weight the gain, so norms are kept exactly, not just on average;
//!   **LSUV** (Mishkin & Matas 2016) starts there and rescales each layer
//!   until its output has unit variance on real data.
//!
//! - Initialisation is not the only cure: a [`Cure`] adds residual paths
//!   with a scaled branch (the signal and gradient keep an identity route
//!   through every block) or LayerNorm before each activation (the forward
//!   signal is normalised whatever the weights' scale).
//!
//! [`flow_at_init`] measures a fresh model with the
//! [`diagnostics`](crate::diagnostics) ([`hidden_verdict`] judges the
//! hidden layers alone, [`output_gain`] gives the output layer's share);
//! [`train`] gives every configuration the same [`Budget`]. A study runs
//! every configuration over several seeds ([`config_seed`]) and reports
//! each number as a [`Spread`]: one draw of a chaotic network is not a
//! result.

mod config;
mod histograms;
mod run;
mod spread;

pub use config::{Activation, Cure, MlpConfig, Scheme};
pub use histograms::{histogram, layer_values, LayerValues};
pub use run::{
    accuracy, config_seed, flow_at_init, forward_tapped, hidden_verdict, output_gain, standardize,
    train, Budget, TrainOutcome, INIT_BATCH,
};
pub use spread::{sig3, Spread};
