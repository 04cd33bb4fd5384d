//! End to end: a small MLP trained with Adam on the bundled digits reaches
//! more than 90% held-out accuracy in a few epochs (a smaller version of
//! `examples/train_digits.rs`; well under a second in release).

use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::Tape;
use tapegrad_nn::data::{load_bundled_digits, Batches, Dataset};
use tapegrad_nn::init::{FanMode, Init, Nonlinearity};
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::optim::{clip_grad_norm, Adam, Optimizer, ParamGrads, SGD};
use tapegrad_nn::{Linear, Module, ReLU, Sequential};
use tapegrad_tensor::Tensor;

fn mlp(rng: &mut StdRng) -> Sequential<f32> {
    let he = Init::KaimingNormal {
        mode: FanMode::FanIn,
        nonlinearity: Nonlinearity::ReLU,
    };
    Sequential::new()
        .add(Linear::with_init(64, 32, he, true, rng))
        .add(ReLU)
        .add(Linear::new(32, 10, rng))
}

fn accuracy(model: &Sequential<f32>, data: &Dataset<f32>) -> f64 {
    let tape = Tape::new();
    let predicted = model
        .forward(tape.constant(data.features()))
        .value()
        .argmax(1)
        .to_vec();
    let right = predicted
        .iter()
        .zip(data.labels())
        .filter(|(&p, &l)| p == l)
        .count();
    right as f64 / data.len() as f64
}

/// Trains `epochs` epochs with `opt` (clipping the gradient norm to 1 if
/// `clip`); returns the test accuracy before and after.
fn train(opt: &mut dyn Optimizer<f32>, epochs: usize, clip: bool) -> (f64, f64) {
    let (train_set, test_set) = load_bundled_digits::<f32>()
        .unwrap()
        .stratified_split(0.2, 0);
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = mlp(&mut rng);
    let before = accuracy(&model, &test_set);
    for _ in 0..epochs {
        for (x, labels) in Batches::from_dataset(&train_set, 32, true, &mut rng) {
            let tape = Tape::new();
            let grads = cross_entropy(model.forward(tape.constant(x)), &labels).backward();
            if clip {
                let mut g = ParamGrads::collect(&model, &grads);
                clip_grad_norm(&mut g, 1.0);
                opt.step(&mut model, &g);
            } else {
                opt.step(&mut model, &grads);
            }
        }
    }
    let names: Vec<String> = opt.state_dict(&model).into_iter().map(|(n, _)| n).collect();
    assert!(
        names.is_empty() || names.iter().any(|n| n.starts_with("0.weight.")),
        "state names {names:?}"
    );
    (before, accuracy(&model, &test_set))
}

#[test]
fn adam_trains_digits_above_90_percent() {
    let (before, after) = train(&mut Adam::new(3e-3), 10, false);
    assert!(before < 0.3, "untrained accuracy {before}");
    assert!(
        after > 0.9,
        "test accuracy after 10 epochs of Adam: {after}"
    );
}

#[test]
fn sgd_nesterov_with_clipping_trains_digits_above_90_percent() {
    let mut opt = SGD::new(0.05)
        .momentum(0.9)
        .nesterov(true)
        .weight_decay(1e-4);
    let (_, after) = train(&mut opt, 10, true);
    assert!(after > 0.9, "test accuracy after 10 epochs of SGD: {after}");
}

/// Optimiser state survives a save and load: a run continued from a loaded
/// state (moments and step count) follows the uninterrupted run exactly,
/// while a fresh optimiser (state lost) does not.
#[test]
fn adam_state_survives_save_and_load() {
    let (train_set, _) = load_bundled_digits::<f32>()
        .unwrap()
        .stratified_split(0.2, 0);
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = mlp(&mut rng);
    let batches: Vec<_> = Batches::from_dataset(&train_set, 32, true, &mut rng)
        .take(20)
        .collect();
    let step = |model: &mut Sequential<f32>, opt: &mut Adam<f32>, (x, labels): &(_, Vec<usize>)| {
        let tape = Tape::new();
        let grads = cross_entropy(model.forward(tape.constant(Clone::clone(x))), labels).backward();
        opt.step(model, &grads);
    };
    let mut opt = Adam::new(3e-3);
    for b in &batches[..10] {
        step(&mut model, &mut opt, b);
    }
    let saved = opt.state_dict(&model);
    assert!(!saved.is_empty(), "Adam keeps moments");
    let weights = model.state_dict();
    // A new model with the saved weights, and an optimiser with the saved
    // state (or none), matched to it by parameter name.
    let restore = |state: Option<Vec<(String, Tensor<f32>)>>| {
        let mut m = mlp(&mut StdRng::seed_from_u64(99));
        m.load_state_dict(weights.iter().cloned().collect())
            .unwrap();
        let mut opt = Adam::new(3e-3);
        if let Some(state) = state {
            opt.load_state_dict(&m, state).unwrap();
        }
        (m, opt)
    };
    let run = |m: &mut Sequential<f32>, opt: &mut Adam<f32>| {
        for b in &batches[10..] {
            step(m, opt, b);
        }
        m.state_dict()
    };
    let (mut resumed_model, mut resumed_opt) = restore(Some(saved));
    let (mut fresh_model, mut fresh_opt) = restore(None);
    let uninterrupted = run(&mut model, &mut opt);
    let resumed = run(&mut resumed_model, &mut resumed_opt);
    let fresh = run(&mut fresh_model, &mut fresh_opt);
    let same = |a: &[(String, Tensor<f32>)], b: &[(String, Tensor<f32>)]| {
        a.iter()
            .zip(b)
            .all(|((_, x), (_, y))| x.to_vec() == y.to_vec())
    };
    assert!(
        same(&uninterrupted, &resumed),
        "a loaded state continues the run exactly"
    );
    assert!(
        !same(&uninterrupted, &fresh),
        "a fresh optimiser must differ (state matters)"
    );
}
