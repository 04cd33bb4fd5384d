//! Matrix multiplication: 2-D and batched N-D with broadcast batch dimensions,
//! parallel over batches and row/column blocks, each block one call of the
//! single-threaded `matrixmultiply` kernel with the operands' own strides
//! (a transposed view is never copied first).

use crate::float::Float;
use crate::layout::{broadcast_shapes, Shape};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Products below this many multiply-adds (`m * k * n` per call, summed over
/// batches) run on one thread: a 64x64x64 product takes ~15 µs, too little to
/// pay for waking a second thread.
pub const MATMUL_PARALLEL_FLOPS: usize = 96 * 96 * 96;

/// Rows (or columns) of C per parallel block are rounded to a multiple of
/// this, so blocks match the kernel's register tiles.
const BLOCK_ALIGN: usize = 16;

/// A raw pointer that may cross threads; each task writes a disjoint block.
#[derive(Clone, Copy)]
struct SendPtr<E>(*mut E);
// SAFETY: used only to hand disjoint output blocks to rayon tasks.
unsafe impl<E> Send for SendPtr<E> {}
// SAFETY: as above; no two tasks touch the same element.
unsafe impl<E> Sync for SendPtr<E> {}

/// One gemm call: `C[rows, cols] = A[rows, :] B[:, cols]` on raw strided data.
#[derive(Clone, Copy)]
struct Block {
    a_off: usize,
    b_off: usize,
    c_off: usize,
    m: usize,
    n: usize,
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
        let (a_shape, b_shape) = (self.shape(), rhs.shape());
        if a_shape.is_empty() || b_shape.is_empty() {
            panic!(
                "matmul: {:?} x {:?}: both operands need at least 1 dimension",
                a_shape, b_shape
            );
        }
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
        let (m, k) = (a.dim(-2), a.dim(-1));
        let (k2, n) = (b.dim(-2), b.dim(-1));
        if k != k2 {
            panic!(
                "matmul: {:?} x {:?}: inner dimensions {} and {} differ",
                a_shape, b_shape, k, k2
            );
        }
        let batch = broadcast_shapes(&a.shape()[..a.ndim() - 2], &b.shape()[..b.ndim() - 2])
            .unwrap_or_else(|| {
                panic!(
                    "matmul: {:?} x {:?}: batch dimensions do not broadcast",
                    a_shape, b_shape
                )
            });
        let full = |mut s: Shape, r: usize, c: usize| {
            s.push(r);
            s.push(c);
            s
        };
        let a = a.broadcast_to(&full(batch.clone(), m, k));
        let b = b.broadcast_to(&full(batch.clone(), k, n));
        let out = matmul_strided(&a, &b, &batch, m, k, n);
        let mut out_shape = full(batch, m, n);
        if rhs.ndim() == 1 {
            out_shape.pop();
        }
        if self.ndim() == 1 {
            out_shape.remove(out_shape.len() - if rhs.ndim() == 1 { 1 } else { 2 });
        }
        Tensor::from_vec(out, &out_shape)
    }
}

/// Storage offsets of each batch matrix of a broadcast `[batch.., r, c]` view.
fn batch_offsets<E: Float>(t: &Tensor<E>, batch: &[usize]) -> Vec<usize> {
    let count: usize = batch.iter().product();
    let strides = &t.strides()[..batch.len()];
    (0..count)
        .map(|mut lin| {
            let mut off = t.offset();
            for d in (0..batch.len()).rev() {
                off += (lin % batch[d]) * strides[d];
                lin /= batch[d];
            }
            off
        })
        .collect()
}

/// Multiplies broadcast, strided `[batch.., m, k]` and `[batch.., k, n]` views
/// into a fresh contiguous buffer.
fn matmul_strided<E: Float>(
    a: &Tensor<E>,
    b: &Tensor<E>,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Vec<E> {
    let nb: usize = batch.iter().product();
    let mut out = vec![E::ZERO; nb * m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let (a_offs, b_offs) = (batch_offsets(a, batch), batch_offsets(b, batch));
    let nd = a.ndim();
    let (rsa, csa) = (a.strides()[nd - 2] as isize, a.strides()[nd - 1] as isize);
    let (rsb, csb) = (b.strides()[nd - 2] as isize, b.strides()[nd - 1] as isize);
    let blocks = plan_blocks(
        nb,
        m,
        k,
        n,
        rayon::current_num_threads(),
        &a_offs,
        &b_offs,
        rsa,
        csb,
    );
    let (pa, pb, pc) = (
        SendPtr(a.storage().as_ptr() as *mut E),
        SendPtr(b.storage().as_ptr() as *mut E),
        SendPtr(out.as_mut_ptr()),
    );
    let run = |blk: &Block| {
        let (pa, pb, pc) = (pa, pb, pc);
        // SAFETY: offsets and strides come from valid layouts of `a` and `b`
        // (every element they address is in storage); each block writes a
        // disjoint `m x n` window of `out`, whose row stride is `n`.
        unsafe {
            E::gemm(
                blk.m,
                k,
                blk.n,
                E::ONE,
                pa.0.add(blk.a_off),
                rsa,
                csa,
                pb.0.add(blk.b_off),
                rsb,
                csb,
                E::ZERO,
                pc.0.add(blk.c_off),
                n as isize,
                1,
            )
        }
    };
    if blocks.len() == 1 {
        run(&blocks[0]);
    } else {
        blocks.par_iter().for_each(run);
    }
    out
}

/// Splits the product into independent gemm calls: one per batch matrix,
/// and when there are fewer batches than threads, each matrix into blocks of
/// rows (or of columns when it is wide) so every thread gets work.
#[allow(clippy::too_many_arguments)]
fn plan_blocks(
    nb: usize,
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
    a_offs: &[usize],
    b_offs: &[usize],
    rsa: isize,
    csb: isize,
) -> Vec<Block> {
    let flops = nb * m * k * n;
    let per_batch = if threads <= 1 || flops < MATMUL_PARALLEL_FLOPS || nb >= 2 * threads {
        1
    } else {
        // Enough blocks to balance the threads, but none thinner than the tile.
        let want = (2 * threads).div_ceil(nb).max(1);
        want.min(m.max(n).div_ceil(BLOCK_ALIGN)).max(1)
    };
    let split_rows = m >= n;
    let len = if split_rows { m } else { n };
    let step = len.div_ceil(per_batch).div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN;
    let mut blocks = Vec::with_capacity(nb * per_batch);
    for bi in 0..nb {
        let mut start = 0;
        while start < len {
            let size = step.min(len - start);
            let (a_off, b_off, c_off, bm, bn) = if split_rows {
                (
                    a_offs[bi] + start * rsa as usize,
                    b_offs[bi],
                    bi * m * n + start * n,
                    size,
                    n,
                )
            } else {
                (
                    a_offs[bi],
                    b_offs[bi] + start * csb as usize,
                    bi * m * n + start,
                    m,
                    size,
                )
            };
            blocks.push(Block {
                a_off,
                b_off,
                c_off,
                m: bm,
                n: bn,
            });
            start += size;
        }
    }
    blocks
}
