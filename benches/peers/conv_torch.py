"""PyTorch CPU peer of `benches/conv.rs`: Conv2d(16 -> 32, 3x3, padding 1)
forward + backward on a [64, 16, 28, 28] f32 batch whose input needs a
gradient, loss `y.sum()`, median time per step on T threads.

    /tmp/tv/bin/python benches/peers/conv_torch.py --threads 1,2 [--batch 64] [--target 0.5]

Prints a table (ms per step, images/s, GFLOPS, best-worst spread) and, per
thread count, a line `peer=torch bench=conv2d_fwd_bwd size=.. threads=..
value=.. unit=images/s best=.. reps=..`.
"""

import argparse
import os
import statistics
import time

import torch

C_IN, C_OUT, SIDE, K = 16, 32, 28, 3


def time_step(step, target_s):
    """Warm-up, then samples of >= 2 ms each for about `target_s` seconds
    (the harness of benches/common/mod.rs); seconds per call."""
    step()
    t0 = time.perf_counter()
    step()
    one = max(time.perf_counter() - t0, 1e-9)
    inner = max(1, int(-(-2e-3 // one)))
    count = min(max(int(target_s / (one * inner)), 3), 1000)
    samples = []
    for _ in range(count):
        t = time.perf_counter()
        for _ in range(inner):
            step()
        samples.append((time.perf_counter() - t) / inner)
    samples.sort()
    return statistics.median(samples), samples[0], samples[-1], len(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--target", type=float, default=0.5)
    args = ap.parse_args()
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(C_IN, C_OUT, K, padding=1)
    x = torch.rand(args.batch, C_IN, SIDE, SIDE) * 2 - 1
    x.requires_grad_(True)

    def step():
        conv.zero_grad(set_to_none=True)
        x.grad = None
        conv(x).sum().backward()

    flops = 3 * 2 * args.batch * C_OUT * C_IN * K * K * SIDE * SIDE
    load = open("/proc/loadavg").read().split()[:3]
    print(f"# torch {torch.__version__} | loadavg {' '.join(load)} | cpus {os.cpu_count()}")
    print(f"{'threads':>7}  {'fwd+bwd ms':>10}  {'images/s':>8}  {'GFLOPS':>6}  {'spread':>11}")
    lines = []
    for t in [int(s) for s in args.threads.split(",")]:
        torch.set_num_threads(t)
        med, best, worst, reps = time_step(step, args.target)
        print(f"{t:>7}  {med * 1e3:>10.2f}  {args.batch / med:>8.0f}  {flops / med / 1e9:>6.1f}  "
              f"{best * 1e3:>5.2f}-{worst * 1e3:.2f}")
        lines.append(f"peer=torch bench=conv2d_fwd_bwd size={args.batch}x{C_IN}x{SIDE}x{SIDE} threads={t} "
                     f"value={args.batch / med:.1f} unit=images/s best={args.batch / best:.1f} reps={reps}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
