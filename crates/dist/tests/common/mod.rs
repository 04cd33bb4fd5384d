//! The scenario the data-parallel tests share, on any backend: the digits
//! MLP trained with SGD (momentum and weight decay, so optimiser state
//! matters) on rank `r`'s slice of every global batch, and the same
//! training on one process with the whole global batch.
#![allow(dead_code)] // each test binary uses its own part

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;
use tapegrad_autodiff::Tape;
use tapegrad_dist::DistributedSampler;
use tapegrad_dist::{Collective, DdpConfig, DdpStats, DistError, DistributedDataParallel};
use tapegrad_nn::data::{load_bundled_digits, Dataset};
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::optim::{Optimizer, SGD};
use tapegrad_nn::{Linear, Module, ReLU, Sequential};
use tapegrad_tensor::Float;

/// The seed of the sampler's shuffle and of rank 0's initialisation.
pub const SEED: u64 = 2026;

/// The digits data set (1797 samples of 64 pixels), in `E`.
pub fn digits<E: Float>() -> Dataset<E> {
    load_bundled_digits::<E>().expect("the bundled digits load")
}

/// A 64-32-10 ReLU MLP initialised from `seed`.
pub fn mlp<E: Float>(seed: u64) -> Sequential<E> {
    mlp_with_width(seed, 32)
}

/// As [`mlp`] with `width` hidden units.
pub fn mlp_with_width<E: Float>(seed: u64, width: usize) -> Sequential<E> {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(64, width, &mut rng))
        .add(ReLU)
        .add(Linear::new(width, 10, &mut rng))
}

/// SGD with momentum and weight decay.
pub fn optimizer<E: Float>() -> SGD<E> {
    SGD::new(0.05).momentum(0.9).weight_decay(1e-4)
}

/// Every parameter's values, in visiting order.
pub fn weights<E: Float>(model: &dyn Module<E>) -> Vec<Vec<E>> {
    let mut out = Vec::new();
    model.visit_params(&mut |_, p| out.push(p.value().to_vec()));
    out
}

/// What one rank ends with.
pub struct Trained<E: Float> {
    /// The parameters after the last step.
    pub weights: Vec<Vec<E>>,
    /// The rank's own loss at every step.
    pub losses: Vec<f64>,
    /// The data-parallel statistics.
    pub stats: DdpStats,
}

/// Trains [`mlp`] (initialised from `init_seed`, which may differ per rank:
/// rank 0's weights are broadcast) for `steps` steps of `batch` samples per
/// rank, the rank's share of the first epoch of a [`DistributedSampler`].
pub fn train_rank<E: Float>(
    comm: Arc<dyn Collective>,
    data: &Dataset<E>,
    config: DdpConfig,
    steps: usize,
    batch: usize,
    init_seed: u64,
) -> Result<Trained<E>, DistError> {
    let (rank, world) = (comm.rank(), comm.world_size());
    let mut model = mlp::<E>(init_seed);
    let mut ddp = DistributedDataParallel::new(comm, &mut model, config)?;
    let mut opt = optimizer::<E>();
    let sampler = DistributedSampler::new(data.len(), rank, world, SEED);
    let mine = sampler.indices(0);
    assert!(steps * batch <= mine.len(), "the scenario stays in epoch 0");
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let part = data.subset(&mine[step * batch..(step + 1) * batch]);
        let tape = Tape::new();
        let logits = model.forward(tape.constant(part.features()));
        let loss = cross_entropy(logits, part.labels());
        losses.push(loss.value().to_vec()[0].to_f64());
        let grads = ddp.backward(&model, loss)?;
        opt.step(&mut model, &grads);
    }
    Ok(Trained {
        weights: weights(&model),
        losses,
        stats: ddp.stats(),
    })
}

/// The same training on one process without any collective: [`mlp`] from
/// [`SEED`], `steps` steps of the global batch of `world * batch` samples
/// (the union of the ranks' batches: positions `s·pB .. (s+1)·pB` of the
/// epoch's shuffled order).
pub fn train_reference<E: Float>(
    data: &Dataset<E>,
    world: usize,
    steps: usize,
    batch: usize,
) -> Vec<Vec<E>> {
    let mut model = mlp::<E>(SEED);
    let mut opt = optimizer::<E>();
    let order = DistributedSampler::new(data.len(), 0, 1, SEED).epoch_order(0);
    let global = world * batch;
    for step in 0..steps {
        let part = data.subset(&order[step * global..(step + 1) * global]);
        let tape = Tape::new();
        let logits = model.forward(tape.constant(part.features()));
        let grads = cross_entropy(logits, part.labels()).backward();
        opt.step(&mut model, &grads);
    }
    weights(&model)
}

/// The largest difference between two models' parameters, relative to the
/// largest magnitude of each parameter: `max_p max_i |a_pi − b_pi| / max_i |b_pi|`.
pub fn max_relative_difference<E: Float>(a: &[Vec<E>], b: &[Vec<E>]) -> f64 {
    assert_eq!(a.len(), b.len(), "models with different parameter counts");
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            assert_eq!(a.len(), b.len(), "parameters of different sizes");
            let scale = b.iter().map(|x| x.to_f64().abs()).fold(0.0, f64::max);
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x.to_f64() - y.to_f64()).abs())
                .fold(0.0, f64::max);
            diff / scale.max(f64::MIN_POSITIVE)
        })
        .fold(0.0, f64::max)
}
