"""Cold starts of large jitted programs: seconds from the library import to the first and to
the 100th result, in fresh processes with empty caches, xform (background compile, the
default) against JAX.

`python -m benchmarks.cold_start [--calls 100] [--workloads rosen,per_example,lstm]
[--threads 1]` prints a table; as in the main suite, every library runs on one thread unless
`--threads` says otherwise (0: the libraries' defaults). Workloads: the Hessian of the chained
Rosenbrock function (n = 100); per-example gradients (batch 256) of a 4-layer residual tanh MLP
with layer normalisation; the gradient of an LSTM unrolled over 30 steps (hidden 64, batch 32).
`--child LIB WORKLOAD CALLS` is the fresh process's side.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

from benchmarks.first_call import run_fresh
from benchmarks.threads import environment

WORKLOADS = ("rosen", "per_example", "lstm")
T, H, B, D = 30, 64, 32, 16


def _data(work: str):
    rng = np.random.default_rng(0)
    if work == "lstm":
        params = [rng.standard_normal(s) * 0.1 for s in [(D + H, 4 * H), (4 * H,), (H, 1)]]
        return params, rng.standard_normal((T, B, D)), rng.standard_normal((B, 1))
    if work == "rosen":
        return (rng.uniform(-1, 1.5, 100),)
    sizes = [32, 64, 64, 64, 1]
    params = [(rng.standard_normal((a, b)) * 0.2, np.zeros(b)) for a, b in zip(sizes, sizes[1:])]
    return params, rng.standard_normal((256, 32)), rng.standard_normal(256)


def _program(lib: str, work: str):
    """The jitted function of `work` in `lib` (imported here: the timing includes it)."""
    if lib == "jax":
        import jax
        import jax.numpy as xnp
        jax.config.update("jax_enable_x64", True)
        jit, grad, hessian, vmap, sigmoid = jax.jit, jax.grad, jax.hessian, jax.vmap, \
            jax.nn.sigmoid
    else:
        import xform as xf
        import xform.numpy as xnp
        jit, grad, hessian, vmap, sigmoid = xf.jit, xf.grad, xf.hessian, xf.vmap, xf.nn.sigmoid

    def lstm(params, xs, y):
        w, b, wo = params
        h, c = xnp.zeros((B, H)), xnp.zeros((B, H))
        for t in range(T):
            i, f, g, o = xnp.split(xnp.concatenate([xs[t], h], axis=1) @ w + b, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * xnp.tanh(g)
            h = sigmoid(o) * xnp.tanh(c)
        return xnp.mean((h @ wo - y) ** 2)

    def rosen(x):
        return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    def example(params, x, y):
        h = x
        for k, (w, b) in enumerate(params[:-1]):
            z = xnp.tanh(h @ w + b) + (h if k else 0.0)
            mu = xnp.mean(z)
            h = (z - mu) / xnp.sqrt(xnp.mean((z - mu) ** 2) + 1e-5)
        w, b = params[-1]
        return (xnp.sum(h @ w + b) - y) ** 2

    if work == "lstm":
        return jit(grad(lstm))
    if work == "rosen":
        return jit(hessian(rosen))
    return jit(vmap(grad(example), in_axes=(None, 0, 0)))


def child(lib: str, work: str, calls: int) -> dict:
    args = _data(work)
    start = time.perf_counter()
    f = _program(lib, work)
    first = None
    for i in range(calls):
        out = f(*args)
        if lib == "jax":
            import jax
            jax.block_until_ready(out)
        if i == 0:
            first = time.perf_counter() - start
    return {"first": first, "total": time.perf_counter() - start}


def probe(lib: str, work: str, calls: int, threads: int = 1) -> dict:
    cache = tempfile.mkdtemp(prefix="cold-start-")
    env = {**environment(threads), "XFORM_CACHE_DIR": os.path.join(cache, "xform"),
           "NUMBA_CACHE_DIR": os.path.join(cache, "numba"), "JAX_PLATFORMS": "cpu",
           "XFORM_COMPILE": None}
    try:
        return run_fresh("benchmarks.cold_start", ["--child", lib, work, str(calls)], env, 1800)
    except RuntimeError as exc:
        return {"error": str(exc)}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--child", nargs=3, metavar=("LIB", "WORKLOAD", "CALLS"))
    opts = p.parse_args(argv)
    if opts.child:
        lib, work, calls = opts.child
        print(json.dumps(child(lib, work, int(calls))))
        return
    try:
        import jax  # noqa: F401
        libs = ("xform", "jax")
    except ImportError:
        libs = ("xform",)
    print("threads:", opts.threads or "the libraries' defaults", "\n")
    print(f"| workload | library | first result (s) | {opts.calls} results (s) |")
    print("| --- | --- | --- | --- |")
    rows = {}
    for work in opts.workloads.split(","):
        for lib in libs:
            r = rows[work, lib] = probe(lib, work, opts.calls, opts.threads)
            cells = [f"{r[k]:.2f}" for k in ("first", "total")] if "error" not in r else \
                [r["error"], ""]
            print(f"| {work} | {lib} | {cells[0]} | {cells[1]} |", flush=True)
    if "jax" in libs:
        print("\nratios xform ÷ JAX (first, all calls):")
        for work in opts.workloads.split(","):
            x, j = rows[work, "xform"], rows[work, "jax"]
            if "error" not in x and "error" not in j:
                print(f"  {work}: {x['first'] / j['first']:.2f}, {x['total'] / j['total']:.2f}")


if __name__ == "__main__":
    main()
