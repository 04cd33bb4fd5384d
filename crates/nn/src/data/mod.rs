//! Data sets, file readers and mini-batches.
//!
//! - [`load_bundled_digits`]: the 1,797 UCI handwritten digits shipped in
//!   `data/digits.csv.gz` (8x8 images, 10 classes), found from any working directory.
//! - [`read_idx`] / [`parse_idx`] and [`load_mnist`]: the IDX format of MNIST
//!   and Fashion-MNIST, plain or gzip-compressed, with a bound on the size
//!   a header may declare ([`IDX_MAX_BYTES`]).
//! - [`Dataset`]: samples and labels, with seeded train/test splits.
//! - [`Batches`]: an epoch of shuffled mini-batches, reproducible from a seed.
//!
//! Bad files never panic: they give a [`DataError`] naming the file, the line
//! or byte offset, and what was expected versus found.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use tapegrad_nn::data::{load_bundled_digits, Batches};
//!
//! let digits = load_bundled_digits::<f32>()?;
//! let (train, test) = digits.stratified_split(0.2, 7);
//! assert_eq!(train.len() + test.len(), 1797);
//! let mut rng = StdRng::seed_from_u64(7);
//! let (x, y) = Batches::new(&train.images(), train.labels(), 32, true, &mut rng)
//!     .next()
//!     .unwrap();
//! assert_eq!(x.shape(), &[32, 1, 8, 8]);
//! assert!(y.iter().all(|&label| label < 10));
//! # Ok::<(), tapegrad_nn::data::DataError>(())
//! ```

mod batches;
mod dataset;
mod digits;
mod error;
mod idx;
mod mnist;
mod rows;
mod source;

pub use batches::Batches;
pub use dataset::Dataset;
pub use digits::{
    digits_path, load_bundled_digits, load_digits, parse_digits_csv, DIGITS_CLASSES,
    DIGITS_MAX_PIXEL, DIGITS_PIXELS,
};
pub use error::{DataError, Location};
pub use idx::{
    parse_idx, parse_idx_limited, read_idx, read_idx_limited, write_idx, IdxArray, IdxData,
    IdxType, IDX_MAX_BYTES,
};
pub use mnist::{load_mnist, load_mnist_images, load_mnist_labels, MNIST_CLASSES};
