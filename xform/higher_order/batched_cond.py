"""`batched_cond`: a `cond` whose branch index differs across a batch, from `vmap` of `cond`.

`batched_cond(index, *operands, branches, batched, summed)` holds the per-example branches (the
closed IRs of the unbatched `cond`), which operands carry the batch at axis 0 and which outputs
are summed over the batch: with `r_b = branches[clip(index[b], 0, n - 1)](*ops_b)`, `ops_b`
holding `op[b]` for the batched operands and `op` for the others, output k stacks the `r_b[k]`
(`out[b] = r_b[k]`), or, if summed, adds them up. Summed outputs are the cotangents of
unbatched operands (a weight shared by the batch): reverse mode accumulates them instead of
storing one per example.

Each example runs only the branch it takes, so a rarely taken expensive branch costs only the
examples that take it, and derivatives never pass through an untaken branch (a select over
every branch would send a zero cotangent into it, and 0 * inf is NaN). The interpreter
partitions the batch by branch and runs each taken branch vectorised over its rows; the Numba
lowering groups the examples by branch and loops over each branch's examples; interpretations
that inline (flop counts, trace tables) see every branch run on the whole batch and a select.
"""
from __future__ import annotations

import numpy as np

from xform.core import (IR, Literal, Primitive, ShapedArray, UndefinedPrimal, Zero, at_root,
                        batch_size, eval_ir, get_aval, has_effect, instantiate)
from xform.higher_order.control import _active, _cond_linearized, _emit_block, _float_or_zero
from xform.primitives.elementwise import eq, max_p, min_p, select
from xform.primitives.lowering import dtype_expr
from xform.primitives.reductions import reduce_sum
from xform.primitives.structural import broadcast_in_dim, moveaxis, reshape
from xform.transforms.derive import derived, transpose_ir, vmap_ir
from xform.transforms.simplify import dce

batched_cond_p = Primitive("batched_cond")


def _per_example(aval: ShapedArray, batched: bool) -> ShapedArray:
    return ShapedArray(aval.shape[1:], aval.dtype) if batched else aval


def _stacked(aval: ShapedArray, size: int, summed: bool = False) -> ShapedArray:
    return aval if summed else ShapedArray((size, *aval.shape), aval.dtype)


def _run(branch: IR, ops, batched: tuple, size: int) -> list:
    """`branch` over a batch of `size` (the batched operands hold that many rows)."""
    return eval_ir(vmap_ir(branch, batched, size)[0], list(ops))


# ----------------------------------------------------------------------------- evaluation

def _bucket(count: int, size: int) -> int:
    """The row count a branch runs on: `count` rounded up to a power of two (at most `size`),
    so that each branch is batched for O(log size) sizes however the batch splits."""
    return min(1 << max(count - 1, 0).bit_length(), size)


def _computed(branch: IR):
    """`branch` without its constant outputs (the zero residuals of the other branches, in a
    linearised branch), which the impl writes without computing; which outputs it keeps, and
    which inputs it reads (a linearised branch reads only its own residuals)."""
    def build():
        keep = tuple(not isinstance(o, Literal) for o in branch.outs)
        ir = dce(IR(branch.in_vars, branch.eqns, [o for o, k in zip(branch.outs, keep) if k]))
        read = {a for e in ir.eqns for a in e.inputs} | set(ir.outs)
        return ir, keep, tuple(v in read for v in ir.in_vars)
    return derived(branch, "batched_cond_computed", build)


def _rows(op, take, n: int, used: bool):
    """The rows `take` of a batched operand; a stand-in of the right shape if it is unused."""
    op = np.asarray(op)
    return op[take] if used else np.broadcast_to(op[:1], (n, *op.shape[1:]))


def _impl(index, *ops, branches, batched, summed):
    """Partition the batch by branch; each taken branch runs once, vectorised over its rows
    (padded with copies of its first row up to a bucketed count, unless a branch has an
    effect: then on exactly its rows). The most taken branch goes first: its constant
    outputs fill whole arrays, whose other rows the other branches then overwrite."""
    index = np.clip(np.asarray(index), 0, len(branches) - 1)
    size = index.shape[0]
    counts = np.bincount(index, minlength=len(branches))
    exact = has_effect(batched_cond_p, {"branches": branches})
    with at_root():
        if size and counts.max() == size:
            branch = branches[int(counts.argmax())]
            return [np.asarray(r).sum(0, dtype=a.dtype) if s else np.asarray(r) for r, s, a
                    in zip(_run(branch, ops, batched, size), summed, branch.out_avals)]
        outs = [np.zeros(a.shape, a.dtype) if s else np.empty((size, *a.shape), a.dtype)
                for a, s in zip(branches[0].out_avals, summed)]
        for rank, i in enumerate(np.argsort(-counts, kind="stable")):
            rows = np.flatnonzero(index == i)
            if rows.size:
                n = rows.size if exact else _bucket(rows.size, size)
                _scatter(branches[i], ops, batched, summed, rows, n, outs, rank == 0)
    return outs


def _scatter(branch: IR, ops, batched, summed, rows, n: int, outs: list, everywhere: bool):
    """Run `branch` on the examples `rows` (padded to `n`) and write its results into their
    rows of `outs` (add them up into the summed ones); with `everywhere`, a constant result
    fills its whole output."""
    count = rows.size
    take = np.concatenate([rows, np.full(n - count, rows[0])]) if n > count else rows
    ir, keep, used = _computed(branch)
    sub = [_rows(op, take, n, u) if b else op for op, b, u in zip(ops, batched, used)]
    results = iter(_run(ir, sub, batched, n))
    for out, o, computed, s in zip(outs, branch.outs, keep, summed):
        value = np.asarray(next(results))[:count] if computed else o.val
        if s:
            out += value.sum(0, dtype=out.dtype) if computed else value * count
        elif everywhere and not computed:
            out[...] = value
        else:
            out[rows] = value


def _clamp(index, n: int):
    aval = get_aval(index)
    lo = np.zeros(aval.shape, aval.dtype)
    hi = np.full(aval.shape, n - 1, aval.dtype)
    return min_p.bind1(max_p.bind1(index, lo), hi)


def _inline(index, *ops, branches, batched, summed):
    """Every branch on the whole batch, then each example's result selected (in the current
    interpreter, so that a flop count or a trace table sees inside the branches)."""
    size = get_aval(index).shape[0]
    results = [_run(b, ops, batched, size) for b in branches]
    index = _clamp(index, len(branches))
    dtype = get_aval(index).dtype
    outs = results[-1]
    for i in range(len(branches) - 2, -1, -1):
        pick = eq(index, np.full((size,), i, dtype))
        outs = [select(broadcast_in_dim(pick, get_aval(o).shape, (0,)), r, o)
                for r, o in zip(results[i], outs)]
    return [reduce_sum(o, (0,)) if s else o for o, s in zip(outs, summed)]


def _abstract_eval(index, *ops, branches, batched, summed):
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"batched_cond needs a 1-d integer branch index, got {index}")
    size = index.shape[0]
    if len(batched) != len(ops) or any(b and op.shape[:1] != (size,)
                                       for op, b in zip(ops, batched)):
        raise TypeError(f"batched_cond: operands {list(ops)} flagged batched {batched} do not "
                        f"all have a leading axis of size {size}")
    avals = [_per_example(op, b) for op, b in zip(ops, batched)]
    for i, br in enumerate(branches):
        if br.in_avals != avals:
            raise TypeError(f"batched_cond branch {i} takes {br.in_avals} but each example "
                            f"has {avals}")
        if br.out_avals != branches[0].out_avals:
            raise TypeError(f"batched_cond branch {i} returns {br.out_avals} but branch 0 "
                            f"returns {branches[0].out_avals}")
    if len(summed) != len(branches[0].outs):
        raise TypeError(f"batched_cond: {len(summed)} summed flags for "
                        f"{len(branches[0].outs)} outputs")
    return [_stacked(a, size, s) for a, s in zip(branches[0].out_avals, summed)]


# ----------------------------------------------------------------------------- differentiation

def _jvp(primals, tangents, *, branches, batched, summed):
    """As cond's: the linearised branches share one residual layout, so each example runs
    its own branch's primal and tangent (the residuals come out batched, never summed)."""
    index, ops = primals[0], primals[1:]
    active = _active(ops, tangents[1:])
    if not any(active):
        outs = batched_cond_p.bind(*primals, branches=branches, batched=batched,
                                   summed=summed)
        return outs, [Zero(get_aval(o)) for o in outs]
    p_branches, t_branches = _cond_linearized(branches, active)
    n_out = len(branches[0].outs)
    n_res = len(p_branches[0].outs) - n_out
    res = batched_cond_p.bind(index, *ops, branches=p_branches, batched=batched,
                              summed=summed + (False,) * n_res)
    ts = [t for t, a in zip(tangents[1:], active) if a]
    t_batched = (True,) * n_res + tuple(b for b, a in zip(batched, active) if a)
    t_out = batched_cond_p.bind(index, *res[n_out:], *ts, branches=t_branches,
                                batched=t_batched, summed=summed)
    return res[:n_out], _float_or_zero(t_out, res[:n_out])


def _transpose(cts, index, *args, branches, batched, summed):
    """Each example transposes its own branch; an unbatched linear operand's cotangent is
    the sum of the examples' cotangents (a summed output), and a summed output's cotangent
    is shared by every example (an unbatched operand)."""
    if isinstance(index, UndefinedPrimal):
        raise TypeError("batched_cond is not linear in its branch index")
    linear = tuple(isinstance(a, UndefinedPrimal) for a in args)
    t_branches = tuple(transpose_ir(b, linear) for b in branches)
    known = [a for a, lin in zip(args, linear) if not lin]
    k_batched = tuple(b for b, lin in zip(batched, linear) if not lin)
    cts = list(map(instantiate, cts))
    ct_in = iter(batched_cond_p.bind(
        index, *known, *cts, branches=t_branches,
        batched=k_batched + tuple(not s for s in summed),
        summed=tuple(not b for b, lin in zip(batched, linear) if lin)))
    return [None, *(next(ct_in) if lin else None for lin in linear)]


# ----------------------------------------------------------------------------- batching

def _vmap(args, bdims, *, branches, batched, summed):
    """An index shared across the new batch batches the branches (each example's operands
    gain the new axis); a batched one flattens both batch axes into one (a summed output is
    then summed over the old axis afterwards)."""
    size = batch_size(args, bdims)
    if bdims[0] is None:
        return _vmap_branches(args, bdims, size, branches, batched, summed)
    index = moveaxis(args[0], bdims[0], 0)
    inner = np.shape(index)[1]
    index = reshape(index, (size * inner,))
    ops, flat = [], []
    for op, d, b in zip(args[1:], bdims[1:], batched):
        if d is None and not b:
            ops.append(op)
            flat.append(False)
            continue
        if d is None:
            op = broadcast_in_dim(op, (size, *np.shape(op)), range(1, np.ndim(op) + 1))
        else:
            op = moveaxis(op, d, 0)
            if not b:
                shape = np.shape(op)
                op = broadcast_in_dim(op, (size, inner, *shape[1:]),
                                      (0, *range(2, len(shape) + 1)))
        ops.append(reshape(op, (size * inner, *np.shape(op)[2:])))
        flat.append(True)
    outs = batched_cond_p.bind(index, *ops, branches=branches, batched=tuple(flat),
                               summed=(False,) * len(summed))
    outs = [reshape(o, (size, inner, *np.shape(o)[1:])) for o in outs]
    return [reduce_sum(o, (1,)) if s else o for o, s in zip(outs, summed)], [0] * len(outs)


def _vmap_branches(args, bdims, size, branches, batched, summed):
    """The new batch axis goes right after the old one (batched operands) or first (the
    others, and the summed outputs), and each branch is batched over it."""
    ops = [op if d is None else moveaxis(op, d, 1 if b else 0)
           for op, d, b in zip(args[1:], bdims[1:], batched)]
    new = tuple(d is not None for d in bdims[1:])
    b_branches = tuple(vmap_ir(br, new, size)[0] for br in branches)
    outs = batched_cond_p.bind(args[0], *ops, branches=b_branches, batched=batched,
                               summed=summed)
    return outs, [0 if s else 1 for s in summed]


# ----------------------------------------------------------------------------- Numba

def _accumulate(o, summed: bool, b: str, r: str) -> str:
    """The statement storing an example's result `r` into output `o`."""
    if not summed:
        return f"{o.expr}[{b}] = {r}"
    if o.aval.shape == ():
        return f"{o.expr} = {dtype_expr(o.aval.dtype)}({o.expr} + {r})"
    return f"{o.expr} += {r}"


def _numba(em, ins, outs, *, branches, batched, summed):
    """The examples grouped by the branch their index picks (clamped into range, as in the
    impl), then one loop per branch over its examples, on their rows of the batched operands.
    (One loop over the batch with an `if` per branch is not enough: the compiler may turn it
    into straight-line code that runs every branch on every example and selects.)"""
    for o, s in zip(outs, summed):
        if not s:
            em.line(f"{o.expr} = {em.alloc(o.aval.shape, o.aval.dtype)}")
        elif o.aval.shape == ():
            em.line(f"{o.expr} = {dtype_expr(o.aval.dtype)}(0)")
        else:
            em.line(f"{o.expr} = {em.alloc(o.aval.shape, o.aval.dtype)}")
            em.line(f"{o.expr}.fill(0)")
    size, b = ins[0].aval.shape[0], em.fresh("example")
    rows = [em.fresh("x") if flag else x.expr for x, flag in zip(ins[1:], batched)]
    loads = [f"{r} = {x.expr}[{b}]" for r, x, flag in zip(rows, ins[1:], batched) if flag]
    if len(branches) == 1:
        lines, results = em.nested(branches[0], rows)
        _emit_block(em, f"for {b} in range({size}):", [
            *loads, *lines, *(_accumulate(o, s, b, r) for o, s, r in zip(outs, summed, results))])
        return
    order, bounds = _group_by_branch(em, ins[0].expr, size, len(branches), b)
    j = em.fresh("j")
    for i, branch in enumerate(branches):
        lines, results = em.nested(branch, rows)
        _emit_block(em, f"for {j} in range({bounds[i]}, {bounds[i + 1]}):", [
            f"{b} = {order}[{j}]", *loads, *lines,
            *(_accumulate(o, s, b, r) for o, s, r in zip(outs, summed, results))])


def _group_by_branch(em, index: str, size: int, n: int, b: str) -> tuple[str, list[str]]:
    """Emit a counting sort of the examples by branch with a scalar counter per branch (one
    pass counting, one placing): `order[bounds[i]:bounds[i + 1]]` lists the examples taking
    branch i, in order. Returns the name of `order` and the expressions of the bounds."""
    order, k = em.fresh("order"), em.fresh("k")
    counts = [em.fresh("count") for _ in range(n - 1)]
    bounds = ["0", *(em.fresh("bound") for _ in range(n - 1)), str(size)]
    places = [em.fresh("place") for _ in range(n)]
    taken = f"{k} = min(max({index}[{b}], 0), {n - 1})"
    em.line(f"{order} = {em.alloc((size,), np.int64)}")
    for c in counts:
        em.line(f"{c} = 0")
    _emit_block(em, f"for {b} in range({size}):",
                [taken, *(f"{c} += {k} == {i}" for i, c in enumerate(counts))])
    for i, c in enumerate(counts):
        em.line(f"{bounds[i + 1]} = {bounds[i]} + {c}")
    place = []
    for i, p in enumerate(places):
        em.line(f"{p} = {bounds[i]}")
        place += ["if" if i == 0 else "else:" if i == n - 1 else "elif"]
        if i < n - 1:
            place[-1] += f" {k} == {i}:"
        place += [f"    {order}[{p}] = {b}", f"    {p} += 1"]
    _emit_block(em, f"for {b} in range({size}):", [taken, *place])
    return order, bounds


batched_cond_p.impl = _impl
batched_cond_p.inline = _inline
batched_cond_p.abstract_eval = _abstract_eval
batched_cond_p.jvp = _jvp
batched_cond_p.transpose = _transpose
batched_cond_p.vmap = _vmap
batched_cond_p.numba = _numba
