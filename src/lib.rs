//! # tapegrad
//!
//! A tape-based reverse-mode automatic-differentiation tensor framework.
//! This facade re-exports the three crates and a [`prelude`].
#![warn(missing_docs)]

pub use tapegrad_autodiff as autodiff;
pub use tapegrad_nn as nn;
pub use tapegrad_tensor as tensor;

/// The names most programs need: `use tapegrad::prelude::*;`.
pub mod prelude {
    pub use tapegrad_tensor::{Float, Tensor};
}
