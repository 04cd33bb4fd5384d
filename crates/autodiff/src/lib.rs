//! # tapegrad-autodiff
//!
//! Tape-based reverse-mode automatic differentiation on
//! [`tapegrad_tensor::Tensor`], with gradient checking.
//!
//! - A [`Tape`] records every op on [`Var`] handles (`Copy`; `a * b + c`
//!   works). Leaves: [`Tape::var`] (trainable) and [`Tape::constant`].
//! - [`Var::backward`] returns [`Gradients`] of a scalar for every node
//!   that needs one. It runs each backward rule on plain tensors, recording
//!   nothing.
//! - [`Tape::grad`] returns gradients as new vars on the same tape, so they
//!   can be differentiated again (Hessian-vector products, gradient penalties).
//! - Each op's backward rule is written once ([`ops`]), in [`GradOps`]
//!   operations, and serves both.
//! - [`gradcheck`] and [`gradgradcheck`] compare against finite differences.
//! - [`Var::apply`] records any [`Op`]: a user's op with hand-written
//!   rules gets the same fast first-order path, higher orders and forward
//!   mode as the built-in ones.
//! - Seeing inside backprop: [`Var::label`], [`Var::register_hook`],
//!   [`Tape::summary`] (a table), [`Tape::to_dot`] (Graphviz) and anomaly
//!   mode ([`Tape::detect_anomaly`], [`Var::try_backward`]).
//!
//! ```
//! use tapegrad_autodiff::Tape;
//! use tapegrad_tensor::Tensor;
//!
//! let tape = Tape::<f32>::new();
//! let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
//! let w = tape.var(Tensor::from_vec(vec![0.5, -0.5], &[2, 1]));
//! let b = tape.var(Tensor::scalar(0.1));
//! let loss = (x.matmul(w) + b).tanh().square().mean_all();
//! let grads = loss.backward();
//! assert_eq!(grads[w].shape(), &[2, 1]);
//! assert_eq!(grads[b].shape(), &[] as &[usize]); // broadcasting undone
//! ```
//!
//! ## Derivatives at kinks
//!
//! Where a function is not differentiable, tapegrad follows PyTorch
//! (`crates/autodiff/README.md` has this table beside PyTorch's and JAX's
//! values, with the reason for each row):
//!
//! | op | at | derivative used |
//! |---|---|---|
//! | `relu` | x = 0 | 0 |
//! | `leaky_relu(s)` | x = 0 | s |
//! | `abs` | x = 0 | 0 |
//! | `clamp(lo, hi)` | x = lo or x = hi | 0 (the bound is inactive, as relu at 0) |
//! | `max` / `min` over axes | k tied extrema | g / k to each |
//! | `maximum(a, b)` / `minimum(a, b)` | a = b | g / 2 to each |
//! | `sqrt` | x = 0 | +inf (caught by anomaly mode) |
//! | `pow(a, b)` | a = 0 | ∂/∂a = b a^(b-1), and 0 where b = 0; ∂/∂b = 0 where b >= 0 |
#![warn(missing_docs)]

mod anomaly;
mod backward;
mod forward;
mod grad_ops;
mod gradcheck;
mod inspect;
mod memory;
mod nonfinite;
pub mod ops;
mod per_sample;
mod tape;
mod transforms;
mod var;

pub use anomaly::{Anomaly, AnomalyInput, Phase};
pub use backward::Gradients;
pub use gradcheck::{
    check_fn, gradcheck, gradgradcheck, CheckFn, GradcheckError, GradcheckOptions, GradcheckReport,
};
pub use inspect::{SummaryRow, TapeSummary, ValueStatus};
pub use memory::checkpoint;
pub use ops::{ConvParams, Ctx, GradOps, Grads, JvpCtx, Op};
pub use per_sample::{per_sample_grads, PerSampleError};
pub use tape::{Hook, NodeId, NodeKind, Tape};
pub use transforms::{check_jvp, check_jvp_vjp, hessian, hvp, jacfwd, jacrev, jvp, vjp, Pullback};
pub use var::Var;
