"""What every `xform.lax` operation shares: lax's strict operand rules and its results.

lax operations do not promote or broadcast (use xform.numpy for that): operands have one dtype
and one shape, except that 0-d arrays stand beside arrays of any shape, and Python scalars are
weakly typed, taking the dtype of the other operands.
"""
from __future__ import annotations

import numpy as np

from xform.core import Tracer, get_aval
from xform.numpy._core import wrap
from xform.numpy.creation import asarray

_WEAK = (bool, int, float)


def _weak_dtype_ok(value, dtype: np.dtype) -> bool:
    """Whether a Python scalar may take `dtype` without changing kind (1 -> 1.0 is fine, 1.5
    -> 1 and True -> 1.0 are not)."""
    if type(value) is bool:
        return dtype == np.bool_
    if type(value) is int:
        return dtype != np.bool_
    return np.issubdtype(dtype, np.inexact)


def as_operand(x):
    """An array operand: traced values and numpy arrays as they are, sequences as arrays."""
    if isinstance(x, (Tracer, np.ndarray, np.generic)) or type(x) in _WEAK:
        return x
    if isinstance(x, (list, tuple)):
        return asarray(x)
    return np.asarray(x)


def strict(name: str, *args, float_only: bool = False):
    """The operands of the lax operation `name`, Python scalars as 0-d arrays of the others'
    dtype; a TypeError naming the operands when dtypes or shapes differ."""
    args = [as_operand(a) for a in args]
    typed = [get_aval(a) for a in args if type(a) not in _WEAK]
    if typed:
        dtype = typed[0].dtype
        if any(a.dtype != dtype for a in typed):
            raise TypeError(f"lax.{name} requires arguments of one dtype, got "
                            f"{', '.join(str(a.dtype) for a in typed)}; convert them first "
                            f"(lax.convert_element_type), or use xform.numpy, which promotes")
    else:
        dtype = np.result_type(*args)
    shapes = {a.shape for a in typed if a.shape != ()}
    if len(shapes) > 1:
        raise TypeError(f"lax.{name} requires arguments of one shape (or 0-d ones), got "
                        f"{', '.join(str(a.shape) for a in typed)}; broadcast them first "
                        f"(lax.broadcast_in_dim), or use xform.numpy, which broadcasts")
    out = []
    for a in args:
        if type(a) in _WEAK:
            if not _weak_dtype_ok(a, dtype):
                raise TypeError(f"lax.{name} cannot use the Python {type(a).__name__} {a!r} "
                                f"as a {dtype} operand")
            a = np.asarray(a, dtype)
        out.append(a)
    if float_only and not np.issubdtype(dtype, np.inexact):
        raise TypeError(f"lax.{name} needs floating-point operands, got {dtype}")
    return out


def check(prim, args, **params) -> None:
    """Run the primitive's shape and dtype checks (eager evaluation would skip them)."""
    prim.rule("abstract_eval")(*[get_aval(a) for a in args], **params)


def result(x):
    """A concrete result as an xform.numpy array (so `.at` works); traced ones unchanged."""
    if isinstance(x, Tracer):
        return x
    return wrap(np.asarray(x))


def bind(prim, *args, **params):
    """Check, then bind a single-output primitive and return its result."""
    check(prim, args, **params)
    return result(prim.bind1(*args, **params))
