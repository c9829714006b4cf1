"""`vmap` of `lax.cond` whose expensive branch few examples take: per-example branches against
a select over both.

`python -m benchmarks.cond_vmap [--size 1000000] [--taken 0.01] [--terms 50] [--seconds 1]`
times y = vmap(cond(x > t, expensive, cheap))(x) over `--size` values, `--taken` of them
taking the expensive branch (the exponential series to `--terms` terms by Horner's rule,
written out in Python, or as a `fori_loop`), and the gradient of sum(y):

- `batched_cond`: `xf.vmap` of the cond, which runs on each example only its branch;
- `select`: `xnp.where(x > t, expensive(x), cheap(x))`, both branches on every example (the
  formulation vmap of cond used before, and the one JAX uses);
- each under `xf.jit` (Numba, compiled synchronously) and in the interpreter, and JAX's
  `jax.jit(jax.vmap(cond))` when JAX is installed.

It prints seconds per call (median after warm-up, interleaved) and select / batched_cond.
The gradient gains less than the value: its forward pass stores every branch's residuals for
every example (zeros where another branch is taken), so its cost is mostly that memory; with
the `fori_loop`, whose per-step residuals include the step's constant divisor (one value per
step for the select, one per step and example here), batched_cond stores twice as much.
"""
from __future__ import annotations

import argparse

import numpy as np

import xform as xf
import xform.numpy as xnp
from benchmarks import allocator
from benchmarks.timing import Budget, measure_steady
from xform import lax


def _expensive(lib, terms: int, loop: bool):
    """exp(x) by `terms` steps of Horner's rule (`lib`: xform's lax or JAX's)."""
    def step(k, s, x):
        return 1.0 + s * x / (terms - k)

    def unrolled(x):
        s = x * 0.0 + 1.0
        for k in range(terms):
            s = step(k, s, x)
        return s

    def looped(x):
        return lib.fori_loop(0, terms, lambda k, s: step(k, s, x), x * 0.0 + 1.0)
    return looped if loop else unrolled


def _cheap(x):
    return x * 0.5


def programs(threshold: float, terms: int, loop: bool) -> dict:
    """The two formulations of y = where(x > threshold, exp(x), x / 2), as xform functions."""
    expensive = _expensive(lax, terms, loop)
    per_example = xf.vmap(lambda x: lax.cond(x > threshold, expensive, _cheap, x))
    return {"batched_cond": per_example,
            "select": lambda x: xnp.where(x > threshold, expensive(x), _cheap(x))}


def _jax_thunks(x, threshold: float, terms: int, loop: bool) -> dict:
    try:
        import jax
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)
    expensive = _expensive(jax.lax, terms, loop)
    f = jax.vmap(lambda x: jax.lax.cond(x > threshold, expensive, _cheap, x))
    value = jax.jit(f)
    grad = jax.jit(jax.grad(lambda x: f(x).sum()))
    xj = jax.device_put(x)
    return {"value": lambda: value(xj).block_until_ready(),
            "grad": lambda: grad(xj).block_until_ready()}


def _thunks(x, threshold: float, terms: int, loop: bool, what: str, mode: str) -> dict:
    """Each formulation's `what` ("value" or "grad") under `mode` ("jit" or "interpreter"),
    checked against the closed form."""
    want = np.where(x > threshold, np.exp(x), x / 2 if what == "value" else 0.5)
    thunks = {}
    for name, fun in programs(threshold, terms, loop).items():
        if what == "grad":
            fun = xf.grad(lambda x, fun=fun: xnp.sum(fun(x)))
        if mode == "jit":
            fun = xf.jit(fun, compile="sync")
        np.testing.assert_allclose(fun(x), want, rtol=1e-12)
        thunks[name] = lambda fun=fun: fun(x)
    return thunks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10 ** 6)
    parser.add_argument("--taken", type=float, default=0.01)
    parser.add_argument("--terms", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    x = np.random.default_rng(0).uniform(0.0, 1.0, args.size)
    threshold = 1.0 - args.taken
    budget = Budget(seconds=args.seconds, min_batch=0.02, min_samples=3, max_samples=50)
    print(f"vmap of cond over {args.size:,} values, {args.taken:.0%} taking a {args.terms}-term "
          "series; seconds per call")
    print(f"{'':36} {'batched_cond':>14} {'select':>14} {'select/batched':>15} {'jax jit':>12}")
    for loop in (False, True):
        jax_thunks = _jax_thunks(x, threshold, args.terms, loop)
        allocator.restore()  # importing JAX changes malloc's thresholds for every library
        for what in ("value", "grad"):
            for mode in ("jit", "interpreter"):
                thunks = _thunks(x, threshold, args.terms, loop, what, mode)
                if mode == "jit" and what in jax_thunks:
                    thunks["jax"] = jax_thunks[what]
                m = measure_steady(thunks, budget)
                tb, ts = m["batched_cond"].seconds, m["select"].seconds
                jax_s = f"{m['jax'].seconds * 1e3:9.2f} ms" if "jax" in m else f"{'-':>12}"
                row = f"{'fori_loop' if loop else 'unrolled'}: {what}, {mode}"
                print(f"{row:36} {tb * 1e3:11.2f} ms {ts * 1e3:11.2f} ms {ts / tb:14.1f}x "
                      f"{jax_s}")


if __name__ == "__main__":
    main()
