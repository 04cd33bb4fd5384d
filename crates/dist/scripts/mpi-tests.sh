#!/usr/bin/env bash
# Runs tapegrad-dist's MPI test (crates/dist/tests/mpi_ddp.rs) under mpirun,
# one process per rank on this machine, every scenario; checks that the
# failure scenarios end the job with a non-zero exit instead of hanging.
# Needs a system MPI and libclang (Debian: libopenmpi-dev openmpi-bin
# libclang-dev). Usage: crates/dist/scripts/mpi-tests.sh [ranks]
set -euo pipefail
ranks="${1:-2}"
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="mpirun --allow-run-as-root --oversubscribe -np $ranks"
export RUST_BACKTRACE=0
run() { timeout 300 cargo test -q -p tapegrad-dist --features mpi --release --test mpi_ddp -- "$@"; }

for scenario in train native stuck-rank-1; do
    echo "== mpi_ddp $scenario on $ranks ranks"
    run "$scenario"
done

for scenario in panic-rank-1 exit-rank-1; do
    echo "== mpi_ddp $scenario on $ranks ranks (must fail, not hang)"
    set +e
    out=$(run "$scenario" 2>&1)
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        echo "$out"; echo "FAILED: the job succeeded although rank 1 failed"; exit 1
    fi
    if [ "$rc" -eq 124 ]; then
        echo "$out"; echo "FAILED: the job hung (killed by the 300 s timeout)"; exit 1
    fi
    if [ "$scenario" = panic-rank-1 ] && ! grep -q "rank 1 of $ranks panicked; aborting the MPI job" <<<"$out"; then
        echo "$out"; echo "FAILED: no message naming the failed rank"; exit 1
    fi
    echo "ok: the job ended with exit code $rc"
done
