//! Data-parallel training on the in-process backend: ranks as threads.
//! The core claim: `p` ranks with batch `B` each train the same weights as
//! one process with batch `p·B` on the same samples.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;
use tapegrad_autodiff::Tape;
use tapegrad_dist::{
    Collective, DdpConfig, DistError, DistributedDataParallel, LocalCollective, ThreadCollective,
};
use tapegrad_nn::data::Dataset;
use tapegrad_nn::loss::cross_entropy;
use tapegrad_nn::optim::{GradSource, Optimizer};
use tapegrad_nn::Module;
use tapegrad_tensor::Float;

/// Runs `f` on every rank of a thread group, each on its own thread, and
/// returns the results in rank order (a rank's panic is re-raised).
fn on_ranks<R: Send>(
    group: Vec<ThreadCollective>,
    f: impl Fn(ThreadCollective) -> R + Sync,
) -> Vec<R> {
    std::thread::scope(|s| {
        let handles: Vec<_> = group.into_iter().map(|c| s.spawn(|| f(c))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Trains `world` thread ranks, each initialised from a different seed
/// (rank 0's weights must win).
fn train_threads<E: Float>(
    data: &Dataset<E>,
    world: usize,
    config: DdpConfig,
    steps: usize,
    batch: usize,
) -> Vec<Trained<E>> {
    on_ranks(ThreadCollective::group(world), |c| {
        let seed = SEED + c.rank() as u64;
        train_rank(Arc::new(c), data, config, steps, batch, seed).expect("training runs")
    })
}

const STEPS: usize = 25;
const BATCH: usize = 16;

#[test]
fn two_ranks_in_f64_match_one_rank_with_twice_the_batch() {
    let data = digits::<f64>();
    let ranks = train_threads(&data, 2, DdpConfig::default(), STEPS, BATCH);
    let reference = train_reference(&data, 2, STEPS, BATCH);
    // Not bit for bit: one rank sums the batch's 32 gradient terms in one
    // gemm, two ranks sum 16 each and then add the two sums, so rounding
    // differs at the level of f64's epsilon (2.2e-16) per operation and
    // grows slowly over the steps. Measured after 25 steps: 3.4e-16.
    let diff = max_relative_difference(&ranks[0].weights, &reference);
    eprintln!("relative difference {diff:e}");
    assert!(
        diff < 1e-14,
        "2 ranks against 1: relative difference {diff:e}"
    );
    assert!(diff > 0.0 || ranks[0].weights == reference);
    // And training did something: the weights moved from their start.
    let start = weights(&mlp::<f64>(SEED));
    assert!(max_relative_difference(&reference, &start) > 1e-2);
}

#[test]
fn two_ranks_in_f32_match_one_rank_with_twice_the_batch() {
    let data = digits::<f32>();
    let ranks = train_threads(&data, 2, DdpConfig::default(), STEPS, BATCH);
    let reference = train_reference(&data, 2, STEPS, BATCH);
    // The same reordering of sums as in f64, at f32's epsilon (1.2e-7).
    // Measured after 25 steps: 1.8e-7.
    let diff = max_relative_difference(&ranks[0].weights, &reference);
    eprintln!("relative difference {diff:e}");
    assert!(
        diff < 1e-6,
        "2 ranks against 1: relative difference {diff:e}"
    );
}

#[test]
fn four_ranks_match_one_rank_with_four_times_the_batch() {
    let data = digits::<f64>();
    let ranks = train_threads(&data, 4, DdpConfig::default(), STEPS, 8);
    let reference = train_reference(&data, 4, STEPS, 8);
    let diff = max_relative_difference(&ranks[0].weights, &reference);
    eprintln!("relative difference {diff:e}");
    // Measured: 4.7e-16.
    assert!(
        diff < 1e-14,
        "4 ranks against 1: relative difference {diff:e}"
    );
}

#[test]
fn replicas_stay_bit_identical_although_they_started_different() {
    let data = digits::<f32>();
    let ranks = train_threads(&data, 3, DdpConfig::default(), 10, 8);
    assert_ne!(weights(&mlp::<f32>(SEED)), weights(&mlp::<f32>(SEED + 1)));
    for r in 1..3 {
        assert_eq!(
            ranks[r].weights, ranks[0].weights,
            "rank {r} drifted from rank 0"
        );
    }
    // Each rank saw its own samples: their losses differ.
    assert_ne!(ranks[0].losses, ranks[1].losses);
}

#[test]
fn training_is_repeatable_bit_for_bit() {
    let data = digits::<f32>();
    let a = train_threads(&data, 2, DdpConfig::default(), 10, BATCH);
    let b = train_threads(&data, 2, DdpConfig::default(), 10, BATCH);
    assert_eq!(a[0].weights, b[0].weights);
    assert_eq!(a[1].losses, b[1].losses);
}

#[test]
fn bucket_size_and_overlap_do_not_change_the_result() {
    let data = digits::<f64>();
    let base = train_threads(&data, 2, DdpConfig::default(), 8, BATCH);
    assert_eq!(
        base[0].stats.buckets, 1,
        "the 2.4k-parameter model fits one 4 MiB bucket"
    );
    let configs = [
        DdpConfig {
            bucket_bytes: 4 << 20,
            overlap: false,
        },
        DdpConfig {
            bucket_bytes: 1024,
            overlap: true,
        },
        // Smaller than any parameter: one bucket each.
        DdpConfig {
            bucket_bytes: 1,
            overlap: true,
        },
    ];
    let mut bucket_counts = Vec::new();
    for config in configs {
        let ranks = train_threads(&data, 2, config, 8, BATCH);
        assert_eq!(
            ranks[0].weights, base[0].weights,
            "{config:?} changed the result"
        );
        bucket_counts.push(ranks[0].stats.buckets);
    }
    // Packed last layer first: bias 10, weight 320, bias 32, weight 2048.
    // A 1 KiB bucket holds 128 f64s: the 10-element bias starts one, the
    // 320-element weight does not fit beside it and gets one alone, and so
    // do the 32-element bias (not beside the oversized weight) and the
    // 2048-element weight.
    assert_eq!(bucket_counts, vec![1, 4, 4]);
}

#[test]
fn stats_count_steps_and_bytes() {
    let data = digits::<f32>();
    let ranks = train_threads(&data, 2, DdpConfig::default(), 5, BATCH);
    let stats = ranks[1].stats;
    assert_eq!(stats.steps, 5);
    let params = 64 * 32 + 32 + 32 * 10 + 10;
    // The gradients plus one has-a-gradient flag for each of the 4 parameters.
    assert_eq!(stats.bytes_per_step, (params + 4) * 4);
    assert!(stats.backward > Duration::ZERO);
}

#[test]
fn a_world_of_one_is_plain_training() {
    let data = digits::<f32>();
    let comm: Arc<dyn Collective> = Arc::new(LocalCollective);
    let one = train_rank(comm, &data, DdpConfig::default(), 10, 32, SEED).unwrap();
    // Dividing by 1 and summing one term are exact: bit for bit.
    assert_eq!(one.weights, train_reference(&data, 1, 10, 32));
}

#[test]
fn average_gradients_after_backward_matches_backward_through_ddp() {
    let data = digits::<f64>();
    let results = on_ranks(ThreadCollective::group(2), |c| {
        let rank = c.rank();
        let part = data.subset(&[rank * 5, rank * 5 + 1, rank * 5 + 2]);
        let mut model = mlp::<f64>(SEED);
        let mut ddp =
            DistributedDataParallel::new(Arc::new(c), &mut model, DdpConfig::default()).unwrap();
        let tape = Tape::new();
        let loss = cross_entropy(model.forward(tape.constant(part.features())), part.labels());
        let through = ddp.backward(&model, loss).unwrap();
        let tape = Tape::new();
        let loss = cross_entropy(model.forward(tape.constant(part.features())), part.labels());
        let after = ddp.average_gradients(&model, &loss.backward()).unwrap();
        let as_vecs = |g: &tapegrad_nn::optim::ParamGrads<f64>| -> Vec<Vec<f64>> {
            let mut out = Vec::new();
            model.visit_params(&mut |_, p| {
                out.push(
                    g.grad_of(p)
                        .expect("every parameter has a gradient")
                        .to_vec(),
                )
            });
            out
        };
        (as_vecs(&through), as_vecs(&after))
    });
    for (through, after) in &results {
        assert_eq!(through, after);
    }
    assert_eq!(results[0], results[1]);
}

#[test]
#[should_panic(expected = "not the 4")]
fn backward_with_another_model_panics() {
    let mut model = mlp::<f32>(SEED);
    let mut ddp =
        DistributedDataParallel::new(Arc::new(LocalCollective), &mut model, DdpConfig::default())
            .unwrap();
    let other = mlp::<f32>(SEED); // same shapes, other Params
    let data = digits::<f32>().subset(&[0, 1]);
    let tape = Tape::new();
    let loss = cross_entropy(other.forward(tape.constant(data.features())), data.labels());
    let _ = ddp.backward(&other, loss);
}

#[test]
fn models_of_different_shapes_are_refused_on_every_rank() {
    let errors = on_ranks(ThreadCollective::group(2), |c| {
        let width = if c.rank() == 1 { 33 } else { 32 };
        let mut model = mlp_with_width::<f32>(SEED, width);
        DistributedDataParallel::new(Arc::new(c), &mut model, DdpConfig::default())
            .map(|_| ())
            .unwrap_err()
    });
    for (rank, e) in errors.iter().enumerate() {
        assert!(
            matches!(e, DistError::ModelMismatch { .. }),
            "rank {rank}: {e}"
        );
    }
    let text = errors[1].to_string();
    assert!(text.contains("[33, 64]") || text.contains("33"), "{text}");
}

#[test]
fn a_rank_that_panics_makes_the_others_fail_not_hang() {
    let data = digits::<f32>();
    // A long timeout: the survivors must learn of the panic, not time out.
    let group = ThreadCollective::group_with_timeout(2, Duration::from_secs(120));
    let outcomes = std::thread::scope(|s| {
        let handles: Vec<_> = group
            .into_iter()
            .map(|c| {
                let data = &data;
                s.spawn(move || {
                    let rank = c.rank();
                    let comm: Arc<dyn Collective> = Arc::new(c);
                    if rank == 1 {
                        let mut model = mlp::<f32>(SEED);
                        let _ddp =
                            DistributedDataParallel::new(comm, &mut model, DdpConfig::default());
                        panic!("rank 1 fails on purpose");
                    }
                    train_rank(comm, data, DdpConfig::default(), 10, BATCH, SEED).map(|_| ())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    assert!(outcomes[1].is_err(), "rank 1 panicked");
    match &outcomes[0] {
        Ok(Err(DistError::PeerFailed { peer, .. })) => assert_eq!(*peer, 1),
        other => panic!("rank 0 should see rank 1 fail, got {other:?}"),
    }
    let Ok(Err(e)) = &outcomes[0] else {
        unreachable!()
    };
    assert!(e.to_string().contains("rank 1"), "{e}");
}

#[test]
fn a_rank_that_stops_answering_times_out_the_others() {
    let group = ThreadCollective::group_with_timeout(2, Duration::from_millis(200));
    let results = on_ranks(group, |c| {
        if c.rank() == 1 {
            // Alive but never joining: holds its handle past the timeout.
            std::thread::sleep(Duration::from_millis(800));
            return None;
        }
        Some(
            c.start_all_reduce_sum(tapegrad_dist::Buffer::F32(vec![1.0]))
                .wait(),
        )
    });
    match &results[0] {
        Some(Err(DistError::Timeout { rank, after, .. })) => {
            assert_eq!(*rank, 0);
            assert_eq!(*after, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn collectives_of_different_sizes_are_a_clear_error() {
    let results = on_ranks(ThreadCollective::group(2), |c| {
        let len = 3 + c.rank();
        c.start_all_reduce_sum(tapegrad_dist::Buffer::F64(vec![1.0; len]))
            .wait()
    });
    for (rank, r) in results.iter().enumerate() {
        match r {
            Err(DistError::Mismatch { detail, .. }) => {
                assert!(
                    detail.contains('3') && detail.contains('4'),
                    "rank {rank}: {detail}"
                )
            }
            other => panic!("rank {rank}: expected a mismatch, got {other:?}"),
        }
    }
}

#[test]
fn tensor_collectives_sum_average_and_broadcast() {
    use tapegrad_dist::CollectiveExt;
    use tapegrad_tensor::Tensor;
    let results = on_ranks(ThreadCollective::group(3), |c| {
        let r = c.rank() as f64;
        let t = Tensor::from_vec(vec![r, 10.0 * r], &[1, 2]);
        let sum = c.all_reduce_sum(&t).unwrap();
        let mean = c.all_reduce_mean(&t).unwrap();
        let from_2 = c.broadcast_tensor(&t, 2).unwrap();
        let text = c.broadcast_text(&format!("rank {}", c.rank()), 1).unwrap();
        let count = c.all_reduce_count(c.rank() as u64 + 1).unwrap();
        c.barrier().unwrap();
        (
            sum.to_vec(),
            mean.to_vec(),
            from_2.to_vec(),
            sum.shape().to_vec(),
            text,
            count,
        )
    });
    for (sum, mean, from_2, shape, text, count) in results {
        assert_eq!(sum, vec![3.0, 30.0]);
        assert_eq!(mean, vec![1.0, 10.0]);
        assert_eq!(from_2, vec![2.0, 20.0]);
        assert_eq!(shape, vec![1, 2]);
        assert_eq!(text, "rank 1");
        assert_eq!(count, 6);
    }
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-dist-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn checkpoints_are_written_by_rank_0_and_loaded_by_broadcast() {
    let dir = scratch_dir("checkpoint");
    let data = digits::<f32>();
    let saved = on_ranks(ThreadCollective::group(2), |c| {
        let rank = c.rank();
        let comm: Arc<dyn Collective> = Arc::new(c);
        let mut model = mlp::<f32>(SEED);
        let mut ddp =
            DistributedDataParallel::new(comm.clone(), &mut model, DdpConfig::default()).unwrap();
        let mut opt = optimizer::<f32>();
        let part = data.subset(&[rank, rank + 2, rank + 4]);
        for _ in 0..3 {
            let tape = Tape::new();
            let loss = cross_entropy(model.forward(tape.constant(part.features())), part.labels());
            let grads = ddp.backward(&model, loss).unwrap();
            opt.step(&mut model, &grads);
        }
        // Only rank 0 writes: rank 1's path is in a directory that does not exist.
        let path = if rank == 0 {
            dir.join("model.safetensors")
        } else {
            dir.join("missing").join("model.safetensors")
        };
        tapegrad_dist::save_checkpoint(&*comm, &path, &model).unwrap();
        weights(&model)
    });
    assert!(dir.join("model.safetensors").exists());
    assert!(!dir.join("missing").exists(), "rank 1 wrote nothing");

    let loaded = on_ranks(ThreadCollective::group(2), |c| {
        // Fresh models from other seeds; rank 1 cannot even see the file.
        let mut model = mlp::<f32>(SEED + 10 + c.rank() as u64);
        let path = if c.rank() == 0 {
            dir.join("model.safetensors")
        } else {
            dir.join("nowhere.safetensors")
        };
        tapegrad_dist::load_checkpoint(&c, &path, &mut model).unwrap();
        weights(&model)
    });
    assert_eq!(loaded[0], saved[0]);
    assert_eq!(loaded[1], saved[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_rank_0_cannot_read_fails_on_every_rank_and_changes_nothing() {
    let dir = scratch_dir("missing-checkpoint");
    let results = on_ranks(ThreadCollective::group(2), |c| {
        let mut model = mlp::<f32>(SEED + c.rank() as u64);
        let before = weights(&model);
        let err = tapegrad_dist::load_checkpoint(&c, dir.join("absent.safetensors"), &mut model)
            .unwrap_err();
        (err, before == weights(&model))
    });
    for (rank, (err, unchanged)) in results.iter().enumerate() {
        assert!(
            matches!(err, DistError::Checkpoint { .. }),
            "rank {rank}: {err}"
        );
        assert!(
            err.to_string().contains("absent.safetensors"),
            "rank {rank}: {err}"
        );
        assert!(unchanged, "rank {rank}'s model changed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
