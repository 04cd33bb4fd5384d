//! Data-parallel training against one process with more threads, on the
//! same global batch: is splitting the batch across ranks (and paying for
//! the gradient all-reduce) faster than giving one rank all the cores?
//!
//! Model: an MLP 64-512-256-10 (ReLU, f32; 166k parameters, 650 KiB of
//! gradients) on the bundled digits, SGD with momentum, global batch 256,
//! written with the public API (`Sequential`, `cross_entropy`, `SGD`,
//! `DistributedDataParallel::backward`). Rounds of `--steps` steps
//! alternate between the two set-ups (interleaved, so a drifting machine
//! moves both); the median round is reported.
//!
//! Flags: `--steps`, `--rounds`, `--bucket-kib` (default 4096),
//! `--no-overlap`, `--quick`.
//!
//! - `cargo bench --bench ddp`: 1 rank x N threads against N ranks x 1
//!   thread as threads of this process (`ThreadCollective`), N = the cores.
//! - `cargo bench --features mpi --bench ddp --no-run`, then
//!   `mpirun -np 2 target/release/deps/ddp-<hash> --bench`: the ranks are
//!   MPI processes (`MpiCollective`); the one-rank baseline runs on rank 0
//!   while the others sleep outside MPI (OpenMPI polls while it waits, which
//!   would steal a core). Also measures the all-reduce on its own: time per
//!   call and bus bandwidth `2(p−1)/p · bytes / time` over the loopback.

mod common;

use common::{median, ratio, Table};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::{Arc, Barrier};
use std::time::Instant;
use tapegrad::autodiff::Tape;
use tapegrad::dist::{
    Collective, DdpConfig, DistributedDataParallel, DistributedSampler, ThreadCollective,
};
use tapegrad::nn::data::{load_bundled_digits, Dataset};
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{Optimizer, SGD};
use tapegrad::nn::{Linear, Module, ReLU, Sequential};
use tapegrad::tensor::Tensor;

const GLOBAL_BATCH: usize = 256;

fn mlp() -> Sequential<f32> {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(Linear::new(64, 512, &mut rng))
        .add(ReLU)
        .add(Linear::new(512, 256, &mut rng))
        .add(ReLU)
        .add(Linear::new(256, 10, &mut rng))
}

/// `count` batches of `batch` samples from `indices`, cycling.
fn batches(
    data: &Dataset<f32>,
    indices: &[usize],
    batch: usize,
    count: usize,
) -> Vec<(Tensor<f32>, Vec<usize>)> {
    (0..count)
        .map(|s| {
            let pick: Vec<usize> = (0..batch)
                .map(|k| indices[(s * batch + k) % indices.len()])
                .collect();
            let part = data.subset(&pick);
            (part.features(), part.labels().to_vec())
        })
        .collect()
}

/// One process training alone on the global batch.
struct Solo {
    model: Sequential<f32>,
    opt: SGD<f32>,
    batches: Vec<(Tensor<f32>, Vec<usize>)>,
}

impl Solo {
    fn new(data: &Dataset<f32>, steps: usize) -> Solo {
        let order = DistributedSampler::new(data.len(), 0, 1, 0).epoch_order(0);
        Solo {
            model: mlp(),
            opt: SGD::new(0.01).momentum(0.9),
            batches: batches(data, &order, GLOBAL_BATCH, steps),
        }
    }

    /// Seconds per step.
    fn round(&mut self) -> f64 {
        let start = Instant::now();
        for (x, labels) in &self.batches {
            let tape = Tape::new();
            let loss = cross_entropy(self.model.forward(tape.constant(x.clone())), labels);
            let grads = loss.backward();
            self.opt.step(&mut self.model, &grads);
        }
        start.elapsed().as_secs_f64() / self.batches.len() as f64
    }
}

/// One rank of data-parallel training on its share of the global batch.
struct Rank {
    model: Sequential<f32>,
    ddp: DistributedDataParallel<f32>,
    opt: SGD<f32>,
    batches: Vec<(Tensor<f32>, Vec<usize>)>,
}

impl Rank {
    fn new(comm: Arc<dyn Collective>, data: &Dataset<f32>, steps: usize) -> Rank {
        let (rank, world) = (comm.rank(), comm.world_size());
        let mut model = mlp();
        let config = DdpConfig {
            bucket_bytes: common::arg_value("--bucket-kib")
                .map_or(DdpConfig::default().bucket_bytes, |k| {
                    k.parse::<usize>().expect("--bucket-kib takes KiB") << 10
                }),
            overlap: !common::has_flag("--no-overlap"),
        };
        let ddp = DistributedDataParallel::new(comm, &mut model, config)
            .expect("the same model on every rank");
        let mine = DistributedSampler::new(data.len(), rank, world, 0).indices(0);
        Rank {
            model,
            ddp,
            opt: SGD::new(0.01).momentum(0.9),
            batches: batches(data, &mine, GLOBAL_BATCH / world, steps),
        }
    }

    /// Seconds per step and seconds per step spent waiting in all-reduce.
    fn round(&mut self) -> (f64, f64) {
        let waited = self.ddp.stats().waiting;
        let start = Instant::now();
        for (x, labels) in &self.batches {
            let tape = Tape::new();
            let loss = cross_entropy(self.model.forward(tape.constant(x.clone())), labels);
            let grads = self.ddp.backward(&self.model, loss).expect("all-reduce");
            self.opt.step(&mut self.model, &grads);
        }
        let steps = self.batches.len() as f64;
        let wait = (self.ddp.stats().waiting - waited).as_secs_f64();
        (start.elapsed().as_secs_f64() / steps, wait / steps)
    }
}

fn settings() -> (usize, usize) {
    let quick = common::quick();
    let steps = common::arg_value("--steps").map_or(if quick { 5 } else { 40 }, |s| {
        s.parse().expect("--steps takes a count")
    });
    let rounds = common::arg_value("--rounds").map_or(if quick { 2 } else { 7 }, |s| {
        s.parse().expect("--rounds takes a count")
    });
    (steps, rounds)
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let simd = if info.contains(" avx512f") {
        "AVX-512"
    } else if info.contains(" avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    format!("{name} ({simd})")
}

/// Prints the comparison.
fn report(
    backend: &str,
    world: usize,
    solo: &[f64],
    ranks: &[f64],
    waits: &[f64],
    (bytes, buckets): (usize, usize),
) {
    let mut solo = solo.to_vec();
    let mut ranks = ranks.to_vec();
    let mut waits = waits.to_vec();
    for v in [&mut solo, &mut ranks, &mut waits] {
        v.sort_by(f64::total_cmp);
    }
    let (s, r, w) = (median(&solo), median(&ranks), median(&waits));
    let samples = GLOBAL_BATCH as f64;
    let mut table = Table::new(&[
        "set-up",
        "step ms",
        "samples/s",
        "all-reduce wait",
        "vs 1 rank",
    ]);
    table.row(vec![
        format!("1 rank x {world} threads"),
        format!("{:.2}", 1e3 * s),
        format!("{:.0}", samples / s),
        "-".into(),
        "1.00x".into(),
    ]);
    table.row(vec![
        format!("{world} ranks x 1 thread ({backend})"),
        format!("{:.2}", 1e3 * r),
        format!("{:.0}", samples / r),
        format!("{:.3} ms ({:.1}% of the step)", 1e3 * w, 100.0 * w / r),
        ratio(s, r),
    ]);
    table.print();
    println!(
        "# {} bytes all-reduced per step per rank in {} buckets; median of {} rounds",
        bytes,
        buckets,
        solo.len()
    );
}

/// Ranks as threads of this process.
fn bench_threads(data: &Dataset<f32>) {
    let world = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let (steps, rounds) = settings();
    println!(
        "# ddp: MLP 64-512-256-10 f32, global batch {GLOBAL_BATCH}, {steps} steps x {rounds} rounds; {}",
        cpu()
    );
    common::print_load();
    let mut solo = Solo::new(data, steps);
    let go = Barrier::new(world + 1);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, f64, f64, (usize, usize))>();
    std::thread::scope(|s| {
        for c in ThreadCollective::group(world) {
            let (go, tx) = (&go, tx.clone());
            s.spawn(move || {
                common::in_pool(1, || {
                    let mut rank = Rank::new(Arc::new(c), data, steps);
                    rank.round(); // warm-up
                    for _ in 0..rounds {
                        go.wait();
                        let (t, w) = rank.round();
                        let stats = rank.ddp.stats();
                        let bytes = (stats.bytes_per_step, stats.buckets);
                        tx.send((rank.ddp.rank(), t, w, bytes))
                            .expect("main is listening");
                    }
                })
            });
        }
        common::in_pool(world, || {
            solo.round();
        });
        let (mut solo_t, mut rank_t, mut waits, mut bytes) = (vec![], vec![], vec![], (0, 0));
        for _ in 0..rounds {
            solo_t.push(common::in_pool(world, || solo.round()));
            go.wait();
            let mut slowest = 0.0f64;
            for _ in 0..world {
                let (rank, t, w, b) = rx.recv().expect("a rank reports");
                slowest = slowest.max(t);
                if rank == 0 {
                    waits.push(w);
                    bytes = b;
                }
            }
            rank_t.push(slowest);
        }
        report("threads", world, &solo_t, &rank_t, &waits, bytes);
    });
}

#[cfg(feature = "mpi")]
fn bench_mpi(data: &Dataset<f32>) {
    use tapegrad::dist::{Buffer, MpiCollective};
    let comm = MpiCollective::init().expect("MPI starts");
    let (rank, world) = (comm.rank(), comm.world_size());
    let comm: Arc<dyn Collective> = Arc::new(comm);
    let (steps, rounds) = settings();
    let lead = rank == 0;
    if lead {
        println!(
            "# ddp: MLP 64-512-256-10 f32, global batch {GLOBAL_BATCH}, {steps} steps x {rounds} rounds, {world} MPI processes on one machine; {}",
            cpu()
        );
    }
    // Rank 0 tells the others through this file when its solo round ends.
    let dir = std::env::temp_dir().join(format!("tapegrad-ddp-bench-{}", std::process::id()));
    let dir = std::path::PathBuf::from(
        tapegrad::dist::CollectiveExt::broadcast_text(&*comm, &dir.display().to_string(), 0)
            .expect("broadcast"),
    );
    if lead {
        std::fs::create_dir_all(&dir).expect("a scratch directory");
    }
    let mut solo = lead.then(|| Solo::new(data, steps));
    let mut me = common::in_pool(1, || {
        let mut r = Rank::new(Arc::clone(&comm), data, steps);
        r.round();
        r
    });
    let (mut solo_t, mut rank_t, mut waits) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let marker = dir.join(format!("solo-{round}-done"));
        if let Some(solo) = solo.as_mut() {
            solo_t.push(common::in_pool(world, || solo.round()));
            std::fs::write(&marker, b"").expect("write the marker");
        } else {
            while !marker.exists() {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        comm.barrier().expect("barrier");
        let (t, w) = common::in_pool(1, || me.round());
        let slowest = comm
            .start_all_reduce_sum(Buffer::F64(
                (0..world)
                    .map(|r| if r == rank { t } else { 0.0 })
                    .collect(),
            ))
            .wait()
            .expect("all-reduce");
        let Buffer::F64(all) = slowest else {
            unreachable!()
        };
        rank_t.push(all.iter().copied().fold(0.0, f64::max));
        waits.push(w);
    }
    if lead {
        report(
            "MPI",
            world,
            &solo_t,
            &rank_t,
            &waits,
            (me.ddp.stats().bytes_per_step, me.ddp.stats().buckets),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The all-reduce alone.
    let mut table = Table::new(&["all-reduce", "time per call", "bus bandwidth"]);
    for bytes in [8usize, 64 << 10, 650 << 10, 4 << 20, 16 << 20] {
        let n = bytes / 4;
        let reps = if bytes >= 4 << 20 { 20 } else { 200 };
        let run = || {
            comm.start_all_reduce_sum(Buffer::F32(vec![1.0; n]))
                .wait()
                .expect("all-reduce");
        };
        run();
        comm.barrier().expect("barrier");
        let start = Instant::now();
        for _ in 0..reps {
            run();
        }
        let t = start.elapsed().as_secs_f64() / reps as f64;
        let bus = 2.0 * (world - 1) as f64 / world as f64 * bytes as f64 / t;
        table.row(vec![
            human(bytes),
            format!("{:.1} us", 1e6 * t),
            format!("{:.2} GB/s", bus / 1e9),
        ]);
    }
    if lead {
        println!("# MPI_Allreduce (sum, f32) between {world} processes over the loopback:");
        table.print();
    }
}

#[cfg(feature = "mpi")]
fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn launched_as_mpi_rank() -> bool {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

fn main() {
    let data = load_bundled_digits::<f32>().expect("the bundled digits");
    if launched_as_mpi_rank() {
        #[cfg(feature = "mpi")]
        bench_mpi(&data);
        #[cfg(not(feature = "mpi"))]
        panic!("started by mpirun but built without `--features mpi`");
    } else {
        bench_threads(&data);
    }
}
