//! The vanishing gradient through time, measured: a tanh RNN against an
//! LSTM on a task whose answer is the first input of a long sequence.
//!
//! Task: a sequence of `T` steps with two features `[value, marker]`. At
//! step 0 the value is the class (`+1` or `-1`) and the marker is 1; at every
//! later step the value is noise `N(0, 1)` and the marker 0. The model reads
//! the sequence and classifies from its last hidden state (a linear head on
//! `h_{T-1}`), so it must carry one number across `T - 1` steps of noise.
//!
//! Measured:
//! 1. the gradient norm `‖∂L/∂x_t‖` of the loss with respect to the input at
//!    each step `t`, at initialisation, for a tanh RNN, an LSTM with
//!    PyTorch's initialisation and an LSTM whose forget gate starts at
//!    `σ(3) = 0.95` (forget bias 3, a memory time constant
//!    `1 / (1 - f)` of about 20 steps): a table, and the chart
//!    `rnn_memory/grad_through_time.svg`;
//! 2. the test accuracy each reaches after the same training budget for
//!    `T` in {10, 30, 100}, and the gradient profile again after training
//!    at the longest `T` (`rnn_memory/grad_after_training.svg`).
//!
//! Why: backpropagating from step `T - 1` to step `t` multiplies the
//! gradient by `T - 1 - t` Jacobians. For the tanh RNN each is
//! `diag(1 - h²) W_hh`, whose size at PyTorch's initialisation
//! (`W_hh ~ U(±1/√H)`, spectral radius about `√(H/(3H)) = 1/√3`) is below
//! one, so the gradient decays geometrically, about `0.58` per step. Along
//! the LSTM's cell state the factor is the forget gate `f`, about `σ(b_f)`:
//! `1/2` with PyTorch's biases (so that LSTM starts out forgetting as fast
//! as the RNN), `0.95` with forget bias 3; and training can push `f`
//! towards 1.
//!
//! Run: `cargo run --release --example rnn_memory -- --help` for the flags
//! and their defaults. The output directory is checked before any work; a
//! run whose loss stops being finite exits non-zero.

mod common;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::autodiff::{Tape, Var};
use tapegrad::nn::diagnostics::{render_table, LineChart, Series};
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{clip_grad_norm, Adam, Optimizer, ParamGrads};
use tapegrad::nn::recurrent::{unroll, RecurrentCell, LSTM, RNN};
use tapegrad::nn::{visit_child, visit_child_mut, Linear, Module, Param};
use tapegrad::tensor::Tensor;

/// Features per step: the value and the "this is the first step" marker.
const FEATURES: usize = 2;
/// Sequences in the held-out test set of every length.
const TEST_SIZE: usize = 1000;

/// A tanh RNN against LSTMs on remembering the first input of a sequence.
#[derive(Parser, Debug)]
#[command(name = "rnn_memory")]
struct Settings {
    /// Seed of the models and the data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hidden units of every cell.
    #[arg(long, default_value_t = 32, value_parser = common::at_least_one)]
    hidden: usize,
    /// Adam steps per model and length.
    #[arg(long, default_value_t = 400)]
    steps: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 64, value_parser = common::at_least_one)]
    batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3, value_parser = common::positive)]
    lr: f64,
    /// Forget-gate bias of the third model.
    #[arg(long, default_value_t = 3.0, value_parser = common::finite)]
    forget_bias: f64,
    /// Sequence lengths, comma-separated, each at least 2.
    #[arg(long, value_delimiter = ',', default_value = "10,30,100", value_parser = length)]
    lengths: Vec<usize>,
    /// Directory for the charts.
    #[arg(long, default_value = "rnn_memory")]
    out: PathBuf,
}

/// A sequence length: a whole number >= 2.
fn length(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(t) if t >= 2 => Ok(t),
        _ => Err(format!("expected a whole number >= 2, found `{s}`")),
    }
}

/// A batch of `n` sequences of length `len`: one `[n, 2]` tensor per step,
/// and the labels (class 1 = first value +1, class 0 = -1).
fn batch(n: usize, len: usize, rng: &mut StdRng) -> (Vec<Tensor<f32>>, Vec<usize>) {
    let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..2)).collect();
    let first: Vec<f32> = labels
        .iter()
        .flat_map(|&l| [if l == 1 { 1.0 } else { -1.0 }, 1.0])
        .collect();
    let mut steps = vec![Tensor::from_vec(first, &[n, FEATURES])];
    for _ in 1..len {
        let noise: Vec<f32> = (0..n)
            .flat_map(|_| [StandardNormal.sample(rng), 0.0])
            .collect();
        steps.push(Tensor::from_vec(noise, &[n, FEATURES]));
    }
    (steps, labels)
}

/// A recurrent cell read out by a linear head on its last hidden state.
struct Classifier<C> {
    name: String,
    cell: C,
    head: Linear<f32>,
}

impl<C: RecurrentCell<f32>> Classifier<C> {
    /// Logits `[N, 2]` from per-step inputs.
    fn logits<'t>(&self, xs: &[Var<'t, f32>]) -> Var<'t, f32> {
        let (_, last) = unroll(&self.cell, xs, None);
        self.head.forward(C::hidden(last))
    }
}

impl<C: RecurrentCell<f32>> Module<f32> for Classifier<C> {
    /// Logits from a sequence `[T, N, 2]`.
    fn forward<'t>(&self, x: Var<'t, f32>) -> Var<'t, f32> {
        let s = x.shape();
        let xs: Vec<Var<'t, f32>> = (0..s[0])
            .map(|t| x.narrow(0, t, 1).reshape(&[s[1], s[2]]))
            .collect();
        self.logits(&xs)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f32>)) {
        visit_child(&self.cell, "cell", f);
        visit_child(&self.head, "head", f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f32>)) {
        visit_child_mut(&mut self.cell, "cell", f);
        visit_child_mut(&mut self.head, "head", f);
    }
}

/// The three models compared, freshly initialised from `seed`.
trait Experiment {
    /// Name in tables and charts.
    fn name(&self) -> &str;
    /// `‖∂L/∂x_t‖` for every step of a batch.
    fn grad_profile(&self, xs: &[Tensor<f32>], labels: &[usize]) -> Vec<f64>;
    /// One Adam step on a batch (gradients clipped to norm 1); returns the loss.
    fn train_step(&mut self, opt: &mut Adam<f32>, xs: &[Tensor<f32>], labels: &[usize]) -> f64;
    /// Fraction of correctly classified sequences.
    fn accuracy(&self, xs: &[Tensor<f32>], labels: &[usize]) -> f64;
}

impl<C: RecurrentCell<f32>> Experiment for Classifier<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn grad_profile(&self, xs: &[Tensor<f32>], labels: &[usize]) -> Vec<f64> {
        let tape = Tape::new();
        let vars: Vec<Var<'_, f32>> = xs.iter().map(|x| tape.var(x.clone())).collect();
        let grads = cross_entropy(self.logits(&vars), labels).backward();
        vars.iter()
            .map(|&v| {
                let g = grads.wrt_or_zeros(v).to_f64_vec();
                g.iter().map(|a| a * a).sum::<f64>().sqrt()
            })
            .collect()
    }

    fn train_step(&mut self, opt: &mut Adam<f32>, xs: &[Tensor<f32>], labels: &[usize]) -> f64 {
        let tape = Tape::new();
        let vars: Vec<Var<'_, f32>> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        let loss = cross_entropy(self.logits(&vars), labels);
        let mut grads = ParamGrads::collect(self, &loss.backward());
        clip_grad_norm(&mut grads, 1.0);
        opt.step(self, &grads);
        loss.item()
    }

    fn accuracy(&self, xs: &[Tensor<f32>], labels: &[usize]) -> f64 {
        let tape = Tape::new();
        let vars: Vec<Var<'_, f32>> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        let predicted = self.logits(&vars).value().argmax(1).to_vec();
        let right = predicted
            .iter()
            .zip(labels)
            .filter(|(p, &l)| **p == l)
            .count();
        right as f64 / labels.len() as f64
    }
}

/// A tanh RNN, an LSTM as PyTorch initialises it, and an LSTM with the
/// forget bias `s.forget_bias`, each with its linear head, all from `seed`.
fn models(s: &Settings, seed: u64) -> Vec<Box<dyn Experiment>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let h = s.hidden;
    let rnn = RNN::new(FEATURES, h, &mut rng);
    let lstm = LSTM::new(FEATURES, h, &mut rng);
    let mut lstm_f1 = LSTM::new(FEATURES, h, &mut rng);
    lstm_f1.set_forget_bias(s.forget_bias);
    let mut head = || Linear::new(h, 2, &mut rng);
    vec![
        Box::new(Classifier {
            name: "RNN (tanh)".into(),
            cell: rnn,
            head: head(),
        }),
        Box::new(Classifier {
            name: "LSTM".into(),
            cell: lstm,
            head: head(),
        }),
        Box::new(Classifier {
            name: format!("LSTM (forget bias {})", s.forget_bias),
            cell: lstm_f1,
            head: head(),
        }),
    ]
}

/// Steps shown in the gradient table: the first, the last, and a few between.
fn shown_steps(len: usize) -> Vec<usize> {
    let mut t: Vec<usize> = [
        0,
        len / 10,
        len / 4,
        len / 2,
        3 * len / 4,
        len - 10,
        len - 2,
        len - 1,
    ]
    .into_iter()
    .filter(|&t| t < len)
    .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// Prints `‖∂L/∂x_t‖` per model at the shown steps, and `g_0 / g_{T-1}`.
fn print_profiles(names: &[String], profiles: &[Vec<f64>]) {
    let len = profiles[0].len();
    let steps = shown_steps(len);
    let mut header: Vec<String> = vec!["model".into()];
    header.extend(steps.iter().map(|t| format!("t={t}")));
    header.push("g_0 / g_T-1".into());
    header.push("per step".into());
    let rows: Vec<Vec<String>> = names
        .iter()
        .zip(profiles)
        .map(|(name, p)| {
            let mut row = vec![name.clone()];
            row.extend(steps.iter().map(|&t| format!("{:.2e}", p[t])));
            let ratio = p[0] / p[len - 1];
            row.push(format!("{ratio:.2e}"));
            row.push(format!("{:.3}", ratio.powf(1.0 / (len - 1) as f64)));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    print!("{}", render_table(&header, &rows));
}

/// Writes the profiles as a chart of `log10 ‖∂L/∂x_t‖` against the step `t`
/// (the logarithm taken here, so every decade gets a labelled grid line).
fn chart(
    names: &[String],
    profiles: &[Vec<f64>],
    title: &str,
    path: &std::path::Path,
) -> Result<(), Box<dyn Error>> {
    let series = names
        .iter()
        .zip(profiles)
        .map(|(n, p)| {
            let points = p.iter().enumerate();
            Series::new(
                n.clone(),
                points.map(|(t, &g)| (t as f64, g.log10())).collect(),
            )
        })
        .collect();
    let chart = LineChart {
        title: title.into(),
        x_label: "input step t (the loss reads the state after the last step)".into(),
        y_label: "log10 ‖∂L/∂x_t‖".into(),
        log_y: false,
        y_max: None,
        series,
    };
    chart.write_svg(path, (900, 560))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{prefix:>34} [{bar:30}] {pos}/{len} steps  {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Trains every model on sequences of length `len`; returns their test
/// accuracies and the trained models, or an error if a loss stops being finite.
type Trained = (Vec<f64>, Vec<Box<dyn Experiment>>);
fn train_all(s: &Settings, len: usize) -> Result<Trained, String> {
    let mut models = models(s, s.seed);
    let mut data_rng = StdRng::seed_from_u64(s.seed ^ 0xda7a ^ len as u64);
    let (test_x, test_y) = batch(TEST_SIZE, len, &mut data_rng);
    let mut accs = Vec::new();
    for model in &mut models {
        let bar = progress_bar(s.steps as u64);
        bar.set_prefix(format!("{} T={len}", model.name()));
        let mut opt = Adam::new(s.lr);
        let mut rng = StdRng::seed_from_u64(s.seed ^ 0x7a1 ^ len as u64);
        let start = Instant::now();
        for step in 1..=s.steps {
            let (x, y) = batch(s.batch, len, &mut rng);
            let loss = model.train_step(&mut opt, &x, &y);
            let when = format!("step {step} of {} at T = {len}", model.name());
            common::finite_loss(loss, &when).inspect_err(|_| bar.finish_and_clear())?;
            bar.set_message(format!("loss {loss:.3}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let acc = model.accuracy(&test_x, &test_y);
        println!(
            "  {:<22} T={len:<4} test accuracy {:>5.1}%  ({:.1} s)",
            model.name(),
            100.0 * acc,
            start.elapsed().as_secs_f64()
        );
        accs.push(acc);
    }
    Ok((accs, models))
}

fn main() -> ExitCode {
    let s = Settings::parse();
    common::exit("rnn_memory", run(&s))
}

/// The whole example for settings `s`.
fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    common::writable_dir(&s.out)?;
    let start = Instant::now();
    let longest = *s.lengths.iter().max().expect("at least one length");
    let mut rng = StdRng::seed_from_u64(s.seed ^ 0x9ad);
    let (x, y) = batch(s.batch, longest, &mut rng);

    println!(
        "\n== gradient through time at initialisation (T = {longest}, hidden {}, batch {}) ==\n",
        s.hidden, s.batch
    );
    let init = models(s, s.seed);
    let names: Vec<String> = init.iter().map(|m| m.name().to_string()).collect();
    let profiles: Vec<Vec<f64>> = init.iter().map(|m| m.grad_profile(&x, &y)).collect();
    print_profiles(&names, &profiles);
    let title = format!("gradient reaching input step t at initialisation (T = {longest})");
    chart(
        &names,
        &profiles,
        &title,
        &s.out.join("grad_through_time.svg"),
    )?;

    println!(
        "\n== accuracy after {} Adam steps (lr {}, batch {}, clip 1.0) ==\n",
        s.steps, s.lr, s.batch
    );
    let mut table = Vec::new();
    let mut trained_profiles = Vec::new();
    for &len in &s.lengths {
        let (accs, trained) = train_all(s, len)?;
        table.push((len, accs));
        if len == longest {
            trained_profiles = trained.iter().map(|m| m.grad_profile(&x, &y)).collect();
        }
    }
    let mut header = vec!["T".to_string()];
    header.extend(names.iter().cloned());
    let rows: Vec<Vec<String>> = table
        .iter()
        .map(|(len, accs)| {
            let mut row = vec![len.to_string()];
            row.extend(accs.iter().map(|a| format!("{:.1}%", 100.0 * a)));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    println!();
    print!("{}", render_table(&header, &rows));

    println!("\n== gradient through time after training at T = {longest} ==\n");
    print_profiles(&names, &trained_profiles);
    let title = format!("gradient reaching input step t after training (T = {longest})");
    chart(
        &names,
        &trained_profiles,
        &title,
        &s.out.join("grad_after_training.svg"),
    )?;
    println!("\ntotal time {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        common::parse_flags("rnn_memory", args)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.lengths, [10, 30, 100]);
        common::assert_flags_checked::<Settings>(
            "rnn_memory",
            &[
                &["--length", "10"][..],
                &["--lr"],
                &["--lr", "inf"],
                &["--lr", "-1"],
                &["--lengths", ""],
                &["--lengths", "1"],
                &["--forget-bias", "NaN"],
                &["--hidden", "0"],
            ],
            &["[default: 10,30,100]"],
        );
    }

    #[test]
    fn an_unwritable_out_is_refused_before_any_work() {
        let s = parse(&["--out", "/proc/x/y", "--steps", "0"]).unwrap();
        let err = run(&s).unwrap_err().to_string();
        assert!(err.contains("/proc/x/y"), "{err}");
    }

    #[test]
    fn a_diverging_run_fails() {
        let dir = std::env::temp_dir().join(format!("tapegrad-rnn-memory-{}", std::process::id()));
        let out = dir.to_str().unwrap();
        let args = [
            "--lr",
            "1e38",
            "--steps",
            "30",
            "--lengths",
            "3",
            "--batch",
            "4",
            "--out",
            out,
        ];
        let s = parse(&args).unwrap();
        let err = run(&s).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("training diverged"), "{err}");
    }
}
