//! Memory during backward: the lean default frees intermediate gradients,
//! `backward_consuming` frees values as it goes, and `checkpoint` drops a
//! block's values and recomputes them with bit-identical gradients (first
//! and second order). Peak live bytes come from a counting allocator (per
//! thread; the tensors stay below the parallel threshold so every
//! allocation happens on the test's thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tapegrad_autodiff::{checkpoint, Tape, ValueStatus, Var};
use tapegrad_tensor::Tensor;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
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

fn live() -> isize {
    LIVE.with(|c| c.get())
}

/// Runs `f` and returns its result with the peak live bytes above the
/// level at the start.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let base = live();
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(|p| p.get()) - base)
}

const N: usize = 4096; // 16 KiB of f32 per value, far below the parallel threshold
const BYTES: isize = (N * 4) as isize;

fn input(tape: &Tape<f32>) -> Var<'_, f32> {
    tape.var(Tensor::from_vec(
        (0..N).map(|i| (i as f32 * 0.37).sin()).collect(),
        &[N],
    ))
}

/// A chain of `depth` elementwise layers, each `tanh(h * 0.9 + 0.1)`.
fn chain(h: Var<'_, f32>, depth: usize) -> Var<'_, f32> {
    (0..depth).fold(h, |h, _| (h * 0.9 + 0.1).tanh())
}

#[test]
fn lean_backward_keeps_only_leaf_gradients() {
    let tape = Tape::<f32>::new();
    let x = input(&tape);
    let mid = chain(x, 5).retain_grad();
    let loss = chain(mid, 5).sum_all();
    let lean = loss.backward();
    // The leaf and the retained var: two gradients of N floats.
    assert_eq!(lean.count(), 2);
    assert_eq!(lean.bytes() as isize, 2 * BYTES);
    assert!(lean.wrt(x).is_some() && lean.wrt(mid).is_some());
    let all = loss.backward_retain_all();
    assert!(all.count() > 30 && all.has_all());
    // The same numbers either way.
    assert_eq!(lean[x].to_vec(), all[x].to_vec());
}

#[test]
#[should_panic(
    expected = "was freed during backward: backward() keeps only the gradients of trainable leaves; call .retain_grad()"
)]
fn asking_for_a_freed_gradient_says_how_to_keep_it() {
    let tape = Tape::<f32>::new();
    let x = input(&tape);
    let h = x.tanh();
    let grads = h.sum_all().backward();
    let _ = &grads[h];
}

/// At its peak a lean backward through a depth-40 chain holds a couple of
/// gradients at a time; keeping all of them holds 40 more.
#[test]
fn lean_backward_peaks_lower_than_keeping_everything() {
    let depth = 40;
    let tape = Tape::<f32>::new();
    let loss = chain(input(&tape), depth).sum_all();
    let (lean, lean_peak) = peak_of(|| loss.backward());
    let (all, all_peak) = peak_of(|| loss.backward_retain_all());
    drop((lean, all));
    // Each layer makes 3 values (mul, add, tanh) and 2 gradient buffers
    // (add's rule passes `g` on, sharing its buffer): keeping all holds ~2
    // depth of them; lean holds the leaf's and a few in flight.
    assert!(lean_peak < 6 * BYTES, "lean peak {lean_peak} bytes");
    assert!(
        all_peak > 2 * depth as isize * BYTES - 8 * BYTES,
        "all peak {all_peak}"
    );
}

#[test]
fn backward_consuming_releases_values_as_it_goes() {
    let depth = 40;
    let tape = Tape::<f32>::new();
    let x = input(&tape);
    let y = chain(x, depth);
    let loss = y.sum_all();
    let before = tape.bytes() as isize;
    assert!(before > 3 * depth as isize * BYTES);
    let reference = {
        let t2 = Tape::<f32>::new();
        let x2 = input(&t2);
        chain(x2, depth).sum_all().backward()[x2].to_vec()
    };
    let grads = loss.backward_consuming();
    assert_eq!(grads[x].to_vec(), reference, "the same gradient");
    // Nothing is left, the leaf included (its storage belongs to whoever
    // made it; here nobody else holds it, so it is freed).
    assert_eq!(tape.bytes(), 0);
    let summary = tape.summary();
    assert_eq!(summary.rows[y.id()].value, ValueStatus::Released);
    assert!(summary.to_string().contains("released"));
    assert!(tape.to_dot().contains("(value released)"));
    let msg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| y.value()))
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .expect("reading a released value panics");
    assert!(msg.contains("released by backward_consuming()"), "{msg}");
}

/// Blocks of a deep chain, checkpointed or not, on a fresh tape.
fn deep<'t>(tape: &'t Tape<f64>, x: Var<'t, f64>, blocks: usize, ckpt: bool) -> Var<'t, f64> {
    let w = tape.var(Tensor::from_vec(vec![0.9, -0.4, 0.3, 1.1], &[2, 2]));
    let mut h = x;
    for _ in 0..blocks {
        let block = |h: Var<'t, f64>| (h.matmul(w).tanh() * 1.5 + h).sin();
        h = if ckpt { checkpoint(h, block) } else { block(h) };
    }
    h.square().sum_all()
}

fn start(tape: &Tape<f64>) -> Var<'_, f64> {
    tape.var(Tensor::from_vec(
        vec![0.3, -0.7, 1.2, 0.1, -0.5, 0.8],
        &[3, 2],
    ))
}

#[test]
fn checkpointed_gradients_are_bit_identical_first_and_second_order() {
    let plain = Tape::<f64>::new();
    let x = start(&plain);
    let loss = deep(&plain, x, 6, false);
    let g = loss.backward()[x].to_vec();
    let gx = plain.grad(loss, &[x])[0];
    let h = plain.grad(gx.sum_all(), &[x])[0].value().to_vec();

    let ck = Tape::<f64>::new();
    let xc = start(&ck);
    let loss_c = deep(&ck, xc, 6, true);
    assert!(ck
        .summary()
        .rows
        .iter()
        .any(|r| r.value == ValueStatus::Checkpointed));
    let g_c = loss_c.backward()[xc].to_vec();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&g_c), bits(&g), "first order");
    // tape.grad through checkpoints: recomputed on demand, differentiable.
    let gx_c = ck.grad(loss_c, &[xc])[0];
    let h_c = ck.grad(gx_c.sum_all(), &[xc])[0].value().to_vec();
    assert_eq!(bits(&h_c), bits(&h), "second order");
    // After backward the blocks' values are dropped again.
    assert!(ck
        .summary()
        .rows
        .iter()
        .any(|r| r.value == ValueStatus::Checkpointed));
}

/// Between forward and backward a checkpointed chain holds its blocks'
/// inputs and outputs only: about one value per block instead of five.
#[test]
fn checkpointing_holds_less_between_forward_and_backward() {
    let blocks = 20;
    let run = |ckpt: bool| {
        let tape = Tape::<f32>::new();
        let x = input(&tape);
        let mut h = x;
        for _ in 0..blocks {
            h = if ckpt {
                checkpoint(h, |h| chain(h, 2))
            } else {
                chain(h, 2)
            };
        }
        let loss = h.sum_all();
        let held = tape.bytes() as isize;
        let (grads, peak) = peak_of(|| loss.backward());
        (held, peak, grads[x].to_vec())
    };
    let (held, _, g) = run(false);
    let (held_c, peak_c, g_c) = run(true);
    assert_eq!(g, g_c);
    // Plain: 6 values per block (2 layers x 3 ops). Checkpointed: 1.
    assert!(held > 5 * blocks as isize * BYTES, "plain holds {held}");
    assert!(
        held_c < (blocks as isize + 3) * BYTES,
        "checkpointed holds {held_c}"
    );
    // Backward recomputes one block at a time: its peak adds about one
    // block's values and the gradients in flight.
    assert!(peak_c < 14 * BYTES, "checkpointed backward peak {peak_c}");
}
