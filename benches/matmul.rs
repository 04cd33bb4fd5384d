//! How fast is `Tensor::matmul`, against `matrixmultiply` called directly on
//! one thread, measured in the same run?
//!
//! Rows: square sgemm (n = 64 .. 2048), the MLP's shapes ([128x784]x[784x512]
//! and [128x512]x[512x256]), a transposed-view operand (`a.t()` of a
//! contiguous tensor, and `b.t()`) at n = 512 and 1024, and dgemm at 256 and
//! 1024. Columns: GFLOPS (2mkn / t) of tapegrad on a 1-thread rayon pool
//! (`tg-1T`), on all threads (`tg-NT`, rayon's global pool, called from the
//! main thread as a user would) and of `matrixmultiply::{s,d}gemm` called
//! directly on one thread into a preallocated output (`mm-1T`, the baseline);
//! then the ratios.
//!
//! ```text
//! cargo bench --bench matmul                       # everything, ~1 minute
//! cargo bench --bench matmul -- --quick            # n = 64, 128, 512; short samples
//! cargo bench --bench matmul -- --sizes 128,1024   # pick square sizes
//! cargo bench --bench matmul -- --sizes 512 --square-only  # no MLP/transposed/f64 rows
//! TAPEGRAD_BENCH_SIZES=256 cargo bench --bench matmul
//! cargo bench --bench matmul -- --lines            # also peer-format lines
//! ```
//! Pin it for stable numbers: `taskset -c 0,1 cargo bench --bench matmul`.
//! With `--features blas` tg runs on the system OpenBLAS instead (the header
//! says which), against the same `matrixmultiply` baseline.

mod common;

use common::{black_box, in_pool, peer_line, print_load, ratio, time, Table, Timing, XorShift};
use tapegrad_tensor::{Float, Tensor};

/// `matrixmultiply`'s gemm for each element type, called directly.
trait Direct: Float {
    /// `C = A B` (beta 0) on raw strided buffers.
    ///
    /// # Safety
    /// As `matrixmultiply::sgemm`: the pointers and strides must address
    /// valid `m x k`, `k x n` and `m x n` matrices, `c` not aliasing.
    #[allow(clippy::too_many_arguments)]
    unsafe fn direct(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        c: *mut Self,
    );
}

impl Direct for f32 {
    unsafe fn direct(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        c: *mut f32,
    ) {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe {
            matrixmultiply::sgemm(
                m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, n as isize, 1,
            )
        }
    }
}

impl Direct for f64 {
    unsafe fn direct(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        c: *mut f64,
    ) {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe {
            matrixmultiply::dgemm(
                m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, n as isize, 1,
            )
        }
    }
}

/// Which operand is a transposed view.
#[derive(Clone, Copy, PartialEq)]
enum Operands {
    Contiguous,
    /// `a.t()` of a contiguous `[k, m]` tensor.
    TransposedA,
    /// `b.t()` of a contiguous `[n, k]` tensor.
    TransposedB,
}

/// One row of the table.
struct Case {
    name: String,
    dtype: &'static str,
    m: usize,
    k: usize,
    n: usize,
    operands: Operands,
}

/// The three timings of one case.
struct Measured {
    tg1: Timing,
    tgn: Timing,
    mm1: Timing,
}

fn operand<E: Float>(rows: usize, cols: usize, transposed: bool, rng: &mut XorShift) -> Tensor<E> {
    let data: Vec<E> = rng
        .vec_f64(rows * cols)
        .into_iter()
        .map(E::from_f64)
        .collect();
    if transposed {
        Tensor::from_vec(data, &[cols, rows]).t()
    } else {
        Tensor::from_vec(data, &[rows, cols])
    }
}

/// Row and column stride of a 2-D view, as `matrixmultiply` takes them.
fn strides2<E: Float>(t: &Tensor<E>) -> (isize, isize) {
    (t.strides()[0] as isize, t.strides()[1] as isize)
}

fn measure<E: Direct>(case: &Case) -> Measured {
    let mut rng = XorShift::new(0x5eed ^ (case.m * 31 + case.k * 7 + case.n) as u64);
    let a = operand::<E>(
        case.m,
        case.k,
        case.operands == Operands::TransposedA,
        &mut rng,
    );
    let b = operand::<E>(
        case.k,
        case.n,
        case.operands == Operands::TransposedB,
        &mut rng,
    );
    let (m, k, n) = (case.m, case.k, case.n);
    let mut c = vec![E::ZERO; m * n];
    let ((rsa, csa), (rsb, csb)) = (strides2(&a), strides2(&b));
    let (pa, pb) = (a.storage().as_ptr(), b.storage().as_ptr());
    // matrixmultiply is built without its `threading` feature: one thread.
    let mm1 = time(|| {
        // SAFETY: `a` and `b` are valid m x k and k x n views with these
        // strides (offset 0), and `c` is a separate m x n buffer.
        unsafe { E::direct(m, k, n, pa, rsa, csa, pb, rsb, csb, c.as_mut_ptr()) };
        black_box(&mut c);
    });
    let tg1 = in_pool(1, || {
        time(|| {
            black_box(a.matmul(&b));
        })
    });
    let tgn = time(|| {
        black_box(a.matmul(&b));
    });
    check_agrees(&a, &b, &c);
    Measured { tg1, tgn, mm1 }
}

/// The bench measures the right thing only if both paths compute the same product.
fn check_agrees<E: Float>(a: &Tensor<E>, b: &Tensor<E>, direct: &[E]) {
    let ours = a.matmul(b).to_vec();
    let worst = ours
        .iter()
        .zip(direct)
        .map(|(x, y)| (x.to_f64() - y.to_f64()).abs())
        .fold(0.0, f64::max);
    let tol = 1e-3 * (a.shape()[1] as f64).sqrt();
    assert!(
        worst <= tol,
        "tapegrad and matrixmultiply differ by {worst}"
    );
}

fn cases(sizes: &[usize], quick: bool, extra: bool) -> Vec<Case> {
    let square = |n: usize, dtype, operands, tag: &str| Case {
        name: format!("{dtype} {n}{tag}"),
        dtype,
        m: n,
        k: n,
        n,
        operands,
    };
    let mut v: Vec<Case> = sizes
        .iter()
        .map(|&n| square(n, "f32", Operands::Contiguous, ""))
        .collect();
    if !extra {
        return v;
    }
    for (m, k, n) in [(128, 784, 512), (128, 512, 256)] {
        v.push(Case {
            name: format!("f32 [{m}x{k}]x[{k}x{n}]"),
            dtype: "f32",
            m,
            k,
            n,
            operands: Operands::Contiguous,
        });
    }
    let big: &[usize] = if quick { &[512] } else { &[512, 1024] };
    for &n in big {
        v.push(square(n, "f32", Operands::TransposedA, " a.t()"));
        v.push(square(n, "f32", Operands::TransposedB, " b.t()"));
    }
    let dsizes: &[usize] = if quick { &[256] } else { &[256, 1024] };
    for &n in dsizes {
        v.push(square(n, "f64", Operands::Contiguous, ""));
    }
    v
}

fn main() {
    let quick = common::quick();
    let default: &[usize] = if quick {
        &[64, 128, 512]
    } else {
        &[64, 128, 256, 512, 1024, 2048]
    };
    let env_sizes = std::env::var("TAPEGRAD_BENCH_SIZES").ok();
    let sizes = match (common::arg_value("--sizes"), env_sizes) {
        (Some(_), _) => common::arg_sizes("--sizes", default),
        (None, Some(s)) => s.split(',').map(|x| x.parse().expect("size")).collect(),
        (None, None) => default.to_vec(),
    };
    let nt = common::all_threads();
    print_load();
    println!("# matmul: tapegrad Tensor::matmul (tg) vs matrixmultiply direct (mm), GFLOPS = 2mkn/t, median");
    println!(
        "# tg's kernel: {}",
        if cfg!(feature = "blas") {
            "OpenBLAS, one thread per call (feature `blas`)"
        } else {
            "matrixmultiply"
        }
    );
    let hdr_n = format!("tg-{nt}T");
    let ratio_n = format!("tg-{nt}T/mm-1T");
    let mut table = Table::new(&[
        "case",
        "tg-1T",
        &hdr_n,
        "mm-1T",
        "tg-1T/mm-1T",
        &ratio_n,
        &format!("{nt}T/1T"),
    ]);
    let mut results = Vec::new();
    for case in cases(&sizes, quick, !common::has_flag("--square-only")) {
        let r = if case.dtype == "f32" {
            measure::<f32>(&case)
        } else {
            measure::<f64>(&case)
        };
        let flops = 2.0 * (case.m * case.k * case.n) as f64;
        let (g1, gn, gm) = (
            r.tg1.gflops(flops),
            r.tgn.gflops(flops),
            r.mm1.gflops(flops),
        );
        table.row(vec![
            case.name.clone(),
            format!("{g1:.1}"),
            format!("{gn:.1}"),
            format!("{gm:.1}"),
            ratio(g1, gm),
            ratio(gn, gm),
            ratio(gn, g1),
        ]);
        let bench = if case.dtype == "f32" {
            "sgemm"
        } else {
            "dgemm"
        };
        let size = case
            .name
            .split_once(' ')
            .map_or("", |s| s.1)
            .replace(' ', "");
        peer_line("tapegrad", bench, &size, 1, flops, &r.tg1);
        peer_line("tapegrad", bench, &size, nt, flops, &r.tgn);
        peer_line("matrixmultiply", bench, &size, 1, flops, &r.mm1);
        results.push((case, flops, r));
    }
    table.print();
    print_transposed(&results, nt);
}

/// Transposed-view rows against the contiguous row of the same size.
fn print_transposed(results: &[(Case, f64, Measured)], nt: usize) {
    let mut t = Table::new(&[
        "case",
        "tg-1T / contiguous",
        &format!("tg-{nt}T / contiguous"),
    ]);
    for (case, flops, r) in results
        .iter()
        .filter(|x| x.0.operands != Operands::Contiguous)
    {
        let base = results.iter().find(|x| {
            x.0.operands == Operands::Contiguous
                && x.0.dtype == case.dtype
                && (x.0.m, x.0.k, x.0.n) == (case.m, case.k, case.n)
        });
        if let Some((_, _, b)) = base {
            t.row(vec![
                case.name.clone(),
                ratio(r.tg1.gflops(*flops), b.tg1.gflops(*flops)),
                ratio(r.tgn.gflops(*flops), b.tgn.gflops(*flops)),
            ]);
        }
    }
    println!();
    t.print();
}
