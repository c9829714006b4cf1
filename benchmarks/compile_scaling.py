"""How compile cost grows with program size: CPU seconds to compile `jit(grad)` of an LSTM
unrolled over T steps (hidden 64, batch 32), T = 15, 30, 60, each in a fresh process with an
empty program cache (Numba's cache of xform's helper kernels is filled once beforehand: those
compile once per machine, not per program).

`python -m benchmarks.compile_scaling [--steps 15,30,60]` prints a table and the ratio of the
compile CPU of each program to that of the one half its size (the target: at most 2), then
what programs sharing one cache cost after the 30-step one: another batch size, more steps.
`--child T [--batch B]` is the fresh process's side.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time

import numpy as np

from benchmarks.first_call import run_fresh
from benchmarks.threads import environment

H, B, D = 64, 32, 16


def child(steps: int, batch: int = B) -> dict:
    import xform as xf
    import xform.numpy as xnp
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s) * 0.1 for s in [(D + H, 4 * H), (4 * H,), (H, 1)]]
    xs, y = rng.standard_normal((steps, batch, D)), rng.standard_normal((batch, 1))

    def lstm(params, xs, y):
        w, b, wo = params
        h, c = xnp.zeros((batch, H)), xnp.zeros((batch, H))
        for t in range(steps):
            i, f, g, o = xnp.split(xnp.concatenate([xs[t], h], axis=1) @ w + b, 4, axis=1)
            c = xf.nn.sigmoid(f) * c + xf.nn.sigmoid(i) * xnp.tanh(g)
            h = xf.nn.sigmoid(o) * xnp.tanh(c)
        return xnp.mean((h @ wo - y) ** 2)

    lowered = xf.jit(xf.grad(lstm), compile="sync").lower(params, xs, y)
    cpu, wall = resource.getrusage(resource.RUSAGE_SELF).ru_utime, time.perf_counter()
    got = lowered.compile()(params, xs, y)
    cpu, wall = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu, time.perf_counter() - wall
    want = xf.jit(xf.grad(lstm), backend="interpreter")(params, xs, y)
    error = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
    return {"equations": len(lowered.ir.eqns), "cpu": cpu, "wall": wall, "error": error}


def probe(steps: int, numba_cache: str, cache: str | None = None, batch: int = B) -> dict:
    """Compile in a fresh process, with a program cache of its own unless `cache` is given."""
    own = cache is None
    cache = tempfile.mkdtemp(prefix="compile-scaling-") if own else cache
    env = {**environment(1), "XFORM_CACHE_DIR": cache, "NUMBA_CACHE_DIR": numba_cache}
    try:
        return run_fresh("benchmarks.compile_scaling",
                         ["--child", str(steps), "--batch", str(batch)], env, 3600)
    except RuntimeError as exc:
        return {"error": str(exc)}
    finally:
        if own:
            shutil.rmtree(cache, ignore_errors=True)


def shared(numba_cache: str) -> None:
    """Compile CPU of programs that find the 30-step, batch-32 program's parts in the cache."""
    cache = tempfile.mkdtemp(prefix="compile-scaling-shared-")
    try:
        print("\none program cache, in turn (fresh processes):")
        for steps, batch in [(30, B), (30, 48), (30, 64), (60, B)]:
            r = probe(steps, numba_cache, cache, batch)
            cpu = f"{r['cpu']:.1f} s CPU" if isinstance(r.get("cpu"), float) else r["error"]
            print(f"  {steps} steps, batch {batch}: {cpu}", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", default="15,30,60")
    p.add_argument("--child", type=int, metavar="T")
    p.add_argument("--batch", type=int, default=B)
    opts = p.parse_args(argv)
    if opts.child:
        print(json.dumps(child(opts.child, opts.batch)))
        return
    numba_cache = tempfile.mkdtemp(prefix="compile-scaling-numba-")
    try:
        probe(2, numba_cache)  # compiles the helper kernels into this Numba cache
        print("| steps | IR equations | compile CPU (s) | wall (s) | max error vs interpreter |")
        print("| --- | --- | --- | --- | --- |")
        rows = {}
        for steps in map(int, opts.steps.split(",")):
            r = rows[steps] = probe(steps, numba_cache)
            if "error" in r and isinstance(r["error"], str):
                print(f"| {steps} | {r['error']} | | | |", flush=True)
                continue
            print(f"| {steps} | {r['equations']} | {r['cpu']:.1f} | {r['wall']:.1f} | "
                  f"{r['error']:.1e} |", flush=True)
        shared(numba_cache)
    finally:
        shutil.rmtree(numba_cache, ignore_errors=True)
    print("\ncompile CPU of a program ÷ that of one half its size (target ≤ 2):")
    for steps, r in rows.items():
        half = rows.get(steps // 2)
        if half and isinstance(r.get("cpu"), float) and isinstance(half.get("cpu"), float):
            print(f"  {steps} ÷ {steps // 2} steps: {r['cpu'] / half['cpu']:.2f}")


if __name__ == "__main__":
    main()
