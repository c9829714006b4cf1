"""lax's sorting: `sort` of several operands by leading keys, `sort_key_val` and `top_k`.

All are the `sort` primitive (stable; NaN sorts last, and -0.0 equals 0.0 as in numpy, where
JAX orders -0.0 first); their derivatives gather the tangents with the sorting permutation.
"""
from __future__ import annotations

import numpy as np

from xform.core import get_aval
from xform.lax_ops._strict import as_operand, check, result
from xform.primitives import elementwise as ew
from xform.primitives import structural as st
from xform.primitives.sorting import iota_like, sort_p

__all__ = ["sort", "sort_key_val", "top_k"]


def _dimension(x, dimension: int, name: str) -> int:
    nd = get_aval(x).ndim
    if not -nd <= dimension < nd:
        raise TypeError(f"lax.{name}: dimension {dimension} does not fit an operand of rank "
                        f"{nd}")
    return int(dimension) % nd


def sort(operand, dimension: int = -1, is_stable: bool = True, num_keys: int = 1):
    """`operand` sorted along `dimension`; given a sequence of operands of one shape, all of
    them reordered by the lexicographic order of the first `num_keys`, as `jax.lax.sort`.
    The sort is always stable.

    >>> import xform as xf, numpy as np
    >>> keys, vals = xf.lax.sort((np.array([2, 1, 2]), np.array([0.0, 1.0, 2.0])))
    >>> vals.tolist()
    [1.0, 0.0, 2.0]
    """
    single = not isinstance(operand, (tuple, list))
    xs = [as_operand(x) for x in ([operand] if single else operand)]
    if not xs:
        raise TypeError("lax.sort needs at least one operand")
    dimension = _dimension(xs[0], dimension, "sort")
    check(sort_p, xs, dimension=dimension, num_keys=int(num_keys))
    outs = [result(o) for o in sort_p.bind(*xs, dimension=dimension, num_keys=int(num_keys))]
    return outs[0] if single else tuple(outs)


def sort_key_val(keys, values, dimension: int = -1, is_stable: bool = True):
    """`keys` sorted along `dimension`, and `values` reordered with them, as
    `jax.lax.sort_key_val`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.sort_key_val(np.array([3.0, 1.0]), np.array([0, 1]))[1].tolist()
    [1, 0]
    """
    return sort((keys, values), dimension, is_stable, 1)


def top_k(operand, k: int, *, axis: int = -1):
    """The `k` largest entries along `axis` in descending order and their int32 indices (the
    lower index first among equal values; NaN counts as the largest), as `jax.lax.top_k`.

    >>> import xform as xf, numpy as np
    >>> values, indices = xf.lax.top_k(np.array([1.0, 3.0, 2.0]), 2)
    >>> values.tolist(), indices.tolist()
    ([3.0, 2.0], [1, 2])
    """
    x = as_operand(operand)
    axis = _dimension(x, axis, "top_k")
    shape = get_aval(x).shape
    n = shape[axis]
    if not 0 <= k <= n:
        raise ValueError(f"lax.top_k: k={k} is not within 0..{n}, the size of axis {axis}")
    iota = iota_like(shape, axis, np.int32)
    # Ascending by value, then by descending index; read backwards, equal values keep the
    # lower index first.
    values, _, indices = sort_p.bind(x, ew.neg(iota), iota, dimension=axis, num_keys=2)
    lo, hi = [0] * len(shape), list(shape)
    lo[axis] = n - k
    return tuple(result(st.rev(st.slice_(v, lo, hi), (axis,))) for v in (values, indices))
