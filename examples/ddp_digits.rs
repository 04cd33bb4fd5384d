//! Data-parallel training of the digits MLP (64-128-64-10, ReLU, He init,
//! SGD with momentum), the way PyTorch's `DistributedDataParallel` does
//! it: every rank holds the model, trains on its own share of each epoch
//! (a [`DistributedSampler`]), and averages gradients with the others in
//! buckets whose all-reduce starts while backward is still running.
//!
//! The same binary runs three ways:
//! - `cargo run --release --example ddp_digits`: ranks as threads of one
//!   process (`--ranks`, default 2), no MPI needed;
//! - `mpirun -np 2 target/release/examples/ddp_digits`, after
//!   `cargo build --release --features mpi --example ddp_digits`: one
//!   process per rank, on one machine or many;
//! - `srun -N 2 --ntasks-per-node=1 target/release/examples/ddp_digits`
//!   under Slurm (with Slurm's PMIx or PMI-2 plugin).
//!
//! It prints each epoch's global training loss and test accuracy, then a
//! table of every rank's throughput and the time it waited for
//! all-reduces, and saves the model from rank 0. Run with `--help` for
//! the flags.

mod common;

use clap::Parser;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tapegrad::autodiff::Tape;
use tapegrad::dist::{
    save_checkpoint, Buffer, Collective, DdpConfig, DistError, DistributedDataParallel,
    DistributedSampler, ThreadCollective,
};
use tapegrad::nn::data::{load_bundled_digits, Dataset};
use tapegrad::nn::diagnostics::render_table;
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::optim::{Optimizer, SGD};
use tapegrad::nn::{Module, Sequential};

/// Fraction of the data held out for testing (stratified by class).
const TEST_FRACTION: f64 = 0.2;
/// Seed of the train/test split, the same on every rank.
const SPLIT_SEED: u64 = 0;

/// Data-parallel training of a 64-128-64-10 MLP on the bundled digits.
#[derive(Parser, Debug)]
#[command(name = "ddp_digits")]
struct Settings {
    /// Ranks (threads of this process) when not started by mpirun or srun.
    #[arg(long, default_value_t = 2, value_parser = common::at_least_one)]
    ranks: usize,
    /// Compute threads per rank [default: this machine's cores divided by
    /// the ranks on it].
    #[arg(long, value_parser = common::at_least_one)]
    threads_per_rank: Option<usize>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10, value_parser = common::at_least_one)]
    epochs: usize,
    /// Samples per step on each rank (the global batch is ranks times this).
    #[arg(long, default_value_t = 32, value_parser = common::at_least_one)]
    batch_size: usize,
    /// SGD learning rate (momentum 0.9).
    #[arg(long, default_value_t = 0.05, value_parser = common::positive)]
    lr: f64,
    /// Seed of rank 0's initialisation (broadcast to the others) and of the
    /// per-epoch shuffle.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Gradient bucket size in KiB.
    #[arg(long, default_value_t = 4096, value_parser = common::at_least_one)]
    bucket_kib: usize,
    /// Reduce all gradients after backward instead of overlapping.
    #[arg(long)]
    no_overlap: bool,
    /// Where rank 0 saves the trained model (safetensors).
    #[arg(long, default_value = "checkpoints/ddp_digits.safetensors")]
    out: PathBuf,
}

/// What one rank measured, to be gathered on rank 0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct RankReport {
    samples: f64,
    seconds: f64,
    steps: f64,
    backward: f64,
    waiting: f64,
}

impl RankReport {
    const FIELDS: usize = 5;

    fn to_array(self) -> [f64; Self::FIELDS] {
        [
            self.samples,
            self.seconds,
            self.steps,
            self.backward,
            self.waiting,
        ]
    }

    fn from_slice(v: &[f64]) -> Self {
        RankReport {
            samples: v[0],
            seconds: v[1],
            steps: v[2],
            backward: v[3],
            waiting: v[4],
        }
    }
}

/// Every rank's report, in rank order, on every rank (an all-reduce of a
/// vector in which each rank fills its own slot).
fn gather_reports(comm: &dyn Collective, mine: RankReport) -> Result<Vec<RankReport>, DistError> {
    let p = comm.world_size();
    let mut all = vec![0.0; p * RankReport::FIELDS];
    let at = comm.rank() * RankReport::FIELDS;
    all[at..at + RankReport::FIELDS].copy_from_slice(&mine.to_array());
    let sums = comm.start_all_reduce_sum(Buffer::F64(all)).wait()?;
    let Buffer::F64(sums) = sums else {
        unreachable!("an f64 all-reduce returns f64")
    };
    Ok(sums
        .chunks(RankReport::FIELDS)
        .map(RankReport::from_slice)
        .collect())
}

/// Trains on one rank; returns its report. Every rank runs this with the
/// same settings (it is collective throughout).
fn train_rank(
    comm: Arc<dyn Collective>,
    s: &Settings,
    train: &Dataset<f32>,
    test: &Dataset<f32>,
) -> Result<(RankReport, f64), Box<dyn Error>> {
    let (rank, world) = (comm.rank(), comm.world_size());
    let lead = rank == 0;
    // Each rank starts from its own draw; rank 0's is broadcast.
    let mut rng = StdRng::seed_from_u64(s.seed.wrapping_add(1000 * rank as u64));
    let mut model: Sequential<f32> = common::digits_mlp(&mut rng);
    let config = DdpConfig {
        bucket_bytes: s.bucket_kib << 10,
        overlap: !s.no_overlap,
    };
    let mut ddp = DistributedDataParallel::new(Arc::clone(&comm), &mut model, config)?;
    let mut opt = SGD::new(s.lr).momentum(0.9);
    let sampler = DistributedSampler::new(train.len(), rank, world, s.seed);
    let steps_per_epoch = sampler.num_samples().div_ceil(s.batch_size) as u64;
    if lead {
        println!(
            "{world} ranks x batch {} (global batch {}); {} steps per epoch; {ddp:?}",
            s.batch_size,
            world * s.batch_size,
            steps_per_epoch
        );
    }
    let bar = if lead {
        common::progress_bar(steps_per_epoch * s.epochs as u64)
    } else {
        ProgressBar::hidden()
    };
    let mut report = RankReport::default();
    let mut trained = Duration::ZERO;
    let mut test_accuracy = 0.0;
    for epoch in 0..s.epochs {
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, s.epochs));
        let start = Instant::now();
        let (mut loss_sum, mut count) = (0.0, 0usize);
        for (x, labels) in sampler.batches(train, epoch as u64, s.batch_size) {
            let tape = Tape::new();
            let loss = cross_entropy(model.forward(tape.constant(x)), &labels);
            let grads = ddp.backward(&model, loss)?;
            opt.step(&mut model, &grads);
            loss_sum += loss.item() * labels.len() as f64;
            count += labels.len();
            bar.inc(1);
        }
        trained += start.elapsed();
        report.samples += count as f64;
        // One all-reduce per epoch: the global mean loss, and the same
        // verdict on divergence on every rank.
        let totals = comm.start_all_reduce_sum(Buffer::F64(vec![loss_sum, count as f64]));
        let Buffer::F64(totals) = totals.wait()? else {
            unreachable!("an f64 all-reduce returns f64")
        };
        let loss = totals[0] / totals[1];
        common::finite_loss(loss, &format!("epoch {}", epoch + 1)).inspect_err(|_| {
            bar.finish_and_clear();
        })?;
        if lead {
            test_accuracy = common::accuracy(&model, test);
            bar.suspend(|| {
                println!(
                    "epoch {:>3}  train loss {loss:.4}  test accuracy {:.2}%",
                    epoch + 1,
                    100.0 * test_accuracy
                )
            });
        }
    }
    bar.finish_and_clear();
    let stats = ddp.stats();
    report.seconds = trained.as_secs_f64();
    report.steps = stats.steps as f64;
    report.backward = stats.backward.as_secs_f64();
    report.waiting = stats.waiting.as_secs_f64();
    let reports = gather_reports(&*comm, report)?;
    if lead {
        print_reports(&reports, &ddp);
    }
    save_checkpoint(&*comm, &s.out, &model)?;
    if lead {
        println!(
            "final test accuracy {:.2}%; rank 0 saved {}",
            100.0 * test_accuracy,
            s.out.display()
        );
    }
    Ok((report, test_accuracy))
}

/// The per-rank table and the global throughput.
fn print_reports(reports: &[RankReport], ddp: &DistributedDataParallel<f32>) {
    let ms = |seconds: f64, steps: f64| 1e3 * seconds / steps.max(1.0);
    let rows: Vec<Vec<String>> = reports
        .iter()
        .enumerate()
        .map(|(r, m)| {
            vec![
                r.to_string(),
                format!("{:.0}", m.samples / m.seconds),
                format!("{:.3}", ms(m.seconds, m.steps)),
                format!("{:.3}", ms(m.backward, m.steps)),
                format!("{:.3}", ms(m.waiting, m.steps)),
                format!("{:.1}%", 100.0 * m.waiting / m.seconds),
            ]
        })
        .collect();
    let header = [
        "rank",
        "samples/s",
        "step ms",
        "backward ms",
        "all-reduce wait ms/step",
        "wait share",
    ];
    println!("\n{}", render_table(&header, &rows));
    let samples: f64 = reports.iter().map(|m| m.samples).sum();
    let slowest = reports.iter().map(|m| m.seconds).fold(0.0, f64::max);
    let stats = ddp.stats();
    println!(
        "global: {:.0} samples/s over {} ranks; {} buckets, {} bytes all-reduced per step",
        samples / slowest,
        reports.len(),
        stats.buckets,
        stats.bytes_per_step
    );
}

/// True when a launcher (mpirun, mpiexec, srun) started this process as an
/// MPI rank.
fn launched_as_mpi_rank() -> bool {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Ranks on this machine, from the launcher's environment.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
fn ranks_on_this_machine(world: usize) -> usize {
    [
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "SLURM_NTASKS_PER_NODE",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
    .unwrap_or(world)
    .max(1)
}

/// Runs `f` with `threads` compute threads.
fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The digits, split the same way on every rank.
fn data() -> Result<(Dataset<f32>, Dataset<f32>), Box<dyn Error>> {
    Ok(load_bundled_digits::<f32>()?.stratified_split(TEST_FRACTION, SPLIT_SEED))
}

/// One process per rank, under mpirun or srun.
#[cfg(feature = "mpi")]
fn run_mpi(s: &Settings) -> Result<(), Box<dyn Error>> {
    let comm = tapegrad::dist::MpiCollective::init()?;
    let (rank, world) = (comm.rank(), comm.world_size());
    let threads = s
        .threads_per_rank
        .unwrap_or_else(|| (cores() / ranks_on_this_machine(world)).max(1));
    if rank == 0 {
        println!("MPI: {world} processes, {threads} compute threads each");
        common::writable_file(&s.out)?;
    }
    let (train, test) = data()?;
    let comm: Arc<dyn Collective> = Arc::new(comm);
    with_threads(threads, || {
        train_rank(comm, s, &train, &test)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    Ok(())
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(_: &Settings) -> Result<(), Box<dyn Error>> {
    Err(
        "started by an MPI launcher, but built without MPI: rebuild with \
         `cargo build --release --features mpi --example ddp_digits`"
            .into(),
    )
}

/// Ranks as threads of this process; returns rank 0's test accuracy.
fn run_threads(s: &Settings) -> Result<f64, Box<dyn Error>> {
    common::writable_file(&s.out)?;
    let threads = s
        .threads_per_rank
        .unwrap_or_else(|| (cores() / s.ranks).max(1));
    println!(
        "threads: {} ranks in this process, {threads} compute threads each",
        s.ranks
    );
    let (train, test) = data()?;
    let results: Vec<Result<f64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ThreadCollective::group(s.ranks)
            .into_iter()
            .map(|c| {
                let (train, test) = (&train, &test);
                scope.spawn(move || {
                    with_threads(threads, || {
                        train_rank(Arc::new(c), s, train, test)
                            .map(|(_, acc)| acc)
                            .map_err(|e| e.to_string())
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a rank panicked".into())))
            .collect()
    });
    // Rank 0's error names the cause; the others' say a peer failed.
    results
        .into_iter()
        .next()
        .expect("at least one rank")
        .map_err(Into::into)
}

fn run(s: &Settings) -> Result<(), Box<dyn Error>> {
    if launched_as_mpi_rank() {
        run_mpi(s)
    } else {
        run_threads(s).map(|_| ())
    }
}

fn main() -> ExitCode {
    let s = Settings::parse();
    common::exit("ddp_digits", run(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        common::parse_flags("ddp_digits", args)
    }

    #[test]
    fn flags_are_checked_before_any_work() {
        let s = parse(&[]).unwrap();
        assert_eq!((s.ranks, s.epochs, s.batch_size), (2, 10, 32));
        common::assert_flags_checked::<Settings>(
            "ddp_digits",
            &[
                &["--ranks", "0"][..],
                &["--threads-per-rank", "0"],
                &["--bucket-kib", "0"],
                &["--lr", "-1"],
                &["--rank", "2"], // misspelt
            ],
            &["--ranks", "[default: 2]"],
        );
    }

    #[test]
    fn reports_gather_in_rank_order() {
        let gathered = std::thread::scope(|scope| {
            let hs: Vec<_> = ThreadCollective::group(3)
                .into_iter()
                .map(|c| {
                    scope.spawn(move || {
                        let r = c.rank() as f64;
                        let mine = RankReport {
                            samples: r,
                            seconds: 10.0 + r,
                            ..RankReport::default()
                        };
                        gather_reports(&c, mine).unwrap()
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        for reports in gathered {
            let samples: Vec<f64> = reports.iter().map(|r| r.samples).collect();
            assert_eq!(samples, vec![0.0, 1.0, 2.0]);
            assert_eq!(reports[2].seconds, 12.0);
        }
    }

    #[test]
    fn two_thread_ranks_train_and_save_from_rank_0() {
        let dir = std::env::temp_dir().join(format!("tapegrad-ddp-digits-{}", std::process::id()));
        let out = dir.join("model.safetensors");
        let s = parse(&["--epochs", "3", "--out", out.to_str().unwrap()]).unwrap();
        let acc = run_threads(&s).unwrap();
        // 3 epochs of 2 x 32 reach about 95% on the 360 test digits.
        assert!(acc > 0.85, "test accuracy {acc}");
        assert!(out.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_diverging_run_stops_on_every_rank() {
        let dir = std::env::temp_dir().join(format!("tapegrad-ddp-diverge-{}", std::process::id()));
        let out = dir.join("model.safetensors");
        let s = parse(&[
            "--lr",
            "1e30",
            "--epochs",
            "2",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        let err = run_threads(&s).unwrap_err().to_string();
        assert!(err.contains("training diverged"), "{err}");
        assert!(!out.exists(), "the diverged model was saved");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
