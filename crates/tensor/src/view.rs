//! View ops: new shapes and strides over the same storage, no copy where possible.

use crate::float::Float;
use crate::layout::{
    broadcast_shapes, checked_numel, contiguous_strides, normalize_axis, try_numel, Layout, Shape,
    Strides,
};
use crate::shape_rules::{permutation, transposition};
use crate::tensor::Tensor;

impl<E: Float> Tensor<E> {
    #[track_caller]
    fn with_layout(&self, layout: Layout, op: &str) -> Tensor<E> {
        Tensor::from_parts(self.storage.clone(), layout, op)
    }

    /// The same elements with a new shape (see [`reshape_infer`](Self::reshape_infer) for `-1`).
    ///
    /// A view when the tensor is contiguous, otherwise a copy.
    ///
    /// # Panics
    /// If the element counts differ.
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor<E> {
        let n = checked_numel(shape, "reshape");
        if n != self.numel() {
            panic!(
                "reshape: cannot reshape {:?} ({} elements) to {:?} ({} elements)",
                self.shape(),
                self.numel(),
                shape,
                n
            );
        }
        if self.is_contiguous() {
            self.with_layout(
                Layout {
                    shape: shape.into(),
                    strides: contiguous_strides(shape),
                    offset: self.layout.offset,
                },
                "reshape",
            )
        } else {
            Tensor::from_vec(self.to_vec(), shape)
        }
    }

    /// Like [`reshape`](Self::reshape), with at most one `-1` size inferred
    /// from the element count (as in PyTorch).
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::zeros(&[2, 3, 4]);
    /// assert_eq!(a.reshape_infer(&[-1, 4]).shape(), &[6, 4]);
    /// ```
    ///
    /// # Panics
    /// If a size is negative other than `-1`, more than one size is `-1`,
    /// or the counts cannot match.
    #[track_caller]
    pub fn reshape_infer(&self, shape: &[isize]) -> Tensor<E> {
        if let Some(bad) = shape.iter().find(|&&s| s < -1) {
            panic!("reshape: size {bad} in {shape:?} is negative (only -1, inferred, may be)");
        }
        let unknown = shape.iter().filter(|&&s| s == -1).count();
        let known: Vec<usize> = shape
            .iter()
            .filter(|&&s| s >= 0)
            .map(|&s| s as usize)
            .collect();
        let Some(known) = try_numel(&known) else {
            panic!("reshape: shape {shape:?} has more elements than fit in memory");
        };
        if unknown > 1 || (unknown == 1 && (known == 0 || !self.numel().is_multiple_of(known))) {
            panic!("reshape: cannot reshape {:?} to {:?}", self.shape(), shape);
        }
        let resolved: Shape = shape
            .iter()
            .map(|&s| {
                if s < 0 {
                    self.numel() / known
                } else {
                    s as usize
                }
            })
            .collect();
        self.reshape(&resolved)
    }

    /// Reorders the dimensions: output dimension `i` is input dimension
    /// `perm[i]` (negative entries count from the end). A view.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    ///
    /// let x = Tensor::<f32>::zeros(&[2, 3, 4]);
    /// assert_eq!(x.permute(&[-1, 0, 1]).shape(), &[4, 2, 3]);
    /// ```
    ///
    /// # Panics
    /// If `perm` is not a permutation of the dimensions.
    #[track_caller]
    pub fn permute(&self, perm: &[isize]) -> Tensor<E> {
        let perm = permutation(perm, self.shape(), "permute");
        self.permute_dims(&perm, "permute")
    }

    /// [`permute`](Self::permute) by a checked permutation of `0..ndim`.
    pub(crate) fn permute_dims(&self, perm: &[usize], op: &str) -> Tensor<E> {
        let shape = perm.iter().map(|&p| self.layout.shape[p]).collect();
        let strides = perm.iter().map(|&p| self.layout.strides[p]).collect();
        self.with_layout(
            Layout {
                shape,
                strides,
                offset: self.layout.offset,
            },
            op,
        )
    }

    /// Swaps two dimensions (negative axes count from the end). A view.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Tensor<E> {
        let perm = transposition(a, b, self.ndim(), "transpose");
        self.permute_dims(&perm, "transpose")
    }

    /// The matrix transpose of the last two dimensions. A view.
    ///
    /// # Panics
    /// If the tensor has fewer than 2 dimensions.
    #[track_caller]
    pub fn t(&self) -> Tensor<E> {
        if self.ndim() < 2 {
            panic!(
                "t: needs at least 2 dimensions, got shape {:?}",
                self.shape()
            );
        }
        self.transpose(-2, -1)
    }

    /// Repeats size-1 dimensions (and adds leading ones) to reach `shape`,
    /// with stride 0: a view, no copy.
    ///
    /// # Panics
    /// If the shape is not a NumPy broadcast of this one.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor<E> {
        let nd = shape.len();
        let own = self.shape();
        let ok =
            nd >= own.len() && broadcast_shapes(own, shape).is_some_and(|s| s.as_slice() == shape);
        if !ok {
            panic!("broadcast_to: cannot broadcast {:?} to {:?}", own, shape);
        }
        checked_numel(shape, "broadcast_to");
        let lead = nd - own.len();
        let strides: Strides = (0..nd)
            .map(|d| {
                if d < lead || own[d - lead] != shape[d] {
                    0
                } else {
                    self.layout.strides[d - lead]
                }
            })
            .collect();
        self.with_layout(
            Layout {
                shape: shape.into(),
                strides,
                offset: self.layout.offset,
            },
            "broadcast_to",
        )
    }

    /// Element `index` along `axis`, with that axis removed (NumPy's
    /// `a[:, index]`, PyTorch's `select`). A view.
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
    /// assert_eq!(a.select(1, 2).to_vec(), vec![2.0, 5.0]);
    /// assert_eq!(a.select(-2, 0).shape(), &[3]);
    /// ```
    ///
    /// # Panics
    /// If `index` is not below the size of `axis`:
    /// `select: index 3 out of range for axis 1 of size 3 (shape [2, 3])`.
    #[track_caller]
    pub fn select(&self, axis: isize, index: usize) -> Tensor<E> {
        let d = normalize_axis(axis, self.ndim(), "select");
        let size = self.layout.shape[d];
        if index >= size {
            panic!(
                "select: index {index} out of range for axis {d} of size {size} (shape {:?})",
                self.shape()
            );
        }
        self.narrow(d as isize, index, 1).squeeze(d as isize)
    }

    /// Elements `start..start + len` along `axis`. A view.
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
    /// assert_eq!(a.narrow(1, 1, 2).to_vec(), vec![1.0, 2.0, 4.0, 5.0]);
    /// ```
    ///
    /// # Panics
    /// If the range does not fit in the dimension.
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor<E> {
        let d = normalize_axis(axis, self.ndim(), "narrow");
        let size = self.layout.shape[d];
        // `start + len` in checked arithmetic: with `start = usize::MAX` it
        // would wrap to a small number and pass.
        match start.checked_add(len) {
            Some(end) if end <= size => {}
            Some(end) => panic!(
                "narrow: range {start}..{end} is out of bounds for axis {d} of {:?}",
                self.shape()
            ),
            None => panic!(
                "narrow: range of {len} from {start} is out of bounds for axis {d} of {:?} (the end overflows)",
                self.shape()
            ),
        }
        let mut layout = self.layout.clone();
        if len > 0 {
            // In bounds: start < size, so start * stride <= the largest index.
            layout.offset += start * layout.strides[d];
        }
        layout.shape[d] = len;
        self.with_layout(layout, "narrow")
    }

    /// Removes dimension `axis`, which must have size 1. A view.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Tensor<E> {
        let d = normalize_axis(axis, self.ndim(), "squeeze");
        if self.layout.shape[d] != 1 {
            panic!(
                "squeeze: axis {} of {:?} has size {}, not 1",
                d,
                self.shape(),
                self.layout.shape[d]
            );
        }
        let mut layout = self.layout.clone();
        layout.shape.remove(d);
        layout.strides.remove(d);
        self.with_layout(layout, "squeeze")
    }

    /// Removes every size-1 dimension. A view.
    pub fn squeeze_all(&self) -> Tensor<E> {
        let keep: Vec<usize> = (0..self.ndim())
            .filter(|&d| self.layout.shape[d] != 1)
            .collect();
        let shape = keep.iter().map(|&d| self.layout.shape[d]).collect();
        let strides = keep.iter().map(|&d| self.layout.strides[d]).collect();
        self.with_layout(
            Layout {
                shape,
                strides,
                offset: self.layout.offset,
            },
            "squeeze_all",
        )
    }

    /// Inserts a size-1 dimension at `axis` (`0..=ndim`; negative counts from the end). A view.
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Tensor<E> {
        let d = normalize_axis(axis, self.ndim() + 1, "unsqueeze");
        let mut layout = self.layout.clone();
        // Any stride is valid for a size-1 dimension; this one keeps
        // contiguous tensors contiguous, and saturates rather than wraps.
        let stride = if d < self.ndim() {
            layout.strides[d].saturating_mul(layout.shape[d])
        } else {
            1
        };
        layout.shape.insert(d, 1);
        layout.strides.insert(d, stride);
        self.with_layout(layout, "unsqueeze")
    }

    /// Flattens to one dimension (a view when contiguous).
    pub fn flatten_all(&self) -> Tensor<E> {
        self.reshape(&[self.numel()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(shape: &[usize]) -> Tensor<f64> {
        let n = shape.iter().product::<usize>() as f64;
        Tensor::arange(0.0, n, 1.0).reshape(shape)
    }

    #[test]
    fn views_share_storage() {
        let a = range(&[2, 3, 4]);
        for v in [
            a.transpose(0, 2),
            a.narrow(1, 1, 2),
            a.unsqueeze(0),
            a.reshape(&[6, 4]),
            a.permute(&[1, 2, 0]),
        ] {
            assert!(v.shares_storage_with(&a));
        }
        let row = range(&[1, 3]);
        assert!(row.broadcast_to(&[4, 3]).shares_storage_with(&row));
        assert!(!a
            .contiguous()
            .shares_storage_with(&a.transpose(0, 1).contiguous()));
    }

    #[test]
    fn broadcast_repeats_rows() {
        let row = range(&[1, 3]);
        let b = row.broadcast_to(&[2, 2, 3]);
        assert_eq!(
            b.to_vec(),
            vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0]
        );
        assert_eq!(b.strides(), &[0, 0, 1]);
    }

    #[test]
    #[should_panic(expected = "broadcast_to: cannot broadcast [2, 3] to [3, 3]")]
    fn broadcast_to_rejects_incompatible_shape() {
        range(&[2, 3]).broadcast_to(&[3, 3]);
    }

    #[test]
    #[should_panic(expected = "reshape: cannot reshape [2, 3] (6 elements) to [4] (4 elements)")]
    fn reshape_rejects_wrong_count() {
        range(&[2, 3]).reshape(&[4]);
    }

    #[test]
    fn reshape_of_transposed_copies_in_logical_order() {
        let t = range(&[2, 3]).t();
        let r = t.reshape(&[6]);
        assert_eq!(r.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn squeeze_unsqueeze_round_trip() {
        let a = range(&[2, 3]);
        let u = a.unsqueeze(1);
        assert_eq!(u.shape(), &[2, 1, 3]);
        assert_eq!(u.squeeze(1).to_vec(), a.to_vec());
        assert_eq!(a.unsqueeze(-1).shape(), &[2, 3, 1]);
    }
}
