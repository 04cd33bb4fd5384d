//! Joining and indexing: `concat`, `stack`, `pad_axis`, `index_select` and its
//! adjoint `index_add`, `gather` and its adjoint `scatter_add`, `one_hot`.
//!
//! Indices are integers ([`IndexTensor`] or `&[usize]`), never floats, and
//! must be in range, or the op panics naming the index and the axis size.
//!
//! ```
//! use tapegrad_tensor::{IndexTensor, Tensor};
//! let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
//! let b = Tensor::<f32>::from_vec(vec![5.0, 6.0], &[1, 2]);
//! let c = Tensor::concat(&[&a, &b], 0); // [3, 2]
//! assert_eq!(c.to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! // Pick one column per row: out[i][0] = c[i][idx[i][0]].
//! let idx = IndexTensor::from_vec(vec![1, 0, 1], &[3, 1]);
//! assert_eq!(c.gather(1, &idx).to_vec(), vec![2.0, 3.0, 6.0]);
//! ```

use crate::alloc;
use crate::elementwise::{collect_chunks, CHUNK, PARALLEL_THRESHOLD};
use crate::float::Float;
use crate::index_tensor::IndexTensor;
use crate::layout::{checked_numel, contiguous_strides, normalize_axis, RunWalker, Shape, Strides};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Calls `f(row_index, row)` on consecutive `row_len`-element rows of `out`,
/// in parallel (rayon) when `out` has at least [`PARALLEL_THRESHOLD`]
/// elements. Each row is written by one call, so results do not depend on
/// the number of threads.
pub(crate) fn for_each_row_mut<T: Send>(
    out: &mut [T],
    row_len: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if row_len == 0 || out.is_empty() {
        return;
    }
    if out.len() >= PARALLEL_THRESHOLD && out.len() > row_len {
        // Hand each task at least CHUNK elements, however short the rows.
        out.par_chunks_mut(row_len)
            .enumerate()
            .with_min_len(CHUNK.div_ceil(row_len))
            .for_each(|(i, row)| f(i, row));
    } else {
        out.chunks_mut(row_len)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    }
}

/// `(outer, size, inner)`: the products of the dimensions before `axis`,
/// the size of `axis`, and the product of the dimensions after it.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Checks plain `usize` indices against the size of `axis`.
#[track_caller]
fn check_indices(op: &str, indices: &[usize], axis: usize, size: usize) {
    if let Some(&bad) = indices.iter().find(|&&i| i >= size) {
        panic!("{op}: index {bad} is out of bounds for axis {axis} of size {size}");
    }
}

/// Checks the shapes of `gather`/`scatter_add`: `index` has the same number of
/// dimensions as `input` and is no larger outside `axis` (nor, for
/// `scatter_add`, larger than `src` anywhere).
#[track_caller]
fn check_index_shape(op: &str, input: &[usize], index: &[usize], axis: usize) {
    if input.len() != index.len() {
        panic!("{op}: index shape {index:?} and input shape {input:?} have different numbers of dimensions");
    }
    if (0..input.len()).any(|d| d != axis && index[d] > input[d]) {
        panic!(
            "{op}: index shape {index:?} is larger than input shape {input:?} outside axis {axis}"
        );
    }
}

/// `strides` with the one of `axis` zeroed: walking an index-shaped grid with
/// these gives the storage position of each element before the indexed
/// axis's own offset (`index value * stride`) is added.
fn strides_without(strides: &[usize], axis: usize) -> Strides {
    let mut s: Strides = strides.into();
    s[axis] = 0;
    s
}

impl<E: Float> Tensor<E> {
    /// Joins tensors along an existing `axis` (negative counts from the end).
    ///
    /// All shapes must agree except along `axis`; the result's size there is
    /// the sum of theirs. Always a copy.
    ///
    /// # Panics
    /// If `tensors` is empty, the numbers of dimensions differ, or two
    /// shapes differ outside `axis`:
    /// `concat: shapes [2, 3] and [2, 4] differ outside axis 0`.
    #[track_caller]
    pub fn concat(tensors: &[&Tensor<E>], axis: isize) -> Tensor<E> {
        let Some(first) = tensors.first() else {
            panic!("concat: needs at least one tensor");
        };
        let ax = normalize_axis(axis, first.ndim(), "concat");
        for t in &tensors[1..] {
            let (a, b) = (first.shape(), t.shape());
            if a.len() != b.len() {
                panic!("concat: shapes {a:?} and {b:?} have different numbers of dimensions");
            }
            if (0..a.len()).any(|d| d != ax && a[d] != b[d]) {
                panic!("concat: shapes {a:?} and {b:?} differ outside axis {ax}");
            }
        }
        let mut shape: Shape = first.shape_vec();
        let total = tensors
            .iter()
            .try_fold(0usize, |acc, t| acc.checked_add(t.shape()[ax]));
        shape[ax] = match total {
            Some(total) => total,
            None => panic!("concat: the sizes along axis {ax} add up to more than fit in memory"),
        };
        let n = checked_numel(&shape, "concat");
        let (_, _, inner) = split_at_axis(&shape, ax);
        let parts: Vec<Tensor<E>> = tensors.iter().map(|t| t.contiguous()).collect();
        let blocks: Vec<(&[E], usize)> = parts
            .iter()
            .map(|p| (p.as_slice().expect("contiguous"), p.shape()[ax] * inner))
            .collect();
        let mut out = alloc::zeroed(n, "concat");
        for_each_row_mut(&mut out, shape[ax] * inner, |o, row| {
            let mut at = 0;
            for &(src, len) in &blocks {
                row[at..at + len].copy_from_slice(&src[o * len..(o + 1) * len]);
                at += len;
            }
        });
        Tensor::from_vec(out, &shape)
    }

    /// Joins same-shape tensors along a new dimension inserted at `axis`
    /// (`0..=ndim`; negative counts from the end).
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    /// let b = Tensor::<f32>::from_vec(vec![3.0, 4.0], &[2]);
    /// assert_eq!(Tensor::stack(&[&a, &b], 1).to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    /// ```
    ///
    /// # Panics
    /// If `tensors` is empty or two shapes differ: `stack: shapes [2] and [3] differ`.
    #[track_caller]
    pub fn stack(tensors: &[&Tensor<E>], axis: isize) -> Tensor<E> {
        let Some(first) = tensors.first() else {
            panic!("stack: needs at least one tensor");
        };
        let ax = normalize_axis(axis, first.ndim() + 1, "stack");
        if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
            panic!(
                "stack: shapes {:?} and {:?} differ",
                first.shape(),
                t.shape()
            );
        }
        let expanded: Vec<Tensor<E>> = tensors.iter().map(|t| t.unsqueeze(ax as isize)).collect();
        let refs: Vec<&Tensor<E>> = expanded.iter().collect();
        Tensor::concat(&refs, ax as isize)
    }

    /// Pads `axis` with `before` copies of `value` in front and `after` behind
    /// (the adjoint of [`narrow`](Self::narrow), with `value = 0`).
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::ones(&[2]);
    /// assert_eq!(a.pad_axis(0, 1, 2, 0.0).to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn pad_axis(&self, axis: isize, before: usize, after: usize, value: E) -> Tensor<E> {
        let ax = normalize_axis(axis, self.ndim(), "pad_axis");
        let mut padded = self.shape_vec();
        padded[ax] = match self.shape()[ax].checked_add(before).and_then(|n| n.checked_add(after)) {
            Some(n) => n,
            None => panic!(
                "pad_axis: padding {before} + {after} on axis {ax} of {:?} has more elements than fit in memory",
                self.shape()
            ),
        };
        checked_numel(&padded, "pad_axis");
        let side = |n: usize| {
            let mut s = self.shape_vec();
            s[ax] = n;
            Tensor::full_for(&s, value, "pad_axis")
        };
        Tensor::concat(&[&side(before), self, &side(after)], ax as isize)
    }

    /// Selects entries `indices` along `axis` (repeats allowed), like
    /// PyTorch's `index_select`: `out[.., j, ..] = self[.., indices[j], ..]`.
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    /// assert_eq!(a.index_select(0, &[2, 0, 2]).to_vec(), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    /// ```
    ///
    /// # Panics
    /// If an index is out of range:
    /// `index_select: index 7 is out of bounds for axis 0 of size 5`.
    #[track_caller]
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Tensor<E> {
        let ax = normalize_axis(axis, self.ndim(), "index_select");
        let (_, size, inner) = split_at_axis(self.shape(), ax);
        check_indices("index_select", indices, ax, size);
        let mut shape = self.shape_vec();
        shape[ax] = indices.len();
        let n = checked_numel(&shape, "index_select");
        let src = self.contiguous();
        let src = src.as_slice().expect("contiguous");
        let mut out = alloc::zeroed(n, "index_select");
        for_each_row_mut(&mut out, indices.len() * inner, |o, row| {
            for (j, &i) in indices.iter().enumerate() {
                let from = (o * size + i) * inner;
                row[j * inner..(j + 1) * inner].copy_from_slice(&src[from..from + inner]);
            }
        });
        Tensor::from_vec(out, &shape)
    }

    /// Adds the slices of `src` into entries `indices` along `axis` of a copy
    /// of `self` (PyTorch's `index_add`; the adjoint of
    /// [`index_select`](Self::index_select)). Repeated indices accumulate.
    ///
    /// `src` has `self`'s shape except `indices.len()` along `axis`.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// let src = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    /// let out = Tensor::zeros(&[2]).index_add(0, &[1, 0, 1], &src);
    /// assert_eq!(out.to_vec(), vec![2.0, 4.0]);
    /// ```
    ///
    /// # Panics
    /// If an index is out of range or `src` has the wrong shape.
    #[track_caller]
    pub fn index_add(&self, axis: isize, indices: &[usize], src: &Tensor<E>) -> Tensor<E> {
        let ax = normalize_axis(axis, self.ndim(), "index_add");
        let (_, size, inner) = split_at_axis(self.shape(), ax);
        let mut want = self.shape_vec();
        want[ax] = indices.len();
        if src.shape() != want.as_slice() {
            panic!(
                "index_add: src shape {:?} does not match input shape {:?} with {} indices along axis {ax}",
                src.shape(),
                self.shape(),
                indices.len()
            );
        }
        check_indices("index_add", indices, ax, size);
        let src = src.contiguous();
        let src = src.as_slice().expect("contiguous");
        let k = indices.len();
        let mut out = self.to_vec();
        for_each_row_mut(&mut out, size * inner, |o, row| {
            for (j, &i) in indices.iter().enumerate() {
                let from = &src[(o * k + j) * inner..(o * k + j + 1) * inner];
                for (r, &s) in row[i * inner..(i + 1) * inner].iter_mut().zip(from) {
                    *r += s;
                }
            }
        });
        Tensor::from_vec(out, self.shape())
    }

    /// Picks values along `axis` at the positions held in `index` (PyTorch's
    /// `gather`): for a 3-D tensor and `axis = 1`,
    /// `out[i][j][k] = self[i][index[i][j][k]][k]`. The result has `index`'s
    /// shape, which may be smaller than `self`'s outside `axis`.
    ///
    /// # Panics
    /// If `index` has a different number of dimensions, is larger than `self`
    /// outside `axis`, or holds a value not in `0..self.dim(axis)`:
    /// `gather: index 7 is out of bounds for axis 1 of size 5`.
    #[track_caller]
    pub fn gather(&self, axis: isize, index: &IndexTensor) -> Tensor<E> {
        let ax = normalize_axis(axis, self.ndim(), "gather");
        check_index_shape("gather", self.shape(), index.shape(), ax);
        let idx = index.as_slice();
        check_indices("gather", idx, ax, self.shape()[ax]);
        let base = strides_without(self.strides(), ax);
        let walker = RunWalker::new(index.shape(), [(&base, self.offset())]);
        let [step] = walker.inner_strides();
        let along = self.strides()[ax];
        let data = self.storage();
        let out = collect_chunks(idx.len(), "gather", |r, o| {
            let first = r.start;
            walker.for_each_run(r, |dst, [start], len| {
                for j in 0..len {
                    o[dst - first + j].write(data[start + j * step + idx[dst + j] * along]);
                }
            });
        });
        Tensor::from_vec(out, index.shape())
    }

    /// A copy of `self` with each element of `src` added at the position
    /// `index` names along `axis` (PyTorch's `scatter_add`; the adjoint of
    /// [`gather`](Self::gather)): for `axis = 1`,
    /// `out[i][index[i][j]] += src[i][j]`. Repeated positions accumulate.
    ///
    /// `index` may be smaller than `src` in any dimension, and smaller than
    /// `self` outside `axis`; only `src`'s leading block of `index`'s shape is used.
    ///
    /// ```
    /// use tapegrad_tensor::{IndexTensor, Tensor};
    /// let idx = IndexTensor::from_vec(vec![2, 0, 2], &[1, 3]);
    /// let src = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]);
    /// let out = Tensor::zeros(&[1, 4]).scatter_add(1, &idx, &src);
    /// assert_eq!(out.to_vec(), vec![2.0, 0.0, 4.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// On the shape and index errors of [`gather`](Self::gather), or if
    /// `index` is larger than `src`.
    #[track_caller]
    pub fn scatter_add(&self, axis: isize, index: &IndexTensor, src: &Tensor<E>) -> Tensor<E> {
        let ax = normalize_axis(axis, self.ndim(), "scatter_add");
        check_index_shape("scatter_add", self.shape(), index.shape(), ax);
        let (ishape, sshape) = (index.shape(), src.shape());
        if ishape.len() != sshape.len() || ishape.iter().zip(sshape).any(|(i, s)| i > s) {
            panic!("scatter_add: index shape {ishape:?} is larger than src shape {sshape:?}");
        }
        let idx = index.as_slice();
        check_indices("scatter_add", idx, ax, self.shape()[ax]);
        let mut block = src.clone();
        for (d, &n) in ishape.iter().enumerate() {
            block = block.narrow(d as isize, 0, n);
        }
        let values = block.to_vec();
        let out_strides = contiguous_strides(self.shape());
        let base = strides_without(&out_strides, ax);
        let walker = RunWalker::new(ishape, [(&base, 0)]);
        let [step] = walker.inner_strides();
        let along = out_strides[ax];
        let mut out = self.to_vec();
        walker.for_each_run(0..idx.len(), |dst, [start], len| {
            for j in 0..len {
                out[start + j * step + idx[dst + j] * along] += values[dst + j];
            }
        });
        Tensor::from_vec(out, self.shape())
    }

    /// Rows of the `classes x classes` identity: `out[i][labels[i]] = 1`,
    /// shape `[labels.len(), classes]`.
    ///
    /// ```
    /// let t = tapegrad_tensor::Tensor::<f32>::one_hot(&[2, 0], 3);
    /// assert_eq!(t.to_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// If a label is not below `classes`: `one_hot: label 3 is out of range for 3 classes`.
    #[track_caller]
    pub fn one_hot(labels: &[usize], classes: usize) -> Tensor<E> {
        let n = checked_numel(&[labels.len(), classes], "one_hot");
        let mut out = alloc::zeroed(n, "one_hot");
        for (i, &label) in labels.iter().enumerate() {
            if label >= classes {
                panic!("one_hot: label {label} is out of range for {classes} classes");
            }
            out[i * classes + label] = E::ONE;
        }
        Tensor::from_vec(out, &[labels.len(), classes])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_on_transposed_view_reads_logical_elements() {
        // a = [[0, 1, 2], [3, 4, 5]]; t = a^T = [[0, 3], [1, 4], [2, 5]].
        let a = Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
        let t = a.t();
        let idx = IndexTensor::from_vec(vec![1, 0, 1], &[3, 1]);
        // Row i takes column idx[i]: t[0][1] = 3, t[1][0] = 1, t[2][1] = 5.
        assert_eq!(t.gather(1, &idx).to_vec(), vec![3.0, 1.0, 5.0]);
    }

    #[test]
    fn concat_of_one_tensor_is_a_copy_of_it() {
        let a = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]).t();
        let c = Tensor::concat(&[&a], 1);
        assert_eq!(c.to_vec(), a.to_vec());
        assert!(c.is_contiguous());
    }

    #[test]
    fn gather_reads_indices_past_f32_precision_exactly() {
        // 2^24 + 1 is not an f32; as an integer index it picks element 2^24 + 1.
        let n = (1 << 24) + 2;
        let x = Tensor::<f64>::arange(0.0, n as f64, 1.0);
        let idx = IndexTensor::from_vec(vec![(1 << 24) + 1], &[1]);
        assert_eq!(x.gather(0, &idx).item(), 16_777_217.0);
    }

    #[test]
    fn zero_sized_axes_are_fine() {
        let a = Tensor::<f32>::zeros(&[0, 3]);
        let b = Tensor::<f32>::ones(&[2, 3]);
        assert_eq!(Tensor::concat(&[&a, &b], 0).shape(), &[2, 3]);
        assert_eq!(b.index_select(0, &[]).shape(), &[0, 3]);
        assert_eq!(Tensor::<f32>::one_hot(&[], 4).shape(), &[0, 4]);
        // An empty [2, 0] part (strides [1, 1]) is contiguous and adds nothing.
        let c = Tensor::concat(&[&Tensor::zeros(&[2, 0]), &b], 1);
        assert_eq!(c.to_vec(), b.to_vec());
    }
}
