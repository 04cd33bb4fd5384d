//! Data-parallel training on the MPI backend. One process per rank, so
//! this test has its own `main` (`harness = false`); run it under mpirun:
//!
//! ```text
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="mpirun --allow-run-as-root --oversubscribe -np 2" \
//!     cargo test -p tapegrad-dist --features mpi --release --test mpi_ddp -- [scenario]
//! ```
//!
//! Scenarios (the first argument; `.ci/run` runs them all):
//! - `train` (the default): the core claim. `p` ranks with batch `B` train
//!   the same weights as one process with batch `p·B` (f64 to 1e-14, f32 to
//!   1e-6 relative), with MPI's own all-reduce; with the rank-order sum the
//!   weights are bit for bit those of the in-process thread backend. Also
//!   the model-mismatch check and rank-0 checkpoints, across processes.
//! - `native`: the same equivalence with `MPI_Allreduce` only.
//! - `panic-rank-1`: rank 1 panics mid-training; the job must end with a
//!   non-zero exit and the message, not hang (`.ci/run` checks both).
//! - `exit-rank-1`: rank 1 exits without finalising MPI (as if killed).
//! - `stuck-rank-1`: rank 1 joins an all-reduce late; rank 0, with a
//!   1-second timeout, gets `DistError::Timeout`, and both go on.

mod common;

use common::*;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tapegrad_dist::{
    Collective, CollectiveExt, DdpConfig, DistError, DistributedDataParallel, MpiCollective,
    ReduceOrder, ThreadCollective,
};
use tapegrad_nn::data::Dataset;
use tapegrad_tensor::{Float, Tensor};

const STEPS: usize = 25;
const BATCH: usize = 16;

fn main() -> ExitCode {
    let scenario = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "train".into());
    let order = if scenario == "native" {
        ReduceOrder::Native
    } else {
        ReduceOrder::RankOrder
    };
    let timeout = if scenario == "stuck-rank-1" { 1 } else { 120 };
    let comm = match MpiCollective::init() {
        Ok(c) => c
            .with_reduce_order(order)
            .with_timeout(Duration::from_secs(timeout)),
        Err(e) => {
            eprintln!("mpi_ddp: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (rank, world) = (comm.rank(), comm.world_size());
    let comm: Arc<dyn Collective> = Arc::new(comm);
    let result = match scenario.as_str() {
        "train" => train(&comm, true),
        "native" => train(&comm, false),
        "panic-rank-1" => fail_rank_1(&comm, |_| panic!("rank 1 fails on purpose")),
        "exit-rank-1" => fail_rank_1(&comm, |_| std::process::exit(3)),
        "stuck-rank-1" => stuck_rank_1(&comm),
        other => Err(format!("unknown scenario {other:?}")),
    };
    match result {
        Ok(summary) => {
            println!("mpi_ddp rank {rank} of {world}: {scenario}: ok: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mpi_ddp rank {rank} of {world}: {scenario}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn train(comm: &Arc<dyn Collective>, rank_order: bool) -> Result<String, String> {
    let world = comm.world_size();
    let f64_diff = equivalence::<f64>(comm, rank_order, 1e-14)?;
    let f32_diff = equivalence::<f32>(comm, rank_order, 1e-6)?;
    let mut summary = format!(
        "{world} ranks x batch {BATCH} against 1 x batch {}: relative difference f64 {f64_diff:.1e}, f32 {f32_diff:.1e}",
        world * BATCH
    );
    if rank_order {
        // Empty collectives (an empty text is an empty broadcast).
        let empty = comm.broadcast_text("", 0).map_err(|e| e.to_string())?;
        let none = comm
            .all_reduce_sum(&Tensor::<f32>::zeros(&[0]))
            .map_err(|e| e.to_string())?;
        if !empty.is_empty() || none.numel() != 0 {
            return Err("empty collectives returned data".into());
        }
        model_mismatch(comm)?;
        checkpoint(comm)?;
        summary += "; model mismatch refused; checkpoint saved by rank 0 and broadcast";
    }
    Ok(summary)
}

/// Trains on MPI, checks the replicas agree bit for bit, and compares with
/// one process (and, in rank order, with the thread backend).
fn equivalence<E: Float>(
    comm: &Arc<dyn Collective>,
    rank_order: bool,
    tolerance: f64,
) -> Result<f64, String> {
    let data: Dataset<E> = digits();
    let (rank, world) = (comm.rank(), comm.world_size());
    let name = std::any::type_name::<E>();
    let seed = SEED + rank as u64; // rank 0's initialisation must win
    let mine = train_rank(
        Arc::clone(comm),
        &data,
        DdpConfig::default(),
        STEPS,
        BATCH,
        seed,
    )
    .map_err(|e| e.to_string())?
    .weights;
    let flat: Vec<E> = mine.concat();
    let rank0 = comm
        .broadcast_tensor(&Tensor::from_vec(flat.clone(), &[flat.len()]), 0)
        .map_err(|e| e.to_string())?;
    if rank0.to_vec() != flat {
        return Err(format!(
            "{name}: rank {rank}'s weights differ from rank 0's"
        ));
    }
    let reference = train_reference(&data, world, STEPS, BATCH);
    let diff = max_relative_difference(&mine, &reference);
    if diff >= tolerance {
        return Err(format!(
            "{name}: {world} ranks against 1: relative difference {diff:e} >= {tolerance:e}"
        ));
    }
    if rank_order {
        let threads = std::thread::scope(|s| {
            let data = &data;
            let handles: Vec<_> = ThreadCollective::group(world)
                .into_iter()
                .map(|c| {
                    s.spawn(move || {
                        let seed = SEED + c.rank() as u64;
                        train_rank(Arc::new(c), data, DdpConfig::default(), STEPS, BATCH, seed)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
        });
        match &threads[0] {
            Ok(Ok(t)) if t.weights == mine => {}
            Ok(Ok(_)) => return Err(format!("{name}: MPI in rank order differs from threads")),
            _ => return Err(format!("{name}: the thread backend failed")),
        }
    }
    Ok(diff)
}

fn model_mismatch(comm: &Arc<dyn Collective>) -> Result<(), String> {
    let width = if comm.rank() == 1 { 33 } else { 32 };
    let mut model = mlp_with_width::<f32>(SEED, width);
    match DistributedDataParallel::new(Arc::clone(comm), &mut model, DdpConfig::default()) {
        Err(DistError::ModelMismatch { .. }) => Ok(()),
        Err(e) => Err(format!("expected a model mismatch, got: {e}")),
        Ok(_) if comm.world_size() == 1 => Ok(()),
        Ok(_) => Err("a model of other shapes on rank 1 was accepted".into()),
    }
}

fn checkpoint(comm: &Arc<dyn Collective>) -> Result<(), String> {
    let rank = comm.rank();
    // The job id keeps concurrent runs apart; rank 0 chooses the directory.
    let dir = comm
        .broadcast_text(
            &std::env::temp_dir()
                .join(format!("tapegrad-mpi-{}", std::process::id()))
                .display()
                .to_string(),
            0,
        )
        .map_err(|e| e.to_string())?;
    let dir = std::path::PathBuf::from(dir);
    if rank == 0 {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    }
    let model = mlp::<f32>(SEED + 100);
    let (saved, elsewhere) = (dir.join("model.safetensors"), dir.join("rank-other"));
    let path = if rank == 0 { &saved } else { &elsewhere };
    tapegrad_dist::save_checkpoint(&**comm, path, &model).map_err(|e| e.to_string())?;
    let mut fresh = mlp::<f32>(SEED + 200 + rank as u64);
    let path = if rank == 0 { &saved } else { &elsewhere };
    tapegrad_dist::load_checkpoint(&**comm, path, &mut fresh).map_err(|e| e.to_string())?;
    let outcome = if weights(&fresh) != weights(&model) {
        Err(format!("rank {rank} did not load rank 0's checkpoint"))
    } else if elsewhere.exists() {
        Err("a rank other than 0 wrote a checkpoint".into())
    } else {
        Ok(())
    };
    comm.barrier().map_err(|e| e.to_string())?;
    if rank == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome
}

/// Trains; rank 1 calls `fail` after two steps. Rank 0 never returns: the
/// job ends under it (the test passes if the process exits non-zero).
fn fail_rank_1(comm: &Arc<dyn Collective>, fail: fn(usize)) -> Result<String, String> {
    let data: Dataset<f32> = digits();
    if comm.rank() == 1 {
        let _ = train_rank(
            Arc::clone(comm),
            &data,
            DdpConfig::default(),
            2,
            BATCH,
            SEED,
        );
        fail(1);
    }
    match train_rank(
        Arc::clone(comm),
        &data,
        DdpConfig::default(),
        50,
        BATCH,
        SEED,
    ) {
        Ok(_) if comm.world_size() == 1 => Ok("nothing to fail with one rank".into()),
        Ok(_) => Err("rank 0 finished although rank 1 stopped".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn stuck_rank_1(comm: &Arc<dyn Collective>) -> Result<String, String> {
    if comm.rank() == 1 {
        std::thread::sleep(Duration::from_secs(4));
    }
    let sum = comm.all_reduce_count(1);
    // The late all-reduce still completes on the MPI thread; this barrier
    // waits for it (the timeout is per collective).
    std::thread::sleep(Duration::from_secs(4));
    let _ = comm.barrier();
    match (comm.rank(), sum) {
        (0, Err(DistError::Timeout { after, .. })) if comm.world_size() > 1 => {
            Ok(format!("timed out after {after:?} as expected"))
        }
        (0, other) if comm.world_size() > 1 => Err(format!("expected a timeout, got {other:?}")),
        (_, Ok(n)) => Ok(format!("late all-reduce gave {n}")),
        (_, Err(e)) => Err(e.to_string()),
    }
}
