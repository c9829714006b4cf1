"""The benchmarked functions, written once against a numpy-like namespace `ops`, and their data.

Every library runs the same source: `ops` is xform.numpy, jax.numpy, autograd.numpy or a thin
torch adapter (see kits.py), so a difference in time is a difference between the libraries and
not between transcriptions of the model.
"""
from __future__ import annotations

import itertools

import numpy as np


def mlp_apply(ops, params, x):
    """An MLP with tanh hidden layers and a linear output layer; `params` is [(w, b), ...]."""
    h = x
    for w, b in params[:-1]:
        h = ops.tanh(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def mlp_loss(ops, params, x, y):
    """Softmax cross-entropy of the MLP's logits against one-hot labels `y`, batch mean."""
    logits = mlp_apply(ops, params, x)
    return ops.mean(ops.logsumexp(logits, axis=-1) - ops.sum(logits * y, axis=-1))


def example_loss(ops, params, x, y):
    """Squared error of a scalar-output MLP on one example `x` (a vector) with target `y`."""
    return ops.sum((mlp_apply(ops, params, x) - y) ** 2)


def scalar_fun(ops, x):
    """A small scalar function, the measure of per-call overhead: sin(x)·x + x²."""
    return ops.sin(x) * x + x ** 2


def rosenbrock(ops, x):
    """The chained (scipy.optimize.rosen) extended Rosenbrock function of a vector."""
    return ops.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def elementwise(ops, x):
    """A chain of elementwise ops summed, whose gradient an ideal compiler fuses into one loop."""
    return ops.sum(ops.tanh(x) * ops.sin(x) + ops.exp(-x * x))


def cnn_loss(ops, params, x, y):
    """A small CNN on NHWC images: two 3x3 convolutions (no padding) with relu, 2x2 max
    pooling, a dense layer, and softmax cross-entropy against one-hot labels, batch mean."""
    (w1, b1), (w2, b2), (w3, b3) = params
    h = ops.relu(ops.conv(x, w1) + b1)
    h = ops.relu(ops.conv(h, w2) + b2)
    h = ops.max_pool(h)
    logits = ops.reshape(h, (h.shape[0], -1)) @ w3 + b3
    return ops.mean(ops.logsumexp(logits, axis=-1) - ops.sum(logits * y, axis=-1))


def mlp_params(sizes, dtype, seed=0):
    """Glorot-like random weights and zero biases for layer widths `sizes`, in `dtype`."""
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype), np.zeros(n, dtype))
            for m, n in itertools.pairwise(sizes)]


def classification_data(sizes=(784, 512, 512, 10), batch=128, dtype=np.float32, seed=0):
    """(params, x, one-hot y) for the classification MLP of rows 1 and 6."""
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    return {"params": mlp_params(sizes, dtype, seed), "x": x, "y": y}


def regression_data(sizes=(32, 64, 64, 1), batch=1024, dtype=np.float32, seed=0):
    """(params, x, y) for the per-example-gradient MLP of row 3 (scalar target per example)."""
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.standard_normal(batch).astype(dtype)
    return {"params": mlp_params(sizes, dtype, seed), "x": x, "y": y}


def cnn_data(batch=32, side=28, channels=(1, 8, 16), classes=10, dtype=np.float32, seed=0):
    """(params, x, one-hot y) for models.cnn_loss: He-scaled 3x3 kernels (HWIO), zero biases,
    standard normal images."""
    rng = np.random.default_rng(seed + 3)
    params = [((rng.standard_normal((3, 3, c, o)) * np.sqrt(2 / (9 * c))).astype(dtype),
               np.zeros(o, dtype)) for c, o in itertools.pairwise(channels)]
    flat = ((side - 4) // 2) ** 2 * channels[-1]
    params.append(((rng.standard_normal((flat, classes)) / np.sqrt(flat)).astype(dtype),
                   np.zeros(classes, dtype)))
    x = rng.standard_normal((batch, side, side, channels[0])).astype(dtype)
    y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, batch)]
    return {"params": params, "x": x, "y": y}
