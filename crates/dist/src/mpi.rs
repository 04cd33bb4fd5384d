//! The MPI backend (cargo feature `mpi`): ranks are processes started by
//! `mpirun` or `srun`, on one machine or many.
//!
//! All MPI calls run on one communication thread that this backend starts
//! (MPI's `MPI_THREAD_FUNNELED` level, which every MPI provides). The
//! training thread hands it buffers through a channel and goes on
//! computing; so an all-reduce started from a gradient hook runs while
//! backward continues, and a collective that does not return within the
//! timeout becomes an error instead of a hang.

use crate::buffer::Buffer;
use crate::collective::{human_bytes, Collective, Pending};
use crate::error::DistError;
use mpi::collective::SystemOperation;
use mpi::traits::*;
use mpi::Threading;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

/// How [`MpiCollective`] sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReduceOrder {
    /// `MPI_Allreduce`: the MPI library's algorithm (fastest; the order of
    /// the additions is its choice).
    #[default]
    Native,
    /// Gather every rank's buffer on rank 0, add them in rank order,
    /// broadcast the sum: the same bits as the in-process backend, for any
    /// number of ranks and any MPI. Sends `p` times the data to rank 0.
    RankOrder,
}

enum Command {
    AllReduce(Buffer, Sender<Result<Buffer, DistError>>),
    RankOrderSum(Buffer, Sender<Result<Buffer, DistError>>),
    Broadcast(Buffer, usize, Sender<Result<Buffer, DistError>>),
    Barrier(Sender<Result<Buffer, DistError>>),
    Abort(i32),
    Shutdown,
}

/// The ranks of `MPI_COMM_WORLD`, as a [`Collective`].
///
/// Start the program with `mpirun -np 2 program` (or `srun` under
/// Slurm); each process calls [`MpiCollective::init`] once. A rank that
/// panics while holding it aborts the whole job (`MPI_Abort`), so the
/// others stop too instead of waiting for it; a collective that does not
/// complete within the timeout returns [`DistError::Timeout`].
pub struct MpiCollective {
    rank: usize,
    world: usize,
    timeout: Duration,
    order: ReduceOrder,
    commands: Mutex<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    next_op: AtomicU64,
}

impl MpiCollective {
    /// Initialises MPI (on the communication thread) and joins
    /// `MPI_COMM_WORLD`, with a 5-minute timeout and [`ReduceOrder::Native`].
    ///
    /// # Errors
    /// [`DistError::Init`] if MPI is already initialised in this process or
    /// cannot provide `MPI_THREAD_FUNNELED`.
    pub fn init() -> Result<MpiCollective, DistError> {
        let (commands, inbox) = channel::<Command>();
        let (ready, started) = channel::<Result<(usize, usize), DistError>>();
        let thread = std::thread::Builder::new()
            .name("tapegrad-mpi".into())
            .spawn(move || communicate(inbox, ready))
            .map_err(|e| DistError::Init(format!("cannot start the MPI thread: {e}")))?;
        let (rank, world) = started
            .recv()
            .map_err(|_| DistError::Init("the MPI thread stopped while starting".into()))??;
        Ok(MpiCollective {
            rank,
            world,
            timeout: Duration::from_secs(300),
            order: ReduceOrder::Native,
            commands: Mutex::new(commands),
            thread: Some(thread),
            next_op: AtomicU64::new(0),
        })
    }

    /// Waits at most `timeout` in any collective.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sums in `order`.
    pub fn with_reduce_order(mut self, order: ReduceOrder) -> Self {
        self.order = order;
        self
    }

    /// Ends the job on every rank with exit code `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        let _ = self.send(Command::Abort(code));
        std::thread::sleep(Duration::from_secs(5));
        std::process::exit(code)
    }

    fn send(&self, command: Command) -> Result<(), ()> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(command)
            .map_err(|_| ())
    }

    fn start(
        &self,
        kind: &str,
        buf: Buffer,
        make: impl FnOnce(Buffer, Sender<Result<Buffer, DistError>>) -> Command,
    ) -> Pending {
        let seq = self.next_op.fetch_add(1, Ordering::Relaxed);
        let op = format!("{kind} #{seq} of {}", human_bytes(buf.bytes()));
        let bytes = buf.bytes();
        let (reply, answer) = channel();
        if self.send(make(buf, reply)).is_err() {
            return Pending::ready(
                op,
                Err(DistError::Init("the MPI thread has stopped".into())),
            );
        }
        let (rank, timeout, name) = (self.rank, self.timeout, op.clone());
        Pending::new(op, bytes, move || wait(answer, rank, timeout, name))
    }
}

fn wait(
    answer: Receiver<Result<Buffer, DistError>>,
    rank: usize,
    timeout: Duration,
    op: String,
) -> Result<Buffer, DistError> {
    match answer.recv_timeout(timeout) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(DistError::Timeout {
            rank,
            op,
            after: timeout,
        }),
        Err(RecvTimeoutError::Disconnected) => Err(DistError::Init(format!(
            "the MPI thread stopped during {op}"
        ))),
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world
    }

    fn start_all_reduce_sum(&self, buf: Buffer) -> Pending {
        let order = self.order;
        self.start("all-reduce", buf, move |buf, reply| match order {
            ReduceOrder::Native => Command::AllReduce(buf, reply),
            ReduceOrder::RankOrder => Command::RankOrderSum(buf, reply),
        })
    }

    fn start_broadcast(&self, buf: Buffer, root: usize) -> Pending {
        if root >= self.world {
            return Pending::ready(
                "broadcast".into(),
                Err(DistError::Mismatch {
                    rank: self.rank,
                    detail: format!("broadcast from rank {root} in a world of {}", self.world),
                }),
            );
        }
        self.start("broadcast", buf, move |buf, reply| {
            Command::Broadcast(buf, root, reply)
        })
    }

    fn barrier(&self) -> Result<(), DistError> {
        self.start("barrier", Buffer::U8(Vec::new()), |_, reply| {
            Command::Barrier(reply)
        })
        .wait()
        .map(|_| ())
    }
}

impl Drop for MpiCollective {
    /// Finalises MPI; or, while this thread panics, aborts the job so that
    /// no other rank waits for this one.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "tapegrad-dist: rank {} of {} panicked; aborting the MPI job so the other ranks stop too",
                self.rank, self.world
            );
            let _ = self.send(Command::Abort(101));
            std::thread::sleep(Duration::from_secs(5));
            std::process::exit(101);
        }
        let _ = self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for MpiCollective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MpiCollective(rank {} of {}, {:?})",
            self.rank, self.world, self.order
        )
    }
}

/// The communication thread: initialises MPI, runs commands in order,
/// finalises MPI when told to stop (or when every sender is gone).
fn communicate(inbox: Receiver<Command>, ready: Sender<Result<(usize, usize), DistError>>) {
    let Some((universe, level)) = mpi::initialize_with_threading(Threading::Funneled) else {
        let _ = ready.send(Err(DistError::Init(
            "MPI is already initialised in this process".into(),
        )));
        return;
    };
    if level < Threading::Funneled {
        let _ = ready.send(Err(DistError::Init(format!(
            "MPI provides thread level {level:?}, MPI_THREAD_FUNNELED is needed"
        ))));
        return;
    }
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    if ready.send(Ok((rank, size))).is_err() {
        return;
    }
    while let Ok(command) = inbox.recv() {
        match command {
            Command::AllReduce(buf, reply) => {
                let _ = reply.send(Ok(all_reduce(&world, buf)));
            }
            Command::RankOrderSum(buf, reply) => {
                let _ = reply.send(Ok(rank_order_sum(&world, rank, size, buf)));
            }
            Command::Barrier(reply) => {
                world.barrier();
                let _ = reply.send(Ok(Buffer::U8(Vec::new())));
            }
            Command::Broadcast(mut buf, root, reply) => {
                broadcast(&world, &mut buf, root);
                let _ = reply.send(Ok(buf));
            }
            Command::Abort(code) => world.abort(code),
            Command::Shutdown => break,
        }
    }
    // `universe` drops here: MPI_Finalize.
}

fn all_reduce(world: &mpi::topology::SimpleCommunicator, buf: Buffer) -> Buffer {
    if buf.is_empty() {
        return buf; // see `broadcast`
    }
    fn sum<T: Equivalence + Clone + Default>(
        world: &mpi::topology::SimpleCommunicator,
        data: Vec<T>,
    ) -> Vec<T> {
        let mut out = vec![T::default(); data.len()];
        world.all_reduce_into(&data[..], &mut out[..], SystemOperation::sum());
        out
    }
    match buf {
        Buffer::F32(v) => Buffer::F32(sum(world, v)),
        Buffer::F64(v) => Buffer::F64(sum(world, v)),
        Buffer::U64(v) => Buffer::U64(sum(world, v)),
        Buffer::U8(v) => Buffer::U8(sum(world, v)),
    }
}

fn broadcast(world: &mpi::topology::SimpleCommunicator, buf: &mut Buffer, root: usize) {
    // OpenMPI refuses an empty slice's dangling pointer (MPI_ERR_ARG, fatal)
    // even with count 0; an empty collective moves nothing, so skip it.
    // (Every rank's buffer has the same length, so all ranks skip it.)
    if buf.is_empty() {
        return;
    }
    let root = world.process_at_rank(root as i32);
    match buf {
        Buffer::F32(v) => root.broadcast_into(&mut v[..]),
        Buffer::F64(v) => root.broadcast_into(&mut v[..]),
        Buffer::U64(v) => root.broadcast_into(&mut v[..]),
        Buffer::U8(v) => root.broadcast_into(&mut v[..]),
    }
}

/// Gather on rank 0, add in rank order, broadcast.
fn rank_order_sum(
    world: &mpi::topology::SimpleCommunicator,
    rank: usize,
    size: usize,
    buf: Buffer,
) -> Buffer {
    if buf.is_empty() {
        return buf; // see `broadcast`
    }
    fn gather<T: Equivalence + Clone + Default>(
        world: &mpi::topology::SimpleCommunicator,
        rank: usize,
        size: usize,
        data: &[T],
    ) -> Vec<Vec<T>> {
        let root = world.process_at_rank(0);
        if rank == 0 {
            let total = data
                .len()
                .checked_mul(size)
                .expect("rank-order sum: the gathered buffer's length overflows usize");
            let mut all = vec![T::default(); total];
            root.gather_into_root(data, &mut all[..]);
            all.chunks(data.len().max(1)).map(<[T]>::to_vec).collect()
        } else {
            root.gather_into(data);
            Vec::new()
        }
    }
    let len = buf.len();
    let parts: Vec<Buffer> = match &buf {
        Buffer::F32(v) => gather(world, rank, size, v)
            .into_iter()
            .map(Buffer::F32)
            .collect(),
        Buffer::F64(v) => gather(world, rank, size, v)
            .into_iter()
            .map(Buffer::F64)
            .collect(),
        Buffer::U64(v) => gather(world, rank, size, v)
            .into_iter()
            .map(Buffer::U64)
            .collect(),
        Buffer::U8(v) => gather(world, rank, size, v)
            .into_iter()
            .map(Buffer::U8)
            .collect(),
    };
    let mut total = if rank == 0 && len > 0 {
        Buffer::sum_in_order(parts.iter())
    } else {
        buf
    };
    broadcast(world, &mut total, 0);
    total
}
