//! `BatchNorm2d` (Ioffe & Szegedy 2015): normalise each channel with the
//! batch's statistics in training and running averages in evaluation; and
//! its functional form [`batch_norm`].

use crate::module::Module;
use crate::param::{visit_weight_bias, visit_weight_bias_mut, Param};
use std::cell::{Cell, RefCell};
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// The statistics [`batch_norm`] normalises with.
#[derive(Clone, Copy, Debug)]
pub enum NormStats<'a, E: Float> {
    /// The batch's own mean and biased variance (training).
    Batch,
    /// Given per-channel `[C]` mean and variance (evaluation, running stats).
    Fixed {
        /// Per-channel mean.
        mean: &'a Tensor<E>,
        /// Per-channel variance.
        var: &'a Tensor<E>,
    },
}

/// Per-channel normalisation of `x: [N, C, ..]` (PyTorch's `F.batch_norm`):
///
/// `y = (x - μ_c) / √(σ²_c + eps) · weight_c + bias_c`
///
/// With [`NormStats::Batch`], `μ_c` and the biased variance
/// `σ²_c = mean((x - μ_c)²)` are taken over every axis but 1 and are part of
/// the graph (gradients flow through them, as in training); with
/// [`NormStats::Fixed`] they are constants. `weight` and `bias` are `[C]`.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::{batch_norm, NormStats};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// // Two samples, one channel of two pixels: values 1, 3 and 5, 7.
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 3.0, 5.0, 7.0], &[2, 1, 2]));
/// // Batch mean 4, biased variance 5: (x - 4) / √5.
/// let y = batch_norm(x, None, None, NormStats::Batch, 0.0).value().to_vec();
/// let s = 5f64.sqrt();
/// assert_eq!(y, vec![-3.0 / s, -1.0 / s, 1.0 / s, 3.0 / s]);
/// let (mean, var) = (Tensor::from_vec(vec![1.0], &[1]), Tensor::from_vec(vec![4.0], &[1]));
/// let y = batch_norm(x, None, None, NormStats::Fixed { mean: &mean, var: &var }, 0.0);
/// assert_eq!(y.value().to_vec(), vec![0.0, 1.0, 2.0, 3.0]); // (x - 1) / 2
/// ```
///
/// # Panics
/// If `x` has fewer than 2 axes, `weight`, `bias` or the fixed statistics
/// are not `[C]`, or batch statistics are asked of a single value per
/// channel (as PyTorch).
#[track_caller]
pub fn batch_norm<'t, E: Float>(
    x: Var<'t, E>,
    weight: Option<Var<'t, E>>,
    bias: Option<Var<'t, E>>,
    stats: NormStats<'_, E>,
    eps: f64,
) -> Var<'t, E> {
    let s = x.shape();
    if s.len() < 2 {
        panic!("batch_norm: expected an input [N, C, ..], got {s:?}");
    }
    let c = s[1];
    let mut channel_shape = vec![1; s.len()];
    channel_shape[1] = c;
    let per_channel = |name: &str, shape: &[usize]| {
        if shape != [c] {
            panic!("batch_norm: {name} has shape {shape:?}, expected [{c}] for input {s:?}");
        }
    };
    let axes: Vec<isize> = (0..s.len() as isize).filter(|&a| a != 1).collect();
    let y = match stats {
        NormStats::Batch => {
            if s.iter().product::<usize>() <= c {
                panic!("batch_norm: expected more than 1 value per channel in training, got input {s:?}");
            }
            let centered = x - x.mean_keepdim(&axes);
            let var = centered.square().mean_keepdim(&axes);
            centered * (var + eps).powf(-0.5)
        }
        NormStats::Fixed { mean, var } => {
            per_channel("the mean", mean.shape());
            per_channel("the variance", var.shape());
            let scale = var.add_scalar(eps).powf(-0.5).reshape(&channel_shape);
            let mean = x.constant_like(mean.reshape(&channel_shape));
            (x - mean) * x.constant_like(scale)
        }
    };
    let y = weight.map_or(y, |w| {
        per_channel("the weight", &w.shape());
        y * w.reshape(&channel_shape)
    });
    bias.map_or(y, |b| {
        per_channel("the bias", &b.shape());
        y + b.reshape(&channel_shape)
    })
}

/// Batch normalisation of `[N, C, H, W]` images per channel ([`batch_norm`]),
/// as PyTorch's `nn.BatchNorm2d` (eps 1e-5, momentum 0.1, affine, tracking
/// running statistics; a new layer is in training mode).
///
/// - Training: normalises with the batch's mean and biased variance over
///   `N, H, W`, and updates the running statistics (buffers, not
///   parameters: they get no gradient and optimisers do not see them) with
///   the unbiased variance:
///   `running_mean = (1 - momentum) running_mean + momentum μ`,
///   `running_var = (1 - momentum) running_var + momentum σ² n / (n - 1)`,
///   `n = N H W`.
/// - Evaluation ([`set_training(false)`](Module::set_training)): normalises
///   with the running statistics, which stay fixed.
///
/// Parameters: `"weight"` (initially 1) and `"bias"` (initially 0), `[C]`.
///
/// Buffers ([`visit_buffers`](Module::visit_buffers), so they are in the
/// [`state_dict`](Module::state_dict) and travel with checkpoints, as in
/// PyTorch): `"running_mean"` and `"running_var"`, `[C]`, and
/// `"num_batches_tracked"`, the number of training batches seen, a 0-d
/// tensor. PyTorch keeps that count as an `int64`; here it is a 0-d tensor
/// of `E`, because checkpoints hold `F32`/`F64` only. It is exact up to
/// 2^24 batches in `f32` (2^53 in `f64`), and only informational: the
/// running statistics use the fixed momentum, never the count. PyTorch
/// loads such a file as is (`load_state_dict` copies the float into its
/// `int64` buffer); a state dict written by PyTorch needs the count made a
/// float first (`sd[k] = v.float()` for `k` ending in
/// `num_batches_tracked`), or its `I64` tensor is refused by name. A loaded
/// count is rounded to the nearest integer (negative or NaN to 0).
///
/// `visit_buffers_mut` panics if the visitor changes a buffer's shape
/// (`[C]`, `[C]` and `[]`), as [`Param::set`] does for a parameter;
/// [`Module::load_state_dict`] checks shapes before it writes anything.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::BatchNorm2d;
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let mut bn = BatchNorm2d::<f64>::new(1);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 3.0, 5.0, 7.0], &[2, 1, 1, 2]));
/// let y = bn.forward(x); // training: batch statistics
/// assert!(y.mean_all().item().abs() < 1e-12);
/// // mean 4, unbiased variance 20 / 3, blended in with momentum 0.1.
/// assert!((bn.running_mean().item() - 0.4).abs() < 1e-12);
/// assert!((bn.running_var().item() - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-12);
/// bn.set_training(false);
/// let y = bn.forward(x); // evaluation: running statistics
/// let expect = (1.0 - 0.4) / (bn.running_var().item() + 1e-5).sqrt();
/// assert!((y.value().get(&[0, 0, 0, 0]) - expect).abs() < 1e-12);
///
/// let buffers = bn.named_buffers();
/// let names: Vec<&str> = buffers.iter().map(|(name, _)| name.as_str()).collect();
/// assert_eq!(names, ["running_mean", "running_var", "num_batches_tracked"]);
/// assert_eq!(buffers[2].1.shape(), &[] as &[usize]);
/// assert_eq!(buffers[2].1.item(), 1.0); // one training batch, as a 0-d f64
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm2d<E: Float = f32> {
    eps: f64,
    momentum: f64,
    weight: Option<Param<E>>,
    bias: Option<Param<E>>,
    running_mean: RefCell<Tensor<E>>,
    running_var: RefCell<Tensor<E>>,
    num_batches_tracked: Cell<usize>,
    training: bool,
}

impl<E: Float> BatchNorm2d<E> {
    /// `num_features` channels, eps 1e-5, momentum 0.1, with the affine
    /// weight and bias.
    pub fn new(num_features: usize) -> Self {
        Self::with_options(num_features, 1e-5, 0.1, true)
    }

    /// Chooses eps, the momentum of the running statistics and whether there
    /// is an affine weight and bias.
    ///
    /// # Panics
    /// If `eps` is negative, infinite or NaN, or `momentum` is not in `[0, 1]`.
    #[track_caller]
    pub fn with_options(num_features: usize, eps: f64, momentum: f64, affine: bool) -> Self {
        if !eps.is_finite() || eps < 0.0 || !(0.0..=1.0).contains(&momentum) {
            panic!("BatchNorm2d: needs eps finite and >= 0 and momentum in [0, 1], got {eps} and {momentum}");
        }
        let c = [num_features];
        BatchNorm2d {
            eps,
            momentum,
            weight: affine.then(|| Param::new(Tensor::ones(&c))),
            bias: affine.then(|| Param::new(Tensor::zeros(&c))),
            running_mean: RefCell::new(Tensor::zeros(&c)),
            running_var: RefCell::new(Tensor::ones(&c)),
            num_batches_tracked: Cell::new(0),
            training: true,
        }
    }

    /// Number of channels.
    pub fn num_features(&self) -> usize {
        self.running_mean.borrow().numel()
    }

    /// The eps added to the variance.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The running mean `[C]`.
    pub fn running_mean(&self) -> Tensor<E> {
        self.running_mean.borrow().clone()
    }

    /// The running (unbiased) variance `[C]`.
    pub fn running_var(&self) -> Tensor<E> {
        self.running_var.borrow().clone()
    }

    /// Number of training batches seen.
    pub fn num_batches_tracked(&self) -> usize {
        self.num_batches_tracked.get()
    }

    /// The count as the 0-d buffer `"num_batches_tracked"`.
    fn count_buffer(&self) -> Tensor<E> {
        Tensor::scalar(E::from_f64(self.num_batches_tracked.get() as f64))
    }

    /// Replaces the running statistics (loading a checkpoint).
    ///
    /// # Panics
    /// If either is not `[C]`.
    #[track_caller]
    pub fn set_running_stats(&mut self, mean: Tensor<E>, var: Tensor<E>) {
        let c = self.num_features();
        if mean.shape() != [c] || var.shape() != [c] {
            panic!(
                "BatchNorm2d: running stats must be [{c}], got {:?} and {:?}",
                mean.shape(),
                var.shape()
            );
        }
        self.running_mean.replace(mean);
        self.running_var.replace(var);
    }

    /// True in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Blends the batch statistics of `x` into the running ones.
    fn update_running_stats(&self, x: &Tensor<E>) {
        let n = x.numel() / x.shape()[1];
        let axes = [0, 2, 3];
        let mean = x.mean(&axes);
        let var = x
            .var_with_correction(&axes, 0)
            .mul_scalar(n as f64 / (n - 1) as f64);
        let m = self.momentum;
        let blend =
            |old: &Tensor<E>, new: &Tensor<E>| old.mul_scalar(1.0 - m).add(&new.mul_scalar(m));
        let new_mean = blend(&self.running_mean.borrow(), &mean);
        let new_var = blend(&self.running_var.borrow(), &var);
        self.running_mean.replace(new_mean);
        self.running_var.replace(new_var);
        self.num_batches_tracked
            .set(self.num_batches_tracked.get() + 1);
    }
}

impl<E: Float> Module<E> for BatchNorm2d<E> {
    /// Normalises `x: [N, C, H, W]`; in training also updates the running
    /// statistics.
    ///
    /// # Panics
    /// If `x` is not `[N, C, H, W]` with this layer's `C`, or (training) has
    /// one value per channel.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        let s = x.shape();
        if s.len() != 4 || s[1] != self.num_features() {
            panic!(
                "BatchNorm2d: expected an input [N, {}, H, W], got {s:?}",
                self.num_features()
            );
        }
        let tape = x.tape();
        let weight = self.weight.as_ref().map(|w| w.bind(tape));
        let bias = self.bias.as_ref().map(|b| b.bind(tape));
        if self.training {
            let y = batch_norm(x, weight, bias, NormStats::Batch, self.eps);
            self.update_running_stats(&x.value());
            return y;
        }
        let (mean, var) = (self.running_mean(), self.running_var());
        let stats = NormStats::Fixed {
            mean: &mean,
            var: &var,
        };
        batch_norm(x, weight, bias, stats, self.eps)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        visit_weight_bias(self.weight.as_ref(), self.bias.as_ref(), f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        visit_weight_bias_mut(self.weight.as_mut(), self.bias.as_mut(), f);
    }

    fn visit_buffers(&self, f: &mut dyn FnMut(&str, &Tensor<E>)) {
        // Clones share storage; no `RefCell` borrow is held while `f` runs.
        f("running_mean", &self.running_mean());
        f("running_var", &self.running_var());
        f("num_batches_tracked", &self.count_buffer());
    }

    fn visit_buffers_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor<E>)) {
        let c = [self.num_features()];
        for (name, stat) in [
            ("running_mean", &mut self.running_mean),
            ("running_var", &mut self.running_var),
        ] {
            f(name, stat.get_mut());
            keep_shape(name, stat.get_mut().shape(), &c);
        }
        let mut count = self.count_buffer();
        f("num_batches_tracked", &mut count);
        keep_shape("num_batches_tracked", count.shape(), &[]);
        // `as` saturates: negative and NaN become 0.
        self.num_batches_tracked
            .set(count.item().to_f64().round() as usize);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn describe(&self) -> String {
        format!("BatchNorm2d({}, eps={})", self.num_features(), self.eps)
    }
}

/// Panics if a buffer visitor left `name` with another shape than `expected`.
fn keep_shape(name: &str, shape: &[usize], expected: &[usize]) {
    if shape != expected {
        panic!("BatchNorm2d: buffer '{name}' must keep shape {expected:?}, was given {shape:?}");
    }
}
