//! The grid of the initialisation study: activations, initialisations,
//! depths, and the deep MLPs built from them.

use crate::init::{FanMode, Init, Nonlinearity};
use crate::layers::{Linear, ReLU, Sigmoid, Tanh};
use crate::module::Sequential;
use rand::Rng;
use std::fmt;
use std::str::FromStr;
use tapegrad_tensor::Float;

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
    /// Glorot & Bengio (2010), normal: Var w = 2 / (fan_in + fan_out).
    Xavier,
    /// He et al. (2015), normal, fan-in: Var w = 2 / fan_in.
    He,
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
    /// All five, in table order.
    pub const ALL: [Scheme; 5] = [
        Scheme::Zeros,
        Scheme::Normal1,
        Scheme::Small,
        Scheme::Xavier,
        Scheme::He,
    ];

    /// Short name (`"xavier"`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Zeros => "zeros",
            Scheme::Normal1 => "normal1",
            Scheme::Small => "small",
            Scheme::Xavier => "xavier",
            Scheme::He => "he",
        }
    }

    /// The weight initialiser.
    pub fn init(self) -> Init {
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
            Scheme::Xavier => Init::XavierNormal { gain: 1.0 },
            Scheme::He => Init::KaimingNormal {
                mode: FanMode::FanIn,
                nonlinearity: Nonlinearity::ReLU,
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

impl MlpConfig {
    /// `inputs -> [width]·depth -> classes` as a [`Sequential`] of blocks:
    /// each hidden block is `Sequential[Linear, activation]` and the last
    /// child is the output `Linear`, so tapping the children of the model
    /// taps every hidden layer's output and the logits.
    pub fn build<E: Float>(
        &self,
        inputs: usize,
        classes: usize,
        rng: &mut impl Rng,
    ) -> Sequential<E> {
        let init = self.scheme.init();
        let mut model = Sequential::new();
        let mut fan_in = inputs;
        for _ in 0..self.depth {
            let block =
                Sequential::new().add(Linear::with_init(fan_in, self.width, init, true, rng));
            model.push(match self.activation {
                Activation::Sigmoid => block.add(Sigmoid),
                Activation::Tanh => block.add(Tanh),
                Activation::ReLU => block.add(ReLU),
            });
            fan_in = self.width;
        }
        model.push(Linear::with_init(fan_in, classes, init, true, rng));
        model
    }
}
