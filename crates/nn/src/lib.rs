//! # tapegrad-nn
//!
//! Neural-network building blocks on top of `tapegrad-autodiff`: data
//! loading and batching ([`data`]) and weights on disk as safetensors
//! ([`checkpoint`]).
#![warn(missing_docs)]

pub mod checkpoint;
pub mod conv;
pub mod data;
pub mod diagnostics;
pub mod init;
pub mod layers;
pub mod loss;
pub mod module;
pub mod optim;
pub mod param;
pub mod recurrent;
pub mod study;

pub use conv::{AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d};
pub use init::Init;
pub use layers::{
    Dropout, Embedding, Flatten, LayerNorm, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh, GELU,
};
pub use module::{visit_child, visit_child_mut, Module, Sequential};
pub use optim::Optimizer;
pub use param::Param;
pub use recurrent::{RecurrentCell, GRU, LSTM, RNN};
