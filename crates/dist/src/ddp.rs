//! Data-parallel training: every rank holds the whole model and a slice of
//! each batch; after backward the gradients are averaged across ranks, so
//! the identical optimiser step on every rank keeps the replicas equal.

use crate::buffer::Buffer;
use crate::collective::{floats, human_bytes, Collective, Pending};
use crate::error::DistError;
use crate::replicas::{broadcast_module, check_same_model};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tapegrad_autodiff::{Gradients, Var};
use tapegrad_nn::optim::ParamGrads;
use tapegrad_nn::Module;
use tapegrad_tensor::{Float, Tensor};

/// How [`DistributedDataParallel`] averages gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DdpConfig {
    /// Gradients are reduced in buckets of at most this many bytes (a
    /// parameter larger than that gets a bucket of its own). Smaller
    /// buckets start sooner; larger ones pay the per-message latency fewer
    /// times. PyTorch's default is 25 MiB.
    pub bucket_bytes: usize,
    /// Start each bucket's all-reduce from a gradient hook as soon as its
    /// last gradient is computed, while backward goes on below it (on);
    /// or reduce everything after backward (off, for comparison).
    pub overlap: bool,
}

impl Default for DdpConfig {
    /// 4 MiB buckets, overlapped with backward.
    fn default() -> Self {
        DdpConfig {
            bucket_bytes: 4 << 20,
            overlap: true,
        }
    }
}

/// Time and traffic of data-parallel training, summed over steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DdpStats {
    /// Steps taken ([`DistributedDataParallel::backward`] calls).
    pub steps: u64,
    /// Buckets reduced per step.
    pub buckets: usize,
    /// Bytes each rank sends into the all-reduces of one step (gradients
    /// and one "has a gradient" flag per parameter).
    pub bytes_per_step: usize,
    /// Time in backward (the local gradient computation, including
    /// starting the overlapped all-reduces).
    pub backward: Duration,
    /// Time blocked after backward, waiting for all-reduces to finish:
    /// the communication that did not overlap.
    pub waiting: Duration,
}

/// Where one parameter's gradient sits in the buckets.
#[derive(Clone, Debug)]
struct Slot {
    name: String,
    id: u64,
    shape: Vec<usize>,
    bucket: usize,
    /// Offset of its gradient in the bucket.
    offset: usize,
    /// Its position among the bucket's parameters (its flag's index).
    index_in_bucket: usize,
}

#[derive(Clone, Debug)]
struct BucketLayout {
    /// Gradient elements (the flags come after them).
    elements: usize,
    params: usize,
}

/// Data-parallel training over a [`Collective`], as PyTorch's
/// `DistributedDataParallel`.
///
/// At construction the model is checked to be the same on every rank
/// ([`check_same_model`]) and rank 0's parameters and buffers are copied
/// to all ([`broadcast_module`]). Each step, [`backward`](Self::backward)
/// runs the local backward pass and returns the gradients averaged over
/// the ranks, `ḡ = (1/p) Σ_r g_r`; with every rank's loss a mean over its
/// own batch of `B`, that is the gradient of the mean loss over the `p·B`
/// samples of the global batch. The optimiser then takes the same step on
/// every rank.
///
/// The parameters are packed, last layer first (the order backward
/// computes them), into buckets of [`DdpConfig::bucket_bytes`]. A gradient
/// hook on each parameter copies its gradient into its bucket the moment
/// it is complete; a full bucket's all-reduce starts at once, so it runs
/// while backward computes the layers below. Buckets start in the same
/// order on every rank. A parameter with no gradient on a rank counts as
/// zero there; one with no gradient on any rank gets none (the optimiser
/// leaves it alone, as it would on one process).
///
/// ```
/// use rand::SeedableRng;
/// use std::sync::Arc;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_dist::{Collective, DdpConfig, DistributedDataParallel, ThreadCollective};
/// use tapegrad_nn::loss::mse;
/// use tapegrad_nn::optim::{Optimizer, SGD};
/// use tapegrad_nn::{Linear, Module, Sequential};
/// use tapegrad_tensor::Tensor;
///
/// let weights: Vec<Vec<f64>> = std::thread::scope(|s| {
///     let ranks: Vec<_> = ThreadCollective::group(2).into_iter().map(|c| s.spawn(move || {
///         let rank = c.rank();
///         let mut rng = rand::rngs::StdRng::seed_from_u64(rank as u64); // different inits...
///         let mut model: Sequential<f64> = Sequential::new().add(Linear::new(2, 1, &mut rng));
///         let mut ddp = DistributedDataParallel::new(Arc::new(c), &mut model, DdpConfig::default())
///             .unwrap(); // ...rank 0's wins
///         let mut opt = SGD::new(0.1);
///         for step in 0..3 {
///             let tape = Tape::new();
///             let x = tape.constant(Tensor::from_vec(vec![rank as f64, step as f64], &[1, 2]));
///             let loss = mse(model.forward(x), tape.constant(Tensor::from_vec(vec![1.0], &[1, 1])));
///             let grads = ddp.backward(&model, loss).unwrap();
///             opt.step(&mut model, &grads);
///         }
///         let mut weights = Vec::new();
///         model.visit_params(&mut |_, p| weights.extend(p.value().to_vec()));
///         weights
///     })).collect();
///     ranks.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(weights[0], weights[1]); // the replicas stay equal, bit for bit
/// ```
pub struct DistributedDataParallel<E: Float = f32> {
    comm: Arc<dyn Collective>,
    config: DdpConfig,
    /// Shared with the gradient hooks of each step (a clone is a count).
    slots: Vec<Arc<Slot>>,
    buckets: Vec<BucketLayout>,
    stats: DdpStats,
    _element: PhantomData<E>,
}

impl<E: Float> DistributedDataParallel<E> {
    /// Data-parallel training of `model` over `comm`: checks that the
    /// model is the same on every rank and copies rank 0's parameters and
    /// buffers to all. Every rank must call it (it is collective).
    ///
    /// # Errors
    /// [`DistError::ModelMismatch`] if the models' state dicts differ in
    /// names or shapes, or any error of the collectives.
    ///
    /// # Panics
    /// If `config.bucket_bytes` is 0.
    pub fn new(
        comm: Arc<dyn Collective>,
        model: &mut dyn Module<E>,
        config: DdpConfig,
    ) -> Result<Self, DistError> {
        assert!(
            config.bucket_bytes > 0,
            "DistributedDataParallel: bucket_bytes must be > 0"
        );
        check_same_model(&*comm, model)?;
        broadcast_module(&*comm, model, 0)?;
        let (slots, buckets) = layout::<E>(model, config.bucket_bytes);
        let slots: Vec<Arc<Slot>> = slots.into_iter().map(Arc::new).collect();
        let stats = DdpStats {
            buckets: buckets.len(),
            bytes_per_step: buckets
                .iter()
                .map(|b| (b.elements + b.params) * std::mem::size_of::<E>())
                .sum(),
            ..DdpStats::default()
        };
        Ok(DistributedDataParallel {
            comm,
            config,
            slots,
            buckets,
            stats,
            _element: PhantomData,
        })
    }

    /// The collective this training runs on.
    pub fn collective(&self) -> &Arc<dyn Collective> {
        &self.comm
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// Number of ranks.
    pub fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    /// The configuration.
    pub fn config(&self) -> DdpConfig {
        self.config
    }

    /// Time and traffic so far.
    pub fn stats(&self) -> DdpStats {
        self.stats
    }

    /// Runs `loss.backward()` on this rank's loss and returns the gradients
    /// of `model`'s parameters averaged over all ranks, ready for
    /// [`Optimizer::step`](tapegrad_nn::Optimizer::step). Collective: every
    /// rank calls it once per step.
    ///
    /// # Errors
    /// Any error of the collectives (a peer failed, a timeout).
    ///
    /// # Panics
    /// If `model` is not the model this was built for (other parameters).
    #[track_caller]
    pub fn backward(
        &mut self,
        model: &dyn Module<E>,
        loss: Var<'_, E>,
    ) -> Result<ParamGrads<E>, DistError> {
        self.check_model(model);
        let step = Rc::new(RefCell::new(StepState::new(&self.buckets, &self.comm)));
        if self.config.overlap {
            let tape = loss.tape();
            let mut index = 0;
            model.visit_params(&mut |_, p| {
                let i = index;
                index += 1;
                let Some(var) = p.bound(tape) else { return };
                let (state, slot) = (Rc::clone(&step), Arc::clone(&self.slots[i]));
                var.register_hook(move |g| {
                    state.borrow_mut().arrive(&slot, g);
                    None
                });
            });
        }
        let start = Instant::now();
        let grads = loss.backward();
        self.stats.backward += start.elapsed();
        // The hooks stay on the tape: leave them a closed state.
        let step = step.replace(StepState::closed());
        self.finish(model, &grads, step)
    }

    /// Averages the gradients in `grads` (from a backward pass the caller
    /// ran) over all ranks, after the fact: nothing overlaps. For loops
    /// that accumulate or transform gradients before reducing them.
    /// Collective.
    ///
    /// # Errors
    /// Any error of the collectives.
    ///
    /// # Panics
    /// If `model` is not the model this was built for.
    #[track_caller]
    pub fn average_gradients(
        &mut self,
        model: &dyn Module<E>,
        grads: &Gradients<E>,
    ) -> Result<ParamGrads<E>, DistError> {
        self.check_model(model);
        let step = StepState::new(&self.buckets, &self.comm);
        self.finish(model, grads, step)
    }

    /// Puts the gradients no hook delivered into their buckets, starts the
    /// remaining all-reduces, waits for all and unpacks the averages.
    fn finish(
        &mut self,
        model: &dyn Module<E>,
        grads: &Gradients<E>,
        mut step: StepState<E>,
    ) -> Result<ParamGrads<E>, DistError> {
        let mut index = 0;
        model.visit_params(&mut |_, p| {
            let slot = &self.slots[index];
            index += 1;
            if !step.has(slot) {
                if let Some(g) = p.grad(grads) {
                    step.arrive(slot, g);
                }
            }
        });
        step.launch_all();
        let start = Instant::now();
        let mut results = Vec::with_capacity(step.pending.len());
        for pending in step.pending.drain(..) {
            results.push(floats::<E>(self.comm.rank(), pending.wait()?)?);
        }
        self.stats.waiting += start.elapsed();
        self.stats.steps += 1;
        let scale = E::from_f64(self.comm.world_size() as f64);
        let mut out = ParamGrads::new();
        let mut index = 0;
        model.visit_params(&mut |name, p| {
            let slot = &self.slots[index];
            index += 1;
            let bucket = &results[slot.bucket];
            let flag = bucket[self.buckets[slot.bucket].elements + slot.index_in_bucket];
            if flag > E::ZERO {
                let n = p.numel();
                let avg = bucket[slot.offset..slot.offset + n]
                    .iter()
                    .map(|&x| x / scale)
                    .collect();
                out.insert(name, p, Tensor::from_vec(avg, &slot.shape));
            }
        });
        Ok(out)
    }

    #[track_caller]
    fn check_model(&self, model: &dyn Module<E>) {
        let mut ids = Vec::with_capacity(self.slots.len());
        model.visit_params(&mut |_, p| ids.push(p.id()));
        let expected: Vec<u64> = self.slots.iter().map(|s| s.id).collect();
        if ids != expected {
            let names: Vec<&str> = self.slots.iter().map(|s| s.name.as_str()).collect();
            panic!(
                "DistributedDataParallel: the model has {} parameters that are not the {} ({}) it was built with; pass the same model (the same Param values, not a copy)",
                ids.len(),
                expected.len(),
                names.join(", ")
            );
        }
    }
}

/// Packs the parameters, in reverse visiting order, into buckets of at
/// most `bucket_bytes` (one parameter may exceed it alone).
fn layout<E: Float>(model: &dyn Module<E>, bucket_bytes: usize) -> (Vec<Slot>, Vec<BucketLayout>) {
    let mut params = Vec::new();
    model.visit_params(&mut |name, p| params.push((name.to_string(), p.id(), p.shape().to_vec())));
    let element = std::mem::size_of::<E>();
    let mut slots: Vec<Option<Slot>> = vec![None; params.len()];
    let mut buckets: Vec<BucketLayout> = Vec::new();
    for (i, (name, id, shape)) in params.iter().enumerate().rev() {
        let numel: usize = shape.iter().product();
        let fits = buckets
            .last()
            .is_some_and(|b| (b.elements + numel) * element <= bucket_bytes);
        if !fits {
            buckets.push(BucketLayout {
                elements: 0,
                params: 0,
            });
        }
        let bucket = buckets.len() - 1;
        let b = &mut buckets[bucket];
        slots[i] = Some(Slot {
            name: name.clone(),
            id: *id,
            shape: shape.clone(),
            bucket,
            offset: b.elements,
            index_in_bucket: b.params,
        });
        b.elements += numel;
        b.params += 1;
    }
    (
        slots
            .into_iter()
            .map(|s| s.expect("every slot placed"))
            .collect(),
        buckets,
    )
}

/// One step's buckets as they fill.
struct StepState<E: Float> {
    comm: Option<Arc<dyn Collective>>,
    buffers: Vec<Option<Vec<E>>>,
    /// Parameters still missing from each bucket.
    missing: Vec<usize>,
    elements: Vec<usize>,
    next_launch: usize,
    pending: Vec<Pending>,
}

impl<E: Float> StepState<E> {
    fn new(buckets: &[BucketLayout], comm: &Arc<dyn Collective>) -> Self {
        StepState {
            comm: Some(Arc::clone(comm)),
            buffers: buckets
                .iter()
                .map(|b| Some(vec![E::ZERO; b.elements + b.params]))
                .collect(),
            missing: buckets.iter().map(|b| b.params).collect(),
            elements: buckets.iter().map(|b| b.elements).collect(),
            next_launch: 0,
            pending: Vec::new(),
        }
    }

    /// A state that ignores late hooks (a second backward on the same tape).
    fn closed() -> Self {
        StepState {
            comm: None,
            buffers: Vec::new(),
            missing: Vec::new(),
            elements: Vec::new(),
            next_launch: 0,
            pending: Vec::new(),
        }
    }

    /// True if `slot`'s gradient is in its bucket (or the bucket has gone).
    fn has(&self, slot: &Slot) -> bool {
        match &self.buffers[slot.bucket] {
            Some(buf) => buf[self.elements[slot.bucket] + slot.index_in_bucket] > E::ZERO,
            None => true,
        }
    }

    /// Copies `slot`'s gradient `g` into its bucket; starts every bucket
    /// that is now complete and next in order.
    fn arrive(&mut self, slot: &Slot, g: &Tensor<E>) {
        if self.comm.is_none() || self.has(slot) {
            return;
        }
        let flag_at = self.elements[slot.bucket] + slot.index_in_bucket;
        let buf = self.buffers[slot.bucket].as_mut().expect("checked by has");
        let dst = &mut buf[slot.offset..slot.offset + g.numel()];
        match g.as_slice() {
            Some(src) => dst.copy_from_slice(src),
            None => dst.copy_from_slice(&g.to_vec()),
        }
        buf[flag_at] = E::ONE;
        self.missing[slot.bucket] -= 1;
        self.launch_ready();
    }

    fn launch_ready(&mut self) {
        while self.next_launch < self.buffers.len() && self.missing[self.next_launch] == 0 {
            self.launch_next();
        }
    }

    /// Starts every bucket not started yet (missing gradients as zeros).
    fn launch_all(&mut self) {
        while self.next_launch < self.buffers.len() {
            self.launch_next();
        }
    }

    fn launch_next(&mut self) {
        let comm = self.comm.as_ref().expect("an open step");
        let data = self.buffers[self.next_launch]
            .take()
            .expect("launched once");
        self.pending
            .push(comm.start_all_reduce_sum(Buffer::from_floats(data)));
        self.next_launch += 1;
    }
}

impl<E: Float> std::fmt::Debug for DistributedDataParallel<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DistributedDataParallel(rank {} of {}, {} parameters in {} buckets, {} per step)",
            self.comm.rank(),
            self.comm.world_size(),
            self.slots.len(),
            self.buckets.len(),
            human_bytes(self.stats.bytes_per_step)
        )
    }
}
