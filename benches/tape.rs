//! What the tape costs.
//!
//! 1. A chain of 10,000 ops on a 1-element tensor (op i % 3: `x * 1.0001`,
//!    `x + 0.0001`, `tanh x`), forward + backward and forward alone, beside
//!    the same arithmetic with no tape on plain f64 (forward, then the chain
//!    rule by hand): the difference divided by 10,000 is the per-op overhead
//!    of recording and replaying. `benches/peers/candle_chain` runs the same
//!    chain on candle.
//! 2. One training step of a 784-512-256-10 ReLU MLP at batch 128 in f32
//!    (forward, softmax cross-entropy, backward, SGD update), through the tape
//!    and hand-written on bare tensors: the ratio is the tape's cost on a
//!    real model. The same step as a user writes it with `tapegrad::prelude`
//!    (`Sequential`, `cross_entropy`, `SGD`) is timed with them, interleaved:
//!    its ratio to the raw tape is the cost of the nn layer.
//!
//! Run: `cargo bench --bench tape` (`--quick` for a smoke run; `--chain` or
//! `--mlp` for one part only).

mod common;

use common::{black_box, in_pool, print_load, ratio, time_interleaved, timed, Table};
use rand::SeedableRng;
use std::time::Instant;
use tapegrad::prelude::{cross_entropy, Linear, Module, Optimizer, Sequential, SGD};
use tapegrad_autodiff::{Gradients, Tape};
use tapegrad_nn::ReLU;
use tapegrad_tensor::{IndexTensor, Tensor};

const CHAIN: usize = 10_000;

/// The chain on `tape`; returns d out / d x (`backward`) or the output
/// after the forward pass alone, and the gradients, for the caller to drop.
fn chain_on(tape: &Tape<f32>, backward: bool) -> (f32, Option<Gradients<f32>>) {
    let x0 = tape.var(Tensor::from_vec(vec![0.5], &[1]));
    let mut x = x0;
    for i in 0..CHAIN {
        x = match i % 3 {
            0 => x * 1.0001,
            1 => x + 0.0001,
            _ => x.tanh(),
        };
    }
    if backward {
        let grads = x.backward();
        (grads[x0].item(), Some(grads))
    } else {
        (x.value().item(), None)
    }
}

/// Seconds per chain over `inner` chains on fresh tapes, timing the chain
/// only: each tape and its gradients are made and dropped outside the
/// timed region, as `benches/peers/candle_chain` leaves candle's graph.
fn chain_sample(inner: usize, backward: bool) -> f64 {
    let mut seconds = 0.0;
    for _ in 0..inner {
        let tape = Tape::<f32>::new();
        let t = Instant::now();
        let out = chain_on(&tape, backward);
        seconds += t.elapsed().as_secs_f64();
        black_box(out);
    }
    seconds / inner as f64
}

/// The same arithmetic on plain f64: forward keeping what backward needs,
/// then (if `backward`) the chain rule by hand.
fn chain_plain(backward: bool) -> f64 {
    let mut x = 0.5f64;
    let mut tanh_out = Vec::with_capacity(CHAIN / 3 + 1);
    for i in 0..CHAIN {
        x = match i % 3 {
            0 => x * 1.0001,
            1 => x + 0.0001,
            _ => {
                let y = x.tanh();
                tanh_out.push(y);
                y
            }
        };
    }
    if !backward {
        return x;
    }
    let mut g = 1.0f64;
    let mut k = tanh_out.len();
    for i in (0..CHAIN).rev() {
        match i % 3 {
            0 => g *= 1.0001,
            1 => {}
            _ => {
                k -= 1;
                g *= 1.0 - tanh_out[k] * tanh_out[k];
            }
        }
    }
    g
}

/// One plain SGD update, `w - lr g`, in a single pass (as PyTorch's
/// in-place `p.add_(g, alpha=-lr)` is one pass).
fn sgd(w: &Tensor<f32>, g: &Tensor<f32>, lr: f64) -> Tensor<f32> {
    let lr = lr as f32;
    w.zip_map(g, "sgd", |w, g| w - lr * g)
}

/// Weights and a batch of the MLP benchmark.
struct Mlp {
    w: [Tensor<f32>; 3],
    b: [Tensor<f32>; 3],
    x: Tensor<f32>,
    labels: Vec<usize>,
}

impl Mlp {
    fn new() -> Mlp {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let dims = [784, 512, 256, 10];
        let w = std::array::from_fn(|i| {
            let bound = 1.0 / (dims[i] as f64).sqrt();
            Tensor::rand_uniform(&[dims[i], dims[i + 1]], -bound, bound, &mut rng)
        });
        let b = std::array::from_fn(|i| Tensor::zeros(&[dims[i + 1]]));
        let x = Tensor::rand_normal(&[128, 784], 0.0, 1.0, &mut rng);
        let labels = (0..128).map(|i| (i * 7) % 10).collect();
        Mlp { w, b, x, labels }
    }

    /// Forward, backward and SGD through the tape; returns the loss.
    fn step_tape(&mut self, lr: f64) -> f32 {
        let tape = Tape::<f32>::new();
        let w: Vec<_> = self.w.iter().map(|t| tape.var(t.clone())).collect();
        let b: Vec<_> = self.b.iter().map(|t| tape.var(t.clone())).collect();
        let mut h = tape.constant(self.x.clone());
        for i in 0..3 {
            h = h.matmul(w[i]) + b[i];
            if i < 2 {
                h = h.relu();
            }
        }
        let logp = h.log_softmax(-1);
        let picked = logp.gather(1, &IndexTensor::from_vec(self.labels.clone(), &[128, 1]));
        let loss = -picked.mean_all();
        let grads = loss.backward();
        for i in 0..3 {
            self.w[i] = sgd(&self.w[i], &grads[w[i]], lr);
            self.b[i] = sgd(&self.b[i], &grads[b[i]], lr);
        }
        loss.item() as f32
    }

    /// The same step with the backward pass written by hand on tensors.
    fn step_hand(&mut self, lr: f64) -> f32 {
        let n = self.x.dim(0) as f64;
        let mut acts = vec![self.x.clone()];
        let mut pre = Vec::new();
        for i in 0..3 {
            let z = acts[i].matmul(&self.w[i]).add(&self.b[i]);
            pre.push(z.clone());
            acts.push(if i < 2 { z.relu() } else { z });
        }
        let logits = &acts[3];
        let logp = logits.sub(&logits.logsumexp_keepdim(&[-1]));
        let onehot = Tensor::<f32>::one_hot(&self.labels, 10);
        let loss = -logp.mul(&onehot).sum_all().item() as f64 / n;
        // d loss / d logits = (softmax - onehot) / n
        let mut g = logp.exp().sub(&onehot).mul_scalar(1.0 / n);
        for i in (0..3).rev() {
            if i < 2 {
                g = g.mul(&pre[i].step());
            }
            let gw = acts[i].t().matmul(&g);
            let gb = g.sum(&[0]);
            if i > 0 {
                g = g.matmul(&self.w[i].t());
            }
            self.w[i] = sgd(&self.w[i], &gw, lr);
            self.b[i] = sgd(&self.b[i], &gb, lr);
        }
        loss as f32
    }
}

fn bench_chain(table: &mut Table, threads: usize) {
    let (g_tape, g_plain) = (chain_on(&Tape::new(), true).0, chain_plain(true));
    assert!(
        (g_tape as f64 - g_plain).abs() <= 1e-6 * g_plain.abs() + 1e-12,
        "{g_tape} vs {g_plain}"
    );
    for (backward, what) in [(true, "fwd+bwd"), (false, "fwd")] {
        let timings = in_pool(threads, || {
            let mut tape = |inner: usize| chain_sample(inner, backward);
            let mut plain = |inner: usize| {
                timed(inner, &mut || {
                    black_box(chain_plain(backward));
                })
            };
            time_interleaved(&mut [&mut tape, &mut plain], common::target_s())
        });
        let (tape, plain) = (&timings[0], &timings[1]);
        let per_op_ns = (tape.median - plain.median) / CHAIN as f64 * 1e9;
        table.row(vec![
            format!("chain 10k ops, {what}, {threads}T"),
            format!("{:.3} ms", tape.ms()),
            format!("{:.4} ms", plain.ms()),
            ratio(tape.median, plain.median),
            format!("{per_op_ns:.0} ns/op"),
        ]);
    }
}

/// The step a user writes with `tapegrad::prelude`: a `Sequential` of
/// `Linear`/`ReLU`, `cross_entropy`, `SGD`, starting from the same weights
/// as [`Mlp`] (`Linear` stores `[out, in]`, as PyTorch).
struct NnMlp {
    model: Sequential<f32>,
    opt: SGD<f32>,
    x: Tensor<f32>,
    labels: Vec<usize>,
}

impl NnMlp {
    fn new(lr: f64) -> NnMlp {
        let m = Mlp::new();
        let mut model = Sequential::new();
        for i in 0..3 {
            model.push(Linear::from_tensors(
                m.w[i].t().contiguous(),
                Some(m.b[i].clone()),
            ));
            if i < 2 {
                model.push(ReLU);
            }
        }
        NnMlp {
            model,
            opt: SGD::new(lr),
            x: m.x,
            labels: m.labels,
        }
    }

    /// The loop body of the README: a fresh tape, forward, backward, step.
    fn step(&mut self) -> f32 {
        let tape = Tape::new();
        let loss = cross_entropy(
            self.model.forward(tape.constant(self.x.clone())),
            &self.labels,
        );
        let grads = loss.backward();
        self.opt.step(&mut self.model, &grads);
        loss.item() as f32
    }
}

fn bench_mlp(table: &mut Table, threads: usize) {
    let (mut a, mut b, mut c) = (Mlp::new(), Mlp::new(), NnMlp::new(0.01));
    let (la, lb, lc) = (a.step_tape(0.01), b.step_hand(0.01), c.step());
    assert!(
        (la - lb).abs() < 1e-4 * la.abs() && (lc - lb).abs() < 1e-4 * lb.abs(),
        "tape loss {la}, nn loss {lc}, hand loss {lb}"
    );
    // Interleaved samples: the ratios are the tape's and the nn layer's
    // cost, not the machine's drift.
    let t = in_pool(threads, || {
        let mut nn = |inner: usize| {
            timed(inner, &mut || {
                black_box(c.step());
            })
        };
        let mut tape = |inner: usize| {
            timed(inner, &mut || {
                black_box(a.step_tape(0.01));
            })
        };
        let mut hand = |inner: usize| {
            timed(inner, &mut || {
                black_box(b.step_hand(0.01));
            })
        };
        time_interleaved(&mut [&mut nn, &mut tape, &mut hand], common::target_s())
    });
    let (nn, tape, hand) = (&t[0], &t[1], &t[2]);
    table.row(vec![
        format!("MLP step, nn API (prelude), {threads}T"),
        format!("{:.3} ms", nn.ms()),
        format!("{:.3} ms", hand.ms()),
        ratio(nn.median, hand.median),
        format!("{} tape", ratio(nn.median, tape.median)),
    ]);
    table.row(vec![
        format!("MLP step, raw tape, {threads}T"),
        format!("{:.3} ms", tape.ms()),
        format!("{:.3} ms", hand.ms()),
        ratio(tape.median, hand.median),
        String::new(),
    ]);
}

fn main() {
    print_load();
    let mut table = Table::new(&["benchmark", "tapegrad", "baseline", "ratio", "overhead"]);
    // `--chain` or `--mlp` runs only that part (for profiling one of them).
    let (chain, mlp) = (common::has_flag("--chain"), common::has_flag("--mlp"));
    for threads in [1, common::all_threads()] {
        if chain || !mlp {
            bench_chain(&mut table, threads);
        }
    }
    for threads in [1, common::all_threads()] {
        if mlp || !chain {
            bench_mlp(&mut table, threads);
        }
    }
    println!("baseline: chain = plain f64 with the chain rule by hand; MLP = backward written by hand on tensors");
    print!("{}", table.render());
}
