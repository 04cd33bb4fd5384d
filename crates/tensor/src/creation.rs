//! Making tensors: constants, ranges, identity and seeded random tensors.

use crate::float::Float;
use crate::tensor::Tensor;
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

impl<E: Float> Tensor<E> {
    /// A tensor of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: E) -> Self {
        Tensor::from_vec(vec![value; shape.iter().product()], shape)
    }

    /// A tensor of zeros.
    ///
    /// ```
    /// let z = tapegrad_tensor::Tensor::<f64>::zeros(&[2, 3]);
    /// assert_eq!(z.to_vec(), vec![0.0; 6]);
    /// ```
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, E::ZERO)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, E::ONE)
    }

    /// A tensor of zeros with the same shape as `self`.
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.shape())
    }

    /// A tensor of ones with the same shape as `self`.
    pub fn ones_like(&self) -> Self {
        Self::ones(self.shape())
    }

    /// `[start, start + step, ...]` up to (not including) `end`, as a 1-D tensor.
    ///
    /// ```
    /// let r = tapegrad_tensor::Tensor::<f32>::arange(0.0, 2.0, 0.5);
    /// assert_eq!(r.to_vec(), vec![0.0, 0.5, 1.0, 1.5]);
    /// ```
    ///
    /// # Panics
    /// If `step` is zero or has the wrong sign to reach `end`.
    #[track_caller]
    pub fn arange(start: f64, end: f64, step: f64) -> Self {
        if step == 0.0 || (end - start) * step < 0.0 {
            panic!("arange: step {step} cannot go from {start} to {end}");
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let data = (0..n)
            .map(|i| E::from_f64(start + i as f64 * step))
            .collect();
        Tensor::from_vec(data, &[n])
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut data = vec![E::ZERO; n * n];
        for i in 0..n {
            data[i * n + i] = E::ONE;
        }
        Tensor::from_vec(data, &[n, n])
    }

    /// Independent samples from the uniform distribution on `[low, high)`.
    ///
    /// Takes the caller's RNG, so a seeded RNG reproduces the same tensor.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let a = tapegrad_tensor::Tensor::<f32>::rand_uniform(&[3], -1.0, 1.0, &mut rng);
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let b = tapegrad_tensor::Tensor::<f32>::rand_uniform(&[3], -1.0, 1.0, &mut rng);
    /// assert_eq!(a.to_vec(), b.to_vec());
    /// ```
    ///
    /// # Panics
    /// If `low >= high` or either is not finite.
    #[track_caller]
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, rng: &mut impl Rng) -> Self {
        let dist = Uniform::new(low, high)
            .unwrap_or_else(|e| panic!("rand_uniform: bad range [{low}, {high}): {e}"));
        let n = shape.iter().product();
        let data = (0..n).map(|_| E::from_f64(dist.sample(rng))).collect();
        Tensor::from_vec(data, shape)
    }

    /// Independent samples from the normal distribution N(`mean`, `std`²).
    ///
    /// # Panics
    /// If `std` is negative or not finite.
    #[track_caller]
    pub fn rand_normal(shape: &[usize], mean: f64, std: f64, rng: &mut impl Rng) -> Self {
        let dist =
            Normal::new(mean, std).unwrap_or_else(|e| panic!("rand_normal: bad std {std}: {e}"));
        let n = shape.iter().product();
        let data = (0..n).map(|_| E::from_f64(dist.sample(rng))).collect();
        Tensor::from_vec(data, shape)
    }
}
