//! Trains a small CNN on the bundled 8x8 handwritten digits with Adam and
//! reports held-out accuracy and the time per epoch.
//!
//! Model (PyTorch's default initialisation throughout):
//!
//! ```text
//! [N, 1, 8, 8]
//!   Conv2d(1 -> 16, 3x3, padding 1)  ReLU   -> [N, 16, 8, 8]
//!   Conv2d(16 -> 32, 3x3, padding 1) ReLU   -> [N, 32, 8, 8]
//!   MaxPool2d(2)                            -> [N, 32, 4, 4]
//!   Flatten, Linear(512 -> 10)              -> logits [N, 10]
//! ```
//!
//! The split is the stratified 80/20 one of `train_digits` (split seed 0),
//! so the two examples are scored on the same 359 test images.
//!
//! Run: `cargo run --release --example cnn_digits -- --help` for the flags
//! and their defaults. A run whose loss stops being finite exits non-zero.

mod common;

use clap::Parser;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::autodiff::Tape;
use tapegrad::nn::conv::{Conv2d, Conv2dConfig, MaxPool2d};
use tapegrad::nn::data::{load_bundled_digits, Batches, Dataset, DIGITS_CLASSES};
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{Adam, Optimizer};
use tapegrad::nn::{Flatten, Linear, Module, ReLU, Sequential};

/// Fraction of the data held out for testing (stratified by class).
const TEST_FRACTION: f64 = 0.2;
/// Seed of the train/test split, fixed so every run is scored on the same images.
const SPLIT_SEED: u64 = 0;

/// Trains a small CNN on the bundled 8x8 digits with Adam.
#[derive(Parser, Debug)]
#[command(name = "cnn_digits")]
struct Settings {
    /// Seed of the initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 20, value_parser = common::at_least_one)]
    epochs: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 2e-3, value_parser = common::positive)]
    lr: f64,
    /// Samples per step.
    #[arg(long, default_value_t = 32, value_parser = common::at_least_one)]
    batch_size: usize,
}

/// conv 1->16, ReLU, conv 16->32, ReLU, maxpool 2, flatten, linear 512->10.
fn build_cnn(rng: &mut StdRng) -> Sequential<f32> {
    let conv3 = Conv2dConfig::new(3).padding(1);
    Sequential::new()
        .add(Conv2d::with_config(1, 16, conv3, rng))
        .add(ReLU)
        .add(Conv2d::with_config(16, 32, conv3, rng))
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Linear::new(32 * 4 * 4, DIGITS_CLASSES, rng))
}

/// One epoch of shuffled mini-batches; returns the mean training loss, or
/// an error at the first step whose loss is not finite.
fn train_epoch(
    model: &mut Sequential<f32>,
    opt: &mut Adam<f32>,
    train: &Dataset<f32>,
    s: &Settings,
    rng: &mut StdRng,
    bar: &ProgressBar,
) -> Result<f64, String> {
    let (mut total, mut count) = (0.0, 0);
    let batches = Batches::new(&train.images(), train.labels(), s.batch_size, true, rng);
    for (step, (x, labels)) in batches.enumerate() {
        let tape = Tape::new();
        let loss = cross_entropy(model.forward(tape.constant(x)), &labels);
        common::finite_loss(loss.item(), &format!("step {} of the epoch", step + 1))?;
        let grads = loss.backward();
        opt.step(model, &grads);
        total += loss.item() * labels.len() as f64;
        count += labels.len();
        bar.set_message(format!("loss {:.4}", loss.item()));
        bar.inc(1);
    }
    Ok(total / count as f64)
}

/// Fraction of `data` the model classifies correctly.
fn accuracy(model: &Sequential<f32>, data: &Dataset<f32>) -> f64 {
    let tape = Tape::new();
    let logits = model.forward(tape.constant(data.images())).value();
    tapegrad::nn::metrics::accuracy(&logits, data.labels())
}

fn main() -> ExitCode {
    let s = Settings::parse();
    common::exit("cnn_digits", run(&s))
}

/// The whole example for settings `s`.
fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    let digits = load_bundled_digits::<f32>()?;
    let (train_set, test_set) = digits.stratified_split(TEST_FRACTION, SPLIT_SEED);
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut model = build_cnn(&mut rng);
    println!(
        "digits: {} train / {} test images {:?}; {}; {} parameters",
        train_set.len(),
        test_set.len(),
        train_set.sample_shape(),
        model.describe(),
        model.num_parameters()
    );
    println!(
        "Adam lr {}, batch {}, {} epochs, seed {}, {} rayon threads\n",
        s.lr,
        s.batch_size,
        s.epochs,
        s.seed,
        rayon::current_num_threads()
    );
    let mut opt = Adam::new(s.lr);
    let steps_per_epoch = train_set.len().div_ceil(s.batch_size) as u64;
    let bar = common::progress_bar(steps_per_epoch * s.epochs as u64);
    let start = Instant::now();
    let mut epoch_times = Vec::new();
    for epoch in 1..=s.epochs {
        bar.set_prefix(format!("epoch {epoch}/{}", s.epochs));
        let t0 = Instant::now();
        let loss = train_epoch(&mut model, &mut opt, &train_set, s, &mut rng, &bar)
            .inspect_err(|_| bar.finish_and_clear())?;
        let dt = t0.elapsed().as_secs_f64();
        epoch_times.push(dt);
        let acc = accuracy(&model, &test_set);
        bar.suspend(|| {
            println!(
                "epoch {epoch:>3}  train loss {loss:.4}  test accuracy {:>6.2}%  {dt:.2} s/epoch",
                100.0 * acc
            )
        });
    }
    bar.finish_and_clear();
    let acc = accuracy(&model, &test_set);
    epoch_times.sort_by(f64::total_cmp);
    println!(
        "\ntest accuracy {:.2}% ({} of {}); {:.2} s per epoch (median; min {:.2}, max {:.2}), {:.1} s in all",
        100.0 * acc,
        (acc * test_set.len() as f64).round(),
        test_set.len(),
        epoch_times[epoch_times.len() / 2],
        epoch_times[0],
        epoch_times[epoch_times.len() - 1],
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        common::parse_flags("cnn_digits", args)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        let s = parse(&[]).unwrap();
        assert_eq!((s.epochs, s.lr, s.batch_size), (20, 2e-3, 32));
        common::assert_flags_checked::<Settings>(
            "cnn_digits",
            &[
                &["--epoch", "1"][..],
                &["--lr"],
                &["--lr", "inf"],
                &["--lr", "-1"],
                &["--batch-size", "x"],
                &["--epochs", "0"],
            ],
            &["--batch-size", "[default: 32]"],
        );
    }

    #[test]
    fn a_diverging_run_fails() {
        let s = parse(&["--lr", "1e30", "--epochs", "2"]).unwrap();
        let err = run(&s).unwrap_err().to_string();
        assert!(err.contains("training diverged"), "{err}");
    }
}
