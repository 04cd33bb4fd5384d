//! The function transforms: jvp, vjp, jacrev, jacfwd, hessian, hvp, and the
//! forward-mode checks, against each other, finite differences and closed
//! forms; a planted JVP bug is caught; an op without a JVP rule goes
//! through the double-VJP fallback with the same numbers.

mod common;

use common::*;
use proptest::prelude::*;
use rand::SeedableRng;
use tapegrad_autodiff::{
    check_fn, check_jvp, check_jvp_vjp, hessian, hvp, jacfwd, jacrev, jvp, vjp, Ctx, GradOps,
    GradcheckError, GradcheckOptions, Grads, JvpCtx, Op, Tape, Var,
};
use tapegrad_tensor::Tensor;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Tensor::rand_normal(shape, 0.0, 1.0, &mut rng)
}

/// A random composition of two inputs, with an output of rank 2:
/// `tanh(x W) ⊙ σ(x) ⊕ logsumexp`, mixing matmul, broadcasting and reductions.
fn composition<'t>(_: &'t Tape<f64>, v: &[Var<'t, f64>]) -> Var<'t, f64> {
    let (x, w) = (v[0], v[1]);
    let h = x.matmul(w).tanh(); // [3, 2]
    let s = x.sigmoid().sum_keepdim(&[1]); // [3, 1]
    h * s + h.logsumexp_keepdim(&[0]).exp() // broadcast [1, 2]
}

/// Central differences of the flattened output with respect to each
/// element of input `k`, in the `output ++ input` layout of a Jacobian.
fn numeric_jacobian(inputs: &[Tensor<f64>], k: usize) -> Vec<f64> {
    let f = check_fn(composition);
    let eval = |xs: &[Tensor<f64>]| vjp(f, xs).0.to_vec();
    let m = eval(inputs).len();
    let n = inputs[k].numel();
    let mut jac = vec![0.0; m * n];
    for j in 0..n {
        let h = 1e-6;
        let shifted = |d: f64| {
            let mut xs = inputs.to_vec();
            let mut v = xs[k].to_vec();
            v[j] += d;
            xs[k] = Tensor::from_vec(v, inputs[k].shape());
            eval(&xs)
        };
        let (p, q) = (shifted(h), shifted(-h));
        for i in 0..m {
            jac[i * n + j] = (p[i] - q[i]) / (2.0 * h);
        }
    }
    jac
}

#[test]
fn jacrev_and_jacfwd_agree_with_each_other_and_finite_differences() {
    let inputs = [rand_tensor(&[3, 4], 1), rand_tensor(&[4, 2], 2)];
    let rev = jacrev(composition, &inputs);
    let fwd = jacfwd(composition, &inputs);
    assert_eq!(rev[0].shape(), &[3, 2, 3, 4]);
    assert_eq!(rev[1].shape(), &[3, 2, 4, 2]);
    for k in 0..2 {
        assert_eq!(fwd[k].shape(), rev[k].shape());
        assert_close(&fwd[k].to_vec(), &rev[k].to_vec(), 1e-12, 1e-13);
        assert_close(&rev[k].to_vec(), &numeric_jacobian(&inputs, k), 1e-6, 1e-8);
    }
}

#[test]
fn jacobian_of_a_scalar_and_of_a_scalar_input_have_jax_shapes() {
    let x = rand_tensor(&[2, 3], 3);
    let j = jacrev(|_, v| v[0].square().sum_all(), std::slice::from_ref(&x));
    assert_eq!(j[0].shape(), &[2, 3]); // [] ++ [2, 3]
    assert_close(&j[0].to_vec(), &x.mul_scalar(2.0).to_vec(), 1e-15, 0.0);
    let s = Tensor::<f64>::scalar(0.7);
    let j = jacfwd(|_, v| v[0].broadcast_to(&[2, 2]).sin(), &[s]);
    assert_eq!(j[0].shape(), &[2, 2]); // [2, 2] ++ []
    assert_close(&j[0].to_vec(), &[0.7f64.cos(); 4], 1e-15, 0.0);
}

/// f(x) = xᵀ A x has Hessian A + Aᵀ, whatever x.
#[test]
fn hessian_of_a_quadratic_form_is_a_plus_a_transpose() {
    let a = rand_tensor(&[4, 4], 4);
    let x = rand_tensor(&[4], 5);
    let a2 = a.clone();
    let h = hessian(
        move |t, v| v[0].matmul(t.constant(a2.clone())).matmul(v[0]),
        &[x],
    );
    let want = a.add(&a.t());
    assert_eq!(h[0][0].shape(), &[4, 4]);
    assert_close(&h[0][0].to_vec(), &want.to_vec(), 1e-14, 1e-14);
}

/// The Hessian of a nonlinear function of two inputs is symmetric and
/// matches central differences of the gradient.
#[test]
fn hessian_is_symmetric_and_matches_differences_of_the_gradient() {
    let f = check_fn(|_, v| v[0].matmul(v[1]).tanh().square().sum_all() + v[0].sin().sum_all());
    let inputs = [rand_tensor(&[2, 3], 6), rand_tensor(&[3, 2], 7)];
    let h = hessian(f, &inputs);
    let sizes = [6, 6];
    // The full 12 x 12 matrix from the blocks.
    let mut full = vec![0.0; 144];
    for (i, row) in h.iter().enumerate() {
        for (j, block) in row.iter().enumerate() {
            assert_eq!(
                block.shape(),
                &[inputs[i].shape(), inputs[j].shape()].concat()[..]
            );
            let b = block.to_vec();
            for r in 0..sizes[i] {
                for c in 0..sizes[j] {
                    full[(i * 6 + r) * 12 + j * 6 + c] = b[r * sizes[j] + c];
                }
            }
        }
    }
    for r in 0..12 {
        for c in 0..12 {
            assert!(
                (full[r * 12 + c] - full[c * 12 + r]).abs() < 1e-12,
                "H[{r}][{c}]"
            );
        }
    }
    // Column c is d/dx_c of the gradient.
    let grad = |xs: &[Tensor<f64>]| {
        let (_, pb) = vjp(f, xs);
        let g = pb.call(&Tensor::scalar(1.0));
        [g[0].to_vec(), g[1].to_vec()].concat()
    };
    for c in 0..12 {
        let h_step = 1e-6;
        let moved = |d: f64| {
            let mut xs = inputs.to_vec();
            let (k, e) = (c / 6, c % 6);
            let mut v = xs[k].to_vec();
            v[e] += d;
            xs[k] = Tensor::from_vec(v, inputs[k].shape());
            grad(&xs)
        };
        let (p, q) = (moved(h_step), moved(-h_step));
        for r in 0..12 {
            let numeric = (p[r] - q[r]) / (2.0 * h_step);
            assert!(
                (full[r * 12 + c] - numeric).abs() < 1e-6,
                "H[{r}][{c}] {} vs {numeric}",
                full[r * 12 + c]
            );
        }
    }
}

#[test]
fn hvp_equals_the_hessian_times_the_vector() {
    let f = check_fn(|_, v| (v[0].exp() * v[0].cos()).sum_all());
    let x = rand_tensor(&[5], 8);
    let v = rand_tensor(&[5], 9);
    let h = hessian(f, std::slice::from_ref(&x))[0][0].clone();
    let want = h.matmul(&v);
    let got = hvp(f, &[x], &[v]);
    assert_close(&got[0].to_vec(), &want.to_vec(), 1e-13, 1e-13);
}

#[test]
fn a_pullback_can_be_called_many_times() {
    let inputs = [rand_tensor(&[3, 4], 10), rand_tensor(&[4, 2], 11)];
    let (y, pullback) = vjp(composition, &inputs);
    let rev = jacrev(composition, &inputs);
    // Rows of the Jacobian, one cotangent at a time, in any order.
    for i in [5, 0, 3] {
        let mut u = vec![0.0; y.numel()];
        u[i] = 1.0;
        let g = pullback.call(&Tensor::from_vec(u, y.shape()));
        assert_eq!(
            g[0].to_vec(),
            rev[0].reshape(&[6, 12]).narrow(0, i, 1).to_vec()
        );
    }
}

/// `d/dx (∂f/∂x · v)` by reverse-over-forward equals `H v` by forward-over-reverse.
#[test]
fn reverse_over_forward_equals_forward_over_reverse() {
    let f = check_fn(|_, v| v[0].tanh().powf(3.0).sum_all() * v[0].sum_all());
    let x = rand_tensor(&[4], 12);
    let v = rand_tensor(&[4], 13);
    let tape = Tape::<f64>::new();
    let xv = tape.var(x.clone());
    tape.seed_tangent_var(xv, tape.constant(v.clone()));
    let y = f(&tape, &[xv]);
    let dir = tape.tangent_var(y).expect("a tangent");
    let g = tape.grad(dir, &[xv])[0].value();
    assert_close(&g.to_vec(), &hvp(f, &[x], &[v])[0].to_vec(), 1e-12, 1e-13);
}

/// An op whose JVP rule is wrong (twice the truth) is caught by both
/// forward-mode checks, while its gradient checks pass.
struct WrongJvpSquare;

impl Op<f64> for WrongJvpSquare {
    fn name(&self) -> &'static str {
        "wrong_jvp_square"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        x[0].square()
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.mul(&c.x[0]).mul_scalar(2.0))].into()
    }
    fn jvp<V: GradOps<f64>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.mul(&c.x[0]).mul_scalar(4.0))
    }
}

/// The same op with no JVP rule: forward mode uses the double-VJP identity.
struct NoJvpSquare;

impl Op<f64> for NoJvpSquare {
    fn name(&self) -> &'static str {
        "no_jvp_square"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        x[0].square()
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.mul(&c.x[0]).mul_scalar(2.0))].into()
    }
}

#[test]
fn a_wrong_jvp_rule_is_caught() {
    let x = rand_tensor(&[3], 14);
    let f = check_fn(|_, v| Var::apply(WrongJvpSquare, &[v[0]]).sin());
    let opts = GradcheckOptions::default();
    assert!(tapegrad_autodiff::gradcheck(f, std::slice::from_ref(&x), &opts).is_ok());
    let err =
        check_jvp(f, std::slice::from_ref(&x), &opts).expect_err("caught against differences");
    assert!(
        matches!(
            err,
            GradcheckError::Mismatch {
                input: 0,
                index: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        check_jvp_vjp(f, &[x], &opts).is_err(),
        "caught against the VJP"
    );
}

#[test]
fn an_op_without_a_jvp_rule_uses_the_double_vjp_identity() {
    let x = rand_tensor(&[2, 3], 15);
    let t = rand_tensor(&[2, 3], 16);
    let with = jvp(
        |_, v| (v[0] * v[0]).exp(),
        std::slice::from_ref(&x),
        std::slice::from_ref(&t),
    )
    .1;
    let without = jvp(
        |_, v| Var::apply(NoJvpSquare, &[v[0]]).exp(),
        std::slice::from_ref(&x),
        &[t],
    )
    .1;
    assert_close(&without.to_vec(), &with.to_vec(), 1e-14, 0.0);
    let f = check_fn(|_, v| Var::apply(NoJvpSquare, &[v[0]]).exp().sum_all());
    let opts = GradcheckOptions::default();
    assert!(check_jvp(f, std::slice::from_ref(&x), &opts).is_ok());
    // Differentiable too: its Hessian (forward over reverse through the fallback).
    let h = hessian(f, std::slice::from_ref(&x))[0][0].clone();
    let h_ref = hessian(|_, v| (v[0] * v[0]).exp().sum_all(), &[x])[0][0].clone();
    assert_close(&h.to_vec(), &h_ref.to_vec(), 1e-12, 1e-12);
}

#[test]
fn tangents_of_several_seeded_inputs_add_up() {
    // f(x, w) = x w (matmul): ẏ = ẋ w + x ẇ.
    let (x, w) = (rand_tensor(&[2, 3], 17), rand_tensor(&[3, 2], 18));
    let (xd, wd) = (rand_tensor(&[2, 3], 19), rand_tensor(&[3, 2], 20));
    let (_, yd) = jvp(
        |_, v| v[0].matmul(v[1]),
        &[x.clone(), w.clone()],
        &[xd.clone(), wd.clone()],
    );
    let want = xd.matmul(&w).add(&x.matmul(&wd));
    assert_close(&yd.to_vec(), &want.to_vec(), 1e-14, 1e-14);
}

#[test]
#[should_panic(expected = "seed_tangent: tangent of shape [3] for a var of shape [2]")]
fn a_tangent_of_the_wrong_shape_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2]));
    tape.seed_tangent(x, Tensor::zeros(&[3]));
}

#[test]
#[should_panic(expected = "jvp: tangents 0 has shape [3], its primal [2]")]
fn jvp_with_mismatched_tangents_panics() {
    let _ = jvp(
        |_, v| v[0].sin(),
        &[Tensor::<f64>::zeros(&[2])],
        &[Tensor::zeros(&[3])],
    );
}

proptest! {
    #![proptest_config(config(24))]

    /// jacrev = jacfwd on random elementwise-and-reduction compositions of random shapes.
    #[test]
    fn jacrev_equals_jacfwd_on_random_shapes(t in shape_rank(1, 3, 3).prop_flat_map(|s| tensor_of(s, smooth()))) {
        let f = check_fn(|_, v| (v[0].sin() * v[0].exp()).sum_keepdim(&[0]).tanh());
        let rev = jacrev(f, std::slice::from_ref(&t));
        let fwd = jacfwd(f, &[t]);
        prop_assert_eq!(rev[0].shape(), fwd[0].shape());
        for (a, b) in rev[0].to_vec().iter().zip(fwd[0].to_vec()) {
            prop_assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{} vs {}", a, b);
        }
    }
}
