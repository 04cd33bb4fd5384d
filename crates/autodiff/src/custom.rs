//! User-defined ops: a forward on tensors and a backward on vars.

use crate::ops::{Ctx, DynOp, Grads};
use crate::tape::Tape;
use crate::var::Var;
use std::panic::Location;
use tapegrad_tensor::{Float, Tensor};

/// An op with a hand-written derivative.
///
/// `forward` computes the output from input tensors; `backward` returns the
/// gradient of each input from the inputs `x`, the output `out` and the
/// incoming gradient `g`, written with `Var` ops so that it can itself be
/// differentiated. Check it with [`gradcheck`](crate::gradcheck).
///
/// ```
/// use tapegrad_autodiff::{gradcheck, CustomOp, GradcheckOptions, Tape, Var};
/// use tapegrad_tensor::Tensor;
///
/// /// softsign(x) = x / (1 + |x|), derivative 1 / (1 + |x|)².
/// struct Softsign;
///
/// impl CustomOp<f64> for Softsign {
///     fn name(&self) -> &'static str {
///         "softsign"
///     }
///     fn forward(&self, x: &[Tensor<f64>]) -> Tensor<f64> {
///         x[0].div(&x[0].abs().add_scalar(1.0))
///     }
///     fn backward<'t>(&self, x: &[Var<'t, f64>], _out: Var<'t, f64>, g: Var<'t, f64>) -> Vec<Option<Var<'t, f64>>> {
///         let d = (x[0].abs() + 1.0).square().recip();
///         vec![Some(g * d)]
///     }
/// }
///
/// let x = Tensor::from_vec(vec![-1.5, 0.3, 2.0], &[3]);
/// let report = gradcheck(|_tape, v| v[0].custom(Softsign, &[]), &[x], &GradcheckOptions::default());
/// assert!(report.is_ok());
/// ```
pub trait CustomOp<E: Float>: 'static {
    /// Name shown in tape summaries and errors.
    fn name(&self) -> &'static str;
    /// The output from the input values.
    fn forward(&self, inputs: &[Tensor<E>]) -> Tensor<E>;
    /// Gradients of the inputs (one entry per input; `None` only for inputs
    /// that need no gradient).
    fn backward<'t>(
        &self,
        x: &[Var<'t, E>],
        out: Var<'t, E>,
        g: Var<'t, E>,
    ) -> Vec<Option<Var<'t, E>>>;
}

/// Adapts a [`CustomOp`] to the tape's op interface.
struct Custom<C>(C);

impl<E: Float, C: CustomOp<E>> DynOp<E> for Custom<C> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    /// First order: the var rule runs on a scratch tape of constants, and
    /// only its values are kept.
    fn backward_tensor(&self, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>> {
        let scratch = Tape::<E>::new();
        let x: Vec<Var<'_, E>> = ctx.x.iter().map(|t| scratch.constant(t.clone())).collect();
        let out = scratch.constant(ctx.out.clone());
        let g = scratch.constant(ctx.g.clone());
        self.0
            .backward(&x, out, g)
            .into_iter()
            .map(|v| v.map(|v| v.value()))
            .collect()
    }

    fn backward_var<'t>(&self, ctx: &Ctx<Var<'t, E>>) -> Grads<Var<'t, E>> {
        self.0
            .backward(ctx.x, *ctx.out, *ctx.g)
            .into_iter()
            .collect()
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// Applies a [`CustomOp`] to this var followed by `others`.
    #[track_caller]
    pub fn custom(self, op: impl CustomOp<E>, others: &[Var<'t, E>]) -> Var<'t, E> {
        let mut inputs = vec![self];
        inputs.extend_from_slice(others);
        for o in others {
            self.same_tape(*o, op.name());
        }
        let values: Vec<Tensor<E>> = inputs.iter().map(|v| v.value()).collect();
        let value = op.forward(&values);
        Var::record_dyn(
            self.tape,
            std::rc::Rc::new(Custom(op)),
            &inputs,
            value,
            Location::caller(),
        )
    }
}
