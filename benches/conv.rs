//! How fast is `Conv2d`, forward and backward, and where does the time go?
//!
//! The case: a batch `[64, 16, 28, 28]` (f32) through `Conv2d(16 -> 32, 3x3,
//! padding 1)`, the input needing a gradient as inside a network; forward is
//! one `conv2d` node (the direct kernel of `conv_direct`, bias included),
//! and `y.sum_all().backward()` gives the gradients of the input, weight and
//! bias. Throughput in images per
//! second on a 1-thread and a 2-thread rayon pool ([`in_pool`]).
//!
//! Baseline measured in the same run: the same layer as it was computed
//! before the direct kernels, `w.reshape([O, C k k]) @ im2col(x) + b` on a
//! tape (`im2col step`), and the three bare direct kernels on tensors
//! (`conv2d` with the bias, `conv_transpose2d`, `conv2d_weight_grad`), so
//! `fwd+bwd / kernels` is what the tape, the bias gradient and the copies
//! add on top of the arithmetic. The bare im2col gemms are there too.
//!
//! Where the time goes (2 threads, `perf record --call-graph dwarf` on
//! `--profile-steps`, 2026-12-04): the three kernels about 70% (a register
//! tile of 4 output channels by 2 or 3 vectors, AVX2 + FMA or AVX-512, each
//! at 75-82 GFLOPS a core); the rest is the padded copy of each image (about
//! 8%), cutting the padded rows back to the output's width, the bias
//! gradient and the tape. `fwd+bwd / kernels` is 1.00-1.04x on one thread.
//! Before the direct kernels the gemm packing (`pack_avx512`) alone was 34%
//! of a step: with 32 output channels each packed column element is used
//! only 32 times.
//!
//! The kernels use the widest vectors the CPU has; `TAPEGRAD_CPU_CAPABILITY=avx2`
//! caps them at AVX2 + FMA, so an AVX-512 machine measures what an AVX2-only
//! one runs (PyTorch's cap is `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`).
//!
//! PyTorch on the same machine: `benches/peers/conv_torch.py` (same shapes,
//! `torch.set_num_threads(T)`, median of forward+backward); run both in the
//! same sitting and compare images per second:
//!
//! ```text
//! cargo bench --bench conv                 # ~10 s
//! cargo bench --bench conv -- --quick      # smoke run
//! cargo bench --bench conv -- --batch 32   # another batch size
//! cargo bench --bench conv -- --profile-steps 100   # just the step, for perf
//! TAPEGRAD_CPU_CAPABILITY=avx2 cargo bench --bench conv   # AVX2 kernels only
//! python3 benches/peers/conv_torch.py --threads 1,2
//! ```

mod common;

use common::{arg_value, black_box, in_pool, print_load, ratio, time, Table, Timing, XorShift};
use tapegrad_autodiff::{ConvParams, Tape, Var};
use tapegrad_nn::conv::conv2d;
use tapegrad_tensor::Tensor;

/// Input channels, output channels, image side, kernel side.
const C_IN: usize = 16;
const C_OUT: usize = 32;
const SIDE: usize = 28;
const K: usize = 3;

/// The convolution's tensors: input, weight, bias.
struct Problem {
    batch: usize,
    x: Tensor<f32>,
    w: Tensor<f32>,
    b: Tensor<f32>,
    p: ConvParams,
}

impl Problem {
    fn new(batch: usize) -> Problem {
        let mut rng = XorShift::new(0xc0de);
        let mut t = |shape: &[usize]| {
            let n = shape.iter().product();
            Tensor::from_vec(rng.vec_f32(n), shape)
        };
        Problem {
            batch,
            x: t(&[batch, C_IN, SIDE, SIDE]),
            w: t(&[C_OUT, C_IN, K, K]),
            b: t(&[C_OUT]),
            p: ConvParams {
                kernel: (K, K),
                stride: (1, 1),
                padding: (1, 1),
                dilation: (1, 1),
            },
        }
    }

    /// Multiply-adds times 2 of the forward pass: `2 N O (C k k) (H W)`.
    fn forward_flops(&self) -> f64 {
        2.0 * (self.batch * C_OUT * C_IN * K * K * SIDE * SIDE) as f64
    }

    /// The convolution on `tape`, with the input and parameters as vars.
    fn record<'t>(&self, tape: &'t Tape<f32>) -> [Var<'t, f32>; 4] {
        let (x, w, b) = (
            tape.var(self.x.clone()),
            tape.var(self.w.clone()),
            tape.var(self.b.clone()),
        );
        [x, w, b, conv2d(x, w, Some(b), self.p, 1)]
    }

    /// Forward only, on a tape.
    fn forward(&self) -> f32 {
        let tape = Tape::<f32>::new();
        let [.., y] = self.record(&tape);
        y.value().storage()[0]
    }

    /// Forward and backward: gradients of the input, weight and bias.
    fn step(&self) -> f32 {
        let tape = Tape::<f32>::new();
        let [x, w, b, y] = self.record(&tape);
        let grads = y.sum_all().backward();
        grads[x].storage()[0] + grads[w].storage()[0] + grads[b].storage()[0]
    }

    /// The step as the layer computed it before the direct kernels, in the
    /// same run: `w.reshape([O, C k k]) @ im2col(x) + b` on the tape.
    fn step_im2col(&self) -> f32 {
        let tape = Tape::<f32>::new();
        let (x, w, b) = (
            tape.var(self.x.clone()),
            tape.var(self.w.clone()),
            tape.var(self.b.clone()),
        );
        let cols = x.im2col(self.p);
        let y = w.reshape(&[C_OUT, C_IN * K * K]).matmul(cols);
        let y = y.reshape(&[self.batch, C_OUT, SIDE, SIDE]) + b.reshape(&[1, C_OUT, 1, 1]);
        let grads = y.sum_all().backward();
        grads[x].storage()[0] + grads[w].storage()[0] + grads[b].storage()[0]
    }

    /// The three direct kernels of a step, bare on tensors: `conv2d` (with the bias),
    /// `conv_transpose2d` (the input's gradient) and `conv2d_weight_grad`.
    fn kernels(&self, g: &Tensor<f32>) -> f32 {
        let p = self.p;
        let y = self
            .x
            .conv2d(&self.w, Some(&self.b), p.stride, p.padding, p.dilation);
        let dx = g.conv_transpose2d(&self.w, (SIDE, SIDE), p.stride, p.padding, p.dilation);
        let dw = self
            .x
            .conv2d_weight_grad(g, p.kernel, p.stride, p.padding, p.dilation);
        y.storage()[0] + dx.storage()[0] + dw.storage()[0]
    }

    /// The bare products of an im2col convolution's forward and backward:
    /// `W cols`, `Wᵀ g` and `g colsᵀ` (per image, batched).
    fn gemms(&self, cols: &Tensor<f32>, g: &Tensor<f32>) -> f32 {
        let w2 = self.w.reshape(&[C_OUT, C_IN * K * K]);
        let y = w2.matmul(cols);
        let g_cols = w2.t().matmul(g);
        let g_w = g.matmul(&cols.transpose(-2, -1));
        y.storage()[0] + g_cols.storage()[0] + g_w.storage()[0]
    }
}

/// Timings of one thread count.
struct Row {
    step: Timing,
    step_im2col: Timing,
    forward: Timing,
    kernels: Timing,
    gemm: Timing,
}

fn measure(pb: &Problem) -> Row {
    let p = pb.p;
    let cols = pb.x.im2col(p.kernel, p.stride, p.padding, p.dilation);
    let g = Tensor::<f32>::ones(&[pb.batch, C_OUT, SIDE * SIDE]);
    let g4 = g.reshape(&[pb.batch, C_OUT, SIDE, SIDE]);
    Row {
        step: time(|| {
            black_box(pb.step());
        }),
        step_im2col: time(|| {
            black_box(pb.step_im2col());
        }),
        forward: time(|| {
            black_box(pb.forward());
        }),
        kernels: time(|| {
            black_box(pb.kernels(&g4));
        }),
        gemm: time(|| {
            black_box(pb.gemms(&cols, &g));
        }),
    }
}

fn main() {
    print_load();
    println!(
        "# conv2d kernel: {} (cap with TAPEGRAD_CPU_CAPABILITY=avx2|default)",
        tapegrad_tensor::tuning::conv2d_kernel()
    );
    let batch = arg_value("--batch").map_or(64, |s| s.parse().expect("--batch takes a number"));
    let pb = Problem::new(batch);
    if let Some(n) = arg_value("--profile-steps") {
        // Only the forward+backward step, `n` times (for `perf record`).
        for _ in 0..n.parse::<usize>().expect("--profile-steps takes a count") {
            black_box(pb.step());
        }
        return;
    }
    let threads = [1, 2];
    let rows: Vec<(usize, Row)> = threads
        .iter()
        .map(|&t| (t, in_pool(t, || measure(&pb))))
        .collect();
    println!(
        "# Conv2d({C_IN} -> {C_OUT}, {K}x{K}, padding 1) on [{batch}, {C_IN}, {SIDE}, {SIDE}] f32; \
         forward {:.0} MFLOP, forward+backward {:.0} MFLOP",
        pb.forward_flops() / 1e6,
        3.0 * pb.forward_flops() / 1e6
    );
    let mut table = Table::new(&[
        "threads",
        "fwd+bwd ms",
        "images/s",
        "GFLOPS",
        "spread",
        "fwd ms",
        "im2col step ms",
        "speed-up",
        "kernels ms",
        "gemms ms",
        "fwd+bwd / kernels",
    ]);
    for (t, r) in &rows {
        table.row(vec![
            t.to_string(),
            format!("{:.2}", r.step.ms()),
            format!("{:.0}", batch as f64 / r.step.median),
            format!("{:.1}", r.step.gflops(3.0 * pb.forward_flops())),
            format!("{:.2}-{:.2}", r.step.best * 1e3, r.step.worst * 1e3),
            format!("{:.2}", r.forward.ms()),
            format!("{:.2}", r.step_im2col.ms()),
            ratio(r.step_im2col.median, r.step.median),
            format!("{:.2}", r.kernels.ms()),
            format!("{:.2}", r.gemm.ms()),
            ratio(r.step.median, r.kernels.median),
        ]);
    }
    table.print();
    if let [(_, one), (_, two)] = rows.as_slice() {
        println!(
            "# speed-up 1 -> 2 threads: fwd+bwd {}, kernels {}, gemms {}",
            ratio(one.step.median, two.step.median),
            ratio(one.kernels.median, two.kernels.median),
            ratio(one.gemm.median, two.gemm.median)
        );
    }
    print_load();
}
