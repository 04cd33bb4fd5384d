//! Optimiser state on disk: entries named `"{parameter}.{slot}"` and the
//! error returned when a saved state does not fit a model.
//!
//! An optimiser's [`state_dict`](super::Optimizer::state_dict) is a list of
//! named tensors, so it saves and loads with [`crate::checkpoint`] like the
//! weights do. A parameter that was never stepped has no entries (as in
//! PyTorch); a parameter that was has all of its slots (Adam: `exp_avg`,
//! `exp_avg_sq`, `max_exp_avg_sq` with AMSGrad, and `step` as a
//! one-element tensor; SGD with momentum: `momentum_buffer`).
//!
//! ```
//! use tapegrad_nn::optim::{Adam, Optimizer, StateError};
//! use tapegrad_nn::Sequential;
//! use tapegrad_tensor::Tensor;
//!
//! let model: Sequential<f64> = Sequential::new(); // no parameters
//! let mut opt = Adam::new(1e-3);
//! let stray = vec![("0.weight.exp_avg".to_string(), Tensor::<f64>::zeros(&[2]))];
//! let err = opt.load_state_dict(&model, stray).unwrap_err();
//! assert!(matches!(err, StateError::Unexpected { .. }));
//! assert_eq!(
//!     err.to_string(),
//!     "optimizer state: entry '0.weight.exp_avg' matches no parameter state of this model"
//! );
//! ```

use crate::module::Module;
use std::collections::BTreeMap;
use std::fmt;
use tapegrad_tensor::{Float, Tensor};

/// Why a saved optimiser state could not be loaded into a model. Messages
/// name the entry and give expected versus found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StateError {
    /// The same entry name was given twice.
    Duplicate {
        /// The entry.
        name: String,
    },
    /// A parameter has some of its state entries but not this one.
    Missing {
        /// The entry that is missing (`"0.weight.exp_avg_sq"`).
        name: String,
    },
    /// An entry that is not a state slot of any parameter of the model
    /// (another model, or another optimiser configuration, e.g. AMSGrad).
    Unexpected {
        /// The entry.
        name: String,
    },
    /// An entry of another shape than its parameter's state.
    Shape {
        /// The entry.
        name: String,
        /// The shape expected.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A `step` entry that is not a non-negative whole number.
    BadStep {
        /// The entry.
        name: String,
        /// The value found.
        found: f64,
    },
    /// A state value no optimiser could have produced: NaN or infinite
    /// anywhere, or negative in a second-moment estimate (Adam's
    /// `exp_avg_sq`, `max_exp_avg_sq`, whose square root the step takes).
    BadValue {
        /// The entry.
        name: String,
        /// The first offending element (row-major index).
        index: usize,
        /// What the entry's values must be.
        expected: &'static str,
        /// The value found.
        found: f64,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "optimizer state: ")?;
        match self {
            StateError::Duplicate { name } => write!(f, "entry '{name}' given twice"),
            StateError::Missing { name } => {
                let param = name.rsplit_once('.').map_or(name.as_str(), |(p, _)| p);
                write!(f, "entry '{name}' expected (parameter '{param}' has other state entries), not found")
            }
            StateError::Unexpected { name } => {
                write!(f, "entry '{name}' matches no parameter state of this model")
            }
            StateError::Shape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "entry '{name}': expected shape {expected:?}, found {found:?}"
                )
            }
            StateError::BadStep { name, found } => {
                write!(
                    f,
                    "entry '{name}': expected a whole number >= 0, found {found}"
                )
            }
            StateError::BadValue {
                name,
                index,
                expected,
                found,
            } => write!(
                f,
                "entry '{name}' element {index}: expected {expected}, found {found}"
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// Name, id and shape of every parameter of `model`, in visiting order.
pub(crate) fn param_list<E: Float>(model: &dyn Module<E>) -> Vec<(String, u64, Vec<usize>)> {
    let mut out = Vec::new();
    model.visit_params(&mut |name, p| out.push((name.to_string(), p.id(), p.shape().to_vec())));
    out
}

/// Saved entries, taken out parameter by parameter; leftovers are an error.
pub(crate) struct StateReader<E: Float> {
    entries: BTreeMap<String, Tensor<E>>,
}

impl<E: Float> StateReader<E> {
    /// Indexes `entries` by name.
    pub(crate) fn new(entries: Vec<(String, Tensor<E>)>) -> Result<Self, StateError> {
        let mut map = BTreeMap::new();
        for (name, t) in entries {
            if map.contains_key(&name) {
                return Err(StateError::Duplicate { name });
            }
            map.insert(name, t);
        }
        Ok(StateReader { entries: map })
    }

    /// Takes the entries `"{param}.{slot}"` for each `(slot, shape)`:
    /// `None` if the parameter has none of them, an error if it has only
    /// some or one has the wrong shape.
    pub(crate) fn take_param(
        &mut self,
        param: &str,
        slots: &[(&str, &[usize])],
    ) -> Result<Option<Vec<Tensor<E>>>, StateError> {
        let names: Vec<String> = slots.iter().map(|(s, _)| format!("{param}.{s}")).collect();
        if !names.iter().any(|n| self.entries.contains_key(n)) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(slots.len());
        for (name, (_, shape)) in names.into_iter().zip(slots) {
            let Some(t) = self.entries.remove(&name) else {
                return Err(StateError::Missing { name });
            };
            if t.shape() != *shape {
                let (expected, found) = (shape.to_vec(), t.shape().to_vec());
                return Err(StateError::Shape {
                    name,
                    expected,
                    found,
                });
            }
            out.push(t);
        }
        Ok(Some(out))
    }

    /// Fails on the first entry (in name order) that no parameter took.
    pub(crate) fn finish(self) -> Result<(), StateError> {
        match self.entries.into_keys().next() {
            Some(name) => Err(StateError::Unexpected { name }),
            None => Ok(()),
        }
    }
}

/// A step count as a one-element tensor (exact below 2^24 in `f32`).
pub(crate) fn step_tensor<E: Float>(step: u64) -> Tensor<E> {
    Tensor::from_vec(vec![E::from_f64(step as f64)], &[1])
}

/// Reads a step count saved by [`step_tensor`] under `"{param}.step"`.
pub(crate) fn step_from_tensor<E: Float>(param: &str, t: &Tensor<E>) -> Result<u64, StateError> {
    let found = t.to_vec()[0].to_f64();
    if found >= 0.0 && found.fract() == 0.0 && found < 2f64.powi(53) {
        Ok(found as u64)
    } else {
        Err(StateError::BadStep {
            name: format!("{param}.step"),
            found,
        })
    }
}

/// What the values of a state entry must be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Values {
    /// Finite (first moments, momentum buffers).
    Finite,
    /// Finite and `>= 0` (second moments).
    NonNegative,
}

/// Checks every value of the entry `name` against `rule`.
pub(crate) fn check_values<E: Float>(
    name: &str,
    t: &Tensor<E>,
    rule: Values,
) -> Result<(), StateError> {
    let (ok, expected): (fn(f64) -> bool, _) = match rule {
        Values::Finite => (|v: f64| v.is_finite(), "a finite value"),
        Values::NonNegative => (|v: f64| v.is_finite() && v >= 0.0, "a finite value >= 0"),
    };
    match t
        .to_f64_vec()
        .into_iter()
        .enumerate()
        .find(|&(_, v)| !ok(v))
    {
        None => Ok(()),
        Some((index, found)) => Err(StateError::BadValue {
            name: name.to_string(),
            index,
            expected,
            found,
        }),
    }
}

/// A flat buffer as a tensor of `shape`.
pub(crate) fn buffer_tensor<E: Float>(buf: &[E], shape: &[usize]) -> Tensor<E> {
    Tensor::from_vec(buf.to_vec(), shape)
}
