//! Shapes, strides and offsets: how a tensor's logical indices map onto storage.

use smallvec::SmallVec;

/// Dimensions a [`Shape`] or [`Strides`] holds inline (more go to the heap).
const INLINE_DIMS: usize = 6;

/// A tensor shape (sizes of each dimension). Inline up to 6 dimensions.
pub type Shape = SmallVec<[usize; INLINE_DIMS]>;
/// Element strides of each dimension. A stride of 0 repeats (broadcasts) data.
pub type Strides = SmallVec<[usize; INLINE_DIMS]>;

/// Shape, strides and offset of a view into storage.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    /// Size of each dimension.
    pub shape: Shape,
    /// Step in storage elements for each dimension.
    pub strides: Strides,
    /// Storage index of the element at index `[0, 0, ..]`.
    pub offset: usize,
}

impl Clone for Layout {
    /// Copies the dimensions with [`copy_dims`], much cheaper than the
    /// derived element-by-element clone on the per-op hot path.
    fn clone(&self) -> Self {
        Layout {
            shape: copy_dims(&self.shape),
            strides: copy_dims(&self.strides),
            offset: self.offset,
        }
    }
}

/// A copy of a shape or strides. Up to the inline capacity it copies a
/// fixed-size array (a few register moves, no `memcpy` call of unknown
/// length: a tensor is cloned for every input of every backward rule).
#[inline]
pub(crate) fn copy_dims(dims: &[usize]) -> Shape {
    if dims.len() > INLINE_DIMS {
        return Shape::from_slice(dims);
    }
    let mut buf = [0usize; INLINE_DIMS];
    for (b, &d) in buf.iter_mut().zip(dims) {
        *b = d;
    }
    Shape::from_buf_and_len(buf, dims.len())
}

impl Layout {
    /// A contiguous row-major layout of `shape` starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: copy_dims(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    /// Number of elements.
    ///
    /// A tensor's layout always has a representable element count (every
    /// constructor checks it with [`checked_numel`]), so this cannot overflow.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The largest storage index any element maps to, or `None` if the
    /// layout is empty (no element) or the index overflows `usize`.
    ///
    /// `offset + Σ (shape[d] - 1) * strides[d]`, in checked arithmetic.
    pub fn max_index(&self) -> Option<usize> {
        let mut max = self.offset;
        for (&size, &stride) in self.shape.iter().zip(&self.strides) {
            if size == 0 {
                return None;
            }
            max = max.checked_add((size - 1).checked_mul(stride)?)?;
        }
        Some(max)
    }

    /// Checks that this layout is a valid view of a buffer of `len`
    /// elements: its element count is representable and every element's
    /// storage index is below `len`. Every tensor's layout passes it, which
    /// is what lets the kernels index storage (and hand raw pointers to the
    /// gemm kernel) without further checks.
    ///
    /// # Panics
    /// If not; the message names `op`, the shape, strides and offset.
    #[track_caller]
    pub fn check_fits(&self, len: usize, op: &str) {
        let n = checked_numel(&self.shape, op);
        if n == 0 {
            return;
        }
        match self.max_index() {
            Some(max) if max < len => {}
            _ => panic!(
                "{op}: a view of shape {:?} with strides {:?} at offset {} reaches past the end of its storage of {len} elements",
                self.shape, self.strides, self.offset
            ),
        }
    }

    /// True if the elements are laid out row-major with no gaps (any offset).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&size, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            // As in `contiguous_strides`: a size-0 dimension steps like size 1,
            // so an empty tensor made by `from_vec` counts as contiguous.
            expected = expected.saturating_mul(size.max(1));
        }
        true
    }

    /// Storage index of a multi-index (no bounds check beyond debug asserts).
    pub(crate) fn index_of(&self, index: &[usize]) -> usize {
        debug_assert_eq!(index.len(), self.shape.len());
        self.offset
            + index
                .iter()
                .zip(&self.strides)
                .map(|(i, s)| i * s)
                .sum::<usize>()
    }
}

/// The most elements a tensor may have: `isize::MAX`, the most a Rust
/// buffer (or PyTorch's int64 `numel`) can index.
pub const MAX_NUMEL: usize = isize::MAX as usize;

/// The number of elements of `shape`, or `None` if it exceeds [`MAX_NUMEL`]
/// (or overflows `usize`). A zero anywhere makes it 0, whatever the rest.
pub fn try_numel(shape: &[usize]) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_NUMEL)
}

/// The number of elements of `shape`, checked.
///
/// # Panics
/// If it exceeds [`MAX_NUMEL`]:
/// `"zeros: shape [4294967296, 4294967296] has more elements than fit in memory"`.
#[track_caller]
pub fn checked_numel(shape: &[usize], op: &str) -> usize {
    match try_numel(shape) {
        Some(n) => n,
        None => panic!("{op}: shape {shape:?} has more elements than fit in memory"),
    }
}

/// Row-major strides of `shape`.
///
/// A size-0 dimension steps like size 1. Products saturate instead of
/// wrapping; they can only overflow for an empty shape (a zero elsewhere),
/// whose strides are never used to reach an element.
pub fn contiguous_strides(shape: &[usize]) -> Strides {
    let mut strides: Strides = smallvec::smallvec![0; shape.len()];
    let mut acc: usize = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = acc;
        acc = acc.saturating_mul(shape[d].max(1));
    }
    strides
}

/// The NumPy broadcast of two shapes, or `None` if they are incompatible.
///
/// Shapes are aligned on the right; each pair of sizes must be equal or one
/// of them 1.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = smallvec::smallvec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Normalises a possibly negative axis (`-1` is the last) against `ndim`.
///
/// # Panics
/// If the axis is out of range; the message names `op`.
#[track_caller]
pub fn normalize_axis(axis: isize, ndim: usize, op: &str) -> usize {
    let a = if axis < 0 { axis + ndim as isize } else { axis };
    if a < 0 || a as usize >= ndim {
        panic!("{op}: axis {axis} is out of range for a tensor with {ndim} dimensions");
    }
    a as usize
}

/// Walks the elements of one or more same-shape strided views in row-major
/// order, in runs along the innermost dimension.
///
/// Dimensions that are contiguous with each other in every operand are merged
/// first, so a contiguous tensor is visited as one run. For each run,
/// `f(dst, starts, len)` receives the row-major linear index of its first
/// element, the storage index of that element in each operand, and the run
/// length; within a run operand `k` steps by `inner_strides[k]` (returned).
pub struct RunWalker<const N: usize> {
    shape: Shape,
    strides: [Strides; N],
    offsets: [usize; N],
}

impl<const N: usize> RunWalker<N> {
    /// Prepares a walk over `shape` with each operand's `(strides, offset)`.
    pub fn new(shape: &[usize], operands: [(&[usize], usize); N]) -> Self {
        let (shape, strides) = coalesce(shape, operands.map(|(s, _)| s));
        RunWalker {
            shape,
            strides,
            offsets: operands.map(|(_, o)| o),
        }
    }

    /// Step of each operand along the innermost (run) dimension.
    pub fn inner_strides(&self) -> [usize; N] {
        std::array::from_fn(|k| self.strides[k].last().copied().unwrap_or(0))
    }

    /// Visits the runs that cover linear indices `range` (row-major).
    pub fn for_each_run(
        &self,
        range: std::ops::Range<usize>,
        mut f: impl FnMut(usize, [usize; N], usize),
    ) {
        if range.is_empty() {
            return;
        }
        let nd = self.shape.len();
        if nd == 0 {
            f(range.start, self.offsets, 1);
            return;
        }
        let inner = self.shape[nd - 1];
        // Multi-index of range.start.
        let mut idx: Shape = smallvec::smallvec![0; nd];
        let mut rem = range.start;
        for d in (0..nd).rev() {
            idx[d] = rem % self.shape[d];
            rem /= self.shape[d];
        }
        let mut pos = range.start;
        while pos < range.end {
            let starts: [usize; N] = std::array::from_fn(|k| {
                self.offsets[k]
                    + idx
                        .iter()
                        .zip(&self.strides[k])
                        .map(|(i, s)| i * s)
                        .sum::<usize>()
            });
            let len = (inner - idx[nd - 1]).min(range.end - pos);
            f(pos, starts, len);
            pos += len;
            // Advance the odometer past this run.
            idx[nd - 1] = 0;
            let mut d = nd - 1;
            loop {
                if d == 0 {
                    break;
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }
}

/// Merges adjacent dimensions that are contiguous with each other in every
/// operand and drops size-1 dimensions.
fn coalesce<const N: usize>(shape: &[usize], strides: [&[usize]; N]) -> (Shape, [Strides; N]) {
    let mut out_shape = Shape::new();
    let mut out_strides: [Strides; N] = std::array::from_fn(|_| Strides::new());
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        if let Some(&last) = out_shape.last() {
            let mergeable =
                (0..N).all(|k| *out_strides[k].last().unwrap() == strides[k][d] * shape[d]);
            if mergeable {
                *out_shape.last_mut().unwrap() = last * shape[d];
                for k in 0..N {
                    *out_strides[k].last_mut().unwrap() = strides[k][d];
                }
                continue;
            }
        }
        out_shape.push(shape[d]);
        for k in 0..N {
            out_strides[k].push(strides[k][d]);
        }
    }
    (out_shape, out_strides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes_follow_numpy() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap().as_slice(), &[3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap().as_slice(), &[2, 2]);
        assert_eq!(
            broadcast_shapes(&[5, 1, 7], &[3, 1]).unwrap().as_slice(),
            &[5, 3, 7]
        );
        assert!(broadcast_shapes(&[3], &[4]).is_none());
    }

    #[test]
    fn walker_merges_contiguous_dims_into_one_run() {
        let l = Layout::contiguous(&[2, 3, 4]);
        let w = RunWalker::new(&l.shape, [(&l.strides, 0)]);
        let mut runs = vec![];
        w.for_each_run(0..24, |dst, s, len| runs.push((dst, s[0], len)));
        assert_eq!(runs, vec![(0, 0, 24)]);
    }

    #[test]
    fn walker_visits_transposed_view_in_logical_order() {
        // A [2, 3] view of a [3, 2] buffer (transpose): strides [1, 2].
        let w = RunWalker::new(&[2, 3], [(&[1, 2], 0)]);
        let mut idx = vec![];
        w.for_each_run(1..6, |_, s, len| {
            for j in 0..len {
                idx.push(s[0] + j * w.inner_strides()[0]);
            }
        });
        assert_eq!(idx, vec![2, 4, 1, 3, 5]);
    }
}
