//! Elementwise unary ops (numerically stable forms where they exist).

use crate::float::Float;
use crate::tensor::Tensor;

/// `sqrt(2 / pi)`, used by the tanh approximation of GELU.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// Logistic sigmoid `1 / (1 + e^-x)`, evaluated without overflow for large |x|.
#[inline]
pub fn stable_sigmoid<E: Float>(x: E) -> E {
    if x >= E::ZERO {
        E::ONE / (E::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (E::ONE + e)
    }
}

/// `ln(1 + e^x)` without overflow: `max(x, 0) + ln(1 + e^-|x|)`.
#[inline]
pub fn stable_softplus<E: Float>(x: E) -> E {
    x.max(E::ZERO) + (-x.abs()).exp().ln_1p()
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident => |$x:ident| $body:expr;)*) => {
        impl<E: Float> Tensor<E> {
            $(
                $(#[$doc])*
                #[track_caller]
                pub fn $name(&self) -> Tensor<E> {
                    self.map_op(stringify!($name), |$x: E| $body)
                }
            )*
        }
    };
}

unary_ops! {
    /// `-x`.
    neg => |x| -x;
    /// `e^x`.
    exp => |x| x.exp();
    /// Natural logarithm `ln x` (`-inf` at 0, NaN below).
    ln => |x| x.ln();
    /// `ln(1 + x)`, accurate for small |x| (where `(1 + x).ln()` loses digits).
    log1p => |x| x.ln_1p();
    /// `e^x - 1`, accurate for small |x| (where `x.exp() - 1` loses digits).
    expm1 => |x| x.exp_m1();
    /// `sqrt(x)`.
    sqrt => |x| x.sqrt();
    /// `|x|`.
    abs => |x| x.abs();
    /// `sin x`.
    sin => |x| x.sin();
    /// `cos x`.
    cos => |x| x.cos();
    /// `tanh x`. In `f32` a vectorised polynomial/`exp` form (within 1.3 ulp
    /// of exact, faster than the C library's `tanhf`); in `f64` the C library's.
    tanh => |x| x.tanh();
    /// `1 / x`.
    recip => |x| E::ONE / x;
    /// `x²`.
    square => |x| x * x;
    /// Logistic sigmoid `σ(x) = 1 / (1 + e^-x)`, stable for large |x|.
    sigmoid => |x| x.sigmoid();
    /// Softplus `ln(1 + e^x)`, stable for large |x|.
    softplus => |x| stable_softplus(x);
    /// `ln σ(x) = -softplus(-x)`, stable for large |x| (no `ln 0`).
    log_sigmoid => |x| -stable_softplus(-x);
    /// `max(x, 0)`; NaN stays NaN (as in PyTorch), so a NaN before a relu
    /// still shows in the loss.
    relu => |x| if x > E::ZERO || x.is_nan() { x } else { E::ZERO };
    /// Sign: -1, 0 or 1 (NaN for NaN, as in PyTorch).
    signum => |x| if x > E::ZERO { E::ONE } else if x < E::ZERO { -E::ONE } else if x.is_nan() { x } else { E::ZERO };
    /// Exact GELU `x Φ(x) = x/2 (1 + erf(x / √2))`.
    gelu => |x| {
        let half = E::from_f64(0.5);
        half * x * (E::ONE + (x * E::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
    };
    /// GELU with the tanh approximation `x/2 (1 + tanh(√(2/π)(x + 0.044715 x³)))`.
    gelu_tanh => |x| {
        let inner = E::from_f64(SQRT_2_OVER_PI) * (x + E::from_f64(0.044715) * x * x * x);
        E::from_f64(0.5) * x * (E::ONE + inner.tanh())
    };
    /// 1 where `x > 0`, else 0 (the derivative mask of relu).
    step => |x| if x > E::ZERO { E::ONE } else { E::ZERO };
}

impl<E: Float> Tensor<E> {
    /// `x^p` for a real exponent.
    pub fn powf(&self, p: f64) -> Tensor<E> {
        let p = E::from_f64(p);
        self.map_op("powf", |x| x.powf(p))
    }

    /// `x^n` for an integer exponent.
    pub fn powi(&self, n: i32) -> Tensor<E> {
        self.map_op("powi", |x| x.powi(n))
    }

    /// Leaky ReLU: `x` if `x > 0`, else `slope * x`.
    pub fn leaky_relu(&self, slope: f64) -> Tensor<E> {
        let s = E::from_f64(slope);
        self.map_op("leaky_relu", |x| if x > E::ZERO { x } else { s * x })
    }

    /// Clamps every element into `[min, max]` (NaN stays NaN). Either bound
    /// may be infinite, for a one-sided clamp.
    ///
    /// # Panics
    /// If a bound is NaN or `min > max`.
    #[track_caller]
    pub fn clamp(&self, min: f64, max: f64) -> Tensor<E> {
        if min.is_nan() || max.is_nan() {
            panic!("clamp: bounds [{min}, {max}] must not be NaN");
        }
        if min > max {
            panic!("clamp: min {min} is greater than max {max}");
        }
        let (lo, hi) = (E::from_f64(min), E::from_f64(max));
        self.map_op("clamp", |x| {
            if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            }
        })
    }

    /// `x + c` for a scalar `c`.
    pub fn add_scalar(&self, c: f64) -> Tensor<E> {
        let c = E::from_f64(c);
        self.map_op("add_scalar", |x| x + c)
    }

    /// `x * c` for a scalar `c`.
    pub fn mul_scalar(&self, c: f64) -> Tensor<E> {
        let c = E::from_f64(c);
        self.map_op("mul_scalar", |x| x * c)
    }

    /// True if no element is NaN or ±Inf.
    pub fn all_finite(&self) -> bool {
        self.to_vec().iter().all(|x| x.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        let x = Tensor::<f32>::from_vec(vec![-1e4, -50.0, 0.0, 50.0, 1e4], &[5]);
        let y = x.sigmoid().to_vec();
        assert_eq!(y[0], 0.0);
        assert!(y[1] > 0.0 && y[1] < 1e-21);
        assert_eq!(y[2], 0.5);
        assert_eq!(y[3], 1.0);
        assert_eq!(y[4], 1.0);
        assert!(y.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn log1p_expm1_and_log_sigmoid_keep_their_digits() {
        // Near 0, ln(1 + x) = x - x²/2 and e^x - 1 = x + x²/2 to f64
        // precision; (1 + x).ln() would keep only ~6 digits of x = 1e-10.
        let x = Tensor::<f64>::from_vec(vec![1e-10, -1e-10], &[2]);
        for (got, want) in x
            .log1p()
            .to_vec()
            .iter()
            .zip([1e-10 - 5e-21, -1e-10 - 5e-21])
        {
            assert!(
                (got - want).abs() <= 1e-16 * want.abs(),
                "log1p {got} vs {want}"
            );
        }
        for (got, want) in x
            .expm1()
            .to_vec()
            .iter()
            .zip([1e-10 + 5e-21, -1e-10 + 5e-21])
        {
            assert!(
                (got - want).abs() <= 1e-16 * want.abs(),
                "expm1 {got} vs {want}"
            );
        }
        // ln σ(x) = -softplus(-x): at -1000 it is -1000 (not ln 0 = -inf),
        // at 1000 it is -e^-1000 = -0 in f64, and ln(1/2) at 0.
        let y = Tensor::<f64>::from_vec(vec![-1000.0, 0.0, 1000.0], &[3])
            .log_sigmoid()
            .to_vec();
        assert_eq!(y[0], -1000.0);
        assert!((y[1] + std::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(y[2], 0.0);
    }

    #[test]
    fn softplus_is_stable_at_extremes() {
        let x = Tensor::<f64>::from_vec(vec![-1e4, 0.0, 1e4], &[3]);
        let y = x.softplus().to_vec();
        assert_eq!(y[0], 0.0);
        assert!((y[1] - std::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(y[2], 1e4);
    }

    #[test]
    fn gelu_matches_reference_values() {
        // Python: [0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in [-2, -0.5, 0, 1, 3]]
        let x = Tensor::<f64>::from_vec(vec![-2.0, -0.5, 0.0, 1.0, 3.0], &[5]);
        let want = [
            -0.045_500_263_896_358_42,
            -0.154_268_769_362_993_44,
            0.0,
            0.841_344_746_068_542_9,
            2.995_950_305_905_11,
        ];
        for (g, w) in x.gelu().to_vec().iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
    }

    #[test]
    fn gelu_tanh_matches_reference_values() {
        // Python: [0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        //          for x in [-2, -0.5, 0, 1, 3]]
        let x = Tensor::<f64>::from_vec(vec![-2.0, -0.5, 0.0, 1.0, 3.0], &[5]);
        let want = [
            -0.045_402_305_912_224_94,
            -0.154_285_990_174_856_06,
            0.0,
            0.841_191_990_608_276_8,
            2.996_362_607_918_227,
        ];
        for (g, w) in x.gelu_tanh().to_vec().iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
    }
}
