//! Optimiser trajectories and gradient clipping against PyTorch.
//!
//! The reference numbers come from `reference/make_optim_refs.py` (torch
//! version in the header of `reference/optim_refs.rs`): the same linear
//! regression, the same starting weights, 5 steps of each optimiser. The
//! gradients here come from tapegrad's own tape, so a step is checked end to
//! end. In f64 the trajectories agree to ~1e-15; the tolerance is 1e-10.

#[path = "reference/optim_problem.rs"]
mod problem;

use problem::{max_abs_diff, refs, Affine};
use tapegrad_nn::optim::{
    clip_grad_norm, clip_grad_norm_with, clip_grad_value, Adam, AdamW, Optimizer, ParamGrads, SGD,
};

const TOL: f64 = 1e-10;

/// Runs 5 steps of `opt` (clipping the L2 norm to `clip` first, if given)
/// and compares every step with `expected`.
fn check_trajectory(
    case: &str,
    mut opt: impl Optimizer<f64>,
    clip: Option<f64>,
    expected: &[[f64; 8]; 5],
) {
    let mut model = Affine::<f64>::start();
    for (step, want) in expected.iter().enumerate() {
        let grads = model.grads();
        match clip {
            Some(max_norm) => {
                let mut g = ParamGrads::collect(&model, &grads);
                clip_grad_norm(&mut g, max_norm);
                opt.step(&mut model, &g);
            }
            None => opt.step(&mut model, &grads),
        }
        let err = max_abs_diff(&model.flat(), want);
        assert!(
            err < TOL,
            "{case}: step {} differs from PyTorch by {err:e}\n got  {:?}\n want {:?}",
            step + 1,
            model.flat(),
            want
        );
    }
    // PyTorch skips a parameter whose gradient is None: no update, no state.
    assert_eq!(
        model.unused.value().to_vec(),
        refs::UNUSED0.to_vec(),
        "{case}: unused moved"
    );
    let state = opt.state_dict(&model);
    assert!(
        state.iter().all(|(name, _)| !name.starts_with("unused.")),
        "{case}: state for unused"
    );
}

#[test]
fn sgd_plain_matches_pytorch() {
    check_trajectory("SGD", SGD::new(0.1), None, &refs::SGD_PLAIN);
}

#[test]
fn sgd_nesterov_weight_decay_matches_pytorch() {
    let opt = SGD::new(0.1)
        .momentum(0.9)
        .nesterov(true)
        .weight_decay(0.01)
        .dampening(0.0);
    check_trajectory("SGD nesterov", opt, None, &refs::SGD_NESTEROV);
}

#[test]
fn sgd_momentum_with_dampening_matches_pytorch() {
    // The first step ignores dampening (buffer = first gradient); later ones do not.
    let opt = SGD::new(0.05)
        .momentum(0.8)
        .dampening(0.3)
        .weight_decay(0.02);
    check_trajectory("SGD dampened", opt, None, &refs::SGD_DAMPENED);
}

#[test]
fn adam_matches_pytorch() {
    check_trajectory("Adam", Adam::new(0.1).weight_decay(0.01), None, &refs::ADAM);
}

#[test]
fn adam_with_and_without_amsgrad_matches_pytorch() {
    let base = Adam::new(0.1).betas(0.8, 0.6).eps(1e-6).weight_decay(0.01);
    check_trajectory(
        "Adam fast betas",
        base.clone(),
        None,
        &refs::ADAM_FAST_BETAS,
    );
    check_trajectory(
        "Adam amsgrad",
        base.amsgrad(true),
        None,
        &refs::ADAM_AMSGRAD,
    );
    // The problem is chosen so AMSGrad changes the path (the script asserts it too).
    assert!(max_abs_diff(&refs::ADAM_FAST_BETAS[4], &refs::ADAM_AMSGRAD[4]) > 1e-3);
}

#[test]
fn adamw_matches_pytorch() {
    check_trajectory(
        "AdamW",
        AdamW::new(0.1).weight_decay(0.1),
        None,
        &refs::ADAMW,
    );
    let ams = AdamW::new(0.1)
        .betas(0.8, 0.6)
        .weight_decay(0.1)
        .amsgrad(true);
    check_trajectory("AdamW amsgrad", ams, None, &refs::ADAMW_AMSGRAD);
}

#[test]
fn adamw_default_weight_decay_is_pytorchs() {
    // torch.optim.AdamW defaults to weight_decay = 0.01, Adam to 0.
    let mut a = Affine::<f64>::start();
    let mut b = Affine::<f64>::start();
    let (ga, gb) = (a.grads(), b.grads());
    AdamW::new(0.1).step(&mut a, &ga);
    AdamW::new(0.1).weight_decay(0.01).step(&mut b, &gb);
    assert_eq!(a.flat(), b.flat());
}

#[test]
fn sgd_with_clipping_every_step_matches_pytorch() {
    let opt = SGD::new(0.1)
        .momentum(0.9)
        .nesterov(true)
        .weight_decay(0.01);
    check_trajectory(
        "SGD nesterov clipped",
        opt,
        Some(0.5),
        &refs::SGD_NESTEROV_CLIPPED,
    );
}

#[test]
fn adam_in_f32_follows_pytorch_f32() {
    let mut model = Affine::<f32>::start();
    let mut opt = Adam::new(0.1).weight_decay(0.01);
    for (step, want) in refs::ADAM_F32.iter().enumerate() {
        let grads = model.grads();
        opt.step(&mut model, &grads);
        let want: Vec<f64> = want.iter().map(|&x| x as f64).collect();
        let err = max_abs_diff(&model.flat(), &want);
        assert!(err < 1e-6, "Adam f32: step {} differs by {err:e}", step + 1);
    }
}

/// Collects the gradients at the start, clips them with `clip`, and checks
/// the returned total norm and the clipped gradients against `expected`
/// (`[total, W grads.., b grads..]`).
fn check_clip(case: &str, clip: impl Fn(&mut ParamGrads<f64>) -> f64, expected: &[f64; 9]) {
    let model = Affine::<f64>::start();
    let mut g = ParamGrads::collect(&model, &model.grads());
    assert_eq!(g.len(), 2, "unused has no gradient");
    let total = clip(&mut g);
    assert!(
        (total - expected[0]).abs() < TOL,
        "{case}: total norm {total} vs {}",
        expected[0]
    );
    let mut got = g.by_name("w").unwrap().to_vec();
    got.extend(g.by_name("b").unwrap().to_vec());
    assert!(
        max_abs_diff(&got, &expected[1..]) < TOL,
        "{case}: clipped {got:?} vs {:?}",
        &expected[1..]
    );
}

#[test]
fn clip_grad_norm_matches_pytorch() {
    check_clip("L2 0.5", |g| clip_grad_norm(g, 0.5), &refs::CLIP_L2_HALF);
    check_clip(
        "L2 100 (no-op)",
        |g| clip_grad_norm(g, 100.0),
        &refs::CLIP_L2_LARGE,
    );
    check_clip(
        "inf 0.5",
        |g| clip_grad_norm_with(g, 0.5, f64::INFINITY),
        &refs::CLIP_INF_HALF,
    );
    check_clip(
        "L3 0.5",
        |g| clip_grad_norm_with(g, 0.5, 3.0),
        &refs::CLIP_L3_HALF,
    );
}

#[test]
fn clipped_norm_is_max_norm() {
    let model = Affine::<f64>::start();
    let mut g = ParamGrads::collect(&model, &model.grads());
    let before = clip_grad_norm(&mut g, 0.5);
    assert!(before > 0.5);
    let after = clip_grad_norm(&mut g, 1e9); // measures, scales by 1
    assert!((after - 0.5).abs() < 1e-6, "norm after clipping {after}");
}

#[test]
fn clip_grad_value_matches_pytorch() {
    let model = Affine::<f64>::start();
    let mut g = ParamGrads::collect(&model, &model.grads());
    clip_grad_value(&mut g, 1.0);
    let mut got = g.by_name("w").unwrap().to_vec();
    got.extend(g.by_name("b").unwrap().to_vec());
    assert_eq!(got, refs::CLIP_VALUE.to_vec());
}

#[test]
fn clip_grad_norm_of_nothing_is_zero() {
    let mut g = ParamGrads::<f64>::new();
    assert_eq!(clip_grad_norm(&mut g, 1.0), 0.0);
}
