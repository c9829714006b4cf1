"""Array creation of xform.numpy: constants built with numpy, and arrays of traced values."""
from __future__ import annotations

import numpy as np

from xform.core import concrete_or_none
from xform.numpy._core import (broadcast_to_shape, cast, dtype_of, holds_tracer, is_traced,
                               lists_as_arrays, numpy_function, result_dtype, shape_of,
                               stack_nested, wrap)

__all__ = [
    "arange",
    "array",
    "asarray",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "identity",
    "linspace",
    "logspace",
    "meshgrid",
    "ones",
    "ones_like",
    "tri",
    "zeros",
    "zeros_like",
]


def _from_traced(obj, dtype, ndmin):
    x = stack_nested(obj)
    if dtype is not None:
        x = cast(x, dtype)
    shp = shape_of(x)
    if len(shp) < ndmin:
        from xform.numpy.shape import reshape
        x = reshape(x, (1,) * (ndmin - len(shp)) + shp)
    return x


def array(object, dtype=None, *, copy=True, order="K", ndmin=0):
    """An array from `object`, as `numpy.array`; traced values (also inside nested lists)
    give a traced array.

    >>> array([[1, 2], [3, 4]], dtype=np.float32).dtype
    dtype('float32')
    """
    if holds_tracer(object):
        return _from_traced(object, dtype, ndmin)
    return wrap(np.array(object, dtype=dtype, copy=copy, order=order, ndmin=ndmin))


def asarray(a, dtype=None, order=None, *, copy=None):
    """`a` as an array without copying when possible, as `numpy.asarray`; traced values
    pass through (converted to `dtype` if given).

    >>> asarray([1.0, 2.0]).shape
    (2,)
    """
    if holds_tracer(a):
        return _from_traced(a, dtype, 0)
    return wrap(np.asarray(a, dtype=dtype, order=order, copy=copy))


@lists_as_arrays
def zeros(shape, dtype=float, order="C"):
    """An array of zeros, as `numpy.zeros`.

    >>> zeros((2, 3)).shape
    (2, 3)
    """
    return wrap(np.zeros(shape, dtype, order))


@lists_as_arrays
def ones(shape, dtype=None, order="C"):
    """An array of ones, as `numpy.ones`.

    >>> ones(3, np.int32).tolist()
    [1, 1, 1]
    """
    return wrap(np.ones(shape, dtype, order))


@lists_as_arrays
def empty(shape, dtype=float, order="C"):
    """An array of the given shape; xform fills it with zeros so programs stay deterministic.

    >>> empty(2).tolist()
    [0.0, 0.0]
    """
    return zeros(shape, dtype, order)


@numpy_function(np.full)
def full(shape, fill_value, dtype=None, order="C"):
    """An array filled with `fill_value` (which may be traced), as `numpy.full`.

    >>> full((2,), 7.0).tolist()
    [7.0, 7.0]
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return broadcast_to_shape(cast(fill_value, dtype or dtype_of(fill_value)), shape)


def _like_shape_dtype(a, dtype, shape):
    shp = shape_of(a) if shape is None else shape
    return shp, (dtype_of(a) if dtype is None else dtype)


@lists_as_arrays
def zeros_like(a, dtype=None, shape=None):
    """Zeros with the shape and dtype of `a` (a constant even when `a` is traced).

    >>> zeros_like(np.ones((2, 3), np.float32)).dtype
    dtype('float32')
    """
    if not is_traced(a):
        return wrap(np.zeros_like(a, dtype, shape=shape))
    return wrap(np.zeros(*_like_shape_dtype(a, dtype, shape)))


@lists_as_arrays
def ones_like(a, dtype=None, shape=None):
    """Ones with the shape and dtype of `a` (a constant even when `a` is traced).

    >>> ones_like(np.zeros(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    if not is_traced(a):
        return wrap(np.ones_like(a, dtype, shape=shape))
    return wrap(np.ones(*_like_shape_dtype(a, dtype, shape)))


@lists_as_arrays
def empty_like(a, dtype=None, shape=None):
    """Like `zeros_like`: xform's uninitialised arrays are zeros.

    >>> empty_like(np.ones(2)).tolist()
    [0.0, 0.0]
    """
    return zeros_like(a, dtype, shape)


@lists_as_arrays
def full_like(a, fill_value, dtype=None, shape=None):
    """`fill_value` (which may be traced) in the shape and dtype of `a`, as `numpy.full_like`.

    >>> full_like(np.zeros(2, np.int64), 3.7).tolist()
    [3, 3]
    """
    if not is_traced(a, fill_value):
        return wrap(np.full_like(a, fill_value, dtype, shape=shape))
    shp, dt = _like_shape_dtype(a, dtype, shape)
    shp = (shp,) if isinstance(shp, (int, np.integer)) else tuple(shp)
    if not is_traced(fill_value):
        return wrap(np.full(shp, fill_value, dt))
    return broadcast_to_shape(cast(fill_value, dt), shp)


@lists_as_arrays
def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in [start, stop), as `numpy.arange` (bounds must be concrete).

    >>> arange(1, 7, 2).tolist()
    [1, 3, 5]
    """
    bounds = []
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        value = concrete_or_none(v)
        if value is None and v is not None:
            raise TypeError(
                f"xform.numpy.arange needs concrete bounds, but its {name} is a traced value "
                f"({v.aval} under `{v.interp.name}`): the length of the result would depend on "
                "it. Pass the bound as a Python number or a static argument (static_argnums), "
                "or build the range from concrete numbers and scale it by the traced value.")
        bounds.append(value)
    return wrap(np.arange(*bounds, dtype=dtype))


@numpy_function(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from `start` to `stop`, as `numpy.linspace`; `start` and
    `stop` may be traced (then the result is exact at both ends and differentiable).

    >>> linspace(0.0, 1.0, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    from xform.numpy.shape import moveaxis, reshape
    num = int(num)
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    dt = result_dtype(start, stop, float(num))
    start, stop = cast(start, dt), cast(stop, dt)
    div = num - 1 if endpoint else num
    frac = np.arange(num, dtype=dt) / dt.type(div) if div > 0 else np.zeros(num, dt)
    bshape = np.broadcast_shapes(shape_of(start), shape_of(stop))
    frac = frac.reshape((num,) + (1,) * len(bshape))
    lo = reshape(broadcast_to_shape(start, bshape), (1, *bshape))
    hi = reshape(broadcast_to_shape(stop, bshape), (1, *bshape))
    # lo * (1 - f) + hi * f hits both end points exactly.
    y = lo * (1 - frac) + hi * frac
    y = moveaxis(y, 0, axis)
    out_dt = np.dtype(dtype) if dtype is not None else dt
    if np.issubdtype(out_dt, np.integer):
        from xform.numpy.ufuncs import floor
        y = floor(y)
    y = cast(y, out_dt)
    if retstep:
        step = (stop - start) / dt.type(div) if div > 0 else np.asarray(np.nan, dt)
        return y, step
    return y


@numpy_function(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """`base ** linspace(start, stop, num)`, as `numpy.logspace`.

    >>> logspace(0.0, 2.0, 3).tolist()
    [1.0, 10.0, 100.0]
    """
    from xform.numpy.ufuncs import power
    y = power(base, linspace(start, stop, num, endpoint, axis=axis))
    return y if dtype is None else cast(y, dtype)


@lists_as_arrays
def eye(N, M=None, k=0, dtype=float, order="C"):
    """A 2-D array with ones on the `k`-th diagonal, as `numpy.eye`.

    >>> eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    return wrap(np.eye(N, M, k, dtype, order))


@lists_as_arrays
def identity(n, dtype=None):
    """The `n` x `n` identity matrix, as `numpy.identity`.

    >>> identity(2, np.int64).tolist()
    [[1, 0], [0, 1]]
    """
    return wrap(np.identity(n, dtype))


@lists_as_arrays
def tri(N, M=None, k=0, dtype=float):
    """Ones at and below the `k`-th diagonal, as `numpy.tri`.

    >>> tri(2).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    return wrap(np.tri(N, M, k, dtype))


@numpy_function(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate matrices from coordinate vectors (which may be traced), as numpy.

    >>> [g.shape for g in meshgrid(np.arange(3), np.arange(2))]
    [(2, 3), (2, 3)]
    """
    from xform.numpy.shape import broadcast_arrays, reshape
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    nd = len(xi)
    shapes = [[1] * nd for _ in xi]
    for i, s in enumerate(shapes):
        s[i] = -1
    if indexing == "xy" and nd > 1:
        shapes[0][:2], shapes[1][:2] = [1, -1], [-1, 1]
    out = [reshape(x, s) for x, s in zip(xi, shapes)]
    return tuple(out) if sparse else broadcast_arrays(*out)
