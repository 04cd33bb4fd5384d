//! When does running elementwise ops and reductions in parallel pay, and by
//! how much? Serial (a 1-thread rayon pool) against parallel (rayon's global
//! pool, called from the main thread as a user would), in the same run.
//!
//! 1. Through the tensor API at 1e6 and 1e7 f32 elements: `add` of two
//!    contiguous tensors, `add` of a broadcast row (`[r, 1000] + [1000]`) and
//!    `sum_all`.
//! 2. A sweep from 4k to 1M elements of the two kernels the library runs
//!    (contiguous `add` filled in chunks of [`CHUNK`], and a chunked sum),
//!    serial and parallel, with the parallel path forced at every size so the
//!    crossover shows whatever [`PARALLEL_THRESHOLD`] currently is. The
//!    smallest size from which parallel wins is what `PARALLEL_THRESHOLD`
//!    should be.
//! 3. The vectorised `f32` transcendentals (`Tensor::tanh`, `Tensor::sigmoid`,
//!    from `fast_math`) against the same map through the C library
//!    (`f32::tanh`; `stable_sigmoid`, two branches around `expf`), one
//!    thread, 2^16 and 2^20 elements.
//!
//! ```text
//! cargo bench --bench elementwise               # ~1 minute
//! cargo bench --bench elementwise -- --quick    # short samples
//! ```

mod common;

use common::{black_box, in_pool, print_load, ratio, time, Table, Timing, XorShift};
use rayon::prelude::*;
use tapegrad_tensor::tuning::{stable_sigmoid, sum_slice, CHUNK, PARALLEL_THRESHOLD};
use tapegrad_tensor::Tensor;

/// Serial and parallel timings of one op.
fn serial_vs_parallel(f: impl Fn() + Sync) -> (Timing, Timing) {
    let serial = in_pool(1, || time(&f));
    let parallel = time(&f);
    (serial, parallel)
}

fn api_table() {
    let nt = common::all_threads();
    let mut t = Table::new(&[
        "op",
        "elements",
        "serial ms",
        &format!("{nt}T ms"),
        "speed-up",
        "serial GB/s",
    ]);
    let mut rng = XorShift::new(7);
    for n in [1_000_000usize, 10_000_000] {
        let cols = 1000;
        let a = Tensor::from_vec(rng.vec_f32(n), &[n / cols, cols]);
        let b = Tensor::from_vec(rng.vec_f32(n), &[n / cols, cols]);
        let row = Tensor::from_vec(rng.vec_f32(cols), &[cols]);
        // (bytes moved per element: reads + writes of 4-byte floats)
        api_row(&mut t, "add", n, 12, || drop(black_box(a.add(&b))));
        api_row(&mut t, "add row", n, 8, || drop(black_box(a.add(&row))));
        api_row(&mut t, "sum_all", n, 4, || drop(black_box(a.sum_all())));
    }
    t.print();
}

/// Times one op serial and parallel and adds its row to the table.
fn api_row(t: &mut Table, name: &str, n: usize, bytes_per_elem: usize, f: impl Fn() + Sync) {
    let (s, p) = serial_vs_parallel(f);
    t.row(vec![
        name.to_string(),
        format!("{n:.0e}"),
        format!("{:.3}", s.ms()),
        format!("{:.3}", p.ms()),
        ratio(s.median, p.median),
        format!("{:.1}", (bytes_per_elem * n) as f64 / s.median / 1e9),
    ]);
}

/// `out = x + y` the way `fill_chunks` does it: serial, or chunks of `CHUNK` on rayon.
fn add_kernel(x: &[f32], y: &[f32], parallel: bool) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    let add = |o: &mut [f32], start: usize| {
        let (x, y) = (&x[start..start + o.len()], &y[start..start + o.len()]);
        for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
            *o = x + y;
        }
    };
    if parallel {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, o)| add(o, i * CHUNK));
    } else {
        add(&mut out, 0);
    }
    out
}

/// The sum the way `reduce_rows` does it: partial sums of `CHUNK`s, then their sum.
fn sum_kernel(x: &[f32], parallel: bool) -> f32 {
    if parallel {
        let partials: Vec<f32> = x.par_chunks(CHUNK).map(sum_slice).collect();
        sum_slice(&partials)
    } else {
        sum_slice(x)
    }
}

/// `out = tanh(x)`: an expensive map (~10x the work of an add per element).
fn tanh_kernel(x: &[f32], parallel: bool) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    let f = |o: &mut [f32], start: usize| {
        let x = &x[start..start + o.len()];
        for (o, &x) in o.iter_mut().zip(x) {
            *o = tapegrad_tensor::Float::tanh(x);
        }
    };
    if parallel {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, o)| f(o, i * CHUNK));
    } else {
        f(&mut out, 0);
    }
    out
}

/// Serial and parallel timings of `kernel(parallel)`.
fn both<R>(kernel: impl Fn(bool) -> R + Sync) -> (Timing, Timing) {
    let serial = in_pool(1, || {
        time(|| {
            black_box(kernel(false));
        })
    });
    let parallel = time(|| {
        black_box(kernel(true));
    });
    (serial, parallel)
}

/// The smallest size from which parallel is at least 5% faster at every
/// larger size of the sweep.
fn wins_from(rows: &[(usize, f64)]) -> String {
    let mut from = None;
    for &(n, speedup) in rows.iter().rev() {
        if speedup < 1.05 {
            break;
        }
        from = Some(n);
    }
    from.map_or("never (up to 2^20)".to_string(), |n| n.to_string())
}

fn sweep() {
    let nt = common::all_threads();
    println!(
        "\n# sweep: kernels with the parallel path forced (CHUNK = {CHUNK}, current PARALLEL_THRESHOLD = {PARALLEL_THRESHOLD})"
    );
    let names = ["add", "sum", "tanh"];
    let mut header = vec!["elements".to_string()];
    for name in names {
        header.push(format!("{name} 1T us"));
        header.push(format!("{name} {nt}T us"));
        header.push(format!("{name} x"));
    }
    let header: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    let mut t = Table::new(&header);
    let mut rng = XorShift::new(11);
    let mut speedups: Vec<Vec<(usize, f64)>> = vec![Vec::new(); names.len()];
    for shift in 12..=20 {
        let n = 1usize << shift;
        let (x, y) = (rng.vec_f32(n), rng.vec_f32(n));
        let timings = [
            both(|p| add_kernel(&x, &y, p)),
            both(|p| sum_kernel(&x, p)),
            both(|p| tanh_kernel(&x, p)),
        ];
        let mut row = vec![format!("{n} (2^{shift})")];
        for (i, (s, p)) in timings.iter().enumerate() {
            row.push(format!("{:.1}", s.us()));
            row.push(format!("{:.1}", p.us()));
            row.push(ratio(s.median, p.median));
            speedups[i].push((n, s.median / p.median));
        }
        t.row(row);
    }
    t.print();
    for (name, rows) in names.iter().zip(&speedups) {
        println!(
            "# parallel wins (>= 5%) from: {name} {} elements",
            wins_from(rows)
        );
    }
}

/// Section 3: each vectorised function against its C-library form, one
/// thread.
fn transcendental_table() {
    println!("\n# f32 transcendentals, 1 thread: tapegrad's vectorised form vs the C library's");
    let mut t = Table::new(&[
        "op",
        "elements",
        "tapegrad us",
        "libm us",
        "libm / tapegrad",
    ]);
    let mut rng = XorShift::new(13);
    for n in [1usize << 16, 1 << 20] {
        // Spread over [-8, 8): both branches of each function.
        let v: Vec<f32> = rng.vec_f32(n).iter().map(|x| 8.0 * x).collect();
        let x = Tensor::from_vec(v.clone(), &[n]);
        let rows: [(&str, Timing, Timing); 2] = in_pool(1, || {
            [
                (
                    "tanh",
                    time(|| drop(black_box(x.tanh()))),
                    time(|| drop(black_box(v.iter().map(|x| x.tanh()).collect::<Vec<f32>>()))),
                ),
                (
                    "sigmoid",
                    time(|| drop(black_box(x.sigmoid()))),
                    time(|| {
                        drop(black_box(
                            v.iter().map(|&x| stable_sigmoid(x)).collect::<Vec<f32>>(),
                        ))
                    }),
                ),
            ]
        });
        for (name, fast, libm) in rows {
            t.row(vec![
                name.to_string(),
                format!("{n}"),
                format!("{:.1}", fast.us()),
                format!("{:.1}", libm.us()),
                ratio(libm.median, fast.median),
            ]);
        }
    }
    t.print();
}

fn main() {
    print_load();
    println!("# elementwise f32: serial (1-thread pool) vs parallel (global pool), median");
    api_table();
    sweep();
    transcendental_table();
}
