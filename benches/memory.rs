//! What a training step holds in memory, beside its theoretical floor.
//!
//! A counting global allocator (all threads, atomics) gives the peak live
//! heap bytes of a region of code: a step's peak above what was live before
//! it. Each figure is printed beside its floor, measured in the same run:
//!
//! 1. A ReLU MLP of depth 100 and width 1024 at batch 256 in f32 (the user's
//!    step: `Sequential` of `Linear`/`ReLU`, `mse`, `SGD`): peak bytes of a
//!    step against parameters + gradients + activations (what any reverse
//!    mode must hold at its peak), for `backward_retain_all` (what every
//!    backward kept before lean backward), `backward`, `backward_consuming`,
//!    and checkpointing every 10 layers (with its step time beside the
//!    plain one: recomputation costs about one more forward).
//! 2. A 10,000-step loop of a small MLP: the peak over steps 100..10,000
//!    against the peak of steps 0..100 (flat: no growth).
//!
//! Run: `cargo bench --bench memory` (`--quick`: depth 20 and 1,000 steps).

mod common;

use common::{print_load, quick, ratio, time_pair, Table};
use rand::SeedableRng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use tapegrad::prelude::*;
use tapegrad_nn::ReLU;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters are bookkeeping that never touch the pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`; returns its result and the peak live bytes above the start.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

fn mib(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// A depth-`depth` ReLU MLP of width `width` (He init, as `Linear::new`).
fn mlp(depth: usize, width: usize, out: usize) -> Sequential {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut m = Sequential::new();
    for _ in 0..depth {
        m.push(Linear::new(width, width, &mut rng));
        m.push(ReLU);
    }
    m.push(Linear::new(width, out, &mut rng));
    m
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    RetainAll,
    Lean,
    Consuming,
    Checkpointed(usize),
}

/// One training step as a user writes it. With `scoped`, the tape lives in
/// a block that ends before the optimiser step (the gradients outlive it),
/// so the parameters' storage is no longer shared and the update runs in
/// place; otherwise the tape is alive during the step and every updated
/// parameter needs a new buffer.
fn step(model: &mut Sequential, opt: &mut SGD, x: &Tensor, y: &Tensor, how: Step, scoped: bool) {
    let tape = Tape::new();
    let h = tape.constant(x.clone());
    let out = match how {
        Step::Checkpointed(k) => model.forward_checkpointed(h, k),
        _ => model.forward(h),
    };
    let loss = mse(out, tape.constant(y.clone()));
    let grads = match how {
        Step::RetainAll => loss.backward_retain_all(),
        Step::Consuming => loss.backward_consuming(),
        _ => loss.backward(),
    };
    if scoped {
        drop(tape);
    }
    opt.step(model, &grads);
}

fn deep_step_table() {
    let (depth, width, batch) = if quick() {
        (20, 512, 128)
    } else {
        (100, 1024, 256)
    };
    let mut model = mlp(depth, width, 10);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let x = Tensor::rand_normal(&[batch, width], 0.0, 1.0, &mut rng);
    let y = Tensor::rand_normal(&[batch, 10], 0.0, 1.0, &mut rng);
    let mut opt = SGD::new(1e-4);
    let f32b = 4isize;
    let params: isize = model.num_parameters() as isize * f32b;
    // Activations a step must hold for backward: each Linear's output and
    // each ReLU's output ([batch, width] each), the input, the logits.
    let acts = (2 * depth as isize * (batch * width) as isize
        + (batch * 10 + batch * width) as isize)
        * f32b;
    let floor = 2 * params + acts;
    println!(
        "MLP depth {depth}, width {width}, batch {batch} (f32): parameters {}, activations {}, floor (params + grads + activations) {}",
        mib(params),
        mib(acts),
        mib(floor)
    );
    step(&mut model, &mut opt, &x, &y, Step::Lean, true); // warm up
    let mut table = Table::new(&[
        "backward",
        "tape during step",
        "peak",
        "peak / floor",
        "activations held after forward",
    ]);
    // Sequential's layers alternate Linear and ReLU: 20 modules = 10 layers.
    for (name, how, scoped) in [
        ("backward_retain_all (before)", Step::RetainAll, false),
        ("backward (lean)", Step::Lean, false),
        ("backward (lean)", Step::Lean, true),
        ("backward_consuming", Step::Consuming, false),
        ("checkpoint every 10 layers", Step::Checkpointed(20), false),
        ("checkpoint every 10 layers", Step::Checkpointed(20), true),
    ] {
        let (_, peak) = peak_of(|| step(&mut model, &mut opt, &x, &y, how, scoped));
        // The tape's leaves share the parameters' storage: not activations.
        let held = held_after_forward(&model, &x, how) - params;
        // The parameters are live before the step; the peak above adds what
        // the step allocates: activations, gradients, and new parameter
        // buffers where the tape still shares the old ones.
        let total = peak + params;
        table.row(vec![
            name.to_string(),
            if scoped { "dropped" } else { "alive" }.to_string(),
            mib(total),
            format!("{:.2}x", total as f64 / floor as f64),
            mib(held),
        ]);
    }
    table.print();
    // Two copies, so the interleaved samples do not share a model.
    let (mut m2, mut opt2) = (mlp(depth, width, 10), SGD::new(1e-4));
    let (plain, ckpt) = time_pair(
        || step(&mut model, &mut opt, &x, &y, Step::Lean, true),
        || step(&mut m2, &mut opt2, &x, &y, Step::Checkpointed(20), true),
    );
    println!(
        "step time: plain {:.1} ms, checkpointed every 10 layers {:.1} ms ({} of plain)",
        plain.ms(),
        ckpt.ms(),
        ratio(ckpt.ms(), plain.ms())
    );
}

/// Bytes the tape holds between forward and backward.
fn held_after_forward(model: &Sequential, x: &Tensor, how: Step) -> isize {
    let tape = Tape::new();
    let h = tape.constant(x.clone());
    let _ = match how {
        Step::Checkpointed(k) => model.forward_checkpointed(h, k),
        _ => model.forward(h),
    };
    tape.bytes() as isize
}

fn long_loop() {
    let steps = if quick() { 1_000 } else { 10_000 };
    let mut model = mlp(3, 64, 10);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let x = Tensor::rand_normal(&[32, 64], 0.0, 1.0, &mut rng);
    let y = Tensor::rand_normal(&[32, 10], 0.0, 1.0, &mut rng);
    let mut opt = SGD::new(1e-3).momentum(0.9);
    let base = LIVE.load(Ordering::Relaxed);
    let (_, early) = peak_of(|| {
        for _ in 0..100 {
            step(&mut model, &mut opt, &x, &y, Step::Lean, false);
        }
    });
    let (_, late) = peak_of(|| {
        for _ in 100..steps {
            step(&mut model, &mut opt, &x, &y, Step::Lean, false);
        }
    });
    let after = LIVE.load(Ordering::Relaxed) - base;
    println!(
        "{steps}-step loop: peak over steps 0..100 {}, over 100..{steps} {} ({}), live after the loop {} B above its start",
        mib(early),
        mib(late),
        ratio(late as f64, early as f64),
        after
    );
}

fn main() {
    print_load();
    deep_step_table();
    long_loop();
}
