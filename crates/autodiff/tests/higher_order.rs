//! Higher-order derivatives through `tape.grad`: a Hessian-vector product of
//! a small MLP loss against finite differences of its gradient, and second
//! derivatives of tanh, sigmoid, exp, x³ and softmax cross-entropy against
//! their closed forms.

mod common;

use common::assert_close;
use rand::SeedableRng;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{IndexTensor, Tensor};

/// Points away from anything special, both signs.
const XS: [f64; 6] = [-1.7, -0.6, -0.05, 0.3, 0.9, 2.2];

/// `f''` at `XS` via `tape.grad` twice: `d1 = ∂Σf/∂x`, then `∂Σd1/∂x`
/// (elementwise `f`, so the Hessian is diagonal and its diagonal is `f''`).
fn second_derivative(f: impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>) -> Vec<f64> {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(XS.to_vec(), &[XS.len()]));
    let d1 = tape.grad(f(x).sum_all(), &[x])[0];
    let d2 = tape.grad(d1.sum_all(), &[x])[0];
    d2.value().to_vec()
}

fn closed_form(f: impl Fn(f64) -> f64) -> Vec<f64> {
    XS.iter().map(|&x| f(x)).collect()
}

#[test]
fn second_derivative_of_tanh() {
    // tanh' = 1 - t², so tanh'' = -2 t (1 - t²) with t = tanh x.
    let want = closed_form(|x| -2.0 * x.tanh() * (1.0 - x.tanh().powi(2)));
    assert_close(&second_derivative(|x| x.tanh()), &want, 1e-12, 1e-15);
}

#[test]
fn third_derivative_of_tanh() {
    // d/dx [-2t(1 - t²)] = -2(1 - t²)(1 - 3t²).
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(XS.to_vec(), &[XS.len()]));
    let d1 = tape.grad(x.tanh().sum_all(), &[x])[0];
    let d2 = tape.grad(d1.sum_all(), &[x])[0];
    let d3 = tape.grad(d2.sum_all(), &[x])[0];
    let want = closed_form(|x| {
        let t2 = x.tanh().powi(2);
        -2.0 * (1.0 - t2) * (1.0 - 3.0 * t2)
    });
    assert_close(&d3.value().to_vec(), &want, 1e-12, 1e-15);
}

#[test]
fn second_derivative_of_sigmoid() {
    // σ' = σ(1 - σ), so σ'' = σ(1 - σ)(1 - 2σ).
    let want = closed_form(|x| {
        let s = 1.0 / (1.0 + (-x).exp());
        s * (1.0 - s) * (1.0 - 2.0 * s)
    });
    assert_close(&second_derivative(|x| x.sigmoid()), &want, 1e-12, 1e-15);
}

#[test]
fn second_derivative_of_exp() {
    assert_close(
        &second_derivative(|x| x.exp()),
        &closed_form(f64::exp),
        1e-14,
        0.0,
    );
}

#[test]
fn second_derivative_of_cube() {
    // (x³)'' = 6x, through powf, through x·x·x, and through pow with a constant exponent.
    let want = closed_form(|x| 6.0 * x);
    assert_close(&second_derivative(|x| x.powf(3.0)), &want, 1e-13, 1e-15);
    assert_close(&second_derivative(|x| x * x * x), &want, 1e-13, 1e-15);
    // pow(x, 3) needs a positive base (its exponent gradient holds ln x).
    let pos = [0.3, 0.9, 2.2];
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(pos.to_vec(), &[3]));
    let three = tape.constant(Tensor::scalar(3.0));
    let d1 = tape.grad(x.pow(three).sum_all(), &[x])[0];
    let d2 = tape.grad(d1.sum_all(), &[x])[0];
    assert_close(&d2.value().to_vec(), &[1.8, 5.4, 13.2], 1e-13, 1e-15);
}

/// The Hessian of `L = -log_softmax(z)[label]` with respect to `z` is
/// `diag(p) - p pᵀ` with `p = softmax(z)` (it does not depend on the label).
fn softmax_ce_hessian(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|v| v / s).collect();
    let n = z.len();
    (0..n * n)
        .map(|k| (if k / n == k % n { p[k / n] } else { 0.0 }) - p[k / n] * p[k % n])
        .collect()
}

/// The full Hessian, one row per `tape.grad` of a gradient component.
fn hessian_rows<'t>(tape: &'t Tape<f64>, loss: Var<'t, f64>, z: Var<'t, f64>) -> Vec<f64> {
    let g = tape.grad(loss, &[z])[0];
    let n = z.numel();
    (0..n)
        .flat_map(|i| {
            tape.grad(g.reshape(&[n]).narrow(0, i, 1).sum_all(), &[z])[0]
                .value()
                .to_vec()
        })
        .collect()
}

#[test]
fn second_derivative_of_softmax_cross_entropy_index_select() {
    let zs = [0.4, -1.2, 2.3, 0.05, -0.3];
    let tape = Tape::<f64>::new();
    let z = tape.var(Tensor::from_vec(zs.to_vec(), &[5]));
    let loss = -z.log_softmax(0).index_select(0, &[2]).sum_all();
    assert_close(
        &hessian_rows(&tape, loss, z),
        &softmax_ce_hessian(&zs),
        1e-12,
        1e-15,
    );
}

#[test]
fn second_derivative_of_softmax_cross_entropy_gather() {
    // A batch of 3 rows, labels [1, 0, 3], mean loss: the Hessian is block
    // diagonal with blocks (diag(p_r) - p_r p_rᵀ) / 3.
    let zs = [
        0.2, 1.1, -0.7, 0.4, -1.5, 0.3, 2.0, 0.9, 0.6, -0.2, 0.1, 1.4,
    ];
    let tape = Tape::<f64>::new();
    let z = tape.var(Tensor::from_vec(zs.to_vec(), &[3, 4]));
    let labels = IndexTensor::from_vec(vec![1, 0, 3], &[3, 1]);
    let loss = -z.log_softmax(-1).gather(1, &labels).mean_all();
    let got = hessian_rows(&tape, loss, z);
    let mut want = vec![0.0; 144];
    for r in 0..3 {
        let block = softmax_ce_hessian(&zs[4 * r..4 * r + 4]);
        for (k, h) in block.iter().enumerate() {
            want[(4 * r + k / 4) * 12 + 4 * r + k % 4] = h / 3.0;
        }
    }
    assert_close(&got, &want, 1e-12, 1e-15);
}

/// Parameters of a 3-4-2 tanh MLP, a batch of 5 inputs and targets.
struct Mlp {
    params: Vec<Tensor<f64>>,
    x: Tensor<f64>,
    y: Tensor<f64>,
}

impl Mlp {
    fn new(rng: &mut rand::rngs::StdRng) -> Mlp {
        let shapes: [&[usize]; 4] = [&[3, 4], &[4], &[4, 2], &[2]];
        let params = shapes
            .iter()
            .map(|s| Tensor::rand_normal(s, 0.0, 0.8, rng))
            .collect();
        Mlp {
            params,
            x: Tensor::rand_normal(&[5, 3], 0.0, 1.0, rng),
            y: Tensor::rand_normal(&[5, 2], 0.0, 1.0, rng),
        }
    }

    /// `mean((tanh(x W1 + b1) W2 + b2 - y)²)` (the biases broadcast over the batch).
    fn loss<'t>(&self, tape: &'t Tape<f64>, p: &[Var<'t, f64>]) -> Var<'t, f64> {
        let h = (tape.constant(self.x.clone()).matmul(p[0]) + p[1]).tanh();
        (h.matmul(p[2]) + p[3] - tape.constant(self.y.clone()))
            .square()
            .mean_all()
    }

    /// First-order gradients at `params` (via `backward`).
    fn grad_at(&self, params: &[Tensor<f64>]) -> Vec<Tensor<f64>> {
        let tape = Tape::<f64>::new();
        let p: Vec<Var<'_, f64>> = params.iter().map(|t| tape.var(t.clone())).collect();
        let g = self.loss(&tape, &p).backward();
        p.iter().map(|&v| g[v].clone()).collect()
    }
}

#[test]
fn hessian_vector_product_of_mlp_matches_finite_differences() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mlp = Mlp::new(&mut rng);
    let v: Vec<Tensor<f64>> = mlp
        .params
        .iter()
        .map(|p| Tensor::rand_normal(p.shape(), 0.0, 1.0, &mut rng))
        .collect();
    // H v = ∂/∂θ ⟨∇L(θ), v⟩, by tape.grad twice.
    let tape = Tape::<f64>::new();
    let p: Vec<Var<'_, f64>> = mlp.params.iter().map(|t| tape.var(t.clone())).collect();
    let grads = tape.grad(mlp.loss(&tape, &p), &p);
    let dot = grads
        .iter()
        .zip(&v)
        .map(|(g, vi)| (*g * tape.constant(vi.clone())).sum_all())
        .reduce(|a, b| a + b)
        .unwrap();
    let hv = tape.grad(dot, &p);
    // Central difference of the gradient along v: (∇L(θ + h v) - ∇L(θ - h v)) / 2h,
    // error O(h²) ≈ 1e-10 from truncation plus ≈ 1e-11 from rounding.
    let h = 1e-5;
    let shifted = |s: f64| -> Vec<Tensor<f64>> {
        mlp.params
            .iter()
            .zip(&v)
            .map(|(p, vi)| p.add(&vi.mul_scalar(s * h)))
            .collect()
    };
    let (plus, minus) = (mlp.grad_at(&shifted(1.0)), mlp.grad_at(&shifted(-1.0)));
    for (k, hvk) in hv.iter().enumerate() {
        let fd: Vec<f64> = plus[k].sub(&minus[k]).mul_scalar(0.5 / h).to_vec();
        assert_eq!(hvk.shape(), p[k].shape());
        assert_close(&hvk.value().to_vec(), &fd, 1e-6, 1e-8);
        assert!(
            fd.iter().any(|x| x.abs() > 1e-3),
            "a trivial Hessian would prove nothing"
        );
    }
}
