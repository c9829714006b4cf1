"""dtype queries of xform.numpy: isscalar, iscomplexobj, isrealobj, promote_types,
issubdtype, can_cast, finfo, iinfo, and the dtype aliases JAX's numpy has.

They answer from dtypes and shapes alone, so traced values are as good as arrays here.
"""
from __future__ import annotations

import numpy as np
from numpy import (  # noqa: F401
    bool_,
    complexfloating,
    double,
    floating,
    generic,
    half,
    inexact,
    int_,
    integer,
    intp,
    number,
    signedinteger,
    single,
    uint,
    uint16,
    unsignedinteger,
)

from xform.core import Tracer
from xform.numpy._core import dtype_of, lists_as_arrays

__all__ = [
    "bool", "bool_", "can_cast", "complex_", "complexfloating", "double", "finfo", "float_",
    "floating", "generic", "half", "iinfo", "inexact", "int_", "integer", "intp",
    "iscomplexobj", "isrealobj", "isscalar", "issubdtype", "number", "promote_types",
    "signedinteger", "single", "uint", "uint16", "unsignedinteger",
]

# JAX's names for numpy's default types (numpy 2 dropped float_ and complex_).
float_ = np.float64
complex_ = np.complex128
bool = np.bool_  # noqa: A001  (JAX and numpy 2 both call it bool)


def _dtype(x):
    """The dtype of an array, traced value or dtype-like."""
    if isinstance(x, Tracer):
        return x.aval.dtype
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype
    try:
        return np.dtype(x)
    except TypeError:
        return dtype_of(x)


@lists_as_arrays
def isscalar(element):
    """Whether `element` is a scalar: numpy's answer for plain values; a 0-d traced value
    counts as one (it stands for a scalar argument), as in JAX.

    >>> isscalar(1.0), isscalar(np.ones(2))
    (True, False)
    """
    if isinstance(element, Tracer):
        return element.ndim == 0
    return np.isscalar(element)


@lists_as_arrays
def iscomplexobj(x):
    """Whether `x` has a complex dtype, as `numpy.iscomplexobj`.

    >>> iscomplexobj(np.ones(2))
    False
    """
    return np.issubdtype(_dtype(x), np.complexfloating)


@lists_as_arrays
def isrealobj(x):
    """Whether `x` has a non-complex dtype, as `numpy.isrealobj`.

    >>> isrealobj(np.ones(2))
    True
    """
    return not iscomplexobj(x)


@lists_as_arrays
def promote_types(type1, type2):
    """The smallest dtype both dtypes convert to safely, as `numpy.promote_types`.

    >>> promote_types(np.float32, np.int64)
    dtype('float64')
    """
    return np.promote_types(_dtype(type1), _dtype(type2))


@lists_as_arrays
def issubdtype(arg1, arg2):
    """Whether the dtype `arg1` is below `arg2` in numpy's type hierarchy, as
    `numpy.issubdtype`.

    >>> issubdtype(np.float32, np.floating)
    True
    """
    return np.issubdtype(arg1 if isinstance(arg1, type) else _dtype(arg1), arg2)


@lists_as_arrays
def can_cast(from_, to, casting="safe"):
    """Whether values of `from_`'s dtype convert to `to` under the `casting` rule, as
    `numpy.can_cast` (arrays and traced values give their dtype).

    >>> can_cast(np.float32, np.float64)
    True
    """
    return np.can_cast(_dtype(from_), to, casting)


@lists_as_arrays
def finfo(dtype):
    """Machine limits of a floating dtype (or of an array's), as `numpy.finfo`.

    >>> float(finfo(np.float32).eps) == float(np.finfo(np.float32).eps)
    True
    """
    return np.finfo(_dtype(dtype))


@lists_as_arrays
def iinfo(int_type):
    """Machine limits of an integer dtype (or of an array's), as `numpy.iinfo`.

    >>> int(iinfo(np.int8).max)
    127
    """
    return np.iinfo(_dtype(int_type))
