"""The benchmarked functions, written once against a numpy-like namespace `ops`, and their data.

Every library runs the same source: `ops` is xform.numpy, jax.numpy, autograd.numpy or a thin
torch adapter (see kits.py), so a difference in time is a difference between the libraries and
not between transcriptions of the model.
"""
from __future__ import annotations

import functools
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


def mlp_update(ops, grad, optimizer, step, state, x, y):
    """One training step of the classification MLP: the gradient of mlp_loss at the
    optimizer's parameters, and the optimizer's update of its `state` (a step-`step` update
    of an (init, update, get_params) triple as in jax.example_libraries.optimizers)."""
    _, update, get_params = optimizer
    g = grad(functools.partial(mlp_loss, ops))(get_params(state), x, y)
    return update(step, g, state)


def vae_loss(ops, params, key, x):
    """Negative evidence lower bound of a VAE with Bernoulli likelihood, batch mean: a relu
    encoder to a Gaussian's mean and log-variance, a reparameterised sample drawn with
    `ops.normal(key, shape, dtype)`, a relu decoder to the pixels' logits."""
    (w1, b1), (wm, bm), (wv, bv), (w3, b3), (w4, b4) = params
    h = ops.relu(x @ w1 + b1)
    mean, logvar = h @ wm + bm, h @ wv + bv
    z = mean + ops.exp(0.5 * logvar) * ops.normal(key, mean.shape, mean.dtype)
    logits = ops.relu(z @ w3 + b3) @ w4 + b4
    nll = ops.sum(ops.logaddexp(0.0, logits) - x * logits)
    kl = -0.5 * ops.sum(1.0 + logvar - mean * mean - ops.exp(logvar))
    return (nll + kl) / x.shape[0]


def vae_epoch(ops, grad, optimizer, state, key, batches):
    """One epoch of VAE training in a `fori_loop` over the minibatches `batches[i]`: a new
    noise key split off `key` per step, the gradient of vae_loss and the optimizer's update.
    Returns the final optimizer state."""
    _, update, get_params = optimizer
    loss_grad = grad(functools.partial(vae_loss, ops))

    def step(i, carry):
        state, key = carry
        keys = ops.split(key)
        return update(i, loss_grad(get_params(state), keys[1], batches[i]), state), keys[0]
    return ops.fori_loop(0, batches.shape[0], step, (state, key))[0]


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


def adam_moments(params, seed=0):
    """Adam moment estimates (m, v) of the size of `params`, as after some steps: the
    training-step workloads start from them, so that the step's result does not hang on the
    signs of gradients that are zero up to rounding (the first step moves every weight by
    ±step_size)."""
    rng = np.random.default_rng(seed + 5)
    scale = 1e-3
    return [tuple((scale * rng.standard_normal(p.shape).astype(p.dtype),
                   (scale * rng.standard_normal(p.shape)).astype(p.dtype) ** 2)
                  for p in layer) for layer in params]


def vae_data(sizes=(784, 400, 20), batch=128, batches=20, dtype=np.float32, seed=0):
    """(params, moments, key, batches) for models.vae_epoch: encoder, mean, log-variance and
    decoder layers, binary pixels in `batches` minibatches, a raw uint32 PRNG key."""
    image, hidden, latent = sizes
    encoder = mlp_params((image, hidden), dtype, seed)
    heads = [layer for i in (1, 2) for layer in mlp_params((hidden, latent), dtype, seed + i)]
    decoder = mlp_params((latent, hidden, image), dtype, seed + 3)
    params = encoder + heads + decoder
    rng = np.random.default_rng(seed + 4)
    pixels = (rng.uniform(size=(batches, batch, image)) < 0.3).astype(dtype)
    return {"params": params, "moments": adam_moments(params, seed), "batches": pixels,
            "key": np.array([0, seed + 42], np.uint32)}


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
