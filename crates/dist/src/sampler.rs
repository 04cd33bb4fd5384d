//! Which samples each rank trains on: a shuffled split of a data set.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tapegrad_nn::data::{Batches, Dataset};
use tapegrad_tensor::Float;

/// Splits `0..len` across ranks, as PyTorch's `DistributedSampler`: every
/// epoch the indices are shuffled with a generator seeded by
/// `(seed, epoch)`, the same on every rank, and rank `r` of `p` takes
/// positions `r, r + p, r + 2p, ...`. So in one epoch each sample is seen
/// by exactly one rank.
///
/// When `p` does not divide `len`, every rank must still take the same
/// number of steps (the collectives must match), so either the order is
/// padded by repeating its first samples (`drop_last(false)`, the default:
/// `p·⌈len/p⌉ − len` samples are seen twice) or the last `len mod p` are
/// left out (`drop_last(true)`).
///
/// ```
/// use tapegrad_dist::DistributedSampler;
/// let ranks: Vec<Vec<usize>> = (0..2)
///     .map(|r| DistributedSampler::new(10, r, 2, 7).indices(0))
///     .collect();
/// let mut all: Vec<usize> = ranks.concat();
/// all.sort();
/// assert_eq!(all, (0..10).collect::<Vec<_>>()); // each sample once
/// assert_ne!(ranks[0], DistributedSampler::new(10, 0, 2, 7).indices(1)); // reshuffled
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DistributedSampler {
    len: usize,
    rank: usize,
    world: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
}

impl DistributedSampler {
    /// The share of rank `rank` of `world` in a data set of `len` samples,
    /// shuffled every epoch from `seed`.
    ///
    /// # Panics
    /// If `world` is 0 or `rank >= world`.
    #[track_caller]
    pub fn new(len: usize, rank: usize, world: usize, seed: u64) -> Self {
        assert!(
            world > 0 && rank < world,
            "DistributedSampler: rank {rank} of a world of {world}"
        );
        DistributedSampler {
            len,
            rank,
            world,
            seed,
            shuffle: true,
            drop_last: false,
        }
    }

    /// Keeps the data set's order (no shuffle): rank `r` takes `r, r+p, ...`.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Leaves out the last `len mod p` samples of each epoch's order
    /// instead of padding it.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Samples per rank per epoch: `⌈len/p⌉`, or `⌊len/p⌋` with `drop_last`.
    pub fn num_samples(&self) -> usize {
        if self.drop_last {
            self.len / self.world
        } else {
            self.len.div_ceil(self.world)
        }
    }

    /// The order of all `len` samples in `epoch`, before the split (the
    /// same on every rank).
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            // One stream per (seed, epoch): splitmix-style mixing so
            // neighbouring epochs do not get related seeds.
            let mixed = self.seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            order.shuffle(&mut StdRng::seed_from_u64(mixed));
        }
        order
    }

    /// This rank's samples in `epoch`, in the order to train on them.
    pub fn indices(&self, epoch: u64) -> Vec<usize> {
        let mut order = self.epoch_order(epoch);
        let total = self.num_samples() * self.world;
        if total <= order.len() {
            order.truncate(total);
        } else if !order.is_empty() {
            let pad: Vec<usize> = order
                .iter()
                .copied()
                .cycle()
                .take(total - order.len())
                .collect();
            order.extend(pad);
        }
        order
            .into_iter()
            .skip(self.rank)
            .step_by(self.world)
            .collect()
    }

    /// This rank's batches of `data`'s flattened features (`[b, D]`, as
    /// [`Batches::from_dataset`]) in `epoch`, `batch_size` samples each (the
    /// last may be smaller), in [`indices`](Self::indices) order.
    ///
    /// # Panics
    /// If `data.len()` differs from the sampler's length or `batch_size` is 0.
    #[track_caller]
    pub fn batches<E: Float>(
        &self,
        data: &Dataset<E>,
        epoch: u64,
        batch_size: usize,
    ) -> Batches<E> {
        assert_eq!(
            data.len(),
            self.len,
            "DistributedSampler::batches: a data set of {} samples for a sampler of {}",
            data.len(),
            self.len
        );
        let mine = data.subset(&self.indices(epoch));
        Batches::sequential(&mine.features(), mine.labels(), batch_size)
    }
}
