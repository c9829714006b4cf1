"""Order-k derivatives of f(x) = sin(x) e^x / (1 + x^2): Taylor mode against nested grad.

`python -m benchmarks.taylor [--orders 1,2,4,8] [--grad-orders 4] [--seconds 2]` prints

1. the program size (equations of `make_ir`, raw and simplified as `jit` runs it) of the
   order-k derivative by `xf.derivatives` (Taylor mode) and by k nested `xf.grad`s — the
   first stays constant in k, the second grows about 3x per order (nested grad is traced up
   to `--count-orders`, default 7: beyond that tracing itself takes minutes);
2. the time per call of the order-k derivative at a point: xform's Taylor mode (interpreted
   and jitted), xform's nested grad (interpreted; jitted up to `--grad-orders`, whose Numba
   compile time grows with the program), and JAX's nested grad and `jax.experimental.jet`
   (both under `jax.jit`) when JAX is installed.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import xform as xf
import xform.numpy as xnp
from benchmarks.timing import Budget, measure_steady

X = 0.5


def f(x):
    return xnp.sin(x) * xnp.exp(x) / (1 + x ** 2)


def taylor_k(k):
    return lambda x: xf.derivatives(f, k)(x)[k]


def grad_k(k):
    fun = f
    for _ in range(k):
        fun = xf.grad(fun)
    return fun


def _count(fun) -> tuple[int, int]:
    return len(xf.make_ir(fun)(X).eqns), len(xf.make_ir(fun, simplified=True)(X).eqns)


def sizes(orders, count_orders: int):
    print("equations of the order-k derivative (raw / simplified)")
    print(f"{'k':>3} {'taylor':>14} {'nested grad':>16}")
    for k in orders:
        t = _count(taylor_k(k))
        g = "{:,} / {:,}".format(*_count(grad_k(k))) if k <= count_orders else "-"
        print(f"{k:>3} {t[0]:>6} / {t[1]:<5} {g:>16}")


def _jax_thunks(k):
    try:
        import jax
        import jax.numpy as jnp
        from jax.experimental.jet import jet
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)

    def jf(x):
        return jnp.sin(x) * jnp.exp(x) / (1 + x ** 2)
    g = jf
    for _ in range(k):
        g = jax.grad(g)
    g = jax.jit(g)

    @jax.jit
    def by_jet(x):
        terms = [1.0] + [0.0] * (k - 1)
        return jet(jf, (x,), (terms,))[1][k - 1]
    x = np.float64(X)
    thunks = {"jax nested grad (jit)": lambda: g(x).block_until_ready(),
              "jax jet (jit)": lambda: by_jet(x).block_until_ready()}
    for thunk in thunks.values():
        thunk()
    return thunks


def timings(orders, grad_orders: int, interp_grad_orders: int, budget: Budget):
    print("\nseconds per call of the order-k derivative at a point (compile time in brackets)")
    for k in orders:
        thunks, compile_s = {}, {}
        thunks["xform jet (interpreter)"] = lambda k=k: taylor_k(k)(X)
        jitted = [("xform jet (jit)", taylor_k(k))]
        if k <= interp_grad_orders:
            thunks["xform nested grad (interpreter)"] = lambda k=k: grad_k(k)(X)
        if k <= grad_orders:
            jitted.append(("xform nested grad (jit)", grad_k(k)))
        for name, fun in jitted:
            compiled = xf.jit(fun, compile="sync")
            start = time.perf_counter()
            compiled(X)
            compile_s[name] = time.perf_counter() - start
            thunks[name] = lambda c=compiled: c(X)
        thunks.update(_jax_thunks(k))
        results = measure_steady(thunks, budget)
        print(f"order {k}:")
        for name, m in results.items():
            extra = f"  [{compile_s[name]:.1f} s]" if name in compile_s else ""
            shown = f"{m.seconds * 1e6:12.1f} us" if hasattr(m, "seconds") else f"error: {m}"
            print(f"  {name:34} {shown}{extra}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="1,2,3,4,6,8,10")
    parser.add_argument("--count-orders", type=int, default=7)
    parser.add_argument("--grad-orders", type=int, default=3)
    parser.add_argument("--interp-grad-orders", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    orders = [int(k) for k in args.orders.split(",")]
    sizes(range(1, 11), args.count_orders)
    timings(orders, args.grad_orders, args.interp_grad_orders,
            Budget(seconds=args.seconds, min_batch=0.02, min_samples=3, max_samples=50))


if __name__ == "__main__":
    main()
