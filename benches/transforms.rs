//! The function transforms, each beside the pass it is built from, in the
//! same run (interleaved samples):
//!
//! 1. `jvp` of the 784-512-256-10 ReLU MLP's forward at batch 128 (f32),
//!    with a tangent on the input only and on every parameter, against the
//!    plain forward on a tape (what `f` costs without tangents). Forward
//!    mode computes each op's tangent beside its value: a matmul's tangent
//!    is one more product (input tangent only) or two (all tangents).
//! 2. `hvp` of that MLP's cross-entropy with respect to its parameters
//!    (forward-over-reverse), against one gradient (forward + backward).
//! 3. Per-sample gradients of the digits MLP (64-128-64-10, ReLU) at batch
//!    64 through `nn::per_sample::per_sample_grads` (one backward pass),
//!    against `per_sample_grads_by_loop` (64 single-example passes).
//!
//! Run: `cargo bench --bench transforms` (`--quick` for a short budget;
//! `--jvp`, `--hvp` or `--per-sample` for one part).
//! Peers: `benches/peers/transforms_jax_torch.py` (JAX's `jax.jvp`,
//! `jax.vmap(jax.grad)` without jit, and `torch.func`).

mod common;

use common::{black_box, in_pool, print_load, ratio, time_pair, Table};
use rand::SeedableRng;
use std::ops::Range;
use tapegrad::prelude::*;
use tapegrad_autodiff::{hvp, jvp};
use tapegrad_nn::loss::cross_entropy_each;
use tapegrad_nn::per_sample::{loss_fn, per_sample_grads, per_sample_grads_by_loop};
use tapegrad_nn::ReLU;

const DIMS: [usize; 4] = [784, 512, 256, 10];
const BATCH: usize = 128;

/// The MLP's weights and biases, `[w0, b0, w1, b1, w2, b2]`, and a batch.
fn mlp_inputs() -> (Vec<Tensor<f32>>, Tensor<f32>, Vec<usize>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut params = Vec::new();
    for i in 0..3 {
        let bound = 1.0 / (DIMS[i] as f64).sqrt();
        params.push(Tensor::rand_uniform(
            &[DIMS[i], DIMS[i + 1]],
            -bound,
            bound,
            &mut rng,
        ));
        params.push(Tensor::rand_uniform(
            &[DIMS[i + 1]],
            -bound,
            bound,
            &mut rng,
        ));
    }
    let x = Tensor::rand_normal(&[BATCH, DIMS[0]], 0.0, 1.0, &mut rng);
    let labels = (0..BATCH).map(|i| (i * 7) % 10).collect();
    (params, x, labels)
}

/// The forward pass: `h ← relu(h W + b)`, logits at the end.
fn forward<'t>(x: Var<'t, f32>, p: &[Var<'t, f32>]) -> Var<'t, f32> {
    let mut h = x;
    for i in 0..3 {
        h = h.matmul(p[2 * i]) + p[2 * i + 1];
        if i < 2 {
            h = h.relu();
        }
    }
    h
}

/// Gives a closure the higher-ranked signature the transforms take.
fn function<F>(f: F) -> F
where
    F: for<'t> Fn(&'t Tape<f32>, &[Var<'t, f32>]) -> Var<'t, f32>,
{
    f
}

fn bench_jvp(table: &mut Table, threads: usize) {
    let (params, x, _) = mlp_inputs();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let x_dot = Tensor::rand_normal(x.shape(), 0.0, 1.0, &mut rng);
    let mut all: Vec<Tensor<f32>> = vec![x.clone()];
    all.extend(params.iter().cloned());
    let all_dots: Vec<Tensor<f32>> = all
        .iter()
        .map(|p| Tensor::rand_normal(p.shape(), 0.0, 1.0, &mut rng))
        .collect();
    let plain = || {
        let tape = Tape::<f32>::new();
        let p: Vec<_> = params.iter().map(|w| tape.var(w.clone())).collect();
        black_box(forward(tape.var(x.clone()), &p).value());
    };
    let input_only = || {
        let (y, y_dot) = jvp(
            |t, v| {
                let p: Vec<_> = params.iter().map(|w| t.constant(w.clone())).collect();
                forward(v[0], &p)
            },
            std::slice::from_ref(&x),
            std::slice::from_ref(&x_dot),
        );
        black_box((y, y_dot));
    };
    let every = || {
        let (y, y_dot) = jvp(|_, v| forward(v[0], &v[1..]), &all, &all_dots);
        black_box((y, y_dot));
    };
    let (t_in, t_plain) = in_pool(threads, || time_pair(input_only, plain));
    table.row(vec![
        format!("jvp MLP fwd b128, input tangent, {threads}T"),
        format!("{:.3} ms", t_in.ms()),
        format!("{:.3} ms (forward)", t_plain.ms()),
        ratio(t_in.median, t_plain.median),
    ]);
    let (t_all, t_plain) = in_pool(threads, || time_pair(every, plain));
    table.row(vec![
        format!("jvp MLP fwd b128, all tangents, {threads}T"),
        format!("{:.3} ms", t_all.ms()),
        format!("{:.3} ms (forward)", t_plain.ms()),
        ratio(t_all.median, t_plain.median),
    ]);
}

fn bench_hvp(table: &mut Table, threads: usize) {
    let (params, x, labels) = mlp_inputs();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let vs: Vec<Tensor<f32>> = params
        .iter()
        .map(|p| Tensor::rand_normal(p.shape(), 0.0, 1.0, &mut rng))
        .collect();
    let loss = function(|t, p| cross_entropy(forward(t.constant(x.clone()), p), &labels));
    let gradient = || {
        let tape = Tape::<f32>::new();
        let p: Vec<_> = params.iter().map(|w| tape.var(w.clone())).collect();
        let grads = loss(&tape, &p).backward();
        black_box(grads[p[0]].numel());
    };
    let product = || {
        black_box(hvp(loss, &params, &vs));
    };
    let (t_hvp, t_grad) = in_pool(threads, || time_pair(product, gradient));
    table.row(vec![
        format!("hvp MLP cross-entropy b128, {threads}T"),
        format!("{:.3} ms", t_hvp.ms()),
        format!("{:.3} ms (gradient)", t_grad.ms()),
        ratio(t_hvp.median, t_grad.median),
    ]);
}

fn bench_per_sample(table: &mut Table, threads: usize) {
    // Built inside the pool: a model is `Send` but not `Sync`.
    let (t_fast, t_loop) = in_pool(threads, || {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let model: Sequential<f32> = Sequential::new()
            .add(Linear::new(64, 128, &mut rng))
            .add(ReLU)
            .add(Linear::new(128, 64, &mut rng))
            .add(ReLU)
            .add(Linear::new(64, 10, &mut rng));
        let batch = 64;
        let x = Tensor::rand_normal(&[batch, 64], 0.0, 1.0, &mut rng);
        let labels: Vec<usize> = (0..batch).map(|i| (i * 3) % 10).collect();
        let loss =
            loss_fn(|out: Var<'_, f32>, rows: Range<usize>| cross_entropy_each(out, &labels[rows]));
        // The two give the same numbers (asserted to 1e-12 in f64 by
        // crates/nn/tests/per_sample.rs); here a sanity check in f32.
        let fast = per_sample_grads(&model, &x, loss).expect("an MLP keeps examples apart");
        let slow = per_sample_grads_by_loop(&model, &x, loss);
        for ((name, a), (_, b)) in fast.iter().zip(&slow) {
            assert!(a.allclose(b, 1e-4, 1e-6), "{name}: per-sample vs loop");
        }
        time_pair(
            || {
                black_box(per_sample_grads(&model, &x, loss).unwrap());
            },
            || {
                black_box(per_sample_grads_by_loop(&model, &x, loss));
            },
        )
    });
    table.row(vec![
        format!("per-sample grads digits MLP b64, {threads}T"),
        format!("{:.3} ms", t_fast.ms()),
        format!("{:.3} ms (loop of 64)", t_loop.ms()),
        ratio(t_fast.median, t_loop.median),
    ]);
}

fn main() {
    print_load();
    let mut table = Table::new(&["benchmark", "tapegrad", "baseline", "ratio"]);
    // `--jvp`, `--hvp` or `--per-sample` runs only that part (for profiling).
    let only = ["--jvp", "--hvp", "--per-sample"].map(common::has_flag);
    let all = !only.iter().any(|&o| o);
    for threads in [1, common::all_threads()] {
        if all || only[0] {
            bench_jvp(&mut table, threads);
        }
        if all || only[1] {
            bench_hvp(&mut table, threads);
        }
        if all || only[2] {
            bench_per_sample(&mut table, threads);
        }
    }
    println!("ratio = transform / baseline (time), median of interleaved samples");
    print!("{}", table.render());
}
