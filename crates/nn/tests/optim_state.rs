//! Optimiser state: saved through safetensors and loaded into a freshly built
//! model and optimiser, training continues on exactly the same path; bad
//! states are refused with an error naming the entry.

#[path = "reference/optim_problem.rs"]
mod problem;

use problem::Affine;
use std::path::PathBuf;
use tapegrad_nn::checkpoint::{load_safetensors, save_safetensors};
use tapegrad_nn::optim::{Adam, AdamW, Optimizer, StateError, SGD};
use tapegrad_nn::Module;
use tapegrad_tensor::{Float, Tensor};

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tapegrad-optim-{tag}-{}.safetensors",
        std::process::id()
    ))
}

/// `n` steps; the weights after each.
fn run<E: Float>(model: &mut Affine<E>, opt: &mut dyn Optimizer<E>, n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| {
            let grads = model.grads();
            opt.step(model, &grads);
            model.flat()
        })
        .collect()
}

/// Trains 3 steps, saves weights and optimiser state to disk, trains 4 more;
/// then loads both into a new model and a new optimiser made by `make` and
/// trains 4 steps: the two continuations must be bit-identical, and differ
/// from continuing with a fresh optimiser state.
fn check_round_trip<E: Float, O: Optimizer<E>>(tag: &str, make: impl Fn() -> O) {
    let (weights_path, state_path) = (
        temp_path(&format!("{tag}-w")),
        temp_path(&format!("{tag}-s")),
    );
    let mut model = Affine::<E>::start();
    let mut opt = make();
    run(&mut model, &mut opt, 3);
    save_safetensors(&weights_path, &model.named_parameters()).unwrap();
    save_safetensors(&state_path, &opt.state_dict(&model)).unwrap();
    let expected = run(&mut model, &mut opt, 4);

    let mut fresh = Affine::<E>::start();
    let weights = load_safetensors::<E>(&weights_path).unwrap();
    fresh.visit_params_mut(&mut |name, p| p.set(weights[name].clone()));
    let mut restarted = fresh_copy(&fresh);
    let mut opt2 = make();
    let state: Vec<(String, Tensor<E>)> = load_safetensors::<E>(&state_path)
        .unwrap()
        .into_iter()
        .collect();
    opt2.load_state_dict(&fresh, state).unwrap();
    assert_eq!(
        run(&mut fresh, &mut opt2, 4),
        expected,
        "{tag}: continued trajectory differs after load"
    );

    let without_state = run(&mut restarted, &mut make(), 4);
    assert_ne!(
        without_state, expected,
        "{tag}: the state made no difference, the test proves nothing"
    );
    std::fs::remove_file(weights_path).unwrap();
    std::fs::remove_file(state_path).unwrap();
}

/// A model with the same weights as `m` (and new parameter ids).
fn fresh_copy<E: Float>(m: &Affine<E>) -> Affine<E> {
    let mut out = Affine::start();
    out.w.set(m.w.value().clone());
    out.b.set(m.b.value().clone());
    out
}

#[test]
fn adam_state_round_trips_through_safetensors() {
    check_round_trip::<f64, _>("adam64", || Adam::new(0.1).weight_decay(0.01));
    check_round_trip::<f32, _>("adam32", || Adam::new(0.1).weight_decay(0.01));
    check_round_trip::<f64, _>("amsgrad", || Adam::new(0.1).betas(0.8, 0.6).amsgrad(true));
}

#[test]
fn adamw_and_sgd_state_round_trip_through_safetensors() {
    check_round_trip::<f64, _>("adamw", || AdamW::new(0.05).amsgrad(true));
    check_round_trip::<f64, _>("sgd", || SGD::new(0.05).momentum(0.9).dampening(0.1));
    check_round_trip::<f32, _>("nesterov", || SGD::new(0.05).momentum(0.9).nesterov(true));
}

/// Named tensors, as a state dict.
type Entries = Vec<(String, Tensor<f64>)>;

/// Adam's state after two steps on the reference problem.
fn stepped_adam(amsgrad: bool) -> (Affine<f64>, Adam<f64>, Entries) {
    let mut model = Affine::<f64>::start();
    let mut opt = Adam::new(0.1).amsgrad(amsgrad);
    run(&mut model, &mut opt, 2);
    let state = opt.state_dict(&model);
    (model, opt, state)
}

#[test]
fn state_dict_names_entries_by_parameter() {
    let (_, _, state) = stepped_adam(true);
    let names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "w.exp_avg",
            "w.exp_avg_sq",
            "w.max_exp_avg_sq",
            "w.step",
            "b.exp_avg",
            "b.exp_avg_sq",
            "b.max_exp_avg_sq",
            "b.step",
        ]
    );
    assert_eq!(state[0].1.shape(), &[3, 2]);
    assert_eq!(state[3].1.to_vec(), vec![2.0]); // two steps
                                                // Plain SGD keeps no state at all.
    let mut model = Affine::<f64>::start();
    let mut sgd = SGD::new(0.1);
    run(&mut model, &mut sgd, 1);
    assert!(sgd.state_dict(&model).is_empty());
}

fn load_err(
    opt: &mut Adam<f64>,
    model: &Affine<f64>,
    state: Vec<(String, Tensor<f64>)>,
) -> StateError {
    opt.load_state_dict(model, state).unwrap_err()
}

#[test]
fn missing_entry_is_named() {
    let (model, mut opt, mut state) = stepped_adam(false);
    state.retain(|(n, _)| n != "b.exp_avg_sq");
    let err = load_err(&mut opt, &model, state);
    assert_eq!(
        err,
        StateError::Missing {
            name: "b.exp_avg_sq".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "optimizer state: entry 'b.exp_avg_sq' expected (parameter 'b' has other state entries), not found"
    );
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let (model, mut opt, mut state) = stepped_adam(false);
    state[0].1 = Tensor::zeros(&[2, 3]);
    let err = load_err(&mut opt, &model, state);
    assert_eq!(
        err.to_string(),
        "optimizer state: entry 'w.exp_avg': expected shape [3, 2], found [2, 3]"
    );
}

#[test]
fn amsgrad_mismatch_is_an_error_both_ways() {
    let (model, mut plain, _) = stepped_adam(false);
    let (_, mut ams, ams_state) = stepped_adam(true);
    let (_, _, plain_state) = stepped_adam(false);
    let err = load_err(&mut plain, &model, ams_state);
    assert_eq!(
        err,
        StateError::Unexpected {
            name: "b.max_exp_avg_sq".into()
        }
    );
    let err = load_err(&mut ams, &model, plain_state);
    assert_eq!(
        err,
        StateError::Missing {
            name: "w.max_exp_avg_sq".into()
        }
    );
}

#[test]
fn unexpected_duplicate_and_bad_step_entries_are_errors() {
    let (model, mut opt, state) = stepped_adam(false);
    let mut extra = state.clone();
    extra.push(("v.exp_avg".into(), Tensor::zeros(&[2])));
    assert_eq!(
        load_err(&mut opt, &model, extra),
        StateError::Unexpected {
            name: "v.exp_avg".into()
        }
    );

    let mut twice = state.clone();
    twice.push(state[0].clone());
    assert_eq!(
        load_err(&mut opt, &model, twice),
        StateError::Duplicate {
            name: "w.exp_avg".into()
        }
    );

    for bad in [1.5, -1.0, f64::NAN] {
        let mut s = state.clone();
        let step = s.iter_mut().find(|(n, _)| n == "w.step").unwrap();
        step.1 = Tensor::from_vec(vec![bad], &[1]);
        assert!(
            matches!(load_err(&mut opt, &model, s), StateError::BadStep { .. }),
            "step {bad}"
        );
    }
}

#[test]
fn failed_load_leaves_state_unchanged() {
    let (mut model, mut opt, mut state) = stepped_adam(false);
    let mut untouched = opt.clone();
    let mut twin = fresh_copy(&model);
    // Map `untouched`'s state onto the twin's parameter ids.
    untouched.load_state_dict(&twin, state.clone()).unwrap();
    state[1].1 = Tensor::zeros(&[1]);
    assert!(opt.load_state_dict(&model, state).is_err());
    assert_eq!(
        run(&mut model, &mut opt, 2),
        run(&mut twin, &mut untouched, 2)
    );
}

#[test]
fn loading_an_empty_state_resets_the_optimizer() {
    let (mut model, mut opt, _) = stepped_adam(false);
    opt.load_state_dict(&model, Vec::new()).unwrap();
    let mut twin = fresh_copy(&model);
    assert_eq!(
        run(&mut model, &mut opt, 2),
        run(&mut twin, &mut Adam::new(0.1), 2)
    );
}
