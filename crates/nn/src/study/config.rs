//! The grid of the initialisation study: activations, initialisations,
//! depths, and the deep MLPs built from them.

use crate::init::{lsuv, FanMode, Init, Nonlinearity};
use crate::layers::{Linear, ReLU, Sigmoid, Tanh};
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
}

impl fmt::Display for MlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{} d{} w{}",
            self.scheme, self.activation, self.depth, self.width
        )
    }
}

/// LSUV's tolerance on the unit variance and its iteration limit, the
/// values of Mishkin & Matas (2016).
const LSUV_TOL: f64 = 0.1;
const LSUV_MAX_ITERS: usize = 10;

impl MlpConfig {
    /// `features -> [width]·depth -> classes` as a [`Sequential`] of blocks:
    /// each hidden block is `Sequential[Linear, activation]` and the last
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
        for _ in 0..self.depth {
            let block = Sequential::new().add(linear(fan_in, self.width, &h));
            let block = match self.activation {
                Activation::Sigmoid => block.add(Sigmoid),
                Activation::Tanh => block.add(Tanh),
                Activation::ReLU => block.add(ReLU),
            };
            if data_dependent {
                let tape = Tape::new();
                h = block.forward(tape.constant(h)).value();
            }
            model.push(block);
            fan_in = self.width;
        }
        model.push(linear(fan_in, classes, &h));
        model
    }
}
