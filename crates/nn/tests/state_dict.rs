//! PyTorch-style state dicts: parameters and buffers (batch-norm running
//! statistics) by dotted name; strict, all-or-nothing loading; checkpoints
//! of whole modules through files and bytes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use tapegrad_autodiff::Tape;
use tapegrad_nn::checkpoint::{
    from_bytes, load_module, save_module, save_safetensors, to_bytes, CheckpointError,
};
use tapegrad_nn::conv::{BatchNorm2d, Conv2d, Conv2dConfig};
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::optim::{Adam, Optimizer};
use tapegrad_nn::{
    visit_child, visit_child_buffers, visit_child_buffers_mut, visit_child_mut, Flatten, Linear,
    Module, Param, ReLU, Sequential,
};
use tapegrad_tensor::{Float, Tensor};

/// The names PyTorch gives the same `nn.Sequential`, parameters first.
const NAMES: [&str; 9] = [
    "0.weight",
    "0.bias",
    "1.weight",
    "1.bias",
    "4.weight",
    "4.bias",
    "1.running_mean",
    "1.running_var",
    "1.num_batches_tracked",
];

/// Conv2d(1 -> 3, 3x3, padding 1), BatchNorm2d(3), ReLU, Flatten,
/// Linear(75 -> 4), for `[N, 1, 5, 5]` images; weights drawn from `seed`.
fn build<E: Float>(seed: u64) -> Sequential<E> {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Conv2d::with_config(
            1,
            3,
            Conv2dConfig::new(3).padding(1),
            &mut rng,
        ))
        .add(BatchNorm2d::new(3))
        .add(ReLU)
        .add(Flatten)
        .add(Linear::new(3 * 5 * 5, 4, &mut rng))
}

/// `[n, 1, 5, 5]` images (not centred, so the running mean moves) and labels.
fn batch<E: Float>(n: usize, rng: &mut StdRng) -> (Tensor<E>, Vec<usize>) {
    let x = Tensor::rand_normal(&[n, 1, 5, 5], 0.5, 2.0, rng);
    let labels = (0..n).map(|_| rng.random_range(0..4)).collect();
    (x, labels)
}

/// `build(0)` after `steps` Adam steps in training mode (still training).
fn trained<E: Float>(steps: usize) -> Sequential<E> {
    let mut model = build(0);
    let mut opt = Adam::new(1e-2);
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..steps {
        let (x, labels) = batch::<E>(8, &mut rng);
        let tape = Tape::new();
        let loss = cross_entropy(model.forward(tape.constant(x)), &labels);
        let grads = loss.backward();
        opt.step(&mut model, &grads);
    }
    model
}

/// Evaluation-mode outputs on a fixed batch, as bits.
fn eval_bits<E: Float>(model: &mut Sequential<E>) -> Vec<u64> {
    model.set_training(false);
    let (x, _) = batch::<E>(6, &mut StdRng::seed_from_u64(7));
    let tape = Tape::new();
    bits(&model.forward(tape.constant(x)).value())
}

fn bits<E: Float>(t: &Tensor<E>) -> Vec<u64> {
    t.to_vec().iter().map(|x| x.to_f64().to_bits()).collect()
}

/// The whole state, names, shapes and bits, for "nothing changed" checks.
fn snapshot<E: Float>(model: &Sequential<E>) -> Vec<(String, Vec<usize>, Vec<u64>)> {
    model
        .state_dict()
        .into_iter()
        .map(|(name, t)| (name, t.shape().to_vec(), bits(&t)))
        .collect()
}

fn names(state: &[(String, Tensor<f32>)]) -> Vec<&str> {
    state.iter().map(|(name, _)| name.as_str()).collect()
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "tapegrad-state-dict-{}-{name}.safetensors",
        std::process::id()
    ))
}

#[test]
fn state_dict_names_parameters_then_buffers_as_pytorch() {
    let model = trained::<f32>(3);
    let state = model.state_dict();
    assert_eq!(names(&state), NAMES);
    let shapes: Vec<&[usize]> = state.iter().map(|(_, t)| t.shape()).collect();
    let expected: [&[usize]; 9] = [
        &[3, 1, 3, 3],
        &[3],
        &[3],
        &[3],
        &[4, 75],
        &[4],
        &[3],
        &[3],
        &[],
    ];
    assert_eq!(shapes, expected);
    // Three training batches; the statistics have moved off (0, 1).
    assert_eq!(state[8].1.item(), 3.0);
    assert!(state[6].1.to_vec().iter().all(|&m| m != 0.0));
    assert!(state[7].1.to_vec().iter().all(|&v| v != 1.0));
    // Buffers are not parameters: the optimiser and the count never see them.
    assert_eq!(model.named_parameters().len(), 6);
    assert_eq!(model.num_parameters(), 27 + 3 + 3 + 3 + 300 + 4);
    assert_eq!(model.named_buffers().len(), 3);
}

#[test]
fn save_module_then_load_module_reproduces_training_bit_for_bit() {
    let mut model = trained::<f32>(3);
    let path = scratch("roundtrip");
    save_module(&path, &model).unwrap();
    let saved = snapshot(&model);
    let expected_out = eval_bits(&mut model);

    let mut fresh = build::<f32>(1);
    assert_ne!(
        eval_bits(&mut fresh),
        expected_out,
        "a differently seeded model should predict differently"
    );
    load_module(&path, &mut fresh).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(snapshot(&fresh), saved); // running stats and count included
    assert_eq!(eval_bits(&mut fresh), expected_out);
}

#[test]
fn the_running_statistics_are_what_makes_evaluation_match() {
    // Without the buffers (weights only, as the checkpoints before state
    // dicts had), evaluation uses fresh statistics and predicts differently.
    let mut model = trained::<f32>(3);
    let mut fresh = build::<f32>(1);
    let mut params_only: BTreeMap<String, Tensor<f32>> = model.state_dict().into_iter().collect();
    let fresh_buffers = fresh.named_buffers();
    params_only.extend(fresh_buffers);
    fresh.load_state_dict(params_only).unwrap();
    assert_ne!(eval_bits(&mut fresh), eval_bits(&mut model));
}

fn round_trip_through_bytes<E: Float>() {
    let mut model = trained::<E>(2);
    let bytes = to_bytes(&model.state_dict()).unwrap();
    let mut fresh = build::<E>(9);
    fresh.load_state_dict(from_bytes(&bytes).unwrap()).unwrap();
    assert_eq!(snapshot(&fresh), snapshot(&model));
    assert_eq!(eval_bits(&mut fresh), eval_bits(&mut model));
}

#[test]
fn round_trips_through_bytes_in_f32_and_f64() {
    round_trip_through_bytes::<f32>();
    round_trip_through_bytes::<f64>();
}

#[test]
fn loading_keeps_parameter_identity_for_the_optimiser() {
    let model = trained::<f32>(1);
    let mut fresh = build::<f32>(1);
    let ids = |m: &Sequential<f32>| {
        let mut ids = Vec::new();
        m.visit_params(&mut |_, p: &Param<f32>| ids.push(p.id()));
        ids
    };
    let before = ids(&fresh);
    fresh
        .load_state_dict(model.state_dict().into_iter().collect())
        .unwrap();
    assert_eq!(ids(&fresh), before);
}

/// Loads `state` into a fresh model, which must fail with `message` and
/// leave the model exactly as it was.
fn assert_refused(state: BTreeMap<String, Tensor<f32>>, message: &str) -> CheckpointError {
    let mut target = build::<f32>(5);
    let before = snapshot(&target);
    let err = target.load_state_dict(state).unwrap_err();
    assert_eq!(err.to_string(), message);
    assert_eq!(snapshot(&target), before, "a failed load changed the model");
    err
}

fn trained_state() -> BTreeMap<String, Tensor<f32>> {
    trained::<f32>(2).state_dict().into_iter().collect()
}

#[test]
fn a_missing_buffer_is_named_and_changes_nothing() {
    let mut state = trained_state();
    state.remove("1.running_var");
    let err = assert_refused(
        state,
        "<memory>: tensor '1.running_var': expected in the file, not found",
    );
    assert!(matches!(err, CheckpointError::Missing { name, .. } if name == "1.running_var"));
}

#[test]
fn a_wrong_shape_is_named_and_changes_nothing() {
    let mut state = trained_state();
    state.insert("1.running_mean".into(), Tensor::zeros(&[4]));
    let err = assert_refused(
        state,
        "<memory>: tensor '1.running_mean': expected shape [3], found [4]",
    );
    assert!(matches!(
        err,
        CheckpointError::Shape { name, expected, found, .. }
            if name == "1.running_mean" && expected == [3] && found == [4]
    ));
    // A count that is a [1] tensor rather than 0-d is a wrong shape too.
    let mut state = trained_state();
    state.insert("1.num_batches_tracked".into(), Tensor::zeros(&[1]));
    assert_refused(
        state,
        "<memory>: tensor '1.num_batches_tracked': expected shape [], found [1]",
    );
}

#[test]
fn an_unexpected_tensor_is_named_and_changes_nothing() {
    // Every expected tensor is present and fits: only the stray one is wrong,
    // and it is found last, so a load that wrote as it went would have
    // changed everything.
    let mut state = trained_state();
    state.insert("1.running_extra".into(), Tensor::zeros(&[3]));
    let err = assert_refused(
        state,
        "<memory>: tensor '1.running_extra': found in the file, not expected",
    );
    assert!(matches!(err, CheckpointError::Unexpected { name, .. } if name == "1.running_extra"));
}

#[test]
fn load_module_errors_name_the_file_and_change_nothing() {
    let path = scratch("missing-count");
    let mut state = trained::<f32>(2).state_dict();
    state.retain(|(name, _)| name != "1.num_batches_tracked");
    save_safetensors(&path, &state).unwrap();
    let mut target = build::<f32>(5);
    let before = snapshot(&target);
    let err = load_module(&path, &mut target).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: tensor '1.num_batches_tracked': expected in the file, not found",
            path.display()
        )
    );
    assert_eq!(snapshot(&target), before);

    let err = load_module(scratch("does-not-exist"), &mut target).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }));
}

/// A user-written container: an encoder and a head, forwarding parameters
/// and buffers with the same prefixes.
struct Net {
    encoder: Sequential<f32>,
    head: BatchNorm2d<f32>,
}

impl Module<f32> for Net {
    fn forward<'t>(&self, x: tapegrad_autodiff::Var<'t, f32>) -> tapegrad_autodiff::Var<'t, f32> {
        self.head.forward(self.encoder.forward(x))
    }
    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f32>)) {
        visit_child(&self.encoder, "encoder", f);
        visit_child(&self.head, "head", f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f32>)) {
        visit_child_mut(&mut self.encoder, "encoder", f);
        visit_child_mut(&mut self.head, "head", f);
    }
    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<f32>)) {
        visit_child_buffers(&self.encoder, "encoder", f);
        visit_child_buffers(&self.head, "head", f);
    }
    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<f32>)) {
        visit_child_buffers_mut(&mut self.encoder, "encoder", f);
        visit_child_buffers_mut(&mut self.head, "head", f);
    }
}

#[test]
fn nested_containers_prefix_buffer_names() {
    let net = Net {
        encoder: Sequential::new()
            .add(ReLU)
            .add(BatchNorm2d::with_options(2, 1e-5, 0.1, false)),
        head: BatchNorm2d::new(2),
    };
    assert_eq!(
        names(&net.state_dict()),
        [
            "head.weight",
            "head.bias",
            "encoder.1.running_mean",
            "encoder.1.running_var",
            "encoder.1.num_batches_tracked",
            "head.running_mean",
            "head.running_var",
            "head.num_batches_tracked",
        ]
    );
}

#[test]
fn buffers_load_into_a_batch_norm_without_affine_parameters() {
    let mut bn = BatchNorm2d::<f64>::with_options(2, 1e-5, 0.1, false);
    let state = BTreeMap::from([
        (
            "running_mean".to_string(),
            Tensor::from_vec(vec![0.5, -1.5], &[2]),
        ),
        (
            "running_var".to_string(),
            Tensor::from_vec(vec![2.0, 0.25], &[2]),
        ),
        ("num_batches_tracked".to_string(), Tensor::scalar(12.0)),
    ]);
    bn.load_state_dict(state).unwrap();
    assert_eq!(bn.running_mean().to_vec(), vec![0.5, -1.5]);
    assert_eq!(bn.running_var().to_vec(), vec![2.0, 0.25]);
    assert_eq!(bn.num_batches_tracked(), 12);
    // Evaluation uses them: (x - 0.5) / sqrt(2 + eps) for channel 0.
    bn.set_training(false);
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_vec(vec![2.5, 1.0], &[1, 2, 1, 1]));
    let y = bn.forward(x).value().to_vec();
    assert_eq!(y[0], 2.0 / (2.0f64 + 1e-5).sqrt());
    assert_eq!(y[1], 2.5 / (0.25f64 + 1e-5).sqrt());
}

#[test]
fn a_loaded_count_is_rounded_to_a_count() {
    for (stored, count) in [(3.0, 3), (2.6, 3), (-1.0, 0), (f32::NAN, 0)] {
        let mut bn = BatchNorm2d::<f32>::new(1);
        let mut state: BTreeMap<String, Tensor<f32>> = bn.state_dict().into_iter().collect();
        state.insert("num_batches_tracked".into(), Tensor::scalar(stored));
        bn.load_state_dict(state).unwrap();
        assert_eq!(bn.num_batches_tracked(), count, "stored {stored}");
    }
}

#[test]
#[should_panic(expected = "BatchNorm2d: buffer 'running_mean' must keep shape [2], was given [3]")]
fn changing_a_buffer_shape_through_the_visitor_panics() {
    let mut bn = BatchNorm2d::<f32>::new(2);
    bn.visit_buffers_mut(&mut |name, b| {
        if name == "running_mean" {
            *b = Tensor::zeros(&[3]);
        }
    });
}
