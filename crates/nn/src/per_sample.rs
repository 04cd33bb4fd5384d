//! Per-sample gradients of a model: the gradient of each example's loss
//! with respect to every parameter, as tensors with a leading batch axis
//! (what differential privacy clips, and what gradient-noise and
//! gradient-diversity studies look at), in one forward and one backward
//! pass (see [`tapegrad_autodiff::per_sample_grads`]), and the reference
//! loop over single-example passes it must agree with.
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_nn::loss::cross_entropy_each;
//! use tapegrad_nn::per_sample::{loss_fn, per_sample_grads, per_sample_grads_by_loop};
//! use tapegrad_nn::{Linear, Module, ReLU, Sequential};
//! use tapegrad_tensor::Tensor;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model = Sequential::<f64>::new().add(Linear::new(4, 8, &mut rng)).add(ReLU).add(Linear::new(8, 3, &mut rng));
//! let x = Tensor::rand_normal(&[5, 4], 0.0, 1.0, &mut rng);
//! let labels = [0, 2, 1, 1, 0];
//! let loss = loss_fn(|out, rows| cross_entropy_each(out, &labels[rows]));
//! let fast = per_sample_grads(&model, &x, loss).unwrap();
//! let slow = per_sample_grads_by_loop(&model, &x, loss);
//! assert_eq!(fast[0].0, "0.weight");
//! assert_eq!(fast[0].1.shape(), &[5, 8, 4]); // [batch] ++ weight shape
//! assert!(fast[0].1.allclose(&slow[0].1, 1e-12, 1e-14));
//! ```

use crate::module::Module;
use std::ops::Range;
use tapegrad_autodiff::{PerSampleError, Tape, Var};
use tapegrad_tensor::{Float, Tensor};

/// Gives a closure the signature the functions here take (as
/// `tapegrad_autodiff::check_fn` does for gradcheck), so it can be stored
/// in a `let` and passed to several of them.
pub fn loss_fn<E: Float, F>(f: F) -> F
where
    F: for<'t> Fn(Var<'t, E>, Range<usize>) -> Var<'t, E>,
{
    f
}

/// Each parameter's per-sample gradients, by name (`"0.weight"`), shape
/// `[B] ++ param.shape`, in the model's visiting order.
pub type PerSampleGrads<E> = Vec<(String, Tensor<E>)>;

/// The gradient of each example's loss with respect to every parameter of
/// `model`, for the batch `inputs` (examples along axis 0), in one pass.
///
/// `loss(output, rows)` returns the per-example losses (shape `[rows.len()]`)
/// of the model's output for examples `rows` of the batch (here all of
/// them), e.g. [`cross_entropy_each`](crate::loss::cross_entropy_each).
///
/// # Errors
/// [`PerSampleError::MixesBatch`] if the model mixes examples (a batch norm
/// in training mode), naming the op.
pub fn per_sample_grads<E: Float, M: Module<E> + ?Sized, F>(
    model: &M,
    inputs: &Tensor<E>,
    loss: F,
) -> Result<PerSampleGrads<E>, PerSampleError>
where
    F: for<'t> Fn(Var<'t, E>, Range<usize>) -> Var<'t, E>,
{
    let batch = inputs.shape().first().copied().unwrap_or(0);
    let tape = Tape::new();
    let losses = loss(model.forward(tape.constant(inputs.clone())), 0..batch);
    let mut names = Vec::new();
    let mut vars = Vec::new();
    let mut unused = Vec::new();
    model.visit_params(&mut |name, p| match p.bound(&tape) {
        Some(v) => {
            names.push(name.to_string());
            vars.push(v);
        }
        None => unused.push((name.to_string(), p.shape().to_vec())),
    });
    let grads = tapegrad_autodiff::per_sample_grads(losses, &vars)?;
    let mut out: PerSampleGrads<E> = names.into_iter().zip(grads).collect();
    for (name, shape) in unused {
        let full: Vec<usize> = std::iter::once(batch).chain(shape).collect();
        out.push((name, Tensor::zeros(&full)));
    }
    // The model's visiting order.
    let mut order = Vec::new();
    model.visit_params(&mut |name, _| order.push(name.to_string()));
    out.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
    Ok(out)
}

/// The same, by one forward and backward pass per example: the slow,
/// obviously right reference.
pub fn per_sample_grads_by_loop<E: Float, M: Module<E> + ?Sized, F>(
    model: &M,
    inputs: &Tensor<E>,
    loss: F,
) -> PerSampleGrads<E>
where
    F: for<'t> Fn(Var<'t, E>, Range<usize>) -> Var<'t, E>,
{
    let batch = inputs.shape().first().copied().unwrap_or(0);
    let mut rows: Vec<(String, Vec<Tensor<E>>)> = Vec::new();
    model.visit_params(&mut |name, _| rows.push((name.to_string(), Vec::new())));
    for b in 0..batch {
        let tape = Tape::new();
        let x = tape.constant(inputs.narrow(0, b, 1).contiguous());
        let l = loss(model.forward(x), b..b + 1).sum_all();
        let grads = l.backward();
        let mut i = 0;
        model.visit_params(&mut |_, p| {
            rows[i].1.push(
                p.grad(&grads)
                    .cloned()
                    .unwrap_or_else(|| Tensor::zeros(p.shape())),
            );
            i += 1;
        });
    }
    rows.into_iter()
        .map(|(name, gs)| {
            let refs: Vec<&Tensor<E>> = gs.iter().collect();
            (name, Tensor::stack(&refs, 0))
        })
        .collect()
}
