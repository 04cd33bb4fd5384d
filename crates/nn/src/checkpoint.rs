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
#[cfg(feature = "safetensors")]
mod format;
#[cfg(feature = "safetensors")]
mod header;
#[cfg(feature = "safetensors")]
mod read;
mod state_dict;

pub use error::CheckpointError;
#[cfg(feature = "safetensors")]
pub use format::{from_bytes, load_into, load_safetensors, save_safetensors, to_bytes};
#[cfg(feature = "safetensors")]
pub use state_dict::{load_module, save_module};

pub(crate) use state_dict::load_state_into;

use std::collections::BTreeMap;
use tapegrad_tensor::{Float, Tensor};

/// The name used for in-memory bytes in error messages.
const MEMORY: &str = "<memory>";

/// Checks loaded tensors against the `expected` names and shapes, as
/// `load_into` does for a file.
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

/// Takes `expected` out of `tensors` in order; errors name `file`.
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
