//! Layer-sequential unit-variance initialisation (Mishkin & Matas 2016,
//! "All you need is a good init"): a data-dependent correction applied on
//! top of an orthogonal (or any) initialisation, one layer at a time.

use crate::module::Module;
use tapegrad_autodiff::Tape;
use tapegrad_tensor::{Float, Tensor};

/// What [`lsuv`] did to one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LsuvStep {
    /// Variance of the layer's output on the batch before any rescaling.
    pub variance_before: f64,
    /// Variance after the last rescaling (within `tol` of 1 unless the
    /// iteration limit was reached or the output could not be rescaled).
    pub variance: f64,
    /// Rescalings applied (0 if the output was already within `tol`, or its
    /// variance was 0 or not finite).
    pub iterations: usize,
    /// The product of every factor the weight was multiplied by.
    pub scale: f64,
}

/// Rescales `layer`'s weight until the variance of its output on the batch
/// `x` is within `tol` of 1, as LSUV does for each layer in turn:
///
/// `v = Var[layer(x)]` over every element; `W ← W / √v`; repeat while
/// `|v − 1| ≥ tol`, at most `max_iters` times.
///
/// For a layer that is linear in its weight with a zero bias (a fresh
/// `Linear` or `Conv2d`), one rescaling is exact; a bias or a nonlinearity
/// inside `layer` is why the paper iterates (it uses `tol = 0.1`,
/// `max_iters = 10`). Every parameter whose name ends in `weight` is scaled,
/// nothing else. An output whose variance is 0 or not finite (dead or
/// overflowed inputs) cannot be rescaled to 1: the layer is left as it is
/// and the step reports 0 iterations.
///
/// Layer-sequential means: call it for the first layer on the data, then
/// for the second on the first layer's (post-activation) output, and so on,
/// each after the layers before it are fixed.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::init::{lsuv, Init};
/// use tapegrad_nn::{Linear, Module};
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let x = Tensor::<f64>::rand_normal(&[256, 32], 0.0, 3.0, &mut rng);
/// let mut layer = Linear::with_init(32, 16, Init::Orthogonal { gain: 1.0 }, true, &mut rng);
/// let step = lsuv(&mut layer, &x, 0.1, 10);
/// assert_eq!(step.iterations, 1); // linear in W, zero bias: one step is exact
/// let tape = Tape::new();
/// let y = layer.forward(tape.constant(x)).value();
/// assert!((y.var_with_correction(&[0, 1], 0).item() - 1.0).abs() < 1e-9);
/// ```
///
/// # Panics
/// If `layer` has no parameter whose name ends in `weight`, `tol` is not
/// positive, or `x` does not fit the layer (the layer's own shape check).
#[track_caller]
pub fn lsuv<E: Float, M: Module<E> + ?Sized>(
    layer: &mut M,
    x: &Tensor<E>,
    tol: f64,
    max_iters: usize,
) -> LsuvStep {
    if tol.is_nan() || tol <= 0.0 {
        panic!("lsuv: tol must be positive, got {tol}");
    }
    let mut weights = 0;
    layer.visit_params(&mut |name, _| weights += usize::from(name.ends_with("weight")));
    if weights == 0 {
        panic!("lsuv: the layer has no parameter named `weight` to rescale");
    }
    let output_variance = |layer: &M| {
        let tape = Tape::new();
        let y = layer.forward(tape.constant(x.clone())).value();
        y.cast::<f64>().var_with_correction(&[], 0).item()
    };
    let variance_before = output_variance(layer);
    let (mut variance, mut iterations, mut scale) = (variance_before, 0, 1.0);
    while iterations < max_iters
        && (variance - 1.0).abs() >= tol
        && variance.is_finite()
        && variance > 0.0
    {
        let factor = 1.0 / variance.sqrt();
        layer.visit_params_mut(&mut |name, p| {
            if name.ends_with("weight") {
                p.set(p.value().mul_scalar(factor));
            }
        });
        scale *= factor;
        iterations += 1;
        variance = output_variance(layer);
    }
    LsuvStep {
        variance_before,
        variance,
        iterations,
        scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layers::{Linear, Tanh};
    use crate::module::Sequential;
    use rand::SeedableRng;

    fn variance(layer: &dyn Module<f64>, x: &Tensor<f64>) -> f64 {
        let tape = Tape::new();
        let y = layer.forward(tape.constant(x.clone())).value();
        y.var_with_correction(&[], 0).item()
    }

    #[test]
    fn a_nonlinear_layer_takes_several_rescalings_and_ends_within_tol() {
        // tanh(W x) has Var < 1 at every scale (it reaches 1 only as every
        // unit saturates), and rescaling by 1/√v overshoots nothing: the
        // variance creeps up, one rescaling at a time, to within tol.
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let x = Tensor::<f64>::rand_normal(&[128, 16], 0.0, 1.0, &mut rng);
        let weight = Init::Normal {
            mean: 0.0,
            std: 0.05,
        };
        let mut layer = Sequential::new()
            .add(Linear::with_init(16, 16, weight, true, &mut rng))
            .add(Tanh);
        let step = lsuv(&mut layer, &x, 0.1, 50);
        assert!(step.iterations > 1 && step.iterations < 50, "{step:?}");
        assert!((step.variance - 1.0).abs() < 0.1, "{step:?}");
        assert_eq!(step.variance, variance(&layer, &x));
        assert!(step.scale > 1.0, "small weights are scaled up: {step:?}");
    }

    #[test]
    fn a_layer_within_tol_or_with_a_dead_output_is_left_alone() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let x = Tensor::<f64>::rand_normal(&[256, 32], 0.0, 1.0, &mut rng);
        let mut layer = Linear::with_init(32, 32, Init::Orthogonal { gain: 1.0 }, true, &mut rng);
        let before = layer.named_parameters();
        let step = lsuv(&mut layer, &x, 0.5, 10);
        assert_eq!((step.iterations, step.scale), (0, 1.0), "{step:?}");
        assert_eq!(layer.named_parameters()[0].1.to_vec(), before[0].1.to_vec());
        // All-zero inputs: variance 0, nothing to rescale by.
        let zeros = Tensor::<f64>::zeros(&[8, 32]);
        let step = lsuv(&mut layer, &zeros, 0.1, 10);
        assert_eq!((step.variance, step.iterations), (0.0, 0));
    }

    #[test]
    #[should_panic(expected = "lsuv: the layer has no parameter named `weight`")]
    fn a_layer_without_weights_is_refused() {
        let x = Tensor::<f64>::ones(&[4, 3]);
        lsuv(&mut Tanh, &x, 0.1, 10);
    }
}
