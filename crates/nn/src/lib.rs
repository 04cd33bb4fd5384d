//! # tapegrad-nn
//!
//! Neural-network building blocks on top of `tapegrad-autodiff`: data
//! loading and batching ([`data`]) and weights on disk as safetensors
//! ([`checkpoint`]).
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod module;
pub mod param;

pub use module::{visit_child, visit_child_mut, Module, Sequential};
pub use param::Param;
