"""lax's reductions and scans: `reduce` with any computation, the named reductions,
cumulative sums, products, maxima and minima, and `associative_scan`.

`reduce` with lax.add, lax.mul, lax.max or lax.min (and their xform.numpy twins) is one
reduction primitive; any other computation is applied pairwise, halving the reduced axis at
each step, so that it stays traceable and differentiable (the computation must be associative
and commutative, as lax requires). `associative_scan` is a parallel prefix of the same kind:
the pairs of neighbours are combined, the half as long result is scanned recursively, and the
remaining prefixes are filled in, in about 2 log2(n) applications of the function.
"""
from __future__ import annotations

import numpy as np

from xform import tree
from xform.core import get_aval
from xform.lax_ops import elementwise as lx
from xform.lax_ops._strict import as_operand, bind, result
from xform.numpy import ufuncs
from xform.primitives import reductions as red
from xform.primitives import structural as st

__all__ = [
    "argmax", "argmin", "associative_scan", "cumlogsumexp", "cummax", "cummin", "cumprod",
    "cumsum", "reduce", "reduce_and", "reduce_max", "reduce_min", "reduce_or", "reduce_prod",
    "reduce_sum",
]


def _axes(axes, nd: int, name: str) -> tuple[int, ...]:
    out = tuple(sorted(int(a) % nd if nd else int(a) for a in axes))
    if len(set(out)) != len(out) or any(not 0 <= a < nd for a in out):
        raise TypeError(f"lax.{name}: axes {tuple(axes)} do not fit an operand of rank {nd}")
    return out


def _named(name: str, prim, kind: str):
    def fn(operand, axes):
        x = as_operand(operand)
        axes = _axes(axes, get_aval(x).ndim, name)
        if kind == "bool" and get_aval(x).dtype != np.bool_:
            raise TypeError(f"xform's lax.{name} supports boolean operands only, got "
                            f"{get_aval(x).dtype}")
        return bind(prim, x, axes=axes) if axes else result(x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"`jax.lax.{name}` over `axes` (a sequence of ints).\n\n"
                  f"    >>> import xform as xf, numpy as np\n"
                  f"    >>> xf.lax.{name}(np.ones((2, 3), bool), (1,)).shape\n    (2,)\n")
    return fn


reduce_sum = _named("reduce_sum", red.reduce_sum_p, "any")
reduce_prod = _named("reduce_prod", red.reduce_prod_p, "any")
reduce_max = _named("reduce_max", red.reduce_max_p, "any")
reduce_min = _named("reduce_min", red.reduce_min_p, "any")
reduce_and = _named("reduce_and", red.reduce_min_p, "bool")
reduce_or = _named("reduce_or", red.reduce_max_p, "bool")


def _arg(name: str, prim):
    def fn(operand, axis: int, index_dtype):
        x = as_operand(operand)
        nd = get_aval(x).ndim
        if not -nd <= axis < nd:
            raise TypeError(f"lax.{name}: axis {axis} does not fit an operand of rank {nd}")
        if get_aval(x).shape[axis] == 0:
            raise ValueError(f"lax.{name} of an empty axis")
        return bind(prim, x, axis=int(axis) % nd, index_dtype=np.dtype(index_dtype))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"The index of the {name[3:]}imum along `axis` as `index_dtype` (the first "
                  f"of equal ones), as `jax.lax.{name}`.\n\n"
                  f"    >>> import xform as xf, numpy as np\n"
                  f"    >>> int(xf.lax.{name}(np.array([1.0, 3.0, 0.0]), 0, np.int32)) in "
                  f"(1, 2)\n    True\n")
    return fn


argmax = _arg("argmax", red.argmax_p)
argmin = _arg("argmin", red.argmin_p)

# ----------------------------------------------------------------------------- reduce


# Computations `reduce` recognises, with their reduction primitive.
_MONOIDS = {lx.add: red.reduce_sum, lx.mul: red.reduce_prod, lx.max: red.reduce_max,
            lx.min: red.reduce_min, ufuncs.add: red.reduce_sum, ufuncs.multiply: red.reduce_prod,
            ufuncs.maximum: red.reduce_max, ufuncs.minimum: red.reduce_min}


def _combine(computation, treedef, a: list, b: list) -> list:
    out_leaves, out_tree = tree.flatten(computation(tree.unflatten(treedef, a),
                                                    tree.unflatten(treedef, b)))
    if out_tree != treedef:
        raise TypeError(f"lax.reduce's computation must return the structure of the "
                        f"operands, {treedef}, got {out_tree}")
    return [as_operand(o) for o in out_leaves]


def reduce(operands, init_values, computation, dimensions):
    """Reduce `operands` (an array or a pytree of arrays of one shape) over `dimensions` with
    `computation(x, y)`, starting from the scalars `init_values` (of the same structure), as
    `jax.lax.reduce`. The computation must be elementwise, associative and commutative.

    >>> import xform as xf, numpy as np
    >>> xf.lax.reduce(np.arange(6.0).reshape(2, 3), 0.0, xf.lax.add, (1,)).tolist()
    [3.0, 12.0]
    """
    xs, treedef = tree.flatten(operands)
    inits, init_tree = tree.flatten(init_values)
    if init_tree != treedef:
        raise TypeError(f"lax.reduce needs init_values of the operands' structure {treedef}, "
                        f"got {init_tree}")
    xs = [as_operand(x) for x in xs]
    # A Python scalar init takes its operand's dtype (weak typing).
    inits = [np.asarray(v, get_aval(x).dtype) if type(v) in (bool, int, float) else as_operand(v)
             for v, x in zip(inits, xs)]
    shape = get_aval(xs[0]).shape
    if any(get_aval(x).shape != shape for x in xs) or \
            any(get_aval(v).shape != () for v in inits):
        raise TypeError("lax.reduce needs operands of one shape and scalar init_values")
    dims = _axes(dimensions, len(shape), "reduce")
    kept = tuple(n for d, n in enumerate(shape) if d not in dims)
    n = int(np.prod([shape[d] for d in dims], dtype=np.int64))
    init_rows = [st.broadcast_in_dim(v, kept, ()) for v in inits]
    monoid = _MONOIDS.get(computation) if len(xs) == 1 else None
    if n == 0:
        outs = init_rows
    elif monoid is not None:
        outs = _combine(computation, treedef, [monoid(xs[0], dims)], init_rows)
    else:
        rows = [st.reshape(st.transpose(x, (*dims, *(d for d in range(len(shape))
                                                      if d not in dims))), (n, *kept))
                for x in xs]
        rows = _halve(computation, treedef, rows, n)
        outs = _combine(computation, treedef, [st.reshape(r, kept) for r in rows], init_rows)
    return tree.unflatten(treedef, [result(o) for o in outs])


def _leading(x, start: int, stop: int):
    """x[start:stop] along the leading axis."""
    shape = get_aval(x).shape
    return st.slice_(x, (start, *(0,) * (len(shape) - 1)), (stop, *shape[1:]))


def _halve(computation, treedef, rows: list, n: int) -> list:
    """Rows (n, ...) reduced to one row (1, ...) by combining halves."""
    while n > 1:
        h = n // 2
        combined = _combine(computation, treedef, [_leading(r, 0, h) for r in rows],
                            [_leading(r, h, 2 * h) for r in rows])
        if n % 2:
            combined = [st.concatenate([c, _leading(r, 2 * h, n)], 0)
                        for c, r in zip(combined, rows)]
        rows, n = combined, h + n % 2
    return rows

# ----------------------------------------------------------------------------- scans


def _along(x, axis: int, start: int, stop: int, step: int = 1):
    shape = get_aval(x).shape
    lo, hi, strides = [0] * len(shape), list(shape), [1] * len(shape)
    lo[axis], hi[axis], strides[axis] = start, stop, step
    return st.slice_(x, lo, hi, strides)


def _interleave(even, odd, axis: int):
    """Elements of `even` at the even positions along `axis` and of `odd` at the odd ones
    (`even` is as long as `odd` or one longer)."""
    m = get_aval(odd).shape[axis]
    pairs = [st.reshape(v, (*get_aval(v).shape[:axis + 1], 1, *get_aval(v).shape[axis + 1:]))
             for v in (_along(even, axis, 0, m), odd)]
    shape = get_aval(odd).shape
    merged = st.reshape(st.concatenate(pairs, axis + 1),
                        (*shape[:axis], 2 * m, *shape[axis + 1:]))
    if get_aval(even).shape[axis] > m:
        merged = st.concatenate([merged, _along(even, axis, m, m + 1)], axis)
    return merged


def _prefix(combine, xs: list, axis: int) -> list:
    n = get_aval(xs[0]).shape[axis]
    if n < 2:
        return xs
    # Prefixes at the odd positions: the scan of the pairs (x0+x1, x2+x3, ...).
    odd = _prefix(combine, combine([_along(x, axis, 0, n - 1, 2) for x in xs],
                                   [_along(x, axis, 1, n, 2) for x in xs]), axis)
    # At the even positions 2, 4, ...: the previous odd prefix plus the element.
    m = (n - 1) // 2
    firsts = [_along(x, axis, 0, 1) for x in xs]
    if m:
        rest = combine([_along(o, axis, 0, m) for o in odd], [_along(x, axis, 2, n, 2)
                                                                for x in xs])
        evens = [st.concatenate([f, r], axis) for f, r in zip(firsts, rest)]
    else:
        evens = firsts
    return [_interleave(e, o, axis) for e, o in zip(evens, odd)]


def associative_scan(fn, elems, reverse: bool = False, axis: int = 0):
    """All prefix combinations fn(...fn(fn(x0, x1), x2)..., xi) along `axis` of `elems` (an
    array or pytree of arrays of one length there), for an associative `fn` that works on
    whole slices, in O(log n) parallel steps, as `jax.lax.associative_scan`.

    >>> import xform as xf, numpy as np
    >>> xf.lax.associative_scan(xf.lax.add, np.arange(1.0, 6.0)).tolist()
    [1.0, 3.0, 6.0, 10.0, 15.0]
    """
    xs, treedef = tree.flatten(elems)
    if not xs:
        return elems
    xs = [as_operand(x) for x in xs]
    nd = get_aval(xs[0]).ndim
    if not -nd <= axis < nd:
        raise TypeError(f"associative_scan: axis {axis} does not fit elements of rank {nd}")
    axis %= nd
    if len({get_aval(x).shape[axis] for x in xs}) != 1:
        raise TypeError(f"associative_scan needs elements of one length along axis {axis}, "
                        "got shapes " + ", ".join(str(get_aval(x).shape) for x in xs))
    if reverse:
        xs = [st.rev(x, (axis,)) for x in xs]

    def combine(a, b):
        return _combine(fn, treedef, a, b)
    out = _prefix(combine, xs, axis)
    if reverse:
        out = [st.rev(x, (axis,)) for x in out]
    return tree.unflatten(treedef, [result(x) for x in out])


def _cumulative(name: str, scan_fn):
    def fn(operand, axis: int = 0, reverse: bool = False):
        x = as_operand(operand)
        nd = get_aval(x).ndim
        if not -nd <= axis < nd:
            raise TypeError(f"lax.{name}: axis {axis} does not fit an operand of rank {nd}")
        return result(scan_fn(x, int(axis) % nd, bool(reverse)))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"The running {name[3:]} along `axis` (from the end when `reverse`), as "
                  f"`jax.lax.{name}`.\n\n    >>> import xform as xf, numpy as np\n"
                  f"    >>> xf.lax.{name}(np.array([1.0, 3.0, 2.0])).shape\n    (3,)\n")
    return fn


def _by_scan(combine):
    def scan(x, axis, reverse):
        return associative_scan(combine, x, reverse, axis)
    return scan


cumsum = _cumulative("cumsum", red.cumsum)
cumprod = _cumulative("cumprod", red.cumprod)
cummax = _cumulative("cummax", _by_scan(lx.max))
cummin = _cumulative("cummin", _by_scan(lx.min))
cumlogsumexp = _cumulative("cumlogsumexp", _by_scan(ufuncs.logaddexp))
