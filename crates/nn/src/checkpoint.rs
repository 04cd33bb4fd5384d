//! Named tensors on disk as [safetensors](https://huggingface.co/docs/safetensors),
//! the format PyTorch, JAX, candle and NumPy all read.
//!
//! A whole model (parameters and buffers, such as batch-norm running
//! statistics) saves with [`save_module`] and loads with [`load_module`],
//! through [`Module::state_dict`](crate::Module::state_dict) and
//! [`Module::load_state_dict`](crate::Module::load_state_dict); the
//! functions below handle any list of named tensors.
//!
//! `f32` tensors are stored as `F32`, `f64` as `F64`. Loading accepts either
//! and converts to the element type asked for (`F64` to `f32` rounds), so a
//! model trained in `f32` can be gradient-checked in `f64`. Other dtypes
//! (`F16`, `I64`, ...) are an error (among them the `I64`
//! `num_batches_tracked` of a PyTorch batch norm: see
//! [`BatchNorm2d`](crate::conv::BatchNorm2d)), as is any malformed file: nothing panics,
//! and errors give the file, the byte offset or tensor name, and expected
//! versus found.
//!
//! ```
//! use tapegrad_nn::checkpoint::{load_into, save_safetensors};
//! use tapegrad_tensor::Tensor;
//!
//! let path = std::env::temp_dir().join(format!("tapegrad-doc-{}.safetensors", std::process::id()));
//! let w = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
//! let b = Tensor::<f32>::zeros(&[2]);
//! save_safetensors(&path, &[("fc.weight", w.clone()), ("fc.bias", b)])?;
//!
//! let loaded = load_into::<f32, _, _>(&path, &[("fc.weight", vec![2, 3]), ("fc.bias", vec![2])])?;
//! assert_eq!(loaded[0].to_vec(), w.to_vec());
//!
//! let err = load_into::<f32, _, _>(&path, &[("fc.weight", vec![3, 2]), ("fc.bias", vec![2])]);
//! assert!(err.unwrap_err().to_string().ends_with("tensor 'fc.weight': expected shape [3, 2], found [2, 3]"));
//! std::fs::remove_file(&path).unwrap();
//! # Ok::<(), tapegrad_nn::checkpoint::CheckpointError>(())
//! ```

mod error;
mod header;
mod read;
mod state_dict;

pub use error::CheckpointError;
pub use state_dict::{load_module, save_module};

pub(crate) use state_dict::load_state_into;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tapegrad_tensor::{Float, Tensor};

/// The name used for in-memory bytes in error messages.
const MEMORY: &str = "<memory>";

/// Encodes named tensors as the bytes of a safetensors file.
///
/// Names must be distinct and not `__metadata__` (reserved by the format).
/// Tensors may be strided views; they are written in logical order.
pub fn to_bytes<E: Float, S: AsRef<str>>(
    tensors: &[(S, Tensor<E>)],
) -> Result<Vec<u8>, CheckpointError> {
    let mut seen = BTreeSet::new();
    for (name, _) in tensors {
        let name = name.as_ref();
        let reason = if name == "__metadata__" {
            "reserved by the safetensors format"
        } else if !seen.insert(name) {
            "given twice"
        } else {
            continue;
        };
        return Err(CheckpointError::BadName {
            name: name.to_string(),
            reason,
        });
    }
    let encoded: Vec<Vec<u8>> = tensors.iter().map(|(_, t)| encode(t)).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, t), bytes) in tensors.iter().zip(&encoded) {
        let view = TensorView::new(dtype_of::<E>(), t.shape().to_vec(), bytes);
        views.push((name.as_ref(), view.map_err(|e| internal(MEMORY, e))?));
    }
    safetensors::serialize(views, &None).map_err(|e| internal(MEMORY, e))
}

/// Writes named tensors to a safetensors file at `path` (see [`to_bytes`]).
pub fn save_safetensors<E: Float, S: AsRef<str>>(
    path: impl AsRef<Path>,
    tensors: &[(S, Tensor<E>)],
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = to_bytes(tensors)?;
    std::fs::write(path, bytes).map_err(|error| CheckpointError::Io {
        file: path.display().to_string(),
        error,
    })
}

/// Decodes the bytes of a safetensors file into tensors by name, converting
/// `F32` and `F64` data to `E`.
pub fn from_bytes<E: Float>(bytes: &[u8]) -> Result<BTreeMap<String, Tensor<E>>, CheckpointError> {
    decode(bytes, MEMORY)
}

/// Reads a safetensors file into tensors by name, converting `F32` and `F64` data to `E`.
///
/// The file is read in order and checked on the way: the 8-byte header
/// length (at most 100 MB), the JSON header, then, only if the file's
/// length is exactly what the header's data offsets declare, the data. So
/// a file that claims more (or less) than it holds fails after reading its
/// header, and a device or stream (`/dev/zero`) after its first bytes.
///
/// # Errors
/// [`CheckpointError::Io`] naming the file if it cannot be read, else a
/// [`CheckpointError`] naming the file and the byte offset or tensor.
pub fn load_safetensors<E: Float>(
    path: impl AsRef<Path>,
) -> Result<BTreeMap<String, Tensor<E>>, CheckpointError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = read::read_file(path, &file)?;
    decode(&bytes, &file)
}

/// Reads a safetensors file that must hold exactly the `expected` tensors
/// (names and shapes, as `(name, shape)` pairs), returning them in that order.
///
/// Fails on the first missing tensor, wrong shape or unsupported dtype (in
/// the order of `expected`), then on a tensor in the file that was not
/// expected (in name order), as PyTorch's `load_state_dict(strict=True)`.
pub fn load_into<E, N, S>(
    path: impl AsRef<Path>,
    expected: &[(N, S)],
) -> Result<Vec<Tensor<E>>, CheckpointError>
where
    E: Float,
    N: AsRef<str>,
    S: AsRef<[usize]>,
{
    let file = path.as_ref().display().to_string();
    check_named(load_safetensors(path)?, expected, &file)
}

/// Checks loaded tensors against the `expected` names and shapes, as [`load_into`].
pub fn check_tensors<E, N, S>(
    tensors: BTreeMap<String, Tensor<E>>,
    expected: &[(N, S)],
) -> Result<Vec<Tensor<E>>, CheckpointError>
where
    E: Float,
    N: AsRef<str>,
    S: AsRef<[usize]>,
{
    check_named(tensors, expected, MEMORY)
}

fn check_named<E, N, S>(
    mut tensors: BTreeMap<String, Tensor<E>>,
    expected: &[(N, S)],
    file: &str,
) -> Result<Vec<Tensor<E>>, CheckpointError>
where
    E: Float,
    N: AsRef<str>,
    S: AsRef<[usize]>,
{
    let mut out = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        let (name, shape) = (name.as_ref(), shape.as_ref());
        let (file, name_s) = (file.to_string(), name.to_string());
        let Some(t) = tensors.remove(name) else {
            return Err(CheckpointError::Missing { file, name: name_s });
        };
        if t.shape() != shape {
            let (expected, found) = (shape.to_vec(), t.shape().to_vec());
            return Err(CheckpointError::Shape {
                file,
                name: name_s,
                expected,
                found,
            });
        }
        out.push(t);
    }
    match tensors.into_keys().next() {
        Some(name) => Err(CheckpointError::Unexpected {
            file: file.to_string(),
            name,
        }),
        None => Ok(out),
    }
}

fn decode<E: Float>(
    bytes: &[u8],
    file: &str,
) -> Result<BTreeMap<String, Tensor<E>>, CheckpointError> {
    header::check(bytes, file)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| internal(file, e))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data: Vec<E> = match view.dtype() {
            Dtype::F32 => le_values(view.data(), |b| f32::from_le_bytes(b) as f64),
            Dtype::F64 => le_values(view.data(), f64::from_le_bytes),
            other => {
                let (file, found) = (file.to_string(), format!("{other:?}"));
                return Err(CheckpointError::UnsupportedDtype { file, name, found });
            }
        };
        let tensor = Tensor::from_vec(data, view.shape());
        out.insert(name, tensor);
    }
    Ok(out)
}

/// Little-endian `N`-byte values, converted to `E` through `f64`.
fn le_values<E: Float, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> f64) -> Vec<E> {
    bytes
        .chunks_exact(N)
        .map(|c| E::from_f64(f(c.try_into().expect("chunks of N"))))
        .collect()
}

/// The elements of `t` as little-endian bytes of its own dtype.
fn encode<E: Float>(t: &Tensor<E>) -> Vec<u8> {
    let values = t.to_vec();
    match dtype_of::<E>() {
        Dtype::F32 => values
            .iter()
            .flat_map(|x| (x.to_f64() as f32).to_le_bytes())
            .collect(),
        _ => values
            .iter()
            .flat_map(|x| x.to_f64().to_le_bytes())
            .collect(),
    }
}

/// `F32` for `f32`, `F64` for `f64`.
fn dtype_of<E: Float>() -> Dtype {
    if std::mem::size_of::<E>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// An error from `safetensors` that [`header::check`] should have ruled out.
fn internal(file: &str, e: safetensors::SafeTensorError) -> CheckpointError {
    CheckpointError::Format {
        file: file.to_string(),
        offset: 0,
        message: format!("safetensors: {e}"),
    }
}
