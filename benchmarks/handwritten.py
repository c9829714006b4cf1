"""Hand-written peers: numpy forward and backward passes and Numba kernels of the closed forms.

They are what a careful programmer would write without any AD library, so they set the bar a
transformation library has to reach. Each returns the same structure as the AD versions.
"""
from __future__ import annotations

import math

import numpy as np


def _logsumexp_rows(z):
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[:, 0]


def _mlp_forward(params, x):
    """Hidden activations (input included) and logits of models.mlp_apply."""
    hs = [x]
    for w, b in params[:-1]:
        hs.append(np.tanh(hs[-1] @ w + b))
    w, b = params[-1]
    return hs, hs[-1] @ w + b


def mlp_loss(params, x, y):
    """models.mlp_loss in plain numpy."""
    _, z = _mlp_forward(params, x)
    return np.mean(_logsumexp_rows(z) - (z * y).sum(axis=-1))


def mlp_value_and_grad(params, x, y):
    """(loss, grads) of models.mlp_loss by a hand-written backward pass."""
    hs, z = _mlp_forward(params, x)
    lse = _logsumexp_rows(z)
    value = np.mean(lse - (z * y).sum(axis=-1))
    # d/dz of logsumexp(z) - z·y is softmax(z) - y; the batch mean divides by the batch size.
    dz = (np.exp(z - lse[:, None]) - y) / z.dtype.type(len(x))
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        h = hs[i]
        grads.append((h.T @ dz, dz.sum(axis=0)))
        if i:
            dz = (dz @ w.T) * (1 - h * h)
    return value, grads[::-1]


def per_example_grads(params, x, y):
    """Gradients of models.example_loss for every row of `x`, batched by hand (leading axis)."""
    hs, out = _mlp_forward(params, x)
    dz = 2 * (out - y[:, None])
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        h = hs[i]
        grads.append((h[:, :, None] * dz[:, None, :], dz))
        if i:
            dz = (dz @ w.T) * (1 - h * h)
    return grads[::-1]


def rosenbrock_hessian(x):
    """The tridiagonal Hessian of models.rosenbrock in closed form."""
    diag = np.zeros_like(x)
    diag[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diag[1:] += 200
    off = -400 * x[:-1]
    return np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)


def elementwise_grad(x):
    """The gradient of models.elementwise in closed form, one numpy pass per operation."""
    t = np.tanh(x)
    return (1 - t * t) * np.sin(x) + t * np.cos(x) - 2 * x * np.exp(-x * x)


def scalar_grad_closed_form(x):
    """The derivative of models.scalar_fun: cos(x)·x + sin(x) + 2x."""
    return math.cos(x) * x + math.sin(x) + 2.0 * x


def _elementwise_grad_loop(x):
    out = np.empty_like(x)
    for i in range(x.size):
        v = x[i]
        t = math.tanh(v)
        out[i] = (1 - t * t) * math.sin(v) + t * math.cos(v) - 2 * v * math.exp(-v * v)
    return out


def numba_kernels():
    """{'scalar_grad', 'elementwise_grad'} compiled with numba.njit (one fused loop each)."""
    import numba
    return {"scalar_grad": numba.njit(scalar_grad_closed_form),
            "elementwise_grad": numba.njit(_elementwise_grad_loop)}
