//! # tapegrad
//!
//! A tape-based reverse-mode automatic-differentiation tensor framework.
//! This facade re-exports the four crates (`tensor`, `autodiff`, `nn`,
//! `dist` for data-parallel training) and a [`prelude`].
//!
//! ```
//! use tapegrad::prelude::*;
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::from_vec(vec![0.5, -1.0], &[2]));
//! let loss = x.tanh().square().sum_all();
//! let grads = loss.backward();
//! // d/dx tanh²x = 2 tanh x (1 - tanh² x)
//! let want: Vec<f64> = [0.5f64, -1.0].iter().map(|v| 2.0 * v.tanh() * (1.0 - v.tanh().powi(2))).collect();
//! assert!(grads[x].to_vec().iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-15));
//! ```
#![warn(missing_docs)]

pub use tapegrad_autodiff as autodiff;
pub use tapegrad_dist as dist;
pub use tapegrad_nn as nn;
pub use tapegrad_tensor as tensor;

/// The names most programs need: `use tapegrad::prelude::*;`.
pub mod prelude {
    pub use tapegrad_autodiff::{
        checkpoint, gradcheck, gradgradcheck, hessian, hvp, jacfwd, jacrev, jvp, vjp, ConvParams,
        GradcheckOptions, Gradients, Tape, Var,
    };
    pub use tapegrad_nn::conv::{avg_pool2d, batch_norm, conv2d, max_pool2d, BatchNorm2d};
    pub use tapegrad_nn::layers::{layer_norm, linear, Flatten, Sigmoid, GELU};
    pub use tapegrad_nn::loss::{
        binary_cross_entropy_with_logits, cross_entropy, cross_entropy_with, mse, nll,
    };
    pub use tapegrad_nn::optim::{Adam, AdamW, Optimizer, SGD};
    pub use tapegrad_nn::recurrent::{RecurrentCell, GRU, LSTM, RNN};
    pub use tapegrad_nn::{
        Conv2d, Dropout, Init, LayerNorm, Linear, MaxPool2d, Module, Param, ReLU, Sequential, Tanh,
    };
    pub use tapegrad_tensor::{Float, Tensor};
}

/// The README's Rust code blocks, compiled and run as doc tests so that what
/// it shows stays true (blocks marked `rust,ignore` are fragments of a loop).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
