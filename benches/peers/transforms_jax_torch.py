"""JAX and torch.func peers of `benches/transforms.rs`, the same workloads
in f32, each beside the same baseline (ratio = transform / baseline):

1. jvp of the 784-512-256-10 ReLU MLP forward at batch 128, tangent on the
   input only and on every parameter, against the plain forward.
2. hvp of its cross-entropy over the parameters (forward-over-reverse:
   jvp of grad), against one gradient.
3. Per-sample gradients of the digits MLP (64-128-64-10) at batch 64,
   `vmap(grad)`, against a loop of 64 single-example gradients.

JAX runs eagerly (no `jit`), as the issue asks: the cost a user pays for a
transform called from Python. The process is pinned to `--threads` cores
before either library is imported (`sched_setaffinity`), and each library
is told the same thread count.

    python benches/peers/transforms_jax_torch.py --threads 1 [--target 0.5] [--only jax|torch]

Prints a table and lines `peer=.. bench=.. threads=.. value=.. unit=ms ratio=..`.
"""

import argparse
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--target", type=float, default=0.5)
ap.add_argument("--only", choices=["jax", "torch"], default=None)
args = ap.parse_args()
os.sched_setaffinity(0, set(range(args.threads)))
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["XLA_FLAGS"] = (
    f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'} "
    f"intra_op_parallelism_threads={args.threads}"
)

import numpy as np  # noqa: E402

DIMS = [784, 512, 256, 10]
BATCH = 128


def time_pair(a, b, target_s):
    """Interleaved samples of >= 2 ms each (the harness of
    benches/common/mod.rs); median seconds per call of each."""
    for f in (a, b):
        f()
    one = max(max(_once(a), _once(b)), 1e-9)
    inner = max(1, int(-(-2e-3 // one)))
    count = min(max(int(target_s / (one * inner)), 5), 1000)
    sa, sb = [], []
    for _ in range(count):
        for f, s in ((a, sa), (b, sb)):
            t = time.perf_counter()
            for _ in range(inner):
                f()
            s.append((time.perf_counter() - t) / inner)
    return statistics.median(sa), statistics.median(sb)


def _once(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def mlp_numpy(rng):
    params = []
    for i in range(3):
        bound = 1 / np.sqrt(DIMS[i])
        params.append(rng.uniform(-bound, bound, (DIMS[i], DIMS[i + 1])).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (DIMS[i + 1],)).astype(np.float32))
    x = rng.standard_normal((BATCH, DIMS[0])).astype(np.float32)
    labels = np.array([(i * 7) % 10 for i in range(BATCH)])
    return params, x, labels


def digits_numpy(rng):
    dims = [64, 128, 64, 10]
    params = []
    for i in range(3):
        bound = 1 / np.sqrt(dims[i])
        params.append(rng.uniform(-bound, bound, (dims[i], dims[i + 1])).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (dims[i + 1],)).astype(np.float32))
    x = rng.standard_normal((64, 64)).astype(np.float32)
    labels = np.array([(i * 3) % 10 for i in range(64)])
    return params, x, labels


def run_jax(rows):
    import jax
    import jax.numpy as jnp

    def forward(x, p):
        h = x
        for i in range(3):
            h = h @ p[2 * i] + p[2 * i + 1]
            if i < 2:
                h = jax.nn.relu(h)
        return h

    def xent(p, x, labels):
        logp = jax.nn.log_softmax(forward(x, p), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    rng = np.random.default_rng(0)
    params, x, labels = mlp_numpy(rng)
    params = [jnp.asarray(p) for p in params]
    x, labels = jnp.asarray(x), jnp.asarray(labels)
    x_dot = jnp.asarray(rng.standard_normal(x.shape).astype(np.float32))
    p_dots = [jnp.asarray(rng.standard_normal(p.shape).astype(np.float32)) for p in params]
    block = jax.block_until_ready
    plain = lambda: block(forward(x, params))
    jvp_in = lambda: block(jax.jvp(lambda x: forward(x, params), (x,), (x_dot,)))
    jvp_all = lambda: block(jax.jvp(forward, (x, params), (x_dot, p_dots)))
    grad = lambda: block(jax.grad(xent)(params, x, labels))
    hvp = lambda: block(jax.jvp(lambda p: jax.grad(xent)(p, x, labels), (params,), (p_dots,)))
    rows.append(("jax", "jvp MLP fwd b128, input tangent", *time_pair(jvp_in, plain, args.target)))
    rows.append(("jax", "jvp MLP fwd b128, all tangents", *time_pair(jvp_all, plain, args.target)))
    rows.append(("jax", "hvp MLP cross-entropy b128", *time_pair(hvp, grad, args.target)))

    dp, dx, dl = digits_numpy(np.random.default_rng(3))
    dp = [jnp.asarray(p) for p in dp]
    dx, dl = jnp.asarray(dx), jnp.asarray(dl)

    def one_loss(p, xi, li):
        return xent(p, xi[None, :], li[None])

    per_sample = jax.vmap(jax.grad(one_loss), in_axes=(None, 0, 0))
    fast = lambda: block(per_sample(dp, dx, dl))
    loop = lambda: block([jax.grad(one_loss)(dp, dx[b], dl[b]) for b in range(64)])
    rows.append(("jax", "per-sample grads digits MLP b64", *time_pair(fast, loop, args.target)))


def run_torch(rows):
    import torch
    from torch.func import grad, jvp, vmap

    torch.set_num_threads(args.threads)

    def forward(x, p):
        h = x
        for i in range(3):
            h = h @ p[2 * i] + p[2 * i + 1]
            if i < 2:
                h = torch.relu(h)
        return h

    def xent(p, x, labels):
        return torch.nn.functional.cross_entropy(forward(x, p), labels)

    rng = np.random.default_rng(0)
    params, x, labels = mlp_numpy(rng)
    params = tuple(torch.from_numpy(p) for p in params)
    x, labels = torch.from_numpy(x), torch.from_numpy(labels)
    x_dot = torch.from_numpy(rng.standard_normal(tuple(x.shape)).astype(np.float32))
    p_dots = tuple(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)) for p in params)

    def plain():
        with torch.no_grad():
            forward(x, params)

    jvp_in = lambda: jvp(lambda x: forward(x, params), (x,), (x_dot,))
    jvp_all = lambda: jvp(forward, (x, params), (x_dot, p_dots))
    g = lambda: grad(xent)(params, x, labels)
    hvp = lambda: jvp(lambda p: grad(xent)(p, x, labels), (params,), (p_dots,))
    rows.append(("torch.func", "jvp MLP fwd b128, input tangent", *time_pair(jvp_in, plain, args.target)))
    rows.append(("torch.func", "jvp MLP fwd b128, all tangents", *time_pair(jvp_all, plain, args.target)))
    rows.append(("torch.func", "hvp MLP cross-entropy b128", *time_pair(hvp, g, args.target)))

    dp, dx, dl = digits_numpy(np.random.default_rng(3))
    dp = tuple(torch.from_numpy(p) for p in dp)
    dx, dl = torch.from_numpy(dx), torch.from_numpy(dl)

    def one_loss(p, xi, li):
        return xent(p, xi[None, :], li[None])

    per_sample = vmap(grad(one_loss), in_dims=(None, 0, 0))
    fast = lambda: per_sample(dp, dx, dl)
    loop = lambda: [grad(one_loss)(dp, dx[b], dl[b]) for b in range(64)]
    rows.append(("torch.func", "per-sample grads digits MLP b64", *time_pair(fast, loop, args.target)))


def main():
    rows = []
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"# threads {args.threads} | loadavg {load} | python {sys.version.split()[0]}")
    if args.only in (None, "jax"):
        run_jax(rows)
    if args.only in (None, "torch"):
        run_torch(rows)
    print(f"{'peer':<11} {'benchmark':<34} {'transform':>10} {'baseline':>10} {'ratio':>7}")
    for peer, bench, t, base in rows:
        print(f"{peer:<11} {bench:<34} {t * 1e3:>8.3f}ms {base * 1e3:>8.3f}ms {t / base:>6.2f}x")
    for peer, bench, t, base in rows:
        name = bench.replace(" ", "_").replace(",", "")
        print(f"peer={peer} bench={name} threads={args.threads} value={t * 1e3:.3f} unit=ms "
              f"baseline={base * 1e3:.3f} ratio={t / base:.2f}")


if __name__ == "__main__":
    main()
