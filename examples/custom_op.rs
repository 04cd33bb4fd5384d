//! Defines an op tapegrad lacks, `log1mexp(x) = ln(1 − e^(−x))`, through the
//! same door the built-in ops use (the `Op` trait and `Var::apply`), checks
//! it to second order and in forward mode, and trains with it.
//!
//! `ln(1 − e^(−x))` is the log-probability of "at least one event" when
//! events arrive at rate `x` (a Poisson count above zero), the complement
//! of a probability held in log space. Written naively it loses everything:
//! for small `x`, `1 − e^(−x)` rounds to 0 (a loss of `−inf`); for large
//! `x`, it rounds to 1 (a log of exactly 0, with its tiny gradient gone).
//! Mächler (2012, "Accurately computing log(1 − exp(−|a|))") evaluates it
//! as `ln(−expm1(−x))` for `x ≤ ln 2` and `log1p(−e^(−x))` beyond.
//!
//! The model trained with it is a one-vs-rest classifier of the bundled
//! digits with the complementary log-log link: class `k` "fires" with
//! probability `p_k = 1 − e^(−λ_k)`, `λ_k = e^(z_k)` for logits `z`, so
//! `ln p_k = log1mexp(λ_k)` and `ln(1 − p_k) = −λ_k`, and the loss is
//! `−Σ_k [y_k log1mexp(λ_k) − (1 − y_k) λ_k]`.
//!
//! Run: `cargo run --release --example custom_op` (`-- --help` for flags).

mod common;

use clap::Parser;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::error::Error;
use std::process::ExitCode;
use tapegrad::autodiff::{check_jvp, check_jvp_vjp, Ctx, GradOps, Grads, JvpCtx, Op};
use tapegrad::nn::data::{load_bundled_digits, Batches, DIGITS_CLASSES, DIGITS_PIXELS};
use tapegrad::nn::diagnostics::render_table;
use tapegrad::nn::ReLU;
use tapegrad::prelude::*;

/// `log1mexp(x) = ln(1 − e^(−x))` for `x > 0` (−inf at 0, NaN below, as the
/// formula). Derivative: `e^(−x) / (1 − e^(−x)) = 1 / expm1(x)`; written
/// over [`GradOps`] (`expm1`, `div`), so its own derivative,
/// `−e^x / expm1(x)²`, comes from the tape at any order.
pub struct Log1mexp;

impl<E: Float> Op<E> for Log1mexp {
    fn name(&self) -> &'static str {
        "log1mexp"
    }

    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].map(log1mexp_scalar)
    }

    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.div(&c.x[0].expm1()))].into()
    }

    /// The Jacobian is diagonal: the tangent is `t / expm1(x)`, the same
    /// expression as the gradient.
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.div(&c.x[0].expm1()))
    }

    /// Elementwise: row `b` of the output comes from row `b` of the input,
    /// so per-sample gradients can go through it.
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        true
    }
}

/// Mächler's two branches, each accurate where the other is not.
fn log1mexp_scalar<E: Float>(x: E) -> E {
    if x <= E::from_f64(std::f64::consts::LN_2) {
        (-(-x).exp_m1()).ln()
    } else {
        (-(-x).exp()).ln_1p()
    }
}

/// Records `log1mexp` on `x`'s tape.
#[track_caller]
pub fn log1mexp<'t, E: Float>(x: Var<'t, E>) -> Var<'t, E> {
    Var::apply(Log1mexp, &[x])
}

/// The same function written the obvious way, for comparison.
fn log1mexp_naive<'t, E: Float>(x: Var<'t, E>) -> Var<'t, E> {
    ((-x).exp().neg() + 1.0).ln()
}

/// Trains a one-vs-rest digits classifier with the complementary log-log
/// link, whose loss needs `log1mexp`.
#[derive(Parser, Debug)]
#[command(name = "custom_op")]
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

/// The cloglog one-vs-rest loss of logits `z` `[N, C]`, mean over samples:
/// `−Σ_k [y_k log1mexp(e^z_k) − (1 − y_k) e^z_k]`.
fn cloglog_loss<'t>(z: Var<'t, f32>, labels: &[usize]) -> Var<'t, f32> {
    let tape = z.tape();
    let y = tape.constant(Tensor::<f32>::one_hot(labels, DIGITS_CLASSES));
    let not_y = tape.constant(
        Tensor::<f32>::one_hot(labels, DIGITS_CLASSES)
            .neg()
            .add_scalar(1.0),
    );
    let rate = z.exp();
    let per_class = y * log1mexp(rate) - not_y * rate;
    -per_class.sum(&[1]).mean_all()
}

fn build_model(rng: &mut StdRng) -> Sequential<f32> {
    Sequential::new()
        .add(Linear::new(DIGITS_PIXELS, 64, rng))
        .add(ReLU)
        .add(Linear::new(64, DIGITS_CLASSES, rng))
}

/// Part 1: the stable and the naive forms against the f64 value, in f32.
fn accuracy_table() -> String {
    let xs = [1e-30, 1e-8, 1e-3, 0.5, 5.0, 20.0, 60.0];
    let rows: Vec<Vec<String>> = xs
        .iter()
        .map(|&x| {
            let reference = log1mexp_scalar(x);
            let tape = Tape::<f32>::new();
            let v = tape.var(Tensor::from_vec(vec![x as f32], &[1]));
            let (stable, naive) = (log1mexp(v), log1mexp_naive(v));
            let relative = |y: f64| {
                if y == reference {
                    "0".to_string()
                } else {
                    format!("{:.1e}", ((y - reference) / reference).abs())
                }
            };
            vec![
                format!("{x:e}"),
                format!("{reference:.6e}"),
                format!("{:.6e}", stable.item()),
                relative(stable.item()),
                format!("{:.6e}", naive.item()),
                relative(naive.item()),
            ]
        })
        .collect();
    render_table(
        &[
            "x",
            "f64 value",
            "log1mexp f32",
            "rel. error",
            "naive f32",
            "rel. error",
        ],
        &rows,
    )
}

/// Part 2: first and second order, forward mode, the dot test, in f64.
fn check_op() -> Result<(), Box<dyn Error>> {
    let x = Tensor::<f64>::from_vec(vec![0.01, 0.1, 0.5, 0.69, 0.7, 1.0, 3.0, 8.0], &[2, 4]);
    let f = tapegrad::autodiff::check_fn(|_, v| log1mexp(v[0]));
    let opts = GradcheckOptions::default();
    let reports = [
        ("gradcheck", gradcheck(f, std::slice::from_ref(&x), &opts)?),
        (
            "gradgradcheck",
            gradgradcheck(f, std::slice::from_ref(&x), &opts)?,
        ),
        ("check_jvp", check_jvp(f, std::slice::from_ref(&x), &opts)?),
        (
            "check_jvp_vjp",
            check_jvp_vjp(f, std::slice::from_ref(&x), &opts)?,
        ),
    ];
    for (name, r) in reports {
        println!(
            "  {name:<14} passed: {} comparisons, largest |analytic - numeric| {:.1e}",
            r.comparisons, r.max_abs_error
        );
    }
    Ok(())
}

/// Part 3: trains the cloglog classifier; returns the test accuracy.
fn train(s: &Settings) -> Result<f64, Box<dyn Error>> {
    let data = load_bundled_digits::<f32>()?;
    let (train_set, test_set) = data.stratified_split(0.2, 0);
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut model = build_model(&mut rng);
    let mut opt = Adam::new(s.lr);
    println!(
        "  {} train / {} test digits, MLP 64-64-10 (ReLU), Adam lr {}, batch {}",
        train_set.len(),
        test_set.len(),
        s.lr,
        s.batch_size
    );
    for epoch in 1..=s.epochs {
        let (mut total, mut count) = (0.0, 0);
        for (x, labels) in Batches::from_dataset(&train_set, s.batch_size, true, &mut rng) {
            let grads = {
                let tape = Tape::new();
                let loss = cloglog_loss(model.forward(tape.constant(x)), &labels);
                common::finite_loss(loss.item(), &format!("epoch {epoch}"))?;
                total += loss.item() * labels.len() as f64;
                count += labels.len();
                loss.backward_consuming()
            };
            opt.step(&mut model, &grads);
        }
        if epoch == 1 || epoch % 5 == 0 || epoch == s.epochs {
            println!(
                "  epoch {epoch:>3}  train loss {:.4}  test accuracy {:.2}%",
                total / count as f64,
                100.0 * common::accuracy(&model, &test_set)
            );
        }
    }
    Ok(common::accuracy(&model, &test_set))
}

fn run(s: Settings) -> Result<(), Box<dyn Error>> {
    println!("1. log1mexp(x) = ln(1 - e^-x) in f32, stable and naive, against f64:\n");
    print!("{}", accuracy_table());
    println!("\n2. the op's rules, checked in f64 against finite differences:");
    check_op()?;
    println!("\n3. a one-vs-rest digits classifier with the complementary log-log link:");
    let acc = train(&s)?;
    println!("\ntest accuracy {:.2}%", 100.0 * acc);
    Ok(())
}

fn main() -> ExitCode {
    common::exit("custom_op", run(Settings::parse()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad::autodiff::check_fn;

    #[test]
    fn log1mexp_is_accurate_where_the_naive_form_is_not() {
        // Closed forms: ln(1 - e^-x) = ln x - x/2 + x²/24 + O(x⁴) near 0,
        // and -e^-x - e^-2x/2 - ... for large x.
        for x in [1e-30f64, 1e-12, 1e-6] {
            let want = x.ln() - x / 2.0 + x * x / 24.0;
            let got = log1mexp_scalar(x);
            assert!(
                (got - want).abs() <= 1e-15 * want.abs(),
                "{x}: {got} vs {want}"
            );
            assert!(log1mexp_scalar(x as f32).is_finite());
        }
        for x in [40.0f64, 100.0, 700.0] {
            let want = -(-x).exp() - (-2.0 * x).exp() / 2.0;
            let got = log1mexp_scalar(x);
            assert!(
                (got - want).abs() <= 1e-15 * want.abs(),
                "{x}: {got} vs {want}"
            );
        }
        // The naive form in f32: -inf at 1e-8, exactly 0 at 20.
        let tape = Tape::<f32>::new();
        let v = tape.var(Tensor::from_vec(vec![1e-8, 20.0], &[2]));
        assert_eq!(
            log1mexp_naive(v).value().to_vec(),
            vec![f32::NEG_INFINITY, 0.0]
        );
        assert!(log1mexp(v)
            .value()
            .to_vec()
            .iter()
            .all(|y| y.is_finite() && *y < 0.0));
    }

    #[test]
    fn rules_pass_every_check_on_both_branches() {
        let x = Tensor::<f64>::from_vec(vec![1e-2, 0.3, 0.69, 0.7, 2.0, 9.0], &[6]);
        let f = check_fn(|_, v| log1mexp(v[0]));
        let opts = GradcheckOptions::default();
        let xs = std::slice::from_ref(&x);
        gradcheck(f, xs, &opts).unwrap();
        gradgradcheck(f, xs, &opts).unwrap();
        check_jvp(f, xs, &opts).unwrap();
        check_jvp_vjp(f, xs, &opts).unwrap();
    }

    #[test]
    fn a_wrong_rule_would_be_caught() {
        // The checks above are able to fail: a function whose analytic
        // gradient is half the true one (half of it sees a constant) is
        // reported.
        let x = Tensor::<f64>::from_vec(vec![0.3, 2.0], &[2]);
        let planted = check_fn(|t, v| {
            let frozen = t.constant(v[0].value()); // no gradient through half of it
            log1mexp(v[0]) * 0.5 + log1mexp(frozen) * 0.5
        });
        assert!(gradcheck(planted, &[x], &GradcheckOptions::default()).is_err());
    }

    #[test]
    fn one_epoch_lowers_the_loss() {
        let data = load_bundled_digits::<f32>().unwrap();
        let (train_set, _) = data.stratified_split(0.2, 0);
        let mut rng = StdRng::seed_from_u64(0);
        let mut model = build_model(&mut rng);
        let loss_of = |model: &Sequential<f32>| {
            let tape = Tape::new();
            cloglog_loss(
                model.forward(tape.constant(train_set.features())),
                train_set.labels(),
            )
            .item()
        };
        let before = loss_of(&model);
        let mut opt = Adam::new(2e-3);
        for (x, labels) in Batches::from_dataset(&train_set, 32, true, &mut rng) {
            let tape = Tape::new();
            let grads = cloglog_loss(model.forward(tape.constant(x)), &labels).backward();
            opt.step(&mut model, &grads);
        }
        let after = loss_of(&model);
        assert!(after < 0.5 * before, "{before} -> {after}");
    }

    #[test]
    fn flags_are_checked() {
        let parse = |args: &[&str]| {
            Settings::try_parse_from(std::iter::once("custom_op").chain(args.iter().copied()))
        };
        assert_eq!(parse(&["--epochs", "3"]).unwrap().epochs, 3);
        assert!(parse(&["--epoch", "3"]).is_err());
        assert!(parse(&["--lr", "inf"]).is_err());
        assert!(parse(&["--batch-size", "0"]).is_err());
    }
}
