//! Whole modules in and out of checkpoints: the strict, all-or-nothing load
//! behind [`Module::load_state_dict`], and [`save_module`] / [`load_module`]
//! for files.

use super::{check_named, CheckpointError, MEMORY};
#[cfg(feature = "safetensors")]
use super::{load_safetensors, save_safetensors};
use crate::module::Module;
use std::collections::BTreeMap;
#[cfg(feature = "safetensors")]
use std::path::Path;
use tapegrad_tensor::{Float, Tensor};

/// Writes `model`'s [`state_dict`](Module::state_dict) (parameters and
/// buffers) to a safetensors file at `path`, which
/// [`load_module`] (or PyTorch's `load_state_dict` after
/// `safetensors.torch.load_file`) reads back.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use tapegrad_nn::checkpoint::{load_module, save_module};
/// use tapegrad_nn::{BatchNorm2d, Conv2d, Module, ReLU, Sequential};
///
/// let build = |seed| {
///     let mut rng = StdRng::seed_from_u64(seed);
///     Sequential::<f32>::new().add(Conv2d::new(1, 2, 3, &mut rng)).add(BatchNorm2d::new(2))
/// };
/// let path = std::env::temp_dir().join(format!("tapegrad-doc-module-{}.safetensors", std::process::id()));
/// let model = build(0);
/// save_module(&path, &model)?;
///
/// let mut copy = build(1); // other weights, same architecture
/// load_module(&path, &mut copy)?;
/// assert_eq!(copy.state_dict()[0].1.to_vec(), model.state_dict()[0].1.to_vec());
///
/// // Another architecture: the batch norm fits, the convolution has no place.
/// let mut other = Sequential::<f32>::new().add(ReLU).add(BatchNorm2d::new(2));
/// let err = load_module(&path, &mut other).unwrap_err().to_string();
/// assert!(err.ends_with("tensor '0.bias': found in the file, not expected"), "{err}");
/// std::fs::remove_file(&path).unwrap();
/// # Ok::<(), tapegrad_nn::checkpoint::CheckpointError>(())
/// ```
#[cfg(feature = "safetensors")]
pub fn save_module<E: Float, M: Module<E> + ?Sized>(
    path: impl AsRef<Path>,
    model: &M,
) -> Result<(), CheckpointError> {
    save_safetensors(path, &model.state_dict())
}

/// Loads a safetensors file written by [`save_module`] into `model`, as
/// [`Module::load_state_dict`] does: every parameter and buffer must be in
/// the file with its shape, and nothing else may be. Errors name the file
/// and the tensor, and leave `model` unchanged.
#[cfg(feature = "safetensors")]
pub fn load_module<E: Float, M: Module<E> + ?Sized>(
    path: impl AsRef<Path>,
    model: &mut M,
) -> Result<(), CheckpointError> {
    let file = path.as_ref().display().to_string();
    load_state(model, load_safetensors(path)?, &file)
}

/// [`Module::load_state_dict`]: errors name `<memory>` as the file.
pub(crate) fn load_state_into<E: Float, M: Module<E> + ?Sized>(
    model: &mut M,
    tensors: BTreeMap<String, Tensor<E>>,
) -> Result<(), CheckpointError> {
    load_state(model, tensors, MEMORY)
}

/// Checks `tensors` against every parameter and buffer of `model` (names
/// and shapes, in state-dict order) and only then writes them in.
fn load_state<E: Float, M: Module<E> + ?Sized>(
    model: &mut M,
    tensors: BTreeMap<String, Tensor<E>>,
    file: &str,
) -> Result<(), CheckpointError> {
    let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
    model.visit_params(&mut |name, p| expected.push((name.to_string(), p.shape().to_vec())));
    model.visit_buffers(&mut |name, b| expected.push((name.to_string(), b.shape().to_vec())));
    let checked = check_named(tensors, &expected, file)?;
    let mut by_name: BTreeMap<String, Tensor<E>> = expected
        .into_iter()
        .map(|(name, _)| name)
        .zip(checked)
        .collect();
    model.visit_params_mut(&mut |name, p| {
        if let Some(t) = by_name.remove(name) {
            p.set(t);
        }
    });
    model.visit_buffers_mut(&mut |name, b| {
        if let Some(t) = by_name.remove(name) {
            *b = t;
        }
    });
    Ok(())
}
