//! The `Float` trait: the element types a [`Tensor`](crate::Tensor) can hold (`f32`, `f64`).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The crate-private half of [`Float`]: it seals the trait (no type outside
/// this crate can implement `Float`, so the kernels may rely on what `f32`
/// and `f64` are, e.g. that all-zero bits are `0.0`) and carries the gemm
/// kernel, which only this crate calls.
pub(crate) mod private {
    /// Implemented for `f32` and `f64` only.
    pub trait Sealed {
        /// `C = alpha * A B + beta * C` on raw strided buffers
        /// (`matrixmultiply`, or OpenBLAS under the `blas` feature).
        ///
        /// # Safety
        /// The pointers with their strides must address valid `m x k`, `k x n`
        /// and `m x n` matrices, and `c` must not alias `a` or `b`.
        #[allow(clippy::too_many_arguments)]
        unsafe fn gemm(
            m: usize,
            k: usize,
            n: usize,
            alpha: Self,
            a: *const Self,
            rsa: isize,
            csa: isize,
            b: *const Self,
            rsb: isize,
            csb: isize,
            beta: Self,
            c: *mut Self,
            rsc: isize,
            csc: isize,
        );
    }
}

/// A floating-point element type: `f32` (training) or `f64` (gradient checking).
///
/// Besides arithmetic it carries the math functions the ops need. The trait
/// is sealed: `f32` and `f64` are its only implementations.
pub trait Float:
    private::Sealed
    + Copy
    + Send
    + Sync
    + 'static
    + Debug
    + Display
    + Default
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// The dtype name as NumPy prints it (`"float32"`, `"float64"`).
    const DTYPE: &'static str;
    /// Machine epsilon.
    const EPSILON: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts from an index or count.
    fn from_usize(n: usize) -> Self {
        Self::from_f64(n as f64)
    }
    /// `e^x`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate for small `x`.
    fn ln_1p(self) -> Self;
    /// `e^x - 1`, accurate for small `x`.
    fn exp_m1(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Logistic sigmoid `1 / (1 + e^-x)`, without overflow for large |x|.
    fn sigmoid(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// `self^p` for a real exponent.
    fn powf(self, p: Self) -> Self;
    /// `self^n` for an integer exponent.
    fn powi(self, n: i32) -> Self;
    /// The error function (for the exact GELU).
    fn erf(self) -> Self {
        Self::from_f64(erf_f64(self.to_f64()))
    }
    /// The larger of two values (NaN-propagating is not guaranteed).
    fn max(self, other: Self) -> Self;
    /// The smaller of two values.
    fn min(self, other: Self) -> Self;
    /// True unless NaN or ±Inf.
    fn is_finite(self) -> bool;
    /// True for NaN.
    fn is_nan(self) -> bool;
    /// `self * a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
}

/// The gemm kernels: `matrixmultiply`'s, or with the `blas` feature the
/// system OpenBLAS where it takes the layout (`crate::blas`, same signatures).
#[cfg(feature = "blas")]
use crate::blas as kernel;
#[cfg(not(feature = "blas"))]
use matrixmultiply as kernel;

macro_rules! impl_float {
    ($t:ident, $name:literal, $gemm:ident, $tanh:path, $sigmoid:path) => {
        impl Float for $t {
            const DTYPE: &'static str = $name;
            const EPSILON: Self = $t::EPSILON;
            const INFINITY: Self = $t::INFINITY;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                $t::exp_m1(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sigmoid(self) -> Self {
                $sigmoid(self)
            }
            #[inline]
            fn sin(self) -> Self {
                $t::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                $t::cos(self)
            }
            #[inline]
            fn powf(self, p: Self) -> Self {
                $t::powf(self, p)
            }
            #[inline]
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
        }

        impl private::Sealed for $t {
            #[inline]
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded; the caller upholds the contract above,
                // which is also the contract of both kernels.
                unsafe {
                    kernel::$gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
                }
            }
        }
    };
}

impl_float!(
    f32,
    "float32",
    sgemm,
    crate::fast_math::tanh_f32,
    crate::fast_math::sigmoid_f32
);
impl_float!(
    f64,
    "float64",
    dgemm,
    f64::tanh,
    crate::unary::stable_sigmoid::<f64>
);

/// The error function to about 1e-15 relative: its Maclaurin series
/// `erf x = 2/√π Σ (-1)ⁿ x^(2n+1) / (n! (2n+1))` for |x| < 2.5, and the
/// continued fraction of `erfc` (evaluated by Lentz's method) beyond.
fn erf_f64(x: f64) -> f64 {
    // Abramowitz & Stegun 7.1.26 is only 1e-7; the series / continued
    // fraction split is accurate to ~1e-15.
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let mut sum = 0.0;
        let mut term = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x2 / n;
            if n > 200.0 {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // Continued fraction for erfc (Lentz), converges fast for x >= 2.5.
        let x2 = ax * ax;
        let mut f = ax;
        let mut c = ax;
        let mut d = 0.0;
        for i in 1..300 {
            let a = i as f64 * 0.5;
            d = ax + a * d;
            d = 1.0 / d;
            c = ax + a / c;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-x2).exp() / (f * std::f64::consts::PI.sqrt())
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Values from Python's math.erf.
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (-1.5, -0.966_105_146_475_310_7),
        ];
        for (x, want) in cases {
            let got = erf_f64(x);
            assert!((got - want).abs() < 1e-13, "erf({x}) = {got}, want {want}");
        }
    }
}
