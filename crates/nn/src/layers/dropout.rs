//! `Dropout`: inverted dropout (Srivastava et al. 2014) in training mode,
//! the identity in evaluation mode.

use crate::module::Module;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// Zeroes each element with probability `p` and scales the survivors by
/// `1 / (1 - p)` in training mode, so `E[y] = x`; the identity in
/// evaluation mode ([`Module::set_training`]). Layers start in training
/// mode, as in PyTorch.
///
/// `y = x ⊙ m` with the mask `mᵢ = 1/(1-p)` with probability `1 - p`, else
/// 0, recorded as a constant: the gradient is `g ⊙ m`. Each forward pass
/// draws a new mask from the layer's own RNG, seeded from the caller's RNG
/// at construction, so a seeded run repeats its masks.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::{layers::Dropout, Module};
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut drop = Dropout::new(0.5, &mut rng);
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::ones(&[1000]));
/// let y = drop.forward(x).value().to_vec();
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // kept ones scaled by 1 / (1 - p)
/// drop.set_training(false);
/// assert_eq!(drop.forward(x).value().to_vec(), vec![1.0; 1000]);
/// ```
#[derive(Debug)]
pub struct Dropout {
    p: f64,
    training: bool,
    rng: RefCell<StdRng>,
}

impl Dropout {
    /// Dropout with drop probability `p`, its mask RNG seeded from `rng`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    #[track_caller]
    pub fn new(p: f64, rng: &mut impl Rng) -> Self {
        if !(0.0..=1.0).contains(&p) {
            panic!("Dropout: probability p = {p} is not in [0, 1]");
        }
        Dropout {
            p,
            training: true,
            rng: RefCell::new(StdRng::seed_from_u64(rng.random())),
        }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// True in training mode (masks applied).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Switches training mode on or off (the same as [`Module::set_training`],
    /// callable without naming the element type).
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// A fresh mask of `shape`: `1/(1-p)` with probability `1 - p`, else 0.
    fn mask<E: Float>(&self, shape: &[usize]) -> Tensor<E> {
        let keep = E::from_f64(1.0 / (1.0 - self.p));
        let mut rng = self.rng.borrow_mut();
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                if rng.random::<f64>() < self.p {
                    E::ZERO
                } else {
                    keep
                }
            })
            .collect();
        Tensor::from_vec(data, shape)
    }
}

impl<E: Float> Module<E> for Dropout {
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        if !self.training || self.p == 0.0 {
            return x;
        }
        if self.p == 1.0 {
            return x * 0.0;
        }
        x * x.constant_like(self.mask(&x.shape()))
    }

    fn set_training(&mut self, training: bool) {
        Dropout::set_training(self, training);
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }
}
