//! Function transforms, with JAX's names and shapes: [`jvp`] (forward mode),
//! [`vjp`] (reverse mode with a reusable pullback), whole Jacobians by rows
//! ([`jacrev`]) or columns ([`jacfwd`]), [`hessian`] and Hessian-vector
//! products ([`hvp`], forward-over-reverse), and [`check_jvp`] (forward mode
//! against finite differences).
//!
//! A function is a closure `|tape, xs| -> Var` over input vars, the same
//! form [`gradcheck`](crate::gradcheck) takes; its output may have any
//! shape. A Jacobian with respect to an input has shape
//! `output.shape ++ input.shape`, as in JAX.
//!
//! ```
//! use tapegrad_autodiff::{hvp, jacfwd, jacrev, jvp};
//! use tapegrad_tensor::Tensor;
//!
//! // f(x) = x² elementwise: J = diag(2x).
//! let x = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2]);
//! let (y, ydot) = jvp(|_, v| v[0] * v[0], &[x.clone()], &[Tensor::ones(&[2])]);
//! assert_eq!((y.to_vec(), ydot.to_vec()), (vec![1.0, 9.0], vec![2.0, 6.0]));
//! let j = jacrev(|_, v| v[0] * v[0], &[x.clone()]);
//! assert_eq!(j[0].shape(), &[2, 2]);
//! assert_eq!(j[0].to_vec(), vec![2.0, 0.0, 0.0, 6.0]);
//! assert_eq!(jacfwd(|_, v| v[0] * v[0], &[x.clone()])[0].to_vec(), j[0].to_vec());
//! // Hessian-vector product of Σ x³: H = diag(6x).
//! let hv = hvp(|_, v| v[0].powf(3.0).sum_all(), &[x], &[Tensor::ones(&[2])]);
//! assert_eq!(hv[0].to_vec(), vec![6.0, 18.0]);
//! ```

use crate::gradcheck::{GradcheckError, GradcheckOptions, GradcheckReport};
use crate::tape::{NodeId, Tape};
use crate::var::Var;
use rand::SeedableRng;
use tapegrad_tensor::{Float, Tensor};

/// Panics unless `tangents` match `primals` one for one, shape for shape.
#[track_caller]
fn check_pairs<E: Float>(op: &str, primals: &[Tensor<E>], tangents: &[Tensor<E>], what: &str) {
    if primals.len() != tangents.len() {
        panic!(
            "{op}: {} primals but {} {what}",
            primals.len(),
            tangents.len()
        );
    }
    for (i, (p, t)) in primals.iter().zip(tangents).enumerate() {
        if p.shape() != t.shape() {
            panic!(
                "{op}: {what} {i} has shape {:?}, its primal {:?}",
                t.shape(),
                p.shape()
            );
        }
    }
}

/// Forward mode: `f(primals)` and its Jacobian-vector product
/// `Σᵢ ∂f/∂xᵢ · tangentsᵢ`, in one forward pass (no reverse pass): every op
/// computes its tangent on tensors as it runs.
///
/// # Panics
/// If `tangents` do not match `primals` in number and shapes.
#[track_caller]
pub fn jvp<E: Float, F>(
    f: F,
    primals: &[Tensor<E>],
    tangents: &[Tensor<E>],
) -> (Tensor<E>, Tensor<E>)
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    check_pairs("jvp", primals, tangents, "tangents");
    let tape = Tape::<E>::new();
    let xs: Vec<Var<'_, E>> = primals.iter().map(|p| tape.var(p.clone())).collect();
    for (x, t) in xs.iter().zip(tangents) {
        tape.seed_tangent(*x, t.clone());
    }
    let y = f(&tape, &xs);
    let ydot = tape.tangent(y).unwrap_or_else(|| Tensor::zeros(&y.shape()));
    (y.value(), ydot)
}

/// The pullback of [`vjp`]: maps an output cotangent `u` to the input
/// cotangents `uᵀ ∂f/∂xᵢ`. It keeps the recorded forward pass, so it can be
/// called any number of times with different cotangents.
pub struct Pullback<E: Float> {
    tape: Tape<E>,
    output: NodeId,
    inputs: Vec<NodeId>,
}

impl<E: Float> Pullback<E> {
    /// The input cotangents for output cotangent `u` (shaped like the output).
    ///
    /// # Panics
    /// If `u`'s shape differs from the output's.
    #[track_caller]
    pub fn call(&self, u: &Tensor<E>) -> Vec<Tensor<E>> {
        let y = self.tape.var_at(self.output);
        let grads = y.backward_with(u.clone());
        self.inputs
            .iter()
            .map(|&id| {
                grads
                    .by_id(id)
                    .cloned()
                    .unwrap_or_else(|| Tensor::zeros(&self.tape.var_at(id).shape()))
            })
            .collect()
    }

    /// The output's shape (what [`call`](Self::call) takes).
    pub fn output_shape(&self) -> Vec<usize> {
        self.tape.var_at(self.output).shape().to_vec()
    }
}

/// Reverse mode: `f(primals)` and a [`Pullback`] that maps output
/// cotangents to input cotangents (vector-Jacobian products).
///
/// ```
/// use tapegrad_autodiff::vjp;
/// use tapegrad_tensor::Tensor;
///
/// let (y, pullback) = vjp(|_, v| v[0] * 3.0, &[Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])]);
/// assert_eq!(y.to_vec(), vec![3.0, 6.0]);
/// assert_eq!(pullback.call(&Tensor::from_vec(vec![1.0, 0.0], &[2]))[0].to_vec(), vec![3.0, 0.0]);
/// assert_eq!(pullback.call(&Tensor::from_vec(vec![0.0, 2.0], &[2]))[0].to_vec(), vec![0.0, 6.0]);
/// ```
pub fn vjp<E: Float, F>(f: F, primals: &[Tensor<E>]) -> (Tensor<E>, Pullback<E>)
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    let tape = Tape::<E>::new();
    let (output, inputs, value) = {
        let xs: Vec<Var<'_, E>> = primals.iter().map(|p| tape.var(p.clone())).collect();
        let y = f(&tape, &xs);
        (y.id(), xs.iter().map(|x| x.id()).collect(), y.value())
    };
    (
        value,
        Pullback {
            tape,
            output,
            inputs,
        },
    )
}

/// The one-hot tensor of `shape` with a 1 at flat position `i`.
fn basis<E: Float>(shape: &[usize], i: usize) -> Tensor<E> {
    let mut data = vec![E::ZERO; shape.iter().product()];
    data[i] = E::ONE;
    Tensor::from_vec(data, shape)
}

/// `a ++ b`.
fn joined(a: &[usize], b: &[usize]) -> Vec<usize> {
    a.iter().chain(b).copied().collect()
}

/// The Jacobian of `f` with respect to each input, by rows: one reverse
/// pass per output element (best when the output is smaller than the
/// inputs). Jacobian `i` has shape `output.shape ++ inputs[i].shape`.
pub fn jacrev<E: Float, F>(f: F, primals: &[Tensor<E>]) -> Vec<Tensor<E>>
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    let (y, pullback) = vjp(f, primals);
    let m = y.numel();
    let mut data: Vec<Vec<E>> = primals
        .iter()
        .map(|p| Vec::with_capacity(m * p.numel()))
        .collect();
    for i in 0..m {
        for (rows, g) in data.iter_mut().zip(pullback.call(&basis(y.shape(), i))) {
            rows.extend(g.to_vec());
        }
    }
    data.into_iter()
        .zip(primals)
        .map(|(d, p)| Tensor::from_vec(d, &joined(y.shape(), p.shape())))
        .collect()
}

/// The Jacobian of `f` with respect to each input, by columns: one forward
/// pass (with tangents) per input element (best when the inputs are
/// smaller than the output). Shapes as [`jacrev`].
pub fn jacfwd<E: Float, F>(f: F, primals: &[Tensor<E>]) -> Vec<Tensor<E>>
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    let zeros: Vec<Tensor<E>> = primals.iter().map(|p| Tensor::zeros(p.shape())).collect();
    let mut out = Vec::with_capacity(primals.len());
    for (k, p) in primals.iter().enumerate() {
        let n = p.numel();
        let mut columns: Vec<Vec<E>> = Vec::with_capacity(n);
        let mut out_shape = Vec::new();
        for j in 0..n {
            let mut tangents = zeros.clone();
            tangents[k] = basis(p.shape(), j);
            let (y, ydot) = jvp(&f, primals, &tangents);
            out_shape = y.shape().to_vec();
            columns.push(ydot.to_vec());
        }
        if n == 0 {
            out_shape = vjp(&f, primals).0.shape().to_vec();
        }
        let m: usize = out_shape.iter().product();
        let mut data = vec![E::ZERO; m * n];
        for (j, col) in columns.iter().enumerate() {
            for (i, &v) in col.iter().enumerate() {
                data[i * n + j] = v;
            }
        }
        out.push(Tensor::from_vec(data, &joined(&out_shape, p.shape())));
    }
    out
}

/// Runs scalar `f` with tangents `vs` seeded on the inputs and returns the
/// tangents of its gradients: `H v` (forward-over-reverse).
fn grad_tangents<E: Float, F>(
    op: &str,
    f: &F,
    primals: &[Tensor<E>],
    vs: &[Tensor<E>],
) -> Vec<Tensor<E>>
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    let tape = Tape::<E>::new();
    let xs: Vec<Var<'_, E>> = primals.iter().map(|p| tape.var(p.clone())).collect();
    for (x, v) in xs.iter().zip(vs) {
        tape.seed_tangent(*x, v.clone());
    }
    let y = f(&tape, &xs);
    if y.numel() != 1 {
        panic!(
            "{op}: f must return a single element, got shape {:?}",
            y.shape()
        );
    }
    let grads = tape.grad(y, &xs);
    grads
        .iter()
        .map(|g| {
            tape.tangent(*g)
                .unwrap_or_else(|| Tensor::zeros(&g.shape()))
        })
        .collect()
}

/// The Hessian-vector product of scalar `f`: `Σⱼ ∂²f/∂xᵢ∂xⱼ · vⱼ` for each
/// input `i`, by forward-over-reverse (one forward pass and one recorded
/// backward pass, both carrying tangents); the Hessian is never formed.
///
/// # Panics
/// If `f`'s output has more than one element, or `vs` do not match `primals`.
#[track_caller]
pub fn hvp<E: Float, F>(f: F, primals: &[Tensor<E>], vs: &[Tensor<E>]) -> Vec<Tensor<E>>
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    check_pairs("hvp", primals, vs, "vectors");
    grad_tangents("hvp", &f, primals, vs)
}

/// The Hessian of scalar `f`: block `[i][j]` is `∂²f/∂xᵢ∂xⱼ`, of shape
/// `inputs[i].shape ++ inputs[j].shape`, built column by column from
/// Hessian-vector products (forward-over-reverse). Symmetric up to rounding.
///
/// ```
/// use tapegrad_autodiff::hessian;
/// use tapegrad_tensor::Tensor;
///
/// // f(x) = xᵀ A x with A = [[1, 2], [0, 3]]: H = A + Aᵀ.
/// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 0.0, 3.0], &[2, 2]);
/// let x = Tensor::from_vec(vec![0.5, -1.0], &[2]);
/// let h = hessian(move |t, v| v[0].matmul(t.constant(a.clone())).matmul(v[0]), &[x]);
/// assert_eq!(h[0][0].to_vec(), vec![2.0, 2.0, 2.0, 6.0]);
/// ```
///
/// # Panics
/// If `f`'s output has more than one element.
pub fn hessian<E: Float, F>(f: F, primals: &[Tensor<E>]) -> Vec<Vec<Tensor<E>>>
where
    F: for<'t> Fn(&'t Tape<E>, &[Var<'t, E>]) -> Var<'t, E>,
{
    let zeros: Vec<Tensor<E>> = primals.iter().map(|p| Tensor::zeros(p.shape())).collect();
    // columns[j][i]: the columns of block [i][j], one per element of input j.
    let mut blocks: Vec<Vec<Vec<E>>> = primals
        .iter()
        .map(|_| vec![Vec::new(); primals.len()])
        .collect();
    for (j, p) in primals.iter().enumerate() {
        for e in 0..p.numel() {
            let mut vs = zeros.clone();
            vs[j] = basis(p.shape(), e);
            for (i, hv) in grad_tangents("hessian", &f, primals, &vs)
                .into_iter()
                .enumerate()
            {
                blocks[i][j].extend(hv.to_vec());
            }
        }
    }
    // blocks[i][j] holds, column by column (e over input j), the rows over
    // input i: transpose into row-major [input i ++ input j].
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            row.into_iter()
                .enumerate()
                .map(|(j, cols)| {
                    let (ni, nj) = (primals[i].numel(), primals[j].numel());
                    let mut data = vec![E::ZERO; ni * nj];
                    for c in 0..nj {
                        for r in 0..ni {
                            data[r * nj + c] = cols[c * ni + r];
                        }
                    }
                    Tensor::from_vec(data, &joined(primals[i].shape(), primals[j].shape()))
                })
                .collect()
        })
        .collect()
}

/// Checks forward mode against central finite differences in f64, with the
/// tolerances and report of [`gradcheck`](crate::gradcheck): the output is
/// reduced to `L = Σ r ⊙ f(x)` with fixed random weights `r`, and
/// `⟨r, J e⟩` from [`jvp`] is compared with `(L(x + h e) - L(x - h e)) / 2h`
/// for every input element `e` (random directions for large inputs).
///
/// ```
/// use tapegrad_autodiff::{check_jvp, GradcheckOptions};
/// use tapegrad_tensor::Tensor;
///
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]);
/// assert!(check_jvp(|_, v| v[0].tanh() * v[0], &[x], &GradcheckOptions::default()).is_ok());
/// ```
///
/// # Errors
/// As [`gradcheck`](crate::gradcheck): a [`GradcheckError::Mismatch`] naming
/// the input and element, or invalid options.
pub fn check_jvp<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    opts.validate()?;
    if inputs.is_empty() {
        return Err(GradcheckError::InvalidOptions {
            what: "no inputs to check".into(),
        });
    }
    let (y, _) = vjp(&f, inputs);
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0x5eed);
    let r = Tensor::<f64>::rand_normal(y.shape(), 0.0, 1.0, &mut rng);
    let loss = |xs: &[Tensor<f64>]| {
        let (y, _) = vjp(&f, xs);
        y.mul(&r).sum_all().item()
    };
    let mut report = GradcheckReport {
        inputs: inputs.len(),
        comparisons: 0,
        max_abs_error: 0.0,
    };
    let zeros: Vec<Tensor<f64>> = inputs.iter().map(|p| Tensor::zeros(p.shape())).collect();
    let mut dir_rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    for (k, x) in inputs.iter().enumerate() {
        let full = x.numel() <= opts.max_full;
        let count = if full { x.numel() } else { opts.projections };
        for c in 0..count {
            let (dir, h, index) = if full {
                let h = opts.eps * x.to_vec()[c].abs().max(1.0);
                (basis::<f64>(x.shape(), c), h, Some(unravel(c, x.shape())))
            } else {
                let scale = x.to_vec().iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let u = Tensor::<f64>::rand_normal(x.shape(), 0.0, 1.0, &mut dir_rng);
                (u, opts.eps * scale, None)
            };
            let mut tangents = zeros.clone();
            tangents[k] = dir.clone();
            let (_, ydot) = jvp(&f, inputs, &tangents);
            let analytic = ydot.mul(&r).sum_all().item();
            let moved = |sign: f64| {
                let mut xs = inputs.to_vec();
                xs[k] = x.add(&dir.mul_scalar(sign * h));
                loss(&xs)
            };
            let numeric = (moved(1.0) - moved(-1.0)) / (2.0 * h);
            let error = (analytic - numeric).abs();
            let tolerance = opts.atol + opts.rtol * numeric.abs();
            report.comparisons += 1;
            report.max_abs_error = report.max_abs_error.max(error);
            if error.is_nan() || error > tolerance {
                return Err(GradcheckError::Mismatch {
                    input: k,
                    index,
                    analytic,
                    numeric,
                    error,
                    tolerance,
                });
            }
        }
    }
    Ok(report)
}

/// The dot-product test between an op's forward-mode and reverse-mode
/// rules: for random `u` (output-shaped) and `vᵢ` (input-shaped),
/// `⟨u, J v⟩` from [`jvp`] must equal `Σᵢ ⟨Jᵢᵀ u, vᵢ⟩` from a backward
/// pass, to `rtol` of the magnitude `Σ |u| |J v|` (plus `atol`). Unlike
/// finite differences it has no truncation error, so it catches a JVP rule
/// that disagrees with its VJP rule anywhere.
///
/// ```
/// use tapegrad_autodiff::{check_jvp_vjp, GradcheckOptions};
/// use tapegrad_tensor::Tensor;
///
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0, 0.5], &[2, 2]);
/// let w = Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5], &[2, 2]);
/// assert!(check_jvp_vjp(|_, v| v[0].matmul(v[1]).sin(), &[x, w], &GradcheckOptions::default()).is_ok());
/// ```
///
/// # Errors
/// [`GradcheckError::Mismatch`] (input 0, no element) with the two inner
/// products, or invalid options.
pub fn check_jvp_vjp<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    opts.validate()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0xd07);
    let vs: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|x| Tensor::rand_normal(x.shape(), 0.0, 1.0, &mut rng))
        .collect();
    let (y, jv) = jvp(&f, inputs, &vs);
    let u = Tensor::<f64>::rand_normal(y.shape(), 0.0, 1.0, &mut rng);
    let (_, pullback) = vjp(&f, inputs);
    let forward = u.mul(&jv).sum_all().item();
    let reverse: f64 = pullback
        .call(&u)
        .iter()
        .zip(&vs)
        .map(|(g, v)| g.mul(v).sum_all().item())
        .sum();
    let scale = u.abs().mul(&jv.abs()).sum_all().item();
    let error = (forward - reverse).abs();
    let tolerance = opts.atol + opts.rtol * scale.max(reverse.abs());
    if error.is_nan() || error > tolerance {
        return Err(GradcheckError::Mismatch {
            input: 0,
            index: None,
            analytic: forward,
            numeric: reverse,
            error,
            tolerance,
        });
    }
    Ok(GradcheckReport {
        inputs: inputs.len(),
        comparisons: 1,
        max_abs_error: error,
    })
}

/// Multi-index of flat position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}
