//! `FlowReport`: per-layer activation and gradient statistics of one
//! forward + backward pass, per-parameter gradient statistics, and the
//! update-to-weight ratio of an optimiser step.

use super::probe::FlowProbe;
use super::verdict::{judge, Thresholds, Verdict};
use crate::module::Module;
use tapegrad_autodiff::Gradients;
use tapegrad_tensor::{Float, Tensor};

/// Statistics of one tapped layer output.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStats {
    /// Tap name.
    pub name: String,
    /// Op that produced the output (`"relu"`, `"tanh"`, `"add"`, ...).
    pub op: &'static str,
    /// Mean of the activations.
    pub act_mean: f64,
    /// Standard deviation of the activations (population).
    pub act_std: f64,
    /// Fraction of saturated outputs: sigmoid below 0.01 or above 0.99,
    /// tanh with |y| > 0.99; `None` for other ops.
    pub saturated: Option<f64>,
    /// Fraction of dead ReLU units (zero for every sample of the batch);
    /// `None` for other ops.
    pub dead: Option<f64>,
    /// L2 norm of the gradient of the loss with respect to this output
    /// (the next layer's input); `None` if no gradient flowed.
    pub grad_norm: Option<f64>,
    /// Root mean square of that gradient (`norm / sqrt(elements)`), which
    /// compares layers of different widths.
    pub grad_rms: Option<f64>,
}

/// Statistics of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamStats {
    /// Dotted parameter name.
    pub name: String,
    /// L2 norm of the weights.
    pub weight_norm: f64,
    /// L2 norm of the gradient (0 if none flowed).
    pub grad_norm: f64,
    /// Standard deviation of the gradient's elements.
    pub grad_std: f64,
    /// `‖Δw‖ / ‖w‖` of the last optimiser step, once recorded (`None` while
    /// unrecorded, or when `‖w‖ = 0`).
    pub update_ratio: Option<f64>,
}

/// Gradient flow through a model after one forward and backward pass.
#[derive(Clone, Debug)]
pub struct FlowReport {
    /// One row per tapped layer, input side first.
    pub layers: Vec<LayerStats>,
    /// One row per parameter.
    pub params: Vec<ParamStats>,
    /// Vanishing / exploding verdict over the layers.
    pub verdict: Verdict,
}

/// Sum of squares, mean and count of a tensor's elements, in f64.
fn moments<E: Float>(t: &Tensor<E>) -> (f64, f64, usize) {
    let v = t.to_f64_vec();
    let n = v.len().max(1);
    let mean = v.iter().sum::<f64>() / n as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt(), v.len())
}

fn l2<E: Float>(t: &Tensor<E>) -> f64 {
    t.to_f64_vec().iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Fraction of elements that are saturated for this op, if it saturates.
fn saturation(op: &str, values: &[f64]) -> Option<f64> {
    let hit = |f: &dyn Fn(f64) -> bool| {
        values.iter().filter(|&&v| f(v)).count() as f64 / values.len().max(1) as f64
    };
    match op {
        "sigmoid" => Some(hit(&|v| !(0.01..=0.99).contains(&v))),
        "tanh" => Some(hit(&|v| v.abs() > 0.99)),
        _ => None,
    }
}

/// Fraction of ReLU units (positions after the batch axis) that are zero
/// for every sample.
fn dead_units<E: Float>(op: &str, t: &Tensor<E>) -> Option<f64> {
    if op != "relu" || t.ndim() == 0 {
        return None;
    }
    let per_unit = t.abs().max(&[0]).to_f64_vec();
    Some(per_unit.iter().filter(|&&m| m == 0.0).count() as f64 / per_unit.len().max(1) as f64)
}

impl LayerStats {
    fn of<E: Float>(
        name: &str,
        op: &'static str,
        value: &Tensor<E>,
        grad: Option<&Tensor<E>>,
    ) -> LayerStats {
        let (act_mean, act_std, _) = moments(value);
        let grad_norm = grad.map(l2);
        let grad_rms = grad.map(|g| l2(g) / (g.numel().max(1) as f64).sqrt());
        LayerStats {
            name: name.to_string(),
            op,
            act_mean,
            act_std,
            saturated: saturation(op, &value.to_f64_vec()),
            dead: dead_units(op, value),
            grad_norm,
            grad_rms,
        }
    }
}

impl FlowReport {
    /// Reads the probe's taps (values and hooked gradients) and the model's
    /// parameter gradients, and judges the flow with `thresholds`.
    pub fn collect<E: Float, M: Module<E> + ?Sized>(
        probe: &FlowProbe<'_, E>,
        model: &M,
        grads: &Gradients<E>,
        thresholds: &Thresholds,
    ) -> FlowReport {
        let layers: Vec<LayerStats> = probe
            .taps()
            .iter()
            .map(|tap| {
                LayerStats::of(
                    &tap.name,
                    tap.var.op_name(),
                    &tap.var.value(),
                    tap.grad.borrow().as_ref(),
                )
            })
            .collect();
        let mut params = Vec::new();
        model.visit_params(&mut |name, p| {
            let g = p
                .grad(grads)
                .cloned()
                .unwrap_or_else(|| Tensor::zeros(p.shape()));
            params.push(ParamStats {
                name: name.to_string(),
                weight_norm: l2(p.value()),
                grad_norm: l2(&g),
                grad_std: moments(&g).1,
                update_ratio: None,
            });
        });
        let verdict = judge(&layers, thresholds);
        FlowReport {
            layers,
            params,
            verdict,
        }
    }

    /// Records `‖Δw‖ / ‖w‖` for each parameter, from its values `before` a
    /// step (as from [`Module::named_parameters`]) and the model after it.
    pub fn record_update<E: Float, M: Module<E> + ?Sized>(
        &mut self,
        before: &[(String, Tensor<E>)],
        model: &M,
    ) {
        let mut after = std::collections::HashMap::new();
        model.visit_params(&mut |name, p| {
            after.insert(name.to_string(), p.value().clone());
        });
        for (stats, (name, old)) in self.params.iter_mut().zip(before) {
            if let Some(new) = after.get(name) {
                // Undefined for a zero weight (zero init): left as `None`.
                let norm = l2(old);
                stats.update_ratio = (norm > 0.0).then(|| l2(&new.sub(old)) / norm);
            }
        }
    }
}
