//! The safetensors file format itself: encoding, decoding and the checked
//! file reader (behind the `safetensors` feature, on by default).

use super::{check_named, header, read, CheckpointError, MEMORY};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tapegrad_tensor::{Float, Tensor};

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
