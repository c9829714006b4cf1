"""numpy's 1-d `convolve` and `correlate`, as one-channel convolution primitives."""
from __future__ import annotations

import numpy as np

from xform.numpy._core import cast, dtype_of, numpy_function, shape_of
from xform.primitives import structural as st
from xform.primitives.conv import conv_general_dilated

__all__ = ["convolve", "correlate"]


def _vectors(name, a, v):
    """a and v as 1-d operands of their common dtype, as numpy checks them."""
    if len(shape_of(a)) > 1 or len(shape_of(v)) > 1:
        raise ValueError(f"{name} needs 1-d inputs, got shapes {shape_of(a)} and "
                         f"{shape_of(v)}")
    if 0 in (int(np.prod(shape_of(a))), int(np.prod(shape_of(v)))):
        raise ValueError(f"{name}: {'a' if not np.prod(shape_of(a)) else 'v'} cannot be empty")
    dtype = np.result_type(dtype_of(a), dtype_of(v))
    if dtype == np.bool_ or dtype.kind == "c":
        raise TypeError(f"xform.numpy.{name} supports real integer and float inputs, got "
                        f"{dtype}; convert booleans with .astype(int)")
    return [st.reshape(cast(x, dtype), (1,) * 2 + (max(1, int(np.prod(shape_of(x)))),))
            for x in (a, v)]


def _mode(mode) -> str:
    """numpy's mode: 'full', 'same' or 'valid', by initial letter or as 2, 1 or 0."""
    modes = {"f": "full", "s": "same", "v": "valid", 2: "full", 1: "same", 0: "valid"}
    key = mode.lower()[:1] if isinstance(mode, str) else mode
    if key not in modes or isinstance(key, bool):
        raise ValueError(f"mode must be 'full', 'same' or 'valid', got {mode!r}")
    return modes[key]


def _length(x) -> int:
    return np.shape(x)[2]


def _correlate(a, v, mode):
    """sum_j a[i + j] v[j] over the positions `mode` keeps (len(a) >= len(v))."""
    k = _length(v)
    pads = {"full": (k - 1, k - 1), "same": (k // 2, k - 1 - k // 2), "valid": (0, 0)}
    out = conv_general_dilated(a, v, (1,), (pads[_mode(mode)],), (1,), (1,), ((0, 1, 2),) * 3)
    return st.reshape(out, (_length(out),))


@numpy_function(np.convolve)
def convolve(a, v, mode="full"):
    """The discrete linear convolution of two 1-d sequences, as `numpy.convolve`.

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.grad(lambda a: xnp.convolve(a, [1.0, 2.0])[1])(xnp.array([1.0, 1.0])).tolist()
    [2.0, 1.0]
    """
    a, v = _vectors("convolve", a, v)
    if _length(v) > _length(a):
        a, v = v, a
    return _correlate(a, st.rev(v, (2,)), mode)


@numpy_function(np.correlate)
def correlate(a, v, mode="valid"):
    """The cross-correlation of two 1-d sequences, c[k] = sum_n a[n + k] v[n], as
    `numpy.correlate` (real inputs).

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.grad(lambda v: xnp.correlate([1.0, 2.0, 3.0], v)[0])(xnp.array([1.0, 1.0])).tolist()
    [1.0, 2.0]
    """
    a, v = _vectors("correlate", a, v)
    if _length(v) > _length(a):
        return st.rev(_correlate(v, a, mode), (0,))
    return _correlate(a, v, mode)
