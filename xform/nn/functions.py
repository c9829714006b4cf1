"""Activation functions and friends of `jax.nn`, written as xform.numpy composites.

Each follows JAX's signature and derivative conventions: at a kink the derivative is the one JAX
gives (relu'(0) = 0, relu6'(0) = relu6'(6) = 0, hard_tanh'(±1) = 1, leaky_relu'(0) = 1),
written as `where` so that every order of derivative is exact; softplus and its relatives
never overflow; softmax has JAX's custom JVP `y * (t - sum(y * t))`. Integer inputs of the
transcendental ones compute in float64 (numpy's rule), and float32 stays float32.
"""
from __future__ import annotations

import functools

import numpy as np

import xform.numpy as xnp
import xform.scipy.special as xsp
from xform.custom import custom_jvp
from xform.numpy._core import dtype_of, lists_as_arrays, loop_dtypes, normalize_axis
from xform.primitives.elementwise import stop_gradient_p

__all__ = [
    "celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "identity", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp", "mish", "one_hot",
    "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax", "softplus",
    "squareplus", "standardize", "swish", "tanh",
]


def _float(x):
    """`x` as an array of the floating dtype numpy computes transcendental functions in."""
    x = xnp.asarray(x)
    dt = loop_dtypes(np.sin, x)[0]
    return x if x.dtype == dt else x.astype(dt)


def _zero_like(x):
    return np.zeros((), dtype_of(x))


def _stop_gradient(x):
    return x if isinstance(x, np.ndarray) else stop_gradient_p.bind1(x)


@lists_as_arrays
def identity(x):
    """x itself (as an array).

    >>> identity(np.array([1.0, -2.0])).tolist()
    [1.0, -2.0]
    """
    return xnp.asarray(x)


@lists_as_arrays
def relu(x):
    """max(x, 0), with derivative 0 at 0 (as JAX).

    >>> relu(np.array([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 2.0]
    """
    x = xnp.asarray(x)
    return xnp.where(x > 0, x, _zero_like(x))


@lists_as_arrays
def relu6(x):
    """min(max(x, 0), 6), with derivative 0 at 0 and at 6 (as JAX).

    >>> relu6(np.array([-1.0, 3.0, 7.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    x = xnp.asarray(x)
    return xnp.where(x > 0, xnp.where(x < 6, x, np.full((), 6, x.dtype)), _zero_like(x))


@lists_as_arrays
def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)).

    >>> float(sigmoid(0.0))
    0.5
    """
    return xsp.expit(x)


@lists_as_arrays
def softplus(x):
    """log(1 + exp(x)), without overflow for large |x|; its derivative is sigmoid(x).

    >>> round(float(softplus(0.0)), 6)
    0.693147
    """
    return xnp.logaddexp(_float(x), 0)


@lists_as_arrays
def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), without overflow.

    >>> float(log_sigmoid(-1000.0))
    -1000.0
    """
    return -softplus(-_float(x))


@lists_as_arrays
def soft_sign(x):
    """x / (|x| + 1).

    >>> float(soft_sign(1.0))
    0.5
    """
    x = _float(x)
    return x / (xnp.abs(x) + 1)


@lists_as_arrays
def silu(x):
    """x * sigmoid(x) (also called swish).

    >>> float(silu(0.0))
    0.0
    """
    x = _float(x)
    return x * sigmoid(x)


swish = silu


@lists_as_arrays
def mish(x):
    """x * tanh(softplus(x)).

    >>> float(mish(0.0))
    0.0
    """
    x = _float(x)
    return x * xnp.tanh(softplus(x))


@lists_as_arrays
def tanh(x):
    """The hyperbolic tangent.

    >>> float(tanh(0.0))
    0.0
    """
    return xnp.tanh(x)


@lists_as_arrays
def hard_tanh(x):
    """x clipped to [-1, 1] (derivative 1 on [-1, 1], 0 outside).

    >>> hard_tanh(np.array([-2.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    x = xnp.asarray(x)
    one = np.ones((), x.dtype)
    return xnp.where(x > 1, one, xnp.where(x < -1, -one, x))


@lists_as_arrays
def hard_sigmoid(x):
    """relu6(x + 3) / 6.

    >>> float(hard_sigmoid(0.0))
    0.5
    """
    return relu6(_float(x) + 3) / 6


@lists_as_arrays
def hard_silu(x):
    """x * hard_sigmoid(x) (also called hard_swish).

    >>> float(hard_silu(3.0))
    3.0
    """
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


@lists_as_arrays
def leaky_relu(x, negative_slope=1e-2):
    """x where x >= 0, else negative_slope * x (derivative 1 at 0, as JAX).

    >>> leaky_relu(np.array([-1.0, 2.0])).tolist()
    [-0.01, 2.0]
    """
    x = xnp.asarray(x)
    return xnp.where(x >= 0, x, negative_slope * x)


@lists_as_arrays
def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1).

    >>> round(float(elu(-1.0)), 6)
    -0.632121
    """
    x = _float(x)
    negative = xnp.where(x > 0, _zero_like(x), x)  # keeps exp from overflowing where unused
    return xnp.where(x > 0, x, alpha * xnp.expm1(negative))


@lists_as_arrays
def celu(x, alpha=1.0):
    """max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1): continuously differentiable elu.

    >>> round(float(celu(-1.0, 2.0)), 6)
    -0.786939
    """
    x = _float(x)
    negative = xnp.where(x > 0, _zero_like(x), x)
    return xnp.where(x > 0, x, alpha * xnp.expm1(negative / alpha))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@lists_as_arrays
def selu(x):
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al.

    >>> round(float(selu(1.0)), 6)
    1.050701
    """
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


@lists_as_arrays
def gelu(x, approximate: bool = True):
    """The Gaussian error linear unit x * Phi(x): with `approximate`, the tanh form
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); else the exact x/2 erfc(-x/sqrt(2)).

    >>> round(float(gelu(1.0, approximate=False)), 6)
    0.841345
    """
    x = _float(x)
    if approximate:
        inner = np.sqrt(2 / np.pi).astype(x.dtype) * (x + 0.044715 * x ** 3)
        return x * (0.5 * (1 + xnp.tanh(inner)))
    return 0.5 * x * xsp.erfc(-x * np.sqrt(0.5).astype(x.dtype))


@lists_as_arrays
def glu(x, axis: int = -1):
    """The gated linear unit: x1 * sigmoid(x2) for the two halves of x along `axis`.

    >>> glu(np.array([1.0, 0.0])).tolist()
    [0.5]
    """
    x = xnp.asarray(x)
    axis = normalize_axis(axis, x.ndim)
    if x.shape[axis] % 2:
        raise ValueError(f"glu needs an even size along axis {axis}, got shape {x.shape}")
    a, b = xnp.split(x, 2, axis)
    return a * sigmoid(b)


@lists_as_arrays
def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2, a smooth approximation of relu.

    >>> float(squareplus(0.0))
    1.0
    """
    x = _float(x)
    return (x + xnp.sqrt(x * x + b)) / 2


def _masked(x, where, fill):
    return x if where is None else xnp.where(where, x, np.full((), fill, x.dtype))


@lists_as_arrays
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    """log(sum(b * exp(a))) over `axis`, stably, as `jax.nn.logsumexp` (elements where
    `where` is False are left out).

    >>> round(float(logsumexp(np.array([0.0, 0.0]))), 6)
    0.693147
    """
    return xsp.logsumexp(_masked(_float(a), where, -np.inf), axis=axis, b=b,
                         keepdims=keepdims, return_sign=return_sign)


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _softmax(x, axis, where):
    x_max = xnp.max(_masked(x, where, -np.inf), axis, keepdims=True)
    unnormalized = xnp.exp(_masked(x, where, -np.inf) - x_max)
    result = unnormalized / xnp.sum(unnormalized, axis, keepdims=True)
    return _masked(result, where, 0)


@_softmax.defjvp
def _softmax_jvp(axis, primals, tangents):
    (x, where), (t, _) = primals, tangents
    y = _softmax(x, axis, where)
    return y, y * (t - xnp.sum(_masked(y * t, where, 0), axis, keepdims=True))


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


@lists_as_arrays
def softmax(x, axis=-1, where=None):
    """exp(x) / sum(exp(x)) along `axis` (an int, a tuple or None for all), stably, with
    JAX's custom derivative; entries where `where` is False are left out and give 0.

    >>> softmax(np.array([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    x = _float(x)
    where = None if where is None else xnp.asarray(where)
    return _softmax(x, _axis(axis), where)


@lists_as_arrays
def log_softmax(x, axis=-1, where=None):
    """x - logsumexp(x) along `axis`, stably; entries where `where` is False give -inf.

    >>> log_softmax(np.array([0.0, 0.0])).tolist() == [-np.log(2)] * 2
    True
    """
    x = _float(x)
    axis = _axis(axis)
    x_max = xnp.max(_masked(x, where, -np.inf), axis, keepdims=True)
    shifted = x - _stop_gradient(x_max)
    total = xnp.sum(xnp.exp(_masked(shifted, where, -np.inf)), axis, keepdims=True)
    return _masked(shifted - xnp.log(total), where, -np.inf)


@lists_as_arrays
def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5, where=None, *,
                algorithm: str = "fast"):
    """(x - mean) / sqrt(variance + epsilon) along `axis`, the mean and variance computed
    over the entries where `where` is True unless given. `algorithm="fast"` computes the
    variance as mean(x^2) - mean(x)^2 (clipped at 0), `"stable"` as mean((x - mean)^2).

    >>> standardize(np.array([1.0, 3.0]), epsilon=0.0).tolist()
    [-1.0, 1.0]
    """
    x = _float(x)
    axis = _axis(axis)
    if algorithm not in ("fast", "stable"):
        raise ValueError(f"Unknown algorithm '{algorithm}'. Expected 'fast' or 'stable'.")

    def average(v):
        if where is None:
            return xnp.mean(v, axis, keepdims=True)
        weights = xnp.where(where, np.ones((), x.dtype), np.zeros((), x.dtype))
        return (xnp.sum(v * weights, axis, keepdims=True)
                / xnp.sum(weights, axis, keepdims=True))
    if mean is None:
        mean = average(x)
    if variance is None:
        if algorithm == "stable":
            variance = average(xnp.square(x - mean))
        else:
            variance = xnp.maximum(average(xnp.square(x)) - xnp.square(mean),
                                   np.zeros((), x.dtype))
    return (x - mean) / xnp.sqrt(variance + epsilon)


@lists_as_arrays
def one_hot(x, num_classes: int, *, dtype=float, axis: int = -1):
    """Encode the integers `x` as one-hot vectors of length `num_classes` along a new axis
    `axis` (entries outside [0, num_classes) give all zeros).

    >>> one_hot(np.array([0, 2]), 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise TypeError(f"one_hot: num_classes must be a non-negative int, got "
                        f"{num_classes!r}")
    x = xnp.asarray(x)
    axis = normalize_axis(axis, x.ndim + 1)
    classes = xnp.arange(int(num_classes)).reshape(
        tuple(num_classes if d == axis else 1 for d in range(x.ndim + 1)))
    return (xnp.expand_dims(x, axis) == classes).astype(dtype)
