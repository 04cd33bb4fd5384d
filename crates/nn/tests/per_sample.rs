//! Per-sample gradients from one pass equal the loop over single-example
//! passes (to 1e-12 in f64) for an MLP, a CNN and a model with a custom op;
//! their mean is the batch gradient of the mean loss; a model that mixes
//! examples is refused, never silently mixed.

use rand::SeedableRng;
use tapegrad_autodiff::{Ctx, GradOps, Grads, Op, PerSampleError, Tape, Var};
use tapegrad_nn::loss::{cross_entropy, cross_entropy_each};
use tapegrad_nn::per_sample::{loss_fn, per_sample_grads, per_sample_grads_by_loop};
use tapegrad_nn::{
    BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Module, Param, ReLU, Sequential, Tanh,
};
use tapegrad_tensor::Tensor;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Fast and loop agree for every parameter, and both have `[B] ++ shape`.
fn assert_agree(model: &dyn Module<f64>, x: &Tensor<f64>, labels: &[usize]) {
    let loss = loss_fn(|out, rows| cross_entropy_each(out, &labels[rows]));
    let fast = per_sample_grads(model, x, loss).expect("the model keeps examples apart");
    let slow = per_sample_grads_by_loop(model, x, loss);
    assert_eq!(fast.len(), slow.len());
    for ((name, f), (name2, s)) in fast.iter().zip(&slow) {
        assert_eq!(name, name2);
        assert_eq!(f.shape(), s.shape(), "{name}");
        assert_eq!(f.shape()[0], labels.len());
        let err = f.sub(s).abs().max(&[]).item();
        assert!(err <= 1e-12, "{name}: max difference {err}");
    }
    // The mean over examples is the gradient of the mean loss.
    let tape = Tape::new();
    let grads = cross_entropy(model.forward(tape.constant(x.clone())), labels).backward();
    let mut i = 0;
    model.visit_params(&mut |name, p: &Param<f64>| {
        let mean = fast[i].1.mean(&[0]);
        let batch = p.grad(&grads).unwrap();
        assert!(
            mean.allclose(batch, 1e-10, 1e-13),
            "{name}: mean of per-sample gradients"
        );
        i += 1;
    });
}

#[test]
fn mlp_per_sample_grads_equal_the_loop() {
    let mut r = rng(1);
    let model = Sequential::<f64>::new()
        .add(Linear::new(6, 10, &mut r))
        .add(Tanh)
        .add(Linear::new(10, 10, &mut r))
        .add(ReLU)
        .add(Linear::new(10, 4, &mut r));
    let x = Tensor::rand_normal(&[7, 6], 0.0, 1.0, &mut r);
    assert_agree(&model, &x, &[0, 1, 2, 3, 0, 1, 2]);
}

#[test]
fn cnn_per_sample_grads_equal_the_loop() {
    let mut r = rng(2);
    let model = Sequential::<f64>::new()
        .add(Conv2d::new(2, 3, 3, &mut r))
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Linear::new(3 * 3 * 3, 5, &mut r));
    let x = Tensor::rand_normal(&[4, 2, 8, 8], 0.0, 1.0, &mut r);
    assert_agree(&model, &x, &[4, 0, 2, 1]);
}

/// `x · s` with a learnt per-feature scale `s` broadcast inside the op
/// (not through a recorded broadcast): the per-sample rule falls back to
/// running this op's rule on each example's rows, which is correct because
/// the op says it keeps examples apart.
struct FeatureScale;

impl Op<f64> for FeatureScale {
    fn name(&self) -> &'static str {
        "feature_scale"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        x[0].mul(x[1])
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (x, s, g) = (&c.x[0], &c.x[1], c.g);
        let shape = x.shape();
        let g_x = c.needs(0).then(|| g.mul(&s.broadcast_to(&shape)));
        let g_s = c.needs(1).then(|| g.mul(x).sum_to(&s.shape()));
        [g_x, g_s].into()
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        true
    }
}

/// The same op without the declaration.
struct UndeclaredScale;

impl Op<f64> for UndeclaredScale {
    fn name(&self) -> &'static str {
        "undeclared_scale"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        FeatureScale.forward(x)
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        FeatureScale.backward(c)
    }
}

struct Scaled<O> {
    first: Linear<f64>,
    scale: Param<f64>,
    last: Linear<f64>,
    op: fn() -> O,
}

impl<O: Op<f64>> Module<f64> for Scaled<O> {
    fn forward<'t>(&self, x: Var<'t, f64>) -> Var<'t, f64> {
        let h = self.first.forward(x).tanh();
        let h = Var::apply((self.op)(), &[h, self.scale.bind(x.tape())]);
        self.last.forward(h)
    }
    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f64>)) {
        tapegrad_nn::module::visit_child(&self.first, "first", f);
        f("scale", &self.scale);
        tapegrad_nn::module::visit_child(&self.last, "last", f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
        tapegrad_nn::module::visit_child_mut(&mut self.first, "first", f);
        f("scale", &mut self.scale);
        tapegrad_nn::module::visit_child_mut(&mut self.last, "last", f);
    }
}

fn scaled<O: Op<f64>>(op: fn() -> O) -> Scaled<O> {
    let mut r = rng(3);
    Scaled {
        first: Linear::new(5, 6, &mut r),
        scale: Param::new(Tensor::rand_normal(&[6], 1.0, 0.3, &mut r)),
        last: Linear::new(6, 3, &mut r),
        op,
    }
}

#[test]
fn custom_op_model_per_sample_grads_equal_the_loop() {
    let x = Tensor::rand_normal(&[6, 5], 0.0, 1.0, &mut rng(4));
    assert_agree(&scaled(|| FeatureScale), &x, &[0, 1, 2, 0, 1, 2]);
}

#[test]
fn ops_not_known_to_keep_examples_apart_are_refused() {
    let x = Tensor::rand_normal(&[6, 5], 0.0, 1.0, &mut rng(4));
    let labels = [0, 1, 2, 0, 1, 2];
    let loss = loss_fn(|out, rows| cross_entropy_each(out, &labels[rows]));
    let err = per_sample_grads(&scaled(|| UndeclaredScale), &x, loss).unwrap_err();
    assert!(
        matches!(
            err,
            PerSampleError::MixesBatch {
                op: "undeclared_scale",
                ..
            }
        ),
        "{err}"
    );
    // Batch norm in training mode mixes the examples' statistics.
    let mut r = rng(5);
    let model = Sequential::<f64>::new()
        .add(Conv2d::new(1, 2, 3, &mut r))
        .add(BatchNorm2d::new(2))
        .add(Flatten)
        .add(Linear::new(2 * 4 * 4, 3, &mut r));
    let x = Tensor::rand_normal(&[6, 1, 6, 6], 0.0, 1.0, &mut r);
    let err = per_sample_grads(&model, &x, loss).unwrap_err();
    assert!(err.to_string().contains("may mix the examples"), "{err}");
}
