//! `LayerNorm` (Ba, Kiros & Hinton 2016): normalise over the trailing
//! axes, then scale and shift; and its functional form [`layer_norm`].

use crate::module::Module;
use crate::param::{visit_weight_bias, visit_weight_bias_mut, Param};
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// Layer normalisation over the last `normalized_ndim` axes of `x`:
///
/// `y = (x - μ) / √(σ² + eps) ⊙ weight + bias`
///
/// with `μ` and the biased variance `σ² = mean((x - μ)²)` taken over those
/// axes for each leading index (as PyTorch's `F.layer_norm`). `weight` and
/// `bias`, if given, have the shape of the normalised axes. Built from
/// differentiable ops, so it has first and second derivatives.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::layers::layer_norm;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 3.0, 10.0, 20.0], &[2, 2]));
/// let y = layer_norm(x, 1, None, None, 0.0).value().to_vec();
/// assert_eq!(y, vec![-1.0, 1.0, -1.0, 1.0]); // each row: mean 0, variance 1
/// ```
///
/// # Panics
/// If `x` has fewer than `normalized_ndim` axes, or `weight`/`bias` do not
/// have the shape of the normalised axes.
#[track_caller]
pub fn layer_norm<'t, E: Float>(
    x: Var<'t, E>,
    normalized_ndim: usize,
    weight: Option<Var<'t, E>>,
    bias: Option<Var<'t, E>>,
    eps: f64,
) -> Var<'t, E> {
    let shape = x.shape();
    if normalized_ndim == 0 || normalized_ndim > shape.len() {
        panic!("layer_norm: cannot normalise the last {normalized_ndim} axes of an input of shape {shape:?}");
    }
    let trailing = &shape[shape.len() - normalized_ndim..];
    for (name, v) in [("weight", weight), ("bias", bias)] {
        if let Some(v) = v {
            if v.shape().as_slice() != trailing {
                panic!("layer_norm: {name} has shape {:?}, the normalised axes of {shape:?} are {trailing:?}", v.shape());
            }
        }
    }
    let axes: Vec<isize> = (1..=normalized_ndim as isize).map(|a| -a).collect();
    let centered = x - x.mean_keepdim(&axes);
    let var = centered.square().mean_keepdim(&axes);
    let y = centered * (var + eps).powf(-0.5);
    let y = weight.map_or(y, |w| y * w);
    bias.map_or(y, |b| y + b)
}

/// Layer normalisation over the trailing axes `normalized_shape`
/// ([`layer_norm`]), with a learnable elementwise `weight` (initially 1)
/// and `bias` (initially 0), as PyTorch's `nn.LayerNorm` (eps 1e-5).
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::{layers::LayerNorm, Module};
/// use tapegrad_tensor::Tensor;
///
/// let ln = LayerNorm::<f64>::new(&[4]);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]));
/// let y = ln.forward(x);
/// assert!(y.mean_all().item().abs() < 1e-12);
/// assert_eq!(ln.describe(), "LayerNorm([4], eps=0.00001)");
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm<E: Float = f32> {
    normalized_shape: Vec<usize>,
    eps: f64,
    weight: Option<Param<E>>,
    bias: Option<Param<E>>,
}

impl<E: Float> LayerNorm<E> {
    /// Normalises over the trailing axes `normalized_shape`, eps 1e-5, with
    /// an elementwise affine transform.
    #[track_caller]
    pub fn new(normalized_shape: &[usize]) -> Self {
        Self::with_options(normalized_shape, 1e-5, true)
    }

    /// Chooses `eps` and whether there is an elementwise affine transform.
    ///
    /// # Panics
    /// If `normalized_shape` is empty or `eps` is negative, infinite or NaN.
    #[track_caller]
    pub fn with_options(normalized_shape: &[usize], eps: f64, elementwise_affine: bool) -> Self {
        if normalized_shape.is_empty() || !eps.is_finite() || eps < 0.0 {
            panic!("LayerNorm: needs a non-empty normalized_shape and a finite eps >= 0, got {normalized_shape:?} and {eps}");
        }
        LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            eps,
            weight: elementwise_affine.then(|| Param::new(Tensor::ones(normalized_shape))),
            bias: elementwise_affine.then(|| Param::new(Tensor::zeros(normalized_shape))),
        }
    }

    /// The shape of the normalised trailing axes.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }

    /// The `eps` added to the variance.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The scale (`None` without an affine transform).
    pub fn weight(&self) -> Option<&Param<E>> {
        self.weight.as_ref()
    }

    /// The shift (`None` without an affine transform).
    pub fn bias(&self) -> Option<&Param<E>> {
        self.bias.as_ref()
    }
}

impl<E: Float> Module<E> for LayerNorm<E> {
    /// [`layer_norm`] over the trailing axes.
    ///
    /// # Panics
    /// If the trailing axes of `x` are not `normalized_shape`.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        let shape = x.shape();
        let k = self.normalized_shape.len();
        if shape.len() < k || shape[shape.len() - k..] != self.normalized_shape[..] {
            panic!(
                "LayerNorm: input {shape:?} does not end in the normalised shape {:?}",
                self.normalized_shape
            );
        }
        let tape = x.tape();
        let weight = self.weight.as_ref().map(|w| w.bind(tape));
        let bias = self.bias.as_ref().map(|b| b.bind(tape));
        layer_norm(x, k, weight, bias, self.eps)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        visit_weight_bias(self.weight.as_ref(), self.bias.as_ref(), f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        visit_weight_bias_mut(self.weight.as_mut(), self.bias.as_mut(), f);
    }

    fn describe(&self) -> String {
        let affine = if self.weight.is_none() {
            ", no affine"
        } else {
            ""
        };
        format!(
            "LayerNorm({:?}, eps={}{affine})",
            self.normalized_shape, self.eps
        )
    }
}
