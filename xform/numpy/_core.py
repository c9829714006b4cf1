"""Shared machinery of xform.numpy: the Array type, dtype promotion and broadcasting."""
from __future__ import annotations

import functools

import numpy as np

from xform.core import Tracer
from xform.primitives.elementwise import convert
from xform.primitives.structural import broadcast_in_dim, concatenate, reshape


class Array(np.ndarray):
    """A numpy array that also offers JAX's functional updates, `x.at[idx].set(v)` etc., and
    accepts traced indices (a gather from a constant)."""

    @property
    def at(self):
        from xform.numpy.indexing import IndexUpdateHelper
        return IndexUpdateHelper(self)

    def block_until_ready(self):
        """The array itself: results are computed eagerly, so they are always ready."""
        return self

    def __getitem__(self, idx):
        if holds_tracer(idx):
            from xform.numpy.indexing import getitem
            return getitem(self.view(np.ndarray), idx)
        return super().__getitem__(idx)


def wrap(x):
    """Return numpy results as `Array` so `.at` works on whatever xform.numpy hands back."""
    if type(x) is np.ndarray:
        return x.view(Array)
    return x


def is_traced(*args) -> bool:
    for a in args:  # a loop, not any(): this runs for every xform.numpy call
        if isinstance(a, Tracer):
            return True
    return False


def holds_tracer(obj) -> bool:
    """Whether `obj` is a traced value or a (nested) list or tuple holding one."""
    if isinstance(obj, Tracer):
        return True
    return isinstance(obj, (list, tuple)) and any(holds_tracer(o) for o in obj)


def stack_nested(obj):
    """`obj` as one array the way `numpy.asarray` builds it from nested lists and tuples, but
    traced wherever an element is traced (numpy would silently read a constant out of it)."""
    if isinstance(obj, Tracer):
        return obj
    if not isinstance(obj, (list, tuple)) or not holds_tracer(obj):
        return np.asarray(obj)
    items = [stack_nested(o) for o in obj]
    shapes = [shape_of(i) for i in items]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("setting an array element with a sequence: the nested sequence is "
                         "ragged (its elements have shapes " + ", ".join(map(str, shapes))
                         + "); every element at one level needs the same shape")
    dt = np.result_type(*[dtype_of(i) for i in items])
    return concatenate([reshape(cast(i, dt), (1, *shapes[0])) for i in items], 0)


def _nested(a) -> bool:
    return type(a) in (list, tuple) and holds_tracer(a)


def _wrap_all(result):
    """numpy's result with its arrays (also inside a tuple, list or namedtuple) as `Array`."""
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return type(result)(*map(wrap, result))
    if type(result) in (tuple, list):
        return type(result)(map(wrap, result))
    return wrap(result)


def numpy_function(np_fn):
    """Decorate the traced implementation of numpy's `np_fn` (with numpy's signature): plain
    inputs run numpy itself (arrays returned as `Array`); nested lists or tuples holding
    traced values are one traced array, as `asarray` makes them; `out=` is refused, since
    arrays here are values."""
    def decorate(traced_fn):
        @functools.wraps(traced_fn)
        def fn(*args, **kwargs):
            if kwargs.get("out") is not None:
                raise NotImplementedError(
                    f"xform.numpy.{traced_fn.__name__}: out= is not supported; arrays are "
                    "immutable, use the returned value")
            for a in (*args, *kwargs.values()):  # a loop: this runs for every call
                if isinstance(a, Tracer) or (type(a) in (list, tuple) and holds_tracer(a)):
                    return traced_fn(*[stack_nested(a) if _nested(a) else a for a in args],
                                     **{k: stack_nested(v) if _nested(v) else v
                                        for k, v in kwargs.items()})
            return _wrap_all(np_fn(*args, **kwargs))
        fn.accepts_nested_tracers = True
        return fn
    return decorate


def lists_as_arrays(fn):
    """Let `fn` take nested lists or tuples holding traced values wherever it takes an array,
    as the one traced array `asarray` makes of them (as autograd and JAX do)."""
    @functools.wraps(fn)
    def accepting_lists(*args, **kwargs):
        for a in args:  # a loop, not any(): this runs for every xform.numpy call
            if type(a) in (list, tuple) and holds_tracer(a):
                break
        else:
            if not kwargs or not any(map(_nested, kwargs.values())):
                return fn(*args, **kwargs)
        args = [stack_nested(a) if _nested(a) else a for a in args]
        kwargs = {k: stack_nested(v) if _nested(v) else v for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    accepting_lists.accepts_nested_tracers = True
    return accepting_lists


def shape_of(x) -> tuple[int, ...]:
    if isinstance(x, Tracer):
        return x.aval.shape
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def dtype_of(x) -> np.dtype:
    if isinstance(x, Tracer):
        return x.aval.dtype
    return np.asarray(x).dtype if isinstance(x, (list, tuple)) else np.result_type(x)


_WEAK_TYPES = frozenset((int, float, complex))  # a Python bool is numpy's bool dtype


def _dtype_key(x):
    """What numpy's promotion sees: a dtype, or the Python type of a weakly typed scalar."""
    if isinstance(x, Tracer):
        return x.aval.dtype
    if type(x) in _WEAK_TYPES:
        return type(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype
    return dtype_of(x)


def result_dtype(*args) -> np.dtype:
    """numpy's `result_type` of the operands, Python scalars counting as weakly typed."""
    return np.result_type(*[a.aval.dtype if isinstance(a, Tracer) else a for a in args])


@functools.lru_cache(maxsize=4096)
def _loop_dtypes(ufunc, keys):
    return ufunc.resolve_dtypes((*keys, None))


def loop_dtypes(ufunc, *args) -> tuple[np.dtype, ...]:
    """The (input..., output) dtypes numpy's `ufunc` would compute these operands in."""
    try:
        return _loop_dtypes(ufunc, tuple([_dtype_key(a) for a in args]))
    except TypeError as e:
        kinds = ", ".join(str(dtype_of(a)) for a in args)
        raise TypeError(f"{ufunc.__name__} does not support operands of dtype {kinds}") from e


def cast(x, dtype):
    """`x` as `dtype`: traced values get a conversion primitive, others convert eagerly."""
    if isinstance(x, Tracer):
        return x if x.aval.dtype == dtype else convert(x, dtype)
    dtype = np.dtype(dtype)
    x = np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def broadcast_to_shape(x, shape):
    """Numpy-style broadcasting of `x` to `shape` (dimensions aligned on the right)."""
    shape = tuple(shape)
    xshape = shape_of(x)
    if xshape == shape:
        return x
    try:
        if np.broadcast_shapes(xshape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"operands could not be broadcast together: shape {xshape} "
                         f"does not broadcast to {shape}") from None
    lead = len(shape) - len(xshape)
    if not isinstance(x, Tracer):
        return np.broadcast_to(x, shape)
    return broadcast_in_dim(x, shape, tuple(range(lead, len(shape))))


def broadcast_operands(*args, keep_scalars: bool = False):
    """Broadcast all operands to their common shape, reporting the shapes when they clash;
    with `keep_scalars`, 0-d operands stay 0-d (elementwise primitives broadcast those)."""
    shapes = [shape_of(a) for a in args]
    if shapes.count(shapes[0]) == len(shapes):
        return list(args)
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError("operands could not be broadcast together with shapes "
                         + " ".join(str(s) for s in shapes)) from None
    return [a if keep_scalars and s == () else broadcast_to_shape(a, shape)
            for a, s in zip(args, shapes)]


def ufunc_apply(ufunc, prim, *args):
    """Apply numpy's `ufunc` to plain inputs, or bind the strict primitive `prim` on traced ones
    after numpy's dtype promotion and broadcasting."""
    if not is_traced(*args):
        return wrap(ufunc(*args))
    dtypes = loop_dtypes(ufunc, *args)
    ops = [cast(a, dt) for a, dt in zip(args, dtypes)]
    out = prim.bind1(*(broadcast_operands(*ops, keep_scalars=True) if len(ops) > 1 else ops))
    return cast(out, dtypes[-1])


def normalize_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """A non-negative axis, or a clear error naming the valid range."""
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} {axis} is out of bounds for an array of dimension {ndim}")
    return int(axis) % ndim


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """`axis` given as None, an int or a tuple, as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"repeated axis in {axis}")
        return tuple(sorted(axes))
    return (normalize_axis(axis, ndim),)


class _Unsupported:
    """A stand-in for a numpy function or submodule (e.g. `fft`) xform does not support:
    calling it, or a function inside it, raises NotImplementedError naming it."""

    def __init__(self, name: str):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(
            f"xform.numpy.{self.__name__} is not supported; docs/api.md lists every supported "
            "function (of xform.numpy and the other modules); write it in terms of those")

    __getitem__ = __call__  # index helpers such as r_ and c_

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return _Unsupported(f"{self.__name__}.{attr}")

    def __repr__(self):
        return f"<unsupported xform.numpy.{self.__name__}>"


def unsupported(name: str):
    """A stand-in for a numpy function xform does not support."""
    return _Unsupported(name)
