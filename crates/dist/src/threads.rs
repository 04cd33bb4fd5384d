//! Ranks as threads of one process: the in-process backend, for tests and
//! for trying data-parallel code without MPI.
//!
//! The ranks meet in shared memory. Collectives are matched by their
//! position in each rank's sequence (the n-th collective of every rank
//! is one operation, as in MPI); the last rank to arrive computes the
//! result, summing the ranks' buffers in rank order, so every rank gets
//! the same bits and a run repeats exactly.

use crate::buffer::Buffer;
use crate::collective::{human_bytes, Collective, Pending};
use crate::error::DistError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a collective waits for the other ranks by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One rank of an in-process group made by [`ThreadCollective::group`].
///
/// Send each handle to its own thread. A rank that panics, or drops its
/// handle while others still wait for it, makes their collectives fail
/// at once with [`DistError::PeerFailed`]; one that stops calling
/// collectives makes them fail after the timeout.
///
/// ```
/// use tapegrad_dist::{Collective, CollectiveExt, ThreadCollective};
/// use tapegrad_tensor::Tensor;
/// let sums: Vec<Vec<f64>> = std::thread::scope(|s| {
///     let handles: Vec<_> = ThreadCollective::group(3)
///         .into_iter()
///         .map(|c| s.spawn(move || {
///             let mine = Tensor::from_vec(vec![c.rank() as f64, 1.0], &[2]);
///             c.all_reduce_sum(&mine).unwrap().to_vec()
///         }))
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert!(sums.iter().all(|s| s == &[3.0, 3.0])); // 0 + 1 + 2, 1 + 1 + 1
/// ```
pub struct ThreadCollective {
    rank: usize,
    shared: Arc<Shared>,
    next_op: AtomicU64,
}

struct Shared {
    world: usize,
    timeout: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    ops: HashMap<u64, Slot>,
    /// Ranks that failed or left, and how.
    gone: Vec<Option<String>>,
}

/// One collective in progress.
struct Slot {
    kind: Kind,
    inputs: Vec<Option<Buffer>>,
    result: Option<Result<Buffer, String>>,
    collected: usize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    AllReduce,
    Broadcast(usize),
}

impl Kind {
    fn name(self) -> String {
        match self {
            Kind::AllReduce => "all-reduce".into(),
            Kind::Broadcast(root) => format!("broadcast from rank {root}"),
        }
    }
}

impl ThreadCollective {
    /// A group of `world_size` ranks, one handle each, in rank order, with
    /// the [`DEFAULT_TIMEOUT`].
    ///
    /// # Panics
    /// If `world_size` is 0.
    pub fn group(world_size: usize) -> Vec<ThreadCollective> {
        ThreadCollective::group_with_timeout(world_size, DEFAULT_TIMEOUT)
    }

    /// As [`group`](ThreadCollective::group), waiting at most `timeout` in
    /// any collective.
    ///
    /// # Panics
    /// If `world_size` is 0.
    pub fn group_with_timeout(world_size: usize, timeout: Duration) -> Vec<ThreadCollective> {
        assert!(
            world_size > 0,
            "ThreadCollective::group: a group of 0 ranks"
        );
        let shared = Arc::new(Shared {
            world: world_size,
            timeout,
            state: Mutex::new(State {
                ops: HashMap::new(),
                gone: vec![None; world_size],
            }),
            changed: Condvar::new(),
        });
        (0..world_size)
            .map(|rank| ThreadCollective {
                rank,
                shared: Arc::clone(&shared),
                next_op: AtomicU64::new(0),
            })
            .collect()
    }

    fn start(&self, kind: Kind, buf: Buffer) -> Pending {
        let seq = self.next_op.fetch_add(1, Ordering::Relaxed);
        let op = format!("{} #{seq} of {}", kind.name(), human_bytes(buf.bytes()));
        let bytes = buf.bytes();
        let rank = self.rank;
        if let Err(e) = self.deposit(seq, kind, buf) {
            return Pending::ready(op, Err(e));
        }
        let shared = Arc::clone(&self.shared);
        let op_name = op.clone();
        Pending::new(op, bytes, move || collect(&shared, rank, seq, &op_name))
    }

    /// Puts this rank's input into collective `seq`, computing the result
    /// if it is the last to arrive.
    fn deposit(&self, seq: u64, kind: Kind, buf: Buffer) -> Result<(), DistError> {
        let world = self.shared.world;
        let mut state = lock(&self.shared);
        let slot = state.ops.entry(seq).or_insert_with(|| Slot {
            kind,
            inputs: vec![None; world],
            result: None,
            collected: 0,
        });
        if slot.kind != kind {
            let detail = format!(
                "collective #{seq} is a {} on one rank and a {} on rank {}",
                slot.kind.name(),
                kind.name(),
                self.rank
            );
            slot.result = Some(Err(detail));
        } else if let Some(other) = slot.inputs.iter().flatten().next() {
            if !other.same_layout(&buf) {
                let detail = format!(
                    "collective #{seq} ({}) has {} on one rank and {} on rank {}",
                    kind.name(),
                    other.describe(),
                    buf.describe(),
                    self.rank
                );
                slot.result = Some(Err(detail));
            }
        }
        slot.inputs[self.rank] = Some(buf);
        if slot.result.is_none() && slot.inputs.iter().all(Option::is_some) {
            let result = match kind {
                Kind::AllReduce => Buffer::sum_in_order(slot.inputs.iter().flatten()),
                Kind::Broadcast(root) if root < world => {
                    slot.inputs[root].clone().expect("all inputs are in")
                }
                Kind::Broadcast(root) => {
                    slot.result = Some(Err(format!(
                        "broadcast from rank {root} in a group of {world}"
                    )));
                    self.shared.changed.notify_all();
                    return Ok(());
                }
            };
            slot.inputs.iter_mut().for_each(|i| *i = None);
            slot.result = Some(Ok(result));
        }
        self.shared.changed.notify_all();
        Ok(())
    }
}

/// Waits for collective `seq`'s result on `rank`.
fn collect(shared: &Shared, rank: usize, seq: u64, op: &str) -> Result<Buffer, DistError> {
    let deadline = Instant::now() + shared.timeout;
    let mut state = lock(shared);
    loop {
        let world = shared.world;
        let state_ref = &mut *state;
        let slot = state_ref
            .ops
            .get_mut(&seq)
            .expect("deposited before waiting");
        if let Some(result) = &slot.result {
            let out = result
                .clone()
                .map_err(|detail| DistError::Mismatch { rank, detail });
            slot.collected += 1;
            if slot.collected == world {
                state_ref.ops.remove(&seq);
            }
            return out;
        }
        let gone = &state_ref.gone;
        let missing = (0..world).find(|&r| slot.inputs[r].is_none() && gone[r].is_some());
        if let Some(peer) = missing {
            let how = gone[peer].clone().unwrap_or_default();
            return Err(DistError::PeerFailed {
                rank,
                peer,
                op: op.to_string(),
                how,
            });
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(DistError::Timeout {
                rank,
                op: op.to_string(),
                after: shared.timeout,
            });
        }
        state = shared
            .changed
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The shared state, even if a panicking rank poisoned the lock (the
/// state is only ever changed whole under the lock).
fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Collective for ThreadCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.shared.world
    }

    fn start_all_reduce_sum(&self, buf: Buffer) -> Pending {
        self.start(Kind::AllReduce, buf)
    }

    fn start_broadcast(&self, buf: Buffer, root: usize) -> Pending {
        self.start(Kind::Broadcast(root), buf)
    }
}

impl Drop for ThreadCollective {
    /// Tells the other ranks that this one is gone, so none waits for it.
    fn drop(&mut self) {
        let how = if std::thread::panicking() {
            "panicked"
        } else {
            "left the group"
        };
        lock(&self.shared).gone[self.rank] = Some(how.to_string());
        self.shared.changed.notify_all();
    }
}

impl std::fmt::Debug for ThreadCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ThreadCollective(rank {} of {})",
            self.rank, self.shared.world
        )
    }
}
