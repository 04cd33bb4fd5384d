//! The `Collective` trait: what data-parallel training needs from the
//! processes it runs on.

use crate::buffer::Buffer;
use crate::error::DistError;
use std::time::{Duration, Instant};
use tapegrad_tensor::{Float, Tensor};

/// A group of `world_size` ranks that move data together, as MPI's
/// communicators do.
///
/// Every rank must start the same collectives in the same order with
/// buffers of the same type and length (the root of a broadcast too);
/// a rank that does not gets [`DistError::Mismatch`] or, where the
/// backend cannot tell, [`DistError::Timeout`]. The `start_*` methods
/// return at once with a [`Pending`] result, so communication can run
/// while the caller computes; [`Pending::wait`] blocks until it is done.
///
/// Backends: [`LocalCollective`](crate::LocalCollective) (one rank, no
/// MPI), [`ThreadCollective`](crate::ThreadCollective) (ranks as threads of
/// one process, for tests) and, with the cargo feature `mpi`,
/// `MpiCollective` (ranks as processes under `mpirun` or `srun`).
pub trait Collective: Send + Sync {
    /// This rank, `0..world_size()`.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn world_size(&self) -> usize;

    /// Starts the element-wise sum of every rank's `buf`; each rank
    /// receives the same sum, bit for bit.
    fn start_all_reduce_sum(&self, buf: Buffer) -> Pending;

    /// Starts sending `root`'s `buf` to every rank (the others' `buf` gives
    /// only the layout expected and is replaced).
    fn start_broadcast(&self, buf: Buffer, root: usize) -> Pending;

    /// Waits until every rank has reached the barrier.
    fn barrier(&self) -> Result<(), DistError> {
        self.start_all_reduce_sum(Buffer::U64(Vec::new()))
            .wait()
            .map(|_| ())
    }
}

/// The result of a collective that may still be running.
#[must_use = "a collective's result must be waited for"]
pub struct Pending {
    op: String,
    bytes: usize,
    wait: Box<dyn FnOnce() -> Result<Buffer, DistError> + Send>,
}

impl Pending {
    /// A result still to come: `wait` blocks until it is there (or fails).
    /// `op` names the collective for messages and statistics.
    pub fn new(
        op: String,
        bytes: usize,
        wait: impl FnOnce() -> Result<Buffer, DistError> + Send + 'static,
    ) -> Pending {
        Pending {
            op,
            bytes,
            wait: Box::new(wait),
        }
    }

    /// A result that is already there.
    pub fn ready(op: String, result: Result<Buffer, DistError>) -> Pending {
        let bytes = result.as_ref().map_or(0, Buffer::bytes);
        Pending::new(op, bytes, move || result)
    }

    /// The collective's name (`"all-reduce #3"`).
    pub fn op(&self) -> &str {
        &self.op
    }

    /// Bytes this rank sends into the collective.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Blocks until the collective is done; its result.
    pub fn wait(self) -> Result<Buffer, DistError> {
        (self.wait)()
    }

    /// As [`wait`](Pending::wait), with the time spent blocked.
    pub fn wait_timed(self) -> (Result<Buffer, DistError>, Duration) {
        let start = Instant::now();
        let result = self.wait();
        (result, start.elapsed())
    }
}

/// Tensor-level collectives on any [`Collective`] (blocking).
pub trait CollectiveExt: Collective {
    /// The element-wise sum of `t` over all ranks.
    fn all_reduce_sum<E: Float>(&self, t: &Tensor<E>) -> Result<Tensor<E>, DistError> {
        let out = self
            .start_all_reduce_sum(Buffer::from_floats(t.to_vec()))
            .wait()?;
        Ok(Tensor::from_vec(floats(self.rank(), out)?, t.shape()))
    }

    /// The element-wise mean of `t` over all ranks: the sum divided by the
    /// world size.
    fn all_reduce_mean<E: Float>(&self, t: &Tensor<E>) -> Result<Tensor<E>, DistError> {
        let p = E::from_f64(self.world_size() as f64);
        let sum = self.all_reduce_sum(t)?;
        Ok(Tensor::from_vec(
            sum.to_vec().into_iter().map(|x| x / p).collect(),
            t.shape(),
        ))
    }

    /// `root`'s `t` on every rank (every rank passes a tensor of the same
    /// shape; the others' values are ignored).
    fn broadcast_tensor<E: Float>(
        &self,
        t: &Tensor<E>,
        root: usize,
    ) -> Result<Tensor<E>, DistError> {
        let out = self
            .start_broadcast(Buffer::from_floats(t.to_vec()), root)
            .wait()?;
        Ok(Tensor::from_vec(floats(self.rank(), out)?, t.shape()))
    }

    /// `root`'s `text` on every rank (of any length; two broadcasts).
    fn broadcast_text(&self, text: &str, root: usize) -> Result<String, DistError> {
        let len = self
            .start_broadcast(Buffer::U64(vec![text.len() as u64]), root)
            .wait()?;
        let Buffer::U64(len) = len else {
            return Err(type_changed(self.rank(), "u64"));
        };
        let len = usize::try_from(len[0]).map_err(|_| DistError::Mismatch {
            rank: self.rank(),
            detail: format!("broadcast text length {} does not fit in memory", len[0]),
        })?;
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(len, 0);
        let Buffer::U8(bytes) = self.start_broadcast(Buffer::U8(bytes), root).wait()? else {
            return Err(type_changed(self.rank(), "u8"));
        };
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The sum of one count per rank.
    fn all_reduce_count(&self, count: u64) -> Result<u64, DistError> {
        match self.start_all_reduce_sum(Buffer::U64(vec![count])).wait()? {
            Buffer::U64(v) => Ok(v[0]),
            _ => Err(type_changed(self.rank(), "u64")),
        }
    }
}

impl<C: Collective + ?Sized> CollectiveExt for C {}

/// The floats of a collective's result, or an error if a backend returned
/// another type.
pub(crate) fn floats<E: Float>(rank: usize, b: Buffer) -> Result<Vec<E>, DistError> {
    let kind = b.type_name();
    b.into_floats().ok_or_else(|| DistError::Mismatch {
        rank,
        detail: format!("expected {} data back, received {kind}", E::DTYPE),
    })
}

fn type_changed(rank: usize, expected: &str) -> DistError {
    DistError::Mismatch {
        rank,
        detail: format!("expected {expected} data back from a collective"),
    }
}

/// `"1.2 MiB"`, for messages.
pub(crate) fn human_bytes(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
