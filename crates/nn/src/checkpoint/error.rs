//! `CheckpointError`: what was wrong with a checkpoint, and where.

use std::fmt;

/// Why tensors could not be saved or loaded. Messages name the file (or
/// `<memory>` for bytes), the tensor and expected versus found.
///
/// ```
/// use tapegrad_nn::checkpoint::{check_tensors, from_bytes, to_bytes};
/// use tapegrad_tensor::Tensor;
/// let bytes = to_bytes(&[("fc1.weight", Tensor::<f32>::zeros(&[64, 128]))])?;
/// let err = check_tensors(from_bytes::<f32>(&bytes)?, &[("fc1.weight", [128, 64])]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "<memory>: tensor 'fc1.weight': expected shape [128, 64], found [64, 128]"
/// );
/// # Ok::<(), tapegrad_nn::checkpoint::CheckpointError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read or written.
    Io {
        /// The file.
        file: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    Format {
        /// The file.
        file: String,
        /// Byte offset of the problem (from 0).
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A tensor of a dtype other than `F32` or `F64`.
    UnsupportedDtype {
        /// The file.
        file: String,
        /// The tensor.
        name: String,
        /// Its dtype, as safetensors names it (`"I64"`, `"F16"`, ...).
        found: String,
    },
    /// A tensor that was expected but is not in the file.
    Missing {
        /// The file.
        file: String,
        /// The tensor.
        name: String,
    },
    /// A tensor in the file that was not expected.
    Unexpected {
        /// The file.
        file: String,
        /// The tensor.
        name: String,
    },
    /// A tensor of another shape than expected.
    Shape {
        /// The file.
        file: String,
        /// The tensor.
        name: String,
        /// The shape expected.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A name that cannot be saved: given twice, or the reserved `__metadata__`.
    BadName {
        /// The name.
        name: String,
        /// Why it cannot be saved.
        reason: &'static str,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CheckpointError::*;
        match self {
            Io { file, error } => write!(f, "{file}: {error}"),
            Format {
                file,
                offset,
                message,
            } => write!(f, "{file}: byte {offset}: {message}"),
            UnsupportedDtype { file, name, found } => {
                write!(
                    f,
                    "{file}: tensor '{name}': expected dtype F32 or F64, found {found}"
                )
            }
            Missing { file, name } => {
                write!(
                    f,
                    "{file}: tensor '{name}': expected in the file, not found"
                )
            }
            Unexpected { file, name } => {
                write!(
                    f,
                    "{file}: tensor '{name}': found in the file, not expected"
                )
            }
            Shape {
                file,
                name,
                expected,
                found,
            } => write!(
                f,
                "{file}: tensor '{name}': expected shape {expected:?}, found {found:?}"
            ),
            BadName { name, reason } => write!(f, "tensor name '{name}': {reason}"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckpointError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
