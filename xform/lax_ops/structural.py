"""lax's shape operations and constants: broadcast, reshape, transpose, pad, slice,
concatenate, conversion, iota and full arrays, contractions.

Each is one structural primitive with explicit static arguments (no numpy-style inference):
`pad` takes lax's (low, high, interior) triples, whose negative low and high crop.
"""
from __future__ import annotations

import builtins

import numpy as np

from xform.core import Tracer, get_aval
from xform.lax_ops._strict import as_operand, bind, check, result, strict
from xform.primitives import elementwise as ew
from xform.primitives import linalg as lp
from xform.primitives import structural as st

__all__ = [
    "batch_matmul", "broadcast", "broadcast_in_dim", "broadcasted_iota", "collapse",
    "concatenate", "convert_element_type", "dot", "dot_general", "expand_dims", "full",
    "full_like", "index_in_dim", "iota", "pad", "reshape", "rev", "slice", "slice_in_dim",
    "squeeze", "transpose",
]


def _ints(xs, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in xs)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of Python ints, got {xs!r}") from None


def _ndim(x) -> int:
    return get_aval(x).ndim


def broadcast_in_dim(operand, shape, broadcast_dimensions):
    """`operand` broadcast to `shape`, its dimension i landing on `broadcast_dimensions[i]`
    (which must be increasing), as `jax.lax.broadcast_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.broadcast_in_dim(np.arange(3.0), (2, 3), (1,)).shape
    (2, 3)
    """
    x = as_operand(operand)
    shape, dims = _ints(shape, "shape"), _ints(broadcast_dimensions, "broadcast_dimensions")
    if list(dims) != sorted(set(dims)):
        raise TypeError(f"lax.broadcast_in_dim needs increasing broadcast_dimensions, got "
                        f"{dims}")
    if _ndim(x) == len(shape) and dims == tuple(range(len(shape))) and \
            get_aval(x).shape == shape:
        return result(x)
    return bind(st.broadcast_in_dim_p, x, shape=shape, broadcast_dimensions=dims)


def broadcast(operand, sizes):
    """`operand` with new leading dimensions of the given `sizes`, as `jax.lax.broadcast`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.broadcast(np.arange(3.0), (2,)).shape
    (2, 3)
    """
    x = as_operand(operand)
    sizes = _ints(sizes, "sizes")
    nd = _ndim(x)
    return broadcast_in_dim(x, (*sizes, *get_aval(x).shape),
                            tuple(range(len(sizes), len(sizes) + nd)))


def reshape(operand, new_sizes, dimensions=None):
    """`operand` with the shape `new_sizes` (no -1), its axes first permuted by `dimensions`
    if given, as `jax.lax.reshape`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.reshape(np.arange(6.0), (2, 3)).shape
    (2, 3)
    """
    x = as_operand(operand)
    if dimensions is not None:
        x = transpose(x, dimensions)
    new_sizes = _ints(new_sizes, "new_sizes")
    if any(n < 0 for n in new_sizes):
        raise TypeError(f"lax.reshape needs non-negative sizes (no -1), got {new_sizes}")
    if get_aval(x).shape == new_sizes:
        return result(x)
    return bind(st.reshape_p, x, new_shape=new_sizes)


def transpose(operand, permutation):
    """`operand` with its axes permuted, as `jax.lax.transpose`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.transpose(np.ones((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    """
    x = as_operand(operand)
    perm = _ints(permutation, "permutation")
    if perm == tuple(range(_ndim(x))):
        return result(x)
    return bind(st.transpose_p, x, permutation=perm)


def rev(operand, dimensions):
    """`operand` reversed along `dimensions`, as `jax.lax.rev`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.rev(np.arange(3), (0,)).tolist()
    [2, 1, 0]
    """
    x = as_operand(operand)
    dims = tuple(sorted(_ints(dimensions, "dimensions")))
    if not dims:
        return result(x)
    return bind(st.rev_p, x, dimensions=dims)


def squeeze(array, dimensions):
    """`array` without the size-1 `dimensions`, as `jax.lax.squeeze`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.squeeze(np.ones((1, 3, 1)), (0, 2)).shape
    (3,)
    """
    x = as_operand(array)
    shape = get_aval(x).shape
    dims = {d % len(shape) if shape else d for d in _ints(dimensions, "dimensions")}
    if any(not 0 <= d < len(shape) or shape[d] != 1 for d in dims):
        raise TypeError(f"lax.squeeze: dimensions {tuple(dimensions)} are not all of size 1 "
                        f"in shape {shape}")
    return reshape(x, tuple(n for d, n in enumerate(shape) if d not in dims))


def expand_dims(array, dimensions):
    """`array` with size-1 dimensions inserted at `dimensions` (positions in the result), as
    `jax.lax.expand_dims`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.expand_dims(np.ones(3), (0, 2)).shape
    (1, 3, 1)
    """
    x = as_operand(array)
    shape = list(get_aval(x).shape)
    nd = len(shape) + len(tuple(dimensions))
    for d in sorted(v % nd for v in _ints(dimensions, "dimensions")):
        shape.insert(d, 1)
    return reshape(x, shape)


def collapse(operand, start_dimension: int, stop_dimension: int | None = None):
    """`operand` with dimensions [start, stop) merged into one, as `jax.lax.collapse`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.collapse(np.ones((2, 3, 4)), 1).shape
    (2, 12)
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    stop = len(shape) if stop_dimension is None else stop_dimension
    size = int(np.prod(shape[start_dimension:stop], dtype=np.int64))
    return reshape(x, (*shape[:start_dimension], size, *shape[stop:]))


def pad(operand, padding_value, padding_config):
    """`operand` padded with the scalar `padding_value`: per dimension a (low, high,
    interior) triple; negative low or high crop, interior puts elements between neighbours,
    as `jax.lax.pad`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.pad(np.arange(1.0, 4.0), 0.0, [(-1, 2, 1)]).tolist()
    [0.0, 2.0, 0.0, 3.0, 0.0, 0.0]
    """
    x, value = strict("pad", operand, padding_value)
    config = [_ints(c, "padding_config entry") for c in padding_config]
    if len(config) != _ndim(x) or any(len(c) != 3 for c in config):
        raise TypeError(f"lax.pad needs one (low, high, interior) triple per dimension of "
                        f"{get_aval(x)}, got {padding_config!r}")
    lo, hi, interior = (tuple(c[k] for c in config) for k in range(3))
    return bind(st.pad_p, x, value, lo=lo, hi=hi, interior=interior)


def slice(operand, start_indices, limit_indices, strides=None):  # noqa: A001  (lax's name)
    """operand[start:limit:strides] with static bounds, as `jax.lax.slice`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.slice(np.arange(10), (1,), (8,), (3,)).tolist()
    [1, 4, 7]
    """
    x = as_operand(operand)
    nd = _ndim(x)
    start, limit = _ints(start_indices, "start_indices"), _ints(limit_indices, "limit_indices")
    strides = (1,) * nd if strides is None else _ints(strides, "strides")
    return bind(st.slice_p, x, start=start, limit=limit, strides=strides)


def slice_in_dim(operand, start_index, limit_index, stride: int = 1, axis: int = 0):
    """operand[start:limit:stride] along `axis` (Python slice bounds: None and negative
    values allowed), as `jax.lax.slice_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.slice_in_dim(np.arange(10), -3, None).tolist()
    [7, 8, 9]
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    axis = axis % len(shape)
    a, b, _ = builtins.slice(start_index, limit_index).indices(shape[axis])
    start = [0] * len(shape)
    limit = list(shape)
    strides = [1] * len(shape)
    start[axis], limit[axis], strides[axis] = a, max(a, b), stride
    return slice(x, start, limit, strides)


def index_in_dim(operand, index: int, axis: int = 0, keepdims: bool = True):
    """The `index`-th slice along `axis` (negative counts from the end), as
    `jax.lax.index_in_dim`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.index_in_dim(np.arange(6).reshape(2, 3), -1, 1, False).tolist()
    [2, 5]
    """
    x = as_operand(operand)
    shape = get_aval(x).shape
    axis = axis % len(shape)
    n = shape[axis]
    if not -n <= index < n:
        raise IndexError(f"lax.index_in_dim: index {index} is out of bounds for axis {axis} "
                         f"of size {n}")
    index %= n
    out = slice_in_dim(x, index, index + 1, 1, axis)
    return out if keepdims else reshape(out, shape[:axis] + shape[axis + 1:])


def concatenate(operands, dimension: int):
    """The operands (one dtype, equal but for `dimension`) joined along `dimension`, as
    `jax.lax.concatenate`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.concatenate([np.ones(2), np.zeros(1)], 0).tolist()
    [1.0, 1.0, 0.0]
    """
    xs = [as_operand(x) for x in operands]
    if not xs:
        raise TypeError("lax.concatenate needs at least one operand")
    if len(xs) == 1:
        return result(xs[0])
    return bind(st.concatenate_p, *xs, dimension=int(dimension))


def convert_element_type(operand, new_dtype):
    """`operand` converted to `new_dtype` (floats to integers truncate), as
    `jax.lax.convert_element_type`.

    >>> import xform as xf
    >>> int(xf.lax.convert_element_type(-1.7, int))
    -1
    """
    x = as_operand(operand)
    if type(x) in (bool, int, float):
        x = np.asarray(x)
    return result(ew.convert(x, np.dtype(new_dtype)))


def iota(dtype, size: int):
    """0, 1, ..., size - 1 as a 1-D array of `dtype`, as `jax.lax.iota`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.iota(np.float32, 3).tolist()
    [0.0, 1.0, 2.0]
    """
    return result(np.arange(int(size), dtype=np.dtype(dtype)))


def broadcasted_iota(dtype, shape, dimension: int):
    """The positions along `dimension`, broadcast to `shape`, as `jax.lax.broadcasted_iota`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.broadcasted_iota(np.int32, (2, 3), 1).tolist()
    [[0, 1, 2], [0, 1, 2]]
    """
    shape = _ints(shape, "shape")
    n = shape[dimension]
    along = np.arange(n, dtype=np.dtype(dtype)).reshape(
        [n if d == dimension % len(shape) else 1 for d in range(len(shape))])
    return result(np.broadcast_to(along, shape).copy())


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with the scalar `fill_value` (which may be traced), as
    `jax.lax.full`.

    >>> import xform as xf
    >>> xf.lax.full((2,), 7.0).tolist()
    [7.0, 7.0]
    """
    shape = _ints((shape,) if isinstance(shape, (int, np.integer)) else shape, "shape")
    value = as_operand(fill_value)
    if get_aval(value).shape != ():
        raise TypeError(f"lax.full needs a scalar fill_value, got shape {get_aval(value).shape}")
    dt = np.dtype(dtype) if dtype is not None else get_aval(value).dtype
    if not isinstance(value, Tracer):
        return result(np.full(shape, value, dt))
    return broadcast_in_dim(ew.convert(value, dt), shape, ())


def full_like(x, fill_value, dtype=None, shape=None):
    """`fill_value` in the shape and dtype of `x` (or the given ones), as `jax.lax.full_like`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.full_like(np.zeros(2, np.float32), 3).dtype
    dtype('float32')
    """
    aval = get_aval(as_operand(x))
    return full(aval.shape if shape is None else shape, fill_value,
                aval.dtype if dtype is None else dtype)


def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """The contraction ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)) of two
    operands of one dtype: batch dims first, then lhs's free dims, then rhs's, as
    `jax.lax.dot_general`; `precision` is accepted and ignored (the CPU computes exactly
    in the dtype), `preferred_element_type` converts the operands first.

    >>> import xform as xf, numpy as np
    >>> xf.lax.dot_general(np.ones((2, 3)), np.ones((3, 4)), (((1,), (0,)), ((), ()))).shape
    (2, 4)
    """
    x, y = as_operand(lhs), as_operand(rhs)
    if preferred_element_type is not None:
        x = ew.convert(x, np.dtype(preferred_element_type))
        y = ew.convert(y, np.dtype(preferred_element_type))
    (lc, rc), (lb, rb) = dimension_numbers
    dims = ((_ints(lc, "contracting dims"), _ints(rc, "contracting dims")),
            (_ints(lb, "batch dims"), _ints(rb, "batch dims")))
    check(lp.dot_general_p, [x, y], dimension_numbers=dims)
    return result(lp.dot_general(x, y, dims[0], dims[1]))


def dot(lhs, rhs, precision=None, preferred_element_type=None):
    """Vector·vector, matrix·vector or matrix·matrix product, as `jax.lax.dot`.

    >>> import xform as xf, numpy as np
    >>> float(xf.lax.dot(np.ones(3), np.ones(3)))
    3.0
    """
    x, y = as_operand(lhs), as_operand(rhs)
    if not (1 <= _ndim(x) <= 2 and 1 <= _ndim(y) <= 2):
        raise TypeError(f"lax.dot needs 1-D or 2-D operands, got {get_aval(x)} and "
                        f"{get_aval(y)}; use lax.dot_general for others")
    return dot_general(x, y, (((_ndim(x) - 1,), (0,)), ((), ())), precision,
                       preferred_element_type)


def batch_matmul(lhs, rhs, precision=None):
    """Matrix products over matching leading batch dimensions, as `jax.lax.batch_matmul`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.batch_matmul(np.ones((5, 2, 3)), np.ones((5, 3, 4))).shape
    (5, 2, 4)
    """
    x, y = as_operand(lhs), as_operand(rhs)
    nd = _ndim(x)
    if nd < 2 or nd != _ndim(y):
        raise TypeError(f"lax.batch_matmul needs operands of one rank, at least 2, got "
                        f"{get_aval(x)} and {get_aval(y)}")
    batch = tuple(range(nd - 2))
    return dot_general(x, y, (((nd - 1,), (nd - 2,)), (batch, batch)), precision)
