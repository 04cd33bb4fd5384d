//! Losses against PyTorch (values and input gradients in float64, from
//! `reference/make_loss_refs.py`), at extreme logits, and against their
//! closed-form gradients.

use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, gradgradcheck, GradcheckOptions, Tape, Var};
use tapegrad_nn::loss::{self, CrossEntropyOptions};
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

#[allow(dead_code)]
mod refs {
    include!("reference/loss_refs.rs");
}

/// The loss `f(x)` and `∂f/∂x` at `x` (shape `shape`), in f64.
fn value_and_grad(
    x: &[f64],
    shape: &[usize],
    f: impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>,
) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_vec(x.to_vec(), shape));
    let loss = f(x);
    assert!(loss.shape().is_empty(), "losses are 0-d");
    (loss.item(), loss.backward()[x].to_vec())
}

fn smoothing(label_smoothing: f64) -> CrossEntropyOptions {
    CrossEntropyOptions { label_smoothing }
}

#[test]
fn cross_entropy_matches_pytorch() {
    let cases = [
        (0.0, refs::CE_VALUE, &refs::CE_GRAD),
        (0.1, refs::CE_LS10_VALUE, &refs::CE_LS10_GRAD),
        (0.35, refs::CE_LS35_VALUE, &refs::CE_LS35_GRAD),
    ];
    for (eps, value, grad) in cases {
        let (v, g) = value_and_grad(&refs::CE_LOGITS, &[4, 5], |z| {
            loss::cross_entropy_with(z, &refs::CE_LABELS, &smoothing(eps))
        });
        assert_close(
            &[v],
            &value,
            1e-13,
            &format!("cross_entropy value, ε = {eps}"),
        );
        assert_close(
            &g,
            grad,
            1e-13,
            &format!("cross_entropy gradient, ε = {eps}"),
        );
    }
    let (v, g) = value_and_grad(&refs::CE_LOGITS, &[4, 5], |z| {
        loss::cross_entropy(z, &refs::CE_LABELS)
    });
    assert_close(&[v], &refs::CE_VALUE, 1e-13, "cross_entropy");
    assert_close(&g, &refs::CE_GRAD, 1e-13, "cross_entropy gradient");
}

#[test]
fn cross_entropy_is_exact_at_extreme_logits() {
    let labels = refs::CE_EXTREME_LABELS;
    for (eps, value, grad) in [
        (0.0, refs::CE_EXTREME_VALUE, &refs::CE_EXTREME_GRAD),
        (
            0.2,
            refs::CE_EXTREME_LS20_VALUE,
            &refs::CE_EXTREME_LS20_GRAD,
        ),
    ] {
        let (v, g) = value_and_grad(&refs::CE_EXTREME_LOGITS, &[3, 3], |z| {
            loss::cross_entropy_with(z, &labels, &smoothing(eps))
        });
        assert_close(&[v], &value, 1e-14, "extreme cross_entropy value");
        assert_close(&g, grad, 1e-14, "extreme cross_entropy gradient");
    }
    // In f32 too: finite and right (2e4 / 3 + ln 2 / 3 ≈ 6666.898).
    let tape = Tape::<f32>::new();
    let data: Vec<f32> = refs::CE_EXTREME_LOGITS.iter().map(|&v| v as f32).collect();
    let z = tape.var(Tensor::from_vec(data, &[3, 3]));
    let l = loss::cross_entropy(z, &labels);
    assert!(
        (l.item() - refs::CE_EXTREME_VALUE[0]).abs() < 1e-2,
        "f32 value {}",
        l.item()
    );
    let g = l.backward()[z].to_f64_vec();
    assert!(g.iter().all(|v| v.is_finite()));
    assert_close(&g, &refs::CE_EXTREME_GRAD, 1e-6, "f32 extreme gradient");
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_onehot_over_n() {
    let (n, c) = (6, 7);
    let logits = Tensor::<f64>::rand_normal(&[n, c], 0.0, 3.0, &mut StdRng::seed_from_u64(1));
    let labels = [0, 6, 3, 3, 1, 5];
    let (_, g) = value_and_grad(&logits.to_vec(), &[n, c], |z| {
        loss::cross_entropy(z, &labels)
    });
    let z = logits.to_vec();
    for i in 0..n {
        let row = &z[i * c..(i + 1) * c];
        let denom: f64 = row.iter().map(|v| v.exp()).sum();
        for j in 0..c {
            let onehot = if labels[i] == j { 1.0 } else { 0.0 };
            let expected = (row[j].exp() / denom - onehot) / n as f64;
            assert!(
                (g[i * c + j] - expected).abs() < 1e-15,
                "[{i}, {j}]: {} vs {expected}",
                g[i * c + j]
            );
        }
    }
}

#[test]
fn nll_matches_pytorch_and_composes_to_cross_entropy() {
    let (v, g) = value_and_grad(&refs::NLL_INPUT, &[3, 4], |q| {
        loss::nll(q, &refs::NLL_LABELS)
    });
    assert_close(&[v], &refs::NLL_VALUE, 1e-14, "nll value");
    assert_close(&g, &refs::NLL_GRAD, 1e-14, "nll gradient");
    let (ce, _) = value_and_grad(&refs::CE_LOGITS, &[4, 5], |z| {
        loss::nll(z.log_softmax(1), &refs::CE_LABELS)
    });
    assert_close(
        &[ce],
        &refs::CE_VALUE,
        1e-13,
        "nll(log_softmax) = cross_entropy",
    );
}

#[test]
fn binary_cross_entropy_with_logits_matches_pytorch() {
    let cases = [
        (
            &refs::BCE_LOGITS[..],
            &refs::BCE_TARGETS[..],
            refs::BCE_VALUE,
            &refs::BCE_GRAD[..],
        ),
        (
            &refs::BCE_EXTREME_LOGITS,
            &refs::BCE_EXTREME_TARGETS,
            refs::BCE_EXTREME_VALUE,
            &refs::BCE_EXTREME_GRAD,
        ),
    ];
    for (logits, targets, value, grad) in cases {
        let n = logits.len();
        let (v, g) = value_and_grad(logits, &[n], |x| {
            let t = x.constant_like(Tensor::from_vec(targets.to_vec(), &[n]));
            loss::binary_cross_entropy_with_logits(x, t)
        });
        assert_close(&[v], &value, 1e-14, "bce value");
        assert_close(&g, grad, 1e-14, "bce gradient");
    }
}

#[test]
fn binary_cross_entropy_with_logits_is_stable_in_f32() {
    // ℓ(1e4, 1) = 0, ℓ(-1e4, 1) = 1e4, ℓ(1e4, 0.5) = 5e3: a naive ln σ(x) gives ln 0 = -inf.
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::from_vec(vec![1e4, -1e4, 1e4], &[3]));
    let t = tape.constant(Tensor::from_vec(vec![1.0, 1.0, 0.5], &[3]));
    let l = loss::binary_cross_entropy_with_logits(x, t);
    assert_close(
        &[l.item()],
        &[(0.0 + 1e4 + 5e3) / 3.0],
        1e-7,
        "f32 bce value",
    );
    let g = l.backward()[x].to_f64_vec();
    assert_close(&g, &[0.0, -1.0 / 3.0, 0.5 / 3.0], 1e-7, "f32 bce gradient");
}

#[test]
fn mse_matches_pytorch() {
    let (v, g) = value_and_grad(&refs::MSE_PRED, &[3, 2], |p| {
        loss::mse(
            p,
            p.constant_like(Tensor::from_vec(refs::MSE_TARGET.to_vec(), &[3, 2])),
        )
    });
    assert_close(&[v], &refs::MSE_VALUE, 1e-14, "mse value");
    assert_close(&g, &refs::MSE_GRAD, 1e-14, "mse gradient");
}

#[test]
fn losses_pass_gradcheck_and_gradgradcheck() {
    let mut rng = StdRng::seed_from_u64(2);
    let logits = Tensor::<f64>::rand_normal(&[4, 3], 0.0, 2.0, &mut rng);
    let probs = Tensor::<f64>::rand_uniform(&[4, 3], 0.05, 0.95, &mut rng);
    let target = Tensor::<f64>::rand_normal(&[4, 3], 0.0, 1.0, &mut rng);
    let labels = [2, 0, 1, 1];
    let opts = GradcheckOptions::default();
    let ce = check_fn(|_, v| loss::cross_entropy_with(v[0], &labels, &smoothing(0.2)));
    let bce = check_fn(|_, v| loss::binary_cross_entropy_with_logits(v[0], v[1]));
    let mse = check_fn(|_, v| loss::mse(v[0], v[1]));
    gradcheck(ce, std::slice::from_ref(&logits), &opts).unwrap();
    gradgradcheck(ce, std::slice::from_ref(&logits), &opts).unwrap();
    gradcheck(bce, &[logits.clone(), probs.clone()], &opts).unwrap();
    gradgradcheck(bce, &[logits.clone(), probs], &opts).unwrap();
    gradcheck(mse, &[logits.clone(), target.clone()], &opts).unwrap();
    gradgradcheck(mse, &[logits, target], &opts).unwrap();
}

#[test]
#[should_panic(expected = "cross_entropy: label 5 is out of range for 5 classes")]
fn cross_entropy_rejects_out_of_range_labels() {
    let tape = Tape::<f32>::new();
    loss::cross_entropy(tape.var(Tensor::zeros(&[2, 5])), &[1, 5]);
}

#[test]
#[should_panic(
    expected = "cross_entropy: expects input [N, C] and N labels, got input [2, 5] and 3 labels"
)]
fn cross_entropy_rejects_a_label_count_mismatch() {
    let tape = Tape::<f32>::new();
    loss::cross_entropy(tape.var(Tensor::zeros(&[2, 5])), &[1, 2, 3]);
}

#[test]
#[should_panic(expected = "mse: input shape [4, 1] and target shape [4] differ")]
fn mse_rejects_broadcasting_shapes() {
    let tape = Tape::<f32>::new();
    loss::mse(
        tape.var(Tensor::zeros(&[4, 1])),
        tape.constant(Tensor::zeros(&[4])),
    );
}
