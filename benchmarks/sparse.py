"""Sparse against dense Jacobians and Hessians, the sparsity found from the traced program.

`python -m benchmarks.sparse [--sizes 1000,10000] [--seconds 2]` prints, per size n:

- the Jacobian of a 1-D PDE residual (Bratu: a 3-point stencil plus exp, n equations in n
  unknowns): one evaluation of the function, `xf.jacobian(f, sparsity="auto")` (warm: the
  pattern and colouring are cached per signature; its first call, which detects and colours,
  is timed once), and dense `xf.jacfwd`; the ratios dense / sparse (target ≥ 100 at
  n = 10⁴) and sparse / one evaluation (target about colours + 1);
- the same for the Hessian of the chained Rosenbrock function against dense `xf.hessian`.

Dense derivatives at n = 10⁴ hold several n x n float64 arrays (0.8 GB each); `--dense-max`
(default 10⁴) skips them above that size.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import xform as xf
import xform.numpy as xnp
from benchmarks.timing import Budget, Measurement, measure_steady


def residual(u):
    h = 1.0 / (u.size + 1)
    v = xnp.pad(u, 1)
    return (v[2:] - 2 * v[1:-1] + v[:-2]) / h ** 2 + xnp.exp(u)


def rosenbrock(x):
    return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _first_call(make, x) -> float:
    start = time.perf_counter()
    make()(x)
    return time.perf_counter() - start


def _show(m) -> str:
    if m is None:
        return f"{'-':>13}"
    return f"{type(m).__name__:>13}" if isinstance(m, Exception) else \
        f"{m.seconds * 1e3:10.3f} ms"


def _ratio(a, b) -> str:
    if isinstance(a, Measurement) and isinstance(b, Measurement) and b.seconds > 0:
        return f"{a.seconds / b.seconds:8.1f}x"
    return "       -"


def row(name, fun, sparse, dense, n, budget, dense_max):
    x = np.linspace(0.1, 0.9, n)
    sparse_fn = sparse(fun)
    first = _first_call(lambda: sparse(fun), x)
    sparse_fn(x)
    thunks = {"f": lambda: fun(x), "sparse": lambda: sparse_fn(x)}
    if n <= dense_max:
        dense_fn = dense(fun)
        thunks["dense"] = lambda: dense_fn(x)
    got = measure_steady(thunks, budget)
    colours = sparse_fn.plans((x,)).n_colours
    print(f"{name:<10} {n:>7} {colours:>7} {_show(got['f'])} {_show(got['sparse'])} "
          f"{first * 1e3:10.1f} ms {_show(got.get('dense'))} "
          f"{_ratio(got.get('dense'), got['sparse'])} {_ratio(got['sparse'], got['f'])}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--dense-max", type=int, default=10_000)
    args = parser.parse_args(argv)
    budget = Budget(seconds=args.seconds, min_batch=0.05, min_samples=3, max_samples=50)
    print(f"{'':<10} {'n':>7} {'colours':>7} {'f':>13} {'sparse':>13} {'first call':>13} "
          f"{'dense':>13} {'dense/sp':>9} {'sp/f':>9}")
    for n in map(int, args.sizes.split(",")):
        row("jacobian", residual, lambda f: xf.jacobian(f, sparsity="auto"), xf.jacfwd, n,
            budget, args.dense_max)
        row("hessian", rosenbrock, lambda f: xf.hessian(f, sparsity="auto"), xf.hessian, n,
            budget, args.dense_max)


if __name__ == "__main__":
    main()
