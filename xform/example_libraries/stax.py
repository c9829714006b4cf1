"""Neural-network layers with the API of JAX's `jax.example_libraries.stax`.

A layer is a pair `(init_fun, apply_fun)`: `init_fun(rng, input_shape) -> (output_shape,
params)` draws parameters from a PRNG key (`xf.random`), and `apply_fun(params, inputs, **kwargs)`
computes the layer (a random layer such as `Dropout` takes the key as `rng=`). Combinators
(`serial`, `parallel`, `FanOut`, `FanInSum`, `FanInConcat`, `shape_dependent`) build networks
out of layers. Input shapes may use -1 for the batch dimension. Images are NHWC and filters
HWIO by default, as in JAX.

>>> import numpy as np, xform as xf
>>> init_fun, apply_fun = serial(Dense(4), Relu, Dense(2), LogSoftmax)
>>> out_shape, params = init_fun(xf.random.PRNGKey(0), (-1, 3))
>>> out_shape, apply_fun(params, np.ones((5, 3))).shape
((-1, 2), (5, 2))
"""
from __future__ import annotations

import functools
import math
import operator

import numpy as np

import xform.numpy as xnp
from xform import lax, random
from xform.nn.initializers import glorot_normal, he_normal, normal, ones, zeros  # noqa: F401
from xform.nn.functions import (elu, gelu, leaky_relu, log_softmax, relu, selu,  # noqa: F401
                                sigmoid, softmax, softplus, standardize)

__all__ = [
    "AvgPool", "BatchNorm", "Conv", "Conv1DTranspose", "ConvTranspose", "Dense", "Dropout",
    "Elu", "Exp", "FanInConcat", "FanInSum", "FanOut", "Flatten", "Gelu", "GeneralConv",
    "GeneralConvTranspose", "Identity", "LeakyRelu", "LogSoftmax", "MaxPool", "Relu", "Selu",
    "Sigmoid", "Softmax", "Softplus", "SumPool", "Tanh", "elementwise", "parallel", "serial",
    "shape_dependent",
]


# ----------------------------------------------------------------------------- shapes

def _pads(in_sizes, window, strides, padding):
    """Explicit (low, high) padding per dimension for 'VALID', 'SAME', 'SAME_LOWER' or pairs."""
    if not isinstance(padding, str):
        return [tuple(p) for p in padding]
    if padding == "VALID":
        return [(0, 0)] * len(window)
    if padding not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"padding must be 'VALID', 'SAME', 'SAME_LOWER' or a sequence of "
                         f"(low, high) pairs, got {padding!r}")
    pads = []
    for n, k, s in zip(in_sizes, window, strides):
        total = max((-(-n // s) - 1) * s + k - n, 0) if n >= 0 else 0
        lo = total // 2 if padding == "SAME" else total - total // 2
        pads.append((lo, total - lo))
    return pads


def _window_output(in_sizes, window, strides, padding):
    """Output sizes of a window sliding over `in_sizes` (-1, an unknown batch, stays -1)."""
    return [n if n < 0 else (n + lo + hi - k) // s + 1
            for n, k, s, (lo, hi) in zip(in_sizes, window, strides,
                                         _pads(in_sizes, window, strides, padding))]


# ----------------------------------------------------------------------------- layers

def Dense(out_dim: int, W_init=glorot_normal(), b_init=normal()):
    """A fully connected layer: inputs @ W + b over the last axis."""
    def init_fun(rng, input_shape):
        output_shape = tuple(input_shape[:-1]) + (out_dim,)
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, (input_shape[-1], out_dim)), b_init(k2, (out_dim,)))

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        return xnp.dot(inputs, W) + b
    return init_fun, apply_fun


def _conv_layer(dimension_numbers, out_chan, filter_shape, strides, W_init, b_init,
                output_sizes, convolve):
    """The (init_fun, apply_fun) of a convolution layer with a bias per output channel:
    `output_sizes(in_sizes, windows, strides)` gives the spatial output sizes (in the kernel's
    spatial order), `convolve(inputs, W, strides)` computes it."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    strides = tuple(strides or (1,) * len(filter_shape))
    W_init = W_init or glorot_normal(rhs_spec.index("I"), rhs_spec.index("O"))

    def init_fun(rng, input_shape):
        sizes = iter(filter_shape)
        kernel_shape = tuple(out_chan if c == "O" else input_shape[lhs_spec.index("C")]
                             if c == "I" else next(sizes) for c in rhs_spec)
        spatial = [c for c in rhs_spec if c not in "IO"]  # the order strides refer to
        in_sizes = [input_shape[lhs_spec.index(c)] for c in spatial]
        windows = [kernel_shape[rhs_spec.index(c)] for c in spatial]
        out_sizes = dict(zip(spatial, output_sizes(in_sizes, windows, strides)))
        by_name = {"N": input_shape[lhs_spec.index("N")], "C": out_chan, **out_sizes}
        output_shape = tuple(by_name[c] for c in out_spec)
        bias_shape = tuple(out_chan if c == "C" else 1 for c in out_spec)
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, kernel_shape), b_init(k2, bias_shape))

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        return convolve(inputs, W, strides) + b
    return init_fun, apply_fun


def GeneralConv(dimension_numbers, out_chan: int, filter_shape, strides=None, padding="VALID",
                W_init=None, b_init=normal(1e-6)):
    """A convolution with the layouts `dimension_numbers = (lhs_spec, rhs_spec, out_spec)`,
    e.g. ('NHWC', 'HWIO', 'NHWC'), plus a bias per output channel."""
    one = (1,) * len(filter_shape)

    def convolve(inputs, W, strides):
        return lax.conv_general_dilated(inputs, W, strides, padding, one, one,
                                        dimension_numbers=dimension_numbers)
    return _conv_layer(dimension_numbers, out_chan, filter_shape, strides, W_init, b_init,
                       lambda n, k, s: _window_output(n, k, s, padding), convolve)


Conv = functools.partial(GeneralConv, ("NHWC", "HWIO", "NHWC"))
Conv.__doc__ = "A 2-D convolution over NHWC images with HWIO filters (see GeneralConv)."


def GeneralConvTranspose(dimension_numbers, out_chan: int, filter_shape, strides=None,
                         padding="VALID", W_init=None, b_init=normal(1e-6)):
    """A transposed convolution (the gradient of a convolution with respect to its input,
    upsampling by `strides`), as `lax.conv_transpose`, plus a bias per output channel."""
    def output_sizes(in_sizes, windows, strides):
        return [n if n < 0 else _transposed_size(n, k, s, padding)
                for n, k, s in zip(in_sizes, windows, strides)]

    def convolve(inputs, W, strides):
        return lax.conv_transpose(inputs, W, strides, padding,
                                  dimension_numbers=dimension_numbers)
    return _conv_layer(dimension_numbers, out_chan, filter_shape, strides, W_init, b_init,
                       output_sizes, convolve)


def _transposed_size(n: int, k: int, s: int, padding) -> int:
    if padding == "SAME":
        return n * s
    if padding == "VALID":
        return n * s + max(k - s, 0)
    raise ValueError("transposed convolutions in stax take padding 'SAME' or 'VALID'")


Conv1DTranspose = functools.partial(GeneralConvTranspose, ("NHC", "HIO", "NHC"))
Conv1DTranspose.__doc__ = "A 1-D transposed convolution over NHC inputs (see GeneralConvTranspose)."
ConvTranspose = functools.partial(GeneralConvTranspose, ("NHWC", "HWIO", "NHWC"))
ConvTranspose.__doc__ = "A 2-D transposed convolution over NHWC images (see GeneralConvTranspose)."


def BatchNorm(axis=(0, 1, 2), epsilon: float = 1e-5, center: bool = True, scale: bool = True,
              beta_init=zeros, gamma_init=ones):
    """Standardize over `axis` (the batch statistics of this call), then scale by gamma and
    shift by beta, learned per remaining position (per channel by default)."""
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)

    def init_fun(rng, input_shape):
        shape = tuple(d for i, d in enumerate(input_shape) if i not in axis)
        k1, k2 = random.split(rng)
        beta = beta_init(k1, shape) if center else ()
        gamma = gamma_init(k2, shape) if scale else ()
        return input_shape, (beta, gamma)

    def apply_fun(params, x, **kwargs):
        beta, gamma = params
        expand = tuple(None if i in axis else slice(None) for i in range(np.ndim(x)))
        z = standardize(x, axis, epsilon=epsilon)
        if scale:
            z = gamma[expand] * z
        if center:
            z = z + beta[expand]
        return z
    return init_fun, apply_fun


def elementwise(fun, **fun_kwargs):
    """A layer without parameters applying `fun(inputs, **fun_kwargs)`."""
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return fun(inputs, **fun_kwargs)
    return init_fun, apply_fun


Tanh = elementwise(xnp.tanh)
Relu = elementwise(relu)
Exp = elementwise(xnp.exp)
LogSoftmax = elementwise(log_softmax, axis=-1)
Softmax = elementwise(softmax, axis=-1)
Softplus = elementwise(softplus)
Sigmoid = elementwise(sigmoid)
Elu = elementwise(elu)
LeakyRelu = elementwise(leaky_relu)
Selu = elementwise(selu)
Gelu = elementwise(gelu)


def _pooling_layer(reducer, init_val, rescaler=None):
    def PoolingLayer(window_shape, strides=None, padding="VALID", spec=None):
        window_shape = tuple(window_shape)
        strides = tuple(strides or (1,) * len(window_shape))
        rescale = rescaler(window_shape, strides, padding) if rescaler else None
        non_spatial = ((0, len(window_shape) + 1) if spec is None
                       else (spec.index("N"), spec.index("C")))
        full_window, full_strides = window_shape, strides
        for i in sorted(non_spatial):
            full_window = full_window[:i] + (1,) + full_window[i:]
            full_strides = full_strides[:i] + (1,) + full_strides[i:]

        def init_fun(rng, input_shape):
            if len(input_shape) != len(full_window):
                raise ValueError(f"pooling over a {len(window_shape)}-d window needs inputs "
                                 f"of rank {len(full_window)}, got shape {input_shape}")
            pads = _pads(input_shape, full_window, full_strides, padding)
            return tuple(_window_output(input_shape, full_window, full_strides, pads)), ()

        def apply_fun(params, inputs, **kwargs):
            out = lax.reduce_window(inputs, init_val, reducer, full_window, full_strides,
                                    padding)
            return rescale(out, inputs, spec) if rescale else out
        return init_fun, apply_fun
    return PoolingLayer


def _normalize_by_window_size(window_shape, strides, padding):
    def rescale(outputs, inputs, spec):
        non_spatial = (0, np.ndim(inputs) - 1) if spec is None else (spec.index("N"),
                                                                     spec.index("C"))
        spatial = tuple(n for i, n in enumerate(np.shape(inputs)) if i not in non_spatial)
        counts = lax.reduce_window(np.ones(spatial, outputs.dtype), 0.0, lax.add,
                                   window_shape, strides, padding)
        for i in sorted(non_spatial):
            counts = xnp.expand_dims(counts, i)
        return outputs / counts
    return rescale


MaxPool = _pooling_layer(lax.max, -np.inf)
MaxPool.__name__ = "MaxPool"
SumPool = _pooling_layer(lax.add, 0.0)
SumPool.__name__ = "SumPool"
AvgPool = _pooling_layer(lax.add, 0.0, _normalize_by_window_size)
AvgPool.__name__ = "AvgPool"


def _flatten_init(rng, input_shape):
    return (input_shape[0], math.prod(input_shape[1:])), ()


def _flatten_apply(params, inputs, **kwargs):
    return xnp.reshape(inputs, (np.shape(inputs)[0], -1))


Flatten = (_flatten_init, _flatten_apply)
Identity = (lambda rng, input_shape: (input_shape, ()),
            lambda params, inputs, **kwargs: inputs)


def Dropout(rate: float, mode: str = "train"):
    """Dropout as in JAX's stax, where `rate` is the probability of KEEPING an input: in
    'train' mode each input is kept with probability `rate` and scaled by 1 / rate, else
    zeroed (apply_fun needs the PRNG key `rng=`); any other mode is the identity."""
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        rng = kwargs.get("rng")
        if rng is None:
            raise ValueError("Dropout's apply_fun needs a PRNG key: call it as "
                             "apply_fun(params, inputs, rng=key)")
        if mode != "train":
            return inputs
        keep = random.bernoulli(rng, rate, np.shape(inputs))
        return xnp.where(keep, inputs / rate, xnp.zeros_like(inputs))
    return init_fun, apply_fun


# ----------------------------------------------------------------------------- combinators

def _split_rng(rng, n):
    return random.split(rng, n) if rng is not None else (None,) * n


def serial(*layers):
    """Layers applied one after the other; the params are a list, one entry per layer."""
    init_funs, apply_funs = zip(*layers) if layers else ((), ())

    def init_fun(rng, input_shape):
        params = []
        for init in init_funs:
            rng, layer_rng = random.split(rng)
            input_shape, param = init(layer_rng, input_shape)
            params.append(param)
        return input_shape, params

    def apply_fun(params, inputs, **kwargs):
        rngs = _split_rng(kwargs.pop("rng", None), len(apply_funs))
        for fun, param, rng in zip(apply_funs, params, rngs):
            inputs = fun(param, inputs, rng=rng, **kwargs)
        return inputs
    return init_fun, apply_fun


def parallel(*layers):
    """Layers applied side by side: the i-th to the i-th of a sequence of inputs."""
    init_funs, apply_funs = zip(*layers) if layers else ((), ())

    def init_fun(rng, input_shape):
        rngs = random.split(rng, len(init_funs))
        pairs = [init(r, shape) for init, r, shape in zip(init_funs, rngs, input_shape)]
        return tuple(s for s, _ in pairs), tuple(p for _, p in pairs)

    def apply_fun(params, inputs, **kwargs):
        rngs = _split_rng(kwargs.pop("rng", None), len(apply_funs))
        return [f(p, x, rng=r, **kwargs)
                for f, p, x, r in zip(apply_funs, params, inputs, rngs)]
    return init_fun, apply_fun


def FanOut(num: int):
    """A layer copying its input into a list of `num` inputs."""
    return (lambda rng, input_shape: ([input_shape] * num, ()),
            lambda params, inputs, **kwargs: [inputs] * num)


def _fan_in_sum_apply(params, inputs, **kwargs):
    return functools.reduce(operator.add, inputs)


FanInSum = (lambda rng, input_shape: (input_shape[0], ()), _fan_in_sum_apply)


def FanInConcat(axis: int = -1):
    """A layer concatenating a list of inputs along `axis`."""
    def init_fun(rng, input_shape):
        ax = axis % len(input_shape[0])
        size = sum(shape[ax] for shape in input_shape)
        return tuple(input_shape[0][:ax]) + (size,) + tuple(input_shape[0][ax + 1:]), ()

    def apply_fun(params, inputs, **kwargs):
        return xnp.concatenate(inputs, axis)
    return init_fun, apply_fun


def shape_dependent(make_layer):
    """A layer built by `make_layer(input_shape)` once the input shape is known."""
    def init_fun(rng, input_shape):
        return make_layer(input_shape)[0](rng, input_shape)

    def apply_fun(params, inputs, **kwargs):
        return make_layer(np.shape(inputs))[1](params, inputs, **kwargs)
    return init_fun, apply_fun

