"""Jacobian sparsity detection: an interpretation of the IR that propagates dependency sets.

Each value of the IR is either *known* (a numpy array computed from literals alone, so index
arithmetic stays exact) or *dependent*: a boolean `scipy.sparse` CSR matrix with one row per
element of the value and one column per input element, true where the element's derivative
may depend on that input. A rule maps operand patterns to output patterns with sparse row
selections and products, so a stencil program over 10⁵ inputs costs milliseconds:

- elementwise primitives take the union of their operands' rows (after broadcasting); a
  product with a known zero, and a select on a known predicate, are exact;
- structural primitives (reshape, transpose, slice, rev, pad, broadcast, concatenate, gather
  at known indices) select rows: the primitive's own impl, run on element numbers, says which
  input element each output element is;
- reductions, cumulative sums and products, sorting (conservatively: all along the axis),
  scatters, windowed reductions, convolutions (without feature or batch groups) and
  `dot_general` (both using the zeros of a known operand) sum rows;
- primitives with a zero derivative (comparisons, rounding, `stop_gradient`, integer outputs)
  give empty rows;
- control flow: the branch taken when its index is known, else the union over branches; a
  fixed point over `while` trips; `scan` unrolled when short, else a fixed point; jitted,
  checkpointed and custom-rule functions are looked into (custom rules as value dependence);
- anything else is conservative: each output element depends on everything any operand does.

The pattern holds for every input value (it never looks at the inputs' values), so it can be
computed once per signature and reused.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from xform.core import IR, Literal, at_root, has_effect, is_float_dtype, registry
from xform.primitives import elementwise, special
from xform.primitives.conv import (
    _conv_sizes,
    _conv_tables,
    _gather_windows,
    _out_layout,
    _window_geometry,
    _windowed_axes,
    source_table,
)
from xform.transforms.derive import vmap_ir

# The longest scan unrolled exactly; longer ones take a conservative fixed point.
UNROLL_SCAN = 64
# Fixed-point rounds of a loop before falling back to "everything it could depend on".
MAX_ROUNDS = 64
# The most entries an exact dot_general rule may build before it over-approximates.
MAX_ENTRIES = 5 * 10 ** 7


class _Context:
    """The number of input elements, and whether to track value dependence (inside custom
    rules, whose derivative may depend on what the primal's derivative does not)."""

    def __init__(self, n: int, values: bool = False):
        self.n, self.values = n, values

    def empty(self, rows: int) -> sp.csr_matrix:
        return sp.csr_matrix((rows, self.n), dtype=bool)


def _is_dep(v) -> bool:
    return isinstance(v, sp.csr_matrix)


def _pat(ctx, v, aval):
    """The pattern of a value: known values depend on nothing."""
    return v if _is_dep(v) else ctx.empty(aval.size)


def _select_rows(p: sp.csr_matrix, idx) -> sp.csr_matrix:
    """Rows `idx` of `p`; a negative index gives an empty row."""
    idx = np.asarray(idx, np.int64).ravel()
    if (idx < 0).any():
        p = sp.vstack([p, sp.csr_matrix((1, p.shape[1]), dtype=bool)], format="csr")
        idx = np.where(idx < 0, p.shape[0] - 1, idx)
    return p[idx]


def _sum_rows(p: sp.csr_matrix, target, rows: int) -> sp.csr_matrix:
    """Row k of the result: the union of the rows i of `p` with target[i] == k (< 0: none)."""
    target = np.asarray(target, np.int64).ravel()
    keep = target >= 0
    cols = np.arange(target.size)[keep]
    r = sp.csr_matrix((np.ones(cols.size, bool), (target[keep], cols)),
                      shape=(rows, p.shape[0]))
    return (r @ p).tocsr()


def _union(ps: list) -> sp.csr_matrix:
    out = ps[0]
    for p in ps[1:]:
        out = out + p
    return out.tocsr()


def _mask_rows(p: sp.csr_matrix, keep) -> sp.csr_matrix:
    keep = np.asarray(keep, bool).ravel()
    return (sp.diags(keep.astype(bool), format="csr", dtype=bool) @ p).tocsr()


def _everything(ctx, ins, in_avals, out_avals) -> list:
    """The conservative rule: every output element depends on every operand's whole set."""
    deps = [v for v in ins if _is_dep(v)]
    row = sp.csr_matrix(_union(deps).sum(axis=0) > 0) if deps else ctx.empty(1)
    return [_select_rows(row, np.zeros(a.size, np.int64)) for a in out_avals]


# ----------------------------------------------------------------------------- elementwise

def _broadcast_index(shape, out_shape):
    """The element of an operand of `shape` (0-d or equal to `out_shape`) each output reads."""
    return np.zeros(math.prod(out_shape), np.int64) if shape == () else \
        np.arange(math.prod(out_shape))


def _elementwise(ctx, ins, in_avals, out_avals, **_):
    (out,) = out_avals
    return [_union([_select_rows(_pat(ctx, v, a), _broadcast_index(a.shape, out.shape))
                    for v, a in zip(ins, in_avals)])]


def _zero(ctx, ins, in_avals, out_avals, **params):
    return [ctx.empty(a.size) for a in out_avals]


def _known_full(v, aval, shape):
    return np.broadcast_to(np.asarray(v), shape) if aval.shape == () else np.asarray(v)


def _mul(ctx, ins, in_avals, out_avals, **_):
    """A product is exact where the other factor is a known zero."""
    (out,) = out_avals
    parts = []
    for k, (v, a) in enumerate(zip(ins, in_avals)):
        if not _is_dep(v):
            continue
        p = _select_rows(v, _broadcast_index(a.shape, out.shape))
        other, oa = ins[1 - k], in_avals[1 - k]
        if not _is_dep(other):
            p = _mask_rows(p, _known_full(other, oa, out.shape) != 0)
        parts.append(p)
    return [_union(parts)]


def _select(ctx, ins, in_avals, out_avals, **_):
    """select(pred, on_true, on_false): exact when the predicate is known."""
    (pred, *cases), (pa, *cas) = ins, in_avals
    (out,) = out_avals
    rows = [_select_rows(_pat(ctx, v, a), _broadcast_index(a.shape, out.shape))
            for v, a in zip(cases, cas)]
    if _is_dep(pred) and ctx.values:
        rows.append(_select_rows(pred, _broadcast_index(pa.shape, out.shape)))
    if _is_dep(pred) or ctx.values:
        return [_union(rows)]
    which = _known_full(pred, pa, out.shape).ravel().astype(bool)
    return [_union([_mask_rows(rows[0], which), _mask_rows(rows[1], ~which)])]


# ----------------------------------------------------------------------------- structural

def _moves(data: tuple) -> Callable:
    """A primitive that moves elements: run its impl on element numbers (operands at `data`
    numbered consecutively, the others as they are) and select those rows."""
    def rule(ctx, ins, in_avals, out_avals, prim=None, **params):
        if any(_is_dep(ins[i]) for i in range(len(ins)) if i not in data):
            return (_conservative if ctx.values else _along_unknown)(
                ctx, ins, in_avals, out_avals, prim=prim, **params)
        numbered, offset, pats = list(ins), 0, []
        for i in data:
            a = in_avals[i]
            numbered[i] = (offset + np.arange(a.size, dtype=np.int64)).reshape(a.shape)
            offset += a.size
            pats.append(_pat(ctx, ins[i], a))
        (idx,) = prim.impl(*numbered, **params)
        return [_select_rows(sp.vstack(pats, format="csr"), idx)]
    return rule


def _conservative(ctx, ins, in_avals, out_avals, **_):
    return _everything(ctx, ins, in_avals, out_avals)


def _along_unknown(ctx, ins, in_avals, out_avals, prim=None, **_):
    """gather at unknown indices: an output element may read any element of the operand
    with the same trailing (unindexed) coordinates."""
    (x, _), (xa, ia) = ins, in_avals
    k = ia.shape[-1]
    trailing = math.prod(xa.shape[k:])
    lines = _sum_rows(_pat(ctx, x, xa), np.arange(xa.size) % trailing, trailing)
    return [_select_rows(lines, np.arange(out_avals[0].size) % trailing)]


def _positions(xa, idx):
    """The element of an operand of aval `xa` each element of a scatter's updates lands on."""
    numbered = np.arange(xa.size, dtype=np.int64).reshape(xa.shape)
    return registry["gather"].impl(numbered, idx)[0].ravel()


def _scatter(replace: bool) -> Callable:
    def rule(ctx, ins, in_avals, out_avals, **_):
        (x, idx, u), (xa, _, ua) = ins, in_avals
        px, pu = _pat(ctx, x, xa), _pat(ctx, u, ua)
        if _is_dep(idx):
            return _everything(ctx, [px, pu] + ([idx] if ctx.values else []), in_avals,
                               out_avals)
        pos = _positions(xa, idx)
        if replace:
            kept = np.ones(xa.size, bool)
            kept[pos] = False
            px = _mask_rows(px, kept)
        return [_union([px, _sum_rows(pu, pos, xa.size)])]
    return rule


# ----------------------------------------------------------------------------- reductions

def _reduce(ctx, ins, in_avals, out_avals, axes, **_):
    (x,), (xa,), (oa,) = ins, in_avals, out_avals
    kept = [d for d in range(xa.ndim) if d not in axes]
    numbered = np.arange(oa.size, dtype=np.int64).reshape([xa.shape[d] for d in kept])
    target = np.broadcast_to(np.expand_dims(numbered, tuple(axes)), xa.shape)
    return [_sum_rows(x, target, oa.size)]


def _lines(shape, axis):
    """Element numbers of an array of `shape` as (lines, length) along `axis`."""
    numbered = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    return np.moveaxis(numbered, axis, -1).reshape(-1, shape[axis])


def _cumulative(ctx, ins, in_avals, out_avals, axis, reverse, **_):
    (x,), (xa,) = ins, in_avals
    lines = _lines(xa.shape, axis)
    later, earlier = np.tril_indices(lines.shape[1])
    if reverse:
        later, earlier = earlier, later
    rows, cols = lines[:, later].ravel(), lines[:, earlier].ravel()
    r = sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(xa.size, xa.size))
    return [(r @ x).tocsr()]


def _along_axis(ctx, ins, in_avals, out_avals, dimension, **_):
    """sort: each output element may be any element of its line, of any operand."""
    shape = in_avals[0].shape
    lines = _lines(shape, dimension)
    line_of = np.empty(lines.size, np.int64)
    line_of[lines.ravel()] = np.repeat(np.arange(lines.shape[0]), lines.shape[1])
    p = _union([_pat(ctx, v, a) for v, a in zip(ins, in_avals)])
    per_line = _sum_rows(p, line_of, lines.shape[0])
    out = _select_rows(per_line, line_of)
    return [out if is_float_dtype(a.dtype) or ctx.values else ctx.empty(a.size)
            for a in out_avals]


def _arg_reduce(ctx, ins, in_avals, out_avals, axis, **params):
    return _reduce(ctx, ins, in_avals, out_avals, (axis,)) if ctx.values else \
        _zero(ctx, ins, in_avals, out_avals)


# ----------------------------------------------------------------------------- dot_general

def _grouped(aval, batch, contract):
    """Element numbers of an operand as (batch, free, contracted) blocks."""
    free = [d for d in range(aval.ndim) if d not in batch and d not in contract]
    numbered = np.arange(aval.size, dtype=np.int64).reshape(aval.shape)
    size = [math.prod(aval.shape[d] for d in ds) for ds in (batch, free, contract)]
    return np.transpose(numbered, [*batch, *free, *contract]).reshape(size)


def _dot_side(ctx, p, mine, other, other_known, first: bool):
    """The part of dot_general's pattern coming through one operand (`first`: the lhs).
    `mine`, `other`: element numbers as (batch, free, contracted); `other_known`: the other
    operand's value (its zeros contribute nothing) or None."""
    b, f, k = mine.shape
    g = other.shape[1]

    def out_index(bi, fi, gi):
        return (bi * f + fi) * g + gi if first else (bi * g + gi) * f + fi
    if other_known is None or f * np.count_nonzero(other_known) > MAX_ENTRIES:
        per_free = _sum_rows(p, np.repeat(np.arange(b * f), k)[np.argsort(mine.ravel())],
                             b * f)
        bi, fi, gi = np.meshgrid(np.arange(b), np.arange(f), np.arange(g), indexing="ij")
        out = np.empty(b * f * g, np.int64)
        out[out_index(bi, fi, gi).ravel()] = (bi * f + fi).ravel()
        return _select_rows(per_free, out)
    vals = np.asarray(other_known).ravel()[other]
    bi, gi, ki = np.nonzero(vals)
    fi = np.arange(f)
    rows = out_index(bi[:, None], fi[None, :], gi[:, None]).ravel()
    cols = mine[bi[:, None], fi[None, :], ki[:, None]].ravel()
    s = sp.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(b * f * g, p.shape[0]))
    return (s @ p).tocsr()


def _dot_general(ctx, ins, in_avals, out_avals, dimension_numbers, **_):
    (lc, rc), (lb, rb) = dimension_numbers
    (x, y), (xa, ya) = ins, in_avals
    gx, gy = _grouped(xa, lb, lc), _grouped(ya, rb, rc)
    parts = []
    if _is_dep(x):
        parts.append(_dot_side(ctx, x, gx, gy, None if _is_dep(y) else y, True))
    if _is_dep(y):
        parts.append(_dot_side(ctx, y, gy, gx, None if _is_dep(x) else x, False))
    return [_union(parts)]


# ----------------------------------------------------------------------------- windows

def _window_axis(p: sp.csr_matrix, shape, axis, table) -> tuple[sp.csr_matrix, tuple]:
    """Windows along one axis: output (…, y, …) is the union of the input elements (…,
    table[y, j], …) (-1: padding, nothing). Returns the new pattern and shape."""
    m = table.shape[0]
    numbered = np.moveaxis(np.arange(math.prod(shape), dtype=np.int64).reshape(shape), axis, -1)
    numbered = np.concatenate([numbered, np.full((*numbered.shape[:-1], 1), -1)], -1)
    sources = numbered[..., table]                                  # (..., m, k)
    out_shape = (*shape[:axis], m, *shape[axis + 1:])
    rows = np.moveaxis(np.arange(math.prod(out_shape), dtype=np.int64).reshape(out_shape),
                       axis, -1)
    rows = np.broadcast_to(rows[..., None], sources.shape).ravel()
    sources = sources.ravel()
    keep = sources >= 0
    s = sp.csr_matrix((np.ones(keep.sum(), bool), (rows[keep], sources[keep])),
                      shape=(math.prod(out_shape), math.prod(shape)))
    return (s @ p).tocsr(), out_shape


def _reduce_window(ctx, ins, in_avals, out_avals, **params):
    (p,), (xa,) = ins, in_avals
    shape = xa.shape
    for axis in _windowed_axes(params):
        p, shape = _window_axis(p, shape, axis, source_table(shape[axis],
                                                             *_window_geometry(params, axis)))
    return [p]


def _conv(ctx, ins, in_avals, out_avals, **params):
    """conv_general_dilated without feature or batch groups: an output element depends on
    the input elements of its window met by a non-zero (or unknown) kernel entry, and on the
    kernel entries of its output feature."""
    (x, w), (xa, wa), (oa,) = ins, in_avals, out_avals
    sz = _conv_sizes(xa.shape, wa.shape, params)
    if sz.groups > 1:
        return _conservative(ctx, ins, in_avals, out_avals)
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    n, y, k = sz.n, math.prod(sz.out), math.prod(sz.kernel)
    numbered = np.arange(xa.size, dtype=np.int64).reshape(xa.shape)
    taps = _gather_windows(numbered.transpose((lhs_spec[0], *lhs_spec[2:], lhs_spec[1])),
                           _conv_tables(sz, params), -1).reshape(n, y, k, sz.c)
    out = np.arange(oa.size, dtype=np.int64).reshape(oa.shape)
    out = out.transpose(np.argsort(_out_layout(out_spec))).reshape(n, y, sz.o)
    parts = []
    if _is_dep(x):
        if _is_dep(w):
            used = np.ones((sz.o, k, sz.c), bool)
        else:
            used = np.asarray(w).transpose((rhs_spec[0], *rhs_spec[2:], rhs_spec[1]))
            used = used.reshape(sz.o, k, sz.c) != 0
        oi, ki, ci = np.nonzero(used)
        rows = out[:, :, oi].ravel()
        cols = taps[:, :, ki, ci].ravel()
        keep = cols >= 0
        s = sp.csr_matrix((np.ones(keep.sum(), bool), (rows[keep], cols[keep])),
                          shape=(oa.size, xa.size))
        parts.append((s @ x).tocsr())
    if _is_dep(w):
        axes = [-1 if d == rhs_spec[0] else 1 for d in range(wa.ndim)]
        feature = np.broadcast_to(np.arange(sz.o).reshape(axes), wa.shape)
        per_feature = _sum_rows(w, feature, sz.o)
        of_out = np.empty(oa.size, np.int64)
        of_out[out.ravel()] = np.broadcast_to(np.arange(sz.o), (n, y, sz.o)).ravel()
        parts.append(_select_rows(per_feature, of_out))
    return [_union(parts)]


# ----------------------------------------------------------------------------- the rules

def _family(module) -> set[str]:
    return {p.name for p in vars(module).values() if hasattr(p, "bind") and hasattr(p, "jvp")}


def _concatenate(ctx, ins, in_avals, out_avals, prim=None, **params):
    return _moves(tuple(range(len(ins))))(ctx, ins, in_avals, out_avals, prim=prim, **params)


def _no_derivative(ctx, ins, in_avals, out_avals, **params):
    return (_elementwise if ctx.values else _zero)(ctx, ins, in_avals, out_avals, **params)


_NO_DERIVATIVE = {"eq", "ne", "lt", "le", "gt", "ge", "is_finite", "is_nan", "and", "or", "not",
                  "xor", "floor", "ceil", "round", "sign", "floordiv", "stop_gradient"}

RULES: dict[str, Callable] = {
    **{name: _elementwise for name in _family(elementwise) | _family(special)},
    "mul": _mul,
    "select": _select,
    **{name: _moves((0,)) for name in ("reshape", "transpose", "slice", "rev",
                                       "broadcast_in_dim", "gather")},
    "pad": _moves((0, 1)),
    "concatenate": _concatenate,
    "scatter_add": _scatter(False),
    "scatter": _scatter(True),
    **{name: _reduce for name in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")},
    "argmax": _arg_reduce,
    "argmin": _arg_reduce,
    "cumsum": _cumulative,
    "cumprod": _cumulative,
    "sort": _along_axis,
    "dot_general": _dot_general,
    "conv_general_dilated": _conv,
    **{f"reduce_window_{kind}": _reduce_window for kind in ("sum", "max", "min")},
    **{name: _no_derivative for name in _NO_DERIVATIVE},
}



# ----------------------------------------------------------------------------- control flow

def _merge(ctx, results: list, avals) -> list:
    """The union, output by output, of several possible results (a value no longer known)."""
    return [_union([_pat(ctx, v, a) for v in vs]) for vs, a in zip(zip(*results), avals)]


def _call(ctx, ins, in_avals, out_avals, ir, **_):
    return propagate(ir, ins, ctx)


def _custom(ctx, ins, in_avals, out_avals, ir, **_):
    return propagate(ir, ins, _Context(ctx.n, values=True))


def _cond(ctx, ins, in_avals, out_avals, branches):
    index, *ops = ins
    if not _is_dep(index):
        return propagate(branches[int(np.clip(index, 0, len(branches) - 1))], ops, ctx)
    return _merge(ctx, [propagate(b, ops, ctx) for b in branches], out_avals)


def _batched_cond(ctx, ins, in_avals, out_avals, branches, batched, summed):
    """Each branch batched over the whole batch; each example's rows from the branch it takes
    when the index is known, else the union over branches; a summed output's element the
    union of that element's rows over the batch."""
    index, *ops = ins
    size = in_avals[0].shape[0]
    avals = vmap_ir(branches[0], batched, size)[0].out_avals
    results = [propagate(vmap_ir(b, batched, size)[0], ops, ctx) for b in branches]
    if _is_dep(index) or not size:
        stacked = _merge(ctx, results, avals)
    else:
        taken = np.clip(np.asarray(index), 0, len(branches) - 1)
        stacked = [_union([_mask_rows(_pat(ctx, r[k], a), np.repeat(taken == i, a.size // size))
                           for i, r in enumerate(results)])
                   for k, a in enumerate(avals)]
    return [_sum_rows(p, np.arange(a.size) % o.size, o.size) if s else p
            for p, a, o, s in zip(stacked, avals, out_avals, summed)]


def _fixed_point(ctx, step, carry: list, avals, everything: list) -> list:
    """The least fixed point of carry -> carry | step(carry) (all carries as patterns), or
    after MAX_ROUNDS the conservative answer: each carry depends on all of `everything`."""
    carry = [_pat(ctx, c, a) for c, a in zip(carry, avals)]
    for _ in range(MAX_ROUNDS):
        grown = _merge(ctx, [carry, step(carry)], avals)
        if all(g.nnz == c.nnz for g, c in zip(grown, carry)):
            return grown
        carry = grown
    return _everything(ctx, [*everything, *carry], [], avals)


def _while(ctx, ins, in_avals, out_avals, cond_ir, body_ir, n_cond_consts, n_body_consts,
           max_steps=None):
    consts = ins[n_cond_consts:n_cond_consts + n_body_consts]
    carry = ins[n_cond_consts + n_body_consts:]
    return _fixed_point(ctx, lambda c: propagate(body_ir, [*consts, *c], ctx), carry,
                        out_avals, consts)


def _scan(ctx, ins, in_avals, out_avals, body_ir, length, reverse, n_consts, n_carry):
    consts, carry = ins[:n_consts], ins[n_consts:n_consts + n_carry]
    xs, x_avals = ins[n_consts + n_carry:], in_avals[n_consts + n_carry:]
    y_avals = body_ir.out_avals[n_carry:]
    if length <= UNROLL_SCAN:
        return _unrolled_scan(ctx, body_ir, consts, carry, xs, x_avals, length, reverse,
                              n_carry)
    sizes = [a.size // max(length, 1) for a in x_avals]
    x_any = [_sum_rows(_pat(ctx, x, a), np.arange(a.size) % s, s)
             for x, a, s in zip(xs, x_avals, sizes)]
    carry = _fixed_point(ctx, lambda c: propagate(body_ir, [*consts, *c, *x_any], ctx)[:n_carry],
                         carry, out_avals[:n_carry], [*consts, *x_any])
    ys = propagate(body_ir, [*consts, *carry, *x_any], ctx)[n_carry:]
    return [*carry, *(_select_rows(_pat(ctx, y, a), np.tile(np.arange(a.size), length))
                      for y, a in zip(ys, y_avals))]


def _unrolled_scan(ctx, body_ir, consts, carry, xs, x_avals, length, reverse, n_carry):
    ys = [None] * length
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        x_t = []
        for x, a in zip(xs, x_avals):
            s = a.size // length
            x_t.append(x[t * s:(t + 1) * s] if _is_dep(x) else np.asarray(x)[t])
        outs = propagate(body_ir, [*consts, *carry, *x_t], ctx)
        carry, ys[t] = outs[:n_carry], outs[n_carry:]
    y_avals = body_ir.out_avals[n_carry:]
    stacked = []
    for k, a in enumerate(y_avals):
        column = [y[k] for y in ys]
        stacked.append(np.stack(column) if not any(map(_is_dep, column)) else
                       sp.vstack([_pat(ctx, y, a) for y in column], format="csr"))
    return [*carry, *stacked]


HIGHER_ORDER: dict[str, Callable] = {
    "call": _call,
    "remat": _call,
    "custom_jvp_call": _custom,
    "custom_vjp_call": _custom,
    "cond": _cond,
    "batched_cond": _batched_cond,
    "while": _while,
    "scan": _scan,
}


# ----------------------------------------------------------------------------- the walk

def _apply(ctx, eqn, ins) -> list:
    in_avals = [a.aval for a in eqn.inputs]
    out_avals = [v.aval for v in eqn.outputs]
    higher = HIGHER_ORDER.get(eqn.prim.name)
    if higher is not None:
        outs = higher(ctx, ins, in_avals, out_avals, **eqn.params)
    else:
        rule = RULES.get(eqn.prim.name, _conservative)
        outs = rule(ctx, ins, in_avals, out_avals, prim=eqn.prim, **eqn.params)
    if ctx.values:
        return [_pat(ctx, o, a) for o, a in zip(outs, out_avals)]
    return [_pat(ctx, o, a) if is_float_dtype(a.dtype) else ctx.empty(a.size)
            for o, a in zip(outs, out_avals)]


def propagate(ir: IR, ins: list, ctx: _Context) -> list:
    """The outputs of `ir` given its inputs, each a known array or a dependency pattern."""
    env = dict(zip(ir.in_vars, ins))

    def read(a):
        return np.asarray(a.val) if isinstance(a, Literal) else env[a]
    for eqn in ir.eqns:
        vals = [read(a) for a in eqn.inputs]
        if any(map(_is_dep, vals)) or has_effect(eqn.prim, eqn.params):
            outs = _apply(ctx, eqn, vals)
        else:
            with at_root():
                outs = [np.asarray(o) for o in eqn.prim.bind(*vals, **eqn.params)]
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in ir.outs]


def jacobian_pattern(ir: IR, active=None) -> sp.csr_matrix:
    """The Jacobian sparsity pattern of `ir`: a boolean CSR matrix with a row per element of
    its (flattened, concatenated) outputs and a column per element of its active inputs
    (`active`: a flag per input, default all), true where the derivative may be non-zero.

    >>> import numpy as np, xform as xf
    >>> ir = xf.make_ir(lambda x: x[1:] * x[:-1])(np.ones(4))
    >>> jacobian_pattern(ir).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    active = [True] * len(ir.in_vars) if active is None else list(active)
    sizes = [v.aval.size if on else 0 for v, on in zip(ir.in_vars, active)]
    ctx = _Context(sum(sizes))
    start = np.cumsum([0, *sizes])
    ins = [sp.csr_matrix((np.ones(s, bool), (np.arange(s), b + np.arange(s))),
                         shape=(v.aval.size, ctx.n)) if on else ctx.empty(v.aval.size)
           for v, on, s, b in zip(ir.in_vars, active, sizes, start)]
    outs = propagate(ir, ins, ctx)
    if not outs:
        return ctx.empty(0)
    return sp.vstack([_pat(ctx, o, a.aval) for o, a in zip(outs, ir.outs)], format="csr")
