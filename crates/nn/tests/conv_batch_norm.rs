//! `BatchNorm2d` / `batch_norm`: training normalises with the batch's mean
//! and biased variance (against loops) and updates the running statistics
//! with the unbiased variance and momentum 0.1 (as PyTorch); evaluation
//! uses the running statistics and leaves them alone; gradients in both
//! modes against finite differences.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, gradgradcheck, GradcheckOptions, Tape};
use tapegrad_nn::conv::{batch_norm, BatchNorm2d, NormStats};
use tapegrad_nn::{Module, Sequential};
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

/// Per-channel (mean, biased variance, count) of `[N, C, H, W]`, by loops.
fn channel_stats(x: &Tensor<f64>) -> Vec<(f64, f64, usize)> {
    let s = x.shape();
    (0..s[1])
        .map(|c| {
            let mut v = Vec::new();
            for n in 0..s[0] {
                for i in 0..s[2] {
                    for j in 0..s[3] {
                        v.push(x.get(&[n, c, i, j]));
                    }
                }
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64;
            (mean, var, v.len())
        })
        .collect()
}

/// `(x - mean_c) / sqrt(var_c + eps) * w_c + b_c`, by loops.
fn normalise(x: &Tensor<f64>, stats: &[(f64, f64)], w: &[f64], b: &[f64], eps: f64) -> Tensor<f64> {
    let s = x.shape();
    let mut out = x.to_vec();
    let plane = s[2] * s[3];
    for (i, v) in out.iter_mut().enumerate() {
        let c = (i / plane) % s[1];
        let (m, var) = stats[c];
        *v = (*v - m) / (var + eps).sqrt() * w[c] + b[c];
    }
    Tensor::from_vec(out, s)
}

/// A layer with weight and bias moved off (1, 0).
fn layer(c: usize, rng: &mut StdRng) -> BatchNorm2d<f64> {
    let mut bn = BatchNorm2d::new(c);
    bn.visit_params_mut(&mut |name, p| {
        let mean = if name == "weight" { 1.0 } else { 0.0 };
        p.set(Tensor::rand_normal(&[c], mean, 0.5, rng));
    });
    bn
}

#[test]
fn training_uses_batch_statistics_and_updates_running_ones() {
    let mut rng = StdRng::seed_from_u64(0);
    let bn = layer(3, &mut rng);
    let (w, b) = (
        bn.named_parameters()[0].1.to_vec(),
        bn.named_parameters()[1].1.to_vec(),
    );
    let mut running: Vec<(f64, f64)> = vec![(0.0, 1.0); 3];
    for step in 0..3 {
        let x = Tensor::rand_normal(&[4, 3, 2, 5], step as f64, 2.0, &mut rng);
        let stats = channel_stats(&x);
        let tape = Tape::new();
        let y = bn.forward(tape.constant(x.clone()));
        let biased: Vec<(f64, f64)> = stats.iter().map(|&(m, v, _)| (m, v)).collect();
        assert_close(
            &y.value().to_vec(),
            &normalise(&x, &biased, &w, &b, 1e-5).to_vec(),
            1e-12,
            "train output",
        );
        // PyTorch: running = 0.9 running + 0.1 batch, with the unbiased variance v n / (n - 1).
        for (r, &(m, v, n)) in running.iter_mut().zip(&stats) {
            *r = (
                0.9 * r.0 + 0.1 * m,
                0.9 * r.1 + 0.1 * v * n as f64 / (n - 1) as f64,
            );
        }
        let rm: Vec<f64> = running.iter().map(|r| r.0).collect();
        let rv: Vec<f64> = running.iter().map(|r| r.1).collect();
        assert_close(&bn.running_mean().to_vec(), &rm, 1e-12, "running mean");
        assert_close(&bn.running_var().to_vec(), &rv, 1e-12, "running var");
    }
    assert_eq!(bn.num_batches_tracked(), 3);
}

#[test]
fn set_training_reaches_the_layer_through_a_container() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut model = Sequential::new().add(layer(2, &mut rng));
    let tape = Tape::new();
    model.forward(tape.constant(Tensor::rand_normal(&[8, 2, 3, 3], 1.0, 3.0, &mut rng)));
    model.set_training(false);
    // One value per channel: only possible with running statistics, and
    // evaluating twice gives the same output (nothing was updated).
    let x = Tensor::rand_normal(&[1, 2, 1, 1], 0.0, 1.0, &mut rng);
    let y = model.forward(tape.constant(x.clone())).value();
    let again = model.forward(tape.constant(x)).value();
    assert_eq!(y.to_vec(), again.to_vec());
}

#[test]
fn evaluation_matches_the_formula_with_given_running_stats() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut bn = layer(3, &mut rng);
    let (w, b) = (
        bn.named_parameters()[0].1.to_vec(),
        bn.named_parameters()[1].1.to_vec(),
    );
    let (rm, rv) = (vec![0.5, -1.0, 2.0], vec![4.0, 0.25, 1.5]);
    bn.set_running_stats(
        Tensor::from_vec(rm.clone(), &[3]),
        Tensor::from_vec(rv.clone(), &[3]),
    );
    bn.set_training(false);
    let x = Tensor::rand_normal(&[2, 3, 4, 4], 0.0, 1.0, &mut rng);
    let tape = Tape::new();
    let y = bn.forward(tape.constant(x.clone())).value();
    let stats: Vec<(f64, f64)> = rm.iter().copied().zip(rv.iter().copied()).collect();
    assert_close(
        &y.to_vec(),
        &normalise(&x, &stats, &w, &b, 1e-5).to_vec(),
        1e-12,
        "eval output",
    );
    assert_eq!(
        bn.running_mean().to_vec(),
        rm,
        "evaluation must not update the statistics"
    );
    assert_eq!(bn.running_var().to_vec(), rv);
    assert_eq!(bn.num_batches_tracked(), 0);
}

#[test]
fn momentum_one_keeps_only_the_last_batch() {
    let mut rng = StdRng::seed_from_u64(3);
    let bn = BatchNorm2d::<f64>::with_options(2, 1e-5, 1.0, false);
    assert_eq!(bn.num_parameters(), 0);
    let x = Tensor::rand_normal(&[3, 2, 2, 2], 0.0, 1.0, &mut rng);
    let tape = Tape::new();
    bn.forward(tape.constant(x.clone()));
    let stats = channel_stats(&x);
    let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let unbiased: Vec<f64> = stats.iter().map(|s| s.1 * 12.0 / 11.0).collect();
    assert_close(&bn.running_mean().to_vec(), &mean, 1e-12, "mean");
    assert_close(&bn.running_var().to_vec(), &unbiased, 1e-12, "var");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn training_mode_gradcheck(n in 1..=3usize, c in 1..=3usize, h in 1..=3usize, w in 1..=3usize, seed in any::<u64>()) {
        prop_assume!(n * h * w > 1);
        let mut rng = StdRng::seed_from_u64(seed);
        let x = Tensor::rand_normal(&[n, c, h, w], 0.5, 2.0, &mut rng);
        let wt = Tensor::rand_normal(&[c], 1.0, 0.5, &mut rng);
        let b = Tensor::rand_normal(&[c], 0.0, 0.5, &mut rng);
        let f = check_fn(|_, v| batch_norm(v[0], Some(v[1]), Some(v[2]), NormStats::Batch, 1e-5));
        let r = gradcheck(f, &[x, wt, b], &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn evaluation_mode_gradcheck(n in 1..=3usize, c in 1..=3usize, seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let x = Tensor::rand_normal(&[n, c, 2, 3], 0.0, 1.0, &mut rng);
        let wt = Tensor::rand_normal(&[c], 1.0, 0.5, &mut rng);
        let b = Tensor::rand_normal(&[c], 0.0, 0.5, &mut rng);
        let mean = Tensor::rand_normal(&[c], 0.0, 1.0, &mut rng);
        let var = Tensor::rand_uniform(&[c], 0.5, 2.0, &mut rng);
        let f = check_fn(move |_, v| {
            let stats = NormStats::Fixed { mean: &mean, var: &var };
            batch_norm(v[0], Some(v[1]), Some(v[2]), stats, 1e-5)
        });
        let r = gradcheck(f, &[x, wt, b], &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

#[test]
fn second_derivatives_in_training_mode() {
    let mut rng = StdRng::seed_from_u64(4);
    let x = Tensor::rand_normal(&[2, 2, 2, 2], 0.0, 1.0, &mut rng);
    let wt = Tensor::rand_normal(&[2], 1.0, 0.5, &mut rng);
    let f = check_fn(|_, v| batch_norm(v[0], Some(v[1]), None, NormStats::Batch, 1e-3).tanh());
    gradgradcheck(f, &[x, wt], &GradcheckOptions::default()).unwrap();
}

#[test]
#[should_panic(
    expected = "batch_norm: expected more than 1 value per channel in training, got input [1, 3, 1, 1]"
)]
fn one_value_per_channel_cannot_be_normalised_in_training() {
    let bn = BatchNorm2d::<f32>::new(3);
    let tape = Tape::new();
    bn.forward(tape.constant(Tensor::zeros(&[1, 3, 1, 1])));
}
