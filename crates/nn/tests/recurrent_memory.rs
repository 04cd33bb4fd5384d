//! The vanishing gradient through time at initialisation: how much of the
//! loss's gradient reaches the input of step 0 compared with step `T - 1`,
//! for a tanh RNN and for an LSTM with forget bias `b` (fixed seed).
//!
//! Setting: inputs `[N, 2]` per step (N(0, 1) values and a marker), hidden
//! size `H`, every weight `U(±1/√H)` (PyTorch), a linear head on the last
//! hidden state, cross-entropy. Let `r = ‖∂L/∂x_0‖ / ‖∂L/∂x_{T-1}‖` and its
//! per-step rate `ρ = r^(1/(T-1))`.
//!
//! - tanh RNN: each step back multiplies the gradient by
//!   `diag(1 - h²) W_hh`. `W_hh` has i.i.d. entries of variance
//!   `(1/√H)² / 3 = 1 / (3H)`, so its spectral radius is about
//!   `√(H · 1/(3H)) = 1/√3 ≈ 0.577` (circular law) and `1 - h² <= 1`:
//!   `ρ_rnn ≈ 0.58`.
//! - LSTM: along the cell state each step back multiplies by the forget gate
//!   `f = σ(b + small)`, so `ρ_lstm ≈ σ(b)` (0.95 for `b = 3`), a bit more
//!   with the paths through `h`.
//!
//! Thresholds, from those predictions with room for finite-size effects:
//! the RNN rate is below the midpoint `(1/√3 + 1) / 2 ≈ 0.79` between its
//! prediction and no decay at all; the LSTM rate is above the midpoint
//! `(1/√3 + σ(b)) / 2` of the two predictions; and the log-ratio
//! `ln r_lstm - ln r_rnn` is at least half the predicted
//! `(T - 1) ln(σ(b) √3)` (about 7 of 14.5 nats for T = 30, b = 3).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tapegrad_autodiff::{Tape, Var};
use tapegrad_nn::layers::Linear;
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::recurrent::{unroll, RecurrentCell, LSTM, RNN};
use tapegrad_nn::Module;
use tapegrad_tensor::Tensor;

const T: usize = 30;
const N: usize = 32;
const H: usize = 32;
const FORGET_BIAS: f64 = 3.0;

/// Per-step inputs `[N, 2]`: step 0 carries the label's sign and marker 1,
/// the others N(0, 1) noise and marker 0.
fn sequence(rng: &mut StdRng) -> (Vec<Tensor<f64>>, Vec<usize>) {
    let labels: Vec<usize> = (0..N).map(|_| rng.random_range(0..2)).collect();
    let first: Vec<f64> = labels
        .iter()
        .flat_map(|&l| [2.0 * l as f64 - 1.0, 1.0])
        .collect();
    let mut xs = vec![Tensor::from_vec(first, &[N, 2])];
    for _ in 1..T {
        let noise = Tensor::rand_normal(&[N, 1], 0.0, 1.0, rng);
        xs.push(Tensor::concat(&[&noise, &Tensor::zeros(&[N, 1])], 1));
    }
    (xs, labels)
}

/// `‖∂L/∂x_0‖ / ‖∂L/∂x_{T-1}‖` for `cell` with a fresh linear head.
fn decay_ratio<C: RecurrentCell<f64>>(cell: &C, rng: &mut StdRng) -> f64 {
    let head = Linear::new(H, 2, rng);
    let (xs, labels) = sequence(rng);
    let tape = Tape::new();
    let vars: Vec<Var<'_, f64>> = xs.into_iter().map(|x| tape.var(x)).collect();
    let (_, last) = unroll(cell, &vars, None);
    let grads = cross_entropy(head.forward(C::hidden(last)), &labels).backward();
    let norm = |v: Var<'_, f64>| grads[v].to_vec().iter().map(|a| a * a).sum::<f64>().sqrt();
    norm(vars[0]) / norm(vars[T - 1])
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn rnn_gradient_vanishes_through_time_lstm_gradient_much_less() {
    let mut rng = StdRng::seed_from_u64(0);
    let rnn = RNN::<f64>::new(2, H, &mut rng);
    let mut lstm = LSTM::<f64>::new(2, H, &mut rng);
    lstm.set_forget_bias(FORGET_BIAS);
    let r_rnn = decay_ratio(&rnn, &mut rng);
    let r_lstm = decay_ratio(&lstm, &mut rng);
    let steps = (T - 1) as f64;
    let (rate_rnn, rate_lstm) = (r_rnn.powf(1.0 / steps), r_lstm.powf(1.0 / steps));
    let predicted_rnn = 1.0 / 3f64.sqrt();
    let predicted_lstm = sigmoid(FORGET_BIAS);
    let report = format!(
        "r_rnn {r_rnn:.3e} (rate {rate_rnn:.3}, predicted {predicted_rnn:.3}), \
         r_lstm {r_lstm:.3e} (rate {rate_lstm:.3}, predicted {predicted_lstm:.3})"
    );
    println!("{report}");
    assert!(
        rate_rnn < (predicted_rnn + 1.0) / 2.0,
        "the RNN's gradient must decay: {report}"
    );
    assert!(
        rate_lstm > (predicted_rnn + predicted_lstm) / 2.0,
        "the LSTM's must decay far less: {report}"
    );
    let predicted_gap = steps * (predicted_lstm / predicted_rnn).ln();
    let gap = r_lstm.ln() - r_rnn.ln();
    assert!(
        gap >= predicted_gap / 2.0,
        "ln r_lstm - ln r_rnn = {gap:.2}, predicted {predicted_gap:.2}: {report}"
    );
}

#[test]
fn lstm_with_pytorch_biases_starts_out_forgetting_like_the_rnn() {
    // With PyTorch's biases the forget gate starts at σ(0) = 1/2 < 1/√3: no
    // better than the RNN; the forget bias is what makes the difference.
    let mut rng = StdRng::seed_from_u64(1);
    let lstm = LSTM::<f64>::new(2, H, &mut rng);
    let rate = decay_ratio(&lstm, &mut rng).powf(1.0 / (T - 1) as f64);
    let with_bias = (1.0 / 3f64.sqrt() + sigmoid(FORGET_BIAS)) / 2.0;
    println!("PyTorch-bias LSTM rate {rate:.3}");
    assert!(
        rate < with_bias,
        "rate {rate:.3} should stay below {with_bias:.3}"
    );
}
