//! Matrix multiplication: 2-D and batched N-D with broadcast batch dimensions,
//! parallel over batches and row/column blocks, each block one call of the
//! single-threaded `matrixmultiply` kernel with the operands' own strides
//! (a transposed view is never copied first); with the `blas` feature, of
//! OpenBLAS on one thread wherever it takes the layout (see `blas.rs`).
//!
//! How a product is split (measured with `cargo bench --bench matmul` on 2
//! cores, AVX2+FMA kernel; see `plan`):
//! - below [`MATMUL_PARALLEL_FLOPS`] it is one kernel call per batch matrix
//!   on the calling thread, with no rayon at all;
//! - batches alone when there are enough of them to balance the threads;
//! - otherwise each matrix into as few blocks as give every thread work,
//!   arranged (rows x columns) so that the blocks together pack the least of
//!   A and B: every gemm call packs its rows of A and its columns of B, so
//!   two blocks side by side (columns) each pack all of A and half of B;
//! - block edges fall on the kernel's register tiles (8 rows) and on 64-byte
//!   cache lines (16 f32 or 8 f64 columns, a multiple of its 8- or 4-column
//!   tiles), so no tile is computed through the kernel's masked edge path
//!   except at the matrix's own edge.
//!
//! Because no block splits `k`, every element of C is accumulated in the
//! same order however the product is split: results are bit-identical for
//! any number of threads. Not so under the `blas` feature: OpenBLAS has
//! separate kernels for small calls (under about 100³ multiply-adds on
//! AVX-512), which round differently from its blocked ones, so a block and
//! the whole product can differ in the last bits (552 of 8,481 elements of
//! a 33x1024x257 sgemm on 4 threads against 1, OpenBLAS 0.3.21). Results
//! are still the same bits from run to run on the same number of threads.

use crate::float::Float;
use crate::layout::try_numel;
use crate::shape_rules::matmul_shapes;
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Products below this many multiply-adds (`m * k * n` per call, summed over
/// batches) run on the calling thread with no rayon at all. A 96³ product
/// takes ~20 µs on one core; split in two it ran 1.6x faster (2 quiet runs
/// of the bench on 2 cores), 128³ 1.6x [1.5-1.7], but below that the ~5-10
/// µs of waking a second thread eats most of the gain, and at 64³ the
/// serial call must stay within a few percent of `matrixmultiply` direct.
pub const MATMUL_PARALLEL_FLOPS: usize = 96 * 96 * 96;

/// Row blocks are a multiple of this: the kernel's register tile height
/// (MR = 8 for `sgemm` and `dgemm` on AVX2/FMA and AVX).
const ROW_ALIGN: usize = 8;

/// Column blocks span a multiple of this many bytes: a cache line, so two
/// threads' blocks do not share one (when C's rows start on a line), and a
/// whole number of the kernel's column tiles (NR = 8 f32, 4 f64).
const COL_ALIGN_BYTES: usize = 64;

/// With at least this many batch matrices per thread, split only batches:
/// the last round is then at most a quarter of the work.
const BATCHES_PER_THREAD: usize = 4;

/// How long a caller that has run out of blocks spins for the others before
/// sleeping (a few times what waking from sleep costs).
const SPIN: Duration = Duration::from_micros(50);

/// The output buffer's pointer, shared by the threads of one product; each
/// writes its own blocks.
#[derive(Clone, Copy)]
struct SendPtr<E>(*mut E);
// SAFETY: used only to hand disjoint output blocks to the threads of one
// product, which all finish before the buffer is used or dropped.
unsafe impl<E> Send for SendPtr<E> {}
// SAFETY: as above; no two threads write the same element.
unsafe impl<E> Sync for SendPtr<E> {}

impl<E> SendPtr<E> {
    /// The pointer (a method, so closures capture the `Sync` wrapper).
    fn get(self) -> *mut E {
        self.0
    }
}

impl<E: Float> Tensor<E> {
    /// Matrix product with NumPy `matmul` semantics.
    ///
    /// `[.., m, k] x [.., k, n] -> [.., m, n]`, batch dimensions broadcast; a
    /// 1-D left operand is a row vector and a 1-D right operand a column
    /// vector (that dimension is dropped from the result).
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// let i = Tensor::eye(2);
    /// assert_eq!(a.matmul(&i).to_vec(), a.to_vec());
    /// assert_eq!(a.t().matmul(&i).to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    /// ```
    ///
    /// # Panics
    /// If an operand is 0-D, the inner dimensions differ or the batch
    /// dimensions do not broadcast: `matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ`.
    #[track_caller]
    pub fn matmul(&self, rhs: &Tensor<E>) -> Tensor<E> {
        self.matmul_with(rhs, MATMUL_PARALLEL_FLOPS)
    }

    /// [`matmul`](Self::matmul) with the parallel threshold as a parameter,
    /// so tests can force the parallel paths on small products.
    #[track_caller]
    pub(crate) fn matmul_with(&self, rhs: &Tensor<E>, parallel_flops: usize) -> Tensor<E> {
        let (a_shape, b_shape) = (self.shape(), rhs.shape());
        let shapes = matmul_shapes(a_shape, b_shape);
        let a = if self.ndim() == 1 {
            self.unsqueeze(0)
        } else {
            self.clone()
        };
        let b = if rhs.ndim() == 1 {
            rhs.unsqueeze(1)
        } else {
            rhs.clone()
        };
        let same_batch = a.shape()[..a.ndim() - 2] == b.shape()[..b.ndim() - 2];
        let batch = &shapes.batch;
        // Every element count in checked arithmetic before any memory is
        // touched: the output's (the kernel writes `batch * m * n` elements)
        // and the broadcast operands'.
        let out_shape = shapes.output();
        let too_big = |shape: &[usize]| -> ! {
            panic!(
                "matmul: {:?} x {:?}: shape {:?} has more elements than fit in memory",
                a_shape, b_shape, shape
            )
        };
        match try_numel(&out_shape) {
            None => too_big(&shapes.product()),
            // Nothing to compute: no operand needs broadcasting.
            Some(0) => return Tensor::from_vec(vec![], &out_shape),
            Some(_) => {}
        }
        for shape in [shapes.lhs(), shapes.rhs()] {
            if try_numel(&shape).is_none() {
                too_big(&shape);
            }
        }
        let out = if same_batch {
            // Same batch dimensions (2-D x 2-D included): no broadcast views.
            matmul_strided(&a, &b, batch, parallel_flops, None)
        } else {
            let a = a.broadcast_to(&shapes.lhs());
            let b = b.broadcast_to(&shapes.rhs());
            matmul_strided(&a, &b, batch, parallel_flops, None)
        };
        Tensor::from_vec(out, &out_shape)
    }

    /// `self + a b` with the sum in the product's own pass: the 2-D product
    /// `[m, k] x [k, n]` accumulated onto `self` broadcast to `[m, n]`
    /// (PyTorch's `torch.addmm(self, a, b)`). A linear layer's `x Wᵀ + b`
    /// is `b.addmm(x, W.t())`: the output is written once (the bias, then
    /// the gemm adds onto it with `beta = 1`), where `a.matmul(b) + self`
    /// writes a product and then reads it back for a second output.
    ///
    /// The result is the same bits as `a.matmul(b).add(self)`: each
    /// element is the product's sum, rounded, plus `self`'s element.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    /// let w = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]);
    /// let bias = Tensor::from_vec(vec![10.0, 20.0], &[2]);
    /// assert_eq!(bias.addmm(&x, &w.t()).to_vec(), vec![11.0, 22.0, 13.0, 24.0]);
    /// ```
    ///
    /// # Panics
    /// If `a` or `b` is not 2-D, their inner dimensions differ, or `self`
    /// does not broadcast to `[m, n]`:
    /// `addmm: input [3] does not broadcast to the product's shape [2, 4]`.
    #[track_caller]
    pub fn addmm(&self, a: &Tensor<E>, b: &Tensor<E>) -> Tensor<E> {
        self.addmm_with(a, b, MATMUL_PARALLEL_FLOPS)
    }

    /// [`addmm`](Self::addmm) with the parallel threshold as a parameter.
    #[track_caller]
    pub(crate) fn addmm_with(
        &self,
        a: &Tensor<E>,
        b: &Tensor<E>,
        parallel_flops: usize,
    ) -> Tensor<E> {
        let out_shape = crate::shape_rules::addmm_shape(self.shape(), a.shape(), b.shape());
        if try_numel(&out_shape).is_none() {
            panic!(
                "addmm: {:?} x {:?}: shape {out_shape:?} has more elements than fit in memory",
                a.shape(),
                b.shape()
            );
        }
        // The input, laid out as the output (one pass), for the gemm to add onto.
        let init = self.broadcast_to(&out_shape).to_vec();
        if init.is_empty() {
            return Tensor::from_vec(init, &out_shape);
        }
        let out = matmul_strided(a, b, &[], parallel_flops, Some(init));
        Tensor::from_vec(out, &out_shape)
    }
}

/// Storage offset of batch matrix `index` (row-major over `batch`) of a
/// broadcast `[batch.., r, c]` view.
fn batch_offset<E: Float>(t: &Tensor<E>, batch: &[usize], mut index: usize) -> usize {
    let mut off = t.offset();
    for d in (0..batch.len()).rev() {
        off += (index % batch[d]) * t.strides()[d];
        index /= batch[d];
    }
    off
}

/// Multiplies broadcast, strided `[batch.., m, k]` and `[batch.., k, n]` views
/// into a fresh contiguous buffer, or adds the product onto `init` (the
/// contiguous `[batch.., m, n]` output's starting values, `beta = 1`). The
/// caller has checked that `batch * m * n` is representable.
#[track_caller]
fn matmul_strided<E: Float>(
    a: &Tensor<E>,
    b: &Tensor<E>,
    batch: &[usize],
    parallel_flops: usize,
    init: Option<Vec<E>>,
) -> Vec<E> {
    let nd = a.ndim();
    let (m, k, n) = (a.shape()[nd - 2], a.shape()[nd - 1], b.shape()[nd - 1]);
    let nb = try_numel(batch).expect("checked by matmul");
    let len = try_numel(&[nb, m, n]).expect("checked by matmul");
    if len == 0 {
        return Vec::new();
    }
    if let Some(init) = &init {
        assert_eq!(
            init.len(),
            len,
            "matmul: the initial output has the wrong length"
        );
    }
    if k == 0 {
        // An empty sum: all zeros (or the initial values). Handled here so
        // that the kernel only ever sees non-empty operands, whose layouts
        // are bounded by their storage (see `gemm_block`).
        return init.unwrap_or_else(|| crate::alloc::zeroed(len, "matmul"));
    }
    let plan = plan::<E>([nb, m, k, n], rayon::current_num_threads(), parallel_flops);
    let beta = if init.is_some() { E::ONE } else { E::ZERO };
    let mut out: Vec<E> = init.unwrap_or_else(|| crate::alloc::with_capacity(len, "matmul"));
    let dst = SendPtr(out.as_mut_ptr());
    // SAFETY: `dst` has room for the `nb` m x n outputs (capacity `len`,
    // and with beta = 1 all `len` elements are initialised: `init` was
    // checked to hold `len`), `a` and `b` are non-empty (m, k, n >= 1), and
    // each block index is run exactly once, so no two calls write the same
    // block: `gemm_block`'s contract.
    let run = |index: usize| unsafe { gemm_block(a, b, batch, &plan, index, beta, dst.get()) };
    if plan.parallel {
        run_parallel(plan.blocks(), run);
    } else {
        (0..plan.blocks()).for_each(run);
    }
    if beta == E::ZERO {
        // SAFETY: the blocks tile every batch's m x n output exactly once
        // and each gemm call (beta = 0, k >= 1) has written all of its
        // block, so all `len` elements are initialised.
        unsafe { out.set_len(len) };
    }
    out
}

/// Computes block `index` of `plan`: one gemm call on the operands' own
/// strides, writing (`beta = 0`) or adding onto (`beta = 1`) rows and
/// columns of the block's batch matrix in `out` (contiguous `[batch.., m, n]`).
///
/// # Safety
/// `a` and `b` must be non-empty; `out` must have room for every batch's
/// m x n output, and no other thread may access this block of it during the
/// call. With `beta = 0` it may be uninitialised; otherwise it must be
/// initialised (the kernel reads it).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block<E: Float>(
    a: &Tensor<E>,
    b: &Tensor<E>,
    batch: &[usize],
    plan: &Plan,
    index: usize,
    beta: E,
    out: *mut E,
) {
    let nd = a.ndim();
    let (m, k, n) = (plan.m, a.shape()[nd - 1], plan.n);
    // A size-1 dimension's stride is never multiplied by a non-zero index,
    // and may be anything (even saturated at usize::MAX by `unsqueeze`):
    // pass 0 there, so the kernel's pointer arithmetic never sees it.
    let stride = |size: usize, s: usize| if size > 1 { s as isize } else { 0 };
    let (rsa, csa) = (
        stride(m, a.strides()[nd - 2]),
        stride(k, a.strides()[nd - 1]),
    );
    let (rsb, csb) = (
        stride(k, b.strides()[nd - 2]),
        stride(n, b.strides()[nd - 1]),
    );
    let blk = plan.block(index);
    let (r0, c0) = (blk.row * plan.row_step, blk.col * plan.col_step);
    let a_off = batch_offset(a, batch, blk.batch) + r0 * rsa as usize;
    let b_off = batch_offset(b, batch, blk.batch) + c0 * csb as usize;
    let c_off = (blk.batch * m + r0) * n + c0;
    // SAFETY: `a` and `b` are non-empty tensors, so their layouts passed
    // `Layout::check_fits`: for every index in range, offset + Σ i_d s_d is
    // below the storage length, with no overflow (the maximum is bounded
    // and every term is non-negative). The block's batch, rows r0..r0+rows
    // and columns c0..c0+cols are in range, so `a_off`, `b_off` and every
    // element the kernel reads from them are inside storage; each stride of
    // a dimension longer than 1 is at most that maximum index, below
    // `isize::MAX` (a `Vec` holds at most `isize::MAX` bytes), so the casts
    // are exact. The block's window of `out` (row stride `n`, `c_off` plus
    // at most (rows-1) n + cols - 1 < len) is in bounds and ours alone (the
    // caller's contract). With beta = 0 the kernel writes C without reading
    // it; with beta = 1 it reads C, which the caller has initialised.
    unsafe {
        E::gemm(
            blk.rows,
            k,
            blk.cols,
            E::ONE,
            a.storage().as_ptr().add(a_off),
            rsa,
            csa,
            b.storage().as_ptr().add(b_off),
            rsb,
            csb,
            beta,
            out.add(c_off),
            n as isize,
            1,
        )
    }
}

/// Runs `run(0..count)` on rayon's threads, the calling thread included:
/// each participant takes the next block from a shared counter until none
/// are left, so a thread that wakes late or is preempted just takes fewer.
///
/// When the caller runs out of blocks it spins for up to [`SPIN`] until
/// the blocks other threads took are done, before it sleeps in the scope's
/// latch: a thread outside the pool sleeps on a condition variable, and
/// being woken costs ~10 µs, almost half of a 128³ product's share. At
/// n = 128 this took two threads from 1.35x [1.2-1.6] to 1.6x [1.5-1.7] of
/// one (median [range] of 4-6 quiet rounds).
fn run_parallel(count: usize, run: impl Fn(usize) + Sync) {
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            break;
        }
        run(i);
        done.fetch_add(1, Ordering::Release);
    };
    let helpers = rayon::current_num_threads().min(count) - 1;
    rayon::in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
        let start = Instant::now();
        while done.load(Ordering::Acquire) < count && start.elapsed() < SPIN {
            std::hint::spin_loop();
        }
    });
}

/// How a product is cut into gemm calls: every one of `batches` m x n
/// matrices into the same grid of `row_step x col_step` blocks (smaller at
/// the far edges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    batches: usize,
    m: usize,
    n: usize,
    row_step: usize,
    col_step: usize,
    /// Blocks go to rayon (else they run in order on the calling thread).
    parallel: bool,
}

/// One gemm call of a [`Plan`]: its batch matrix, block row and column, and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    batch: usize,
    row: usize,
    col: usize,
    rows: usize,
    cols: usize,
}

impl Plan {
    /// Block rows per matrix.
    fn row_blocks(&self) -> usize {
        self.m.div_ceil(self.row_step)
    }

    /// Block columns per matrix.
    fn col_blocks(&self) -> usize {
        self.n.div_ceil(self.col_step)
    }

    /// Number of gemm calls.
    fn blocks(&self) -> usize {
        self.batches * self.row_blocks() * self.col_blocks()
    }

    /// Block `index` of `0..blocks()`: batch-major, then rows, then columns.
    fn block(&self, index: usize) -> Block {
        let per_batch = self.row_blocks() * self.col_blocks();
        let (batch, rest) = (index / per_batch, index % per_batch);
        let (row, col) = (rest / self.col_blocks(), rest % self.col_blocks());
        Block {
            batch,
            row,
            col,
            rows: self.row_step.min(self.m - row * self.row_step),
            cols: self.col_step.min(self.n - col * self.col_step),
        }
    }
}

/// Plans `nb` products of `[m, k] x [k, n]` (none of them empty) on
/// `threads` threads; products under `parallel_flops` multiply-adds in all
/// stay whole and serial.
///
/// In parallel, each matrix is cut into `p` blocks, the fewest that make
/// the block count a multiple of the thread count (1 when there are at
/// least [`BATCHES_PER_THREAD`] batches per thread), arranged as the grid
/// that packs least (see [`grid`]). One block per thread beats more, finer
/// blocks on 2 cores: at n = 512 two column blocks ran at 1.9x one thread,
/// four at 1.85x, eight at 1.5x (each block packs its own copy of A), and
/// the dynamic hand-out of blocks in [`run_parallel`] already absorbs a
/// thread that starts late.
fn plan<E: Float>([nb, m, k, n]: [usize; 4], threads: usize, parallel_flops: usize) -> Plan {
    let whole = Plan {
        batches: nb,
        m,
        n,
        row_step: m,
        col_step: n,
        parallel: false,
    };
    let flops = nb.saturating_mul(m).saturating_mul(k).saturating_mul(n);
    if threads <= 1 || flops < parallel_flops {
        return whole;
    }
    let per_matrix = if nb >= BATCHES_PER_THREAD * threads {
        1
    } else {
        (1..=threads).find(|p| nb * p % threads == 0).unwrap_or(1)
    };
    let col_align = (COL_ALIGN_BYTES / std::mem::size_of::<E>()).max(1);
    let (row_blocks, col_blocks) = grid(per_matrix, m, n, col_align);
    let plan = Plan {
        row_step: m.div_ceil(row_blocks).next_multiple_of(ROW_ALIGN),
        col_step: n.div_ceil(col_blocks).next_multiple_of(col_align),
        ..whole
    };
    Plan {
        parallel: plan.blocks() > 1,
        ..plan
    }
}

/// The `(row blocks, column blocks)` grid of at most `p` blocks for an
/// m x n output that packs least. A block of `r` rows and `c` columns
/// packs `r x k` of A and `k x c` of B, so a grid of `pr x pc` blocks
/// packs `k (m / pr + n / pc)` per thread (one block each); ties go to
/// columns, whose narrower packed B panel stays in L2. Blocks are never
/// thinner than one row tile or one column cache line.
fn grid(p: usize, m: usize, n: usize, col_align: usize) -> (usize, usize) {
    let (row_tiles, col_tiles) = (m.div_ceil(ROW_ALIGN), n.div_ceil(col_align));
    for p in (1..=p).rev() {
        let best = (1..=p)
            .filter(|pr| p % pr == 0)
            .map(|pr| (pr, p / pr))
            .filter(|&(pr, pc)| pr <= row_tiles && pc <= col_tiles)
            .min_by(|&(r1, c1), &(r2, c2)| {
                let cost = |pr: usize, pc: usize| m as f64 / pr as f64 + n as f64 / pc as f64;
                cost(r1, c1).total_cmp(&cost(r2, c2)).then(c2.cmp(&c1))
            });
        if let Some(g) = best {
            return g;
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::broadcast_shapes;

    /// Whole numbers in -3..=3 from a seed: every product below is exact in
    /// f32 and f64, so any split and the oracle must agree bit for bit.
    fn ints(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 7) as f64 - 3.0
            })
            .collect()
    }

    /// How an operand is laid out in storage.
    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Contiguous,
        /// `.t()` of a contiguous tensor with the last two dimensions swapped.
        Transposed,
        /// A window (offset, row stride larger than the row) of a bigger buffer.
        Sliced,
    }

    /// A `[batch.., r, c]` operand holding `vals` (row-major) in layout `kind`.
    fn operand<E: Float>(vals: &[f64], shape: &[usize], kind: Kind) -> Tensor<E> {
        let data: Vec<E> = vals.iter().map(|&v| E::from_f64(v)).collect();
        let t = Tensor::from_vec(data, shape);
        match kind {
            Kind::Contiguous => t,
            Kind::Transposed => t.t().contiguous().t(),
            Kind::Sliced => {
                // Rows 1..=r, columns 2..2+c of a NaN-bordered buffer: a read
                // outside the window would poison the result.
                let nd = shape.len();
                let (r, c) = (shape[nd - 2], shape[nd - 1]);
                let mut big = shape.to_vec();
                big[nd - 2] += 2;
                big[nd - 1] += 3;
                let (br, bc) = (big[nd - 2], big[nd - 1]);
                let data = ints(big.iter().product(), vals.len() as u64)
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let (row, col) = ((i / bc) % br, i % bc);
                        let inside = (1..=r).contains(&row) && (2..2 + c).contains(&col);
                        E::from_f64(if inside { v } else { f64::NAN })
                    })
                    .collect();
                Tensor::from_vec(data, &big)
                    .narrow(-2, 1, r)
                    .narrow(-1, 2, c)
            }
        }
    }

    /// The oracle: a naive triple loop over broadcast, contiguous copies.
    fn naive<E: Float>(a: &Tensor<E>, b: &Tensor<E>) -> Vec<E> {
        let (ra, rb) = (a.ndim(), b.ndim());
        let (m, k, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 1]);
        let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2]).unwrap();
        let full =
            |r: usize, c: usize| -> Vec<usize> { batch.iter().copied().chain([r, c]).collect() };
        let x = a.broadcast_to(&full(m, k)).to_vec();
        let y = b.broadcast_to(&full(k, n)).to_vec();
        let nb: usize = batch.iter().product();
        let mut out = vec![E::ZERO; nb * m * n];
        for q in 0..nb {
            for i in 0..m {
                for j in 0..n {
                    let mut s = E::ZERO;
                    for p in 0..k {
                        s += x[q * m * k + i * k + p] * y[q * k * n + p * n + j];
                    }
                    out[q * m * n + i * n + j] = s;
                }
            }
        }
        out
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// (m, k, n): odd sizes, sizes not a multiple of 16, m or n = 1, k = 0,
    /// wide and tall.
    const SIZES: [(usize, usize, usize); 11] = [
        (1, 1, 1),
        (1, 9, 37),
        (37, 9, 1),
        (5, 0, 7),
        (17, 3, 19),
        (37, 29, 53),
        (9, 40, 8),
        (64, 16, 200),
        (200, 16, 40),
        (130, 70, 131),
        (8, 300, 8),
    ];

    /// (batch dims of A, batch dims of B), broadcasting included.
    const BATCHES: [(&[usize], &[usize]); 6] = [
        (&[], &[]),
        (&[3], &[3]),
        (&[2, 1], &[1, 3]),
        (&[1], &[4]),
        (&[], &[3]),
        (&[5], &[]),
    ];

    const KINDS: [(Kind, Kind); 4] = [
        (Kind::Contiguous, Kind::Contiguous),
        (Kind::Transposed, Kind::Contiguous),
        (Kind::Contiguous, Kind::Transposed),
        (Kind::Sliced, Kind::Transposed),
    ];

    /// Every split the planner can make, forced with threshold 0 on 1, 2, 3
    /// and 4 threads, against the triple loop.
    fn every_split_matches_naive<E: Float>() {
        let pools: Vec<_> = [1, 2, 3, 4].map(pool).into();
        for (si, &(m, k, n)) in SIZES.iter().enumerate() {
            for (bi, &(ba, bb)) in BATCHES.iter().enumerate() {
                let a_shape: Vec<usize> = ba.iter().copied().chain([m, k]).collect();
                let b_shape: Vec<usize> = bb.iter().copied().chain([k, n]).collect();
                let seed = (si * 10 + bi) as u64;
                let va = ints(a_shape.iter().product(), seed);
                let vb = ints(b_shape.iter().product(), seed + 1000);
                for kinds in KINDS {
                    let a = operand::<E>(&va, &a_shape, kinds.0);
                    let b = operand::<E>(&vb, &b_shape, kinds.1);
                    let want = naive(&a, &b);
                    for p in &pools {
                        for threshold in [0, MATMUL_PARALLEL_FLOPS] {
                            let got = p.install(|| a.matmul_with(&b, threshold));
                            assert_eq!(
                                got.to_vec(),
                                want,
                                "{a_shape:?} x {b_shape:?} {kinds:?}, {} threads, threshold {threshold}",
                                p.current_num_threads()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_split_matches_naive_f32() {
        every_split_matches_naive::<f32>();
    }

    #[test]
    fn every_split_matches_naive_f64() {
        every_split_matches_naive::<f64>();
    }

    /// `addmm` on every split, layout and bias shape (a row `[n]`, `[1, n]`,
    /// a column `[m, 1]`, a full `[m, n]`, a scalar, a strided view), on
    /// 1 and 3 threads: the triple loop plus the bias, bit for bit (the
    /// values are whole numbers, so every sum is exact).
    fn addmm_matches_naive_plus_bias<E: Float>() {
        let pools: Vec<_> = [1, 3].map(pool).into();
        for (si, &(m, k, n)) in SIZES.iter().enumerate() {
            let va = ints(m * k, si as u64);
            let vb = ints(k * n, si as u64 + 500);
            let full = ints(m * n, si as u64 + 900);
            let biases: Vec<Tensor<E>> = vec![
                operand(&full[..n], &[1, n], Kind::Contiguous).reshape(&[n]),
                operand(&full[..n], &[1, n], Kind::Contiguous),
                operand(&full[..m], &[m, 1], Kind::Contiguous),
                operand(&full, &[m, n], Kind::Contiguous),
                operand(&full, &[m, n], Kind::Sliced),
                Tensor::scalar(E::from_f64(2.0)),
            ];
            for kinds in KINDS {
                let a = operand::<E>(&va, &[m, k], kinds.0);
                let b = operand::<E>(&vb, &[k, n], kinds.1);
                let product = naive(&a, &b);
                for bias in &biases {
                    let expanded = bias.broadcast_to(&[m, n]).to_vec();
                    let want: Vec<E> = product
                        .iter()
                        .zip(&expanded)
                        .map(|(&p, &c)| p + c)
                        .collect();
                    for pl in &pools {
                        for threshold in [0, MATMUL_PARALLEL_FLOPS] {
                            let got = pl.install(|| bias.addmm_with(&a, &b, threshold));
                            assert_eq!(got.shape(), &[m, n]);
                            assert_eq!(
                                got.to_vec(),
                                want,
                                "[{m}, {k}] x [{k}, {n}] {kinds:?} + {:?}, {} threads, threshold {threshold}",
                                bias.shape(),
                                pl.current_num_threads()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn addmm_matches_naive_plus_bias_f32() {
        addmm_matches_naive_plus_bias::<f32>();
    }

    #[test]
    fn addmm_matches_naive_plus_bias_f64() {
        addmm_matches_naive_plus_bias::<f64>();
    }

    #[test]
    fn addmm_refuses_what_does_not_fit() {
        let msg = |f: &dyn Fn()| {
            let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
            e.downcast_ref::<String>().cloned().unwrap_or_default()
        };
        let (a, b) = (Tensor::<f32>::ones(&[2, 3]), Tensor::<f32>::ones(&[3, 4]));
        assert_eq!(
            msg(&|| {
                Tensor::<f32>::ones(&[3]).addmm(&a, &b);
            }),
            "addmm: input [3] does not broadcast to the product's shape [2, 4]"
        );
        assert_eq!(
            msg(&|| {
                Tensor::<f32>::ones(&[2, 4, 1]).addmm(&a, &b);
            }),
            "addmm: input [2, 4, 1] does not broadcast to the product's shape [2, 4]"
        );
        assert_eq!(
            msg(&|| {
                Tensor::<f32>::ones(&[4]).addmm(&a, &a);
            }),
            "addmm: [2, 3] x [2, 3]: inner dimensions 3 and 2 differ"
        );
        assert_eq!(
            msg(&|| {
                Tensor::<f32>::ones(&[4]).addmm(&a.unsqueeze(0), &b);
            }),
            "addmm: [1, 2, 3] x [3, 4]: both operands must be 2-D"
        );
    }

    #[test]
    fn vector_operands_drop_their_dimension() {
        let v = Tensor::<f64>::from_vec(ints(70, 1), &[70]);
        let m = Tensor::<f64>::from_vec(ints(70 * 90, 2), &[70, 90]);
        let mt = Tensor::<f64>::from_vec(ints(90 * 70, 3), &[90, 70]);
        let p = pool(2);
        let (vm, mv, vv) = p.install(|| {
            (
                v.matmul_with(&m, 0),
                mt.matmul_with(&v, 0),
                v.matmul_with(&v, 0),
            )
        });
        assert_eq!(vm.shape(), &[90]);
        assert_eq!(vm.to_vec(), naive(&v.unsqueeze(0), &m));
        assert_eq!(mv.shape(), &[90]);
        assert_eq!(mv.to_vec(), naive(&mt, &v.unsqueeze(1)));
        assert_eq!(vv.shape(), &[] as &[usize]);
        assert_eq!(vv.item(), naive(&v.unsqueeze(0), &v.unsqueeze(1))[0]);
    }

    #[test]
    fn empty_and_zero_k_products() {
        let a = Tensor::<f32>::zeros(&[0, 5]);
        let b = Tensor::<f32>::ones(&[5, 3]);
        assert_eq!(a.matmul(&b).shape(), &[0, 3]);
        // k = 0: an m x n matrix of zeros (the buffer is written, not just allocated).
        let a = Tensor::<f32>::zeros(&[300, 0]);
        let b = Tensor::<f32>::zeros(&[0, 200]);
        let c = pool(2).install(|| a.matmul_with(&b, 0));
        assert_eq!(c.shape(), &[300, 200]);
        assert!(c.to_vec().iter().all(|&x| x == 0.0));
    }

    /// Splitting never splits `k`, so every element sums in the same order:
    /// parallel results equal serial ones bit for bit, with arbitrary values.
    /// (Not promised with OpenBLAS, see the module doc and `blas.rs`.)
    #[test]
    #[cfg(not(feature = "blas"))]
    fn parallel_is_bit_identical_to_serial() {
        let (m, k, n) = (150, 333, 141);
        let x: Vec<f32> = ints(m * k, 5)
            .iter()
            .map(|v| (v * 0.377).sin() as f32)
            .collect();
        let y: Vec<f32> = ints(k * n, 6)
            .iter()
            .map(|v| (v * 0.711).cos() as f32)
            .collect();
        let a = Tensor::from_vec(x, &[m, k]);
        let b = Tensor::from_vec(y, &[k, n]);
        let serial = pool(1).install(|| a.matmul(&b)).to_vec();
        for threads in [2, 3, 4] {
            let par = pool(threads).install(|| a.matmul_with(&b, 0)).to_vec();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&par), bits(&serial), "{threads} threads");
        }
    }

    /// Every plan tiles the output exactly once, with aligned block edges.
    #[test]
    fn plans_tile_the_output() {
        for threads in 1..=5 {
            for nb in [1, 2, 3, 5, 8, 21] {
                for &(m, n) in &[
                    (1, 1),
                    (1, 100),
                    (100, 1),
                    (9, 17),
                    (64, 64),
                    (130, 33),
                    (512, 512),
                    (7, 1000),
                ] {
                    check_tiling::<f32>(nb, m, n, threads);
                    check_tiling::<f64>(nb, m, n, threads);
                }
            }
        }
    }

    fn check_tiling<E: Float>(nb: usize, m: usize, n: usize, threads: usize) {
        let p = plan::<E>([nb, m, 8, n], threads, 0);
        let mut hits = vec![0u8; nb * m * n];
        for i in 0..p.blocks() {
            let b = p.block(i);
            let (r0, c0) = (b.row * p.row_step, b.col * p.col_step);
            assert!(b.rows > 0 && b.cols > 0, "{p:?} block {b:?}");
            assert_eq!(r0 % ROW_ALIGN, 0);
            assert_eq!(c0 * std::mem::size_of::<E>() % COL_ALIGN_BYTES, 0);
            for r in r0..r0 + b.rows {
                for c in c0..c0 + b.cols {
                    hits[b.batch * m * n + r * n + c] += 1;
                }
            }
        }
        assert!(
            hits.iter().all(|&h| h == 1),
            "{p:?} does not tile {nb}x{m}x{n}"
        );
        // Every thread gets the same number of blocks when the matrices are
        // large and too few to balance the threads alone.
        if m >= 512 && n >= 512 && nb < BATCHES_PER_THREAD * threads {
            assert_eq!(
                p.blocks() % threads,
                0,
                "{p:?}: blocks not a multiple of {threads} threads"
            );
        }
    }

    /// The choices the benches measured best on 2 threads.
    #[test]
    fn plans_split_the_way_measured_best() {
        let shape = |p: Plan| (p.batches, p.row_blocks(), p.col_blocks(), p.parallel);
        // Small: whole, serial.
        assert_eq!(
            shape(plan::<f32>([1, 64, 64, 64], 2, MATMUL_PARALLEL_FLOPS)),
            (1, 1, 1, false)
        );
        // Square and wide: two column blocks (each packs all of A, half of B).
        assert_eq!(
            shape(plan::<f32>([1, 512, 512, 512], 2, MATMUL_PARALLEL_FLOPS)),
            (1, 1, 2, true)
        );
        assert_eq!(
            shape(plan::<f32>([1, 128, 784, 512], 2, MATMUL_PARALLEL_FLOPS)),
            (1, 1, 2, true)
        );
        // Tall: two row blocks.
        assert_eq!(
            shape(plan::<f32>([1, 4096, 64, 10], 2, MATMUL_PARALLEL_FLOPS)),
            (1, 2, 1, true)
        );
        // Four threads on a square: a 2 x 2 grid packs least.
        assert_eq!(
            shape(plan::<f32>([1, 512, 512, 512], 4, MATMUL_PARALLEL_FLOPS)),
            (1, 2, 2, true)
        );
        // Enough batches: whole matrices.
        assert_eq!(
            shape(plan::<f32>([8, 128, 128, 128], 2, MATMUL_PARALLEL_FLOPS)),
            (8, 1, 1, true)
        );
        // Three batches on two threads: halves, six blocks.
        assert_eq!(
            shape(plan::<f32>([3, 128, 128, 128], 2, MATMUL_PARALLEL_FLOPS)),
            (3, 1, 2, true)
        );
        // Nothing to split: 1 x 1 output.
        assert_eq!(
            shape(plan::<f32>([1, 1, 1 << 20, 1], 2, 0)),
            (1, 1, 1, false)
        );
    }
}
