//! A whole model, Linear → Tanh → LayerNorm → Linear → cross-entropy, in
//! f64: its gradients with respect to every parameter (and the input)
//! against finite differences, and its second derivatives.
//!
//! `gradcheck` puts its inputs on a fresh tape as vars, so the model is
//! rebuilt there from the functional forms the layers' `forward` calls
//! (`linear`, `layer_norm`) with the weights as inputs. A separate test
//! shows that this is the same computation as the `Module` path: same loss
//! and same parameter gradients, bit for bit.

use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, gradgradcheck, GradcheckOptions, Tape, Var};
use tapegrad_nn::layers::{layer_norm, linear, LayerNorm, Linear, Tanh};
use tapegrad_nn::{loss, Module, Sequential};
use tapegrad_tensor::Tensor;

/// Sizes: batch, input, hidden, classes.
struct Dims(usize, usize, usize, usize);

/// The model as layers, with the layer norm's affine weights moved off
/// their initial (1, 0) so that their gradients are generic.
fn build(d: &Dims, seed: u64) -> Sequential<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ln = LayerNorm::new(&[d.2]);
    ln.visit_params_mut(&mut |name, p| {
        let mean = if name == "weight" { 1.0 } else { 0.0 };
        p.set(Tensor::rand_normal(&[d.2], mean, 0.3, &mut rng));
    });
    Sequential::new()
        .add(Linear::new(d.1, d.2, &mut rng))
        .add(Tanh)
        .add(ln)
        .add(Linear::new(d.2, d.3, &mut rng))
}

/// The same model from explicit vars `[w1, b1, ln_w, ln_b, w2, b2]`.
fn model_loss<'t>(x: Var<'t, f64>, p: &[Var<'t, f64>], labels: &[usize]) -> Var<'t, f64> {
    let h = linear(x, p[0], Some(p[1])).tanh();
    let h = layer_norm(h, 1, Some(p[2]), Some(p[3]), 1e-5);
    loss::cross_entropy(linear(h, p[4], Some(p[5])), labels)
}

/// Parameter values (in `visit_params` order), then the input batch.
fn inputs(model: &Sequential<f64>, d: &Dims, seed: u64) -> Vec<Tensor<f64>> {
    let mut all: Vec<Tensor<f64>> = model
        .named_parameters()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    all.push(Tensor::rand_normal(
        &[d.0, d.1],
        0.0,
        1.0,
        &mut StdRng::seed_from_u64(seed),
    ));
    all
}

#[test]
fn parameter_order_is_the_functional_order() {
    let model = build(&Dims(2, 3, 4, 2), 0);
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]
    );
}

#[test]
fn module_path_and_functional_path_agree_bit_for_bit() {
    let d = Dims(5, 4, 6, 3);
    let labels = [0, 2, 1, 1, 0];
    let model = build(&d, 1);
    let values = inputs(&model, &d, 2);
    let x = values[6].clone();

    let tape = Tape::new();
    let by_module = loss::cross_entropy(model.forward(tape.constant(x.clone())), &labels);
    let module_grads = model.named_grads(&by_module.backward());

    let tape = Tape::new();
    let params: Vec<Var<'_, f64>> = values[..6].iter().map(|t| tape.var(t.clone())).collect();
    let by_fn = model_loss(tape.constant(x), &params, &labels);
    let grads = by_fn.backward();

    assert_eq!(by_module.item().to_bits(), by_fn.item().to_bits());
    for ((name, g), p) in module_grads.iter().zip(&params) {
        assert_eq!(g.to_vec(), grads[*p].to_vec(), "{name}");
    }
}

#[test]
fn whole_model_gradcheck() {
    let d = Dims(5, 4, 6, 3);
    let labels = [0, 2, 1, 1, 0];
    let model = build(&d, 3);
    let f = check_fn(|_, v| model_loss(v[6], &v[..6], &labels));
    let report = gradcheck(f, &inputs(&model, &d, 4), &GradcheckOptions::default()).unwrap();
    // Every element of every input: 24 + 6 + 6 + 6 + 18 + 3 + 20.
    assert_eq!(report.comparisons, 83);
}

#[test]
fn whole_model_gradcheck_catches_a_wrong_gradient() {
    // The same check fails if the model's backward is wrong: here a
    // gradient-stopping detach inside the layer norm's statistics.
    let d = Dims(3, 3, 4, 2);
    let labels = [1, 0, 1];
    let model = build(&d, 5);
    let f = check_fn(|_, v| {
        let h = linear(v[6], v[0], Some(v[1])).tanh();
        let centered = h - h.mean_keepdim(&[-1]).detach();
        let h = centered * (centered.square().mean_keepdim(&[-1]) + 1e-5).powf(-0.5) * v[2] + v[3];
        loss::cross_entropy(linear(h, v[4], Some(v[5])), &labels)
    });
    assert!(gradcheck(f, &inputs(&model, &d, 6), &GradcheckOptions::default()).is_err());
}

#[test]
fn whole_model_gradgradcheck() {
    let d = Dims(3, 3, 4, 2);
    let labels = [1, 0, 1];
    let model = build(&d, 7);
    let f = check_fn(|_, v| model_loss(v[6], &v[..6], &labels));
    gradgradcheck(f, &inputs(&model, &d, 8), &GradcheckOptions::default()).unwrap();
}
