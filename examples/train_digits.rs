//! Trains an MLP (64-128-64-10, ReLU, He/Kaiming init, Adam) on the bundled
//! handwritten digits with a cosine learning-rate schedule, reports held-out accuracy and a confusion matrix,
//! saves its state dict as safetensors, reloads it and checks the reloaded
//! model predicts exactly the same.
//!
//! Run: `cargo run --release --example train_digits -- --help` for the
//! flags and their defaults. The output path is checked before training; a
//! run whose loss stops being finite exits non-zero without saving.

mod common;

use clap::Parser;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tapegrad::autodiff::Tape;
use tapegrad::nn::checkpoint::{load_module, save_module};
use tapegrad::nn::data::{load_bundled_digits, Batches, Dataset, DIGITS_CLASSES};
use tapegrad::nn::diagnostics::render_table;
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{Adam, Optimizer};
use tapegrad::nn::{Module, Sequential};

/// Fraction of the data held out for testing (stratified by class).
const TEST_FRACTION: f64 = 0.2;
/// Seed of the train/test split: fixed, so runs with different `--seed`s
/// (initialisation and shuffling) are scored on the same test set.
const SPLIT_SEED: u64 = 0;

/// Trains a 64-128-64-10 MLP on the bundled digits, saves and reloads it.
#[derive(Parser, Debug)]
#[command(name = "train_digits")]
struct Settings {
    /// Seed of the initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 30, value_parser = common::at_least_one)]
    epochs: usize,
    /// Adam's peak learning rate (cosine-annealed over the epochs).
    #[arg(long, default_value_t = 1e-3, value_parser = common::positive)]
    lr: f64,
    /// Samples per step.
    #[arg(long, default_value_t = 32, value_parser = common::at_least_one)]
    batch_size: usize,
    /// Where to save the trained model (safetensors).
    #[arg(long, default_value = "checkpoints/digits_mlp.safetensors")]
    out: PathBuf,
}

/// The model: [`common::digits_mlp`] in f32.
fn build_mlp(rng: &mut StdRng) -> Sequential<f32> {
    common::digits_mlp(rng)
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
    for (step, (x, labels)) in Batches::from_dataset(train, s.batch_size, true, rng).enumerate() {
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

/// The predicted class of every sample.
fn predict(model: &Sequential<f32>, data: &Dataset<f32>) -> Vec<usize> {
    let tape = Tape::new();
    let logits = model.forward(tape.constant(data.features())).value();
    logits.argmax(1).to_vec().into_iter().collect()
}

/// Fraction of `predicted` equal to `labels`.
fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

/// The confusion matrix as a table: a row per true class, a column per predicted one.
fn confusion_table(predicted: &[usize], labels: &[usize]) -> String {
    let mut counts = vec![[0usize; DIGITS_CLASSES]; DIGITS_CLASSES];
    for (&p, &l) in predicted.iter().zip(labels) {
        counts[l][p] += 1;
    }
    let names: Vec<String> = (0..DIGITS_CLASSES).map(|c| format!("p{c}")).collect();
    let mut header = vec!["true \\ predicted"];
    header.extend(names.iter().map(String::as_str));
    header.push("recall");
    let rows: Vec<Vec<String>> = counts
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let n: usize = row.iter().sum();
            let mut cells = vec![format!("{c}")];
            cells.extend(row.iter().map(|k| k.to_string()));
            cells.push(format!("{:.1}%", 100.0 * row[c] as f64 / n.max(1) as f64));
            cells
        })
        .collect();
    render_table(&header, &rows)
}

/// Saves the model's state dict to `path` (whose directory
/// [`common::writable_file`] created before training).
fn save_model(model: &Sequential<f32>, path: &Path) -> Result<(), Box<dyn Error>> {
    save_module(path, model)?;
    Ok(())
}

/// A new MLP with the state dict in `path` (every name and shape must match).
fn load_model(path: &Path) -> Result<Sequential<f32>, Box<dyn Error>> {
    let mut model = build_mlp(&mut StdRng::seed_from_u64(u64::MAX));
    load_module(path, &mut model)?;
    Ok(model)
}

/// Cosine annealing (Loshchilov & Hutter, 2017) without restarts, per epoch:
/// `lr_e = lr · (1 + cos(π (e − 1) / epochs)) / 2` for `e = 1..=epochs`.
fn cosine_lr(lr: f64, epoch: usize, epochs: usize) -> f64 {
    lr * 0.5 * (1.0 + (std::f64::consts::PI * (epoch - 1) as f64 / epochs as f64).cos())
}

/// Trains for `s.epochs` epochs, printing loss and test accuracy after
/// each; stops with an error if the loss stops being finite.
fn train(
    model: &mut Sequential<f32>,
    train_set: &Dataset<f32>,
    test_set: &Dataset<f32>,
    s: &Settings,
    rng: &mut StdRng,
) -> Result<(), String> {
    let mut opt = Adam::new(s.lr);
    let steps_per_epoch = train_set.len().div_ceil(s.batch_size) as u64;
    let bar = common::progress_bar(steps_per_epoch * s.epochs as u64);
    for epoch in 1..=s.epochs {
        opt.set_lr(cosine_lr(s.lr, epoch, s.epochs));
        bar.set_prefix(format!("epoch {epoch}/{}", s.epochs));
        let loss = train_epoch(model, &mut opt, train_set, s, rng, &bar).inspect_err(|_| {
            bar.finish_and_clear();
        })?;
        let acc = accuracy(&predict(model, test_set), test_set.labels());
        let lr = opt.lr();
        bar.suspend(|| {
            println!(
                "epoch {epoch:>3}  lr {lr:.2e}  train loss {loss:.4}  test accuracy {:.2}%",
                100.0 * acc
            )
        });
    }
    bar.finish_and_clear();
    Ok(())
}

fn main() -> ExitCode {
    let s = Settings::parse();
    common::exit("train_digits", run(&s))
}

/// The whole example for settings `s`: checks the output path, trains,
/// saves, reloads and compares.
fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    common::writable_file(&s.out)?;
    let start = Instant::now();
    let digits = load_bundled_digits::<f32>()?;
    let (train_set, test_set) = digits.stratified_split(TEST_FRACTION, SPLIT_SEED);
    println!(
        "digits: {} train / {} test samples; MLP 64-128-64-10 (ReLU, He init), Adam lr {}, batch {}, {} epochs, seed {}",
        train_set.len(), test_set.len(), s.lr, s.batch_size, s.epochs, s.seed
    );
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut model = build_mlp(&mut rng);
    train(&mut model, &train_set, &test_set, s, &mut rng)?;
    let trained_in = start.elapsed();

    let predicted = predict(&model, &test_set);
    let acc = accuracy(&predicted, test_set.labels());
    println!(
        "\ntest accuracy {:.2}% ({} of {}) after {:.2} s of training\n",
        100.0 * acc,
        predicted
            .iter()
            .zip(test_set.labels())
            .filter(|(p, l)| p == l)
            .count(),
        test_set.len(),
        trained_in.as_secs_f64()
    );
    print!("{}", confusion_table(&predicted, test_set.labels()));

    save_model(&model, &s.out)?;
    let reloaded = predict(&load_model(&s.out)?, &test_set);
    let reloaded_acc = accuracy(&reloaded, test_set.labels());
    if reloaded != predicted {
        return Err(format!(
            "reloaded model from {} predicts differently ({:.2}%)",
            s.out.display(),
            100.0 * reloaded_acc
        )
        .into());
    }
    println!(
        "\nsaved {} and reloaded it: test accuracy {:.2}%, identical predictions",
        s.out.display(),
        100.0 * reloaded_acc
    );
    println!("total time {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        common::parse_flags("train_digits", args)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        let s = parse(&[]).unwrap();
        assert_eq!((s.epochs, s.lr, s.batch_size), (30, 1e-3, 32));
        common::assert_flags_checked::<Settings>(
            "train_digits",
            &[
                &["--epoch", "1"][..], // misspelt
                &["--lr"],             // no value
                &["--lr", "inf"],
                &["--lr", "-1"],
                &["--lr", "fast"],
                &["--epochs", "0"],
                &["--batch-size", "0"],
            ],
            &["[default: 0.001]"],
        );
    }

    #[test]
    fn an_unwritable_out_is_refused_before_training() {
        let s = parse(&["--out", "/proc/x/y/model.safetensors", "--epochs", "1"]).unwrap();
        let err = run(&s).unwrap_err().to_string();
        assert!(err.contains("/proc/x/y"), "{err}");
    }

    #[test]
    fn a_diverging_run_fails_without_writing_the_model() {
        let dir =
            std::env::temp_dir().join(format!("tapegrad-train-digits-{}", std::process::id()));
        let out = dir.join("model.safetensors");
        let out_s = out.to_str().unwrap();
        let s = parse(&["--lr", "1e30", "--epochs", "3", "--out", out_s]).unwrap();
        let err = run(&s).unwrap_err().to_string();
        assert!(err.contains("training diverged"), "{err}");
        assert!(!out.exists(), "the diverged model was saved");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
