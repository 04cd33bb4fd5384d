//! RNN, LSTM and GRU cells against plain-loop implementations of PyTorch's
//! equations (gate orders i, f, g, o and r, z, n) for random sizes;
//! gradients of one step and of a short unrolled sequence with respect to
//! inputs, states and every weight against finite differences; the module
//! paths (`step`, `forward`, `unroll`) against the functional ones; names,
//! shapes and PyTorch's initialisation.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, GradcheckOptions, Tape, Var};
use tapegrad_nn::recurrent::{
    gru_cell, lstm_cell, rnn_cell, unroll, unroll_sequence, CellWeights, LstmState, RecurrentCell,
    GRU, LSTM, RNN,
};
use tapegrad_nn::Module;
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

/// Row-major `[rows, cols]` data.
struct Mat {
    data: Vec<f64>,
    cols: usize,
}

impl Mat {
    fn of(t: &Tensor<f64>) -> Mat {
        Mat {
            data: t.to_vec(),
            cols: t.shape()[1],
        }
    }
    fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// Random tensors for one step: x [N, I], h [N, H], c [N, H], w_ih [G H, I],
/// w_hh [G H, H], b_ih [G H], b_hh [G H].
fn step_inputs(n: usize, i: usize, h: usize, gates: usize, seed: u64) -> Vec<Tensor<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |s: &[usize], std: f64| Tensor::rand_normal(s, 0.0, std, &mut rng);
    vec![
        draw(&[n, i], 1.0),
        draw(&[n, h], 0.5),
        draw(&[n, h], 0.5),
        draw(&[gates * h, i], 0.6),
        draw(&[gates * h, h], 0.6),
        draw(&[gates * h], 0.3),
        draw(&[gates * h], 0.3),
    ]
}

/// Pre-activations `x W_ihᵀ + b_ih` and `h W_hhᵀ + b_hh` of sample `s`, by loops.
fn pre(t: &[Tensor<f64>], s: usize) -> (Vec<f64>, Vec<f64>) {
    let (x, h, wi, wh) = (
        Mat::of(&t[0]),
        Mat::of(&t[1]),
        Mat::of(&t[3]),
        Mat::of(&t[4]),
    );
    let (bi, bh) = (t[5].to_vec(), t[6].to_vec());
    let gi = (0..bi.len())
        .map(|r| dot(wi.row(r), x.row(s)) + bi[r])
        .collect();
    let gh = (0..bh.len())
        .map(|r| dot(wh.row(r), h.row(s)) + bh[r])
        .collect();
    (gi, gh)
}

/// PyTorch's RNNCell, LSTMCell and GRUCell, one sample at a time:
/// returns (h', c') (c' only for the LSTM).
fn reference(kind: &str, t: &[Tensor<f64>]) -> (Vec<f64>, Vec<f64>) {
    let (n, hid) = (t[1].shape()[0], t[1].shape()[1]);
    let (h0, c0) = (t[1].to_vec(), t[2].to_vec());
    let (mut h_out, mut c_out) = (Vec::new(), Vec::new());
    for s in 0..n {
        let (gi, gh) = pre(t, s);
        for j in 0..hid {
            let a = |k: usize| gi[k * hid + j] + gh[k * hid + j];
            let (h, c) = (h0[s * hid + j], c0[s * hid + j]);
            match kind {
                "rnn" => h_out.push(a(0).tanh()),
                "lstm" => {
                    let (i, f, g, o) = (sigmoid(a(0)), sigmoid(a(1)), a(2).tanh(), sigmoid(a(3)));
                    let c2 = f * c + i * g;
                    c_out.push(c2);
                    h_out.push(o * c2.tanh());
                }
                _ => {
                    let (r, z) = (sigmoid(a(0)), sigmoid(a(1)));
                    let nn = (gi[2 * hid + j] + r * gh[2 * hid + j]).tanh();
                    h_out.push((1.0 - z) * nn + z * h);
                }
            }
        }
    }
    (h_out, c_out)
}

/// The weights among gradcheck's vars `[x, h, c, w_ih, w_hh, b_ih, b_hh]`.
fn weights<'t>(v: &[Var<'t, f64>]) -> CellWeights<'t, f64> {
    CellWeights::new(v[3], v[4]).with_bias(v[5], v[6])
}

/// One step of `kind` on gradcheck's vars; the LSTM's output is `[h', c']`
/// concatenated so that both are checked.
fn cell_step<'t>(kind: &str, v: &[Var<'t, f64>]) -> Var<'t, f64> {
    let w = weights(v);
    match kind {
        "rnn" => rnn_cell(v[0], v[1], &w),
        "lstm" => {
            let s = lstm_cell(v[0], LstmState { h: v[1], c: v[2] }, &w);
            Var::concat(&[s.h, s.c], 1)
        }
        _ => gru_cell(v[0], v[1], &w),
    }
}

fn gates(kind: &str) -> usize {
    match kind {
        "rnn" => 1,
        "lstm" => 4,
        _ => 3,
    }
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("rnn"), Just("lstm"), Just("gru")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn one_step_matches_pytorchs_equations(kind in kind(), n in 1..=3usize, i in 1..=4usize, h in 1..=4usize, seed in any::<u64>()) {
        let t = step_inputs(n, i, h, gates(kind), seed);
        let tape = Tape::new();
        let v: Vec<_> = t.iter().map(|x| tape.constant(x.clone())).collect();
        let (want_h, want_c) = reference(kind, &t);
        let out = cell_step(kind, &v).value();
        let got = out.to_vec();
        if kind == "lstm" {
            let hs = out.narrow(1, 0, h).to_vec();
            let cs = out.narrow(1, h, h).to_vec();
            assert_close(&hs, &want_h, 1e-12, "lstm h");
            assert_close(&cs, &want_c, 1e-12, "lstm c");
        } else {
            assert_close(&got, &want_h, 1e-12, kind);
        }
    }

    #[test]
    fn one_step_gradcheck(kind in kind(), n in 1..=3usize, i in 1..=3usize, h in 1..=3usize, seed in any::<u64>()) {
        let t = step_inputs(n, i, h, gates(kind), seed);
        let r = gradcheck(check_fn(move |_, v| cell_step(kind, v)), &t, &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{kind}: {}", r.unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Four steps from a zero state, the loss reading every hidden state:
    /// gradients with respect to each step's input and every weight.
    #[test]
    fn unrolled_sequence_gradcheck(kind in kind(), seed in any::<u64>()) {
        let (steps, n, i, h) = (4, 2, 2, 3);
        let t = step_inputs(n, i, h, gates(kind), seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 1);
        let mut inputs: Vec<Tensor<f64>> = t[3..].to_vec();
        inputs.extend((0..steps).map(|_| Tensor::rand_normal(&[n, i], 0.0, 1.0, &mut rng)));
        let f = check_fn(move |tape, v| {
            let w = CellWeights::new(v[0], v[1]).with_bias(v[2], v[3]);
            let zero = tape.constant(Tensor::zeros(&[n, h]));
            let mut state = LstmState { h: zero, c: zero };
            let mut outs = Vec::new();
            for &x in &v[4..] {
                state = match kind {
                    "rnn" => LstmState { h: rnn_cell(x, state.h, &w), c: zero },
                    "lstm" => lstm_cell(x, state, &w),
                    _ => LstmState { h: gru_cell(x, state.h, &w), c: zero },
                };
                outs.push(state.h);
            }
            Var::stack(&outs, 0)
        });
        let r = gradcheck(f, &inputs, &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{kind}: {}", r.unwrap_err());
    }
}

/// `forward` on `[T, N, I]` equals stepping by hand, for any cell.
fn forward_is_stepping<C: RecurrentCell<f64>>(cell: &C, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = Tensor::rand_normal(&[5, 2, cell.input_size()], 0.0, 1.0, &mut rng);
    let tape = Tape::new();
    let seq = cell.forward(tape.constant(x.clone())).value();
    assert_eq!(seq.shape(), &[5, 2, cell.hidden_size()]);
    let mut state = cell.zero_state(&tape, 2);
    for t in 0..5 {
        state = cell.step(
            tape.constant(x.narrow(0, t, 1).reshape(&[2, cell.input_size()])),
            state,
        );
        let want = C::hidden(state).value().to_vec();
        assert_eq!(seq.narrow(0, t, 1).to_vec(), want, "step {t}");
    }
}

#[test]
fn module_forward_is_stepping_the_cell() {
    let mut rng = StdRng::seed_from_u64(0);
    forward_is_stepping(&RNN::new(3, 4, &mut rng), 1);
    forward_is_stepping(&LSTM::new(3, 4, &mut rng), 2);
    forward_is_stepping(&GRU::new(3, 4, &mut rng), 3);
}

#[test]
fn sequence_input_gradcheck_through_unroll_sequence() {
    // The narrow / stack path of `unroll_sequence`, with the cell's weights fixed.
    let mut rng = StdRng::seed_from_u64(5);
    let lstm = LSTM::<f64>::new(2, 3, &mut rng);
    let x = Tensor::rand_normal(&[4, 2, 2], 0.0, 1.0, &mut rng);
    let r = gradcheck(
        check_fn(|_, v| unroll_sequence(&lstm, v[0], None).0),
        &[x],
        &GradcheckOptions::default(),
    );
    r.unwrap();
}

#[test]
fn unroll_from_a_given_state_returns_every_output() {
    let mut rng = StdRng::seed_from_u64(6);
    let gru = GRU::<f64>::new(2, 3, &mut rng);
    let tape = Tape::new();
    let xs: Vec<_> = (0..3)
        .map(|_| tape.constant(Tensor::rand_normal(&[1, 2], 0.0, 1.0, &mut rng)))
        .collect();
    let h0 = tape.constant(Tensor::ones(&[1, 3]));
    let (hs, last) = unroll(&gru, &xs, Some(h0));
    assert_eq!(hs.len(), 3);
    assert_eq!(hs[2].value().to_vec(), last.value().to_vec());
    let first = gru.step(xs[0], h0).value().to_vec();
    assert_eq!(hs[0].value().to_vec(), first, "starts from the given state");
}

#[test]
fn parameters_have_pytorch_names_shapes_and_init() {
    let mut rng = StdRng::seed_from_u64(7);
    let hidden = 16;
    let bound = 1.0 / (hidden as f64).sqrt();
    let cells: Vec<(Box<dyn Module<f64>>, usize)> = vec![
        (Box::new(RNN::new(5, hidden, &mut rng)), 1),
        (Box::new(LSTM::new(5, hidden, &mut rng)), 4),
        (Box::new(GRU::new(5, hidden, &mut rng)), 3),
    ];
    for (cell, g) in cells {
        let params = cell.named_parameters();
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]);
        let shapes: Vec<Vec<usize>> = params.iter().map(|(_, t)| t.shape().to_vec()).collect();
        assert_eq!(
            shapes,
            [
                vec![g * hidden, 5],
                vec![g * hidden, hidden],
                vec![g * hidden],
                vec![g * hidden]
            ]
        );
        for (name, t) in &params {
            let v = t.to_vec();
            assert!(
                v.iter().all(|a| a.abs() <= bound),
                "{}: {name} outside U(±1/√H)",
                cell.describe()
            );
            assert!(
                v.iter().any(|a| a.abs() > bound / 2.0),
                "{name} spans the interval"
            );
        }
    }
}

#[test]
fn forget_bias_sets_the_second_gate_block() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut lstm = LSTM::<f64>::new(2, 3, &mut rng);
    let before = lstm.named_parameters();
    lstm.set_forget_bias(1.0);
    let after = lstm.named_parameters();
    let (bi, bh) = (after[2].1.to_vec(), after[3].1.to_vec());
    assert_eq!(&bi[3..6], &[1.0; 3]);
    assert_eq!(&bh[3..6], &[0.0; 3]);
    // The i, g and o blocks are untouched.
    for (k, (old, new)) in before[2].1.to_vec().iter().zip(&bi).enumerate() {
        if !(3..6).contains(&k) {
            assert_eq!(old, new);
        }
    }
}

#[test]
#[should_panic(
    expected = "lstm_cell: expected input [N, 2] and state [N, 3], got [4, 2] and [5, 3]"
)]
fn batch_mismatch_names_both_shapes() {
    let mut rng = StdRng::seed_from_u64(9);
    let lstm = LSTM::<f32>::new(2, 3, &mut rng);
    let tape = Tape::new();
    let state = lstm.zero_state(&tape, 5);
    lstm.step(tape.constant(Tensor::zeros(&[4, 2])), state);
}
