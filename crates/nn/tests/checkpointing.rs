//! Gradient checkpointing through a model: `Sequential::forward_checkpointed`
//! gives bit-identical first- and second-order gradients, and dropout inside
//! a checkpointed block replays its mask during the recomputation.

use rand::SeedableRng;
use tapegrad_autodiff::Tape;
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::{Dropout, Linear, Module, Param, Sequential, Tanh};
use tapegrad_tensor::Tensor;

/// A depth-8 tanh MLP with dropout after every hidden layer; the same seed
/// gives the same weights and the same sequence of dropout masks.
fn model(seed: u64) -> Sequential<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut m = Sequential::new();
    for i in 0..8 {
        m.push(Linear::new(if i == 0 { 6 } else { 12 }, 12, &mut rng));
        m.push(Tanh);
        m.push(Dropout::new(0.3, &mut rng));
    }
    m.push(Linear::new(12, 3, &mut rng));
    m
}

fn batch() -> (Tensor<f64>, Vec<usize>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    (
        Tensor::rand_normal(&[10, 6], 0.0, 1.0, &mut rng),
        (0..10).map(|i| i % 3).collect(),
    )
}

fn param_grads(m: &Sequential<f64>, every: Option<usize>) -> Vec<Vec<u64>> {
    let (x, y) = batch();
    let tape = Tape::new();
    let h = tape.constant(x);
    let out = match every {
        Some(k) => m.forward_checkpointed(h, k),
        None => m.forward(h),
    };
    let grads = cross_entropy(out, &y).backward();
    let mut all = Vec::new();
    m.visit_params(&mut |_, p: &Param<f64>| {
        all.push(
            p.grad(&grads)
                .unwrap()
                .to_vec()
                .iter()
                .map(|v| v.to_bits())
                .collect(),
        )
    });
    all
}

#[test]
fn checkpointed_model_gradients_are_bit_identical_with_dropout() {
    let plain = param_grads(&model(3), None);
    for every in [1, 3, 7, 100] {
        assert_eq!(
            param_grads(&model(3), Some(every)),
            plain,
            "every {every} layers"
        );
    }
}

/// Second order through checkpoints: the gradient of the squared gradient
/// norm (a gradient penalty) is the same bits with and without them.
#[test]
fn gradient_penalty_through_checkpoints_is_bit_identical() {
    let penalty = |every: Option<usize>| {
        let m = model(4);
        let (x, _) = batch();
        let tape = Tape::new();
        let xv = tape.var(x);
        let out = match every {
            Some(k) => m.forward_checkpointed(xv, k),
            None => m.forward(xv),
        };
        let gx = tape.grad(out.square().sum_all(), &[xv])[0];
        let p = gx.square().sum_all();
        tape.grad(p, &[xv])[0]
            .value()
            .to_vec()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(penalty(Some(6)), penalty(None));
}
