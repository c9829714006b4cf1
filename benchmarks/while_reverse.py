"""Reverse mode through `lax.while_loop` against the same loop written as a fixed-length `scan`.

`python -m benchmarks.while_reverse [--steps 200] [--size 100] [--seconds 1]` times the
gradient of an explicit Euler integration of y' = -k·y + 0.1·sin(y) (a vector y of `--size`
entries, `--steps` steps of the time loop `while t < 1`) with respect to k:

- eagerly (interpreter): the while loop, whose reverse mode first runs the loop to count its
  trip count and then replays it as a scan of that length, against `scan` of the same length;
- under `jit` (Numba): the while loop with `max_steps` equal to the trip count and to twice it
  (the extra steps keep their carry but still run the body), against the `scan`.

It prints seconds per gradient and the ratio while / scan for each pair.
"""
from __future__ import annotations

import argparse

import numpy as np

import xform as xf
import xform.numpy as xnp
from benchmarks.timing import Budget, measure_steady
from xform import lax


def _step(k, y, h):
    return y + h * (-k * y + 0.1 * xnp.sin(y))


def by_while(y0, steps: int, max_steps=None):
    """The loss after integrating to t = 1 with a while loop on t."""
    h = 1.0 / steps

    def loss(k):
        def body(c):
            i, y = c
            return i + 1, _step(k, y, h)
        _, y = lax.while_loop(lambda c: c[0] < steps, body, (0, y0), max_steps=max_steps)
        return xnp.sum(y * y)
    return loss


def by_scan(y0, steps: int):
    """The same loss with a scan of `steps` steps."""
    h = 1.0 / steps

    def loss(k):
        y, _ = lax.scan(lambda y, _: (_step(k, y, h), None), y0, None, length=steps)
        return xnp.sum(y * y)
    return loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    y0 = np.linspace(0.5, 2.0, args.size)
    k = 0.7
    n = args.steps
    pairs = {
        "eager": (xf.grad(by_while(y0, n)), xf.grad(by_scan(y0, n))),
        "jit, max_steps = trip count": (xf.jit(xf.grad(by_while(y0, n, n)), compile="sync"),
                                        xf.jit(xf.grad(by_scan(y0, n)), compile="sync")),
        "jit, max_steps = 2 x trip count": (
            xf.jit(xf.grad(by_while(y0, n, 2 * n)), compile="sync"),
            xf.jit(xf.grad(by_scan(y0, n)), compile="sync")),
    }
    budget = Budget(seconds=args.seconds, min_batch=0.02, min_samples=3, max_samples=50)
    print(f"grad of a {n}-step loop over {args.size} values, seconds per call")
    print(f"{'':34} {'while':>12} {'scan':>12} {'while/scan':>11}")
    for name, (w, s) in pairs.items():
        np.testing.assert_allclose(w(k), s(k), rtol=1e-10)
        m = measure_steady({"while": lambda w=w: w(k), "scan": lambda s=s: s(k)}, budget)
        tw, ts = m["while"].seconds, m["scan"].seconds
        print(f"{name:34} {tw * 1e6:9.1f} us {ts * 1e6:9.1f} us {tw / ts:10.2f}x")


if __name__ == "__main__":
    main()
