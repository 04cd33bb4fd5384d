//! `Dataset`: samples with class labels, and seeded train/test splits.

use super::rows::gather_rows;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::fmt;
use tapegrad_tensor::{Float, Tensor};

/// A labelled classification data set held in memory.
///
/// Samples are stored in their own shape (`[N, 1, 8, 8]` for digits,
/// `[N, 1, 28, 28]` for MNIST): [`images`](Dataset::images) gives them like
/// that for convolutions, [`features`](Dataset::features) flattened to `[N, D]`
/// for dense layers. Both are views of the same storage.
///
/// ```
/// use tapegrad_nn::data::load_bundled_digits;
/// let digits = load_bundled_digits::<f32>()?;
/// let (train, test) = digits.train_test_split(0.25, 42);
/// assert_eq!((train.len(), test.len()), (1347, 450));
/// assert_eq!(train.features().shape(), &[1347, 64]);
/// assert_eq!(test.images().shape(), &[450, 1, 8, 8]);
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
#[derive(Clone)]
pub struct Dataset<E: Float = f32> {
    samples: Tensor<E>,
    labels: Vec<usize>,
    num_classes: usize,
}

impl<E: Float> Dataset<E> {
    /// A data set from samples `[N, ...]` and their `N` labels, each below `num_classes`.
    ///
    /// # Panics
    /// If `samples` is 0-dimensional, its first dimension is not
    /// `labels.len()`, or a label is `>= num_classes` (programmer errors; file
    /// loaders check their input and return [`DataError`](super::DataError)).
    #[track_caller]
    pub fn new(samples: Tensor<E>, labels: Vec<usize>, num_classes: usize) -> Self {
        let n = samples.shape().first().copied();
        if n != Some(labels.len()) {
            panic!(
                "Dataset::new: samples of shape {:?} need {} labels, found {}",
                samples.shape(),
                n.map_or("a first dimension of".to_string(), |n| n.to_string()),
                labels.len()
            );
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
            panic!("Dataset::new: label {l} of sample {i} is not below num_classes {num_classes}");
        }
        Dataset {
            samples: samples.contiguous(),
            labels,
            num_classes,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The class label of each sample.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The shape of one sample (`[1, 8, 8]` for digits).
    pub fn sample_shape(&self) -> &[usize] {
        &self.samples.shape()[1..]
    }

    /// The samples in their own shape, `[N, ...]` (`[N, 1, 8, 8]` for digits).
    pub fn images(&self) -> Tensor<E> {
        self.samples.clone()
    }

    /// The samples flattened to `[N, D]` (`[N, 64]` for digits), a view.
    pub fn features(&self) -> Tensor<E> {
        let d = self.sample_shape().iter().product();
        self.samples.reshape(&[self.len(), d])
    }

    /// How many samples each class has, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The samples at `indices`, in that order (indices may repeat).
    ///
    /// # Panics
    /// If an index is `>= self.len()`.
    #[track_caller]
    pub fn subset(&self, indices: &[usize]) -> Dataset<E> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            panic!(
                "Dataset::subset: index {i} is out of range for {} samples",
                self.len()
            );
        }
        Dataset {
            samples: gather_rows(&self.samples, indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
        }
    }

    /// The same data with another element type (`f32` <-> `f64`).
    pub fn cast<F: Float>(&self) -> Dataset<F> {
        Dataset {
            samples: self.samples.cast(),
            labels: self.labels.clone(),
            num_classes: self.num_classes,
        }
    }

    /// Splits into `(train, test)` at random, reproducibly from `seed`.
    ///
    /// The test set gets `ceil(test_fraction * N)` samples (as scikit-learn's
    /// `train_test_split`), the train set the rest; both come out shuffled.
    ///
    /// # Panics
    /// If `test_fraction` is not in `0.0..=1.0`.
    #[track_caller]
    pub fn train_test_split(&self, test_fraction: f64, seed: u64) -> (Dataset<E>, Dataset<E>) {
        check_fraction(test_fraction, "train_test_split");
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let n_test = test_count(self.len(), test_fraction);
        let (test, train) = order.split_at(n_test);
        (self.subset(train), self.subset(test))
    }

    /// Like [`train_test_split`](Dataset::train_test_split), but keeps the class
    /// proportions: each class gives `round(test_fraction * n_class)` of its
    /// samples to the test set.
    ///
    /// # Panics
    /// If `test_fraction` is not in `0.0..=1.0`.
    #[track_caller]
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> (Dataset<E>, Dataset<E>) {
        check_fraction(test_fraction, "stratified_split");
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for class in 0..self.num_classes {
            let mut members: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] == class)
                .collect();
            members.shuffle(&mut rng);
            let n_test = (members.len() as f64 * test_fraction).round() as usize;
            test.extend_from_slice(&members[..n_test]);
            train.extend_from_slice(&members[n_test..]);
        }
        train.shuffle(&mut rng);
        test.shuffle(&mut rng);
        (self.subset(&train), self.subset(&test))
    }
}

/// Size of the test part: `ceil(fraction * n)`, as scikit-learn, except that
/// a product a rounding error above an integer (`0.3 * 100`) is not rounded up.
fn test_count(n: usize, fraction: f64) -> usize {
    let exact = n as f64 * fraction;
    ((exact - exact * 1e-12).ceil().max(0.0) as usize).min(n)
}

#[track_caller]
fn check_fraction(fraction: f64, op: &str) {
    if !(0.0..=1.0).contains(&fraction) {
        panic!("{op}: test_fraction {fraction} is not in 0.0..=1.0");
    }
}

impl<E: Float> fmt::Debug for Dataset<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("sample_shape", &self.sample_shape())
            .field("num_classes", &self.num_classes)
            .field("dtype", &E::DTYPE)
            .finish()
    }
}
