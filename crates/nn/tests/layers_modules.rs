//! Layers: values against hand computation (naive loops), shapes,
//! dropout statistics, layer-norm moments, parameter names and counts.

use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, GradcheckOptions, Tape};
use tapegrad_nn::init::Init;
use tapegrad_nn::layers::{
    layer_norm, Dropout, Embedding, Flatten, LayerNorm, LeakyReLU, Linear, ReLU, Sigmoid, Softmax,
    Tanh, GELU,
};
use tapegrad_nn::{Module, Sequential};
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[test]
fn linear_is_x_w_transposed_plus_b() {
    let fc = Linear::<f64>::new(5, 3, &mut rng(0));
    let x = Tensor::<f64>::rand_normal(&[4, 5], 0.0, 1.0, &mut rng(1));
    let tape = Tape::new();
    let y = fc.forward(tape.constant(x.clone()));
    assert_eq!(y.shape().as_slice(), &[4, 3]);
    let (w, b) = (fc.weight().value(), fc.bias().unwrap().value());
    let mut expected = Vec::new();
    for n in 0..4 {
        for o in 0..3 {
            let dot: f64 = (0..5).map(|i| x.get(&[n, i]) * w.get(&[o, i])).sum();
            expected.push(dot + b.get(&[o]));
        }
    }
    assert_close(&y.value().to_vec(), &expected, 1e-14, "linear");
}

#[test]
fn linear_on_batched_input_acts_on_the_last_axis() {
    let fc = Linear::<f64>::new(4, 2, &mut rng(2));
    let x = Tensor::<f64>::rand_normal(&[2, 3, 4], 0.0, 1.0, &mut rng(3));
    let tape = Tape::new();
    let y = fc.forward(tape.constant(x.clone()));
    assert_eq!(y.shape().as_slice(), &[2, 3, 2]);
    let flat = fc.forward(tape.constant(x.reshape(&[6, 4])));
    assert_eq!(y.value().to_vec(), flat.value().to_vec());
    // The weight gradient sums over both batch axes: ∂(Σ y)/∂W[o, i] = Σ x[.., i].
    let grads = y.sum_all().backward();
    let g = fc.weight().grad(&grads).unwrap();
    let col_sums = x.sum(&[0, 1]).to_vec();
    for o in 0..2 {
        assert_close(
            &g.narrow(0, o, 1).to_vec(),
            &col_sums,
            1e-12,
            "weight gradient",
        );
    }
}

#[test]
fn linear_default_init_is_pytorch_uniform() {
    let fc = Linear::<f32>::new(400, 300, &mut rng(4));
    let bound = 1.0 / 400f32.sqrt();
    let w = fc.weight().value().to_vec();
    let b = fc.bias().unwrap().value().to_vec();
    assert!(w.iter().chain(&b).all(|v| v.abs() <= bound));
    // Weight variance bound² / 3 within 5 standard errors (σ² √(0.8 / n)).
    let n = w.len() as f64;
    let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n;
    let expected = (bound as f64).powi(2) / 3.0;
    assert!(
        (var - expected).abs() < 5.0 * expected * (0.8 / n).sqrt(),
        "variance {var} vs {expected}"
    );
}

#[test]
fn linear_with_init_and_without_bias() {
    let fc = Linear::<f32>::with_init(8, 6, Init::Orthogonal { gain: 1.0 }, false, &mut rng(5));
    assert!(fc.bias().is_none());
    assert_eq!(fc.num_parameters(), 48);
    assert_eq!(fc.describe(), "Linear(8 -> 6, no bias)");
    let w = fc.weight().value().cast::<f64>();
    assert!(w.matmul(&w.t()).allclose(&Tensor::eye(6), 0.0, 1e-6));
    let with_bias =
        Linear::<f32>::with_init(8, 6, Init::XavierNormal { gain: 1.0 }, true, &mut rng(5));
    assert_eq!(with_bias.bias().unwrap().value().to_vec(), vec![0.0; 6]);
}

#[test]
#[should_panic(expected = "linear: input [4, 3] does not match weight [2, 5]")]
fn linear_rejects_the_wrong_width() {
    let fc = Linear::<f32>::new(5, 2, &mut rng(0));
    let tape = Tape::new();
    fc.forward(tape.constant(Tensor::zeros(&[4, 3])));
}

#[test]
fn activations_on_known_values() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::from_vec(vec![-2.0, 0.0, 1.0], &[3]));
    let run = |m: &dyn Module<f64>| m.forward(x).value().to_vec();
    assert_eq!(run(&ReLU), vec![0.0, 0.0, 1.0]);
    assert_eq!(run(&LeakyReLU::new(0.25)), vec![-0.5, 0.0, 1.0]);
    assert_eq!(run(&LeakyReLU::default()), vec![-0.02, 0.0, 1.0]);
    // σ(-2) = 1 / (1 + e²), tanh from the definition (e^x - e^-x) / (e^x + e^-x).
    let e2 = 2f64.exp();
    assert_close(
        &run(&Sigmoid),
        &[1.0 / (1.0 + e2), 0.5, 1.0 / (1.0 + (-1f64).exp())],
        1e-15,
        "sigmoid",
    );
    assert_close(
        &run(&Tanh),
        &[(1.0 / e2 - e2) / (e2 + 1.0 / e2), 0.0, 1f64.tanh()],
        1e-15,
        "tanh",
    );
    // GELU(x) = x Φ(x); Φ(1) = 0.8413447460685429, Φ(-2) = 0.022750131948179195.
    assert_close(
        &run(&GELU),
        &[
            -2.0 * 0.022_750_131_948_179_195,
            0.0,
            0.841_344_746_068_542_9,
        ],
        1e-12,
        "gelu",
    );
}

#[test]
fn softmax_normalises_along_its_axis() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::from_vec(
        vec![1.0, 2.0, 3.0, 1.0, 1.0, 1.0],
        &[2, 3],
    ));
    let rows = Softmax::new(-1).forward(x).value();
    assert_close(
        &rows.sum(&[1]).to_vec(),
        &[1.0, 1.0],
        1e-15,
        "rows sum to 1",
    );
    let z = 1.0 + 1f64.exp() + 2f64.exp();
    assert_close(
        &rows.to_vec()[..3],
        &[1.0 / z, 1f64.exp() / z, 2f64.exp() / z],
        1e-15,
        "softmax row",
    );
    let cols = Softmax::new(0).forward(x).value();
    assert_close(
        &cols.sum(&[0]).to_vec(),
        &[1.0, 1.0, 1.0],
        1e-15,
        "columns sum to 1",
    );
    let big = tape.constant(Tensor::from_vec(vec![1e4, 0.0], &[1, 2]));
    assert_eq!(
        Softmax::new(1).forward(big).value().to_vec(),
        vec![1.0, 0.0]
    );
}

#[test]
fn dropout_in_training_keeps_one_minus_p_and_rescales() {
    let p = 0.3;
    let drop = Dropout::new(p, &mut rng(6));
    let n = 200_000;
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[n]));
    let y = drop.forward(x);
    let values = y.value().to_vec();
    let keep = 1.0 / (1.0 - p);
    assert!(
        values.iter().all(|&v| v == 0.0 || v == keep),
        "values are 0 or 1 / (1 - p)"
    );
    // Kept fraction: binomial, standard error √(p (1 - p) / n).
    let kept = values.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    assert!((kept - (1.0 - p)).abs() < 5.0 * se, "kept fraction {kept}");
    // The mean is preserved: each output has mean 1 and variance p / (1 - p).
    let mean = values.iter().sum::<f64>() / n as f64;
    assert!(
        (mean - 1.0).abs() < 5.0 * (p / (1.0 - p) / n as f64).sqrt(),
        "mean {mean}"
    );
    // The gradient is the mask: ∂(Σ x ⊙ m)/∂x = m.
    let grads = y.sum_all().backward();
    assert_eq!(grads[x].to_vec(), values);
}

#[test]
fn dropout_masks_are_fresh_per_call_and_seeded() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::ones(&[256]));
    let (a, b) = (
        Dropout::new(0.5, &mut rng(7)),
        Dropout::new(0.5, &mut rng(7)),
    );
    let (a1, a2) = (a.forward(x).value().to_vec(), a.forward(x).value().to_vec());
    assert_ne!(a1, a2, "a new mask each forward pass");
    assert_eq!(b.forward(x).value().to_vec(), a1, "same seed, same masks");
    assert_eq!(b.forward(x).value().to_vec(), a2);
}

#[test]
fn dropout_eval_and_edge_probabilities() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::rand_normal(&[100], 0.0, 1.0, &mut rng(8)));
    let mut drop = Dropout::new(0.9, &mut rng(9));
    drop.set_training(false);
    assert!(!drop.is_training());
    assert_eq!(drop.forward(x).value().to_vec(), x.value().to_vec());
    assert_eq!(
        Dropout::new(0.0, &mut rng(0)).forward(x).value().to_vec(),
        x.value().to_vec()
    );
    assert_eq!(
        Dropout::new(1.0, &mut rng(0)).forward(x).value().to_vec(),
        vec![0.0; 100]
    );
    assert_eq!(Module::<f32>::describe(&drop), "Dropout(p=0.9)");
}

#[test]
fn set_training_reaches_dropout_inside_sequential() {
    let mut model: Sequential<f32> = Sequential::new()
        .add(Dropout::new(0.5, &mut rng(10)))
        .add(ReLU);
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones(&[64]));
    assert_ne!(model.forward(x).value().to_vec(), vec![1.0; 64]);
    model.set_training(false);
    assert_eq!(model.forward(x).value().to_vec(), vec![1.0; 64]);
}

#[test]
fn layer_norm_rows_have_mean_zero_and_unit_variance() {
    let ln = LayerNorm::<f64>::new(&[16]);
    let x = Tensor::<f64>::rand_normal(&[5, 16], 3.0, 2.0, &mut rng(11));
    let tape = Tape::new();
    let y = ln.forward(tape.constant(x.clone())).value();
    for r in 0..5 {
        let row = y.narrow(0, r, 1).to_vec();
        let mean = row.iter().sum::<f64>() / 16.0;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 16.0;
        // With eps the variance is σ² / (σ² + eps), σ² the row's biased variance.
        let xr = x.narrow(0, r, 1).to_vec();
        let xm = xr.iter().sum::<f64>() / 16.0;
        let s2 = xr.iter().map(|v| (v - xm).powi(2)).sum::<f64>() / 16.0;
        assert!(mean.abs() < 1e-14, "row {r}: mean {mean}");
        assert!(
            (var - s2 / (s2 + 1e-5)).abs() < 1e-12,
            "row {r}: variance {var}"
        );
    }
}

#[test]
fn layer_norm_over_two_axes_with_affine_matches_hand_computation() {
    let mut ln = LayerNorm::<f64>::with_options(&[2, 3], 1e-3, true);
    let w = Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5, 0.0, 3.0], &[2, 3]);
    let b = Tensor::from_vec(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3]);
    ln.visit_params_mut(&mut |name, p| {
        p.set(if name == "weight" {
            w.clone()
        } else {
            b.clone()
        })
    });
    let x = Tensor::<f64>::rand_normal(&[4, 2, 3], 0.0, 1.0, &mut rng(12));
    let tape = Tape::new();
    let y = ln.forward(tape.constant(x.clone())).value();
    for n in 0..4 {
        let xs = x.narrow(0, n, 1).to_vec();
        let mean = xs.iter().sum::<f64>() / 6.0;
        let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
        let expected: Vec<f64> = (0..6)
            .map(|i| (xs[i] - mean) / (var + 1e-3).sqrt() * w.to_vec()[i] + b.to_vec()[i])
            .collect();
        assert_close(&y.narrow(0, n, 1).to_vec(), &expected, 1e-13, "layer norm");
    }
    assert_eq!(ln.describe(), "LayerNorm([2, 3], eps=0.001)");
}

#[test]
fn layer_norm_functional_gradcheck_and_no_affine() {
    let x = Tensor::<f64>::rand_normal(&[3, 5], 0.0, 1.0, &mut rng(13));
    let w = Tensor::<f64>::rand_normal(&[5], 1.0, 0.5, &mut rng(14));
    let b = Tensor::<f64>::rand_normal(&[5], 0.0, 0.5, &mut rng(15));
    let f = check_fn(|_, v| layer_norm(v[0], 1, Some(v[1]), Some(v[2]), 1e-5));
    gradcheck(f, &[x, w, b], &GradcheckOptions::default()).unwrap();
    let bare = LayerNorm::<f32>::with_options(&[5], 1e-5, false);
    assert_eq!(bare.num_parameters(), 0);
}

#[test]
#[should_panic(expected = "LayerNorm: input [2, 4] does not end in the normalised shape [5]")]
fn layer_norm_rejects_the_wrong_trailing_shape() {
    let tape = Tape::<f32>::new();
    LayerNorm::new(&[5]).forward(tape.constant(Tensor::zeros(&[2, 4])));
}

#[test]
fn embedding_picks_rows_and_accumulates_gradients() {
    let emb = Embedding::<f64>::new(10, 4, &mut rng(16));
    let table = emb.weight().value();
    let tape = Tape::new();
    let ids = tape.constant(Tensor::from_vec(
        vec![3.0, 1.0, 3.0, 9.0, 0.0, 3.0],
        &[2, 3],
    ));
    let out = emb.forward(ids);
    assert_eq!(out.shape().as_slice(), &[2, 3, 4]);
    let rows = out.value().reshape(&[6, 4]);
    for (k, id) in [3, 1, 3, 9, 0, 3].into_iter().enumerate() {
        assert_eq!(
            rows.narrow(0, k, 1).to_vec(),
            table.narrow(0, id, 1).to_vec()
        );
    }
    // Σ out: each table row's gradient counts how often its id appears.
    let grads = out.sum_all().backward();
    let g = emb.weight().grad(&grads).unwrap();
    let counts = [1.0, 1.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    for (row, &c) in counts.iter().enumerate() {
        assert_eq!(g.narrow(0, row, 1).to_vec(), vec![c; 4], "row {row}");
    }
    let same = emb.forward_ids(&tape, &[3, 1, 3, 9, 0, 3]);
    assert_eq!(same.value().to_vec(), rows.to_vec());
}

#[test]
fn embedding_init_is_standard_normal() {
    let emb = Embedding::<f32>::new(1000, 64, &mut rng(17));
    let v = emb.weight().value().to_f64_vec();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var}");
}

#[test]
#[should_panic(expected = "Embedding: 2.5 is not an id in 0..10")]
fn embedding_rejects_fractional_ids() {
    let emb = Embedding::<f32>::new(10, 2, &mut rng(0));
    let tape = Tape::new();
    emb.forward(tape.constant(Tensor::from_vec(vec![2.5], &[1])));
}

#[test]
#[should_panic(expected = "Embedding: id 10 is out of range for 10 embeddings")]
fn embedding_rejects_out_of_range_ids() {
    let emb = Embedding::<f32>::new(10, 2, &mut rng(0));
    emb.forward_ids(&Tape::new(), &[0, 10]);
}

#[test]
fn flatten_keeps_the_batch_axis_and_the_order() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::arange(0.0, 120.0, 1.0).reshape(&[2, 3, 4, 5]));
    let y = Flatten.forward(x);
    assert_eq!(y.shape().as_slice(), &[2, 60]);
    assert_eq!(y.value().to_vec(), x.value().to_vec());
    let g = (y * y).sum_all().backward();
    assert_eq!(g[x].shape(), &[2, 3, 4, 5]);
}

#[test]
fn sequential_names_counts_and_describes_parameters() {
    let mut r = rng(18);
    let model: Sequential<f32> = Sequential::new()
        .add(Embedding::new(50, 8, &mut r))
        .add(Flatten)
        .add(Linear::new(24, 16, &mut r))
        .add(GELU)
        .add(LayerNorm::new(&[16]))
        .add(Dropout::new(0.1, &mut r))
        .add(Linear::new(16, 3, &mut r))
        .add(Softmax::new(-1));
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let expected = [
        "0.weight", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias",
    ];
    assert_eq!(names, expected);
    assert_eq!(
        model.num_parameters(),
        50 * 8 + 24 * 16 + 16 + 16 + 16 + 16 * 3 + 3
    );
    assert_eq!(
        model.describe(),
        "Sequential[Embedding(50, 8), Flatten, Linear(24 -> 16), GELU, \
         LayerNorm([16], eps=0.00001), Dropout(p=0.1), Linear(16 -> 3), Softmax(axis=-1)]"
    );
    let tape = Tape::new();
    let ids = tape.constant(Tensor::from_vec(
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &[2, 3],
    ));
    let probs = model.forward(ids);
    assert_eq!(probs.shape().as_slice(), &[2, 3]);
    // Every parameter receives a gradient.
    let grads = probs.narrow(1, 0, 1).sum_all().backward();
    for (name, g) in model.named_grads(&grads) {
        assert!(g.abs().sum_all().item() > 0.0, "{name} has no gradient");
    }
}

#[test]
fn cloned_layers_own_new_parameters() {
    let fc = Linear::<f32>::new(3, 2, &mut rng(19));
    let copy = fc.clone();
    assert_eq!(copy.weight().value().to_vec(), fc.weight().value().to_vec());
    assert_ne!(copy.weight().id(), fc.weight().id());
}

#[test]
fn residual_gradients_match_finite_differences_through_the_skip_and_the_branch() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let block = tapegrad_nn::layers::Residual::new(
        Sequential::<f64>::new()
            .add(tapegrad_nn::layers::Linear::new(4, 4, &mut rng))
            .add(tapegrad_nn::layers::Tanh),
        0.3,
    );
    let f = check_fn(|_, v| block.forward(v[0]).square().sum_all());
    let x = Tensor::rand_normal(&[3, 4], 0.0, 1.0, &mut rng);
    let report = gradcheck(f, &[x], &GradcheckOptions::default()).unwrap();
    assert_eq!(report.comparisons, 12);
}

#[test]
#[should_panic(expected = "Residual: the branch maps [2, 4] to [2, 3]")]
fn a_residual_branch_that_changes_the_shape_is_refused_with_both_shapes() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let block = tapegrad_nn::layers::Residual::new(
        tapegrad_nn::layers::Linear::<f64>::new(4, 3, &mut rng),
        1.0,
    );
    let tape = tapegrad_autodiff::Tape::new();
    block.forward(tape.constant(Tensor::ones(&[2, 4])));
}
