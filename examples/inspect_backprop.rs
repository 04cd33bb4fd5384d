//! Seeing inside backprop: a 64-16-10 tanh MLP, written with raw tape ops,
//! on a few of the bundled digits.
//!
//! 1. labels every layer's nodes and prints the tape summary with gradient norms;
//! 2. writes the graph as `backprop.dot` (and `backprop.svg` when Graphviz's
//!    `dot` is installed);
//! 3. clips the gradient flowing into the hidden layer with a hook;
//! 4. catches a deliberate `ln(0)` with anomaly mode.
//!
//! ```text
//! cargo run --release --example inspect_backprop -- --help
//! ```

mod common;

use clap::Parser;
use rand::{rngs::StdRng, SeedableRng};
use std::error::Error;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use tapegrad::autodiff::{Tape, Var};
use tapegrad::nn::data::{load_bundled_digits, DIGITS_CLASSES, DIGITS_PIXELS};
use tapegrad::prelude::*;

const SAMPLES: usize = 8;
const HIDDEN: usize = 16;
/// Largest L2 norm the hook lets through into the hidden layer.
const CLIP: f64 = 0.05;

/// Seeing inside backprop on a 64-16-10 tanh MLP: the tape, its graph, a
/// gradient hook and anomaly mode.
#[derive(Parser, Debug)]
#[command(name = "inspect_backprop")]
struct Settings {
    /// Seed of the weights.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Directory for backprop.dot (and backprop.svg).
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// The network's weights, outside any tape.
struct Params {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Params {
    /// Xavier-normal weights (std = sqrt(2 / (fan_in + fan_out))), zero biases.
    fn new(rng: &mut StdRng) -> Params {
        let xavier = |i: usize, o: usize, rng: &mut StdRng| {
            Tensor::rand_normal(&[i, o], 0.0, (2.0 / (i + o) as f64).sqrt(), rng)
        };
        Params {
            w1: xavier(DIGITS_PIXELS, HIDDEN, rng),
            b1: Tensor::zeros(&[HIDDEN]),
            w2: xavier(HIDDEN, DIGITS_CLASSES, rng),
            b2: Tensor::zeros(&[DIGITS_CLASSES]),
        }
    }
}

/// The vars of one forward pass that the demo looks at.
struct Net<'t> {
    w1: Var<'t>,
    act1: Var<'t>,
    loss: Var<'t>,
}

/// Records `loss = cross_entropy(tanh(x W1 + b1) W2 + b2, labels)` on `tape`,
/// labelling each layer's nodes.
fn forward<'t>(tape: &'t Tape, p: &Params, x: &Tensor, onehot: &Tensor) -> Net<'t> {
    let x = tape.constant(x.clone()).label("input");
    let w1 = tape.var(p.w1.clone()).label("layer1.weight");
    let b1 = tape.var(p.b1.clone()).label("layer1.bias");
    let pre1 = (x.matmul(w1) + b1).label("layer1.pre_act");
    let act1 = pre1.tanh().label("layer1.act");
    let w2 = tape.var(p.w2.clone()).label("layer2.weight");
    let b2 = tape.var(p.b2.clone()).label("layer2.bias");
    let logits = (act1.matmul(w2) + b2).label("layer2.logits");
    let log_probs = logits.log_softmax(-1).label("log_probs");
    let target = tape.constant(onehot.clone()).label("one_hot");
    let picked = (log_probs * target).sum_all().label("sum_log_p");
    let loss = (-picked / SAMPLES as f64).label("loss");
    Net { w1, act1, loss }
}

fn main() -> ExitCode {
    let s = Settings::parse();
    common::exit("inspect_backprop", run(&s))
}

/// The whole example for settings `s`.
fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    common::writable_dir(&s.out)?;
    let digits = load_bundled_digits::<f32>()?.subset(&(0..SAMPLES).collect::<Vec<_>>());
    let (x, onehot) = (
        digits.features(),
        Tensor::one_hot(digits.labels(), DIGITS_CLASSES),
    );
    let params = Params::new(&mut StdRng::seed_from_u64(s.seed));

    println!("== 1. The tape, with gradient norms ==\n");
    let tape = Tape::new();
    let net = forward(&tape, &params, &x, &onehot);
    let grads = net.loss.backward();
    println!("loss = {:.4}\n", net.loss.item());
    println!("{}\n", tape.summary_with(&grads));

    println!("== 2. The graph ==\n");
    write_graph(&tape.to_dot_with(&grads), &s.out)?;

    println!("\n== 3. A hook clipping the gradient into layer1.act to L2 norm {CLIP} ==\n");
    clip_demo(&params, &x, &onehot);

    println!("\n== 4. Anomaly mode catches a deliberate ln(0) ==\n");
    anomaly_demo(&params, &x, &onehot);
    Ok(())
}

/// Writes `backprop.dot` in `dir`, and `backprop.svg` if Graphviz is installed.
fn write_graph(dot: &str, dir: &Path) -> Result<(), String> {
    let (dot_path, svg_path) = (dir.join("backprop.dot"), dir.join("backprop.svg"));
    std::fs::write(&dot_path, dot)
        .map_err(|e| format!("cannot write {}: {e}", dot_path.display()))?;
    println!(
        "wrote {} ({} lines)",
        dot_path.display(),
        dot.lines().count()
    );
    let svg = Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot_path)
        .arg("-o")
        .arg(&svg_path)
        .status();
    match svg {
        Ok(status) if status.success() => println!("wrote {}", svg_path.display()),
        Ok(status) => println!("dot failed ({status}); {} not written", svg_path.display()),
        Err(_) => println!("(Graphviz `dot` not found: skipping backprop.svg)"),
    }
    Ok(())
}

/// L2 norm of a tensor.
fn norm(t: &Tensor) -> f64 {
    t.to_f64_vec().iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// The gradient of layer1.weight without and with a per-tensor clipping hook.
fn clip_demo(params: &Params, x: &Tensor, onehot: &Tensor) {
    let tape = Tape::new();
    let net = forward(&tape, params, x, onehot);
    let plain = norm(&net.loss.backward()[net.w1]);

    let tape = Tape::new();
    let net = forward(&tape, params, x, onehot);
    net.act1.register_hook(|g| {
        let n = norm(g);
        println!("hook on layer1.act: incoming |g| = {n:.4e}");
        (n > CLIP).then(|| g.mul_scalar(CLIP / n))
    });
    let grads = net.loss.backward();
    println!(
        "hook on layer1.act: outgoing |g| = {:.4e}",
        norm(&grads[net.act1])
    );
    let clipped = norm(&grads[net.w1]);
    println!("|d loss / d layer1.weight|: {plain:.4e} without the hook, {clipped:.4e} with it");
}

/// Takes the log of a ReLU output (zero wherever the ReLU is off) with
/// anomaly mode on, and shows both the panic and the `try_backward` report.
fn anomaly_demo(params: &Params, x: &Tensor, onehot: &Tensor) {
    let tape = Tape::new();
    let net = forward(&tape, params, x, onehot);
    tape.detect_anomaly(true);
    let relu = net.act1.relu().label("layer1.relu");
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught = catch_unwind(AssertUnwindSafe(|| relu.ln()));
    std::panic::set_hook(quiet);
    match caught {
        Ok(_) => println!("no anomaly?"),
        Err(payload) => match payload.downcast::<String>() {
            Ok(message) => println!("caught panic:\n  {message}"),
            Err(_) => println!("caught a panic without a message"),
        },
    }
    tape.detect_anomaly(false);
    let bad = relu.ln().sum_all();
    if let Err(anomaly) = bad.try_backward() {
        println!(
            "try_backward, as a value:\n  {:?} of `{}` at node #{} ({})",
            anomaly.phase, anomaly.op, anomaly.node, anomaly.location
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        common::parse_flags("inspect_backprop", args)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        assert_eq!(parse(&[]).unwrap().out, PathBuf::from("."));
        common::assert_flags_checked::<Settings>(
            "inspect_backprop",
            &[&["--outdir", "x"][..], &["--out"], &["--seed", "-1"]],
            &["--out"],
        );
        let err = run(&parse(&["--out", "/proc/x/y"]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("/proc/x/y"), "{err}");
    }
}
