"""xform.dask on LocalClusters of 1 and 2 single-threaded worker processes: the speed-up from
the second worker and the overhead per task.

    python -m benchmarks.dask_bench [--rows 1000000] [--gb 3] [--repeat 3]

Three measurements, each on both clusters after a warm-up run (which compiles: each worker
compiles a program once, or loads it from the disk cache):
- per-example gradients: `xd.vmap(grad(mlp_loss))` over `--rows` rows generated lazily by
  dask, each gradient clipped to norm 1 and summed on the cluster (DP-SGD's inner step);
- a data-parallel gradient: `xd.value_and_grad(logistic_loss, reduce="mean")` over a dataset
  of `--gb` gigabytes that dask generates, chunk by chunk, from a seed;
- the overhead per task: `xd.vmap` of a trivial function over many two-row blocks, beside
  dask's own `map_blocks` over the same blocks.
Needs the extra: pip install "xform[dask]".
"""
from __future__ import annotations

import argparse
import sys
import time

import dask.array as da
import distributed
import numpy as np

import xform as xf
import xform.dask as xd
import xform.numpy as xnp

FEATURES, HIDDEN = 32, 64


def mlp_loss(params, x, y):
    h = xnp.tanh(x @ params["w1"] + params["b1"])
    return (h @ params["w2"] - y) ** 2


def clipped_grad(params, x, y):
    """One example's gradient, flattened and clipped to norm at most 1."""
    g = xf.grad(mlp_loss)(params, x, y)
    flat = xnp.concatenate([g["w1"].ravel(), g["b1"], g["w2"]])
    return flat / xnp.maximum(1.0, xnp.sqrt(xnp.sum(flat * flat)))


def logistic_loss(w, x, y):
    z = x @ w
    return xnp.mean(xnp.logaddexp(0.0, z) - y * z)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def per_example(rows: int, chunk: int):
    rng = np.random.default_rng(0)
    params = {"w1": rng.normal(size=(FEATURES, HIDDEN)) / 8, "b1": np.zeros(HIDDEN),
              "w2": rng.normal(size=HIDDEN) / 8}
    data = da.random.default_rng(1)
    x = data.standard_normal((rows, FEATURES), chunks=(chunk, FEATURES))
    y = data.standard_normal(rows, chunks=chunk)
    grads = xd.vmap(clipped_grad, in_axes=(None, 0, 0))(params, x, y)
    return lambda: grads.sum(axis=0).compute()


def data_parallel(gigabytes: float, chunk: int):
    features = 16
    rows = int(gigabytes * 1e9 / (8 * (features + 1)))
    chunk = min(chunk, rows)
    rows = rows // chunk * chunk
    data = da.random.default_rng(2)
    x = data.standard_normal((rows, features), chunks=(chunk, features))
    y = (data.random(rows, chunks=chunk) < 0.5).astype(np.float64)
    vg = xd.value_and_grad(logistic_loss, reduce="mean")
    w = np.linspace(-1, 1, features)
    return lambda: vg(w, x, y), rows * (features + 1) * 8 / 1e9


def overhead(blocks: int):
    x = da.ones((2 * blocks, 4), chunks=(2, 4))
    ours = xd.vmap(lambda r: xnp.sum(r))(x)
    theirs = x.map_blocks(lambda b: b.sum(axis=1), drop_axis=1, dtype=x.dtype)
    return lambda: ours.sum().compute(), lambda: theirs.sum().compute()


def measure(workers: int, args) -> dict:
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
    out = {}
    with distributed.Client(cluster):
        run = per_example(args.rows, args.rows // 40)
        run()
        out["per-example"] = _best(run, args.repeat)
        run, size = data_parallel(args.gb, 1_000_000)
        run()
        out["data-parallel"] = _best(run, args.repeat)
        out["gb"] = size
        ours, theirs = overhead(args.blocks)
        ours(), theirs()
        out["task"] = _best(ours, args.repeat) / args.blocks
        out["dask task"] = _best(theirs, args.repeat) / args.blocks
    cluster.close()
    print(f"{workers} worker(s): {out}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gb", type=float, default=3.0)
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {n: measure(n, args) for n in (1, 2)}
    one, two = results[1], results[2]
    print(f"{'':34} {'1 worker':>10} {'2 workers':>10} {'speed-up':>9}")
    for name, label in (("per-example", f"per-example grads, {args.rows:.0e} rows (s)"),
                        ("data-parallel", f"data-parallel grad, {one['gb']:.1f} GB (s)")):
        print(f"{label:34} {one[name]:10.3f} {two[name]:10.3f} {one[name] / two[name]:8.2f}x")
    for name, label in (("task", "xform.dask.vmap per task (ms)"),
                        ("dask task", "dask map_blocks per task (ms)")):
        print(f"{label:34} {1e3 * one[name]:10.3f} {1e3 * two[name]:10.3f}")


if __name__ == "__main__":
    main()
