//! What can go wrong between ranks.

use std::fmt;
use std::time::Duration;

/// An error of a collective operation or of data-parallel training.
///
/// Every rank that meets a failure returns an error (none waits forever):
/// a peer that panicked or left is reported by the in-process backend at
/// once, one that stops answering after the collective's timeout.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DistError {
    /// Another rank failed (panicked, or dropped its handle) before joining
    /// this collective.
    PeerFailed {
        /// This rank.
        rank: usize,
        /// The rank that failed.
        peer: usize,
        /// The collective this rank was waiting in (`"all-reduce #12"`).
        op: String,
        /// How it failed (`"panicked"`, `"left the group"`).
        how: String,
    },
    /// A collective did not complete within the timeout: a peer is stuck,
    /// dead, or calls the collectives in a different order.
    Timeout {
        /// This rank.
        rank: usize,
        /// The collective (`"all-reduce #12 of 1.2 MiB"`).
        op: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The ranks called different collectives, or with different sizes,
    /// at the same point of their sequence.
    Mismatch {
        /// This rank.
        rank: usize,
        /// What differs, with both sides.
        detail: String,
    },
    /// The model differs across ranks (names or shapes of its state dict).
    ModelMismatch {
        /// This rank.
        rank: usize,
        /// The first difference this rank sees against rank 0, and how many
        /// ranks differ.
        detail: String,
    },
    /// A checkpoint could not be written or read (on rank 0, which does the
    /// file I/O; every rank returns this error).
    Checkpoint {
        /// This rank.
        rank: usize,
        /// Rank 0's error, as it printed it.
        message: String,
    },
    /// The MPI backend could not start (MPI already initialised, or the
    /// thread level it needs is not provided).
    Init(String),
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistError::PeerFailed { rank, peer, op, how } => write!(
                f,
                "rank {rank}: rank {peer} {how} before joining {op}; stopping instead of waiting for it"
            ),
            DistError::Timeout { rank, op, after } => write!(
                f,
                "rank {rank}: {op} did not complete within {:.1} s: a rank is stuck or dead, or the ranks call collectives in different orders",
                after.as_secs_f64()
            ),
            DistError::Mismatch { rank, detail } => {
                write!(f, "rank {rank}: collectives differ across ranks: {detail}")
            }
            DistError::ModelMismatch { rank, detail } => {
                write!(f, "rank {rank}: the model differs across ranks: {detail}")
            }
            DistError::Checkpoint { rank, message } => {
                write!(f, "rank {rank}: checkpoint on rank 0 failed: {message}")
            }
            DistError::Init(message) => write!(f, "cannot start the MPI backend: {message}"),
        }
    }
}

impl std::error::Error for DistError {}
