"""Newton's method on the chained Rosenbrock function in 100,000 variables, with the sparse
Hessian found automatically: xform detects the tridiagonal pattern from the traced program,
colours it (3 colours) and evaluates the whole Hessian as one batched forward-over-reverse
pass; scipy.sparse.linalg.spsolve then solves for each Newton step.

    python examples/sparse_newton.py
"""
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import xform as xf
import xform.numpy as xnp

N = 100_000


def rosenbrock(x):
    """The chained Rosenbrock function: sum of 100 (x[i+1] - x[i]²)² + (1 - x[i])²."""
    return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def newton(f, x, tol=1e-8, maxiter=100):
    """Newton's method with a backtracking line search, shifting the Hessian by a multiple
    of the identity where it is not positive definite enough to give a descent direction.
    Returns (x, iterations, seconds spent in Hessians)."""
    value_and_grad = xf.jit(xf.value_and_grad(f), compile="never")
    hessian = xf.hessian(f, sparsity="auto")
    eye = sp.identity(x.size, format="csc")
    in_hessians = 0.0
    for it in range(maxiter):
        fx, g = value_and_grad(x)
        if np.linalg.norm(g, np.inf) < tol:
            return x, it, in_hessians
        start = time.perf_counter()
        h = hessian(x).tocsc()
        in_hessians += time.perf_counter() - start
        shift = 0.0
        step = spla.spsolve(h, -g)
        while not g @ step < 0:
            shift = max(10 * shift, 1e-3 * abs(h.diagonal()).max())
            step = spla.spsolve(h + shift * eye, -g)
        t = 1.0
        while float(f(x + t * step)) > fx + 1e-4 * t * (g @ step) and t > 1e-12:
            t /= 2
        x = x + t * step
    return x, maxiter, in_hessians


def main():
    x0 = 1.5 + 0.5 * np.sin(np.arange(N))
    pattern = xf.hessian_sparsity(rosenbrock)(x0)
    print(f"variables: {N}")
    print(f"Hessian non-zeros: {pattern.nnz} (dense would hold {N * N:.1e})")
    print(f"colours: {xf.hessian(rosenbrock, sparsity='auto').plans((x0,)).n_colours}")
    start = time.perf_counter()
    x, iterations, in_hessians = newton(rosenbrock, x0)
    total = time.perf_counter() - start
    print(f"newton iterations: {iterations}")
    print(f"max |x - 1|: {np.abs(x - 1).max():.2e}")
    print(f"f(x): {float(rosenbrock(x)):.3e}")
    print(f"seconds: {total:.2f} (Hessians: {in_hessians:.2f})")


if __name__ == "__main__":
    main()
