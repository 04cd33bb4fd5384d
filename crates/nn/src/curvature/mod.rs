//! Curvature, without forming a matrix: the top eigenvalues of a loss's
//! Hessian with respect to a model's parameters (Lanczos on
//! Hessian-vector products), Hutchinson's estimate of its trace, and the
//! singular values of a network's input-output Jacobian (Lanczos on
//! `JᵀJ v`, one forward-mode and one reverse-mode pass per product): the
//! quantity behind "dynamical isometry" (Pennington, Schoenholz & Ganguli
//! 2017).
//!
//! Hessian-vector products run forward-over-reverse: the parameters carry
//! tangents `v` through the forward pass and the recorded backward pass,
//! so the gradient's tangent is `H v` (see [`tapegrad_autodiff::hvp`]).
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::curvature::{hessian_eigenvalues, hessian_trace, objective};
//! use tapegrad_nn::{loss::mse, Linear, Module, Sequential};
//! use tapegrad_tensor::Tensor;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model = Sequential::<f64>::new().add(Linear::new(3, 1, &mut rng));
//! let x = Tensor::rand_normal(&[20, 3], 0.0, 1.0, &mut rng);
//! let y = Tensor::rand_normal(&[20, 1], 0.0, 1.0, &mut rng);
//! let loss = objective(|t: &Tape<f64>| mse(model.forward(t.constant(x.clone())), t.constant(y.clone())));
//! // Least squares: H = (2/N) [x 1]ᵀ[x 1] for (weight, bias), 4 x 4.
//! let top = hessian_eigenvalues(&model, loss, 2, 4, 0);
//! assert!(top.values[0] >= top.values[1] && top.values[1] > 0.0);
//! let trace = hessian_trace(&model, loss, 2000, 1);
//! let exact = 2.0 * (x.square().sum_all().item() + 20.0) / 20.0;
//! assert!((trace.estimate - exact).abs() < 4.0 * trace.std_error + 1e-9);
//! ```

mod lanczos;

pub use lanczos::{lanczos, symmetric_eigen, Eigen};

use crate::module::Module;
use crate::param::Param;
use rand::{Rng, SeedableRng};
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{Float, Tensor};

/// Gives a closure `|tape| loss` the signature the functions here take (a
/// loss built on whatever tape it is given), so it can be stored in a `let`
/// and used several times.
pub fn objective<E: Float, F>(f: F) -> F
where
    F: for<'t> Fn(&'t Tape<E>) -> Var<'t, E>,
{
    f
}

/// The model's parameters' shapes, in visiting order, and their total size.
fn param_shapes<E: Float, M: Module<E> + ?Sized>(model: &M) -> (Vec<Vec<usize>>, usize) {
    let mut shapes = Vec::new();
    model.visit_params(&mut |_, p: &Param<E>| shapes.push(p.shape().to_vec()));
    let n = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    (shapes, n)
}

/// The Hessian-vector product `H v` of the scalar `loss(tape)` with respect
/// to `model`'s parameters (all of them, flattened in visiting order).
///
/// # Panics
/// If `v` does not have one entry per parameter, or the loss is not a
/// single element.
#[track_caller]
pub fn hessian_vector_product<E: Float, M: Module<E> + ?Sized, F>(
    model: &M,
    loss: F,
    v: &[f64],
) -> Vec<f64>
where
    F: for<'t> Fn(&'t Tape<E>) -> Var<'t, E>,
{
    let (shapes, n) = param_shapes(model);
    if v.len() != n {
        panic!(
            "hessian_vector_product: vector of {} entries for {n} parameters",
            v.len()
        );
    }
    let tape = Tape::<E>::new();
    let mut vars = Vec::new();
    let mut at = 0;
    model.visit_params(&mut |_, p| {
        let var = p.bind(&tape);
        let len = p.numel();
        let chunk: Vec<E> = v[at..at + len].iter().map(|&x| E::from_f64(x)).collect();
        tape.seed_tangent(var, Tensor::from_vec(chunk, p.shape()));
        vars.push(var);
        at += len;
    });
    let l = loss(&tape);
    if l.numel() != 1 {
        panic!(
            "hessian_vector_product: the loss has shape {:?}, not one element",
            l.shape()
        );
    }
    let grads = tape.grad(l, &vars);
    let mut out = Vec::with_capacity(n);
    for (g, shape) in grads.iter().zip(&shapes) {
        match tape.tangent(*g) {
            Some(t) => out.extend(t.to_f64_vec()),
            None => out.extend(std::iter::repeat_n(0.0, shape.iter().product())),
        }
    }
    out
}

/// The `k` largest eigenvalues (and eigenvectors, over the flattened
/// parameters) of the Hessian of `loss` with respect to `model`'s
/// parameters, by `steps` Lanczos iterations on Hessian-vector products
/// (seeded start). The top eigenvalue converges first; take `steps` a few
/// times `k` (and at most the parameter count).
pub fn hessian_eigenvalues<E: Float, M: Module<E> + ?Sized, F>(
    model: &M,
    loss: F,
    k: usize,
    steps: usize,
    seed: u64,
) -> Eigen
where
    F: for<'t> Fn(&'t Tape<E>) -> Var<'t, E>,
{
    let (_, n) = param_shapes(model);
    lanczos(n, |v| hessian_vector_product(model, &loss, v), steps, seed).top(k)
}

/// A Monte Carlo estimate with its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceEstimate {
    /// The mean of the samples.
    pub estimate: f64,
    /// The standard error of the mean, `std / √samples`.
    pub std_error: f64,
    /// Number of samples.
    pub samples: usize,
}

/// Hutchinson's estimate of the Hessian's trace, `E[vᵀ H v]` over
/// Rademacher vectors `v` (entries ±1), from `samples` Hessian-vector
/// products (Hutchinson 1989; Avron & Toledo 2011): unbiased, with variance
/// `2 (‖H‖²_F − Σ H_ii²)` per sample.
///
/// # Panics
/// If `samples` is 0.
#[track_caller]
pub fn hessian_trace<E: Float, M: Module<E> + ?Sized, F>(
    model: &M,
    loss: F,
    samples: usize,
    seed: u64,
) -> TraceEstimate
where
    F: for<'t> Fn(&'t Tape<E>) -> Var<'t, E>,
{
    if samples == 0 {
        panic!("hessian_trace: needs at least one sample");
    }
    let (_, n) = param_shapes(model);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let draws: Vec<f64> = (0..samples)
        .map(|_| {
            let v: Vec<f64> = (0..n)
                .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                .collect();
            let hv = hessian_vector_product(model, &loss, &v);
            v.iter().zip(&hv).map(|(a, b)| a * b).sum()
        })
        .collect();
    let mean = draws.iter().sum::<f64>() / samples as f64;
    let var = if samples > 1 {
        draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (samples - 1) as f64
    } else {
        0.0
    };
    TraceEstimate {
        estimate: mean,
        std_error: (var / samples as f64).sqrt(),
        samples,
    }
}

/// `JᵀJ v` for the Jacobian `J` of `x ↦ model(x)` at `inputs`: one
/// forward pass carrying the tangent `v` (giving `J v`), then one backward
/// pass seeded with it (giving `Jᵀ (J v)`).
fn jtj<E: Float, M: Module<E> + ?Sized>(model: &M, inputs: &Tensor<E>, v: &[f64]) -> Vec<f64> {
    let tape = Tape::<E>::new();
    let x = tape.var(inputs.clone());
    let t: Vec<E> = v.iter().map(|&a| E::from_f64(a)).collect();
    tape.seed_tangent(x, Tensor::from_vec(t, inputs.shape()));
    let y = model.forward(x);
    let jv = tape.tangent(y).unwrap_or_else(|| Tensor::zeros(&y.shape()));
    y.backward_with(jv).wrt_or_zeros(x).to_f64_vec()
}

/// The singular values of the input-output Jacobian of `model` at `inputs`
/// (largest first), from `steps` Lanczos iterations on `JᵀJ` (seeded);
/// the matrix is never formed. With `steps` at least the number of input
/// entries it returns all of them (for a batch of independent examples,
/// the union of every example's singular values: the batched Jacobian is
/// block-diagonal); with fewer, the extreme ones are the accurate ones.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_nn::curvature::jacobian_singular_values;
/// use tapegrad_nn::{init, Linear, Sequential};
/// use tapegrad_tensor::Tensor;
///
/// // A deep linear network with orthogonal weights: every singular value is 1.
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut model = Sequential::<f64>::new();
/// for _ in 0..5 {
///     let w = init::orthogonal(&[6, 6], 1.0, &mut rng);
///     model.push(Linear::from_tensors(w, None));
/// }
/// let s = jacobian_singular_values(&model, &Tensor::ones(&[1, 6]), 6, 0);
/// assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-10), "{s:?}");
/// ```
pub fn jacobian_singular_values<E: Float, M: Module<E> + ?Sized>(
    model: &M,
    inputs: &Tensor<E>,
    steps: usize,
    seed: u64,
) -> Vec<f64> {
    let e = lanczos(inputs.numel(), |v| jtj(model, inputs, v), steps, seed);
    e.values.iter().rev().map(|&l| l.max(0.0).sqrt()).collect()
}
