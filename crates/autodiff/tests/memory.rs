//! Memory: a reused tape stays flat over 10,000 training steps, and dropping
//! a tape (and its gradients) frees every buffer it kept alive.
//!
//! Live heap bytes are measured with a counting global allocator (this test
//! binary only) that counts per thread, so the test harness's own threads
//! do not disturb a test. The tensors stay below the parallel threshold, so
//! all the work runs on the test's thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::Tensor;

/// Forwards to the system allocator and keeps a running count of the bytes
/// each thread has allocated and not yet freed.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Adds `delta` to this thread's count (ignored while the thread is torn down).
fn count(delta: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get() + delta));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counter is only
// bookkeeping and never affects the returned pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's (non-zero size layout).
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
        // SAFETY: `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes this thread has allocated and not freed.
fn live() -> isize {
    LIVE.with(|c| c.get())
}

/// Parameters of an 8-16-1 tanh MLP and one fixed batch of 32 examples.
struct Model {
    params: Vec<Tensor<f32>>,
    x: Tensor<f32>,
    y: Tensor<f32>,
}

impl Model {
    fn new() -> Model {
        let det = |n: usize, s: f32| {
            (0..n)
                .map(|i| ((i as f32 * 0.618).fract() - 0.5) * s)
                .collect::<Vec<f32>>()
        };
        let params = vec![
            Tensor::from_vec(det(8 * 16, 0.7), &[8, 16]),
            Tensor::zeros(&[16]),
            Tensor::from_vec(det(16, 0.5), &[16, 1]),
            Tensor::zeros(&[1]),
        ];
        let x = Tensor::from_vec(det(32 * 8, 2.0), &[32, 8]);
        let y = Tensor::from_vec((0..32).map(|i| (i as f32 * 0.3).sin()).collect(), &[32, 1]);
        Model { params, x, y }
    }

    /// One SGD step on a cleared tape; returns the loss and the tape's
    /// node count and bytes after backward.
    fn step(&mut self, tape: &mut Tape<f32>) -> (f64, usize, usize) {
        tape.clear();
        let p: Vec<Var<'_, f32>> = self.params.iter().map(|t| tape.var(t.clone())).collect();
        let h = (tape.constant(self.x.clone()).matmul(p[0]) + p[1]).tanh();
        let loss = (h.matmul(p[2]) + p[3] - tape.constant(self.y.clone()))
            .square()
            .mean_all();
        let grads = loss.backward();
        let new: Vec<Tensor<f32>> = self
            .params
            .iter()
            .zip(&p)
            .map(|(t, &v)| t.sub(&grads[v].mul_scalar(0.1)))
            .collect();
        let out = (loss.item(), tape.len(), tape.bytes());
        self.params = new;
        out
    }
}

#[test]
fn reused_tape_stays_flat_over_10k_steps() {
    let mut model = Model::new();
    let mut tape = Tape::<f32>::new();
    let mut at = Vec::with_capacity(2);
    let mut first_loss = None;
    for step in 1..=10_000 {
        let (loss, len, bytes) = model.step(&mut tape);
        first_loss.get_or_insert(loss);
        if step == 100 || step == 10_000 {
            at.push((len, bytes, live(), loss));
        }
    }
    let ((len100, bytes100, live100, _), (len10k, bytes10k, live10k, loss10k)) = (at[0], at[1]);
    assert!(len100 > 10 && bytes100 > 0);
    assert_eq!(
        (len10k, bytes10k),
        (len100, bytes100),
        "tape len / bytes grew between step 100 and 10,000"
    );
    // The heap is flat too: the same buffers, reused or freed and made again.
    assert_eq!(
        live10k, live100,
        "live heap changed between step 100 and 10,000"
    );
    assert!(
        loss10k < first_loss.unwrap() * 0.5,
        "training made progress: {loss10k}"
    );
}

#[test]
fn dropping_a_tape_frees_its_storage() {
    let leaf = Tensor::<f64>::from_vec(
        (0..4096).map(|i| (i as f64 * 0.01).sin()).collect(),
        &[64, 64],
    );
    let baseline = live();
    let (grad_sum, peak) = {
        let tape = Tape::<f64>::new();
        let x = tape.var(leaf.clone());
        let mut y = x;
        for _ in 0..50 {
            y = (y.tanh() * x + x.t()).mul_scalar(0.5);
        }
        let grads = y.sum_all().backward();
        (grads[x].sum_all().item(), live())
    };
    // 50 rounds of 4 ops on 32 KiB tensors, values and gradients: megabytes.
    assert!(
        peak - baseline > 4 << 20,
        "the tape held {} bytes",
        peak - baseline
    );
    assert!(grad_sum.is_finite());
    let after = live();
    assert_eq!(
        after,
        baseline,
        "{} bytes still live after dropping the tape",
        after - baseline
    );
    // The leaf itself is untouched and still readable.
    assert_eq!(leaf.get(&[1, 0]), (64.0f64 * 0.01).sin());
}
