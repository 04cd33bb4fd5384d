//! `IndexTensor`: an n-d array of integer positions (class labels, `gather`
//! and `scatter_add` indices, `argmax` results). Indices never pass through
//! a float: `f32` holds integers exactly only up to 2^24, so 16777217 would
//! read as 16777216.

use crate::layout::{checked_numel, Shape};
use std::sync::Arc;

/// A contiguous, row-major n-d array of `usize` indices.
///
/// Cloning is cheap (the data is shared), so ops can keep one for their
/// backward pass.
///
/// ```
/// use tapegrad_tensor::{IndexTensor, Tensor};
/// let x = Tensor::<f32>::from_vec(vec![1.0, 9.0, 3.0, 7.0, 2.0, 8.0], &[2, 3]);
/// let best = x.argmax_keepdim(1); // [[1], [2]]
/// assert_eq!(best.as_slice(), &[1, 2]);
/// assert_eq!(x.gather(1, &best).to_vec(), vec![9.0, 8.0]);
/// let labels = IndexTensor::from_vec(vec![16_777_217], &[1]);
/// assert_eq!(labels.get(&[0]), 16_777_217); // exact, unlike an f32
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndexTensor {
    data: Arc<Vec<usize>>,
    shape: Shape,
}

impl IndexTensor {
    /// Wraps row-major `data` as an index array of `shape`.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape` (or that product does
    /// not fit in memory).
    #[track_caller]
    pub fn from_vec(data: Vec<usize>, shape: &[usize]) -> Self {
        let n = checked_numel(shape, "IndexTensor::from_vec");
        if data.len() != n {
            panic!(
                "IndexTensor::from_vec: {} indices cannot have shape {:?} ({} elements)",
                data.len(),
                shape,
                n
            );
        }
        IndexTensor {
            data: Arc::new(data),
            shape: shape.into(),
        }
    }

    /// A 1-D index array of `indices`.
    pub fn from_slice(indices: &[usize]) -> Self {
        IndexTensor::from_vec(indices.to_vec(), &[indices.len()])
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of indices.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The indices in row-major order.
    pub fn as_slice(&self) -> &[usize] {
        &self.data
    }

    /// The indices in row-major order, copied.
    pub fn to_vec(&self) -> Vec<usize> {
        self.data.to_vec()
    }

    /// The index at a multi-index.
    ///
    /// # Panics
    /// If the multi-index has the wrong length or is out of bounds.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> usize {
        if index.len() != self.ndim() || index.iter().zip(&self.shape).any(|(i, s)| i >= s) {
            panic!(
                "IndexTensor::get: index {:?} is out of bounds for shape {:?}",
                index, self.shape
            );
        }
        let at = index
            .iter()
            .zip(&self.shape)
            .fold(0, |acc, (&i, &s)| acc * s + i);
        self.data[at]
    }

    /// The only index of a one-element array.
    ///
    /// # Panics
    /// If there is not exactly one element.
    #[track_caller]
    pub fn item(&self) -> usize {
        if self.numel() != 1 {
            panic!(
                "IndexTensor::item: shape {:?} has {} elements, not 1",
                self.shape,
                self.numel()
            );
        }
        self.data[0]
    }

    /// The same indices with a new shape (shares the data).
    ///
    /// # Panics
    /// If the element counts differ.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Self {
        let n = checked_numel(shape, "IndexTensor::reshape");
        if n != self.numel() {
            panic!(
                "IndexTensor::reshape: cannot reshape {:?} ({} elements) to {:?} ({} elements)",
                self.shape,
                self.numel(),
                shape,
                n
            );
        }
        IndexTensor {
            data: self.data.clone(),
            shape: shape.into(),
        }
    }

    /// The largest index, or `None` if empty.
    pub fn max(&self) -> Option<usize> {
        self.data.iter().copied().max()
    }
}

impl std::fmt::Debug for IndexTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 16;
        write!(f, "IndexTensor(shape {:?}, [", self.shape)?;
        for (i, v) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.data.len() > SHOWN {
            write!(f, ", ...")?;
        }
        write!(f, "])")
    }
}

impl From<&[usize]> for IndexTensor {
    /// A 1-D index array.
    fn from(indices: &[usize]) -> Self {
        IndexTensor::from_slice(indices)
    }
}

impl From<Vec<usize>> for IndexTensor {
    /// A 1-D index array.
    fn from(indices: Vec<usize>) -> Self {
        let n = indices.len();
        IndexTensor::from_vec(indices, &[n])
    }
}
