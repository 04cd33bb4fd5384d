//! Elementwise ops: unary math, ops with a scalar, binary ops (broadcasting
//! made explicit with `broadcast_to` nodes), and the `std::ops` operators.
//!
//! Derivatives at kinks follow PyTorch (see the crate docs' table):
//! relu'(0) = 0, abs'(0) = 0, clamp's gradient is 0 at its bounds,
//! `maximum`/`minimum` give half to each side at a tie.

use super::{Ctx, GradOps, Grads, JvpCtx, Op};
use crate::var::Var;
use tapegrad_tensor::{Float, Tensor};

/// `2 / sqrt(pi)`: the derivative of erf at 0.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// Defines elementwise unary ops. Each gives its forward on tensors and one
/// rule `|x, out, v| ..`: `v` times the derivative `f'(x)`. The Jacobian is
/// diagonal, so the same expression is the backward rule (`v = g`, the
/// incoming gradient) and the forward-mode rule (`v = t`, the tangent).
macro_rules! unary_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident, $name:literal, $method:ident, |$t:ident| $forward:expr,
        |$x:ident, $out:ident, $v:ident| $rule:expr
        $(, fused |$fx:ident, $fout:ident, $fg:ident| $fused:expr)?;
    )*) => {
        $(
            #[doc = concat!("The `", $name, "` op.")]
            pub struct $op;

            impl<E: Float> Op<E> for $op {
                fn name(&self) -> &'static str {
                    $name
                }
                fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
                    let $t = x[0];
                    $forward
                }
                #[allow(unused_variables)]
                fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
                    let ($x, $out, $v) = (&c.x[0], c.out, c.g);
                    [Some($rule)].into()
                }
                $(
                    #[allow(unused_variables)]
                    fn backward_tensors(&self, c: &Ctx<Tensor<E>>) -> Grads<Tensor<E>> {
                        let ($fx, $fout, $fg): (&Tensor<E>, &Tensor<E>, &Tensor<E>) = (&c.x[0], c.out, c.g);
                        [Some($fused)].into()
                    }
                )?
                fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
                    true // elementwise: row b from row b
                }
                #[allow(unused_variables)]
                fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
                    let ($x, $out, $v) = (&c.x[0], c.out, c.tangent(0)?);
                    Some($rule)
                }
            }
        )*

        impl<'t, E: Float> Var<'t, E> {
            $(
                $(#[$doc])*
                #[track_caller]
                #[allow(clippy::should_implement_trait)] // `Neg` is implemented too; this is the named form
                pub fn $method(self) -> Var<'t, E> {
                    Var::apply($op, &[self])
                }
            )*
        }
    };
}

unary_ops! {
    /// `-x`. Derivative: `-1`.
    Neg, "neg", neg, |t| t.neg(),
    |x, out, v| v.neg();
    /// `e^x`. Derivative: `e^x` (the output).
    Exp, "exp", exp, |t| t.exp(),
    |x, out, v| v.mul(out);
    /// `ln x`. Derivative: `1 / x`.
    Ln, "ln", ln, |t| t.ln(),
    |x, out, v| v.div(x);
    /// `ln(1 + x)`, accurate near 0. Derivative: `1 / (1 + x)`.
    Log1p, "log1p", log1p, |t| t.log1p(),
    |x, out, v| v.div(&x.add_scalar(1.0));
    /// `e^x - 1`, accurate near 0. Derivative: `e^x` (`out + 1`).
    Expm1, "expm1", expm1, |t| t.expm1(),
    |x, out, v| v.mul(&out.add_scalar(1.0));
    /// `sqrt x`. Derivative: `1 / (2 sqrt x)` (infinite at 0).
    Sqrt, "sqrt", sqrt, |t| t.sqrt(),
    |x, out, v| v.div(out).mul_scalar(0.5);
    /// `sin x`. Derivative: `cos x`.
    Sin, "sin", sin, |t| t.sin(),
    |x, out, v| v.mul(&x.cos());
    /// `cos x`. Derivative: `-sin x`.
    Cos, "cos", cos, |t| t.cos(),
    |x, out, v| v.mul(&x.sin()).neg();
    /// `tanh x`. Derivative: `1 - tanh² x`.
    Tanh, "tanh", tanh, |t| t.tanh(),
    |x, out, v| v.mul(&out.mul(out).neg().add_scalar(1.0)),
    fused |x, out, g| g.zip_map(out, "tanh backward", |g, o| g * (-(o * o) + E::ONE));
    /// Logistic sigmoid `σ(x) = 1 / (1 + e^-x)` (stable). Derivative: `σ(x)(1 - σ(x))`.
    Sigmoid, "sigmoid", sigmoid, |t| t.sigmoid(),
    |x, out, v| v.mul(&out.mul(&out.neg().add_scalar(1.0))),
    fused |x, out, g| g.zip_map(out, "sigmoid backward", |g, o| g * (o * (-o + E::ONE)));
    /// `erf x`. Derivative: `2/√π e^(-x²)`.
    Erf, "erf", erf, |t| t.map(|v| v.erf()),
    |x, out, v| v.mul(&x.mul(x).neg().exp().mul_scalar(TWO_OVER_SQRT_PI));
    /// `ln σ(x) = -softplus(-x)` (stable). Derivative: `σ(-x) = 1 - σ(x)`.
    LogSigmoid, "log_sigmoid", log_sigmoid, |t| t.log_sigmoid(),
    |x, out, v| v.mul(&x.neg().sigmoid());
    /// Softplus `ln(1 + e^x)` (stable). Derivative: `σ(x)`.
    Softplus, "softplus", softplus, |t| t.softplus(),
    |x, out, v| v.mul(&x.sigmoid());
    /// `1 / x`. Derivative: `-1 / x²`.
    Recip, "recip", recip, |t| t.recip(),
    |x, out, v| v.mul(&out.mul(out)).neg();
    /// `x²`. Derivative: `2x`.
    Square, "square", square, |t| t.square(),
    |x, out, v| v.mul(x).mul_scalar(2.0);
    /// Exact GELU `x Φ(x)`. Derivative: `Φ(x) + x φ(x)` with φ the normal density.
    Gelu, "gelu", gelu, |t| t.gelu(),
    |x, out, v| {
        let cdf = x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
        let pdf = x.mul(x).mul_scalar(-0.5).exp().mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
        v.mul(&cdf.add(&x.mul(&pdf)))
    };
    /// GELU with the tanh approximation (PyTorch's `approximate="tanh"`):
    /// `x/2 (1 + tanh u)`, `u = √(2/π)(x + 0.044715 x³)`. Derivative:
    /// `(1 + tanh u)/2 + x/2 (1 - tanh² u) √(2/π)(1 + 3 · 0.044715 x²)`.
    GeluTanh, "gelu_tanh", gelu_tanh, |t| t.gelu_tanh(),
    |x, out, v| {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        let x2 = x.mul(x);
        let t = x.add(&x2.mul(x).mul_scalar(0.044715)).mul_scalar(c).tanh();
        let dt = t.mul(&t).neg().add_scalar(1.0);
        let du = x2.mul_scalar(3.0 * 0.044715).add_scalar(1.0).mul_scalar(c);
        v.mul(&t.add_scalar(1.0).add(&x.mul(&dt).mul(&du)).mul_scalar(0.5))
    };
    /// `max(x, 0)`. Derivative: 1 where `x > 0`, else 0 (so relu'(0) = 0).
    Relu, "relu", relu, |t| t.relu(),
    |x, out, v| v.mul(&x.lift(x.value().step())),
    fused |x, out, g| g.zip_map(x, "relu backward", |g, x| g * if x > E::ZERO { E::ONE } else { E::ZERO });
    /// `|x|`. Derivative: `sign x` (so abs'(0) = 0).
    Abs, "abs", abs, |t| t.abs(),
    |x, out, v| v.mul(&x.lift(x.value().signum()));
}

/// Defines elementwise ops with scalar parameters, as [`unary_ops`]: a
/// forward and one rule `|op, x, out, v| ..` (`v` times the derivative),
/// shared by backward (`v = g`) and forward mode (`v = t`).
macro_rules! scalar_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident($($field:ident: $ty:ty),*), $name:literal,
        |$s:ident, $t:ident| $forward:expr,
        |$s2:ident, $x:ident, $out:ident, $v:ident| $rule:expr;
    )*) => {
        $(
            $(#[$doc])*
            pub struct $op { $(
                #[doc = concat!("The `", stringify!($field), "` parameter.")]
                pub $field: $ty,
            )* }

            impl<E: Float> Op<E> for $op {
                fn name(&self) -> &'static str {
                    $name
                }
                fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
                    let ($s, $t) = (self, x[0]);
                    $forward
                }
                #[allow(unused_variables)]
                fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
                    let ($s2, $x, $out, $v) = (self, &c.x[0], c.out, c.g);
                    [Some($rule)].into()
                }
                fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
                    true // elementwise: row b from row b
                }
                #[allow(unused_variables)]
                fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
                    let ($s2, $x, $out, $v) = (self, &c.x[0], c.out, c.tangent(0)?);
                    Some($rule)
                }
            }
        )*
    };
}

scalar_ops! {
    /// `x * c` for a scalar `c`. Derivative: `c`.
    MulScalar(c: f64), "mul_scalar", |s, t| t.mul_scalar(s.c),
    |s, x, out, v| v.mul_scalar(s.c);
    /// `x + c` for a scalar `c`. Derivative: `1`.
    AddScalar(c: f64), "add_scalar", |s, t| t.add_scalar(s.c),
    |s, x, out, v| v.clone();
    /// `x^p` for a real exponent `p`. Derivative: `p x^(p-1)`, taken as 0
    /// where `p = 0` (as the tensor `pow` rule, and PyTorch: `x^0 = 1` is
    /// constant even at `x = 0`, where `0 · 0^-1` would be NaN).
    Powf(p: f64), "powf", |s, t| t.powf(s.p),
    |s, x, out, v| if s.p == 0.0 { v.mul_scalar(0.0) } else { v.mul(&x.powf(s.p - 1.0)).mul_scalar(s.p) };
    /// Leaky ReLU with negative slope `slope`. Derivative: 1 where `x > 0`, else `slope`.
    LeakyRelu(slope: f64), "leaky_relu", |s, t| t.leaky_relu(s.slope),
    |s, x, out, v| {
        let slope = E::from_f64(s.slope);
        v.mul(&x.lift(x.value().map(|e| if e > E::ZERO { E::ONE } else { slope })))
    };
    /// `clamp(x, min, max)`. Derivative: 1 where `min <= x <= max` (bounds
    /// included), else 0.
    Clamp(min: f64, max: f64), "clamp", |s, t| t.clamp(s.min, s.max),
    |s, x, out, v| {
        let (lo, hi) = (E::from_f64(s.min), E::from_f64(s.max));
        v.mul(&x.lift(x.value().map(|e| if e > lo && e < hi { E::ONE } else { E::ZERO })))
    };
}

impl<'t, E: Float> Var<'t, E> {
    /// `x * c` for a scalar `c`.
    #[track_caller]
    pub fn mul_scalar(self, c: f64) -> Var<'t, E> {
        Var::apply(MulScalar { c }, &[self])
    }

    /// `x + c` for a scalar `c`.
    #[track_caller]
    pub fn add_scalar(self, c: f64) -> Var<'t, E> {
        Var::apply(AddScalar { c }, &[self])
    }

    /// `x^p` for a real exponent.
    #[track_caller]
    pub fn powf(self, p: f64) -> Var<'t, E> {
        Var::apply(Powf { p }, &[self])
    }

    /// Leaky ReLU: `x` if `x > 0`, else `slope * x`.
    #[track_caller]
    pub fn leaky_relu(self, slope: f64) -> Var<'t, E> {
        Var::apply(LeakyRelu { slope }, &[self])
    }

    /// Clamps into `[min, max]`; the gradient passes where `min < x < max`
    /// and is 0 at a bound (as PyTorch, and as `relu'(0) = 0`: `clamp(x, 0, ∞)`
    /// is `relu(x)`).
    ///
    /// # Panics
    /// If a bound is NaN or `min > max`.
    #[track_caller]
    pub fn clamp(self, min: f64, max: f64) -> Var<'t, E> {
        Var::apply(Clamp { min, max }, &[self])
    }
}

/// Defines elementwise binary ops (inputs of equal shape: broadcasting is
/// recorded first as `broadcast_to` nodes). Each gives its forward and two
/// partial rules, `v` times `∂f/∂a` and `v` times `∂f/∂b`: the backward
/// rule applies them to `g`, the forward-mode rule to the tangents and adds
/// (`ṫ = ∂f/∂a · ȧ + ∂f/∂b · ḃ`).
macro_rules! binary_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident, $name:literal, $method:ident,
        |$a:ident, $b:ident, $out:ident, $v:ident| ($ga:expr, $gb:expr);
    )*) => {
        $(
            #[doc = concat!("The `", $name, "` op (inputs of equal shape).")]
            pub struct $op;

            impl<E: Float> Op<E> for $op {
                fn name(&self) -> &'static str {
                    $name
                }
                fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
                    x[0].$method(x[1])
                }
                #[allow(unused_variables)]
                fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
                    let ($a, $b, $out, $v) = (&c.x[0], &c.x[1], c.out, c.g);
                    [c.needs(0).then(|| $ga), c.needs(1).then(|| $gb)].into()
                }
                fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
                    true // elementwise: row b from row b
                }
                #[allow(unused_variables)]
                fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
                    let ($a, $b, $out) = (&c.x[0], &c.x[1], c.out);
                    let da = c.tangent(0).map(|$v| $ga);
                    let db = c.tangent(1).map(|$v| $gb);
                    match (da, db) {
                        (Some(da), Some(db)) => Some(da.add(&db)),
                        (da, db) => da.or(db),
                    }
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
                /// If the shapes do not broadcast, or the vars live on different tapes.
                #[track_caller]
                #[allow(clippy::should_implement_trait)] // the `std::ops` traits are implemented too
                pub fn $method(self, rhs: Var<'t, E>) -> Var<'t, E> {
                    self.binary(rhs, $op, $name)
                }
            )*
        }
    };
}

binary_ops! {
    /// `a + b`.
    Add, "add", add, |a, b, out, v| (v.clone(), v.clone());
    /// `a - b`.
    Sub, "sub", sub, |a, b, out, v| (v.clone(), v.neg());
    /// `a * b`.
    Mul, "mul", mul, |a, b, out, v| (v.mul(b), v.mul(a));
    /// `a / b`. Derivatives: `1/b` and `-a/b² = -out/b`.
    Div, "div", div, |a, b, out, v| (v.div(b), v.mul(out).div(b).neg());
    /// `a^b`. Derivatives: `b a^(b-1)` (0 where b = 0) and `a^b ln a`
    /// (0 where a = 0 and b >= 0), as PyTorch.
    Pow, "pow", pow,
    |a, b, out, v| (pow_grad_base(a, b, v), pow_grad_exponent(a, b, out, v));
    /// Elementwise maximum (NaN on either side wins); at a tie each side
    /// gets half the gradient.
    Maximum, "maximum", maximum,
    |a, b, out, v| (v.mul(&a.lift(tie_weights(&a.value(), &b.value()))), v.mul(&b.lift(tie_weights(&b.value(), &a.value()))));
    /// Elementwise minimum (NaN on either side wins); at a tie each side
    /// gets half the gradient.
    Minimum, "minimum", minimum,
    |a, b, out, v| (v.mul(&a.lift(tie_weights(&b.value(), &a.value()))), v.mul(&b.lift(tie_weights(&a.value(), &b.value()))));
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
    pub(crate) fn binary(self, rhs: Var<'t, E>, op: impl Op<E>, name: &str) -> Var<'t, E> {
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
        Var::apply(op, &[a, b])
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
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        self.mask.where_cond(x[0], x[1])
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        // d/da = mask, d/db = 1 - mask
        [
            c.needs(0).then(|| self.pick(c.g, true)),
            c.needs(1).then(|| self.pick(c.g, false)),
        ]
        .into()
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        true // elementwise: row b from row b
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        let da = c.tangent(0).map(|t| self.pick(t, true));
        let db = c.tangent(1).map(|t| self.pick(t, false));
        match (da, db) {
            (Some(da), Some(db)) => Some(da.add(&db)),
            (da, db) => da.or(db),
        }
    }
}

impl<E: Float> WhereCond<E> {
    /// `v` where the condition holds (`on_true`), else where it does not.
    fn pick<V: GradOps<E>>(&self, v: &V, on_true: bool) -> V {
        let mask = if on_true {
            self.mask.clone()
        } else {
            self.mask.neg().add_scalar(1.0)
        };
        v.mul(&v.lift(mask))
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
        Var::apply(WhereCond { mask }, &[a, b])
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
