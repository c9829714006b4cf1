"""Operators and array methods of traced values, defined by the xform.numpy functions and
installed through core's one hook."""
from __future__ import annotations

import functools

import numpy as np

from xform.core import Tracer, TracerConversionError, define_tracer_methods


@functools.cache
def _np():
    """xform.numpy, imported on first use (it imports this module) and then remembered."""
    import xform.numpy as xnp
    return xnp


def _binop(name, reflected=False):
    def op(self, other):
        fn = getattr(_np(), name)
        return fn(other, self) if reflected else fn(self, other)
    return op


def _method(name):
    def method(self, *args, **kwargs):
        return getattr(_np(), name)(self, *args, **kwargs)
    method.__name__ = name
    return method


def _reshape(self, *shape, order="C"):
    # numpy's method takes the shape as one tuple or as separate ints.
    shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    return _np().reshape(self, shape, order=order)


def _transpose(self, *axes):
    axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
    return _np().transpose(self, axes or None)


def _getitem(self, idx):
    from xform.numpy.indexing import getitem
    return getitem(self, idx)


def _astype(self, dtype):
    from xform.numpy._core import cast
    return cast(self, dtype)


def _at(self):
    from xform.numpy.indexing import IndexUpdateHelper
    return IndexUpdateHelper(self)


_OPERATORS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
    "floordiv": "floor_divide", "mod": "mod", "pow": "power", "matmul": "matmul",
    "and": "logical_and", "or": "logical_or", "xor": "logical_xor",
}
_COMPARISONS = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                "eq": "equal", "ne": "not_equal"}
_METHODS = ("sum", "mean", "prod", "max", "min", "var", "std", "argmax", "argmin", "cumsum",
            "cumprod", "any", "all", "ravel", "squeeze", "clip", "dot", "round", "swapaxes",
            "repeat", "diagonal", "trace")

ARRAY_METHODS = {
    **{f"__{d}__": _binop(fn) for d, fn in {**_OPERATORS, **_COMPARISONS}.items()},
    **{f"__r{d}__": _binop(fn, reflected=True) for d, fn in _OPERATORS.items()},
    **{name: _method(name) for name in _METHODS},
    "__neg__": lambda self: _np().negative(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: _np().absolute(self),
    "__invert__": lambda self: _np().logical_not(self),
    "__getitem__": _getitem,
    "reshape": _reshape,
    "transpose": _transpose,
    "flatten": lambda self, order="C": _np().ravel(self, order),
    "astype": _astype,
    "at": property(_at),
    "T": property(lambda self: _np().transpose(self)),
    "mT": property(lambda self: _np().swapaxes(self, -1, -2)),
}


# ----------------------------------------------------------------------------- numpy protocols
#
# A traced value never hands its value to numpy silently. numpy's operator ufuncs (what
# `ndarray + x` calls) are differentiated through xform.numpy; every other numpy function
# applied to a traced value raises, naming the xform.numpy function to use instead.

_OPERATOR_UFUNCS = {
    np.add: "add", np.subtract: "subtract", np.multiply: "multiply",
    np.true_divide: "true_divide", np.floor_divide: "floor_divide", np.remainder: "mod",
    np.power: "power", np.matmul: "matmul", np.less: "less", np.less_equal: "less_equal",
    np.greater: "greater", np.greater_equal: "greater_equal", np.equal: "equal",
    np.not_equal: "not_equal", np.bitwise_and: "logical_and", np.bitwise_or: "logical_or",
    np.bitwise_xor: "logical_xor", np.negative: "negative", np.positive: "positive",
    np.absolute: "absolute",
}


def _xnp_name(module: str, name: str) -> str:
    """`xnp.linalg.norm` for numpy.linalg.norm, or a note that xform.numpy lacks it."""
    sub = module.split(".")[1:] if module.startswith("numpy") else []
    target = _np()
    for part in [*sub, name]:
        target = getattr(target, part, None)
    path = ".".join(["xnp", *sub, name])
    if target is None or type(target).__name__ == "_Unsupported":
        return f"{path} does not exist yet: write it with the xnp functions there are"
    return f"use {path} (import xform.numpy as xnp) instead"


def _numpy_on_tracer(what: str, module: str, name: str, tracer) -> TypeError:
    return TracerConversionError(
        f"{what} was applied to a traced value ({tracer.aval} under `{tracer.interp.name}`); "
        "numpy would compute with a constant and silently drop its derivative or batch: "
        + _xnp_name(module, name))


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    name = _OPERATOR_UFUNCS.get(ufunc)
    if method == "__call__" and name is not None and not kwargs:
        return getattr(_np(), name)(*inputs)
    if kwargs.get("out") is not None:
        raise TypeError(f"numpy.{ufunc.__name__} cannot write a traced value into a numpy array "
                        "(out=, or an in-place operator such as +=); traced arrays are values: "
                        "write `a = a + x` instead")
    what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    raise _numpy_on_tracer(what, "numpy", ufunc.__name__ if method == "__call__"
                           else _REDUCING.get((ufunc.__name__, method), ufunc.__name__), self)


# numpy's ufunc methods and the xform.numpy functions that compute the same thing.
_REDUCING = {("add", "reduce"): "sum", ("multiply", "reduce"): "prod",
             ("maximum", "reduce"): "max", ("minimum", "reduce"): "min",
             ("add", "accumulate"): "cumsum", ("multiply", "accumulate"): "cumprod",
             ("multiply", "outer"): "outer"}


def _result_type(*args):
    return np.result_type(*[a.aval.dtype if isinstance(a, Tracer) else a for a in args])


# numpy functions that only read a shape or dtype are safe on traced values.
_SHAPE_QUERIES = {np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim,
                  np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
                  np.result_type: _result_type,
                  np.iscomplexobj: lambda a: np.dtype(a.dtype).kind == "c",
                  np.isrealobj: lambda a: np.dtype(a.dtype).kind != "c"}


def _array_function(self, func, types, args, kwargs):
    query = _SHAPE_QUERIES.get(func)
    if query is not None:
        return query(*args, **kwargs)
    raise _numpy_on_tracer(f"numpy.{func.__name__}" if func.__module__ == "numpy"
                           else f"{func.__module__}.{func.__name__}", func.__module__,
                           func.__name__, self)


ARRAY_METHODS["__array_ufunc__"] = _array_ufunc
ARRAY_METHODS["__array_function__"] = _array_function
define_tracer_methods(ARRAY_METHODS)
