//! Curvature by Lanczos: the Hessian of a quadratic with a known spectrum,
//! the Hessian of an MLP against its dense Hessian, Hutchinson's trace,
//! and Jacobian singular values (orthogonal linear networks: all 1; a
//! product of Gaussian matrices: its dense spectrum and the known spread).

use rand::SeedableRng;
use tapegrad_autodiff::{hessian, jacrev, Tape, Var};
use tapegrad_nn::curvature::{
    hessian_eigenvalues, hessian_trace, jacobian_singular_values, objective, symmetric_eigen,
};
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::{init, Linear, Module, Param, Sequential, Tanh};
use tapegrad_tensor::Tensor;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// One parameter `x`, loss `xᵀ A x`.
struct Quadratic {
    x: Param<f64>,
    a: Tensor<f64>,
}

impl Module<f64> for Quadratic {
    fn forward<'t>(&self, input: Var<'t, f64>) -> Var<'t, f64> {
        let x = self.x.bind(input.tape());
        x.matmul(input.tape().constant(self.a.clone())).matmul(x)
    }
    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f64>)) {
        f("x", &self.x)
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f64>)) {
        f("x", &mut self.x)
    }
}

/// `Q diag(λ) Qᵀ / 2` for a random orthogonal `Q`: its `xᵀ A x` has the
/// Hessian `A + Aᵀ = Q diag(λ) Qᵀ`, eigenvalues exactly `λ`.
fn quadratic(lambda: &[f64]) -> Quadratic {
    let n = lambda.len();
    let q = init::orthogonal::<f64>(&[n, n], 1.0, &mut rng(1));
    let d = Tensor::from_vec(
        (0..n * n)
            .map(|k| {
                if k / n == k % n {
                    lambda[k / n] / 2.0
                } else {
                    0.0
                }
            })
            .collect(),
        &[n, n],
    );
    Quadratic {
        x: Param::new(Tensor::rand_normal(&[n], 0.0, 1.0, &mut rng(2))),
        a: q.matmul(&d).matmul(&q.t()),
    }
}

#[test]
fn lanczos_finds_the_known_top_eigenvalues_of_a_quadratic() {
    // A top eigenvalue well apart from the rest (which are evenly spread).
    let lambda: Vec<f64> = (0..30)
        .map(|i| if i == 0 { 10.0 } else { 5.0 - 0.1 * i as f64 })
        .collect();
    let model = quadratic(&lambda);
    let loss = objective(|t: &Tape<f64>| model.forward(t.constant(Tensor::scalar(0.0))));
    // Full Krylov space: every eigenvalue, to 1e-8.
    let all = hessian_eigenvalues(&model, loss, 5, 30, 0);
    for (got, want) in all.values.iter().zip(&lambda) {
        assert!((got - want).abs() < 1e-8, "{got} vs {want}");
    }
    // The eigenvector of the top one: H v = λ v.
    let v = &all.vectors[0];
    let hv = tapegrad_nn::curvature::hessian_vector_product(&model, loss, v);
    for (a, b) in hv.iter().zip(v) {
        assert!((a - 10.0 * b).abs() < 1e-8);
    }
    // Fewer steps than the dimension: the extreme one has converged.
    let few = hessian_eigenvalues(&model, loss, 1, 20, 3);
    assert!((few.values[0] - 10.0).abs() < 1e-8, "{}", few.values[0]);
}

fn small_mlp() -> (Sequential<f64>, Tensor<f64>, Vec<usize>) {
    let mut r = rng(4);
    let model = Sequential::new()
        .add(Linear::new(3, 4, &mut r))
        .add(Tanh)
        .add(Linear::new(4, 3, &mut r));
    let x = Tensor::rand_normal(&[8, 3], 0.0, 1.0, &mut r);
    (model, x, vec![0, 1, 2, 0, 1, 2, 0, 1])
}

/// The dense Hessian of the MLP's loss over its 31 flattened parameters.
fn dense_hessian(model: &Sequential<f64>, x: &Tensor<f64>, labels: &[usize]) -> Vec<Vec<f64>> {
    let mut values = Vec::new();
    model.visit_params(&mut |_, p| values.push(p.value().clone()));
    let blocks = hessian(
        |tape, vs| {
            // The model's forward with its parameters replaced by `vs`.
            let mut h = tape.constant(x.clone());
            h = h.matmul(vs[0].t()) + vs[1];
            h = h.tanh();
            h = h.matmul(vs[2].t()) + vs[3];
            cross_entropy(h, labels)
        },
        &values,
    );
    let sizes: Vec<usize> = values.iter().map(|v| v.numel()).collect();
    let n: usize = sizes.iter().sum();
    let mut dense = vec![vec![0.0; n]; n];
    let offsets: Vec<usize> = sizes
        .iter()
        .scan(0, |acc, &s| {
            let o = *acc;
            *acc += s;
            Some(o)
        })
        .collect();
    for (i, row) in blocks.iter().enumerate() {
        for (j, b) in row.iter().enumerate() {
            let v = b.to_vec();
            for r in 0..sizes[i] {
                for c in 0..sizes[j] {
                    dense[offsets[i] + r][offsets[j] + c] = v[r * sizes[j] + c];
                }
            }
        }
    }
    dense
}

#[test]
fn mlp_hessian_eigenvalues_and_trace_match_the_dense_hessian() {
    let (model, x, labels) = small_mlp();
    let loss =
        objective(|t: &Tape<f64>| cross_entropy(model.forward(t.constant(x.clone())), &labels));
    let dense = dense_hessian(&model, &x, &labels);
    let exact = symmetric_eigen(dense.clone());
    let n = dense.len();
    let lanczos = hessian_eigenvalues(&model, loss, 3, n, 0);
    for (k, got) in lanczos.values.iter().enumerate() {
        let want = exact.values[n - 1 - k];
        assert!(
            (got - want).abs() < 1e-9 * (1.0 + want.abs()),
            "eigenvalue {k}: {got} vs {want}"
        );
    }
    // Hutchinson: within 4 standard errors of the exact trace (a false
    // alarm has probability ~6e-5 for a normal mean estimate).
    let trace: f64 = (0..n).map(|i| dense[i][i]).sum();
    let est = hessian_trace(&model, loss, 400, 7);
    assert!(est.std_error > 0.0);
    assert!(
        (est.estimate - trace).abs() < 4.0 * est.std_error,
        "{est:?} vs {trace}"
    );
}

#[test]
fn orthogonal_linear_networks_have_all_singular_values_one() {
    let mut r = rng(5);
    let mut model = Sequential::<f64>::new();
    for _ in 0..10 {
        model.push(Linear::from_tensors(
            init::orthogonal(&[16, 16], 1.0, &mut r),
            None,
        ));
    }
    let x = Tensor::rand_normal(&[2, 16], 0.0, 1.0, &mut r);
    let s = jacobian_singular_values(&model, &x, 32, 0);
    assert_eq!(s.len(), 32); // two examples' 16 each
    assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-9), "{s:?}");
}

/// A deep linear network of Gaussian `N(0, 1/N)` weights, `J = W_L ⋯ W_1`.
fn gaussian_chain(n: usize, depth: usize, seed: u64) -> Sequential<f64> {
    let mut r = rng(seed);
    let mut model = Sequential::new();
    for _ in 0..depth {
        let w = Tensor::rand_normal(&[n, n], 0.0, 1.0 / (n as f64).sqrt(), &mut r);
        model.push(Linear::from_tensors(w, None));
    }
    model
}

#[test]
fn gaussian_product_spectra_match_dense_and_the_known_spread() {
    let (n, depth) = (32, 3);
    // Lanczos against the dense Jacobian's singular values.
    let model = gaussian_chain(n, depth, 6);
    let x = Tensor::<f64>::ones(&[1, n]);
    let s = jacobian_singular_values(&model, &x, n, 0);
    let j = jacrev(
        |t, v| model.forward(v[0]).reshape(&[n]) + t.constant(Tensor::zeros(&[n])),
        std::slice::from_ref(&x),
    )[0]
    .reshape(&[n, n]);
    let jtj = j.t().matmul(&j);
    let rows: Vec<Vec<f64>> = (0..n).map(|i| jtj.narrow(0, i, 1).to_vec()).collect();
    let exact = symmetric_eigen(rows);
    for (k, got) in s.iter().enumerate() {
        let want = exact.values[n - 1 - k].max(0.0).sqrt();
        assert!(
            (got - want).abs() < 1e-8 * (1.0 + want),
            "singular value {k}: {got} vs {want}"
        );
    }
    // The spread: for a product of L such matrices the squared singular
    // values λ have E[mean λ] = 1 at any size, and E[mean λ²] → L + 1 as
    // N grows (the Fuss–Catalan moments); at N = 32 the finite-size excess
    // is about L(L+1)/(2N) ≈ 0.19. Over 40 draws the sample means have
    // standard errors ≈ 0.08 / √40 and ≈ 0.7 / √40 (measured spread per
    // draw at this size): tolerances of 4 standard errors plus the excess.
    let draws = 40;
    let (mut m1, mut m2) = (0.0, 0.0);
    for d in 0..draws {
        let model = gaussian_chain(n, depth, 100 + d);
        let s = jacobian_singular_values(&model, &x, n, d);
        m1 += s.iter().map(|v| v * v).sum::<f64>() / n as f64;
        m2 += s.iter().map(|v| v.powi(4)).sum::<f64>() / n as f64;
    }
    let (m1, m2) = (m1 / draws as f64, m2 / draws as f64);
    let l = depth as f64;
    assert!(
        (m1 - 1.0).abs() < 4.0 * 0.08 / (draws as f64).sqrt(),
        "mean λ {m1}"
    );
    let excess = l * (l + 1.0) / (2.0 * n as f64);
    assert!(
        (m2 - (l + 1.0)).abs() < excess + 4.0 * 0.7 / (draws as f64).sqrt(),
        "mean λ² {m2}"
    );
}
