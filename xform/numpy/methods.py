"""Operators and array methods of traced values, defined by the xform.numpy functions."""
from __future__ import annotations

import functools

from xform.core import Tracer


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


_OPERATORS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
    "floordiv": "floor_divide", "mod": "mod", "pow": "power", "matmul": "matmul",
    "and": "logical_and", "or": "logical_or", "xor": "logical_xor",
}
for _dunder, _fn in _OPERATORS.items():
    setattr(Tracer, f"__{_dunder}__", _binop(_fn))
    setattr(Tracer, f"__r{_dunder}__", _binop(_fn, reflected=True))

for _dunder, _fn in {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                     "eq": "equal", "ne": "not_equal"}.items():
    setattr(Tracer, f"__{_dunder}__", _binop(_fn))

Tracer.__neg__ = lambda self: _np().negative(self)
Tracer.__pos__ = lambda self: self
Tracer.__abs__ = lambda self: _np().absolute(self)
Tracer.__invert__ = lambda self: _np().logical_not(self)
Tracer.__hash__ = None  # defining __eq__ makes a type unhashable; keep it explicit

for _name in ("sum", "mean", "prod", "max", "min", "var", "std", "argmax", "argmin", "cumsum",
              "cumprod", "any", "all", "ravel", "squeeze", "clip", "dot", "round", "swapaxes",
              "repeat", "diagonal", "trace"):
    setattr(Tracer, _name, _method(_name))


def _reshape(self, *shape, order="C"):
    # numpy's method takes the shape as one tuple or as separate ints.
    shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    return _np().reshape(self, shape, order=order)


def _transpose(self, *axes):
    axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
    return _np().transpose(self, axes or None)


Tracer.reshape = _reshape
Tracer.transpose = _transpose
Tracer.flatten = lambda self, order="C": _np().ravel(self, order)


def _getitem(self, idx):
    from xform.numpy.indexing import getitem
    return getitem(self, idx)


def _astype(self, dtype):
    from xform.numpy._core import cast
    return cast(self, dtype)


def _at(self):
    from xform.numpy.indexing import IndexUpdateHelper
    return IndexUpdateHelper(self)


Tracer.__getitem__ = _getitem
Tracer.astype = _astype
Tracer.at = property(_at)
Tracer.T = property(lambda self: _np().transpose(self))
Tracer.mT = property(lambda self: _np().swapaxes(self, -1, -2))
