//! The initialisation study: why deep networks' gradients vanish or explode,
//! and what zero, plain random, small random, Xavier, He, orthogonal and
//! LSUV initialisation do about it — measured on the bundled digits data.
//!
//! For every depth, activation and initialisation, over several seeds (each
//! configuration its own), it
//! 1. measures the gradient flow of a fresh network (activation std and
//!    gradient RMS per layer, saturation, dead units, a verdict on the
//!    hidden layers and the output layer's own gain);
//! 2. trains it for the same budget (SGD with momentum) and measures the
//!    held-out accuracy;
//! 3. reports every number as median [min–max] over the seeds, each verdict
//!    with the fraction of seeds that agree, and writes charts (medians with
//!    a min–max band, `init_study/*.svg`) and a summary
//!    (`init_study/summary.md`).
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
use tapegrad::nn::diagnostics::{render_table, FlowReport, LayerStats, LineChart, Series};
use tapegrad::nn::study::{
    config_seed, flow_at_init, hidden_verdict, histogram, layer_values, output_gain, sig3,
    standardize, train, Activation, Budget, Cure, LayerValues, MlpConfig, Scheme, Spread,
    TrainOutcome,
};
use tapegrad::nn::Module;

/// SGD steps per draw by default: 600 rather than the library's 1000
/// ([`Budget::default`]) so that 5 seeds of the 63 default configurations
/// run in under 2 minutes on 2 cores. Every verdict is the same at 1000 steps
/// (`--steps 1000`, about 3 minutes); the deep healthy networks' accuracy is
/// a few points higher there.
const STEPS: usize = 600;

/// The initialisation study on the bundled digits: gradient flow at
/// initialisation and after a fixed training budget, for every depth,
/// activation and initialisation given, over several seeds.
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
    /// Weight initialisations, comma-separated (zeros, normal1, small,
    /// standard, xavier, he, orthogonal, lsuv).
    #[arg(
        long = "inits",
        value_delimiter = ',',
        default_value = "zeros,normal1,small,xavier,he,orthogonal,lsuv"
    )]
    schemes: Vec<Scheme>,
    /// Cures besides initialisation, comma-separated (plain, residual,
    /// layernorm): identity paths with a scaled branch, or LayerNorm before
    /// each activation.
    #[arg(long, value_delimiter = ',', default_value = "plain")]
    cures: Vec<Cure>,
    /// Draws per configuration (initialisation and shuffling seeds).
    #[arg(long, default_value_t = 5, value_parser = common::at_least_one)]
    seeds: usize,
    /// SGD steps per configuration.
    #[arg(long, default_value_t = STEPS)]
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
    /// Seed of the split, and the base of every configuration's seeds.
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
                for &cure in &self.cures {
                    for &scheme in &self.schemes {
                        out.push(MlpConfig {
                            depth,
                            width: self.width,
                            activation,
                            scheme,
                            cure,
                        });
                    }
                }
            }
        }
        out
    }
}

/// Everything measured for one draw of one configuration.
struct Draw {
    at_init: FlowReport,
    trained: TrainOutcome,
    /// Largest difference between two hidden units of the first layer after
    /// training (0: symmetry never broken).
    unit_spread: f64,
}

/// One configuration and its draws, one per seed.
struct Outcome {
    config: MlpConfig,
    draws: Vec<Draw>,
}

impl Outcome {
    /// The spread over draws of `f` (draws where it is `None` are missing).
    fn spread(&self, f: impl Fn(&Draw) -> Option<f64>) -> Option<Spread> {
        let values: Vec<f64> = self
            .draws
            .iter()
            .map(|d| f(d).unwrap_or(f64::NAN))
            .collect();
        Spread::of(&values)
    }

    /// How many draws satisfy `f`, as `k/n`.
    fn count(&self, f: impl Fn(&Draw) -> bool) -> String {
        let k = self.draws.iter().filter(|d| f(d)).count();
        format!("{k}/{}", self.draws.len())
    }
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
    seed: u64,
    train_set: &Dataset<f32>,
    test_set: &Dataset<f32>,
    s: &Settings,
) -> Draw {
    let budget = s.budget();
    let at_init = flow_at_init(&config, train_set, 256, &budget, seed);
    let (model, trained) = train(&config, train_set, test_set, &budget, seed);
    Draw {
        at_init,
        trained,
        unit_spread: unit_spread(&model),
    }
}

/// The hidden layers' statistics (every tapped layer but the logits).
fn hidden(r: &FlowReport) -> &[LayerStats] {
    &r.layers[..r.layers.len() - 1]
}

fn mean_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The most common hidden-layer verdict and the fraction of draws giving it
/// (`vanishing 5/5`).
fn verdict_of(o: &Outcome) -> String {
    let words: Vec<&str> = o
        .draws
        .iter()
        .map(|d| hidden_verdict(&d.at_init).word())
        .collect();
    let top = ["healthy", "vanishing", "exploding"]
        .into_iter()
        .max_by_key(|w| words.iter().filter(|v| *v == w).count())
        .expect("three words");
    format!(
        "{top} {}",
        o.count(|d| hidden_verdict(&d.at_init).word() == top)
    )
}

/// `spread` as text, `-` for no value.
fn show(spread: Option<Spread>) -> String {
    spread.map_or("-".into(), |s| s.to_string())
}

/// A spread of fractions as whole percentages: `43% [40–45%]`.
fn show_percent(spread: Option<Spread>) -> String {
    match spread {
        None => "-".into(),
        // Equal once rounded: one number, not "0% [0–0%]".
        Some(s) if format!("{:.0}", 100.0 * s.min) == format!("{:.0}", 100.0 * s.max) => {
            format!("{:.0}%", 100.0 * s.median)
        }
        Some(s) => format!(
            "{:.0}% [{:.0}–{:.0}%]",
            100.0 * s.median,
            100.0 * s.min,
            100.0 * s.max
        ),
    }
}

/// One summary row.
fn summary_row(o: &Outcome) -> Vec<String> {
    let diverged = o
        .draws
        .iter()
        .filter(|d| d.trained.diverged_at.is_some())
        .count();
    let mut loss = show(o.spread(|d| {
        let l = d.trained.final_loss(50);
        (d.trained.diverged_at.is_none() && l.is_finite()).then_some(l)
    }));
    if diverged > 0 {
        let _ = write!(loss, " ({diverged}/{} diverged)", o.draws.len());
    }
    vec![
        o.config.to_string(),
        verdict_of(o),
        show(o.spread(|d| Some(hidden_verdict(&d.at_init).ratio()))),
        show(o.spread(|d| output_gain(&d.at_init))),
        show(o.spread(|d| hidden(&d.at_init).last().map(|l| l.act_std))),
        show_percent(o.spread(|d| {
            mean_of(
                hidden(&d.at_init)
                    .iter()
                    .filter_map(|l| l.saturated.or(l.dead)),
            )
        })),
        loss,
        steps_to_target(o),
        show_percent(o.spread(|d| Some(d.trained.test_accuracy))),
        o.count(|d| d.unit_spread != 0.0),
    ]
}

/// The training loss whose first crossing (mean of 10 steps) measures
/// training speed: a fifth of chance's ln 10 = 2.30.
const SPEED_LOSS: f64 = 0.5;

/// Steps until the 10-step mean loss is below [`SPEED_LOSS`]: the spread
/// over the seeds that got there, and how many never did.
fn steps_to_target(o: &Outcome) -> String {
    let never = o
        .draws
        .iter()
        .filter(|d| d.trained.steps_to(SPEED_LOSS, 10).is_none())
        .count();
    if never == o.draws.len() {
        return "never".into();
    }
    let mut text = show(o.spread(|d| d.trained.steps_to(SPEED_LOSS, 10).map(|s| s as f64)));
    if never > 0 {
        let _ = write!(text, " ({never}/{} never)", o.draws.len());
    }
    text
}

const HEADER: [&str; 10] = [
    "configuration",
    "at init (seeds agreeing)",
    "grad ratio h1/hL",
    "output gain",
    "last hidden act std",
    "saturated / dead",
    "final train loss",
    "steps to loss 0.5",
    "test acc",
    "symmetry broken",
];

/// What the columns mean, for the summary.
const DEFINITIONS: &str = "\
Every number is the median [min–max] over the seeds of a configuration, each configuration with \
its own seeds.

- **at init**: the verdict on the hidden layers at initialisation (vanishing or exploding when the \
  grad ratio leaves [1/100, 100]), with how many seeds give it.
- **grad ratio h1/hL**: RMS of ∂L/∂h1 over RMS of ∂L/∂hL, the gradient with respect to the first \
  hidden layer's output over that with respect to the last hidden layer's, on a batch of 256 \
  training digits at initialisation. The output layer is not in it.
- **output gain**: RMS of ∂L/∂hL over RMS of ∂L/∂logits, the output layer's own factor on the \
  gradient (small weights shrink it about 30-fold in that one layer, which says nothing about depth).
- **last hidden act std**: standard deviation of hL at initialisation.
- **saturated / dead**: for sigmoid and tanh the fraction of saturated hidden units, for ReLU of \
  dead ones, averaged over the hidden layers.
- **final train loss**: mean of the last 50 steps' losses, over the seeds that did not diverge.
- **steps to loss 0.5**: the first step at which the mean of the last 10 losses is below 0.5 \
  (chance is ln 10 = 2.30), over the seeds that got there: how fast a configuration trains.
- **symmetry broken**: seeds whose first-layer units differ after training.
";

/// The loss chart's top: far above chance (ln 10 = 2.3), so a run above it
/// is marked as off the scale rather than setting the scale.
const LOSS_CAP: f64 = 10.0;

/// The series `name`: the median of `lines` point by point, and their
/// min–max as its band; at each x, over the lines that reach it (a diverged
/// run's line stops).
fn median_band(name: String, lines: &[Vec<(f64, f64)>]) -> Series {
    let longest = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut median = Vec::with_capacity(longest);
    let mut band = Vec::with_capacity(longest);
    for i in 0..longest {
        let at: Vec<(f64, f64)> = lines.iter().filter_map(|l| l.get(i).copied()).collect();
        let ys: Vec<f64> = at.iter().map(|p| p.1).collect();
        if let Some(s) = Spread::of(&ys) {
            median.push((at[0].0, s.median));
            band.push((at[0].0, s.min, s.max));
        }
    }
    Series::new(name, median).with_band(band)
}

fn write_charts(
    outcomes: &[Outcome],
    s: &Settings,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut written = Vec::new();
    let seeds = format!("median and min–max of {} seeds", s.seeds);
    for &depth in &s.depths {
        for &act in &s.activations {
            let group: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| o.config.depth == depth && o.config.activation == act)
                .collect();
            let per_layer = |f: &dyn Fn(&LayerStats) -> Option<f64>| -> Vec<Series> {
                group
                    .iter()
                    .map(|o| {
                        let lines: Vec<Vec<(f64, f64)>> = o
                            .draws
                            .iter()
                            .map(|d| {
                                let layers = hidden(&d.at_init).iter().enumerate();
                                layers
                                    .map(|(i, l)| ((i + 1) as f64, f(l).unwrap_or(f64::NAN)))
                                    .collect()
                            })
                            .collect();
                        median_band(line_name(&o.config), &lines)
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
                    title: format!(
                        "{what} at init: {act}, depth {depth}, width {}, {seeds}",
                        s.width
                    ),
                    x_label: "hidden layer".into(),
                    y_label: what.into(),
                    log_y: true,
                    y_max: None,
                    series,
                };
                let path = s.out.join(format!("{file}_{act}_d{depth}.svg"));
                chart.write_svg(&path, (860, 500))?;
                written.push(path);
            }
            if group
                .iter()
                .all(|o| o.draws.iter().all(|d| d.trained.losses.is_empty()))
            {
                continue; // --steps 0: nothing was trained, no loss to draw
            }
            let losses = LineChart {
                title: format!(
                    "training loss: {act}, depth {depth}, width {}, {seeds}",
                    s.width
                ),
                x_label: "step".into(),
                y_label: "cross-entropy (mean of 10 steps)".into(),
                log_y: true,
                y_max: Some(LOSS_CAP),
                series: group.iter().map(|o| loss_series(o)).collect(),
            };
            let path = s.out.join(format!("loss_{act}_d{depth}.svg"));
            losses.write_svg(&path, (860, 500))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A configuration's name on a chart of one depth and activation: its
/// initialisation, and its cure unless plain.
fn line_name(c: &MlpConfig) -> String {
    match c.cure {
        Cure::Plain => c.scheme.to_string(),
        cure => format!("{}+{cure}", c.scheme),
    }
}

/// A configuration's smoothed training loss: median over seeds, min–max
/// band, and how many seeds diverged in the name.
fn loss_series(o: &Outcome) -> Series {
    let lines: Vec<Vec<(f64, f64)>> = o
        .draws
        .iter()
        .map(|d| smooth(&d.trained.losses, 10))
        .collect();
    let diverged = o
        .draws
        .iter()
        .filter(|d| d.trained.diverged_at.is_some())
        .count();
    let mut name = line_name(&o.config);
    if diverged > 0 {
        let _ = write!(name, ", {diverged}/{} diverged", o.draws.len());
    }
    median_band(name, &lines)
}

/// Standard deviation of `v` (0 for none).
fn std_of(v: &[f64]) -> f64 {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Glorot & Bengio (2010), figures 6 and 7: the per-layer histograms of a
/// fresh 5-layer tanh network's activations and back-propagated gradients
/// (∂L/∂h, 256 training digits), under the "standard" U(±1/√n) init and
/// the normalised (Xavier) one. Writes four charts and returns the
/// per-layer table for the summary.
fn write_glorot(
    train_set: &Dataset<f32>,
    s: &Settings,
) -> Result<(Vec<PathBuf>, String), Box<dyn std::error::Error>> {
    let schemes = [Scheme::Standard, Scheme::Xavier];
    let values: Vec<Vec<LayerValues>> = schemes
        .iter()
        .map(|&scheme| {
            let config = MlpConfig {
                depth: 5,
                width: s.width,
                activation: Activation::Tanh,
                scheme,
                cure: Cure::Plain,
            };
            layer_values(&config, train_set, 256, config_seed(s.seed, &config, 0))
        })
        .collect();
    // One gradient range for both charts, so their widths compare: the 99th
    // percentile of |∂L/∂h| over every layer of both.
    let mut all: Vec<f64> = values
        .iter()
        .flatten()
        .flat_map(|l| l.gradients.iter().map(|g| g.abs()))
        .collect();
    all.sort_by(f64::total_cmp);
    let g_max = all
        .get(all.len() * 99 / 100)
        .copied()
        .unwrap_or(1.0)
        .max(1e-30);
    let mut written = Vec::new();
    let mut md = String::from(
        "| layer | standard: act std | xavier: act std | standard: grad std | xavier: grad std |\n|---|---|---|---|---|\n",
    );
    for (i, name) in values[0].iter().map(|l| l.name.clone()).enumerate() {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            sig3(std_of(&values[0][i].activations)),
            sig3(std_of(&values[1][i].activations)),
            sig3(std_of(&values[0][i].gradients)),
            sig3(std_of(&values[1][i].gradients)),
        );
    }
    for (scheme, layers) in schemes.iter().zip(&values) {
        let what = match scheme {
            Scheme::Standard => "standard init U(±1/√n)",
            _ => "normalised (Xavier) init",
        };
        let activations: fn(&LayerValues) -> &[f64] = |l| &l.activations;
        let gradients: fn(&LayerValues) -> &[f64] = |l| &l.gradients;
        for (file, label, range, values_of) in [
            ("act", "activation value", 1.0, activations),
            ("grad", "back-propagated gradient ∂L/∂h", g_max, gradients),
        ] {
            let series = layers
                .iter()
                .map(|l| {
                    let v = values_of(l);
                    Series::new(
                        format!("layer {}", &l.name[1..]),
                        histogram(v, -range, range, 41),
                    )
                })
                .collect();
            let chart = LineChart {
                title: format!(
                    "{label} histograms at init: tanh, 5 layers of {}, {what}",
                    s.width
                ),
                x_label: label.into(),
                y_label: "density".into(),
                log_y: false,
                y_max: None,
                series,
            };
            let path = s.out.join(format!("glorot_{file}_{scheme}.svg"));
            chart.write_svg(&path, (860, 440))?;
            written.push(path);
        }
    }
    Ok((written, md))
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
    glorot: &str,
    s: &Settings,
    seconds: f64,
) -> std::io::Result<()> {
    let mut md = String::new();
    let b = &s.budget();
    let _ = writeln!(
        md,
        "# Initialisation study (digits, width {}, {} seeds per configuration, base seed {})\n",
        s.width, s.seeds, s.seed
    );
    let _ = writeln!(
        md,
        "Inputs standardised with the train split's statistics. Training budget for every configuration: \
         {} SGD steps, batch {}, lr {}, momentum {}, gradient norm clipped at {}. Run time {seconds:.0} s.\n",
        b.steps, b.batch_size, b.lr, b.momentum, b.clip.map_or("none".to_string(), |c| c.to_string())
    );
    let _ = writeln!(md, "{DEFINITIONS}");
    let _ = writeln!(md, "| {} |", HEADER.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(HEADER.len()));
    for o in outcomes {
        let _ = writeln!(md, "| {} |", summary_row(o).join(" | "));
    }
    let _ = writeln!(
        md,
        "\n## Glorot & Bengio (2010), figures 6 and 7\n\n\
         A fresh tanh network of 5 hidden layers of {}, on 256 training digits: the standard \
         deviation of each layer's outputs and of the gradient of the loss with respect to them, \
         under the standard U(±1/√n) and the normalised (Xavier) initialisation. The histograms \
         are `glorot_act_*.svg` and `glorot_grad_*.svg`.\n\n{glorot}",
        s.width
    );
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
    let jobs: Vec<(usize, MlpConfig, u64)> = configs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| (0..s.seeds).map(move |k| (i, *c, config_seed(s.seed, c, k))))
        .collect();
    println!(
        "{} configurations x {} seeds, {} train / {} test digits",
        configs.len(),
        s.seeds,
        train_set.len(),
        test_set.len()
    );
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} runs  {msg}",
    )?);
    let draws: Vec<(usize, Draw)> = jobs
        .par_iter()
        .map(|&(i, c, seed)| {
            let d = run_one(c, seed, &train_set, &test_set, s);
            bar.set_message(format!("{c}: {:.1}%", 100.0 * d.trained.test_accuracy));
            bar.inc(1);
            (i, d)
        })
        .collect();
    bar.finish_and_clear();
    let mut outcomes: Vec<Outcome> = configs
        .iter()
        .map(|&config| Outcome {
            config,
            draws: Vec::with_capacity(s.seeds),
        })
        .collect();
    for (i, d) in draws {
        outcomes[i].draws.push(d);
    }
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
            "\nGradient flow at initialisation, {} (first seed):\n{}",
            deep.config, deep.draws[0].at_init
        );
    }
    let rows: Vec<Vec<String>> = outcomes.iter().map(summary_row).collect();
    println!("{}", render_table(&HEADER, &rows));
    let mut charts = write_charts(&outcomes, s)?;
    let (glorot_charts, glorot) = write_glorot(&train_set, s)?;
    charts.extend(glorot_charts);
    println!("Glorot & Bengio (2010), figures 6 and 7, as numbers:\n\n{glorot}");
    let summary = s.out.join("summary.md");
    write_summary(&summary, &outcomes, &glorot, s, seconds)
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
        assert_eq!(s.schemes.len(), 7);
        assert_eq!(s.seeds, 5);
        let budget = Budget {
            steps: STEPS,
            ..Budget::default()
        };
        assert_eq!(s.budget(), budget);
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
                &["--seeds", "0"],
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

    #[test]
    fn median_band_follows_the_lines_that_reach_each_step() {
        // Three seeds; the third diverged after its first point.
        let lines = vec![
            vec![(10.0, 2.0), (20.0, 1.0)],
            vec![(10.0, 3.0), (20.0, 0.5)],
            vec![(10.0, 9.0)],
        ];
        let s = median_band("he".into(), &lines);
        assert_eq!(s.points, vec![(10.0, 3.0), (20.0, 0.75)]);
        assert_eq!(s.band, vec![(10.0, 2.0, 9.0), (20.0, 0.5, 1.0)]);
    }

    #[test]
    fn a_study_of_zero_steps_writes_its_summary_and_charts_without_loss_curves() {
        // A regression: with nothing trained the loss chart had no point to
        // draw and the whole study failed.
        let out = std::env::temp_dir().join(format!("init_study_zero_{}", std::process::id()));
        let out_flag = out.to_str().unwrap();
        let s = parse(&[
            "--steps",
            "0",
            "--depths",
            "2",
            "--width",
            "8",
            "--seeds",
            "2",
            "--activations",
            "tanh",
            "--inits",
            "xavier,lsuv",
            "--out",
            out_flag,
        ])
        .unwrap();
        run(&s).unwrap();
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(summary.contains("| lsuv+tanh d2 w8 |"), "{summary}");
        assert!(out.join("grad_rms_tanh_d2.svg").exists());
        assert!(out.join("glorot_grad_standard.svg").exists());
        assert!(!out.join("loss_tanh_d2.svg").exists());
        std::fs::remove_dir_all(&out).unwrap();
    }
}
