//! Reductions over all or chosen axes, with `keepdim`: sum, mean, max, min,
//! argmax, argmin, logsumexp (stable), variance; and `sum_to` (un-broadcast).
//!
//! Every reduction moves the reduced axes last (a copy only if that view is
//! not contiguous) and folds rows; sum, max and min over the leading axes
//! of a contiguous tensor instead stream whole rows into the output (no
//! copy). Work is split at fixed boundaries, so the result is bit-identical
//! however many threads run it.

use crate::elementwise::{CHUNK, PARALLEL_THRESHOLD};
use crate::float::Float;
use crate::index_tensor::IndexTensor;
use crate::layout::{checked_numel, normalize_axis, Shape};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Sum of a slice with eight independent accumulators (vectorises, and
/// rounds less than one running sum).
pub fn sum_slice<E: Float>(xs: &[E]) -> E {
    let mut acc = [E::ZERO; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let tail: E = chunks.remainder().iter().copied().sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// The larger of a running maximum and a new value; NaN wins.
fn max2<E: Float>(m: E, x: E) -> E {
    if x > m || x.is_nan() {
        x
    } else {
        m
    }
}

/// The smaller of a running minimum and a new value; NaN wins.
fn min2<E: Float>(m: E, x: E) -> E {
    if x < m || x.is_nan() {
        x
    } else {
        m
    }
}

fn max_slice<E: Float>(xs: &[E]) -> E {
    xs.iter().copied().fold(E::NEG_INFINITY, max2)
}

fn min_slice<E: Float>(xs: &[E]) -> E {
    xs.iter().copied().fold(E::INFINITY, min2)
}

/// How two partial results of sum, max or min combine: a split row's
/// partials fold again, and leading axes fold row by row ([`fold_leading`]).
#[derive(Clone, Copy)]
enum Combine {
    Add,
    Max,
    Min,
}

/// How to fold one row, and how partial results combine (`None` when they
/// cannot: argmax, logsumexp, variance).
struct RowFold<F> {
    f: F,
    combine: Option<Combine>,
}

/// Columns per parallel task in [`fold_leading`].
const COLUMN_BLOCK: usize = 1024;

/// Folds `[outer, inner]` row-major data over its outer axis with `combine`,
/// one whole row at a time: `out[j] = combine(..combine(x[0][j], x[1][j]).., x[outer-1][j])`.
///
/// This is how a reduction over leading axes of a contiguous tensor (the
/// bias gradient `sum_to`, a batch mean) runs: streaming rows vectorises
/// along `j` and needs no transposing copy. Each column is folded in row
/// order on one thread, so the result does not depend on the thread count.
fn fold_leading<E: Float>(
    data: &[E],
    outer: usize,
    inner: usize,
    combine: impl Fn(E, E) -> E + Sync,
) -> Vec<E> {
    // `out` starts as row 0; rows 1.. fold into it.
    let fold_columns = |j0: usize, out: &mut [E]| {
        for i in 1..outer {
            let row = &data[i * inner + j0..i * inner + j0 + out.len()];
            for (o, &x) in out.iter_mut().zip(row) {
                *o = combine(*o, x);
            }
        }
    };
    let mut out = data[..inner].to_vec();
    if outer * inner >= PARALLEL_THRESHOLD && inner >= 2 * COLUMN_BLOCK {
        out.par_chunks_mut(COLUMN_BLOCK)
            .enumerate()
            .for_each(|(b, o)| fold_columns(b * COLUMN_BLOCK, o));
    } else {
        fold_columns(0, &mut out);
    }
    out
}

impl<E: Float> Tensor<E> {
    /// Normalised, sorted, deduplicated axes; empty `axes` means all axes.
    #[track_caller]
    pub fn reduce_axes(&self, axes: &[isize], op: &str) -> Vec<usize> {
        if axes.is_empty() {
            return (0..self.ndim()).collect();
        }
        // A loop, not `map`: inside a closure `#[track_caller]` would report
        // this line instead of the caller's.
        let mut a = Vec::with_capacity(axes.len());
        for &x in axes {
            a.push(normalize_axis(x, self.ndim(), op));
        }
        a.sort_unstable();
        a.dedup();
        a
    }

    /// Output shape of a reduction over `axes`.
    fn reduced_shape(&self, axes: &[usize], keepdim: bool) -> Shape {
        (0..self.ndim())
            .filter_map(|d| match (axes.contains(&d), keepdim) {
                (false, _) => Some(self.shape()[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect()
    }

    /// Folds each row of the reduced axes with `fold`.
    #[track_caller]
    fn reduce_rows<F: Fn(&[E]) -> E + Sync>(
        &self,
        axes: &[isize],
        keepdim: bool,
        op: &str,
        fold: RowFold<F>,
    ) -> Tensor<E> {
        let axes = self.reduce_axes(axes, op);
        let out_shape = self.reduced_shape(&axes, keepdim);
        let row: usize = axes.iter().map(|&d| self.shape()[d]).product();
        if row == 0 && fold.combine.is_none() {
            panic!(
                "{op}: cannot reduce over an empty axis of {:?}",
                self.shape()
            );
        }
        // Not bounded by the input's size when a reduced axis is empty.
        let rows = checked_numel(&out_shape, op);
        let leading = axes.iter().enumerate().all(|(i, &d)| i == d);
        if let (Some(combine), true, Some(data)) = (fold.combine, leading, self.as_slice()) {
            // Whole rows of at least a vector's width, and when parallel,
            // enough columns to split.
            let parallel = row * rows >= PARALLEL_THRESHOLD;
            if row > 0 && rows >= 8 && (!parallel || rows >= 2 * COLUMN_BLOCK) {
                // One monomorphised loop per combine, so it inlines and vectorises.
                let out = match combine {
                    Combine::Add => fold_leading(data, row, rows, |a, b| a + b),
                    Combine::Max => fold_leading(data, row, rows, max2),
                    Combine::Min => fold_leading(data, row, rows, min2),
                };
                return Tensor::from_vec(out, &out_shape);
            }
        }
        let kept = (0..self.ndim()).filter(|d| !axes.contains(d));
        let perm: Vec<usize> = kept.chain(axes.iter().copied()).collect();
        let moved = self.permute_dims(&perm, op).contiguous();
        let data = moved.as_slice().expect("contiguous");
        let f = &fold.f;
        let out: Vec<E> = if row == 0 {
            crate::alloc::filled(rows, f(&[]), op)
        } else if rows == 1 && fold.combine.is_some() && row >= PARALLEL_THRESHOLD {
            let partials: Vec<E> = data.par_chunks(CHUNK).map(f).collect();
            vec![f(&partials)]
        } else if rows * row >= PARALLEL_THRESHOLD && rows > 1 {
            data.par_chunks(row).map(f).collect()
        } else {
            data.chunks(row).map(f).collect()
        };
        Tensor::from_vec(out, &out_shape)
    }

    /// Sum over `axes` (all when empty).
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// assert_eq!(a.sum(&[0]).to_vec(), vec![4.0, 6.0]);
    /// assert_eq!(a.sum_keepdim(&[-1]).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum(&self, axes: &[isize]) -> Tensor<E> {
        self.sum_dims(axes, false)
    }

    /// [`sum`](Self::sum) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn sum_keepdim(&self, axes: &[isize]) -> Tensor<E> {
        self.sum_dims(axes, true)
    }

    /// [`sum`](Self::sum) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn sum_dims(&self, axes: &[isize], keepdim: bool) -> Tensor<E> {
        self.reduce_rows(
            axes,
            keepdim,
            "sum",
            RowFold {
                f: sum_slice::<E>,
                combine: Some(Combine::Add),
            },
        )
    }

    /// Sum of every element, as a 0-d tensor.
    pub fn sum_all(&self) -> Tensor<E> {
        self.sum(&[])
    }

    /// Mean over `axes` (all when empty).
    #[track_caller]
    pub fn mean(&self, axes: &[isize]) -> Tensor<E> {
        self.mean_dims(axes, false)
    }

    /// [`mean`](Self::mean) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn mean_keepdim(&self, axes: &[isize]) -> Tensor<E> {
        self.mean_dims(axes, true)
    }

    /// [`mean`](Self::mean) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn mean_dims(&self, axes: &[isize], keepdim: bool) -> Tensor<E> {
        let count = self.reduce_count(axes, "mean");
        self.sum_dims(axes, keepdim).mul_scalar(1.0 / count as f64)
    }

    /// Number of elements folded into each output of a reduction over `axes`.
    #[track_caller]
    pub fn reduce_count(&self, axes: &[isize], op: &str) -> usize {
        self.reduce_axes(axes, op)
            .iter()
            .map(|&d| self.shape()[d])
            .product()
    }

    /// Maximum over `axes` (NaN wins, as in PyTorch).
    ///
    /// # Panics
    /// If a reduced axis has size 0.
    #[track_caller]
    pub fn max(&self, axes: &[isize]) -> Tensor<E> {
        self.max_dims(axes, false)
    }

    /// [`max`](Self::max) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn max_keepdim(&self, axes: &[isize]) -> Tensor<E> {
        self.max_dims(axes, true)
    }

    /// [`max`](Self::max) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn max_dims(&self, axes: &[isize], keepdim: bool) -> Tensor<E> {
        if self.reduce_count(axes, "max") == 0 {
            panic!(
                "max: cannot reduce over an empty axis of {:?}",
                self.shape()
            );
        }
        self.reduce_rows(
            axes,
            keepdim,
            "max",
            RowFold {
                f: max_slice::<E>,
                combine: Some(Combine::Max),
            },
        )
    }

    /// Minimum over `axes` (NaN wins, as in PyTorch).
    #[track_caller]
    pub fn min(&self, axes: &[isize]) -> Tensor<E> {
        self.min_dims(axes, false)
    }

    /// [`min`](Self::min) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn min_keepdim(&self, axes: &[isize]) -> Tensor<E> {
        self.min_dims(axes, true)
    }

    /// [`min`](Self::min) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn min_dims(&self, axes: &[isize], keepdim: bool) -> Tensor<E> {
        if self.reduce_count(axes, "min") == 0 {
            panic!(
                "min: cannot reduce over an empty axis of {:?}",
                self.shape()
            );
        }
        self.reduce_rows(
            axes,
            keepdim,
            "min",
            RowFold {
                f: min_slice::<E>,
                combine: Some(Combine::Min),
            },
        )
    }

    /// Index of the first maximum along `axis` (a NaN counts as the
    /// maximum, as in PyTorch), as integers.
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::from_vec(vec![1.0, 9.0, 3.0, 7.0, 2.0, 7.0], &[2, 3]);
    /// assert_eq!(a.argmax(1).to_vec(), vec![1, 0]);
    /// ```
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    #[track_caller]
    pub fn argmax(&self, axis: isize) -> IndexTensor {
        self.argmax_dims(axis, false)
    }

    /// [`argmax`](Self::argmax) keeping the reduced axis as size 1.
    #[track_caller]
    pub fn argmax_keepdim(&self, axis: isize) -> IndexTensor {
        self.argmax_dims(axis, true)
    }

    /// [`argmax`](Self::argmax) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn argmax_dims(&self, axis: isize, keepdim: bool) -> IndexTensor {
        self.arg_extremum(axis, keepdim, "argmax", |x, best| {
            x > best || (x.is_nan() && !best.is_nan())
        })
    }

    /// Index of the first minimum along `axis` (a NaN counts as the
    /// minimum, as in PyTorch), as integers.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    #[track_caller]
    pub fn argmin(&self, axis: isize) -> IndexTensor {
        self.argmin_dims(axis, false)
    }

    /// [`argmin`](Self::argmin) keeping the reduced axis as size 1.
    #[track_caller]
    pub fn argmin_keepdim(&self, axis: isize) -> IndexTensor {
        self.argmin_dims(axis, true)
    }

    /// [`argmin`](Self::argmin) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn argmin_dims(&self, axis: isize, keepdim: bool) -> IndexTensor {
        self.arg_extremum(axis, keepdim, "argmin", |x, best| {
            x < best || (x.is_nan() && !best.is_nan())
        })
    }

    /// The first position along `axis` that no later element `beats`.
    #[track_caller]
    fn arg_extremum(
        &self,
        axis: isize,
        keepdim: bool,
        op: &str,
        beats: impl Fn(E, E) -> bool + Sync,
    ) -> IndexTensor {
        let ax = normalize_axis(axis, self.ndim(), op);
        let size = self.shape()[ax];
        if size == 0 {
            panic!(
                "{op}: cannot reduce over an empty axis of {:?}",
                self.shape()
            );
        }
        let out_shape = self.reduced_shape(&[ax], keepdim);
        let kept = (0..self.ndim()).filter(|&d| d != ax);
        let perm: Vec<usize> = kept.chain([ax]).collect();
        let moved = self.permute_dims(&perm, op).contiguous();
        let data = moved.as_slice().expect("contiguous");
        let first = |xs: &[E]| {
            let mut best = 0;
            for (i, &x) in xs.iter().enumerate() {
                if beats(x, xs[best]) {
                    best = i;
                }
            }
            best
        };
        let out: Vec<usize> = if data.len() >= PARALLEL_THRESHOLD {
            data.par_chunks(size).map(first).collect()
        } else {
            data.chunks(size).map(first).collect()
        };
        IndexTensor::from_vec(out, &out_shape)
    }

    /// `ln Σ e^x` over `axes`, computed as `m + ln Σ e^(x - m)` with `m` the
    /// maximum, so it neither overflows nor underflows for large |x|.
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f64>::from_vec(vec![1e4, 1e4], &[2]);
    /// let l = a.logsumexp(&[0]).item();
    /// assert!((l - (1e4 + 2f64.ln())).abs() < 1e-9);
    /// ```
    #[track_caller]
    pub fn logsumexp(&self, axes: &[isize]) -> Tensor<E> {
        self.logsumexp_dims(axes, false)
    }

    /// [`logsumexp`](Self::logsumexp) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn logsumexp_keepdim(&self, axes: &[isize]) -> Tensor<E> {
        self.logsumexp_dims(axes, true)
    }

    /// [`logsumexp`](Self::logsumexp) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn logsumexp_dims(&self, axes: &[isize], keepdim: bool) -> Tensor<E> {
        if self.reduce_count(axes, "logsumexp") == 0 {
            // ln of an empty sum: -inf, as in PyTorch.
            let out_shape = self.reduced_shape(&self.reduce_axes(axes, "logsumexp"), keepdim);
            return Tensor::full(&out_shape, E::NEG_INFINITY);
        }
        let m = self.max_keepdim(axes);
        // An all -inf row has max -inf; shift by 0 there so it stays -inf, not NaN.
        let shift = m.map(|v| if v.is_finite() { v } else { E::ZERO });
        let s = self.sub(&shift).exp().sum_keepdim(axes).ln().add(&shift);
        if keepdim {
            s
        } else {
            let out_shape = self.reduced_shape(&self.reduce_axes(axes, "logsumexp"), false);
            s.reshape(&out_shape)
        }
    }

    /// Unbiased variance over `axes`, `Σ (x - mean)² / (N - 1)`: PyTorch's
    /// default (`torch.var`); [`var_with_correction`](Self::var_with_correction)
    /// with 0 gives the population variance (NumPy's default).
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]);
    /// assert!((a.var(&[0]).item() - 5.0 / 3.0).abs() < 1e-15);
    /// assert_eq!(a.var_with_correction(&[0], 0).item(), 1.25);
    /// ```
    #[track_caller]
    pub fn var(&self, axes: &[isize]) -> Tensor<E> {
        self.var_dims(axes, false)
    }

    /// [`var`](Self::var) keeping the reduced axes as size 1.
    #[track_caller]
    pub fn var_keepdim(&self, axes: &[isize]) -> Tensor<E> {
        self.var_dims(axes, true)
    }

    /// [`var`](Self::var) with `keepdim` as a flag, for callers
    /// that carry it.
    #[track_caller]
    pub(crate) fn var_dims(&self, axes: &[isize], keepdim: bool) -> Tensor<E> {
        self.var_with_correction_dims(axes, keepdim, 1)
    }

    /// Variance over `axes`: `Σ (x - mean)² / (N - correction)`
    /// (`correction = 1` is the unbiased estimate, as PyTorch's default).
    #[track_caller]
    pub fn var_with_correction(&self, axes: &[isize], correction: usize) -> Tensor<E> {
        self.var_with_correction_dims(axes, false, correction)
    }

    /// [`var_with_correction`](Self::var_with_correction) keeping the
    /// reduced axes as size 1.
    #[track_caller]
    pub fn var_with_correction_keepdim(&self, axes: &[isize], correction: usize) -> Tensor<E> {
        self.var_with_correction_dims(axes, true, correction)
    }

    /// [`var_with_correction`](Self::var_with_correction) with `keepdim`
    /// as a flag.
    #[track_caller]
    pub(crate) fn var_with_correction_dims(
        &self,
        axes: &[isize],
        keepdim: bool,
        correction: usize,
    ) -> Tensor<E> {
        let n = self.reduce_count(axes, "var");
        let centered = self.sub(&self.mean_keepdim(axes));
        let denom = (n as f64 - correction as f64).max(0.0);
        centered
            .square()
            .sum_dims(axes, keepdim)
            .mul_scalar(1.0 / denom)
    }

    /// Sums a broadcast tensor back down to `shape` (the inverse of
    /// [`broadcast_to`](Self::broadcast_to), and the gradient of it).
    ///
    /// ```
    /// let g = tapegrad_tensor::Tensor::<f32>::ones(&[4, 2, 3]);
    /// assert_eq!(g.sum_to(&[2, 1]).to_vec(), vec![12.0, 12.0]);
    /// ```
    ///
    /// # Panics
    /// If `shape` does not broadcast to this tensor's shape.
    #[track_caller]
    pub fn sum_to(&self, shape: &[usize]) -> Tensor<E> {
        let own = self.shape();
        if shape == own {
            return self.clone();
        }
        let ok = shape.len() <= own.len()
            && crate::layout::broadcast_shapes(shape, own).is_some_and(|s| s.as_slice() == own);
        if !ok {
            panic!("sum_to: cannot sum {:?} down to {:?}", own, shape);
        }
        let lead = own.len() - shape.len();
        let axes: Vec<isize> = (0..own.len())
            .filter(|&d| d < lead || (shape[d - lead] == 1 && own[d] != 1))
            .map(|d| d as isize)
            .collect();
        if axes.is_empty() {
            return self.reshape(shape);
        }
        self.sum_keepdim(&axes).reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsumexp_is_stable_at_large_magnitude() {
        let a = Tensor::<f32>::from_vec(vec![1e4, 1e4 - 1.0, -1e4, -1e4], &[2, 2]);
        let l = a.logsumexp(&[1]).to_vec();
        let want0 = 1e4 + (1.0 + (-1.0f64).exp()).ln();
        assert!((l[0] as f64 - want0).abs() < 1e-2, "{}", l[0]);
        assert!((l[1] as f64 - (-1e4 + 2f64.ln())).abs() < 1e-2, "{}", l[1]);
    }

    #[test]
    fn logsumexp_of_all_neg_inf_is_neg_inf() {
        let a = Tensor::<f64>::full(&[3], f64::NEG_INFINITY);
        assert_eq!(a.logsumexp(&[]).item(), f64::NEG_INFINITY);
    }

    #[test]
    fn variance_is_unbiased_by_default() {
        let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]);
        assert!((a.var_with_correction(&[0], 1).item() - 5.0 / 3.0).abs() < 1e-15);
        assert!((a.var_with_correction(&[0], 0).item() - 1.25).abs() < 1e-15);
    }

    #[test]
    fn parallel_sum_is_bit_identical_across_thread_counts() {
        let n = 1 << 20;
        let a = Tensor::<f32>::from_vec(
            (0..n).map(|i| ((i * 7919) % 1000) as f32 * 1e-3).collect(),
            &[n],
        );
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let s1 = single.install(|| a.sum_all().item());
        let s2 = a.sum_all().item();
        assert_eq!(s1.to_bits(), s2.to_bits());
    }

    #[test]
    #[should_panic(expected = "sum: axis 2 is out of range for a tensor with 2 dimensions")]
    fn bad_axis_names_op() {
        Tensor::<f32>::zeros(&[2, 2]).sum(&[2]);
    }
}
