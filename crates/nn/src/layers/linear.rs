//! `Linear`: the affine map `y = x Wᵀ + b` over the last axis, and its
//! functional form [`linear`].

use crate::init::{self, Init};
use crate::module::Module;
use crate::param::{bind_weight_bias, visit_weight_bias, visit_weight_bias_mut, Param};
use rand::Rng;
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// `y = x Wᵀ + b` on the last axis of `x`, with the weight `[out, in]` and
/// the optional bias `[out]` given as vars (PyTorch's `F.linear`).
///
/// `x` is `[.., in]` and `y` is `[.., out]`; leading axes are batch axes
/// (folded into one for the product, so the weight is never broadcast).
/// Gradients: `∂L/∂x = g W`, `∂L/∂W = gᵀ x` (summed over the batch axes),
/// `∂L/∂b = Σ g`.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::layers::linear;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
/// let w = tape.var(Tensor::from_vec(vec![1.0, 0.0, 3.0, -1.0], &[2, 2]));
/// let b = tape.var(Tensor::from_vec(vec![0.5, 0.5], &[2]));
/// // [1, 2] · [[1, 3], [0, -1]] + 0.5 = [1.5, 1.5]
/// assert_eq!(linear(x, w, Some(b)).value().to_vec(), vec![1.5, 1.5]);
/// ```
///
/// # Panics
/// If `x` is 0-D, the weight is not 2-D, the sizes disagree, or the bias
/// is not `[out]` (or one element):
/// `linear: input [4, 3] does not match weight [5, 2] (expects [.., 2])`.
#[track_caller]
pub fn linear<'t, E: Float>(
    x: Var<'t, E>,
    weight: Var<'t, E>,
    bias: Option<Var<'t, E>>,
) -> Var<'t, E> {
    let (xs, ws) = (x.shape(), weight.shape());
    if ws.len() != 2 || xs.is_empty() || xs[xs.len() - 1] != ws[1] {
        let expect = ws
            .get(1)
            .map_or("a 2-D weight".to_string(), |k| format!("[.., {k}]"));
        panic!("linear: input {xs:?} does not match weight {ws:?} (expects {expect})");
    }
    if let Some(b) = bias {
        let bs = b.shape();
        if !matches!(bs.as_slice(), [] | [1]) && bs.as_slice() != [ws[0]] {
            panic!(
                "linear: bias {bs:?} does not match weight {ws:?} (expects [{}])",
                ws[0]
            );
        }
    }
    // One `addmm` node (the bias added in the product's own pass) when
    // there is a bias; leading batch axes are folded into the rows.
    let product = |x2: Var<'t, E>| match bias {
        Some(b) => b.addmm(x2, weight.t()),
        None => x2.matmul(weight.t()),
    };
    if xs.len() > 2 {
        let rows = xs[..xs.len() - 1].iter().product();
        let mut out_shape = xs.clone();
        *out_shape.last_mut().expect("non-empty") = ws[0];
        product(x.reshape(&[rows, ws[1]])).reshape(&out_shape)
    } else if xs.len() == 1 {
        // A single example `[in]`: a row, and back.
        product(x.unsqueeze(0)).squeeze(0)
    } else {
        product(x)
    }
}

/// A fully connected layer: `y = x Wᵀ + b`, weight `[out, in]`, bias `[out]`.
///
/// The default initialisation is PyTorch's (`reset_parameters`): the weight
/// from `kaiming_uniform` with `a = √5`, which is `U(-1/√in, 1/√in)`
/// ([`Init::PYTORCH_DEFAULT`]), and the bias from `U(-1/√in, 1/√in)`.
/// Parameters are named `"weight"` and `"bias"`.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::{layers::Linear, Module};
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let fc = Linear::new(3, 2, &mut rng);
/// let tape = Tape::<f32>::new();
/// let y = fc.forward(tape.constant(Tensor::ones(&[4, 3])));
/// assert_eq!(y.shape().as_slice(), &[4, 2]);
/// assert_eq!(fc.describe(), "Linear(3 -> 2)");
/// ```
#[derive(Clone, Debug)]
pub struct Linear<E: Float = f32> {
    weight: Param<E>,
    bias: Option<Param<E>>,
}

impl<E: Float> Linear<E> {
    /// `in_features -> out_features` with PyTorch's default initialisation.
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        let weight = Init::PYTORCH_DEFAULT.tensor(&[out_features, in_features], rng);
        let bound = if in_features > 0 {
            1.0 / (in_features as f64).sqrt()
        } else {
            0.0
        };
        let bias = init::uniform(&[out_features], -bound, bound, rng);
        Self::from_tensors(weight, Some(bias))
    }

    /// `in_features -> out_features` with the weight drawn from `weight_init`
    /// and, if `bias` is set, a zero bias (the usual companion of Xavier,
    /// Kaiming or orthogonal weights).
    #[track_caller]
    pub fn with_init(
        in_features: usize,
        out_features: usize,
        weight_init: Init,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let weight = weight_init.tensor(&[out_features, in_features], rng);
        Self::from_tensors(weight, bias.then(|| Tensor::zeros(&[out_features])))
    }

    /// A layer with the given weight `[out, in]` and bias `[out]`.
    ///
    /// # Panics
    /// If the weight is not 2-D or the bias is not `[out]`.
    #[track_caller]
    pub fn from_tensors(weight: Tensor<E>, bias: Option<Tensor<E>>) -> Self {
        if weight.ndim() != 2 {
            panic!(
                "Linear: the weight must be [out, in], got {:?}",
                weight.shape()
            );
        }
        if let Some(b) = &bias {
            if b.shape() != [weight.shape()[0]] {
                panic!(
                    "Linear: the bias must be [{}], got {:?}",
                    weight.shape()[0],
                    b.shape()
                );
            }
        }
        Linear {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
        }
    }

    /// Number of input features.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Number of output features.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The weight `[out, in]`.
    pub fn weight(&self) -> &Param<E> {
        &self.weight
    }

    /// The bias `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Param<E>> {
        self.bias.as_ref()
    }
}

impl<E: Float> Module<E> for Linear<E> {
    /// `x Wᵀ + b` for `x` of shape `[.., in]` ([`linear`]).
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        let (weight, bias) = bind_weight_bias(&self.weight, self.bias.as_ref(), x.tape());
        linear(x, weight, bias)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        visit_weight_bias(Some(&self.weight), self.bias.as_ref(), f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        visit_weight_bias_mut(Some(&mut self.weight), self.bias.as_mut(), f);
    }

    fn describe(&self) -> String {
        let no_bias = if self.bias.is_none() { ", no bias" } else { "" };
        format!(
            "Linear({} -> {}{no_bias})",
            self.in_features(),
            self.out_features()
        )
    }
}
