//! The `Tensor` type: a strided view over shared, immutable storage.

use crate::float::Float;
use crate::layout::{checked_numel, Layout, RunWalker, Shape};
use std::sync::Arc;

/// An n-dimensional array of `E` (`f32` by default, `f64` for gradient checks).
///
/// A tensor is a layout (shape, strides, offset) over reference-counted
/// storage, so cloning is cheap and view ops (`reshape` of a contiguous
/// tensor, `transpose`, `permute`, `broadcast_to`, `narrow`) share data
/// instead of copying it. Tensors are immutable: every op returns a new one.
///
/// ```
/// use tapegrad_tensor::Tensor;
/// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// let t = a.transpose(0, 1); // a view: no copy
/// assert_eq!(t.shape(), &[3, 2]);
/// assert_eq!(t.to_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
#[derive(Clone)]
pub struct Tensor<E: Float = f32> {
    pub(crate) storage: Arc<Vec<E>>,
    pub(crate) layout: Layout,
}

impl<E: Float> Tensor<E> {
    /// Wraps a row-major buffer as a tensor of `shape`.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`, or that product does
    /// not fit in memory.
    #[track_caller]
    pub fn from_vec(data: Vec<E>, shape: &[usize]) -> Self {
        let n = checked_numel(shape, "from_vec");
        if data.len() != n {
            panic!(
                "from_vec: {} elements cannot have shape {:?} ({} elements)",
                data.len(),
                shape,
                n
            );
        }
        Tensor {
            storage: Arc::new(data),
            layout: Layout::contiguous(shape),
        }
    }

    /// Builds a tensor from storage and a layout (crate-internal), after
    /// checking that the layout stays inside the storage
    /// ([`Layout::check_fits`]): the invariant every kernel relies on.
    #[track_caller]
    pub(crate) fn from_parts(storage: Arc<Vec<E>>, layout: Layout, op: &str) -> Self {
        layout.check_fits(storage.len(), op);
        Tensor { storage, layout }
    }

    /// A 0-dimensional tensor holding one value.
    pub fn scalar(value: E) -> Self {
        Tensor::from_vec(vec![value], &[])
    }

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    /// The element strides of each dimension (0 where broadcast).
    pub fn strides(&self) -> &[usize] {
        &self.layout.strides
    }

    /// Index into the storage of element `[0, 0, ..]`.
    pub fn offset(&self) -> usize {
        self.layout.offset
    }

    /// The layout (shape, strides, offset), for the kernels in
    /// [`tuning`](crate::tuning).
    #[doc(hidden)]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.layout.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// Size of dimension `axis` (negative counts from the end).
    #[track_caller]
    pub fn dim(&self, axis: isize) -> usize {
        self.layout.shape[crate::layout::normalize_axis(axis, self.ndim(), "dim")]
    }

    /// True if the elements are row-major with no gaps.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// True if two tensors view the same storage buffer.
    pub fn shares_storage_with(&self, other: &Tensor<E>) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Bytes of the storage this tensor keeps alive (shared storage counted in full).
    pub fn storage_bytes(&self) -> usize {
        self.storage.len() * std::mem::size_of::<E>()
    }

    /// The underlying storage buffer (all of it, not only this view).
    pub fn storage(&self) -> &[E] {
        &self.storage
    }

    /// The elements as a slice, if the tensor is contiguous.
    pub fn as_slice(&self) -> Option<&[E]> {
        if self.is_contiguous() {
            Some(&self.storage[self.layout.offset..self.layout.offset + self.numel()])
        } else {
            None
        }
    }

    /// The elements as a mutable slice, if this tensor is the only owner of
    /// its storage and covers all of it contiguously (no view, no clone
    /// sharing the buffer): an in-place update then changes no one else's
    /// values. `None` otherwise (write a new tensor instead).
    ///
    /// ```
    /// let mut a = tapegrad_tensor::Tensor::<f32>::zeros(&[3]);
    /// a.as_mut_slice().unwrap()[1] = 5.0;
    /// assert_eq!(a.to_vec(), vec![0.0, 5.0, 0.0]);
    /// let shared = a.clone();
    /// assert!(a.as_mut_slice().is_none()); // `shared` sees the same buffer
    /// # drop(shared);
    /// ```
    pub fn as_mut_slice(&mut self) -> Option<&mut [E]> {
        let whole =
            self.layout.offset == 0 && self.is_contiguous() && self.numel() == self.storage.len();
        if !whole {
            return None;
        }
        Arc::get_mut(&mut self.storage).map(|v| v.as_mut_slice())
    }

    /// The elements in logical (row-major) order, whatever the strides.
    pub fn to_vec(&self) -> Vec<E> {
        if let Some(s) = self.as_slice() {
            return s.to_vec();
        }
        let n = self.numel();
        let mut out = crate::alloc::with_capacity(n, "to_vec");
        let walker = RunWalker::new(
            &self.layout.shape,
            [(&self.layout.strides, self.layout.offset)],
        );
        let [step] = walker.inner_strides();
        let data = &self.storage[..];
        walker.for_each_run(0..n, |_, [start], len| match step {
            // Contiguous runs copy as a block; broadcast runs (stride 0,
            // as the gradient of a sum) fill as one.
            1 => out.extend_from_slice(&data[start..start + len]),
            0 if len > 0 => out.resize(out.len() + len, data[start]),
            _ => out.extend((0..len).map(|j| data[start + j * step])),
        });
        out
    }

    /// This tensor with contiguous row-major storage (a cheap clone if it already is).
    pub fn contiguous(&self) -> Tensor<E> {
        if self.is_contiguous() {
            self.clone()
        } else {
            Tensor::from_vec(self.to_vec(), &self.layout.shape)
        }
    }

    /// The only element of a one-element tensor.
    ///
    /// # Panics
    /// If the tensor has more or fewer than one element.
    #[track_caller]
    pub fn item(&self) -> E {
        if self.numel() != 1 {
            panic!(
                "item: tensor of shape {:?} has {} elements, not 1",
                self.shape(),
                self.numel()
            );
        }
        self.storage[self.layout.offset]
    }

    /// The element at a multi-index.
    ///
    /// # Panics
    /// If the index has the wrong length or is out of bounds.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> E {
        if index.len() != self.ndim() || index.iter().zip(self.shape()).any(|(i, s)| i >= s) {
            panic!(
                "get: index {:?} is out of bounds for shape {:?}",
                index,
                self.shape()
            );
        }
        self.storage[self.layout.index_of(index)]
    }

    /// Converts the element type (`f32` <-> `f64`).
    pub fn cast<F: Float>(&self) -> Tensor<F> {
        let data = self.to_vec();
        let out = crate::alloc::collect_n(
            data.len(),
            data.iter().map(|x| F::from_f64(x.to_f64())),
            "cast",
        );
        Tensor::from_vec(out, self.shape())
    }

    /// The elements as `f64`, in logical order (handy in tests and reports).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_vec().into_iter().map(|x| x.to_f64()).collect()
    }

    /// True if the shapes are equal and every pair of elements satisfies
    /// `|a - b| <= atol + rtol * |b|`.
    pub fn allclose(&self, other: &Tensor<E>, rtol: f64, atol: f64) -> bool {
        self.shape() == other.shape()
            && self.to_vec().iter().zip(other.to_vec()).all(|(a, b)| {
                let (a, b) = (a.to_f64(), b.to_f64());
                (a - b).abs() <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan())
            })
    }

    /// The shape as an owned small vector.
    pub(crate) fn shape_vec(&self) -> Shape {
        Shape::from_slice(&self.layout.shape)
    }
}
