//! Derivatives beyond the gradient, on the bundled digits:
//!
//! 1. The curvature of the loss of `train_digits`' MLP (64-128-64-10,
//!    ReLU, He init) at initialisation and after training: the Hessian's
//!    top 5 eigenvalues (Lanczos on Hessian-vector products) and its trace
//!    (Hutchinson), never forming the 17,226 x 17,226 matrix.
//! 2. Dynamical isometry: the singular values of the input-output Jacobian
//!    of depth-30, width-64 tanh and ReLU networks at initialisation, with
//!    Gaussian (Xavier, He) and orthogonal weights, zero biases, at a batch
//!    of digits (Lanczos on `JᵀJ v`: a forward pass with tangents, then a
//!    backward pass). Histograms of log10 of the singular values go to
//!    `<out>/jacobian_spectra.svg`, a summary table to the terminal and to
//!    `<out>/jacobian_spectra.md`.
//!
//! Run: `cargo run --release --example curvature` (`--help` for the flags).

mod common;

use clap::Parser;
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::autodiff::Tape;
use tapegrad::nn::curvature::{
    hessian_eigenvalues, hessian_trace, jacobian_singular_values, objective,
};
use tapegrad::nn::data::{load_bundled_digits, Batches, Dataset, DIGITS_PIXELS};
use tapegrad::nn::init::{self, FanMode, Nonlinearity};
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{Adam, Optimizer};
use tapegrad::nn::{Linear, Module, ReLU, Sequential, Tanh};
use tapegrad::tensor::Tensor;

/// Hessian spectra of a digits MLP, and Jacobian spectra of deep networks.
#[derive(Parser, Debug)]
#[command(name = "curvature")]
struct Settings {
    /// Seed of every initialisation and of the Lanczos and Hutchinson draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs of Adam (lr 1e-3, batch 32) before the "trained" measurement.
    #[arg(long, default_value_t = 20, value_parser = common::at_least_one)]
    epochs: usize,
    /// Lanczos steps for the Hessian's top eigenvalues.
    #[arg(long, default_value_t = 40, value_parser = common::at_least_one)]
    lanczos_steps: usize,
    /// Rademacher samples of Hutchinson's trace estimate.
    #[arg(long, default_value_t = 100, value_parser = common::at_least_one)]
    trace_samples: usize,
    /// Depth of the networks whose Jacobians are measured.
    #[arg(long, default_value_t = 30, value_parser = common::at_least_one)]
    depth: usize,
    /// Digits whose Jacobians are measured (64 singular values each).
    #[arg(long, default_value_t = 4, value_parser = common::at_least_one)]
    examples: usize,
    /// Standard deviation of the inputs of the Jacobian study (each digit
    /// standardised, then scaled): small inputs start the tanh networks
    /// near their fixed point q* = 0, where the critical tanh is linear.
    #[arg(long, default_value_t = 0.1, value_parser = common::positive)]
    input_std: f64,
    /// Directory for the chart and the summary.
    #[arg(long, default_value = "curvature")]
    out: PathBuf,
}

/// The Hessian's top eigenvalues and trace for the loss over `data`.
fn hessian_line(model: &Sequential<f64>, data: &Dataset<f64>, s: &Settings, when: &str) -> String {
    let (x, labels) = (data.features(), data.labels().to_vec());
    let loss =
        objective(|t: &Tape<f64>| cross_entropy(model.forward(t.constant(x.clone())), &labels));
    let start = Instant::now();
    let top = hessian_eigenvalues(model, loss, 5, s.lanczos_steps, s.seed);
    let trace = hessian_trace(model, loss, s.trace_samples, s.seed + 1);
    let values: Vec<String> = top.values.iter().map(|v| format!("{v:.4}")).collect();
    format!(
        "{when:<12} loss {:.4}  top-5 eigenvalues [{}]  trace {:.3} ± {:.3}  ({:.1} s)",
        loss(&Tape::new()).item(),
        values.join(", "),
        trace.estimate,
        trace.std_error,
        start.elapsed().as_secs_f64()
    )
}

/// Trains the MLP with Adam; returns the last epoch's mean loss.
fn train(model: &mut Sequential<f64>, data: &Dataset<f64>, s: &Settings) -> Result<f64, String> {
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut opt = Adam::new(1e-3);
    let mut last = f64::NAN;
    for _ in 0..s.epochs {
        let (mut total, mut count) = (0.0, 0);
        for (x, labels) in Batches::from_dataset(data, 32, true, &mut rng) {
            let grads = {
                let tape = Tape::new();
                let loss = cross_entropy(model.forward(tape.constant(x)), &labels);
                common::finite_loss(loss.item(), "training")?;
                total += loss.item() * labels.len() as f64;
                count += labels.len();
                loss.backward()
            };
            opt.step(model, &grads);
        }
        last = total / count as f64;
    }
    Ok(last)
}

/// A weight scheme of the Jacobian study.
#[derive(Clone, Copy, Debug)]
enum Weights {
    Xavier,
    He,
    Orthogonal,
}

/// A depth-`depth` width-64 network with activation `act` and zero biases,
/// its weights drawn by `scheme` at the activation's critical scale
/// (σ_w² = 1 for tanh, 2 for ReLU; orthogonal with gain 1 or √2).
fn deep_net(depth: usize, relu: bool, scheme: Weights, rng: &mut StdRng) -> Sequential<f64> {
    let w = DIGITS_PIXELS;
    let mut m = Sequential::new();
    for _ in 0..depth {
        let weight = match scheme {
            Weights::Xavier => init::xavier_normal(&[w, w], 1.0, rng),
            Weights::He => init::kaiming_normal(&[w, w], FanMode::FanIn, Nonlinearity::ReLU, rng),
            Weights::Orthogonal => {
                init::orthogonal(&[w, w], if relu { 2f64.sqrt() } else { 1.0 }, rng)
            }
        };
        m.push(Linear::from_tensors(weight, Some(Tensor::zeros(&[w]))));
        if relu {
            m.push(ReLU);
        } else {
            m.push(Tanh);
        }
    }
    m
}

/// One configuration's singular values and their summary.
struct Spectrum {
    name: String,
    values: Vec<f64>,
}

/// Lanczos works on `JᵀJ`, whose eigenvalues are the squared singular
/// values: in f64, with the rounding of a few hundred Lanczos steps, those
/// below ~1e-12 of the largest are noise, so
/// singular values below `RESOLUTION` times the largest are not resolved
/// (exact zeros, from ReLU's dead units, land there too).
const RESOLUTION: f64 = 1e-6;

impl Spectrum {
    /// Singular values too small to resolve (see [`RESOLUTION`]).
    fn unresolved(&self) -> usize {
        let floor = self.quantile(1.0) * RESOLUTION;
        self.values.iter().filter(|&&v| v < floor).count()
    }

    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    /// The fraction of singular values within a factor 2 of 1.
    fn near_one(&self) -> f64 {
        self.values
            .iter()
            .filter(|&&s| (0.5..=2.0).contains(&s))
            .count() as f64
            / self.values.len() as f64
    }

    /// `(1/n) tr JᵀJ`: the mean-field gain χ₁ raised to the depth.
    fn mean_square(&self) -> f64 {
        self.values.iter().map(|s| s * s).sum::<f64>() / self.values.len() as f64
    }

    fn row(&self) -> String {
        let (lo, hi) = (self.quantile(0.0), self.quantile(1.0));
        let floor = hi * RESOLUTION;
        let shown = |v: f64| {
            if v < floor {
                format!("< {floor:.1e}")
            } else {
                format!("{v:.3e}")
            }
        };
        let ratio = if lo < floor {
            format!("> {:.0e}", 1.0 / RESOLUTION)
        } else {
            format!("{:.3e}", hi / lo)
        };
        format!(
            "| {} | {} | {} | {:.3e} | {} | {:.3} | {:.0}% | {} |",
            self.name,
            shown(lo),
            shown(self.quantile(0.5)),
            hi,
            ratio,
            self.mean_square(),
            100.0 * self.near_one(),
            self.unresolved()
        )
    }
}

/// Small multiples: one histogram of log10(singular value) per configuration.
fn draw(spectra: &[Spectrum], depth: usize, path: &Path) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("Input-output Jacobian singular values at init (depth {depth}, width 64)");
    let root = root.titled(&title, ("sans-serif", 22))?;
    let panels = root.split_evenly((2, 3));
    let logs: Vec<Vec<f64>> = spectra
        .iter()
        .map(|s| s.values.iter().map(|v| v.max(1e-30).log10()).collect())
        .collect();
    let lo = logs
        .iter()
        .flatten()
        .fold(f64::INFINITY, |a, &b| a.min(b))
        .min(-1.0)
        .floor();
    let hi = logs
        .iter()
        .flatten()
        .fold(f64::NEG_INFINITY, |a, &b| a.max(b))
        .max(1.0)
        .ceil();
    let bins = 40;
    let width = (hi - lo) / bins as f64;
    for ((panel, s), logs) in panels.iter().zip(spectra).zip(&logs) {
        // Unresolved values (see RESOLUTION) get their own grey bar at the
        // floor instead of a spike that looks like a measurement.
        let floor = (s.quantile(1.0) * RESOLUTION).log10();
        let mut counts = vec![0usize; bins];
        let mut below = 0;
        for &l in logs {
            if l < floor {
                below += 1;
            } else {
                counts[(((l - lo) / width) as usize).min(bins - 1)] += 1;
            }
        }
        let floor_bin = (((floor - lo) / width) as usize).min(bins - 1);
        let top = (*counts.iter().max().unwrap_or(&1)).max(below) as f64 * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(&s.name, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(lo..hi, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("log10 singular value")
            .y_desc("count")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
            let x0 = lo + i as f64 * width;
            Rectangle::new(
                [(x0, 0.0), (x0 + width, c as f64)],
                RGBColor(31, 119, 180).filled(),
            )
        }))?;
        if below > 0 {
            let x0 = lo + floor_bin as f64 * width - width;
            chart.draw_series([Rectangle::new(
                [(x0, 0.0), (x0 + width, below as f64)],
                RGBColor(170, 170, 170).filled(),
            )])?;
            chart.draw_series([Text::new(
                format!("{below} below resolution"),
                (x0 - 1.5, below as f64 * 1.02),
                ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90)),
            )])?;
        }
        // Isometry: singular value 1.
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (0.0, top)],
            RED.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    common::writable_dir(&s.out)?;
    let all = load_bundled_digits::<f64>()?;
    let (train_set, _) = all.stratified_split(0.2, 0);
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut model = common::digits_mlp::<f64>(&mut rng);
    println!(
        "Hessian of the mean cross-entropy over {} training digits, {} parameters:",
        train_set.len(),
        model.num_parameters()
    );
    println!("{}", hessian_line(&model, &train_set, s, "at init"));
    let loss = train(&mut model, &train_set, s)?;
    println!(
        "{}",
        hessian_line(
            &model,
            &train_set,
            s,
            &format!("after {} epochs (train loss {loss:.4})", s.epochs)
        )
    );

    let x = train_set.features().narrow(0, 0, s.examples);
    let centred = x.sub(&x.mean_keepdim(&[1]));
    let std = centred.square().mean_keepdim(&[1]).sqrt().add_scalar(1e-8);
    let x = centred.div(&std).mul_scalar(s.input_std);
    let steps = x.numel();
    let mut spectra = Vec::new();
    for relu in [false, true] {
        for scheme in [Weights::Xavier, Weights::He, Weights::Orthogonal] {
            let net = deep_net(
                s.depth,
                relu,
                scheme,
                &mut StdRng::seed_from_u64(s.seed + 10),
            );
            let start = Instant::now();
            let values = jacobian_singular_values(&net, &x, steps, s.seed);
            let act = if relu { "ReLU" } else { "tanh" };
            spectra.push(Spectrum {
                name: format!("{act} + {scheme:?}"),
                values,
            });
            eprintln!(
                "{act} + {scheme:?}: {} singular values in {:.2} s",
                steps,
                start.elapsed().as_secs_f64()
            );
        }
    }
    let mut table = String::from(
        "| configuration | smallest | median | largest | largest / smallest | mean s² | within [0.5, 2] | below resolution |\n|---|---|---|---|---|---|---|---|\n",
    );
    for sp in &spectra {
        table.push_str(&sp.row());
        table.push('\n');
    }
    println!(
        "\nJacobian singular values of depth-{} width-64 networks at {} digits (standardised, std {}):\n{table}",
        s.depth, s.examples, s.input_std
    );
    let md = s.out.join("jacobian_spectra.md");
    std::fs::write(&md, &table).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = s.out.join("jacobian_spectra.svg");
    draw(&spectra, s.depth, &svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    println!("wrote {} and {}", svg.display(), md.display());
    Ok(())
}

fn main() -> ExitCode {
    common::exit("curvature", run(&Settings::parse()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_before_any_work() {
        assert!(common::parse_flags::<Settings>("curvature", &[]).is_ok());
        common::assert_flags_checked::<Settings>(
            "curvature",
            &[
                &["--depth", "0"][..],
                &["--examples", "x"],
                &["--epoch", "3"],
            ],
            &["--depth"],
        );
    }

    #[test]
    fn orthogonal_linear_limit_is_an_isometry() {
        // tanh at zero input is the identity to first order: a depth-30
        // orthogonal tanh network's Jacobian at x = 0 is orthogonal.
        let net = deep_net(
            30,
            false,
            Weights::Orthogonal,
            &mut StdRng::seed_from_u64(0),
        );
        let s =
            jacobian_singular_values(&net, &Tensor::zeros(&[1, DIGITS_PIXELS]), DIGITS_PIXELS, 0);
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-9), "{s:?}");
    }
}
