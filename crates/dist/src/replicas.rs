//! Keeping the ranks' models the same: checked at start, copied from one
//! rank to all, saved and loaded by rank 0 alone.

use crate::buffer::Buffer;
use crate::collective::{floats, Collective, CollectiveExt};
use crate::error::DistError;
use std::collections::BTreeMap;
use std::path::Path;
use tapegrad_nn::checkpoint::{load_module, save_module};
use tapegrad_nn::Module;
use tapegrad_tensor::{Float, Tensor};

/// One line per state-dict entry, `"name [shape] dtype"`: what must agree
/// across ranks.
pub fn model_signature<E: Float>(model: &dyn Module<E>) -> String {
    model
        .state_dict()
        .iter()
        .map(|(name, t)| format!("{name} {:?} {}\n", t.shape(), E::DTYPE))
        .collect()
}

/// Checks that every rank's model has the same state-dict names, shapes
/// and dtype as rank 0's. Every rank returns the same verdict; a rank whose
/// model differs names its first difference.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_dist::{check_same_model, Collective, ThreadCollective};
/// use tapegrad_nn::{Linear, Sequential};
/// let verdicts: Vec<String> = std::thread::scope(|s| {
///     let hs: Vec<_> = ThreadCollective::group(2).into_iter().map(|c| s.spawn(move || {
///         let mut rng = rand::rngs::StdRng::seed_from_u64(0);
///         let width = if c.rank() == 1 { 5 } else { 4 }; // rank 1 built it wrong
///         let model: Sequential<f32> = Sequential::new().add(Linear::new(3, width, &mut rng));
///         check_same_model(&c, &model).unwrap_err().to_string()
///     })).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert!(verdicts[1].contains("0.weight [5, 3]") && verdicts[1].contains("[4, 3]"), "{}", verdicts[1]);
/// assert!(verdicts[0].contains("1 of 2 ranks"), "{}", verdicts[0]);
/// ```
pub fn check_same_model<E: Float>(
    comm: &dyn Collective,
    model: &dyn Module<E>,
) -> Result<(), DistError> {
    let mine = model_signature(model);
    let reference = comm.broadcast_text(&mine, 0)?;
    let difference = first_difference(&mine, &reference);
    let differ = comm.all_reduce_count(u64::from(difference.is_some()))?;
    if differ == 0 {
        return Ok(());
    }
    let p = comm.world_size();
    let detail = match difference {
        Some(d) => format!("{d}; {differ} of {p} ranks differ from rank 0"),
        None => format!("{differ} of {p} ranks differ from rank 0 (this rank matches it)"),
    };
    Err(DistError::ModelMismatch {
        rank: comm.rank(),
        detail,
    })
}

/// The first line where this rank's signature and rank 0's differ.
fn first_difference(mine: &str, reference: &str) -> Option<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), reference.lines().collect());
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => return Some(format!("entry {i} is `{x}` here, `{y}` on rank 0")),
            (Some(x), None) => {
                return Some(format!(
                    "entry {i} `{x}` is here, not on rank 0 ({} entries)",
                    b.len()
                ))
            }
            (None, Some(y)) => {
                return Some(format!(
                    "rank 0 has entry {i} `{y}`, this rank only {} entries",
                    a.len()
                ))
            }
            (None, None) => unreachable!("i < max(len)"),
        }
    }
    None
}

/// Replaces every parameter and buffer of `model` by `root`'s, in one
/// broadcast of the whole state dict. The models must have the same
/// signature ([`check_same_model`]).
pub fn broadcast_module<E: Float>(
    comm: &dyn Collective,
    model: &mut dyn Module<E>,
    root: usize,
) -> Result<(), DistError> {
    let state = model.state_dict();
    let flat: Vec<E> = state.iter().flat_map(|(_, t)| t.to_vec()).collect();
    let flat = floats::<E>(
        comm.rank(),
        comm.start_broadcast(Buffer::from_floats(flat), root)
            .wait()?,
    )?;
    let mut offset = 0;
    let mut tensors = BTreeMap::new();
    for (name, t) in state {
        let n = t.numel();
        tensors.insert(
            name,
            Tensor::from_vec(flat[offset..offset + n].to_vec(), t.shape()),
        );
        offset += n;
    }
    model
        .load_state_dict(tensors)
        .map_err(|e| DistError::Mismatch {
            rank: comm.rank(),
            detail: format!("rank {root}'s state dict does not fit this model: {e}"),
        })
}

/// Saves `model` as safetensors at `path` on rank 0 only (the others
/// write nothing), then tells every rank how it went: all return `Ok`,
/// or all return rank 0's error.
pub fn save_checkpoint<E: Float>(
    comm: &dyn Collective,
    path: impl AsRef<Path>,
    model: &dyn Module<E>,
) -> Result<(), DistError> {
    let status = if comm.rank() == 0 {
        save_module(path, model)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    outcome(comm, &status)
}

/// Loads the safetensors checkpoint at `path` on rank 0 and broadcasts it:
/// every rank's `model` ends with rank 0's file. Other ranks do not read
/// the file (it need not exist on their machines). If rank 0 cannot load
/// it, every rank returns its error and no model changes.
pub fn load_checkpoint<E: Float>(
    comm: &dyn Collective,
    path: impl AsRef<Path>,
    model: &mut dyn Module<E>,
) -> Result<(), DistError> {
    let status = if comm.rank() == 0 {
        load_module(path, model)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    outcome(comm, &status)?;
    broadcast_module(comm, model, 0)
}

/// Rank 0's status (empty for success) as every rank's result.
fn outcome(comm: &dyn Collective, status: &str) -> Result<(), DistError> {
    let message = comm.broadcast_text(status, 0)?;
    if message.is_empty() {
        Ok(())
    } else {
        Err(DistError::Checkpoint {
            rank: comm.rank(),
            message,
        })
    }
}
