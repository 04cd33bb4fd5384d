//! The timing harness every bench in `benches/` shares (`mod common;`).
//!
//! One measurement: a warm-up call, then samples that each repeat the call
//! until they last at least [`MIN_SAMPLE_S`], for about [`TARGET_S`] of
//! samples; the result is the median time per call (with the best and the
//! spread). Benches report ratios against a baseline measured in the same
//! run, never absolute numbers from another day, and print them with
//! [`Table`]. Options common to all benches: `--quick` (or
//! `TAPEGRAD_BENCH_QUICK=1`) for a smoke run, `--sizes a,b,..` to pick sizes,
//! `--lines` to also print `peer=.. bench=.. value=..` lines in the format of
//! the peer baselines (`summarize.py` reads them).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::Instant;

#[allow(unused_imports)] // not every bench needs it
pub use std::hint::black_box;

/// Each sample repeats the call until it lasts at least this long (seconds).
pub const MIN_SAMPLE_S: f64 = 2e-3;
/// Samples are taken for about this long per measurement (seconds).
pub const TARGET_S: f64 = 0.5;
/// At least this many samples, however slow the call.
pub const MIN_SAMPLES: usize = 3;
/// At most this many samples, however fast the call.
pub const MAX_SAMPLES: usize = 1000;

/// The result of timing one call: seconds per call.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Median over samples.
    pub median: f64,
    /// Fastest sample.
    pub best: f64,
    /// Slowest sample.
    pub worst: f64,
    /// Number of samples.
    pub samples: usize,
    /// Calls per sample.
    pub inner: usize,
}

impl Timing {
    /// Throughput in GFLOPS for `flops` floating-point operations per call.
    pub fn gflops(&self, flops: f64) -> f64 {
        flops / self.median / 1e9
    }

    /// Median time per call in milliseconds.
    pub fn ms(&self) -> f64 {
        self.median * 1e3
    }

    /// Median time per call in microseconds.
    pub fn us(&self) -> f64 {
        self.median * 1e6
    }
}

/// Times `f` with the default budget (see the module doc).
pub fn time<F: FnMut()>(f: F) -> Timing {
    time_for(f, target_s())
}

/// Times `f`, taking samples for about `target_s` seconds.
pub fn time_for<F: FnMut()>(mut f: F, target_s: f64) -> Timing {
    let mut sample = |inner: usize| timed(inner, &mut f);
    time_interleaved(&mut [&mut sample], target_s).remove(0)
}

/// Times `a` and `b` with their samples interleaved (a, b, a, b, ...), so
/// that a machine getting slower or faster during the run (other load,
/// frequency, a noisy VM neighbour) moves both alike and their ratio stays
/// fair. Each gets about [`target_s`] seconds.
#[allow(dead_code)] // not every bench compares two closures
pub fn time_pair<A: FnMut(), B: FnMut()>(mut a: A, mut b: B) -> (Timing, Timing) {
    let mut ta = |inner: usize| timed(inner, &mut a);
    let mut tb = |inner: usize| timed(inner, &mut b);
    let mut t = time_interleaved(&mut [&mut ta, &mut tb], target_s()).into_iter();
    (t.next().unwrap(), t.next().unwrap())
}

/// Seconds per call of `f`, over `inner` calls.
pub fn timed(inner: usize, f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..inner {
        f();
    }
    t.elapsed().as_secs_f64() / inner as f64
}

/// Times one or more workloads with their samples taken round robin (see
/// [`time_pair`]). `sample(inner)` runs its workload `inner` times and
/// returns the seconds per call, timing only the calls, so it can enter its
/// own thread pool outside the timed region (`pool.install(|| timed(..))`).
/// After one warm-up call each, every workload gets the same `inner` (calls
/// per sample, at least [`MIN_SAMPLE_S`] long) and sample count, about
/// `target_s` seconds per workload.
pub fn time_interleaved(
    samples: &mut [&mut dyn FnMut(usize) -> f64],
    target_s: f64,
) -> Vec<Timing> {
    for s in samples.iter_mut() {
        s(1); // warm-up: page in buffers, spin up the pool, fill caches
    }
    let one = samples
        .iter_mut()
        .map(|s| s(1).max(1e-9))
        .fold(0.0, f64::max);
    let inner = ((MIN_SAMPLE_S / one).ceil() as usize).max(1);
    let count = ((target_s / (one * inner as f64)) as usize).clamp(MIN_SAMPLES, MAX_SAMPLES);
    let mut all = vec![Vec::with_capacity(count); samples.len()];
    for _ in 0..count {
        for (s, v) in samples.iter_mut().zip(&mut all) {
            v.push(s(inner));
        }
    }
    all.into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            Timing {
                median: median(&v),
                best: v[0],
                worst: v[v.len() - 1],
                samples: v.len(),
                inner,
            }
        })
        .collect()
}

/// Median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// Runs `f` inside a fresh rayon pool of `threads` threads (so the whole
/// timing loop, not each call, pays for entering the pool).
pub fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("build rayon pool")
        .install(f)
}

/// Threads of rayon's global pool ("all threads").
pub fn all_threads() -> usize {
    rayon::current_num_threads()
}

/// True if any argument is `flag` (e.g. `--quick`).
pub fn has_flag(flag: &str) -> bool {
    std::env::args().any(|a| a == flag)
}

/// True for a quick smoke run: `--quick` or `TAPEGRAD_BENCH_QUICK=1`.
pub fn quick() -> bool {
    has_flag("--quick") || std::env::var("TAPEGRAD_BENCH_QUICK").is_ok_and(|v| v != "0")
}

/// Seconds of samples per measurement: [`TARGET_S`], a fifth of it in a
/// quick run, or `--target S`.
pub fn target_s() -> f64 {
    let default = if quick() { TARGET_S / 5.0 } else { TARGET_S };
    arg_value("--target").map_or(default, |s| s.parse().expect("--target takes seconds"))
}

/// The value after `name` on the command line (`--sizes 64,128`).
pub fn arg_value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A comma-separated list of sizes after `name`, or `default`.
pub fn arg_sizes(name: &str, default: &[usize]) -> Vec<usize> {
    match arg_value(name) {
        Some(s) => s
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("sizes are integers"))
            .collect(),
        None => default.to_vec(),
    }
}

/// `a / b` formatted as a ratio (`1.87x`).
pub fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}

/// Prints the machine's load average, so noisy runs can be told apart.
pub fn print_load() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "# loadavg {} | rayon threads {} | available {}",
        load.join(" "),
        all_threads(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// A line in the peer-baseline format (`peer=.. bench=.. size=.. threads=..
/// value=.. unit=GFLOPS best=.. reps=..`), printed when `--lines` is given.
pub fn peer_line(peer: &str, bench: &str, size: &str, threads: usize, flops: f64, t: &Timing) {
    if has_flag("--lines") {
        println!(
            "peer={peer} bench={bench} size={size} threads={threads} value={:.3} unit=GFLOPS best={:.3} reps={}",
            t.gflops(flops),
            flops / t.best / 1e9,
            t.samples
        );
    }
}

/// A text table with right-aligned columns (the first left-aligned).
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "table row width");
        self.rows.push(cells);
    }

    /// The table as aligned text, one line per row, a rule under the header.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].len())
                    .chain([self.header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let sep = if c == 0 { "" } else { "  " };
                if c == 0 {
                    let _ = write!(s, "{cell:<w$}", w = widths[c]);
                } else {
                    let _ = write!(s, "{sep}{cell:>w$}", w = widths[c]);
                }
            }
            s.trim_end().to_string()
        };
        let mut out = line(&self.header) + "\n";
        let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        out += &"-".repeat(total);
        out += "\n";
        for r in &self.rows {
            out += &line(r);
            out += "\n";
        }
        out
    }

    /// Prints the table.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// A deterministic xorshift generator of values in [-1, 1) for bench inputs
/// (benches need data, not statistics; this keeps them free of `rand` setup).
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed.
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    /// The next value in [-1, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// `n` values.
    pub fn vec_f32(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f64() as f32).collect()
    }

    /// `n` values.
    pub fn vec_f64(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next_f64()).collect()
    }
}
