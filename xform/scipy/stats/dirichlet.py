"""The Dirichlet distribution on the simplex, as scipy.stats.dirichlet: x holds the components
along its first axis (all k of them, or the first k - 1, the last then being 1 minus their
sum), alpha is 1-d. Points off the simplex have logpdf -inf and pdf 0 (scipy raises instead;
a traced value cannot be checked, so xform answers as JAX does), and alpha <= 0 gives nan."""
from __future__ import annotations

import numpy as np

import xform.numpy as xnp
from xform.numpy._core import lists_as_arrays, shape_of
from xform.scipy import special
from xform.scipy.stats._common import const, floats, nan_unless, where_safe

__all__ = ["logpdf", "pdf"]


def _components(x, alpha):
    """x with all k components along axis 0, and alpha shaped to broadcast against it."""
    if len(shape_of(alpha)) != 1:
        raise ValueError(f"dirichlet: alpha must be 1-d, got shape {shape_of(alpha)}")
    k = shape_of(alpha)[0]
    xs = shape_of(x)
    if not xs or xs[0] not in (k, k - 1):
        raise ValueError(f"dirichlet: x of shape {xs} does not match alpha of {k} components "
                         f"(its first axis must hold {k} or {k - 1} components)")
    if xs[0] == k - 1:
        x = xnp.concatenate([x, 1 - xnp.sum(x, 0, keepdims=True)], 0)
    return x, xnp.reshape(alpha, (k,) + (1,) * (len(xs) - 1))


@lists_as_arrays
def logpdf(x, alpha):
    """Σ (alpha_i - 1) log x_i - log B(alpha) on the simplex.

    >>> round(float(logpdf(np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0]))), 6)
    1.504077
    """
    x, alpha = floats(x, alpha)
    x, a = _components(x, alpha)
    tol = 1e-5 if xnp.result_type(x) == np.float32 else 1e-9
    on_simplex = xnp.all(x >= 0, 0) & (xnp.abs(xnp.sum(x, 0) - 1) <= tol)
    xs = where_safe(on_simplex, x, 1.0)
    log_beta = xnp.sum(special.gammaln(alpha)) - special.gammaln(xnp.sum(alpha))
    value = xnp.sum(special.xlogy(a - 1, xs), 0) - log_beta
    value = xnp.where(on_simplex, value, const(-np.inf, value))
    return nan_unless(xnp.all(alpha > 0), value)


@lists_as_arrays
def pdf(x, alpha):
    """The Dirichlet density.

    >>> round(float(pdf(np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0]))), 4)
    4.5
    """
    return xnp.exp(logpdf(x, alpha))
