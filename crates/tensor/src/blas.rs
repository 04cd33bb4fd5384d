//! The gemm kernel on the system OpenBLAS (cargo feature `blas`): `sgemm` and
//! `dgemm` with `matrixmultiply`'s signature, which call `cblas_sgemm` /
//! `cblas_dgemm` (row-major) when BLAS can take the layout and fall back to
//! `matrixmultiply` when it cannot.
//!
//! CBLAS takes each operand as a row-major matrix with a unit column stride,
//! as stored (`CblasNoTrans`) or transposed (`CblasTrans`), its rows a
//! *leading dimension* apart. So a layout goes to BLAS when
//! - A and B each have a unit stride in one of their two dimensions
//!   (contiguous, `.t()` of contiguous, a `narrow`ed window of either), the
//!   other stride being the leading dimension;
//! - C has a unit column stride (tapegrad's output always has);
//! - every leading dimension is at least `max(1, columns of the stored
//!   matrix)`, as BLAS demands (it rejects the call otherwise), and fits a
//!   `c_int`; so do `m`, `k` and `n`.
//!
//! Anything else falls back to `matrixmultiply`, which takes any strides: a
//! stride of 0 on a dimension longer than 1 (a broadcast view; its rows
//! overlap, a leading dimension below the row length), neither stride 1
//! (e.g. every other column), or sizes past `i32::MAX`. A dimension of size
//! 1 has stride 0 here (`gemm_block` passes 0, as no index multiplies it):
//! its leading dimension is never used to address anything, so it becomes
//! the smallest valid one.
//!
//! Threads: `matmul` already splits a product into blocks on rayon's
//! threads and calls the kernel once per block, so OpenBLAS must run each
//! call on the calling thread alone. Otherwise two rayon threads would each
//! start OpenBLAS's own threads on 2 cores, and a call's result would depend
//! on how many threads OpenBLAS gave it. Before the first BLAS call,
//! `openblas_set_num_threads(1)` is called once, unless `OPENBLAS_NUM_THREADS`
//! is set, which is then the user's choice to respect. The setting is
//! OpenBLAS's and so the whole process's.
//!
//! Bits: one call gives the same bits every time, so a product does on a
//! given number of rayon threads. Across thread counts it may not:
//! OpenBLAS computes small calls (under about 100³ multiply-adds on
//! AVX-512) with other kernels than large ones, which round differently,
//! so a block of a split product can differ in its last bits from the same
//! elements computed whole (see `matmul.rs`). `matrixmultiply` has no such
//! switch, and without this feature results are the same bits on any
//! number of threads.

use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE};
use std::ffi::c_int;
use std::sync::Once;

extern "C" {
    /// OpenBLAS's thread count for every later call (process-wide).
    fn openblas_set_num_threads(num_threads: c_int);
}

/// How CBLAS is to read one operand: as stored (row-major, unit column
/// stride) or transposed (stored column-major), with its leading dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Operand {
    pub(crate) transposed: bool,
    pub(crate) ld: c_int,
}

impl Operand {
    fn trans(self) -> CBLAS_TRANSPOSE {
        if self.transposed {
            CBLAS_TRANSPOSE::CblasTrans
        } else {
            CBLAS_TRANSPOSE::CblasNoTrans
        }
    }
}

/// The arguments of one row-major CBLAS gemm call for an `m x k` by `k x n`
/// product, each checked to be valid and to fit a `c_int`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) m: c_int,
    pub(crate) k: c_int,
    pub(crate) n: c_int,
    pub(crate) a: Operand,
    pub(crate) b: Operand,
    /// C's leading dimension (C is never transposed).
    pub(crate) ldc: c_int,
}

/// The CBLAS call for a product with these sizes and strides (in elements),
/// or `None` when only `matrixmultiply` can take the layout (see the module
/// doc).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    m: usize,
    k: usize,
    n: usize,
    [rsa, csa]: [isize; 2],
    [rsb, csb]: [isize; 2],
    [rsc, csc]: [isize; 2],
) -> Option<Call> {
    let c = operand(m, n, rsc, csc)?;
    if c.transposed {
        return None;
    }
    Some(Call {
        m: c_int::try_from(m).ok()?,
        k: c_int::try_from(k).ok()?,
        n: c_int::try_from(n).ok()?,
        a: operand(m, k, rsa, csa)?,
        b: operand(k, n, rsb, csb)?,
        ldc: c.ld,
    })
}

/// How CBLAS reads a `rows x cols` matrix with strides `rs`, `cs`: as
/// stored if its columns are adjacent, else transposed if its rows are
/// (a dimension of size 1 has no stride to speak of, so it counts as
/// adjacent either way), else not at all.
fn operand(rows: usize, cols: usize, rs: isize, cs: isize) -> Option<Operand> {
    let adjacent = |size: usize, stride: isize| size <= 1 || stride == 1;
    let as_stored = adjacent(cols, cs)
        .then(|| leading(rows, cols, rs))
        .flatten()
        .map(|ld| Operand {
            transposed: false,
            ld,
        });
    // Transposed: CBLAS sees the `cols x rows` matrix stored row-major.
    as_stored.or_else(|| {
        adjacent(rows, rs)
            .then(|| leading(cols, rows, cs))
            .flatten()
            .map(|ld| Operand {
                transposed: true,
                ld,
            })
    })
}

/// The leading dimension of a row-major `outer x inner` matrix whose rows
/// are `stride` apart: the stride when there are several rows, else the
/// smallest BLAS accepts, `max(1, inner)` (no element is addressed through
/// it). `None` when BLAS would reject it (below `max(1, inner)`: rows that
/// overlap, as in a broadcast view, or a negative stride) or it does not fit
/// a `c_int`.
fn leading(outer: usize, inner: usize, stride: isize) -> Option<c_int> {
    let min = inner.max(1);
    let ld = if outer > 1 {
        usize::try_from(stride).ok()?
    } else {
        min
    };
    if ld < min {
        return None;
    }
    c_int::try_from(ld).ok()
}

/// Sets OpenBLAS to one thread, once, before the first call (see the module
/// doc), unless `OPENBLAS_NUM_THREADS` says otherwise.
fn single_threaded() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
            // SAFETY: takes an integer and touches only OpenBLAS's own
            // state, which the library set up when it was loaded.
            unsafe { openblas_set_num_threads(1) }
        }
    });
}

#[cfg(test)]
thread_local! {
    /// BLAS calls made on this thread, so tests can see which kernel ran.
    static CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

macro_rules! gemm {
    ($name:ident, $t:ty, $cblas:ident) => {
        /// `C = alpha A B + beta C`, as `matrixmultiply`'s function of
        /// the same name, on OpenBLAS when it can take the layout.
        ///
        /// # Safety
        /// As `matrixmultiply`'s: the pointers with their strides must
        /// address valid `m x k`, `k x n` and `m x n` matrices, and `c`
        /// must not alias `a` or `b`.
        #[allow(clippy::too_many_arguments)]
        #[inline]
        pub(crate) unsafe fn $name(
            m: usize,
            k: usize,
            n: usize,
            alpha: $t,
            a: *const $t,
            rsa: isize,
            csa: isize,
            b: *const $t,
            rsb: isize,
            csb: isize,
            beta: $t,
            c: *mut $t,
            rsc: isize,
            csc: isize,
        ) {
            let Some(call) = plan(m, k, n, [rsa, csa], [rsb, csb], [rsc, csc]) else {
                // SAFETY: forwarded; the caller upholds the contract above.
                unsafe {
                    matrixmultiply::$name(
                        m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
                    )
                };
                return;
            };
            single_threaded();
            #[cfg(test)]
            CALLS.with(|calls| calls.set(calls.get() + 1));
            // SAFETY: `plan` accepted the layout, so m, k, n and every
            // leading dimension fit a c_int and the leading dimensions are
            // at least max(1, columns) as BLAS requires. Where an operand
            // has more than one row (as CBLAS reads it) its leading
            // dimension is the caller's stride across them and its other
            // stride is 1 (or its one column needs none), so BLAS reads
            // exactly the elements the caller's contract makes valid; with
            // a single row the leading dimension addresses nothing. C is
            // row-major with unit column stride, as checked, and does not
            // alias A or B (the contract). With beta = 0, BLAS writes C
            // without reading it, as `matrixmultiply` does.
            unsafe {
                cblas_sys::$cblas(
                    CBLAS_LAYOUT::CblasRowMajor,
                    call.a.trans(),
                    call.b.trans(),
                    call.m,
                    call.n,
                    call.k,
                    alpha,
                    a,
                    call.a.ld,
                    b,
                    call.b.ld,
                    beta,
                    c,
                    call.ldc,
                )
            }
        }
    };
}

gemm!(sgemm, f32, cblas_sgemm);
gemm!(dgemm, f64, cblas_dgemm);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    fn blas_calls() -> usize {
        CALLS.with(|calls| calls.get())
    }

    /// Runs `f` and returns how many BLAS calls it made on this thread.
    fn calls_in(f: impl FnOnce()) -> usize {
        let before = blas_calls();
        f();
        blas_calls() - before
    }

    const fn op(transposed: bool, ld: c_int) -> Operand {
        Operand { transposed, ld }
    }

    /// The strides `gemm_block` would pass for the last two dimensions of `t`.
    fn strides(t: &Tensor<f32>) -> [isize; 2] {
        let nd = t.ndim();
        let s = |d: usize| {
            if t.shape()[d] > 1 {
                t.strides()[d] as isize
            } else {
                0
            }
        };
        [s(nd - 2), s(nd - 1)]
    }

    /// The plan for `a x b` as `gemm_block` calls the kernel on the whole product.
    fn plan_of(a: &Tensor<f32>, b: &Tensor<f32>) -> Option<Call> {
        let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
        let rsc = if m > 1 { n as isize } else { 0 };
        let csc = if n > 1 { 1 } else { 0 };
        plan(m, k, n, strides(a), strides(b), [rsc, csc])
    }

    #[test]
    fn contiguous_and_transposed_views_go_to_blas() {
        let a = Tensor::<f32>::zeros(&[5, 7]);
        let b = Tensor::<f32>::zeros(&[7, 3]);
        let call = plan_of(&a, &b).expect("contiguous goes to BLAS");
        assert_eq!((call.m, call.k, call.n), (5, 7, 3));
        assert_eq!((call.a, call.b, call.ldc), (op(false, 7), op(false, 3), 3));
        // `.t()` of contiguous [7, 5] and [3, 7]: column-major, ld = 5 and 7.
        let (at, bt) = (
            Tensor::<f32>::zeros(&[7, 5]).t(),
            Tensor::zeros(&[3, 7]).t(),
        );
        let call = plan_of(&at, &bt).expect("transposed goes to BLAS");
        assert_eq!((call.a, call.b), (op(true, 5), op(true, 7)));
        // A window of a bigger buffer: rows 10 apart.
        let big = Tensor::<f32>::zeros(&[9, 10]);
        let (an, bn) = (
            big.narrow(0, 1, 5).narrow(1, 2, 7),
            big.narrow(0, 2, 7).narrow(1, 1, 3),
        );
        let call = plan_of(&an, &bn).expect("a window goes to BLAS");
        assert_eq!((call.a, call.b), (op(false, 10), op(false, 10)));
    }

    #[test]
    fn size_one_dimensions_get_the_smallest_valid_leading_dimension() {
        // A row vector times a matrix, a matrix times a column, k = 1: the
        // size-1 dimensions come with stride 0.
        let cases: [(usize, usize, usize, Operand, Operand, c_int); 4] = [
            (1, 4, 3, op(false, 4), op(false, 3), 3),
            (5, 4, 1, op(false, 4), op(false, 1), 1),
            (5, 1, 3, op(false, 1), op(false, 3), 3),
            (1, 1, 1, op(false, 1), op(false, 1), 1),
        ];
        for (m, k, n, a, b, ldc) in cases {
            let (ta, tb) = (Tensor::<f32>::zeros(&[m, k]), Tensor::zeros(&[k, n]));
            let call = plan_of(&ta, &tb).unwrap_or_else(|| panic!("{m}x{k}x{n}"));
            assert_eq!((call.a, call.b, call.ldc), (a, b, ldc), "{m}x{k}x{n}");
        }
        // A transposed column (k x 1 stored as 1 x k): as stored, ld = 1.
        let col = Tensor::<f32>::zeros(&[1, 6]).t();
        let call = plan_of(&Tensor::zeros(&[2, 6]), &col).unwrap();
        assert_eq!(call.b, op(false, 1));
    }

    #[test]
    fn broadcast_strided_and_huge_layouts_fall_back() {
        let b = Tensor::<f32>::zeros(&[4, 3]);
        // A row broadcast to 5 rows: row stride 0 on a dimension of size 5.
        let wide = Tensor::<f32>::zeros(&[1, 4]).broadcast_to(&[5, 4]);
        assert_eq!(plan_of(&wide, &b), None);
        // A column broadcast across 3 columns as B.
        let cols = Tensor::<f32>::zeros(&[4, 1]).broadcast_to(&[4, 3]);
        assert_eq!(plan_of(&Tensor::zeros(&[2, 4]), &cols), None);
        // Every other column of a [4, 6] buffer: no unit stride.
        assert_eq!(plan(2, 4, 3, [4, 1], [6, 2], [3, 1]), None);
        // Overlapping rows (row stride below the row length) and negative strides.
        assert_eq!(plan(2, 4, 3, [2, 1], [3, 1], [3, 1]), None);
        assert_eq!(plan(2, 4, 3, [-4, 1], [3, 1], [3, 1]), None);
        // A leading dimension or a size past i32::MAX.
        let big = i32::MAX as isize + 1;
        assert_eq!(plan(2, 4, 3, [big, 1], [3, 1], [3, 1]), None);
        assert_eq!(plan(2, 4, 3, [1, big], [3, 1], [3, 1]), None);
        let huge = i32::MAX as usize + 1;
        assert_eq!(plan(huge, 1, 1, [1, 0], [0, 0], [1, 0]), None);
        assert_eq!(plan(1, huge, 1, [0, 1], [1, 0], [0, 0]), None);
        assert!(plan(i32::MAX as usize, 1, 1, [1, 0], [0, 0], [1, 0]).is_some());
        // C column-major (never passed by matmul).
        assert_eq!(plan(2, 4, 3, [4, 1], [3, 1], [1, 2]), None);
    }

    /// The layouts above through `Tensor::matmul` (serial, so every kernel
    /// call is on this thread): BLAS is really called, and the fallback
    /// gives the same numbers.
    #[test]
    fn matmul_calls_blas_for_the_layouts_it_takes() {
        let vals = |n: usize| (0..n).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>();
        let a = Tensor::from_vec(vals(40 * 30), &[40, 30]);
        let b = Tensor::from_vec(vals(30 * 20), &[30, 20]);
        let want = a.matmul(&b).to_vec();
        assert_eq!(calls_in(|| drop(a.matmul(&b))), 1, "contiguous");
        let (at, bt) = (a.t().contiguous().t(), b.t().contiguous().t());
        assert_eq!(calls_in(|| assert_eq!(at.matmul(&bt).to_vec(), want)), 1);
        let batched = a.unsqueeze(0).broadcast_to(&[3, 40, 30]);
        assert_eq!(
            calls_in(|| drop(batched.matmul(&b))),
            3,
            "one call per batch"
        );
        let row = a.narrow(0, 0, 1).broadcast_to(&[40, 30]);
        let mut naive = Vec::with_capacity(40 * 20);
        for _ in 0..40 {
            naive.extend(want[..20].iter().copied());
        }
        assert_eq!(calls_in(|| assert_eq!(row.matmul(&b).to_vec(), naive)), 0);
    }

    /// Small blocks take OpenBLAS's small-matrix kernels and the whole
    /// product its blocked one, so thread counts may differ in the last
    /// bits; the same thread count never does.
    #[test]
    fn same_thread_count_gives_same_bits() {
        let (m, k, n) = (33, 1024, 257);
        let vals = |len: usize, mul: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * mul) % 1000) as f32 / 997.0 - 0.5)
                .collect()
        };
        let a = Tensor::from_vec(vals(m * k, 7919), &[m, k]);
        let b = Tensor::from_vec(vals(k * n, 104_729), &[k, n]);
        let bits = |t: Tensor<f32>| t.to_vec().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let first = bits(pool.install(|| a.matmul(&b)));
            for _ in 0..3 {
                assert_eq!(
                    bits(pool.install(|| a.matmul(&b))),
                    first,
                    "{threads} threads"
                );
            }
        }
    }

    #[test]
    fn openblas_runs_single_threaded() {
        extern "C" {
            fn openblas_get_num_threads() -> c_int;
        }
        let a = Tensor::<f64>::ones(&[8, 8]);
        drop(a.matmul(&a));
        // SAFETY: takes no arguments, reads OpenBLAS's own setting.
        let threads = unsafe { openblas_get_num_threads() };
        match std::env::var("OPENBLAS_NUM_THREADS") {
            Err(_) => assert_eq!(threads, 1),
            Ok(v) => eprintln!("OPENBLAS_NUM_THREADS={v}: OpenBLAS has {threads} threads"),
        }
    }
}
