//! What the examples share: value parsers for their `clap` flags (so a
//! bad value is refused before any work starts), checks that output paths
//! can be written before training, the finite-loss check, and the exit
//! code of `main`.
#![allow(dead_code)] // not every example uses every helper

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use std::error::Error;
use std::path::Path;
use std::process::ExitCode;
use tapegrad::autodiff::Tape;
use tapegrad::nn::data::{Dataset, DIGITS_CLASSES, DIGITS_PIXELS};
use tapegrad::nn::init::{FanMode, Init, Nonlinearity};
use tapegrad::nn::{Linear, Module, ReLU, Sequential};
use tapegrad::tensor::Float;

/// A finite number `> 0` (learning rates).
pub fn positive(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    (v > 0.0)
        .then_some(v)
        .ok_or_else(|| format!("expected a number > 0, found {v}"))
}

/// A finite number `>= 0` (clipping norms).
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    (v >= 0.0)
        .then_some(v)
        .ok_or_else(|| format!("expected a number >= 0, found {v}"))
}

/// A finite number (not `inf`, not `NaN`).
pub fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number, found `{s}`"))?;
    v.is_finite()
        .then_some(v)
        .ok_or_else(|| format!("expected a finite number, found {v}"))
}

/// A whole number `>= 1` (epochs, batch sizes, widths).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number >= 1, found `{s}`"))?;
    (v >= 1)
        .then_some(v)
        .ok_or_else(|| "expected a whole number >= 1, found 0".to_string())
}

/// Creates `dir` (and its parents) and writes and removes a probe file in
/// it, so an unwritable output directory is reported before any training.
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create output directory {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".tapegrad-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| format!("cannot write in output directory {}: {e}", dir.display()))?;
    std::fs::remove_file(&probe).map_err(|e| format!("cannot remove {}: {e}", probe.display()))
}

/// Checks that the file `path` can be written: its directory is created
/// and probed ([`writable_dir`]), and `path` itself must not be a directory.
pub fn writable_file(path: &Path) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    writable_dir(dir)?;
    if path.is_dir() {
        return Err(format!("output file {} is a directory", path.display()));
    }
    Ok(())
}

/// An error unless `loss` is finite: a diverged run stops here, and
/// nothing trained by it is saved.
pub fn finite_loss(loss: f64, when: &str) -> Result<(), String> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(format!(
            "training diverged: the loss is {loss} at {when}; stopping without saving"
        ))
    }
}

/// Parses `args` as the flags of `example` (for the examples' tests).
pub fn parse_flags<S: clap::Parser>(example: &str, args: &[&str]) -> Result<S, clap::Error> {
    S::try_parse_from(std::iter::once(example).chain(args.iter().copied()))
}

/// Asserts that each flag list in `bad` is refused by the parser (before
/// any work), and that `--help` is shown and mentions each of `help_shows`.
#[track_caller]
pub fn assert_flags_checked<S: clap::Parser>(example: &str, bad: &[&[&str]], help_shows: &[&str]) {
    for args in bad {
        assert!(
            parse_flags::<S>(example, args).is_err(),
            "{example}: {args:?} accepted"
        );
    }
    let help = parse_flags::<S>(example, &["--help"])
        .err()
        .expect("--help stops parsing");
    assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    let text = help.to_string();
    for needle in help_shows {
        assert!(
            text.contains(needle),
            "{example}: help lacks {needle}: {text}"
        );
    }
}

/// The exit code of an example's `main`: success, or the error printed as
/// `example: error: ...` and a failure code.
pub fn exit(example: &str, result: Result<(), Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{example}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Fraction of `data` that `model` classifies right: the argmax of its
/// logits on the flattened features against the labels.
pub fn accuracy(model: &Sequential<f32>, data: &Dataset<f32>) -> f64 {
    let tape = Tape::new();
    let logits = model.forward(tape.constant(data.features())).value();
    tapegrad::nn::metrics::accuracy(&logits, data.labels())
}

/// A progress bar over `total` training steps, with a prefix (the epoch)
/// and a message (the loss).
pub fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} steps  {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// `train_digits`' MLP, 64-128-64-10 with ReLU; hidden layers
/// He-initialised for ReLU (`Var[w] = 2 / fan_in`), the output layer for a
/// linear unit (`Var[w] = 1 / fan_in`); zero biases. Generic so the
/// curvature example can build it in f64.
pub fn digits_mlp<E: Float>(rng: &mut StdRng) -> Sequential<E> {
    let he = |nonlinearity| Init::KaimingNormal {
        mode: FanMode::FanIn,
        nonlinearity,
    };
    let relu = he(Nonlinearity::ReLU);
    Sequential::new()
        .add(Linear::with_init(DIGITS_PIXELS, 128, relu, true, rng))
        .add(ReLU)
        .add(Linear::with_init(128, 64, relu, true, rng))
        .add(ReLU)
        .add(Linear::with_init(
            64,
            DIGITS_CLASSES,
            he(Nonlinearity::Linear),
            true,
            rng,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked() {
        assert_eq!(positive("0.5"), Ok(0.5));
        for bad in ["inf", "-1", "0", "NaN", "x", ""] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.1").is_err());
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err() && at_least_one("-2").is_err());
    }

    #[test]
    fn unwritable_outputs_are_refused_naming_the_path() {
        let err = writable_dir(Path::new("/proc/x/y")).unwrap_err();
        assert!(err.contains("/proc/x/y"), "{err}");
        let err = writable_file(Path::new("/proc/x/y/model.safetensors")).unwrap_err();
        assert!(err.contains("/proc/x/y"), "{err}");
        assert!(finite_loss(f64::NAN, "step 3")
            .unwrap_err()
            .contains("step 3"));
    }
}
