//! # tapegrad-dist
//!
//! Data-parallel training for tapegrad, the way PyTorch's
//! `DistributedDataParallel` works: every rank (process, or thread in
//! tests) holds the whole model and trains on its own slice of each
//! batch; after backward the gradients are averaged across ranks, so the
//! same optimiser step on every rank keeps the replicas equal.
//!
//! - [`Collective`]: rank, world size, all-reduce, broadcast, barrier,
//!   non-blocking ([`Pending`]); [`CollectiveExt`] for tensors.
//!   Backends: [`LocalCollective`] (one rank), [`ThreadCollective`] (ranks
//!   as threads, for tests), and `MpiCollective` with the cargo feature
//!   `mpi` (ranks as processes under `mpirun` or `srun`).
//! - [`DistributedDataParallel`]: checks that the model is the same on
//!   every rank, broadcasts rank 0's weights, and averages gradients in
//!   buckets whose all-reduce starts from gradient hooks while backward is
//!   still running.
//! - [`DistributedSampler`]: each rank's share of a data set, reshuffled
//!   every epoch with the same seed on every rank.
//! - [`save_checkpoint`] / [`load_checkpoint`]: rank 0 does the file I/O;
//!   loading broadcasts.
//!
//! Failures do not hang: a collective whose peer panicked or left fails
//! with [`DistError::PeerFailed`] (in-process) or aborts the MPI job; one
//! that does not complete within its timeout fails with
//! [`DistError::Timeout`].
//!
//! ## Under MPI
//!
//! ```text
//! cargo build --release --features mpi --example ddp_digits
//! mpirun -np 2 target/release/examples/ddp_digits
//! srun -N 2 --ntasks-per-node=1 target/release/examples/ddp_digits   # under Slurm
//! ```
#![warn(missing_docs)]

mod buffer;
mod collective;
mod ddp;
mod error;
mod local;
#[cfg(feature = "mpi")]
mod mpi;
mod replicas;
mod sampler;
mod threads;

pub use buffer::Buffer;
pub use collective::{Collective, CollectiveExt, Pending};
pub use ddp::{DdpConfig, DdpStats, DistributedDataParallel};
pub use error::DistError;
pub use local::LocalCollective;
#[cfg(feature = "mpi")]
pub use mpi::{MpiCollective, ReduceOrder};
pub use replicas::{
    broadcast_module, check_same_model, load_checkpoint, model_signature, save_checkpoint,
};
pub use sampler::DistributedSampler;
pub use threads::{ThreadCollective, DEFAULT_TIMEOUT};
