//! The order-to-chaos phase diagram of deep tanh MLPs on the bundled digits,
//! beside the mean-field theory of `tapegrad::nn::theory` (Schoenholz et al.
//! 2017, "Deep Information Propagation").
//!
//! Weights `N(0, σ_w²/fan_in)`, biases `N(0, σ_b²)` with a fixed σ_b². Over a
//! grid of σ_w² and depth it
//! 1. trains each network with plain SGD for a fixed budget and measures its
//!    held-out accuracy (median over seeds): `<out>/accuracy.svg`, a heatmap
//!    with the theory's trainable-depth curve `6 ξ_c(σ_w²)` over it and the
//!    critical σ_w² (χ₁ = 1) as a vertical line;
//! 2. measures the per-layer gradient growth at init, the mean over hidden
//!    layers of `ln(‖∂L/∂h_l‖² / ‖∂L/∂h_{l+1}‖²)` from one backward pass on a
//!    batch, against the theory's `ln χ₁`: `<out>/gradient_growth.svg`;
//! 3. prints the accuracy table and writes it to `<out>/summary.md`.
//!
//! Run: `cargo run --release --example phase_diagram` (`--quick` for a small
//! grid, `--help` for the flags).

mod common;

use clap::Parser;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::prelude::*;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::autodiff::Tape;
use tapegrad::nn::data::{load_bundled_digits, Batches, Dataset};
use tapegrad::nn::diagnostics::{render_table, FlowProbe};
use tapegrad::nn::init;
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{Optimizer, ParamGrads, SGD};
use tapegrad::nn::study::{accuracy, forward_tapped, standardize};
use tapegrad::nn::theory::{Activation, MeanField, Variances};
use tapegrad::nn::{Linear, Module, Sequential, Tanh};

/// Trainability of deep tanh MLPs over (σ_w², depth), against mean-field theory.
#[derive(Parser, Debug)]
#[command(name = "phase_diagram")]
struct Settings {
    /// Weight variances σ_w² (times 1/fan_in), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,1.25,1.5,1.75,2,2.5,3,3.5,4", value_parser = common::positive)]
    weight_vars: Vec<f64>,
    /// Numbers of hidden layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,60,80,100", value_parser = common::at_least_one)]
    depths: Vec<usize>,
    /// Bias variance σ_b².
    #[arg(long, default_value_t = 0.05, value_parser = common::non_negative)]
    bias_var: f64,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64, value_parser = common::at_least_one)]
    width: usize,
    /// Plain SGD steps per network.
    #[arg(long, default_value_t = 800, value_parser = common::at_least_one)]
    steps: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 64, value_parser = common::at_least_one)]
    batch: usize,
    /// SGD learning rate (no momentum, no clipping).
    #[arg(long, default_value_t = 0.03, value_parser = common::positive)]
    lr: f64,
    /// Seeds per configuration (the median accuracy is reported).
    #[arg(long, default_value_t = 1, value_parser = common::at_least_one)]
    seeds: usize,
    /// First seed (of the split, the initialisations and the shuffling).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A small grid and budget (σ_w² 1,1.5,2,3,4; depths 10,40,80; at most 200 steps).
    #[arg(long)]
    quick: bool,
    /// Directory for the charts and summary.md.
    #[arg(long, default_value = "phase_diagram")]
    out: PathBuf,
}

impl Settings {
    /// The settings with `--quick` applied.
    fn resolved(mut self) -> Self {
        if self.quick {
            self.weight_vars = vec![1.0, 1.5, 2.0, 3.0, 4.0];
            self.depths = vec![10, 40, 80];
            self.steps = self.steps.min(200);
        }
        self
    }
}

/// A depth-`depth` tanh MLP, `inputs -> [width]·depth -> classes`, as blocks
/// `Sequential[Linear, Tanh]` and an output `Linear`, every weight drawn
/// from `N(0, σ_w²/fan_in)` and every bias from `N(0, σ_b²)`.
fn tanh_mlp(
    inputs: usize,
    width: usize,
    depth: usize,
    classes: usize,
    v: Variances,
    rng: &mut StdRng,
) -> Sequential<f32> {
    let layer = |fan_in: usize, out: usize, rng: &mut StdRng| {
        let w = init::normal(&[out, fan_in], 0.0, (v.weight / fan_in as f64).sqrt(), rng);
        let b = init::normal(&[out], 0.0, v.bias.sqrt(), rng);
        Linear::from_tensors(w, Some(b))
    };
    let mut model = Sequential::new();
    let mut fan_in = inputs;
    for _ in 0..depth {
        model.push(Sequential::new().add(layer(fan_in, width, rng)).add(Tanh));
        fan_in = width;
    }
    model.push(layer(fan_in, classes, rng));
    model
}

/// One (σ_w², depth, seed) network.
#[derive(Clone, Copy, Debug)]
struct Cell {
    weight_var: f64,
    depth: usize,
    seed: u64,
}

/// Trains `cell`'s network with plain SGD for `s.steps` steps and returns
/// its test accuracy (chance, 1/classes, if the loss stops being finite).
fn train_cell(cell: Cell, train: &Dataset<f32>, test: &Dataset<f32>, s: &Settings) -> f64 {
    let mut rng = StdRng::seed_from_u64(cell.seed);
    let v = Variances::new(cell.weight_var, s.bias_var);
    let mut model = tanh_mlp(
        train.sample_shape().iter().product(),
        s.width,
        cell.depth,
        train.num_classes(),
        v,
        &mut rng,
    );
    let mut opt = SGD::new(s.lr);
    let features = train.features();
    let mut tape = Tape::new();
    let mut steps = 0;
    while steps < s.steps {
        for (x, y) in Batches::new(&features, train.labels(), s.batch, true, &mut rng) {
            let loss = cross_entropy(model.forward(tape.constant(x)), &y);
            if !loss.item().is_finite() {
                return 1.0 / train.num_classes() as f64;
            }
            let grads = loss.backward();
            let g = ParamGrads::collect(&model, &grads);
            opt.step(&mut model, &g);
            drop(grads);
            tape.clear();
            steps += 1;
            if steps == s.steps {
                break;
            }
        }
    }
    let acc = accuracy(&model, test);
    if acc.is_finite() {
        acc
    } else {
        0.0
    }
}

/// Mean over hidden layers of `ln(‖∂L/∂h_l‖² / ‖∂L/∂h_{l+1}‖²)` (`h_l` the
/// output of hidden block `l`) for a fresh depth-`depth` network, from one
/// backward pass of the cross-entropy on the first `batch` samples of `data`.
/// The mean-field prediction is `ln χ₁`.
fn gradient_growth(
    weight_var: f64,
    depth: usize,
    data: &Dataset<f32>,
    batch: usize,
    s: &Settings,
    seed: u64,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let v = Variances::new(weight_var, s.bias_var);
    let model = tanh_mlp(
        data.sample_shape().iter().product(),
        s.width,
        depth,
        data.num_classes(),
        v,
        &mut rng,
    );
    let n = batch.min(data.len());
    let x = data.features().narrow(0, 0, n);
    let tape = Tape::new();
    let probe = FlowProbe::new();
    let logits = forward_tapped(&model, tape.constant(x), &probe);
    let _grads = cross_entropy(logits, &data.labels()[..n]).backward();
    let taps = probe.taps();
    let sq: Vec<f64> = taps[..depth]
        .iter()
        .map(|t| {
            let g = t.grad.borrow();
            g.as_ref()
                .map_or(0.0, |g| g.to_f64_vec().iter().map(|x| x * x).sum())
        })
        .collect();
    let logs: Vec<f64> = sq.windows(2).map(|w| (w[0] / w[1]).ln()).collect();
    logs.iter().sum::<f64>() / logs.len().max(1) as f64
}

/// The theory at one σ_w²: χ₁ and the trainable depth `6 ξ_c` (infinite on
/// the critical line, and NaN where no fixed point is found).
fn theory(mf: &MeanField, weight_var: f64, bias_var: f64) -> (f64, f64) {
    match mf.fixed_point(Variances::new(weight_var, bias_var)) {
        Ok(fp) => (fp.chi_1, 6.0 * fp.xi_c),
        Err(_) => (f64::NAN, f64::NAN),
    }
}

/// Median of `v` (NaN for an empty `v`).
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Median test accuracy at `[σ_w² index][depth index]`.
fn accuracy_grid(train: &Dataset<f32>, test: &Dataset<f32>, s: &Settings) -> Vec<Vec<f64>> {
    let mut cells = Vec::new();
    for &weight_var in &s.weight_vars {
        for &depth in &s.depths {
            for k in 0..s.seeds as u64 {
                cells.push(Cell {
                    weight_var,
                    depth,
                    seed: s.seed + k,
                });
            }
        }
    }
    let acc: Vec<f64> = cells
        .par_iter()
        .map(|&c| train_cell(c, train, test, s))
        .collect();
    let per_config: Vec<f64> = acc.chunks(s.seeds).map(|c| median(c.to_vec())).collect();
    per_config
        .chunks(s.depths.len())
        .map(|r| r.to_vec())
        .collect()
}

/// Accuracy at or above which a network counts as trained (chance is 0.1).
const TRAINED: f64 = 0.5;

/// The deepest grid depth that trains (accuracy >= [`TRAINED`]) with all
/// shallower grid depths training too, per σ_w² (None: not even the shallowest).
fn trainable_depth(acc: &[Vec<f64>], depths: &[usize]) -> Vec<Option<usize>> {
    acc.iter()
        .map(|row| {
            row.iter()
                .zip(depths)
                .take_while(|(a, _)| **a >= TRAINED)
                .last()
                .map(|(_, &d)| d)
        })
        .collect()
}

/// A colour for `t` in [0, 1] on a viridis-like ramp (dark purple to yellow).
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Cell edges around sorted grid values: midpoints, and half a gap outside.
fn edges(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 1 {
        return vec![values[0] * 0.8, values[0] * 1.2];
    }
    let mut e = vec![values[0] - 0.5 * (values[1] - values[0])];
    e.extend(values.windows(2).map(|w| 0.5 * (w[0] + w[1])));
    e.push(values[n - 1] + 0.5 * (values[n - 1] - values[n - 2]));
    e
}

/// The theory on a fine grid of σ_w² over `[lo, hi]`: `(σ_w², χ₁, 6 ξ_c)`.
/// Each fixed point costs tens of milliseconds, so this is computed once,
/// in parallel, and shared by both charts.
fn theory_curve(mf: &MeanField, lo: f64, hi: f64, bias_var: f64) -> Vec<(f64, f64, f64)> {
    const POINTS: usize = 160;
    (0..=POINTS)
        .into_par_iter()
        .map(|i| lo + (hi - lo) * i as f64 / POINTS as f64)
        .map(|w| {
            let (chi, depth) = theory(mf, w, bias_var);
            (w, chi, depth)
        })
        .collect()
}

/// The heatmap of accuracy over (σ_w², depth), 6 ξ_c and the critical σ_w².
fn draw_accuracy(
    acc: &[Vec<f64>],
    s: &Settings,
    curve: &[(f64, f64, f64)],
    critical: Option<f64>,
    path: &Path,
) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(820);
    let xe = edges(&s.weight_vars);
    let depths: Vec<f64> = s.depths.iter().map(|&d| d as f64).collect();
    let ye = edges(&depths);
    let (x0, x1) = (xe[0], xe[xe.len() - 1]);
    let (y0, y1) = (ye[0].max(0.0), ye[ye.len() - 1]);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!(
                "Test accuracy after {} SGD steps: tanh, width {}, σ_b² = {}",
                s.steps, s.width, s.bias_var
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("weight variance σ_w²")
        .y_desc("depth (hidden layers)")
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (i, row) in acc.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            let colour = ramp(a);
            chart.draw_series([Rectangle::new(
                [(xe[i], ye[j].max(y0)), (xe[i + 1], ye[j + 1])],
                colour.filled(),
            )])?;
        }
    }
    // 6 ξ_c, clamped to the top edge where it leaves the chart.
    let pts: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| !p.2.is_nan())
        .map(|&(x, _, y)| (x, y.min(y1)))
        .collect();
    // A white halo under the red line keeps it readable on every colour.
    chart.draw_series(LineSeries::new(pts.clone(), WHITE.stroke_width(6)))?;
    chart.draw_series(LineSeries::new(pts, RGBColor(214, 39, 40).stroke_width(3)))?;
    if let Some(c) = critical.filter(|c| (x0..x1).contains(c)) {
        chart.draw_series(DashedLineSeries::new(
            [(c, y0), (c, y1)],
            8,
            5,
            BLACK.stroke_width(2),
        ))?;
    }
    // The numbers last, each on a patch of its cell's colour, over the
    // lines, so no line runs through a number.
    for (i, row) in acc.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            let ink = if a > 0.6 { BLACK } else { WHITE };
            let label = EmptyElement::at((s.weight_vars[i], depths[j]))
                + Rectangle::new([(-13, -9), (13, 9)], ramp(a).filled())
                + Text::new(
                    format!("{:.0}", 100.0 * a),
                    (0, 0),
                    ("sans-serif", 14)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                );
            chart.draw_series([label])?;
        }
    }
    draw_side_legend(&side, critical)?;
    root.present()?;
    Ok(())
}

/// The colour bar and the key of the lines, beside the heatmap.
fn draw_side_legend(
    side: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    critical: Option<f64>,
) -> Result<(), Box<dyn Error>> {
    let font = ("sans-serif", 14).into_font();
    side.draw(&Text::new("test accuracy (%)", (10, 60), font.clone()))?;
    let (top, bottom) = (85, 325);
    for k in 0..(bottom - top) {
        let t = 1.0 - k as f64 / (bottom - top) as f64;
        side.draw(&Rectangle::new(
            [(20, top + k), (50, top + k + 1)],
            ramp(t).filled(),
        ))?;
    }
    for pct in [0, 25, 50, 75, 100] {
        let y = bottom - (bottom - top) * pct / 100;
        side.draw(&Text::new(format!("{pct}"), (58, y - 7), font.clone()))?;
    }
    side.draw(&PathElement::new(
        [(10, 380), (45, 380)],
        RGBColor(214, 39, 40).stroke_width(3),
    ))?;
    side.draw(&Text::new("6 ξ_c (theory)", (52, 364), font.clone()))?;
    side.draw(&Text::new("(flat: off the top)", (52, 382), font.clone()))?;
    side.draw(&PathElement::new(
        [(10, 420), (45, 420)],
        BLACK.stroke_width(2),
    ))?;
    let label = critical.map_or("χ₁ = 1: none".to_string(), |c| {
        format!("χ₁ = 1: σ_w² = {c:.2}")
    });
    side.draw(&Text::new(label, (52, 412), font.clone()))?;
    side.draw(&Text::new("(dashed)", (52, 430), font))?;
    Ok(())
}

/// Measured per-layer gradient growth against ln χ₁.
fn draw_growth(
    measured: &[(f64, Vec<f64>)],
    s: &Settings,
    depth: usize,
    curve: &[(f64, f64, f64)],
    critical: Option<f64>,
    path: &Path,
) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let xe = edges(&s.weight_vars);
    let (x0, x1) = (xe[0].max(0.05), xe[xe.len() - 1]);
    let theory_pts: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(x, chi, _)| (x, chi.ln()))
        .collect();
    let all = measured
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .chain(theory_pts.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let pad = 0.1 * (hi - lo).max(0.1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Gradient growth per layer at init: tanh, depth {depth}, width {}, σ_b² = {}",
                s.width, s.bias_var
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("weight variance σ_w²")
        .y_desc("mean over layers of ln(‖∂L/∂h_l‖² / ‖∂L/∂h_{l+1}‖²)")
        .x_label_formatter(&|v| format!("{v:.1}"))
        // A tick at -1e-17 would read "-0.00".
        .y_label_formatter(&|v| format!("{:.2}", if v.abs() < 1e-9 { 0.0 } else { *v }))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(LineSeries::new(
            theory_pts,
            RGBColor(214, 39, 40).stroke_width(3),
        ))?
        .label("theory: ln χ₁")
        .legend(|(x, y)| {
            PathElement::new([(x, y), (x + 25, y)], RGBColor(214, 39, 40).stroke_width(3))
        });
    chart
        .draw_series(measured.iter().flat_map(|(w, v)| {
            v.iter()
                .map(move |&g| Circle::new((*w, g), 5, blue.filled()))
        }))?
        .label(format!("measured ({} seed(s) each)", s.seeds))
        .legend(move |(x, y)| Circle::new((x + 12, y), 5, blue.filled()));
    chart
        .draw_series(DashedLineSeries::new(
            [(x0, 0.0), (x1, 0.0)],
            6,
            4,
            BLACK.stroke_width(1),
        ))?
        .label("χ₁ = 1 (no growth)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 25, y)], BLACK.stroke_width(1)));
    if let Some(c) = critical.filter(|c| (x0..x1).contains(c)) {
        chart
            .draw_series(DashedLineSeries::new(
                [(c, lo - pad), (c, hi + pad)],
                8,
                5,
                BLACK.stroke_width(2),
            ))?
            .label(format!("critical σ_w² = {c:.2}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 25, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The accuracy table: one row per σ_w², with χ₁, 6 ξ_c and the measured
/// trainable depth beside the accuracies (percent) per depth.
fn table(acc: &[Vec<f64>], s: &Settings, mf: &MeanField) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["σ_w²".to_string(), "χ₁".into(), "6 ξ_c".into()];
    header.extend(s.depths.iter().map(|d| format!("depth {d}")));
    header.push(format!("trains (≥ {:.0}%) to", 100.0 * TRAINED));
    let reach = trainable_depth(acc, &s.depths);
    let rows = s
        .weight_vars
        .iter()
        .zip(acc)
        .zip(&reach)
        .map(|((&w, row), r)| {
            let (chi, depth) = theory(mf, w, s.bias_var);
            let mut cells = vec![format!("{w}"), format!("{chi:.3}"), fmt_depth(depth)];
            cells.extend(row.iter().map(|a| format!("{:.1}", 100.0 * a)));
            cells.push(r.map_or("-".into(), |d| d.to_string()));
            cells
        })
        .collect();
    (header, rows)
}

fn fmt_depth(d: f64) -> String {
    if d.is_finite() {
        format!("{d:.1}")
    } else {
        "∞".into()
    }
}

/// One line: where the measured boundary falls against 6 ξ_c.
fn reading(acc: &[Vec<f64>], s: &Settings, mf: &MeanField) -> String {
    let reach = trainable_depth(acc, &s.depths);
    let (mut inside, mut beyond, mut short) = (0, 0, 0);
    for (&w, r) in s.weight_vars.iter().zip(&reach) {
        let bound = theory(mf, w, s.bias_var).1;
        let d = r.unwrap_or(0) as f64;
        let next = s.depths.iter().map(|&d| d as f64).find(|&x| x > d);
        if d > bound {
            beyond += 1;
        } else if next.is_some_and(|n| n <= bound) {
            short += 1;
        } else {
            inside += 1;
        }
    }
    format!(
        "measured boundary vs 6 ξ_c over {} σ_w²: {inside} agree (to the grid), \
         {short} stop short of 6 ξ_c, {beyond} train beyond it (accuracy ≥ {:.0}% counts as trained)",
        s.weight_vars.len(),
        100.0 * TRAINED
    )
}

fn write_summary(
    path: &Path,
    (header, rows): (&[String], &[Vec<String>]),
    line: &str,
    s: &Settings,
    growth: &[(f64, Vec<f64>)],
    critical: Option<f64>,
    seconds: f64,
) -> std::io::Result<()> {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Phase diagram: tanh MLPs on the digits (width {}, σ_b² = {})\n",
        s.width, s.bias_var
    );
    let _ = writeln!(
        md,
        "Weights N(0, σ_w²/fan_in), biases N(0, σ_b²); inputs standardised with the train split's statistics. \
         Plain SGD, {} steps, batch {}, lr {}, no momentum or clipping; median test accuracy (%) over {} seed(s) \
         from seed {}. Critical σ_w² (χ₁ = 1): {}. Run time {seconds:.0} s.\n",
        s.steps,
        s.batch,
        s.lr,
        s.seeds,
        s.seed,
        critical.map_or("none".into(), |c| format!("{c:.3}"))
    );
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    let _ = writeln!(md, "\n{line}.\n");
    let _ = writeln!(
        md,
        "Gradient growth at init (mean over hidden layers of ln(‖∂L/∂h_l‖² / ‖∂L/∂h_{{l+1}}‖²), depth {}, \
         batch 256) against ln χ₁:\n",
        growth_depth(s)
    );
    let _ = writeln!(
        md,
        "| σ_w² | ln χ₁ (theory) | measured (median) |\n|---|---|---|"
    );
    let mf = MeanField::new(Activation::Tanh);
    for (w, v) in growth {
        let _ = writeln!(
            md,
            "| {w} | {:.3} | {:.3} |",
            theory(&mf, *w, s.bias_var).0.ln(),
            median(v.clone())
        );
    }
    std::fs::write(path, md)
}

/// The depth whose gradients are measured: the deepest of the grid.
fn growth_depth(s: &Settings) -> usize {
    *s.depths.iter().max().expect("at least one depth")
}

fn main() -> ExitCode {
    let s = Settings::parse().resolved();
    common::exit("phase_diagram", run(&s))
}

/// The whole diagram for settings `s`.
fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    common::writable_dir(&s.out)?;
    let start = Instant::now();
    let data = load_bundled_digits::<f32>()?;
    let (train_set, test_set) = data.stratified_split(0.25, s.seed);
    let (train_set, test_set) = standardize(&train_set, &test_set);
    let mf = MeanField::new(Activation::Tanh);
    let critical = mf.critical_weight_variance(s.bias_var);
    println!(
        "{} σ_w² x {} depths x {} seed(s), {} train / {} test digits",
        s.weight_vars.len(),
        s.depths.len(),
        s.seeds,
        train_set.len(),
        test_set.len()
    );
    let acc = accuracy_grid(&train_set, &test_set, s);
    let depth = growth_depth(s);
    let growth: Vec<(f64, Vec<f64>)> = s
        .weight_vars
        .par_iter()
        .map(|&w| {
            let per_seed = (0..s.seeds as u64)
                .map(|k| gradient_growth(w, depth, &train_set, 256, s, s.seed + k))
                .collect();
            (w, per_seed)
        })
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    let (header, rows) = table(&acc, s, &mf);
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    println!("{}", render_table(&header_refs, &rows));
    println!(
        "critical σ_w² (χ₁ = 1) at σ_b² = {}: {}",
        s.bias_var,
        critical.map_or("none".into(), |c| format!("{c:.3}"))
    );
    let line = reading(&acc, s, &mf);
    println!("{line}");
    let xe = edges(&s.weight_vars);
    let curve = theory_curve(&mf, xe[0].max(0.05), xe[xe.len() - 1], s.bias_var);
    let svg = s.out.join("accuracy.svg");
    draw_accuracy(&acc, s, &curve, critical, &svg)
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    let svg2 = s.out.join("gradient_growth.svg");
    draw_growth(&growth, s, depth, &curve, critical, &svg2)
        .map_err(|e| format!("{}: {e}", svg2.display()))?;
    let summary = s.out.join("summary.md");
    write_summary(
        &summary,
        (&header, &rows),
        &line,
        s,
        &growth,
        critical,
        seconds,
    )
    .map_err(|e| format!("cannot write {}: {e}", summary.display()))?;
    println!(
        "wrote {}, {} and {} in {seconds:.1} s",
        svg.display(),
        svg2.display(),
        summary.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        Settings::try_parse_from(std::iter::once("phase_diagram").chain(args.iter().copied()))
            .map(Settings::resolved)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.depths, [10, 20, 40, 60, 80, 100]);
        assert_eq!(s.weight_vars.len(), 9);
        assert_eq!((s.width, s.seeds, s.bias_var), (64, 1, 0.05));
        let q = parse(&["--quick"]).unwrap();
        assert!(q.depths.len() < s.depths.len() && q.steps < s.steps);
        common::assert_flags_checked::<Settings>(
            "phase_diagram",
            &[
                &["--step", "10"][..],
                &["--lr"],
                &["--lr", "inf"],
                &["--lr", "-1"],
                &["--depths", ""],
                &["--depths", "5,,10"],
                &["--depths", "0"],
                &["--weight-vars", "0"],
                &["--weight-vars", "1,NaN"],
                &["--bias-var", "-0.1"],
                &["--seeds", "0"],
                &["--width", "x"],
            ],
            &["--weight-vars"],
        );
    }

    #[test]
    fn an_unwritable_out_is_refused_before_any_training() {
        let s = parse(&["--out", "/proc/x/y"]).unwrap();
        let err = run(&s).unwrap_err().to_string();
        assert!(err.contains("/proc/x/y"), "{err}");
    }

    #[test]
    fn six_xi_c_is_finite_off_the_critical_point_and_grows_near_it() {
        // ξ_c = -1/ln χ_c diverges where χ_c = χ₁ = 1 (ordered side) and
        // where the chaotic fixed point c* leaves 1; so 6 ξ_c must be finite
        // and modest far from the critical σ_w² and increase towards it
        // from either side.
        let mf = MeanField::new(Activation::Tanh);
        let b = 0.05;
        let c = mf.critical_weight_variance(b).unwrap();
        assert!(1.0 < c && c < 2.0, "{c}");
        for far in [0.5, 4.0] {
            let d = theory(&mf, far, b).1;
            assert!(d.is_finite() && d > 0.0 && d < 100.0, "6 ξ_c({far}) = {d}");
        }
        let below = [c - 0.5, c - 0.1, c - 0.01].map(|w| theory(&mf, w, b).1);
        let above = [c + 1.0, c + 0.3, c + 0.05].map(|w| theory(&mf, w, b).1);
        for side in [below, above] {
            assert!(side[0] < side[1] && side[1] < side[2], "{side:?}");
        }
        assert!(below[2] > 100.0 && above[2] > 100.0, "{below:?} {above:?}");
    }

    #[test]
    fn a_tiny_grid_gives_accuracies_in_the_unit_interval() {
        let dir = std::env::temp_dir().join(format!("phase_diagram_test_{}", std::process::id()));
        let s = parse(&[
            "--weight-vars",
            "1,3",
            "--depths",
            "3",
            "--steps",
            "5",
            "--width",
            "16",
            "--out",
            dir.to_str().unwrap(),
        ])
        .unwrap();
        let data = load_bundled_digits::<f32>().unwrap();
        let (train, test) = data.stratified_split(0.25, 0);
        let (train, test) = standardize(&train, &test);
        let acc = accuracy_grid(&train, &test, &s);
        assert_eq!((acc.len(), acc[0].len()), (2, 1));
        for a in acc.iter().flatten() {
            assert!(a.is_finite() && (0.0..=1.0).contains(a), "{a}");
        }
        let g = gradient_growth(3.0, 3, &train, 32, &s, 0);
        assert!(g.is_finite(), "{g}");
        run(&s).unwrap();
        for f in ["accuracy.svg", "gradient_growth.svg", "summary.md"] {
            assert!(dir.join(f).exists(), "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
