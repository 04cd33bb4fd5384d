//! # tapegrad-nn
//!
//! Neural-network building blocks on top of `tapegrad-autodiff`, generic over
//! the element type so a whole model can be gradient-checked in f64.
//!
//! - [`Param`] and [`Module`]: parameters live outside any tape, are bound to
//!   each step's tape, and are visited by dotted name (`"0.weight"`); buffers
//!   (batch-norm running statistics) are visited too, and both make up a
//!   module's PyTorch-style `state_dict` / `load_state_dict`.
//! - [`init`]: zeros, constant, uniform, normal, Xavier/Glorot, He/Kaiming,
//!   LeCun, orthogonal and `calculate_gain`, as in `torch.nn.init`.
//! - [`layers`], [`conv`], [`recurrent`]: Linear, activations, Dropout,
//!   LayerNorm, Embedding, Flatten, [`Sequential`]; Conv2d, pooling,
//!   BatchNorm2d; RNN, LSTM and GRU cells with an unroll helper.
//! - [`loss`]: mse, cross-entropy (label smoothing), nll, BCE with logits.
//! - [`optim`]: SGD (momentum, Nesterov, weight decay), Adam, AdamW, gradient
//!   clipping, optimiser state that saves and loads.
//! - [`diagnostics`]: per-layer gradient flow, vanishing/exploding verdicts,
//!   terminal tables and SVG charts; [`study`]: the initialisation study.
//! - [`theory`]: mean-field signal propagation (q*, c*, χ₁, ξ_q, ξ_c, the
//!   critical line) by Gauss–Hermite quadrature, beside the study.
//! - [`data`]: the bundled digits, MNIST-style IDX files, seeded batches;
//!   [`checkpoint`]: weights and whole modules as safetensors.
//!
//! ## Threads
//!
//! Every layer, container and optimiser here is [`Send`]: a model (a
//! [`Sequential`] too, whose boxed layers are `dyn Module + Send`) can be
//! built on one thread and trained on another, and sent back. None of the
//! types holding a [`Param`] is [`Sync`]: a parameter remembers its binding
//! to the current step's tape in a `Cell`, so one model must not run
//! forward passes on two threads at once (give each thread its own copy,
//! e.g. through a state dict). Layers with interior state are not `Sync`
//! either: [`Dropout`] (its mask RNG) and [`BatchNorm2d`] (its running
//! statistics). Stateless layers ([`ReLU`], [`MaxPool2d`], ...) are `Send`
//! and `Sync`. Tensors are `Send + Sync` (shared, immutable storage). A
//! step's tape is recorded and differentiated on one thread (its vars
//! borrow it).
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_nn::{Linear, ReLU, Sequential};
//! fn assert_send<T: Send>(_: &T) {}
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model: Sequential<f32> = Sequential::new().add(Linear::new(4, 2, &mut rng)).add(ReLU);
//! assert_send(&model);
//! let model = std::thread::spawn(move || model).join().unwrap(); // trained there, sent back
//! assert_eq!(model.len(), 2);
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod conv;
pub mod curvature;
pub mod data;
pub mod diagnostics;
mod elementwise_update;
pub mod init;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod module;
pub mod optim;
pub mod param;
pub mod per_sample;
pub mod recurrent;
pub mod study;
pub mod theory;

pub use conv::{AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d};
pub use init::Init;
pub use layers::{
    Dropout, Embedding, Flatten, LayerNorm, LeakyReLU, Linear, ReLU, Residual, Sigmoid, Softmax,
    Tanh, GELU,
};
pub use module::{
    visit_child, visit_child_buffers, visit_child_buffers_mut, visit_child_mut, Module, Sequential,
};
pub use optim::Optimizer;
pub use param::Param;
pub use recurrent::{RecurrentCell, GRU, LSTM, RNN};
