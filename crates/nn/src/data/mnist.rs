//! MNIST-style data sets (MNIST, Fashion-MNIST, KMNIST) from pairs of IDX files.

use super::{read_idx, DataError, Dataset, IdxArray, IdxData, IdxType, Location};
use std::path::Path;
use tapegrad_tensor::{Float, Tensor};

/// Number of classes in MNIST-style label files.
pub const MNIST_CLASSES: usize = 10;

/// Loads an IDX image file (magic `0x00000803`: `u8`, `[N, rows, cols]`) as
/// a tensor `[N, rows, cols]` scaled to `[0, 1]` (divided by 255).
pub fn load_mnist_images<E: Float>(path: impl AsRef<Path>) -> Result<Tensor<E>, DataError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let array = read_idx(path)?;
    let (dims, bytes) = expect_u8(array, 3, &file)?;
    let data = bytes
        .iter()
        .map(|&b| E::from_f64(b as f64 / 255.0))
        .collect();
    Ok(Tensor::from_vec(data, &dims))
}

/// Loads an IDX label file (magic `0x00000801`: `u8`, `[N]`); every label must be below 10.
pub fn load_mnist_labels(path: impl AsRef<Path>) -> Result<Vec<usize>, DataError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let (_, bytes) = expect_u8(read_idx(path)?, 1, &file)?;
    if let Some(i) = bytes.iter().position(|&b| b as usize >= MNIST_CLASSES) {
        return Err(DataError::LabelOutOfRange {
            file,
            at: Location::Byte(8 + i as u64),
            value: bytes[i] as i64,
            num_classes: MNIST_CLASSES,
        });
    }
    Ok(bytes.into_iter().map(usize::from).collect())
}

/// Loads an image file and its label file as one data set of samples `[1, rows, cols]`.
///
/// Fails with [`DataError::CountMismatch`] if the files hold different numbers
/// of items (a sign of mismatched files, e.g. train images with test labels).
///
/// ```
/// use tapegrad_nn::data::{load_mnist, write_idx, IdxArray, IdxData};
/// let dir = std::env::temp_dir().join(format!("tapegrad-doc-mnist-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (images, labels) = (dir.join("images.idx.gz"), dir.join("labels.idx"));
/// write_idx(&images, &IdxArray::new(vec![2, 2, 2], IdxData::U8(vec![0, 255, 51, 0, 1, 2, 3, 4])))?;
/// write_idx(&labels, &IdxArray::new(vec![2], IdxData::U8(vec![3, 9])))?;
/// let ds = load_mnist::<f32>(&images, &labels)?;
/// assert_eq!(ds.images().shape(), &[2, 1, 2, 2]);
/// assert_eq!(ds.features().to_vec()[..3], [0.0, 1.0, 0.2]);
/// assert_eq!(ds.labels(), &[3, 9]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
pub fn load_mnist<E: Float>(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
) -> Result<Dataset<E>, DataError> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let x = load_mnist_images::<E>(images)?;
    let y = load_mnist_labels(labels)?;
    if x.shape()[0] != y.len() {
        return Err(DataError::CountMismatch {
            images: images.display().to_string(),
            labels: labels.display().to_string(),
            num_images: x.shape()[0],
            num_labels: y.len(),
        });
    }
    let (n, rows, cols) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    Ok(Dataset::new(
        x.reshape(&[n, 1, rows, cols]),
        y,
        MNIST_CLASSES,
    ))
}

/// The dims and bytes of `array`, if it is `u8` with `ndim` dimensions.
fn expect_u8(array: IdxArray, ndim: usize, file: &str) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    if array.dims().len() != ndim {
        let (file, found) = (file.to_string(), array.dims().len());
        return Err(DataError::UnexpectedDims {
            file,
            expected: ndim,
            found,
        });
    }
    let dims = array.dims().to_vec();
    match array.into_data() {
        IdxData::U8(bytes) => Ok((dims, bytes)),
        other => Err(DataError::UnexpectedType {
            file: file.to_string(),
            expected: IdxType::U8.name(),
            found: other.idx_type().name(),
        }),
    }
}
