//! The initialisation study: why deep networks' gradients vanish or explode,
//! and what zero, plain random, small random, Xavier and He initialisation
//! do about it — measured on the bundled digits data.
//!
//! For every depth, activation and initialisation it
//! 1. measures the gradient flow of a fresh network (activation std and
//!    gradient RMS per layer, saturation, dead units, a verdict);
//! 2. trains it for the same budget (SGD with momentum) and measures the
//!    held-out accuracy;
//! 3. writes charts (`init_study/*.svg`) and a summary (`init_study/summary.md`).
//!
//! Run: `cargo run --release --example init_study -- --help` for the flags
//! and their defaults. The output directory is checked (created, a probe
//! file written) before the study starts. A configuration whose loss stops
//! being finite is reported as diverged: that is one of the study's results.

mod common;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::nn::data::{load_bundled_digits, Dataset};
use tapegrad::nn::diagnostics::{fmt_num, render_table, FlowReport, LineChart};
use tapegrad::nn::study::{
    flow_at_init, standardize, train, Activation, Budget, MlpConfig, Scheme, TrainOutcome,
};
use tapegrad::nn::Module;

/// The initialisation study on the bundled digits: gradient flow at
/// initialisation and after a fixed training budget, for every depth,
/// activation and initialisation given.
#[derive(Parser, Debug)]
#[command(name = "init_study")]
struct Settings {
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "5,10,30", value_parser = common::at_least_one)]
    depths: Vec<usize>,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = common::at_least_one)]
    width: usize,
    /// Hidden nonlinearities, comma-separated (sigmoid, tanh, relu).
    #[arg(long, value_delimiter = ',', default_value = "sigmoid,tanh,relu")]
    activations: Vec<Activation>,
    /// Weight initialisations, comma-separated (zeros, normal1, small, xavier, he).
    #[arg(
        long = "inits",
        value_delimiter = ',',
        default_value = "zeros,normal1,small,xavier,he"
    )]
    schemes: Vec<Scheme>,
    /// SGD steps per configuration.
    #[arg(long, default_value_t = Budget::default().steps)]
    steps: usize,
    /// Samples per step.
    #[arg(long, default_value_t = Budget::default().batch_size, value_parser = common::at_least_one)]
    batch: usize,
    /// SGD learning rate (momentum 0.9).
    #[arg(long, default_value_t = Budget::default().lr, value_parser = common::positive)]
    lr: f64,
    /// Largest total gradient norm per step; 0 turns clipping off.
    #[arg(long, default_value_t = Budget::default().clip.unwrap_or(0.0), value_parser = common::non_negative)]
    clip: f64,
    /// Seed of the split, the initialisations and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory for the charts and summary.md.
    #[arg(long, default_value = "init_study")]
    out: PathBuf,
}

impl Settings {
    /// The training budget of every configuration.
    fn budget(&self) -> Budget {
        Budget {
            steps: self.steps,
            batch_size: self.batch,
            lr: self.lr,
            momentum: Budget::default().momentum,
            clip: (self.clip > 0.0).then_some(self.clip),
        }
    }

    fn configs(&self) -> Vec<MlpConfig> {
        let mut out = Vec::new();
        for &depth in &self.depths {
            for &activation in &self.activations {
                for &scheme in &self.schemes {
                    out.push(MlpConfig {
                        depth,
                        width: self.width,
                        activation,
                        scheme,
                    });
                }
            }
        }
        out
    }
}

/// Everything measured for one configuration.
struct Outcome {
    config: MlpConfig,
    at_init: FlowReport,
    trained: TrainOutcome,
    /// Largest difference between two hidden units of the first layer after
    /// training (0: symmetry never broken).
    unit_spread: f64,
}

/// Largest |row_i - row_0| over the rows of the first layer's weight.
fn unit_spread(model: &tapegrad::nn::Sequential<f32>) -> f64 {
    let w = model
        .named_parameters()
        .into_iter()
        .next()
        .expect("a weight")
        .1;
    let rows = w.to_f64_vec();
    let cols = w.shape()[1];
    rows.chunks(cols)
        .map(|r| {
            r.iter()
                .zip(&rows[..cols])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max)
}

fn run_one(
    config: MlpConfig,
    train_set: &Dataset<f32>,
    test_set: &Dataset<f32>,
    s: &Settings,
) -> Outcome {
    let budget = s.budget();
    let at_init = flow_at_init(&config, train_set, 256, &budget, s.seed);
    let (model, trained) = train(&config, train_set, test_set, &budget, s.seed);
    Outcome {
        config,
        at_init,
        trained,
        unit_spread: unit_spread(&model),
    }
}

fn mean_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// One summary row.
fn summary_row(o: &Outcome) -> Vec<String> {
    let hidden = &o.at_init.layers[..o.at_init.layers.len() - 1];
    let sat = mean_of(hidden.iter().filter_map(|l| l.saturated.or(l.dead)));
    let trained = match o.trained.diverged_at {
        Some(step) => format!("diverged at step {step}"),
        None => fmt_num(Some(o.trained.final_loss(50))),
    };
    vec![
        o.config.to_string(),
        o.at_init.verdict.word().to_string(),
        fmt_num(Some(o.at_init.verdict.ratio())),
        fmt_num(hidden.last().map(|l| l.act_std)),
        sat.map_or("-".into(), |v| format!("{:.0}%", 100.0 * v)),
        trained,
        format!("{:.1}%", 100.0 * o.trained.test_accuracy),
        if o.unit_spread == 0.0 {
            "no".into()
        } else {
            "yes".into()
        },
    ]
}

const HEADER: [&str; 8] = [
    "configuration",
    "at init",
    "grad ratio first/last",
    "last act std",
    "saturated / dead",
    "final train loss",
    "test acc",
    "symmetry broken",
];

fn write_charts(
    outcomes: &[Outcome],
    s: &Settings,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut written = Vec::new();
    for &depth in &s.depths {
        for &act in &s.activations {
            let group: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| o.config.depth == depth && o.config.activation == act)
                .collect();
            let per_layer = |f: &dyn Fn(&tapegrad::nn::diagnostics::LayerStats) -> Option<f64>| -> Vec<(String, Vec<(f64, f64)>)> {
                group
                    .iter()
                    .map(|o| {
                        let hidden = &o.at_init.layers[..o.at_init.layers.len() - 1];
                        let pts = hidden.iter().enumerate().filter_map(|(i, l)| f(l).map(|v| ((i + 1) as f64, v))).collect();
                        (o.config.scheme.to_string(), pts)
                    })
                    .collect()
            };
            let charts = [
                ("act_std", "activation std", per_layer(&|l| Some(l.act_std))),
                (
                    "grad_rms",
                    "gradient RMS w.r.t. layer output",
                    per_layer(&|l| l.grad_rms),
                ),
            ];
            for (file, what, series) in charts {
                let chart = LineChart {
                    title: format!("{what} at init: {act}, depth {depth}, width {}", s.width),
                    x_label: "hidden layer".into(),
                    y_label: what.into(),
                    log_y: true,
                    series,
                };
                let path = s.out.join(format!("{file}_{act}_d{depth}.svg"));
                chart.write_svg(&path, (760, 480))?;
                written.push(path);
            }
            let losses = LineChart {
                title: format!("training loss: {act}, depth {depth}, width {}", s.width),
                x_label: "step".into(),
                y_label: "cross-entropy".into(),
                log_y: true,
                series: group
                    .iter()
                    .map(|o| (o.config.scheme.to_string(), smooth(&o.trained.losses, 10)))
                    .collect(),
            };
            let path = s.out.join(format!("loss_{act}_d{depth}.svg"));
            losses.write_svg(&path, (760, 480))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Mean of each window of `k` losses, as (step, loss) points.
fn smooth(losses: &[f64], k: usize) -> Vec<(f64, f64)> {
    losses
        .chunks(k)
        .enumerate()
        .map(|(i, c)| (((i + 1) * k) as f64, c.iter().sum::<f64>() / c.len() as f64))
        .collect()
}

fn write_summary(
    path: &Path,
    outcomes: &[Outcome],
    s: &Settings,
    seconds: f64,
) -> std::io::Result<()> {
    let mut md = String::new();
    let b = &s.budget();
    let _ = writeln!(
        md,
        "# Initialisation study (digits, width {}, seed {})\n",
        s.width, s.seed
    );
    let _ = writeln!(
        md,
        "Inputs standardised with the train split's statistics. Training budget for every configuration: \
         {} SGD steps, batch {}, lr {}, momentum {}, gradient norm clipped at {}. Run time {seconds:.0} s.\n",
        b.steps, b.batch_size, b.lr, b.momentum, b.clip.map_or("none".to_string(), |c| c.to_string())
    );
    let _ = writeln!(md, "| {} |", HEADER.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(HEADER.len()));
    for o in outcomes {
        let _ = writeln!(md, "| {} |", summary_row(o).join(" | "));
    }
    std::fs::write(path, md)
}

fn main() -> ExitCode {
    let s = Settings::parse();
    common::exit("init_study", run(&s))
}

/// The whole study for settings `s`.
fn run(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    common::writable_dir(&s.out)?;
    let start = Instant::now();
    let data = load_bundled_digits::<f32>()?;
    let (train_set, test_set) = data.stratified_split(0.25, s.seed);
    let (train_set, test_set) = standardize(&train_set, &test_set);
    let configs = s.configs();
    println!(
        "{} configurations, {} train / {} test digits",
        configs.len(),
        train_set.len(),
        test_set.len()
    );
    let bar = ProgressBar::new(configs.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} configurations  {msg}",
    )?);
    let outcomes: Vec<Outcome> = configs
        .par_iter()
        .map(|&c| {
            let o = run_one(c, &train_set, &test_set, s);
            bar.set_message(format!("{c}: {:.1}%", 100.0 * o.trained.test_accuracy));
            bar.inc(1);
            o
        })
        .collect();
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    // The detailed report of the most instructive run: Xavier + ReLU at the
    // largest depth (the variance halves every layer), else the first deep one.
    let deepest = *s.depths.iter().max().expect("at least one depth");
    let is_deep = |o: &&Outcome| o.config.depth == deepest;
    let featured = outcomes
        .iter()
        .filter(is_deep)
        .find(|o| o.config.scheme == Scheme::Xavier && o.config.activation == Activation::ReLU)
        .or_else(|| outcomes.iter().find(is_deep));
    if let Some(deep) = featured {
        println!(
            "\nGradient flow at initialisation, {}:\n{}",
            deep.config, deep.at_init
        );
    }
    let rows: Vec<Vec<String>> = outcomes.iter().map(summary_row).collect();
    println!("{}", render_table(&HEADER, &rows));
    let charts = write_charts(&outcomes, s)?;
    let summary = s.out.join("summary.md");
    write_summary(&summary, &outcomes, s, seconds)
        .map_err(|e| format!("cannot write {}: {e}", summary.display()))?;
    println!(
        "wrote {} charts and {} in {seconds:.1} s",
        charts.len(),
        s.out.join("summary.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        common::parse_flags("init_study", args)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.depths, [5, 10, 30]);
        assert_eq!(s.schemes.len(), 5);
        assert_eq!(s.budget(), Budget::default());
        assert_eq!(parse(&["--clip", "0"]).unwrap().budget().clip, None);
        common::assert_flags_checked::<Settings>(
            "init_study",
            &[
                &["--step", "10"][..],
                &["--lr"],
                &["--lr", "inf"],
                &["--lr", "-1"],
                &["--depths", ""],
                &["--depths", "5,,10"],
                &["--depths", "0"],
                &["--inits", "glorot"],
                &["--activations", ""],
                &["--clip", "NaN"],
                &["--width", "x"],
            ],
            &["[default: 5,10,30]"],
        );
    }

    #[test]
    fn an_unwritable_out_is_refused_before_the_study() {
        let s = parse(&["--out", "/proc/x/y", "--steps", "0"]).unwrap();
        let err = run(&s).unwrap_err().to_string();
        assert!(err.contains("/proc/x/y"), "{err}");
    }
}
