//! `f32` functions written to inline and vectorise, where the C library's
//! scalar call is the cost of a whole op.
//!
//! glibc's `tanhf` (through `expm1f`) takes ~9 ns an element; it was a fifth
//! of the run time of `examples/rnn_memory.rs`. [`tanh_f32`] is branch-free
//! arithmetic (Cephes' `tanhf` with an inlined `expf`), so `Tensor::tanh`
//! runs as SIMD. Its error is at most 1.27 ulp over a sweep of 36 million
//! inputs (`tests/fast_math.rs` asserts 2). [`sigmoid_f32`] likewise
//! replaces two branches around `expf` (8% of `examples/init_study.rs`).
//! `f64` keeps the C library's functions, since `gradcheck` differentiates
//! in `f64`.

/// Below this |x|, tanh is its odd polynomial.
const TANH_POLY_MAX: f32 = 0.625;

/// From this |x| on, tanh rounds to ±1 in `f32` (1 - tanh(9.5) = 1.1e-8,
/// under half an ulp of 1; at 9 it is 3.0e-8, just over).
const TANH_ONE: f32 = 9.5;

/// Cephes' `expf` without its final scaling: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2` (ln 2 split in two parts so `r` is exact); returns
/// `e^r` by a degree-6 polynomial and the integer `n`. No overflow or
/// underflow handling: the callers bound `x`.
#[inline(always)]
fn exp_reduced(x: f32) -> (f32, i32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds x log2(e) to an integer n held in the low
    // mantissa bits (no `floor` or float-to-int cast, which would not
    // vectorise on baseline x86-64).
    const ROUND: f32 = 12_582_912.0;
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let p = (((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5)
        * r2
        + r
        + 1.0;
    (p, t.to_bits().wrapping_sub(ROUND.to_bits()) as i32)
}

/// `2^k` for a normal exponent `k` in `[-126, 127]`: `k + 127` in the
/// exponent bits.
#[inline(always)]
fn pow2(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

/// `e^x` for `x` in `[1.25, 19]` (what [`tanh_f32`] needs): `n` is in
/// `[2, 28]`, so `2^n` is one normal factor.
#[inline(always)]
fn exp_mid(x: f32) -> f32 {
    let (p, n) = exp_reduced(x);
    p * pow2(n)
}

/// Hyperbolic tangent of an `f32`, vectorisable.
///
/// `|x| < 0.625`: `x + x³ P(x²)` (Cephes' minimax polynomial); otherwise
/// `1 - 2 / (e^{2 min(|x|, 9.5)} + 1)` with the sign of `x` (±1 from 9.5 on). Odd
/// (`tanh(-x) = -tanh(x)`, `-0.0` stays `-0.0`), `|tanh x| <= 1`, NaN in
/// gives NaN out.
///
/// ```
/// let t = tapegrad_tensor::Tensor::<f32>::from_vec(vec![-20.0, -0.5, 0.0, 0.5, 1.0], &[5]).tanh();
/// let want = [-1.0f32, -0.46211716, 0.0, 0.46211716, 0.7615942];
/// for (g, w) in t.to_vec().iter().zip(want) {
///     assert!((g - w).abs() <= 2.0 * f32::EPSILON * w.abs());
/// }
/// ```
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    // Small |x|: odd polynomial.
    let z = x * x;
    let small = ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 0.133_314_42)
        * z
        - 0.333_332_8)
        * z
        * x
        + x;
    // The polynomial has the sign of x; copysign keeps tanh(-0) = -0.
    let small = small.copysign(x);
    // Otherwise from e^{2|x|}, with |x| clamped to at most 9.5, where the
    // formula gives exactly ±1 in f32 (and at least 0.625, the domain of
    // `exp_mid`, for the lanes that take `small`). NaN passes the clamp and
    // comes out NaN.
    let m = a.clamp(TANH_POLY_MAX, TANH_ONE);
    let mid = (1.0 - 2.0 / (exp_mid(2.0 * m) + 1.0)).copysign(x);
    if a < TANH_POLY_MAX {
        small
    } else {
        mid
    }
}

/// From this |x| on, `e^-|x|` is well below half the smallest subnormal
/// `f32` (`e^-103.28` is `2^-149`): the logistic of `-|x|` is 0.
const EXP_NEG_ZERO: f32 = 105.0;

/// `e^y` for `y` in `[-105, 0]`, subnormal results included: as
/// [`exp_mid`], with `2^n` (`n` in `[-152, 0]`) applied as two normal
/// factors of at least `2^-76`, so a subnormal result is rounded once.
#[inline(always)]
fn exp_neg(y: f32) -> f32 {
    let (p, n) = exp_reduced(y);
    let half = n >> 1;
    p * pow2(half) * pow2(n - half)
}

/// The logistic sigmoid `1 / (1 + e^-x)` of an `f32`, vectorisable.
///
/// With `e = e^-|x|`: `1 / (1 + e)` for `x >= 0`, `e / (1 + e)` below, so
/// neither overflows and small outputs keep their relative precision down
/// to the subnormals; `σ(±∞) = 1, 0`, NaN gives NaN. Its error is at most
/// 2.3 ulp over a sweep of 22 million inputs (`tests/fast_math.rs` asserts
/// 2.5): `e`'s own error passes through `e / (1 + e)` whole.
///
/// ```
/// let s = tapegrad_tensor::Tensor::<f32>::from_vec(vec![-90.0, -1.0, 0.0, 2.0, 30.0], &[5]).sigmoid();
/// let want = [8.194_013e-40f32, 0.268_941_43, 0.5, 0.880_797_1, 1.0];
/// for (g, w) in s.to_vec().iter().zip(want) {
///     assert!((g - w).abs() <= 2.0 * f32::EPSILON * w.abs() + f32::from_bits(2));
/// }
/// ```
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    // A select rather than `min`, which would turn NaN into the bound: NaN
    // passes through and comes out NaN.
    let a = x.abs();
    let e = exp_neg(-(if a > EXP_NEG_ZERO { EXP_NEG_ZERO } else { a }));
    let num = if x >= 0.0 { 1.0 } else { e };
    num / (1.0 + e)
}
