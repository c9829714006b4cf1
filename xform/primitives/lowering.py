"""The vocabulary of Numba lowering rules, kept free of Numba so that `import xform` stays light.

A primitive's `numba` rule is one of:
- `Scalar(template)`: a fusible elementwise operation; the template turns operand scalar
  expressions into the result's scalar expression (the code generator puts it in a loop);
- `Reduction(kind)`: a reducer the code generator folds into the loop producing its operand;
- `Indexed(expr, whole)`: a read of a materialised operand at an index computed from the
  consuming loop's indices (pad), where it applies;
- `INLINE`: a higher-order primitive whose `ir` param is inlined into the enclosing program;
- a function `rule(em, ins, outs, **params)` emitting whole-array statements through the
  emitter `em` (see `xform.backends.numba.Emitter`), for everything else.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


class Scalar:
    """A fusible elementwise lowering: `template.format(*operand_exprs, t=dtype_constructor,
    **params)`, or a function with that signature returning the expression. `{t}` types
    constants (`{t}(1)`) so that float32 code stays float32.

    A fast template valid only on part of the domain comes with `guard`, an expression true
    where it is valid, and `exact`, the expression for everywhere; a loop that meets an
    argument outside the guard is run again with `exact`."""

    def __init__(self, template: str | Callable[..., str], keeps_float: bool = False,
                 exact: str | None = None, guard: str | None = None):
        self.expr = _formatter(template)
        # True when float operands of one dtype give a result of that dtype in Numba, so the
        # generated code needs no cast (fewer calls for Numba to type and lower).
        self.keeps_float = keeps_float
        self.exact = _formatter(exact) if exact else None
        self.guard = _formatter(guard) if guard else None


def _formatter(template):
    return template.format if isinstance(template, str) else template


class Reduction:
    """A reducer over some axes, accumulated inside the loop that computes its operand."""

    def __init__(self, kind: str):
        self.kind = kind  # "sum", "max", "min" or "prod"


class Indexed:
    """A lowering fused into the loop over its result as a read at a computed index:
    `expr(ops, avals, index, **params)` is the scalar expression of the result's element at
    the loop indices `index` (names), given the operands' expressions `ops` (array names, or
    scalar expressions of 0-d operands) and avals; it returns None where it does not apply,
    and the equation is emitted by the whole-array rule `whole` instead."""

    def __init__(self, expr: Callable[..., str | None], whole: Callable):
        self.expr, self.whole = expr, whole


INLINE = "inline"
BROADCAST = "broadcast"  # broadcast_in_dim: becomes an index mapping inside the consuming loop


def dtype_expr(dtype) -> str:
    """The Numba-compatible constructor of a dtype: `np.float32`, `np.bool_`, ..."""
    dtype = np.dtype(dtype)
    return "np.bool_" if dtype == np.bool_ else f"np.{dtype.name}"


def scalar_literal(value, dtype) -> str:
    """A typed scalar constant expression (`np.float32(0.5)`), so float32 code stays float32."""
    dtype = np.dtype(dtype)
    value = np.asarray(value, dtype).item()
    if dtype == np.bool_:
        return repr(bool(value))
    if isinstance(value, float) and not np.isfinite(value):
        value = "np.nan" if np.isnan(value) else ("np.inf" if value > 0 else "-np.inf")
    else:
        value = repr(value)
    return f"{dtype_expr(dtype)}({value})"


def permuted(name: str, perm) -> str:
    """The expression of array `name` (a variable, read more than once) with its axes in the
    order `perm`, as `np.transpose` would give it: a strided view.

    Numba compiles `x.transpose(perm)` anew at every call site, which took seconds each; a
    view built with `as_strided` from the permuted shape and strides compiles in a fraction
    of that. An identity permutation is the array itself, a 2-D swap `.T`."""
    perm = tuple(int(d) for d in perm)
    if perm == tuple(range(len(perm))):
        return name
    if perm == (1, 0):
        return f"{name}.T"
    shape = "".join(f"{name}.shape[{d}], " for d in perm)
    strides = "".join(f"{name}.strides[{d}], " for d in perm)
    return f"np.lib.stride_tricks.as_strided({name}, ({shape}), ({strides}))"


def to_rows(em, x, axis: int) -> tuple[str, tuple, tuple]:
    """Emit `x` with `axis` moved last, as a contiguous 2-D array of rows.

    Returns (name of the rows array, the permuted shape, the permutation)."""
    shape = x.aval.shape
    perm = tuple(d for d in range(len(shape)) if d != axis) + (axis,)
    moved = tuple(shape[d] for d in perm)
    rows = em.fresh("rows")
    n = shape[axis]
    m = int(np.prod(moved[:-1], dtype=np.int64))
    em.line(f"{rows} = np.ascontiguousarray({permuted(x.expr, perm)}).reshape(({m}, {n}))")
    return rows, moved, perm


def from_flat(em, out, flat: str):
    """Assign the flat (1-D) result `flat` to `out`, reshaped to its aval (a scalar if 0-d)."""
    if out.aval.shape == ():
        em.line(f"{out.expr} = {flat}[0]")
    else:
        em.line(f"{out.expr} = {flat}.reshape({out.aval.shape!r})")
