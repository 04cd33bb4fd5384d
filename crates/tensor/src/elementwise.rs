//! The elementwise kernels every unary and binary op is built on: strided
//! walks in runs, serial below a size threshold and parallel (rayon) above it.

use crate::float::Float;
use crate::layout::{broadcast_shapes, checked_numel, RunWalker, Shape};
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elementwise ops (and reductions) with at least this many elements run in
/// parallel.
///
/// Set from `cargo bench --bench elementwise`, whose sweep forces the
/// parallel path at every size (2 cores, f32; median of 9 quiet runs, range
/// in brackets). Handing chunks to rayon from the calling thread costs
/// ~10-20 µs, so against serial a contiguous `add` ran at 0.29x at 2^15
/// elements, 0.47x at 2^16, 0.84x [0.56-1.01] at 2^17 and broke even at 2^18
/// (1.01x [0.88-1.17], 1.31x at 2^20); a full `sum` at 0.63x [0.54-1.14] at
/// 2^17 and 1.16x [0.77-1.45] at 2^18. An expensive map (`tanh`) ran 1.8x
/// faster from 2^15 on, but cheap ops (add, mul, relu, sums) dominate a
/// training step, so the threshold is where those stop losing.
pub const PARALLEL_THRESHOLD: usize = 1 << 18;

/// Work is split into chunks of this many elements. Fixed, so that the
/// chunking (and thus any reduction order) never depends on the thread count.
pub const CHUNK: usize = 1 << 14;

/// Builds the `n` elements of an output by calling `fill(range, chunk)` on
/// consecutive ranges that cover `0..n` once, in parallel when `n` is large.
///
/// The output is never zero-filled first (that would be one more pass over
/// memory): `fill` must write every element of its chunk, with
/// [`MaybeUninit::write`]. Every caller in this crate walks its whole range
/// (a slice zip or [`RunWalker::for_each_run`] over `range`). If `fill`
/// panics, the partly written vector is dropped as empty.
#[track_caller]
pub(crate) fn collect_chunks<E: Float>(
    n: usize,
    op: &str,
    fill: impl Fn(std::ops::Range<usize>, &mut [MaybeUninit<E>]) + Sync,
) -> Vec<E> {
    let mut out = crate::alloc::with_capacity(n, op);
    let spare = &mut out.spare_capacity_mut()[..n];
    if n >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        spare
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| {
                let start = i * CHUNK;
                fill(start..start + chunk.len(), chunk)
            });
    } else {
        fill(0..n, spare);
    }
    // SAFETY: `out` has capacity `n` (`with_capacity` reserved it exactly),
    // the chunks cover `0..n`, and `fill` wrote each of their elements (its
    // contract above), so the first `n` elements are initialised. The
    // callers' fills hold for any shape and strides: a slice zip writes its
    // whole chunk, and `RunWalker::for_each_run(range, ..)` visits runs
    // whose lengths add up to exactly `range.len()`, each written in full.
    // Reads go through bounds-checked slice indexing, so a bad stride could
    // only panic, never read outside storage (and the layout invariant of
    // `Layout::check_fits` rules that out too).
    unsafe { out.set_len(n) };
    out
}

/// `f` applied pairwise to two equal-length slices, as a tensor of `shape`.
#[track_caller]
fn zip_slices<E: Float>(
    x: &[E],
    y: &[E],
    shape: &[usize],
    op: &str,
    f: impl Fn(E, E) -> E + Sync,
) -> Tensor<E> {
    if x.len() < PARALLEL_THRESHOLD {
        let out = crate::alloc::collect_n(x.len(), x.iter().zip(y).map(|(&a, &b)| f(a, b)), op);
        return Tensor::from_vec(out, shape);
    }
    let out = collect_chunks(x.len(), op, |r, o| {
        for ((o, &x), &y) in o.iter_mut().zip(&x[r.clone()]).zip(&y[r]) {
            o.write(f(x, y));
        }
    });
    Tensor::from_vec(out, shape)
}

impl<E: Float> Tensor<E> {
    /// Applies `f` to every element, returning a new contiguous tensor.
    ///
    /// ```
    /// let a = tapegrad_tensor::Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    /// assert_eq!(a.map(|x| x * 10.0).to_vec(), vec![10.0, 20.0]);
    /// ```
    #[track_caller]
    pub fn map(&self, f: impl Fn(E) -> E + Sync) -> Tensor<E> {
        self.map_op("map", f)
    }

    /// [`map`](Self::map), with allocation errors naming `op`.
    #[track_caller]
    pub(crate) fn map_op(&self, op: &str, f: impl Fn(E) -> E + Sync) -> Tensor<E> {
        let n = self.numel();
        if n < PARALLEL_THRESHOLD {
            if let Some(src) = self.as_slice() {
                // Small and contiguous: one pass, no zero-fill.
                let out = crate::alloc::collect_n(n, src.iter().map(|&x| f(x)), op);
                return Tensor::from_vec(out, self.shape());
            }
        }
        let out = if let Some(src) = self.as_slice() {
            collect_chunks(n, op, |r, o| {
                for (o, &x) in o.iter_mut().zip(&src[r]) {
                    o.write(f(x));
                }
            })
        } else {
            let l = &self.layout;
            let walker = RunWalker::new(&l.shape, [(&l.strides, l.offset)]);
            let [step] = walker.inner_strides();
            let data = &self.storage[..];
            collect_chunks(n, op, |r, o| {
                let base = r.start;
                walker.for_each_run(r, |dst, [s], len| {
                    let o = &mut o[dst - base..dst - base + len];
                    for (j, o) in o.iter_mut().enumerate() {
                        o.write(f(data[s + j * step]));
                    }
                });
            })
        };
        Tensor::from_vec(out, self.shape())
    }

    /// Applies `f` pairwise after broadcasting both tensors to a common shape.
    ///
    /// # Panics
    /// If the shapes do not broadcast; the message names `op`.
    #[track_caller]
    pub fn zip_map(&self, rhs: &Tensor<E>, op: &str, f: impl Fn(E, E) -> E + Sync) -> Tensor<E> {
        if self.shape() == rhs.shape() {
            if let (Some(x), Some(y)) = (self.as_slice(), rhs.as_slice()) {
                return zip_slices(x, y, self.shape(), op, f);
            }
        }
        let shape = self.broadcast_shape_with(rhs, op);
        let (a, b) = (self.broadcast_to(&shape), rhs.broadcast_to(&shape));
        if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
            return zip_slices(x, y, &shape, op, f);
        }
        let out = {
            let walker = RunWalker::new(
                &shape,
                [
                    (&a.layout.strides, a.layout.offset),
                    (&b.layout.strides, b.layout.offset),
                ],
            );
            let [sa, sb] = walker.inner_strides();
            let (da, db) = (&a.storage[..], &b.storage[..]);
            collect_chunks(a.numel(), op, |r, o| {
                let base = r.start;
                walker.for_each_run(r, |dst, [pa, pb], len| {
                    let o = &mut o[dst - base..dst - base + len];
                    for (j, o) in o.iter_mut().enumerate() {
                        o.write(f(da[pa + j * sa], db[pb + j * sb]));
                    }
                });
            })
        };
        Tensor::from_vec(out, &shape)
    }

    /// Applies `f` to matching elements of three tensors after broadcasting them.
    #[track_caller]
    pub fn zip3_map(
        &self,
        b: &Tensor<E>,
        c: &Tensor<E>,
        op: &str,
        f: impl Fn(E, E, E) -> E + Sync,
    ) -> Tensor<E> {
        let shape = self.broadcast_shape_with(b, op);
        // `let .. else`, not `unwrap_or_else`: a panic inside a closure would
        // report this file instead of the caller's line.
        let Some(shape) = broadcast_shapes(&shape, c.shape()) else {
            panic!(
                "{op}: shapes {:?}, {:?} and {:?} do not broadcast",
                self.shape(),
                b.shape(),
                c.shape()
            )
        };
        checked_numel(&shape, op);
        let (x, y, z) = (
            self.broadcast_to(&shape),
            b.broadcast_to(&shape),
            c.broadcast_to(&shape),
        );
        let walker = RunWalker::new(
            &shape,
            [
                (&x.layout.strides, x.layout.offset),
                (&y.layout.strides, y.layout.offset),
                (&z.layout.strides, z.layout.offset),
            ],
        );
        let [sx, sy, sz] = walker.inner_strides();
        let (dx, dy, dz) = (&x.storage[..], &y.storage[..], &z.storage[..]);
        let out = collect_chunks(x.numel(), op, |r, o| {
            let base = r.start;
            walker.for_each_run(r, |dst, [px, py, pz], len| {
                let o = &mut o[dst - base..dst - base + len];
                for (j, o) in o.iter_mut().enumerate() {
                    o.write(f(dx[px + j * sx], dy[py + j * sy], dz[pz + j * sz]));
                }
            });
        });
        Tensor::from_vec(out, &shape)
    }

    /// The broadcast of this shape with `rhs`'s.
    ///
    /// # Panics
    /// If they do not broadcast: `"{op}: shapes [..] and [..] do not broadcast"`,
    /// or the broadcast shape has more elements than fit in memory.
    #[track_caller]
    pub(crate) fn broadcast_shape_with(&self, rhs: &Tensor<E>, op: &str) -> Shape {
        match broadcast_shapes(self.shape(), rhs.shape()) {
            Some(shape) => {
                checked_numel(&shape, op);
                shape
            }
            None => panic!(
                "{op}: shapes {:?} and {:?} do not broadcast",
                self.shape(),
                rhs.shape()
            ),
        }
    }
}
