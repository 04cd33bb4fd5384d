//! Weight initialisers, with the formulas and fan conventions of PyTorch's
//! `torch.nn.init`.
//!
//! Why the scale matters: a layer `y = W x` with `n` inputs of variance
//! `Var[x]` and independent zero-mean weights has
//! `Var[y] = n · Var[w] · Var[x]`. Unless `n · Var[w]` is (about) 1, the
//! activations shrink or grow geometrically with depth in the forward pass,
//! and so do the gradients in the backward pass, where the same argument
//! runs with the number of outputs. The schemes here pick `Var[w]` from the
//! fans to keep one or both products at 1:
//!
//! | scheme | `Var[w]` | keeps constant | paper |
//! |---|---|---|---|
//! | LeCun | `1 / fan_in` | forward variance (linear / tanh-like units) | LeCun et al. 1998 |
//! | Xavier / Glorot | `gain² · 2 / (fan_in + fan_out)` | a compromise of forward and backward | Glorot & Bengio 2010 |
//! | Kaiming / He | `gain² / fan` (`fan_in` or `fan_out`) | forward (`fan_in`) or backward (`fan_out`) variance, ReLU-corrected by `gain² = 2` | He et al. 2015 |
//! | orthogonal | rows (or columns) orthonormal, times `gain` | every singular value is `gain`: norms preserved exactly | Saxe et al. 2014 |
//! | LSUV ([`lsuv`]) | any scheme, then each layer rescaled to unit output variance on a batch | forward variance, measured on data rather than derived | Mishkin & Matas 2016 |
//!
//! Fans follow PyTorch: a weight of shape `[out, in, k₁, k₂, ..]` (Linear
//! `[out, in]`, Conv `[out, in, kh, kw]`) has receptive field `r = k₁ k₂ ..`,
//! `fan_in = in · r` and `fan_out = out · r` ([`calculate_fan_in_and_fan_out`]).
//!
//! Every function takes the shape and a caller's RNG, so a seeded RNG gives
//! the same weights; [`Init`] names a scheme as a value.
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_nn::init::{self, FanMode, Init, Nonlinearity};
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! // He initialisation for a ReLU layer with 256 inputs and 128 outputs.
//! let w = init::kaiming_normal::<f32>(&[128, 256], FanMode::FanIn, Nonlinearity::ReLU, &mut rng);
//! assert_eq!(w.shape(), &[128, 256]);
//! assert_eq!(init::calculate_gain(Nonlinearity::ReLU), 2f64.sqrt());
//!
//! // The same scheme picked by value, e.g. from a study's configuration.
//! let scheme = Init::KaimingNormal { mode: FanMode::FanIn, nonlinearity: Nonlinearity::ReLU };
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! assert_eq!(scheme.tensor::<f32>(&[128, 256], &mut rng).to_vec(), w.to_vec());
//! ```

use rand::Rng;
use std::fmt;
use tapegrad_tensor::{Float, Tensor};

mod lsuv;
pub use lsuv::{lsuv, LsuvStep};

/// The nonlinearity that follows a layer, for [`calculate_gain`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// No nonlinearity (a linear layer feeding the next one). Gain 1.
    Linear,
    /// The identity. Gain 1.
    Identity,
    /// A convolution (any dimension, transposed or not). Gain 1.
    Conv,
    /// Logistic sigmoid. Gain 1.
    Sigmoid,
    /// `tanh`. Gain 5/3.
    Tanh,
    /// ReLU. Gain √2: it zeroes half of a symmetric input, halving the
    /// second moment, so the weights' variance is doubled to compensate.
    ReLU,
    /// Leaky ReLU with this negative slope. Gain `√(2 / (1 + slope²))`.
    LeakyReLU(f64),
    /// SELU. Gain 3/4, PyTorch's value, which trades the self-normalising
    /// fixed point for steadier gradients; for a self-normalising network
    /// use `Linear` (LeCun scaling, `Var[w] = 1 / fan_in`) instead.
    SELU,
}

impl fmt::Display for Nonlinearity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Nonlinearity::LeakyReLU(s) => write!(f, "LeakyReLU({s})"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Which fan a Kaiming initialiser scales by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// `fan_in`: keeps the variance of the activations constant in the
    /// forward pass (PyTorch's default).
    FanIn,
    /// `fan_out`: keeps the variance of the gradients constant in the
    /// backward pass.
    FanOut,
}

/// The recommended gain for weights followed by `nonlinearity`, as
/// `torch.nn.init.calculate_gain`:
///
/// | nonlinearity | gain |
/// |---|---|
/// | Linear, Identity, Conv, Sigmoid | 1 |
/// | Tanh | 5/3 |
/// | ReLU | √2 |
/// | LeakyReLU(s) | √(2 / (1 + s²)) |
/// | SELU | 3/4 |
///
/// ```
/// use tapegrad_nn::init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
/// assert_eq!(calculate_gain(Nonlinearity::LeakyReLU(1.0)), 1.0);
/// ```
pub fn calculate_gain(nonlinearity: Nonlinearity) -> f64 {
    match nonlinearity {
        Nonlinearity::Linear
        | Nonlinearity::Identity
        | Nonlinearity::Conv
        | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::ReLU => 2f64.sqrt(),
        Nonlinearity::LeakyReLU(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        Nonlinearity::SELU => 0.75,
    }
}

/// `(fan_in, fan_out)` of a weight of shape `[out, in, k₁, k₂, ..]`:
/// `fan_in = in · k₁ k₂ ..`, `fan_out = out · k₁ k₂ ..` (PyTorch's
/// `_calculate_fan_in_and_fan_out`).
///
/// ```
/// use tapegrad_nn::init::calculate_fan_in_and_fan_out;
/// assert_eq!(calculate_fan_in_and_fan_out(&[128, 64]), (64, 128)); // Linear(64 -> 128)
/// assert_eq!(calculate_fan_in_and_fan_out(&[16, 3, 5, 5]), (75, 400)); // Conv2d(3 -> 16, 5x5)
/// ```
///
/// # Panics
/// If the shape has fewer than 2 dimensions (fans are not defined), or a
/// fan overflows `usize`.
#[track_caller]
pub fn calculate_fan_in_and_fan_out(shape: &[usize]) -> (usize, usize) {
    fans(shape, "init")
}

/// [`calculate_fan_in_and_fan_out`], panicking in the name of `op`.
#[track_caller]
fn fans(shape: &[usize], op: &str) -> (usize, usize) {
    if shape.len() < 2 {
        panic!(
            "{op}: fan in and fan out need a weight of at least 2 dimensions, got shape {shape:?}"
        );
    }
    let receptive_field = shape[2..].iter().try_fold(1usize, |a, &k| a.checked_mul(k));
    let fan = |n: usize| receptive_field.and_then(|r| r.checked_mul(n));
    match (fan(shape[1]), fan(shape[0])) {
        (Some(fan_in), Some(fan_out)) => (fan_in, fan_out),
        _ => panic!("{op}: shape {shape:?} overflows: its fans do not fit in usize"),
    }
}

/// The fan `mode` picks.
#[track_caller]
fn fan(shape: &[usize], mode: FanMode, op: &str) -> usize {
    let (fan_in, fan_out) = fans(shape, op);
    match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    }
}

/// True if a tensor of `shape` has no elements (a dimension is 0): fan-based
/// schemes then have a zero fan and nothing to draw, and return it empty.
fn no_elements(shape: &[usize]) -> bool {
    shape.contains(&0)
}

/// Panics unless `gain` is finite and `>= 0`, naming `op`.
#[track_caller]
fn check_gain(op: &str, gain: f64) {
    if !gain.is_finite() || gain < 0.0 {
        panic!("{op}: gain must be finite and >= 0, got {gain}");
    }
}

/// A tensor of zeros.
pub fn zeros<E: Float>(shape: &[usize]) -> Tensor<E> {
    Tensor::zeros(shape)
}

/// A tensor of ones.
pub fn ones<E: Float>(shape: &[usize]) -> Tensor<E> {
    Tensor::ones(shape)
}

/// A tensor filled with `value`.
pub fn constant<E: Float>(shape: &[usize], value: f64) -> Tensor<E> {
    Tensor::full(shape, E::from_f64(value))
}

/// Samples from the uniform distribution `U(low, high)`: mean `(low + high) / 2`,
/// variance `(high - low)² / 12`. `low == high` gives a constant.
///
/// # Panics
/// If `low > high` or either is not finite.
#[track_caller]
pub fn uniform<E: Float>(shape: &[usize], low: f64, high: f64, rng: &mut impl Rng) -> Tensor<E> {
    // Written so that NaN fails too.
    if !(low.is_finite() && high.is_finite() && low <= high) {
        panic!("init::uniform: bounds must be finite with low <= high, got [{low}, {high}]");
    }
    if low == high {
        return constant(shape, low);
    }
    if shape.iter().product::<usize>() == 0 {
        return Tensor::zeros(shape);
    }
    Tensor::rand_uniform(shape, low, high, rng)
}

/// Samples from the normal distribution `N(mean, std²)`.
///
/// # Panics
/// If `mean` is not finite, or `std` is negative or not finite.
#[track_caller]
pub fn normal<E: Float>(shape: &[usize], mean: f64, std: f64, rng: &mut impl Rng) -> Tensor<E> {
    if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
        panic!(
            "init::normal: needs a finite mean and a finite std >= 0, got mean {mean}, std {std}"
        );
    }
    Tensor::rand_normal(shape, mean, std, rng)
}

/// `U(-b, b)` with `b = √3 · std`, the uniform distribution of standard
/// deviation `std` (variance `b² / 3 = std²`).
#[track_caller]
fn uniform_with_std<E: Float>(shape: &[usize], std: f64, rng: &mut impl Rng) -> Tensor<E> {
    let bound = 3f64.sqrt() * std;
    uniform(shape, -bound, bound, rng)
}

/// Xavier (Glorot) uniform: `U(-b, b)` with
/// `b = gain · √(6 / (fan_in + fan_out))`, so `Var[w] = gain² · 2 / (fan_in + fan_out)`.
///
/// Glorot & Bengio (2010), "Understanding the difficulty of training deep
/// feedforward neural networks": keeping activations' variance needs
/// `fan_in · Var[w] = 1`, keeping back-propagated gradients' variance needs
/// `fan_out · Var[w] = 1`; the harmonic compromise satisfies both when the
/// layer is square. Derived for linear (and tanh near 0) units; `gain`
/// corrects for other nonlinearities ([`calculate_gain`]).
///
/// A weight with no elements (a zero dimension, so a zero fan) comes back
/// as zeros of its shape: there is nothing to draw.
///
/// # Panics
/// If the shape has fewer than 2 dimensions, or `gain` is negative,
/// infinite or NaN.
#[track_caller]
pub fn xavier_uniform<E: Float>(shape: &[usize], gain: f64, rng: &mut impl Rng) -> Tensor<E> {
    let std = xavier_std(shape, gain, "xavier_uniform");
    if no_elements(shape) {
        return Tensor::zeros(shape);
    }
    uniform_with_std(shape, std, rng)
}

/// Xavier (Glorot) normal: `N(0, std²)` with
/// `std = gain · √(2 / (fan_in + fan_out))`; the variance of
/// [`xavier_uniform`] (Glorot & Bengio 2010).
///
/// A weight with no elements comes back as zeros of its shape.
///
/// # Panics
/// As [`xavier_uniform`].
#[track_caller]
pub fn xavier_normal<E: Float>(shape: &[usize], gain: f64, rng: &mut impl Rng) -> Tensor<E> {
    let std = xavier_std(shape, gain, "xavier_normal");
    if no_elements(shape) {
        return Tensor::zeros(shape);
    }
    normal(shape, 0.0, std, rng)
}

/// `gain · √(2 / (fan_in + fan_out))` (0 for a weight with no elements),
/// after checking the shape and the gain in the name of `op`.
#[track_caller]
fn xavier_std(shape: &[usize], gain: f64, op: &str) -> f64 {
    let (fan_in, fan_out) = fans(shape, op);
    check_gain(op, gain);
    if no_elements(shape) {
        return 0.0;
    }
    // Both fans are at least 1 here; their sum is taken in f64 (no overflow).
    gain * (2.0 / (fan_in as f64 + fan_out as f64)).sqrt()
}

/// `gain(nonlinearity) / √fan` (0 for a weight with no elements), after
/// checking the shape and the gain in the name of `op`.
#[track_caller]
fn kaiming_std(shape: &[usize], mode: FanMode, nonlinearity: Nonlinearity, op: &str) -> f64 {
    let fan = fan(shape, mode, op);
    let gain = calculate_gain(nonlinearity);
    if !gain.is_finite() {
        panic!("{op}: gain {gain} of {nonlinearity} is not finite");
    }
    if no_elements(shape) {
        return 0.0;
    }
    gain / (fan as f64).sqrt()
}

/// Kaiming (He) uniform: `U(-b, b)` with `b = gain · √(3 / fan)`, so
/// `Var[w] = gain² / fan`, with `fan` chosen by `mode` and `gain` by
/// `nonlinearity` ([`calculate_gain`]).
///
/// He et al. (2015), "Delving deep into rectifiers": a ReLU passes half of
/// a symmetric input's second moment, so `Var[y_l] = fan_in · Var[w] · Var[y_{l-1}] / 2`;
/// `Var[w] = 2 / fan_in` keeps the activations' variance constant through
/// depth ([`FanMode::FanIn`]), `2 / fan_out` the gradients'
/// ([`FanMode::FanOut`]).
///
/// PyTorch's `kaiming_uniform_(w, a, mode, nonlinearity="leaky_relu")` is
/// `Nonlinearity::LeakyReLU(a)` here; `nn.Linear`'s default `a = √5` gives
/// `b = 1 / √fan_in` (see [`Linear`](crate::layers::Linear)).
///
/// A weight with no elements (so a zero fan) comes back as zeros of its
/// shape: there is nothing to draw.
///
/// # Panics
/// If the shape has fewer than 2 dimensions, or the gain is not finite
/// (a NaN leaky-ReLU slope).
#[track_caller]
pub fn kaiming_uniform<E: Float>(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut impl Rng,
) -> Tensor<E> {
    let std = kaiming_std(shape, mode, nonlinearity, "kaiming_uniform");
    if no_elements(shape) {
        return Tensor::zeros(shape);
    }
    uniform_with_std(shape, std, rng)
}

/// Kaiming (He) normal: `N(0, std²)` with `std = gain / √fan`
/// (He et al. 2015; see [`kaiming_uniform`] for the derivation).
///
/// A weight with no elements comes back as zeros of its shape.
///
/// # Panics
/// As [`kaiming_uniform`].
#[track_caller]
pub fn kaiming_normal<E: Float>(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut impl Rng,
) -> Tensor<E> {
    let std = kaiming_std(shape, mode, nonlinearity, "kaiming_normal");
    if no_elements(shape) {
        return Tensor::zeros(shape);
    }
    normal(shape, 0.0, std, rng)
}

/// LeCun normal: `N(0, 1 / fan_in)`, so `fan_in · Var[w] = 1` and the
/// forward variance is kept for linear or tanh-like units (LeCun, Bottou,
/// Orr & Müller 1998, "Efficient BackProp"; also what SELU networks use).
///
/// This is the plain normal (as `kaiming_normal` with `Linear` gain), not
/// the truncated normal of JAX's `lecun_normal`.
///
/// # Panics
/// If the shape has fewer than 2 dimensions.
#[track_caller]
pub fn lecun_normal<E: Float>(shape: &[usize], rng: &mut impl Rng) -> Tensor<E> {
    kaiming_normal(shape, FanMode::FanIn, Nonlinearity::Linear, rng)
}

/// LeCun uniform: `U(-b, b)` with `b = √(3 / fan_in)`, so `Var[w] = 1 / fan_in`
/// (LeCun et al. 1998; see [`lecun_normal`]).
///
/// # Panics
/// If the shape has fewer than 2 dimensions.
#[track_caller]
pub fn lecun_uniform<E: Float>(shape: &[usize], rng: &mut impl Rng) -> Tensor<E> {
    kaiming_uniform(shape, FanMode::FanIn, Nonlinearity::Linear, rng)
}

/// A (semi-)orthogonal matrix times `gain`, as `torch.nn.init.orthogonal_`.
///
/// The weight is viewed as `rows = shape[0]` by `cols = Π shape[1..]`. A
/// standard normal `rows x cols` matrix `A` is drawn (in f64, row-major,
/// with [`Tensor::rand_normal`]); if `rows < cols` it is transposed; its
/// QR decomposition `A = Q R` gives `Q` with orthonormal columns, whose
/// signs are fixed so that `R` has a positive diagonal (which makes `Q`
/// uniformly (Haar) distributed); `Q` is transposed back when needed and
/// scaled by `gain`. So `W Wᵀ = gain² I` when `rows <= cols`, and
/// `Wᵀ W = gain² I` otherwise.
///
/// Saxe, McClelland & Ganguli (2014), "Exact solutions to the nonlinear
/// dynamics of learning in deep linear neural networks": with all singular
/// values equal, a product of such matrices preserves the norm of every
/// vector, so signals and gradients neither vanish nor explode with depth
/// (dynamical isometry), which random Gaussian matrices only do on average.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let w = tapegrad_nn::init::orthogonal::<f64>(&[3, 5], 2.0, &mut rng);
/// let wwt = w.matmul(&w.t()); // 4 I
/// assert!(wwt.allclose(&tapegrad_tensor::Tensor::eye(3).mul_scalar(4.0), 0.0, 1e-12));
/// ```
///
/// A weight with no elements comes back as zeros of its shape.
///
/// # Panics
/// If the shape has fewer than 2 dimensions or overflows, or `gain` is not
/// finite (a negative gain is allowed: it flips the signs).
#[track_caller]
pub fn orthogonal<E: Float>(shape: &[usize], gain: f64, rng: &mut impl Rng) -> Tensor<E> {
    let (cols, _) = fans(shape, "orthogonal"); // Π shape[1..]
    if !gain.is_finite() {
        panic!("orthogonal: gain must be finite, got {gain}");
    }
    let rows = shape[0];
    if no_elements(shape) {
        return Tensor::zeros(shape);
    }
    let a = Tensor::<f64>::rand_normal(&[rows, cols], 0.0, 1.0, rng);
    let tall = if rows < cols { a.t().contiguous() } else { a };
    let (m, n) = (tall.shape()[0], tall.shape()[1]);
    let q = householder_q(tall.to_vec(), m, n);
    let q = Tensor::from_vec(q, &[m, n]);
    let w = if rows < cols { q.t().contiguous() } else { q };
    w.mul_scalar(gain).cast::<E>().reshape(shape)
}

/// The `m x n` factor `Q` (row-major, `m >= n`) of the reduced QR
/// decomposition of the row-major `m x n` matrix `a`, with column signs
/// chosen so that `R` has a non-negative diagonal (Householder reflections).
fn householder_q(mut a: Vec<f64>, m: usize, n: usize) -> Vec<f64> {
    let mut reflectors: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut signs = Vec::with_capacity(n);
    for k in 0..n {
        // Reflect a[k.., k] onto alpha e₁ with alpha = -sign(a_kk) ‖a[k.., k]‖.
        let norm = (k..m).map(|i| a[i * n + k].powi(2)).sum::<f64>().sqrt();
        let alpha = if a[k * n + k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| a[i * n + k]).collect();
        v[0] -= alpha;
        let v_norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if v_norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= v_norm);
        }
        reflect(&mut a, n, k, k, &v);
        reflectors.push(v);
        // R_kk = alpha; a zero column counts as positive.
        signs.push(if alpha < 0.0 { -1.0 } else { 1.0 });
    }
    // Q = H_0 H_1 .. H_{n-1} applied to the first n columns of I.
    let mut q = vec![0.0; m * n];
    (0..n).for_each(|j| q[j * n + j] = 1.0);
    for (k, v) in reflectors.iter().enumerate().rev() {
        reflect(&mut q, n, k, 0, v);
    }
    // Sign correction: Q diag(sign R_kk), R -> diag(sign R_kk) R.
    for row in q.chunks_mut(n) {
        row.iter_mut().zip(&signs).for_each(|(x, s)| *x *= s);
    }
    q
}

/// Applies `H = I - 2 v vᵀ` (acting on rows `k..`) to columns `from..` of
/// the row-major matrix `a` with `n` columns: `a ← a - 2 v (vᵀ a)`, walking
/// rows so that memory is read in order.
fn reflect(a: &mut [f64], n: usize, k: usize, from: usize, v: &[f64]) {
    let mut dots = vec![0.0; n - from];
    for (i, vi) in v.iter().enumerate() {
        let row = &a[(k + i) * n + from..(k + i + 1) * n];
        dots.iter_mut().zip(row).for_each(|(d, x)| *d += vi * x);
    }
    for (i, vi) in v.iter().enumerate() {
        let row = &mut a[(k + i) * n + from..(k + i + 1) * n];
        row.iter_mut()
            .zip(&dots)
            .for_each(|(x, d)| *x -= 2.0 * vi * d);
    }
}

/// An initialisation scheme as a value, so models and studies can pick one
/// from configuration: [`Init::tensor`] draws a tensor of a given shape.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_nn::init::Init;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// for scheme in [Init::Zeros, Init::XavierUniform { gain: 1.0 }, Init::LecunNormal] {
///     let w = scheme.tensor::<f32>(&[4, 3], &mut rng);
///     assert_eq!(w.shape(), &[4, 3]);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros ([`zeros`]).
    Zeros,
    /// All ones ([`ones`]).
    Ones,
    /// A constant ([`constant`]).
    Constant(f64),
    /// `U(low, high)` ([`uniform`]).
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// `N(mean, std²)` ([`normal`]).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// [`xavier_uniform`].
    XavierUniform {
        /// Gain ([`calculate_gain`]).
        gain: f64,
    },
    /// [`xavier_normal`].
    XavierNormal {
        /// Gain ([`calculate_gain`]).
        gain: f64,
    },
    /// [`kaiming_uniform`].
    KaimingUniform {
        /// Which fan to scale by.
        mode: FanMode,
        /// The following nonlinearity (sets the gain).
        nonlinearity: Nonlinearity,
    },
    /// [`kaiming_normal`].
    KaimingNormal {
        /// Which fan to scale by.
        mode: FanMode,
        /// The following nonlinearity (sets the gain).
        nonlinearity: Nonlinearity,
    },
    /// [`lecun_uniform`].
    LecunUniform,
    /// [`lecun_normal`].
    LecunNormal,
    /// [`orthogonal`].
    Orthogonal {
        /// Gain: the value of every singular value.
        gain: f64,
    },
}

impl Init {
    /// PyTorch's default for `nn.Linear` and `nn.Conv*` weights:
    /// `kaiming_uniform` with `a = √5`, i.e. `U(-1/√fan_in, 1/√fan_in)`.
    pub const PYTORCH_DEFAULT: Init = Init::KaimingUniform {
        mode: FanMode::FanIn,
        nonlinearity: Nonlinearity::LeakyReLU(2.236_067_977_499_79),
    };

    /// A tensor of `shape` drawn from this scheme.
    ///
    /// # Panics
    /// As the scheme's function (fan-based schemes need 2 or more dimensions).
    #[track_caller]
    pub fn tensor<E: Float>(&self, shape: &[usize], rng: &mut impl Rng) -> Tensor<E> {
        match *self {
            Init::Zeros => zeros(shape),
            Init::Ones => ones(shape),
            Init::Constant(v) => constant(shape, v),
            Init::Uniform { low, high } => uniform(shape, low, high, rng),
            Init::Normal { mean, std } => normal(shape, mean, std, rng),
            Init::XavierUniform { gain } => xavier_uniform(shape, gain, rng),
            Init::XavierNormal { gain } => xavier_normal(shape, gain, rng),
            Init::KaimingUniform { mode, nonlinearity } => {
                kaiming_uniform(shape, mode, nonlinearity, rng)
            }
            Init::KaimingNormal { mode, nonlinearity } => {
                kaiming_normal(shape, mode, nonlinearity, rng)
            }
            Init::LecunUniform => lecun_uniform(shape, rng),
            Init::LecunNormal => lecun_normal(shape, rng),
            Init::Orthogonal { gain } => orthogonal(shape, gain, rng),
        }
    }

    /// The standard deviation of the weights this scheme draws for `shape`
    /// (for orthogonal: `gain / √max(rows, cols)`, the root mean square
    /// entry; for constants, and fan-based schemes on a weight with no
    /// elements: 0).
    ///
    /// # Panics
    /// As [`tensor`](Self::tensor).
    #[track_caller]
    pub fn std(&self, shape: &[usize]) -> f64 {
        match *self {
            Init::Zeros | Init::Ones | Init::Constant(_) => 0.0,
            Init::Uniform { low, high } => (high - low) / 12f64.sqrt(),
            Init::Normal { std, .. } => std,
            Init::XavierUniform { gain } | Init::XavierNormal { gain } => {
                xavier_std(shape, gain, "Init::std")
            }
            Init::KaimingUniform { mode, nonlinearity }
            | Init::KaimingNormal { mode, nonlinearity } => {
                kaiming_std(shape, mode, nonlinearity, "Init::std")
            }
            Init::LecunUniform | Init::LecunNormal => {
                kaiming_std(shape, FanMode::FanIn, Nonlinearity::Linear, "Init::std")
            }
            Init::Orthogonal { gain } => {
                let (cols, _) = fans(shape, "Init::std"); // Π shape[1..]
                if no_elements(shape) {
                    return 0.0;
                }
                gain / (shape[0].max(cols) as f64).sqrt()
            }
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::KaimingUniform { mode, nonlinearity } => {
                write!(f, "KaimingUniform({mode:?}, {nonlinearity})")
            }
            Init::KaimingNormal { mode, nonlinearity } => {
                write!(f, "KaimingNormal({mode:?}, {nonlinearity})")
            }
            other => write!(f, "{other:?}"),
        }
    }
}
