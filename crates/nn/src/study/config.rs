//! The grid of the initialisation study: activations, initialisations,
//! depths, and the deep MLPs built from them.

use crate::init::{lsuv, FanMode, Init, Nonlinearity};
use crate::layers::{LayerNorm, Linear, ReLU, Residual, Sigmoid, Tanh};
use crate::module::{Module, Sequential};
use rand::Rng;
use std::fmt;
use std::str::FromStr;
use tapegrad_autodiff::Tape;
use tapegrad_tensor::{Float, Tensor};

/// The hidden-layer nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Logistic sigmoid: saturates at 0 and 1, derivative at most 1/4.
    Sigmoid,
    /// tanh: saturates at ±1, derivative 1 at 0.
    Tanh,
    /// ReLU: passes half of a symmetric input, zeroes the rest.
    ReLU,
}

/// A weight initialisation of the study (biases always start at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// All weights 0: every unit of a layer computes the same thing forever.
    Zeros,
    /// N(0, 1) ("plain random"): variance grows by `fan_in` per layer.
    Normal1,
    /// N(0, 0.01²) ("small random"): variance shrinks by `fan_in · 1e-4` per layer.
    Small,
    /// U(−1/√fan_in, 1/√fan_in): the "standard" initialisation of Glorot &
    /// Bengio (2010), and PyTorch's default for `nn.Linear`. Var w =
    /// 1 / (3 fan_in): a third of what keeps the forward variance.
    Standard,
    /// Glorot & Bengio (2010), normal: Var w = 2 / (fan_in + fan_out).
    Xavier,
    /// He et al. (2015), normal, fan-in: Var w = 2 / fan_in.
    He,
    /// Saxe et al. (2014): orthogonal weights, every singular value equal to
    /// the gain (1 for sigmoid and tanh, √2 for ReLU, the same correction as
    /// He's).
    Orthogonal,
    /// Mishkin & Matas (2016), LSUV: orthogonal as above, then each layer in
    /// turn rescaled so its pre-activation output has unit variance on a
    /// batch of the training data ([`lsuv`](crate::init::lsuv), tol 0.1, at
    /// most 10 rescalings, as in the paper).
    Lsuv,
}

/// What else the hidden blocks have besides their weights: the cures of
/// vanishing and exploding signals that are not initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cure {
    /// `h ← φ(W h + b)`: the plain MLP.
    Plain,
    /// `h ← h + φ(W h + b) / √depth` ([`Residual`]): an identity path
    /// around every hidden block whose input is as wide as its output (all
    /// but the first when the inputs differ in size), its branch scaled at
    /// initialisation as in Fixup and SkipInit so the variance stays
    /// bounded over any depth.
    Residual,
    /// `h ← φ(LayerNorm(W h + b))` (Ba et al. 2016): every pre-activation
    /// normalised to zero mean and unit variance over its units, whatever
    /// the weights' scale.
    LayerNorm,
}

impl Cure {
    /// All three, in table order.
    pub const ALL: [Cure; 3] = [Cure::Plain, Cure::Residual, Cure::LayerNorm];

    /// Lower-case name (`"residual"`).
    pub fn name(self) -> &'static str {
        match self {
            Cure::Plain => "plain",
            Cure::Residual => "residual",
            Cure::LayerNorm => "layernorm",
        }
    }
}

impl Activation {
    /// All three, in table order.
    pub const ALL: [Activation; 3] = [Activation::Sigmoid, Activation::Tanh, Activation::ReLU];

    /// Lower-case name (`"relu"`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::ReLU => "relu",
        }
    }
}

impl Scheme {
    /// All eight, in table order.
    pub const ALL: [Scheme; 8] = [
        Scheme::Zeros,
        Scheme::Normal1,
        Scheme::Small,
        Scheme::Standard,
        Scheme::Xavier,
        Scheme::He,
        Scheme::Orthogonal,
        Scheme::Lsuv,
    ];

    /// Short name (`"xavier"`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Zeros => "zeros",
            Scheme::Normal1 => "normal1",
            Scheme::Small => "small",
            Scheme::Standard => "standard",
            Scheme::Xavier => "xavier",
            Scheme::He => "he",
            Scheme::Orthogonal => "orthogonal",
            Scheme::Lsuv => "lsuv",
        }
    }

    /// The weight initialiser for layers followed by `activation` (LSUV: its
    /// orthogonal starting point, which [`MlpConfig::build`] then rescales).
    pub fn init(self, activation: Activation) -> Init {
        let orthogonal_gain = match activation {
            Activation::ReLU => 2f64.sqrt(),
            Activation::Sigmoid | Activation::Tanh => 1.0,
        };
        match self {
            Scheme::Zeros => Init::Zeros,
            Scheme::Normal1 => Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
            Scheme::Small => Init::Normal {
                mean: 0.0,
                std: 0.01,
            },
            Scheme::Standard => Init::PYTORCH_DEFAULT,
            Scheme::Xavier => Init::XavierNormal { gain: 1.0 },
            Scheme::He => Init::KaimingNormal {
                mode: FanMode::FanIn,
                nonlinearity: Nonlinearity::ReLU,
            },
            Scheme::Orthogonal | Scheme::Lsuv => Init::Orthogonal {
                gain: orthogonal_gain,
            },
        }
    }
}

macro_rules! parse_by_name {
    ($t:ty, $what:literal) => {
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.name()).collect();
                        format!(
                            "unknown {} `{s}`: expected one of {}",
                            $what,
                            names.join(", ")
                        )
                    })
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

parse_by_name!(Activation, "activation");
parse_by_name!(Scheme, "init");
parse_by_name!(Cure, "cure");

/// One deep MLP of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MlpConfig {
    /// Number of hidden layers (each Linear + activation).
    pub depth: usize,
    /// Units per hidden layer.
    pub width: usize,
    /// Hidden nonlinearity.
    pub activation: Activation,
    /// Weight initialisation (all layers, output layer included).
    pub scheme: Scheme,
    /// Residual connections or normalisation in the hidden blocks.
    pub cure: Cure,
}

impl fmt::Display for MlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.scheme, self.activation)?;
        if self.cure != Cure::Plain {
            write!(f, "+{}", self.cure)?;
        }
        write!(f, " d{} w{}", self.depth, self.width)
    }
}

/// LSUV's tolerance on the unit variance and its iteration limit, the
/// values of Mishkin & Matas (2016).
const LSUV_TOL: f64 = 0.1;
const LSUV_MAX_ITERS: usize = 10;

impl MlpConfig {
    /// `features -> [width]·depth -> classes` as a [`Sequential`] of blocks:
    /// each hidden block is `Sequential[Linear, activation]` (with a
    /// `LayerNorm` before the activation, or wrapped in a [`Residual`], as
    /// the [`Cure`] says) and the last
    /// child is the output `Linear`, so tapping the children of the model
    /// taps every hidden layer's output and the logits. Biases start at 0.
    ///
    /// `x` is a batch of inputs, `[batch, features]`: it gives the input
    /// size, and for [`Scheme::Lsuv`] the data each layer's output variance
    /// is measured on (every other scheme ignores its values).
    ///
    /// # Panics
    /// If `x` is not 2-D, or (for LSUV) has fewer than 2 rows.
    #[track_caller]
    pub fn build<E: Float>(
        &self,
        x: &Tensor<E>,
        classes: usize,
        rng: &mut impl Rng,
    ) -> Sequential<E> {
        let [rows, inputs] = x.shape()[..] else {
            panic!(
                "MlpConfig::build: inputs must be [batch, features], got shape {:?}",
                x.shape()
            );
        };
        let data_dependent = self.scheme == Scheme::Lsuv;
        if data_dependent && rows < 2 {
            panic!("MlpConfig::build: LSUV needs a batch of at least 2 inputs, got {rows}");
        }
        let init = self.scheme.init(self.activation);
        let mut model = Sequential::new();
        let mut fan_in = inputs;
        // The input of the layer being built (LSUV only).
        let mut h = x.clone();
        let mut linear = |fan_in, fan_out, h: &Tensor<E>| {
            let mut layer = Linear::with_init(fan_in, fan_out, init, true, rng);
            if data_dependent {
                lsuv(&mut layer, h, LSUV_TOL, LSUV_MAX_ITERS);
            }
            layer
        };
        let branch_scale = 1.0 / (self.depth.max(1) as f64).sqrt();
        for _ in 0..self.depth {
            let mut block = Sequential::new().add(linear(fan_in, self.width, &h));
            if self.cure == Cure::LayerNorm {
                block.push(LayerNorm::new(&[self.width]));
            }
            let block = match self.activation {
                Activation::Sigmoid => block.add(Sigmoid),
                Activation::Tanh => block.add(Tanh),
                Activation::ReLU => block.add(ReLU),
            };
            let block: Box<dyn Module<E> + Send> =
                if self.cure == Cure::Residual && fan_in == self.width {
                    Box::new(Residual::new(block, branch_scale))
                } else {
                    Box::new(block)
                };
            if data_dependent {
                let tape = Tape::new();
                h = block.forward(tape.constant(h)).value();
            }
            model.push_boxed(block);
            fan_in = self.width;
        }
        model.push(linear(fan_in, classes, &h));
        model
    }
}
