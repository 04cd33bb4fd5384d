//! Making tensors: constants, ranges, identity and seeded random tensors.

use crate::alloc;
use crate::float::Float;
use crate::layout::{checked_numel, MAX_NUMEL};
use crate::tensor::Tensor;
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

impl<E: Float> Tensor<E> {
    /// A tensor of `shape` filled with `value`.
    ///
    /// # Panics
    /// If the shape has more elements than fit in memory, or the buffer
    /// cannot be allocated (the message names the size).
    #[track_caller]
    pub fn full(shape: &[usize], value: E) -> Self {
        Self::full_for(shape, value, "full")
    }

    /// [`full`](Self::full), with errors naming `op`.
    #[track_caller]
    pub(crate) fn full_for(shape: &[usize], value: E, op: &str) -> Self {
        let n = checked_numel(shape, op);
        Tensor::from_vec(alloc::filled(n, value, op), shape)
    }

    /// A tensor of zeros.
    ///
    /// ```
    /// let z = tapegrad_tensor::Tensor::<f64>::zeros(&[2, 3]);
    /// assert_eq!(z.to_vec(), vec![0.0; 6]);
    /// ```
    ///
    /// # Panics
    /// As [`full`](Self::full).
    #[track_caller]
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full_for(shape, E::ZERO, "zeros")
    }

    /// A tensor of ones.
    ///
    /// # Panics
    /// As [`full`](Self::full).
    #[track_caller]
    pub fn ones(shape: &[usize]) -> Self {
        Self::full_for(shape, E::ONE, "ones")
    }

    /// A tensor of zeros with the same shape as `self` (contiguous, whatever
    /// `self`'s strides).
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    ///
    /// let x = Tensor::<f32>::ones(&[2, 3]).t();
    /// let z = x.zeros_like();
    /// assert_eq!((z.shape(), z.to_vec()), (&[3, 2][..], vec![0.0; 6]));
    /// ```
    #[track_caller]
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.shape())
    }

    /// A tensor of ones with the same shape as `self` (contiguous).
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    ///
    /// let x = Tensor::<f64>::zeros(&[4]);
    /// assert_eq!(x.ones_like().to_vec(), vec![1.0; 4]);
    /// ```
    #[track_caller]
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
    /// If an argument is not finite (NaN or infinite), `step` is zero or has
    /// the wrong sign to reach `end`, or the range has more elements than
    /// fit in memory.
    #[track_caller]
    pub fn arange(start: f64, end: f64, step: f64) -> Self {
        if !(start.is_finite() && end.is_finite() && step.is_finite()) {
            panic!("arange: start {start}, end {end} and step {step} must be finite");
        }
        if step == 0.0 || (end - start) * step < 0.0 {
            panic!("arange: step {step} cannot go from {start} to {end}");
        }
        let count = ((end - start) / step).ceil().max(0.0);
        // `as usize` saturates; compare in f64 first so a huge count is an error.
        if count >= MAX_NUMEL as f64 {
            panic!("arange: {start}..{end} by {step} has more elements than fit in memory");
        }
        let n = count as usize;
        let data = alloc::collect_n(
            n,
            (0..n).map(|i| E::from_f64(start + i as f64 * step)),
            "arange",
        );
        Tensor::from_vec(data, &[n])
    }

    /// The `n x n` identity matrix.
    ///
    /// # Panics
    /// If `n * n` elements do not fit in memory.
    #[track_caller]
    pub fn eye(n: usize) -> Self {
        let mut data = alloc::zeroed(checked_numel(&[n, n], "eye"), "eye");
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
    /// If `low >= high`, either is not finite, or the shape has more
    /// elements than fit in memory.
    #[track_caller]
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, rng: &mut impl Rng) -> Self {
        let dist = match Uniform::new(low, high) {
            Ok(d) if low.is_finite() && high.is_finite() => d,
            Ok(_) => panic!("rand_uniform: bad range [{low}, {high}): bounds must be finite"),
            Err(e) => panic!("rand_uniform: bad range [{low}, {high}): {e}"),
        };
        let n = checked_numel(shape, "rand_uniform");
        let data = alloc::collect_n(
            n,
            (0..n).map(|_| E::from_f64(dist.sample(rng))),
            "rand_uniform",
        );
        Tensor::from_vec(data, shape)
    }

    /// Independent samples from the normal distribution N(`mean`, `std`²).
    ///
    /// # Panics
    /// If `std` is negative or not finite, `mean` is not finite, or the
    /// shape has more elements than fit in memory.
    #[track_caller]
    pub fn rand_normal(shape: &[usize], mean: f64, std: f64, rng: &mut impl Rng) -> Self {
        // `Normal::new` accepts a negative std (it samples mean - |std| z),
        // so check here: a negative std is a caller's mistake.
        if !(std >= 0.0 && std.is_finite()) {
            panic!("rand_normal: std {std} must be finite and non-negative");
        }
        if !mean.is_finite() {
            panic!("rand_normal: mean {mean} must be finite");
        }
        let dist = match Normal::new(mean, std) {
            Ok(d) => d,
            Err(e) => panic!("rand_normal: bad std {std}: {e}"),
        };
        let n = checked_numel(shape, "rand_normal");
        let data = alloc::collect_n(
            n,
            (0..n).map(|_| E::from_f64(dist.sample(rng))),
            "rand_normal",
        );
        Tensor::from_vec(data, shape)
    }
}
