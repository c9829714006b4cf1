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


def adam_step(step, grads, params, moments, step_size=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """jax.example_libraries.optimizers.adam's update at step `step` of every parameter, in
    the parameters' dtype: [[param, m, v], ...] in the order of the flattened `params`."""
    out = []
    for g, x, (m, v) in zip(_flat(grads), _flat(params), _flat(moments)):
        t = x.dtype.type
        m = t(1 - b1) * g + t(b1) * m
        v = t(1 - b2) * g * g + t(b2) * v
        m_hat = m / (1 - t(b1) ** t(step + 1))
        v_hat = v / (1 - t(b2) ** t(step + 1))
        out.append([x - t(step_size) * m_hat / (np.sqrt(v_hat) + t(eps)), m, v])
    return out


def _flat(layers):
    return [p for layer in layers for p in layer]


def _unflat(packed):
    """[[param, m, v], ...] back to params as [(w, b), ...] and moments as [((m, v), (m, v))]."""
    ws = [p for p, _, _ in packed]
    mvs = [(m, v) for _, m, v in packed]
    return list(zip(ws[::2], ws[1::2])), list(zip(mvs[::2], mvs[1::2]))


def mlp_update(step, params, moments, x, y):
    """models.mlp_update with adam: the hand-written gradient and adam_step."""
    return adam_step(step, mlp_value_and_grad(params, x, y)[1], params, moments)


def _relu(a):
    return np.maximum(a, 0)


def vae_grads(params, noise, x):
    """The gradient of models.vae_loss, given the standard normal `noise`, by a hand-written
    backward pass."""
    (w1, b1), (wm, bm), (wv, bv), (w3, b3), (w4, b4) = params
    a1 = x @ w1 + b1
    h = _relu(a1)
    mean, logvar = h @ wm + bm, h @ wv + bv
    sd = np.exp(0.5 * logvar)
    z = mean + sd * noise
    a3 = z @ w3 + b3
    h3 = _relu(a3)
    logits = h3 @ w4 + b4
    n = x.dtype.type(len(x))
    d_logits = (1 / (1 + np.exp(-logits)) - x) / n
    d_a3 = (d_logits @ w4.T) * (a3 > 0)
    d_z = d_a3 @ w3.T
    d_mean = d_z + mean / n
    d_logvar = d_z * noise * sd * 0.5 + (np.exp(logvar) - 1) * 0.5 / n
    d_a1 = (d_mean @ wm.T + d_logvar @ wv.T) * (a1 > 0)
    return [(a.T @ d, d.sum(0)) for a, d in
            ((x, d_a1), (h, d_mean), (h, d_logvar), (z, d_a3), (h3, d_logits))]


def vae_epoch(params, moments, noises, batches):
    """models.vae_epoch with adam, the noise of each step given: [[param, m, v], ...]."""
    for i, (noise, x) in enumerate(zip(noises, batches)):
        packed = adam_step(i, vae_grads(params, noise, x), params, moments)
        params, moments = _unflat(packed)
    return packed


def _windows(x, k):
    """The k x k windows of NHWC images: (N, H - k + 1, W - k + 1, C, k, k), a view."""
    return np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))


def _conv(x, w):
    """A stride-1 convolution without padding of NHWC images with an HWIO kernel."""
    return np.tensordot(_windows(x, w.shape[0]), w, axes=([3, 4, 5], [2, 0, 1]))


def _cnn_forward(params, x):
    (w1, b1), (w2, b2), (w3, b3) = params
    a1 = np.maximum(_conv(x, w1) + b1, 0)
    a2 = np.maximum(_conv(a1, w2) + b2, 0)
    n, h, w, c = a2.shape
    blocks = a2[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    blocks = blocks.transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
    pooled = blocks.max(-1)
    return a1, a2, blocks.argmax(-1), pooled, pooled.reshape(n, -1) @ w3 + b3


def cnn_value_and_grad(params, x, y):
    """(loss, grads) of models.cnn_loss by a hand-written backward pass (im2col by
    tensordot; the pool's gradient goes to the first maximum of each window)."""
    (_w1, _), (w2, _), (w3, _) = params
    a1, a2, first, pooled, z = _cnn_forward(params, x)
    lse = _logsumexp_rows(z)
    value = np.mean(lse - (z * y).sum(axis=-1))
    dz = (np.exp(z - lse[:, None]) - y) / z.dtype.type(len(x))
    flat = pooled.reshape(len(x), -1)
    g3 = (flat.T @ dz, dz.sum(0))
    d_pooled = (dz @ w3.T).reshape(pooled.shape)
    n, h, w, c = a2.shape
    d_blocks = np.zeros((*pooled.shape, 4), a2.dtype)
    np.put_along_axis(d_blocks, first[..., None], d_pooled[..., None], -1)
    d_a2 = np.zeros_like(a2)
    d_a2[:, :h // 2 * 2, :w // 2 * 2] = d_blocks.reshape(n, h // 2, w // 2, c, 2, 2).transpose(
        0, 1, 4, 2, 5, 3).reshape(n, h // 2 * 2, w // 2 * 2, c)
    d2 = d_a2 * (a2 > 0)
    g2 = (np.tensordot(_windows(a1, 3), d2, axes=([0, 1, 2], [0, 1, 2])).transpose(1, 2, 0, 3),
          d2.sum((0, 1, 2)))
    # The input's gradient: the full correlation with the flipped kernel, I and O swapped.
    d_a1 = _conv(np.pad(d2, ((0, 0), (2, 2), (2, 2), (0, 0))),
                 w2[::-1, ::-1].transpose(0, 1, 3, 2)) * (a1 > 0)
    g1 = (np.tensordot(_windows(x, 3), d_a1, axes=([0, 1, 2], [0, 1, 2])).transpose(1, 2, 0, 3),
          d_a1.sum((0, 1, 2)))
    return value, [g1, g2, g3]


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


def elementwise(x):
    """models.elementwise in numpy: one pass per operation, then a pairwise sum."""
    return np.sum(np.tanh(x) * np.sin(x) + np.exp(-x * x))


def elementwise_grad(x):
    """The gradient of models.elementwise in closed form, one numpy pass per operation."""
    t = np.tanh(x)
    return (1 - t * t) * np.sin(x) + t * np.cos(x) - 2 * x * np.exp(-x * x)


def scalar_grad_closed_form(x):
    """The derivative of models.scalar_fun: cos(x)·x + sin(x) + 2x."""
    return math.cos(x) * x + math.sin(x) + 2.0 * x


def _elementwise_loop(x):
    total = 0.0
    for i in range(x.size):
        v = x[i]
        total += math.tanh(v) * math.sin(v) + math.exp(-v * v)
    return total


def _elementwise_grad_loop(x):
    out = np.empty_like(x)
    for i in range(x.size):
        v = x[i]
        t = math.tanh(v)
        out[i] = (1 - t * t) * math.sin(v) + t * math.cos(v) - 2 * v * math.exp(-v * v)
    return out


def numba_kernels():
    """{'scalar_grad', 'elementwise', 'elementwise_grad'} compiled with numba.njit (one fused
    loop each)."""
    import numba
    return {"scalar_grad": numba.njit(scalar_grad_closed_form),
            "elementwise": numba.njit(_elementwise_loop),
            "elementwise_grad": numba.njit(_elementwise_grad_loop)}
