//! `Batches`: one epoch of (optionally shuffled) mini-batches.

use super::rows::gather_rows;
use super::Dataset;
use rand::seq::SliceRandom;
use rand::Rng;
use tapegrad_tensor::{Float, Tensor};

/// An iterator over one epoch of mini-batches `(x [b, ...], labels)`.
///
/// Each sample appears in exactly one batch per epoch. With `shuffle` the
/// order is a permutation drawn from the `rng` passed in, so creating a new
/// `Batches` each epoch with the same `rng` reshuffles every epoch, and a
/// run is reproducible from the rng's seed. The last batch is smaller when
/// the batch size does not divide the sample count, unless
/// [`drop_last`](Batches::drop_last) is set.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use tapegrad_nn::data::{load_bundled_digits, Batches};
/// let digits = load_bundled_digits::<f32>()?;
/// let mut rng = StdRng::seed_from_u64(0);
/// for _epoch in 0..2 {
///     let mut seen = 0;
///     for (x, y) in Batches::from_dataset(&digits, 256, true, &mut rng) {
///         assert_eq!(x.shape(), &[y.len(), 64]);
///         seen += y.len();
///     }
///     assert_eq!(seen, 1797); // 7 full batches and one of 5
/// }
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
pub struct Batches<E: Float = f32> {
    samples: Tensor<E>,
    labels: Vec<usize>,
    order: Vec<usize>,
    batch_size: usize,
    drop_last: bool,
    next: usize,
}

impl<E: Float> Batches<E> {
    /// Batches of the rows of `samples` (`[N, ...]`) with their `N` `labels`,
    /// shuffled with `rng` if `shuffle` (else `rng` is not touched).
    ///
    /// # Panics
    /// If `batch_size` is 0, `samples` is 0-dimensional, or its first
    /// dimension is not `labels.len()`.
    #[track_caller]
    pub fn new(
        samples: &Tensor<E>,
        labels: &[usize],
        batch_size: usize,
        shuffle: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let mut batches = Batches::sequential(samples, labels, batch_size);
        if shuffle {
            batches.order.shuffle(rng);
        }
        batches
    }

    /// Batches in the stored order, no shuffling (for evaluation).
    ///
    /// # Panics
    /// As [`new`](Batches::new).
    #[track_caller]
    pub fn sequential(samples: &Tensor<E>, labels: &[usize], batch_size: usize) -> Self {
        if batch_size == 0 {
            panic!("Batches: batch_size must be at least 1");
        }
        if samples.shape().first() != Some(&labels.len()) {
            panic!(
                "Batches: samples of shape {:?} do not match {} labels",
                samples.shape(),
                labels.len()
            );
        }
        Batches {
            samples: samples.contiguous(),
            labels: labels.to_vec(),
            order: (0..labels.len()).collect(),
            batch_size,
            drop_last: false,
            next: 0,
        }
    }

    /// Batches of a data set's flattened [`features`](Dataset::features)
    /// `[b, D]`; for `[b, C, H, W]` pass [`images`](Dataset::images) to [`new`](Batches::new).
    #[track_caller]
    pub fn from_dataset(
        dataset: &Dataset<E>,
        batch_size: usize,
        shuffle: bool,
        rng: &mut impl Rng,
    ) -> Self {
        Batches::new(
            &dataset.features(),
            dataset.labels(),
            batch_size,
            shuffle,
            rng,
        )
    }

    /// Whether to skip a last batch smaller than the batch size (default `false`).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The order in which samples are served this epoch (indices into the data).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Number of batches left in this epoch.
    fn remaining(&self) -> usize {
        let left = self.order.len() - self.next;
        if self.drop_last {
            left / self.batch_size
        } else {
            left.div_ceil(self.batch_size)
        }
    }
}

impl<E: Float> Iterator for Batches<E> {
    type Item = (Tensor<E>, Vec<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining() == 0 {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let idx = &self.order[self.next..end];
        self.next = end;
        let labels = idx.iter().map(|&i| self.labels[i]).collect();
        Some((gather_rows(&self.samples, idx), labels))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

impl<E: Float> ExactSizeIterator for Batches<E> {}
