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
//!
//! ```text
//! cargo bench --bench elementwise               # ~1 minute
//! cargo bench --bench elementwise -- --quick    # short samples
//! ```

mod common;

use common::{black_box, in_pool, print_load, ratio, time, Table, Timing, XorShift};
use rayon::prelude::*;
use tapegrad_tensor::{sum_slice, Tensor, CHUNK, PARALLEL_THRESHOLD};

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
        let ops: [(&str, Box<dyn Fn() + Sync>, usize); 3] = [
            ("add", Box::new(|| drop(black_box(a.add(&b)))), 3),
            ("add row", Box::new(|| drop(black_box(a.add(&row)))), 2),
            ("sum_all", Box::new(|| drop(black_box(a.sum_all()))), 1),
        ];
        for (name, f, arrays) in ops {
            let (s, p) = serial_vs_parallel(f);
            let bytes = (arrays * n * 4) as f64;
            t.row(vec![
                name.to_string(),
                format!("{n:.0e}"),
                format!("{:.3}", s.ms()),
                format!("{:.3}", p.ms()),
                ratio(s.median, p.median),
                format!("{:.1}", bytes / s.median / 1e9),
            ]);
        }
    }
    t.print();
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

fn sweep() {
    let nt = common::all_threads();
    println!(
        "\n# sweep: kernels with the parallel path forced (CHUNK = {CHUNK}, current PARALLEL_THRESHOLD = {PARALLEL_THRESHOLD})"
    );
    let mut t = Table::new(&[
        "elements",
        "add serial us",
        &format!("add {nt}T us"),
        "add speed-up",
        "sum serial us",
        &format!("sum {nt}T us"),
        "sum speed-up",
    ]);
    let mut rng = XorShift::new(11);
    let mut first_win = (None, None);
    for shift in 12..=20 {
        let n = 1usize << shift;
        let (x, y) = (rng.vec_f32(n), rng.vec_f32(n));
        let (as_, ap) = (
            in_pool(1, || time(|| drop(black_box(add_kernel(&x, &y, false))))),
            time(|| drop(black_box(add_kernel(&x, &y, true)))),
        );
        let (ss, sp) = (
            in_pool(1, || {
                time(|| {
                    black_box(sum_kernel(&x, false));
                })
            }),
            time(|| {
                black_box(sum_kernel(&x, true));
            }),
        );
        if ap.median < as_.median && first_win.0.is_none() {
            first_win.0 = Some(n);
        }
        if sp.median < ss.median && first_win.1.is_none() {
            first_win.1 = Some(n);
        }
        t.row(vec![
            format!("{n} (2^{shift})"),
            format!("{:.1}", as_.us()),
            format!("{:.1}", ap.us()),
            ratio(as_.median, ap.median),
            format!("{:.1}", ss.us()),
            format!("{:.1}", sp.us()),
            ratio(ss.median, sp.median),
        ]);
    }
    t.print();
    let show = |x: Option<usize>| x.map_or("never (up to 2^20)".to_string(), |n| n.to_string());
    println!(
        "# parallel first wins at: add {} elements, sum {} elements",
        show(first_win.0),
        show(first_win.1)
    );
}

fn main() {
    print_load();
    println!("# elementwise f32: serial (1-thread pool) vs parallel (global pool), median");
    api_table();
    sweep();
}
