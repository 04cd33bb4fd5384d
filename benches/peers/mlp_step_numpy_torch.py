"""numpy and PyTorch peers of the MLP step in `benches/tape.rs`: one SGD
step of a 784-512-256-10 ReLU MLP at batch 128 in f32 (forward, softmax
cross-entropy, backward, update).

- numpy: backpropagation written by hand (what "as fast as hand-written
  numpy" means), with in-place updates;
- torch: the step a PyTorch user writes: `nn.Sequential` of `nn.Linear` /
  `nn.ReLU`, `F.cross_entropy`, `optim.SGD`, `zero_grad(set_to_none=True)`.

The process is pinned to `--threads` cores (`sched_setaffinity`) before
numpy or torch is imported, and the BLAS / torch thread counts are set to
match. `--rounds` alternates the two peers in one process, median over
rounds of each round's median.

    python benches/peers/mlp_step_numpy_torch.py --threads 1 [--rounds 5] [--target 1.0]

Prints a table and lines `peer=.. bench=mlp_step threads=.. value=.. unit=ms`.
"""

import argparse
import os
import statistics
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--target", type=float, default=1.0, help="seconds per peer per round")
args = ap.parse_args()
os.sched_setaffinity(0, set(range(args.threads)))
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(args.threads)
B, DIMS = 128, (784, 512, 256, 10)


def numpy_step_fn():
    rng = np.random.default_rng(0)
    f32, lr = np.float32, np.float32(0.01)
    w = [(rng.standard_normal((i, o)) * np.sqrt(2.0 / i)).astype(f32) for i, o in zip(DIMS[:-1], DIMS[1:])]
    b = [np.zeros(o, f32) for o in DIMS[1:]]
    x = rng.standard_normal((B, 784)).astype(f32)
    y = rng.integers(0, 10, B)
    onehot = np.zeros((B, 10), f32)
    onehot[np.arange(B), y] = 1

    def step():
        h1p = x @ w[0] + b[0]
        h1 = np.maximum(h1p, 0)
        h2p = h1 @ w[1] + b[1]
        h2 = np.maximum(h2p, 0)
        logits = h2 @ w[2] + b[2]
        e = np.exp(logits - logits.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        loss = float(-np.log(p[np.arange(B), y]).mean())
        d3 = (p - onehot) / B
        gw2, gb2 = h2.T @ d3, d3.sum(0)
        d2 = (d3 @ w[2].T) * (h2p > 0)
        gw1, gb1 = h1.T @ d2, d2.sum(0)
        d1 = (d2 @ w[1].T) * (h1p > 0)
        gw0, gb0 = x.T @ d1, d1.sum(0)
        for param, grad in ((w[0], gw0), (w[1], gw1), (w[2], gw2), (b[0], gb0), (b[1], gb1), (b[2], gb2)):
            param -= lr * grad
        return loss

    return step


def torch_step_fn():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(B, 784)
    y = torch.randint(0, 10, (B,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def median_ms(step, target_s):
    for _ in range(5):
        step()
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < target_s or len(samples) < 10:
        t = time.perf_counter()
        step()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e3


def main():
    steps = {"numpy (by hand)": numpy_step_fn(), "torch (nn + optim)": torch_step_fn()}
    rounds = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            rounds[name].append(median_ms(step, args.target))
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"# threads {args.threads} | loadavg {load} | numpy {np.__version__} | torch {torch.__version__} "
          f"({torch.backends.cpu.get_cpu_capability()})")
    for name, ms in rounds.items():
        print(f"{name:<20} {statistics.median(ms):7.3f} ms  [{min(ms):.3f}-{max(ms):.3f}] over {len(ms)} rounds")
    for name, ms in rounds.items():
        peer = name.split()[0]
        print(f"peer={peer} bench=mlp_step size=784-512-256-10xb128 threads={args.threads} "
              f"value={statistics.median(ms):.4f} unit=ms best={min(ms):.4f} reps={len(ms)}")


if __name__ == "__main__":
    main()
