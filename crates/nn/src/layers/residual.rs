//! `Residual`: a skip connection around any module, `y = x + α · f(x)`.

use crate::module::{
    visit_child, visit_child_buffers, visit_child_buffers_mut, visit_child_mut, Module,
};
use crate::param::Param;
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// `y = x + α · branch(x)`: the identity path keeps the signal and the
/// gradient (`∂y/∂x = I + α ∂branch/∂x`) however deep the stack, and a
/// branch scale `α` below 1 at initialisation keeps the variance from
/// growing with depth: with `L` blocks whose branches have gain `g`,
/// `Var` grows like `(1 + α² g)^L`, bounded by `e^g` when `α = 1/√L`
/// (the idea behind Fixup, Zhang et al. 2019, and SkipInit, De & Smith
/// 2020, which start with `α` small or 0).
///
/// The branch's parameters are named `branch.{name}`; `α` is fixed (not a
/// parameter).
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::layers::{Linear, Residual, Tanh};
/// use tapegrad_nn::{Module, Sequential};
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let block = Residual::new(
///     Sequential::new().add(Linear::new(4, 4, &mut rng)).add(Tanh),
///     0.5,
/// );
/// let tape = Tape::<f64>::new();
/// let x = Tensor::ones(&[2, 4]);
/// let y = block.forward(tape.constant(x.clone())).value();
/// let branch = block.branch().forward(tape.constant(x.clone())).value();
/// assert!(y.allclose(&x.add(&branch.mul_scalar(0.5)), 0.0, 1e-15));
/// assert_eq!(block.named_parameters()[0].0, "branch.0.weight");
/// assert_eq!(block.describe(), "Residual(x + 0.5 · Sequential[Linear(4 -> 4), Tanh])");
/// ```
pub struct Residual<E: Float, M: Module<E>> {
    branch: M,
    scale: f64,
    _element: std::marker::PhantomData<E>,
}

impl<E: Float, M: Module<E>> Residual<E, M> {
    /// `x + scale · branch(x)`; `branch` must map its input to the same
    /// shape (checked by the addition, which names both shapes).
    ///
    /// # Panics
    /// If `scale` is not finite.
    #[track_caller]
    pub fn new(branch: M, scale: f64) -> Self {
        if !scale.is_finite() {
            panic!("Residual: scale must be finite, got {scale}");
        }
        Residual {
            branch,
            scale,
            _element: std::marker::PhantomData,
        }
    }

    /// The branch module.
    pub fn branch(&self) -> &M {
        &self.branch
    }

    /// The branch scale `α`.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl<E: Float, M: Module<E>> Module<E> for Residual<E, M> {
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        let branch = self.branch.forward(x);
        if branch.shape() != x.shape() {
            panic!(
                "Residual: the branch maps {:?} to {:?}; a skip connection needs the same shape",
                x.shape(),
                branch.shape()
            );
        }
        x + branch.mul_scalar(self.scale)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        visit_child(&self.branch, "branch", f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        visit_child_mut(&mut self.branch, "branch", f);
    }

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<E>)) {
        visit_child_buffers(&self.branch, "branch", f);
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<E>)) {
        visit_child_buffers_mut(&mut self.branch, "branch", f);
    }

    fn set_training(&mut self, training: bool) {
        self.branch.set_training(training);
    }

    fn describe(&self) -> String {
        format!("Residual(x + {} · {})", self.scale, self.branch.describe())
    }
}
