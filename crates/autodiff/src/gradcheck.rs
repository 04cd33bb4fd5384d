//! Gradient checking: the tape's gradients against central finite
//! differences in f64, first order ([`gradcheck`]) and second order
//! ([`gradgradcheck`]).
//!
//! A function with outputs of any shape is reduced to the scalar
//! `L = Σ r ⊙ f(x)` with fixed random weights `r` (seeded), so one check
//! tests the vector-Jacobian product in a random output direction. Inputs up
//! to [`GradcheckOptions::max_full`] elements are checked element by
//! element; larger ones along random input directions `u`, comparing
//! `⟨∇L, u⟩` with `(L(x + h u) - L(x - h u)) / 2h`.

use crate::tape::Tape;
use crate::var::Var;
use rand::{Rng, SeedableRng};
use std::fmt;
use tapegrad_tensor::Tensor;

/// Tolerances and sampling for [`gradcheck`]. Defaults follow PyTorch.
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step, relative: `h = eps · max(1, |x|)`. Default 1e-6.
    pub eps: f64,
    /// Absolute tolerance. Default 1e-5.
    pub atol: f64,
    /// Relative tolerance (of the numeric value). Default 1e-3.
    pub rtol: f64,
    /// Inputs with more elements than this are checked along random
    /// directions instead of element by element. Default 2048.
    pub max_full: usize,
    /// Number of random directions for large inputs. Default 6.
    pub projections: usize,
    /// Seed of the output weights and input directions. Default 0.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            max_full: 2048,
            projections: 6,
            seed: 0,
        }
    }
}

/// What a passing check compared.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// Number of inputs.
    pub inputs: usize,
    /// Scalar comparisons made (elements or directions).
    pub comparisons: usize,
    /// Largest `|analytic - numeric|` seen.
    pub max_abs_error: f64,
}

/// Why a check failed.
#[derive(Clone, Debug, PartialEq)]
pub enum GradcheckError {
    /// Analytic and numeric derivatives disagree.
    Mismatch {
        /// Which input (position in `inputs`).
        input: usize,
        /// Multi-index of the element, or `None` for a random direction.
        index: Option<Vec<usize>>,
        /// The tape's value.
        analytic: f64,
        /// The finite-difference value.
        numeric: f64,
        /// `|analytic - numeric|`.
        error: f64,
        /// The allowed error `atol + rtol · |numeric|`.
        tolerance: f64,
    },
    /// Two backward passes gave different bits.
    NonDeterministic {
        /// Which input.
        input: usize,
        /// Flat index of the first differing element.
        element: usize,
    },
    /// The function's output or gradient is not finite at these inputs.
    NotFinite {
        /// What was not finite.
        what: String,
    },
    /// The options (or inputs) would make the check meaningless: a NaN or
    /// negative tolerance passes anything, zero projections compare nothing.
    InvalidOptions {
        /// Which option, and its value.
        what: String,
    },
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::Mismatch {
                input,
                index,
                analytic,
                numeric,
                error,
                tolerance,
            } => {
                let at = index
                    .as_ref()
                    .map_or("a random direction".to_string(), |i| {
                        format!("element {i:?}")
                    });
                write!(
                    f,
                    "gradcheck: input {input}, {at}: analytic {analytic:.10e} vs numeric {numeric:.10e} \
                     (error {error:.3e} > tolerance {tolerance:.3e})"
                )
            }
            GradcheckError::NonDeterministic { input, element } => {
                write!(f, "gradcheck: input {input}: two backward passes differ at flat element {element}")
            }
            GradcheckError::NotFinite { what } => write!(f, "gradcheck: {what} is not finite"),
            GradcheckError::InvalidOptions { what } => {
                write!(f, "gradcheck: invalid options: {what}")
            }
        }
    }
}

impl std::error::Error for GradcheckError {}

impl GradcheckOptions {
    /// Checks that the options make a meaningful test: `eps` finite and
    /// positive, `atol` and `rtol` finite and non-negative, `projections`
    /// at least 1.
    ///
    /// # Errors
    /// [`GradcheckError::InvalidOptions`] naming the first bad option.
    pub fn validate(&self) -> Result<(), GradcheckError> {
        let bad = |what: String| Err(GradcheckError::InvalidOptions { what });
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad(format!("eps {} must be finite and positive", self.eps));
        }
        for (name, v) in [("atol", self.atol), ("rtol", self.rtol)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} {v} must be finite and non-negative"));
            }
        }
        if self.projections == 0 {
            return bad("projections 0 would check large inputs along no direction".into());
        }
        Ok(())
    }
}

/// A function under test: builds its output from input vars on a tape.
///
/// Any closure `|tape, xs| ...` passed to [`gradcheck`] is one.
pub trait CheckFn: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64> {}
impl<F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>> CheckFn for F {}

/// Gives a closure the higher-ranked signature of a [`CheckFn`].
pub fn check_fn<F>(f: F) -> F
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    f
}

/// `L(x) = Σ r ⊙ f(x)` on a fresh tape, and its gradients when `grad` is set.
fn eval<F: CheckFn>(
    f: &F,
    inputs: &[Tensor<f64>],
    weights: &Option<Tensor<f64>>,
    grad: bool,
) -> (f64, Vec<Tensor<f64>>) {
    let tape = Tape::<f64>::new();
    let xs: Vec<Var<'_, f64>> = inputs.iter().map(|t| tape.var(t.clone())).collect();
    let y = f(&tape, &xs);
    let loss = match weights {
        Some(r) => (y * tape.constant(r.clone())).sum_all(),
        None => y.sum_all(),
    };
    let value = loss.item();
    if !grad {
        return (value, vec![]);
    }
    let grads = loss.backward();
    (value, xs.iter().map(|&x| grads.wrt_or_zeros(x)).collect())
}

/// Fixed random output weights `r` (standard normal), drawn from the seed.
fn output_weights<F: CheckFn>(f: &F, inputs: &[Tensor<f64>], seed: u64) -> Option<Tensor<f64>> {
    let tape = Tape::<f64>::new();
    let xs: Vec<Var<'_, f64>> = inputs.iter().map(|t| tape.var(t.clone())).collect();
    let shape = f(&tape, &xs).shape();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    Some(Tensor::rand_normal(&shape, 0.0, 1.0, &mut rng))
}

/// Checks the tape's gradients of `f` at `inputs` against central finite
/// differences (in f64), and that two backward passes agree bit for bit.
///
/// ```
/// use tapegrad_autodiff::{gradcheck, GradcheckOptions};
/// use tapegrad_tensor::Tensor;
///
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0, 0.7], &[2, 2]);
/// let w = Tensor::from_vec(vec![1.0, -0.5, 0.25, 2.0], &[2, 2]);
/// let ok = gradcheck(|_, v| v[0].matmul(v[1]).tanh(), &[x, w], &GradcheckOptions::default());
/// assert!(ok.is_ok());
/// ```
///
/// # Errors
/// [`GradcheckError::Mismatch`] naming the input, element, analytic and
/// numeric values on the first disagreement; [`GradcheckError::InvalidOptions`]
/// for options that would make the check meaningless (see
/// [`GradcheckOptions::validate`]) or no inputs.
pub fn gradcheck<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    opts.validate()?;
    check_has_inputs(inputs)?;
    let weights = output_weights(&f, inputs, opts.seed);
    let (value, analytic) = eval(&f, inputs, &weights, true);
    if !value.is_finite() {
        return Err(GradcheckError::NotFinite {
            what: format!("the output ({value})"),
        });
    }
    let (_, again) = eval(&f, inputs, &weights, true);
    for (i, (a, b)) in analytic.iter().zip(&again).enumerate() {
        if let Some(element) = a
            .to_vec()
            .iter()
            .zip(b.to_vec())
            .position(|(x, y)| x.to_bits() != y.to_bits())
        {
            return Err(GradcheckError::NonDeterministic { input: i, element });
        }
    }
    let mut report = GradcheckReport {
        inputs: inputs.len(),
        comparisons: 0,
        max_abs_error: 0.0,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    for (i, x) in inputs.iter().enumerate() {
        let loss_at = |moved: Tensor<f64>| {
            let mut shifted = inputs.to_vec();
            shifted[i] = moved;
            eval(&f, &shifted, &weights, false).0
        };
        let checks: Box<dyn Iterator<Item = Check>> = if x.numel() <= opts.max_full {
            Box::new(element_checks(x, &analytic[i], opts, &loss_at))
        } else {
            Box::new(direction_checks(x, &analytic[i], opts, &loss_at, &mut rng).into_iter())
        };
        for c in checks {
            report.comparisons += 1;
            let error = (c.analytic - c.numeric).abs();
            let tolerance = opts.atol + opts.rtol * c.numeric.abs();
            report.max_abs_error = report.max_abs_error.max(error);
            // A NaN error must fail too, so test for "not within" explicitly.
            if error.is_nan() || error > tolerance {
                return Err(GradcheckError::Mismatch {
                    input: i,
                    index: c.index,
                    analytic: c.analytic,
                    numeric: c.numeric,
                    error,
                    tolerance,
                });
            }
        }
    }
    Ok(report)
}

/// A check over no inputs compares nothing, and would pass anything.
fn check_has_inputs(inputs: &[Tensor<f64>]) -> Result<(), GradcheckError> {
    if inputs.is_empty() {
        return Err(GradcheckError::InvalidOptions {
            what: "no inputs to check".into(),
        });
    }
    Ok(())
}

/// One analytic-vs-numeric comparison.
struct Check {
    index: Option<Vec<usize>>,
    analytic: f64,
    numeric: f64,
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

/// Central differences element by element, lazily (stops at the first failure).
fn element_checks<'a>(
    x: &'a Tensor<f64>,
    grad: &'a Tensor<f64>,
    opts: &'a GradcheckOptions,
    loss_at: &'a dyn Fn(Tensor<f64>) -> f64,
) -> impl Iterator<Item = Check> + 'a {
    let base = x.to_vec();
    let g = grad.to_vec();
    (0..base.len()).map(move |j| {
        let h = opts.eps * base[j].abs().max(1.0);
        let at = |delta: f64| {
            let mut v = base.clone();
            v[j] += delta;
            loss_at(Tensor::from_vec(v, x.shape()))
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        Check {
            index: Some(unravel(j, x.shape())),
            analytic: g[j],
            numeric,
        }
    })
}

/// Directional derivatives along random unit-variance directions.
fn direction_checks(
    x: &Tensor<f64>,
    grad: &Tensor<f64>,
    opts: &GradcheckOptions,
    loss_at: &dyn Fn(Tensor<f64>) -> f64,
    rng: &mut impl Rng,
) -> Vec<Check> {
    let scale = x.to_vec().iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let h = opts.eps * scale;
    (0..opts.projections)
        .map(|_| {
            let u = Tensor::<f64>::rand_normal(x.shape(), 0.0, 1.0, rng);
            let analytic = grad.mul(&u).sum_all().item();
            let plus = loss_at(x.add(&u.mul_scalar(h)));
            let minus = loss_at(x.sub(&u.mul_scalar(h)));
            Check {
                index: None,
                analytic,
                numeric: (plus - minus) / (2.0 * h),
            }
        })
        .collect()
}

/// Checks second derivatives: runs [`gradcheck`] on
/// `M(x) = Σᵢ ⟨wᵢ, ∂L/∂xᵢ⟩` with `L = Σ r ⊙ f(x)` and fixed random `r`, `wᵢ`,
/// where the inner gradients come from [`Tape::grad`] (so `M`'s own gradient
/// is a true second-order backward pass).
///
/// ```
/// use tapegrad_autodiff::{gradgradcheck, GradcheckOptions};
/// use tapegrad_tensor::Tensor;
///
/// let x = Tensor::from_vec(vec![0.3, -1.2, 0.9], &[3]);
/// assert!(gradgradcheck(|_, v| v[0].tanh() * v[0], &[x], &GradcheckOptions::default()).is_ok());
/// ```
///
/// # Errors
/// As [`gradcheck`], for the second derivatives.
pub fn gradgradcheck<F>(
    f: F,
    inputs: &[Tensor<f64>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    opts.validate()?;
    check_has_inputs(inputs)?;
    let r = output_weights(&f, inputs, opts.seed).expect("weights");
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0x9e37_79b9);
    let ws: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|x| Tensor::rand_normal(x.shape(), 0.0, 1.0, &mut rng))
        .collect();
    let m = check_fn(move |tape, xs| {
        let loss = (f(tape, xs) * tape.constant(r.clone())).sum_all();
        let grads = tape.grad(loss, xs);
        let terms: Vec<Var<'_, f64>> = grads
            .iter()
            .zip(&ws)
            .map(|(g, w)| (*g * tape.constant(w.clone())).sum_all())
            .collect();
        terms
            .into_iter()
            .reduce(|a, b| a + b)
            .expect("at least one input")
    });
    gradcheck(m, inputs, opts)
}
