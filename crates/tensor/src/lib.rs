//! # tapegrad-tensor
//!
//! N-dimensional strided tensors of `f32` or `f64`, with no autodiff: the
//! numeric floor the tape in `tapegrad-autodiff` is built on.
//!
//! - A [`Tensor`] is a layout (shape, strides, offset) over shared
//!   storage, so views (`reshape` of contiguous data, `transpose`, `permute`,
//!   `broadcast_to`, `narrow`, `squeeze`/`unsqueeze`) never copy.
//! - Elementwise ops broadcast like NumPy and run in parallel with rayon
//!   above a threshold of elements (`tuning::PARALLEL_THRESHOLD`).
//! - [`Tensor::matmul`] is batched, broadcasts batch dimensions, passes
//!   strides straight to `matrixmultiply`, and splits large products over
//!   rayon's threads.
//! - Cargo feature `blas` (off by default): the gemm kernel calls the
//!   system OpenBLAS (`cblas_sgemm` / `cblas_dgemm`, one thread per call)
//!   for the layouts BLAS takes, and `matrixmultiply` for the rest
//!   (broadcast views); needs `libopenblas-dev`.
//! - Shape errors panic at the caller's line with the op name and shapes.
//!
//! ```
//! use tapegrad_tensor::Tensor;
//! let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
//! let w = Tensor::<f32>::ones(&[3, 1]);
//! let y = x.matmul(&w).add(&Tensor::scalar(0.5)); // [2, 1]
//! assert_eq!(y.to_vec(), vec![6.5, 15.5]);
//! assert_eq!(y.sum_all().item(), 22.0);
//! ```
#![warn(missing_docs)]

mod alloc;
mod binary;
#[cfg(feature = "blas")]
mod blas;
mod conv;
mod conv2d;
mod conv_direct;
mod cpu;
mod creation;
mod display;
mod elementwise;
mod fast_math;
mod float;
mod index;
mod index_tensor;
mod layout;
mod matmul;
mod reduce;
pub mod shape_rules;
mod tensor;
mod unary;
mod view;

pub use conv::conv_output_size;
pub use float::Float;
pub use index_tensor::IndexTensor;
pub use layout::{checked_numel, normalize_axis, try_numel, MAX_NUMEL};
pub use shape_rules::broadcast_shapes;
pub use tensor::Tensor;

/// Thresholds and inner kernels that the tests and benchmarks reach for
/// (to build inputs above a parallel threshold, or to time a kernel alone).
/// Not part of the API: they may change with any tuning.
#[doc(hidden)]
pub mod tuning {
    pub use crate::conv_direct::conv2d_kernel;
    pub use crate::elementwise::{CHUNK, PARALLEL_THRESHOLD};
    pub use crate::layout::{contiguous_strides, Layout, RunWalker, Shape, Strides};
    pub use crate::matmul::MATMUL_PARALLEL_FLOPS;
    pub use crate::reduce::sum_slice;
    pub use crate::unary::{stable_sigmoid, stable_softplus};
}
