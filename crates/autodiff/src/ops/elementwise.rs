//! Elementwise ops: unary math, ops with a scalar, binary ops (broadcasting
//! made explicit with `broadcast_to` nodes), and the `std::ops` operators.
//!
//! Derivatives at kinks follow PyTorch (see the crate docs' table):
//! relu'(0) = 0, abs'(0) = 0, clamp passes the gradient at its bounds,
//! `maximum`/`minimum` give half to each side at a tie.

use super::{Ctx, GradOps, Grads, Op};
use crate::var::Var;
use smallvec::smallvec;
use std::panic::Location;
use tapegrad_tensor::{Float, Tensor};

/// `2 / sqrt(pi)`: the derivative of erf at 0.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

macro_rules! unary_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident, $name:literal, $method:ident, |$t:ident| $forward:expr,
        // The rule: gradient of the input from x, out and g.
        |$x:ident, $out:ident, $g:ident| $rule:expr;
    )*) => {
        $(
            #[doc = concat!("The `", $name, "` op.")]
            pub struct $op;

            impl<E: Float> Op<E> for $op {
                fn name(&self) -> &'static str {
                    $name
                }
                #[allow(unused_variables)]
                fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
                    let ($x, $out, $g) = (&c.x[0], c.out, c.g);
                    smallvec![Some($rule)]
                }
            }
        )*

        impl<'t, E: Float> Var<'t, E> {
            $(
                $(#[$doc])*
                #[track_caller]
                #[allow(clippy::should_implement_trait)] // `Neg` is implemented too; this is the named form
                pub fn $method(self) -> Var<'t, E> {
                    self.unary($op, Location::caller(), |$t| $forward)
                }
            )*
        }
    };
}

unary_ops! {
    /// `-x`. Derivative: `-1`.
    Neg, "neg", neg, |t| t.neg(),
    |x, out, g| g.neg();
    /// `e^x`. Derivative: `e^x` (the output).
    Exp, "exp", exp, |t| t.exp(),
    |x, out, g| g.mul(out);
    /// `ln x`. Derivative: `1 / x`.
    Ln, "ln", ln, |t| t.ln(),
    |x, out, g| g.div(x);
    /// `sqrt x`. Derivative: `1 / (2 sqrt x)` (infinite at 0).
    Sqrt, "sqrt", sqrt, |t| t.sqrt(),
    |x, out, g| g.div(out).mul_scalar(0.5);
    /// `sin x`. Derivative: `cos x`.
    Sin, "sin", sin, |t| t.sin(),
    |x, out, g| g.mul(&x.cos());
    /// `cos x`. Derivative: `-sin x`.
    Cos, "cos", cos, |t| t.cos(),
    |x, out, g| g.mul(&x.sin()).neg();
    /// `tanh x`. Derivative: `1 - tanh² x`.
    Tanh, "tanh", tanh, |t| t.tanh(),
    |x, out, g| g.mul(&out.mul(out).neg().add_scalar(1.0));
    /// Logistic sigmoid `σ(x) = 1 / (1 + e^-x)` (stable). Derivative: `σ(x)(1 - σ(x))`.
    Sigmoid, "sigmoid", sigmoid, |t| t.sigmoid(),
    |x, out, g| g.mul(&out.mul(&out.neg().add_scalar(1.0)));
    /// `erf x`. Derivative: `2/√π e^(-x²)`.
    Erf, "erf", erf, |t| t.map(|v| v.erf()),
    |x, out, g| g.mul(&x.mul(x).neg().exp().mul_scalar(TWO_OVER_SQRT_PI));
    /// Softplus `ln(1 + e^x)` (stable). Derivative: `σ(x)`.
    Softplus, "softplus", softplus, |t| t.softplus(),
    |x, out, g| g.mul(&x.sigmoid());
    /// `1 / x`. Derivative: `-1 / x²`.
    Recip, "recip", recip, |t| t.recip(),
    |x, out, g| g.mul(&out.mul(out)).neg();
    /// `x²`. Derivative: `2x`.
    Square, "square", square, |t| t.square(),
    |x, out, g| g.mul(x).mul_scalar(2.0);
    /// Exact GELU `x Φ(x)`. Derivative: `Φ(x) + x φ(x)` with φ the normal density.
    Gelu, "gelu", gelu, |t| t.gelu(),
    |x, out, g| {
        let cdf = x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
        let pdf = x.mul(x).mul_scalar(-0.5).exp().mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
        g.mul(&cdf.add(&x.mul(&pdf)))
    };
    /// `max(x, 0)`. Derivative: 1 where `x > 0`, else 0 (so relu'(0) = 0).
    Relu, "relu", relu, |t| t.relu(),
    |x, out, g| g.mul(&x.lift(x.value().step()));
    /// `|x|`. Derivative: `sign x` (so abs'(0) = 0).
    Abs, "abs", abs, |t| t.abs(),
    |x, out, g| g.mul(&x.lift(x.value().signum()));
}

/// `x * c` for a scalar `c`. Derivative: `c`.
pub struct MulScalar(pub f64);
/// `x + c` for a scalar `c`. Derivative: `1`.
pub struct AddScalar(pub f64);
/// `x^p` for a real exponent `p`. Derivative: `p x^(p-1)`.
pub struct Powf(pub f64);
/// Leaky ReLU with negative slope `s`. Derivative: 1 where `x > 0`, else `s`.
pub struct LeakyRelu(pub f64);
/// `clamp(x, lo, hi)`. Derivative: 1 where `lo <= x <= hi` (bounds included), else 0.
pub struct Clamp(pub f64, pub f64);

impl<E: Float> Op<E> for MulScalar {
    fn name(&self) -> &'static str {
        "mul_scalar"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        smallvec![Some(c.g.mul_scalar(self.0))]
    }
}

impl<E: Float> Op<E> for AddScalar {
    fn name(&self) -> &'static str {
        "add_scalar"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        smallvec![Some(c.g.clone())]
    }
}

impl<E: Float> Op<E> for Powf {
    fn name(&self) -> &'static str {
        "powf"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        // d/dx x^p = p x^(p-1)
        smallvec![Some(c.g.mul(&c.x[0].powf(self.0 - 1.0)).mul_scalar(self.0))]
    }
}

impl<E: Float> Op<E> for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let s = E::from_f64(self.0);
        let slope = c.x[0].value().map(|v| if v > E::ZERO { E::ONE } else { s });
        smallvec![Some(c.g.mul(&c.x[0].lift(slope)))]
    }
}

impl<E: Float> Op<E> for Clamp {
    fn name(&self) -> &'static str {
        "clamp"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (lo, hi) = (E::from_f64(self.0), E::from_f64(self.1));
        let inside = c.x[0]
            .value()
            .map(|v| if v >= lo && v <= hi { E::ONE } else { E::ZERO });
        smallvec![Some(c.g.mul(&c.x[0].lift(inside)))]
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// `x * c` for a scalar `c`.
    #[track_caller]
    pub fn mul_scalar(self, c: f64) -> Var<'t, E> {
        self.unary(MulScalar(c), Location::caller(), |t| t.mul_scalar(c))
    }

    /// `x + c` for a scalar `c`.
    #[track_caller]
    pub fn add_scalar(self, c: f64) -> Var<'t, E> {
        self.unary(AddScalar(c), Location::caller(), |t| t.add_scalar(c))
    }

    /// `x^p` for a real exponent.
    #[track_caller]
    pub fn powf(self, p: f64) -> Var<'t, E> {
        self.unary(Powf(p), Location::caller(), |t| t.powf(p))
    }

    /// Leaky ReLU: `x` if `x > 0`, else `slope * x`.
    #[track_caller]
    pub fn leaky_relu(self, slope: f64) -> Var<'t, E> {
        self.unary(LeakyRelu(slope), Location::caller(), |t| {
            t.leaky_relu(slope)
        })
    }

    /// Clamps into `[min, max]`; the gradient passes where `min <= x <= max`.
    #[track_caller]
    pub fn clamp(self, min: f64, max: f64) -> Var<'t, E> {
        self.unary(Clamp(min, max), Location::caller(), |t| t.clamp(min, max))
    }
}

macro_rules! binary_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident, $name:literal, $method:ident,
        |$a:ident, $b:ident, $out:ident, $g:ident| ($ga:expr, $gb:expr);
    )*) => {
        $(
            #[doc = concat!("The `", $name, "` op (inputs of equal shape).")]
            pub struct $op;

            impl<E: Float> Op<E> for $op {
                fn name(&self) -> &'static str {
                    $name
                }
                #[allow(unused_variables)]
                fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
                    let ($a, $b, $out, $g) = (&c.x[0], &c.x[1], c.out, c.g);
                    smallvec![c.needs(0).then(|| $ga), c.needs(1).then(|| $gb)]
                }
            }
        )*

        impl<'t, E: Float> Var<'t, E> {
            $(
                $(#[$doc])*
                ///
                /// Shapes broadcast as in NumPy.
                ///
                /// # Panics
                /// If the shapes do not broadcast.
                #[track_caller]
                #[allow(clippy::should_implement_trait)] // the `std::ops` traits are implemented too
                pub fn $method(self, rhs: Var<'t, E>) -> Var<'t, E> {
                    self.binary(rhs, $op, $name, |a, b| a.$method(b))
                }
            )*
        }
    };
}

binary_ops! {
    /// `a + b`.
    Add, "add", add, |a, b, out, g| (g.clone(), g.clone());
    /// `a - b`.
    Sub, "sub", sub, |a, b, out, g| (g.clone(), g.neg());
    /// `a * b`.
    Mul, "mul", mul, |a, b, out, g| (g.mul(b), g.mul(a));
    /// `a / b`. Derivatives: `1/b` and `-a/b²`.
    Div, "div", div, |a, b, out, g| (g.div(b), g.mul(out).div(b).neg());
    /// `a^b`. Derivatives: `b a^(b-1)` (0 where b = 0) and `a^b ln a`
    /// (0 where a = 0 and b >= 0), as PyTorch.
    Pow, "pow", pow,
    |a, b, out, g| (pow_grad_base(a, b, g), pow_grad_exponent(a, b, out, g));
    /// Elementwise maximum; at a tie each side gets half the gradient.
    Maximum, "maximum", maximum,
    |a, b, out, g| (g.mul(&a.lift(tie_weights(&a.value(), &b.value()))), g.mul(&b.lift(tie_weights(&b.value(), &a.value()))));
    /// Elementwise minimum; at a tie each side gets half the gradient.
    Minimum, "minimum", minimum,
    |a, b, out, g| (g.mul(&a.lift(tie_weights(&b.value(), &a.value()))), g.mul(&b.lift(tie_weights(&a.value(), &b.value()))));
}

/// `∂(a^b)/∂a · g = g b a^(b-1)`, taken as 0 where `b = 0` (PyTorch's
/// convention). Written with `pow`, not as `b · out / a`, which is 0/0 = NaN
/// at a zero base (e.g. `relu(x).pow(2)` with dead units).
fn pow_grad_base<E: Float, V: GradOps<E>>(a: &V, b: &V, g: &V) -> V {
    let b_zero = b.value().eq(&Tensor::scalar(E::ZERO));
    // Where b = 0 the exponent becomes 0, so the product is 0 · a^0 = 0.
    let exponent = b.add_scalar(-1.0).add(&b.lift(b_zero));
    g.mul(b).mul(&a.pow(&exponent))
}

/// `∂(a^b)/∂b · g = g a^b ln a`, taken as 0 where `a = 0` and `b >= 0` (the
/// limit, and PyTorch's convention) instead of `0 · -inf = NaN`: there `ln a`
/// is evaluated as `ln 1`.
fn pow_grad_exponent<E: Float, V: GradOps<E>>(a: &V, b: &V, out: &V, g: &V) -> V {
    let zero = Tensor::scalar(E::ZERO);
    let at_zero = a.value().eq(&zero).mul(&b.value().ge(&zero));
    g.mul(out).mul(&a.add(&a.lift(at_zero)).ln())
}

/// 1 where `a > b`, 0.5 where `a == b`, 0 where `a < b`.
fn tie_weights<E: Float>(a: &Tensor<E>, b: &Tensor<E>) -> Tensor<E> {
    let half = E::from_f64(0.5);
    a.zip_map(b, "maximum", |x, y| {
        if x > y {
            E::ONE
        } else if x == y {
            half
        } else {
            E::ZERO
        }
    })
}

impl<'t, E: Float> Var<'t, E> {
    /// Broadcasts both operands to a common shape (recording `broadcast_to`
    /// nodes only where a shape changes), then records `op`.
    #[track_caller]
    pub(crate) fn binary(
        self,
        rhs: Var<'t, E>,
        op: impl Op<E>,
        name: &str,
        f: impl FnOnce(&Tensor<E>, &Tensor<E>) -> Tensor<E>,
    ) -> Var<'t, E> {
        self.same_tape(rhs, name);
        let (sa, sb) = (self.shape(), rhs.shape());
        let (a, b) = if sa == sb {
            (self, rhs)
        } else {
            let Some(shape) = tapegrad_tensor::broadcast_shapes(&sa, &sb) else {
                panic!("{name}: shapes {:?} and {:?} do not broadcast", sa, sb)
            };
            tapegrad_tensor::checked_numel(&shape, name);
            (self.broadcast_to(&shape), rhs.broadcast_to(&shape))
        };
        let value = {
            let nodes = a.tape.nodes.borrow();
            f(&nodes[a.id].value, &nodes[b.id].value)
        };
        Var::record_op(a.tape, op, &[a, b], value, Location::caller())
    }
}

/// `where(cond, a, b)`: `a` where the constant condition is nonzero, else `b`.
/// Derivatives: `mask` for `a` and `1 - mask` for `b`, with `mask = (cond != 0)`;
/// the condition gets no gradient.
pub struct WhereCond<E: Float> {
    /// 1 where the condition holds, 0 elsewhere, in the output's shape.
    pub mask: Tensor<E>,
}

impl<E: Float> Op<E> for WhereCond<E> {
    fn name(&self) -> &'static str {
        "where"
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        // d/da = mask, d/db = 1 - mask
        let g = c.g;
        let g_a = c.needs(0).then(|| g.mul(&g.lift(self.mask.clone())));
        let g_b = c
            .needs(1)
            .then(|| g.mul(&g.lift(self.mask.neg().add_scalar(1.0))));
        smallvec![g_a, g_b]
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// `where(cond, on_true, on_false)` (PyTorch's `torch.where`): `on_true`
    /// where the constant tensor `cond` is nonzero, else `on_false`. All
    /// three broadcast as in NumPy; no gradient flows into `cond`.
    ///
    /// ```
    /// use tapegrad_autodiff::{Tape, Var};
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    /// let b = tape.var(Tensor::scalar(-1.0));
    /// let cond = Tensor::from_vec(vec![1.0, 0.0, 1.0], &[3]);
    /// let y = Var::where_cond(&cond, a, b);
    /// assert_eq!(y.value().to_vec(), vec![1.0, -1.0, 3.0]);
    /// let grads = y.sum_all().backward();
    /// assert_eq!(grads[a].to_vec(), vec![1.0, 0.0, 1.0]);
    /// assert_eq!(grads[b].item(), 1.0); // one element took `b`
    /// ```
    ///
    /// # Panics
    /// If the three shapes do not broadcast, or the vars live on different tapes.
    #[track_caller]
    pub fn where_cond(cond: &Tensor<E>, on_true: Var<'t, E>, on_false: Var<'t, E>) -> Var<'t, E> {
        on_true.same_tape(on_false, "where");
        let (st, sf) = (on_true.shape(), on_false.shape());
        let shape = tapegrad_tensor::broadcast_shapes(&st, &sf)
            .and_then(|s| tapegrad_tensor::broadcast_shapes(&s, cond.shape()))
            .unwrap_or_else(|| {
                panic!(
                    "where: shapes {:?}, {:?} and {:?} do not broadcast",
                    cond.shape(),
                    st,
                    sf
                )
            });
        let (a, b) = (on_true.broadcast_to(&shape), on_false.broadcast_to(&shape));
        let mask = cond
            .ne(&Tensor::scalar(E::ZERO))
            .broadcast_to(&shape)
            .contiguous();
        let value = mask.where_cond(&a.value(), &b.value());
        Var::record_op(
            a.tape,
            WhereCond { mask },
            &[a, b],
            value,
            Location::caller(),
        )
    }
}

macro_rules! operators {
    ($trait:ident, $method:ident, $var_fn:ident,
     |$v:ident, $c:ident| $scalar_rhs:expr, |$c2:ident, $v2:ident| $scalar_lhs:expr) => {
        impl<'t, E: Float> std::ops::$trait<Var<'t, E>> for Var<'t, E> {
            type Output = Var<'t, E>;
            #[track_caller]
            fn $method(self, rhs: Var<'t, E>) -> Var<'t, E> {
                Var::$var_fn(self, rhs)
            }
        }
        impl<'t, E: Float> std::ops::$trait<f64> for Var<'t, E> {
            type Output = Var<'t, E>;
            #[track_caller]
            fn $method(self, $c: f64) -> Var<'t, E> {
                let $v = self;
                $scalar_rhs
            }
        }
        impl<'t, E: Float> std::ops::$trait<Var<'t, E>> for f64 {
            type Output = Var<'t, E>;
            #[track_caller]
            fn $method(self, $v2: Var<'t, E>) -> Var<'t, E> {
                let $c2 = self;
                $scalar_lhs
            }
        }
    };
}

// Operators call the methods inline (not through closures) so that
// `#[track_caller]` records the user's line.
operators!(Add, add, add, |v, c| v.add_scalar(c), |c, v| v
    .add_scalar(c));
operators!(Sub, sub, sub, |v, c| v.add_scalar(-c), |c, v| v
    .mul_scalar(-1.0)
    .add_scalar(c));
operators!(Mul, mul, mul, |v, c| v.mul_scalar(c), |c, v| v
    .mul_scalar(c));
operators!(Div, div, div, |v, c| v.mul_scalar(1.0 / c), |c, v| v
    .recip()
    .mul_scalar(c));

impl<'t, E: Float> std::ops::Neg for Var<'t, E> {
    type Output = Var<'t, E>;
    #[track_caller]
    fn neg(self) -> Var<'t, E> {
        Var::neg(self)
    }
}
