"""Rosenbrock's function by Newton's method and BFGS against adam: iterations and time.

Newton uses the exact Hessian (`xf.hessian`, forward over reverse), BFGS builds an estimate of
its inverse from gradients, adam uses gradients alone; the table shows what that buys.
"""
import time

import numpy as np

import xform.numpy as xnp
from xform import optim

# The interpreter backend starts at once; jit=True (the Numba backend) runs each iteration
# faster but pays a compilation on first use, which would dominate a run this short.
JIT = "interpreter"


def rosenbrock(x):
    """The banana-shaped valley with its minimum 0 at (1, ..., 1)."""
    return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def main():
    x0 = np.array([-1.2, 1.0])
    runs = [("newton", {}), ("bfgs", {}),
            ("adam", {"learning_rate": 0.05, "maxiter": 5000})]
    print("Rosenbrock from (-1.2, 1); the minimum is 0 at (1, 1); tol = 1e-6 on |grad|")
    print(f"{'method':<8} {'iterations':>10} {'f(x)':>10} {'|x - 1|':>10} {'time (s)':>9}  "
          "converged")
    for method, options in runs:
        start = time.perf_counter()
        res = optim.minimize(rosenbrock, x0, method=method, jit=JIT, **options)
        elapsed = time.perf_counter() - start
        error = float(np.max(np.abs(res.x - 1.0)))
        print(f"{method:<8} {res.nit:>10d} {res.fun:>10.2e} {error:>10.2e} {elapsed:>9.3f}  "
              f"{res.success}")


if __name__ == "__main__":
    main()
