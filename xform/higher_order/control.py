"""Control-flow primitives `cond`, `while` and `scan`, whose params hold closed IRs.

Every rule rewrites the IRs held in the params (derived once and memoised in `ir.derived`) and
binds the primitive again, so control flow stays a single equation under jvp, transpose, vmap
and jit. Operand layouts (values captured by the traced functions come first, as explicit
operands):

- `cond(index, *operands, branches)`: runs `branches[clip(index, 0, n - 1)](*operands)`; under
  `vmap` with a batched index it becomes a `batched_cond` (xform/higher_order/batched_cond.py).
- `while(*cond_consts, *body_consts, *carry, cond_ir, body_ir, n_cond_consts, n_body_consts)`:
  `while cond_ir(*cond_consts, *carry): carry = body_ir(*body_consts, *carry)`. An optional
  `max_steps` param bounds the trip count for reverse mode where it is not concrete.
- `scan(*consts, *carry, *xs, body_ir, length, reverse, n_consts, n_carry)`: the body maps
  `(*consts, *carry, *x_slices)` to `(*carry, *y_slices)`; the outputs are the final carry and
  the ys stacked along a new leading axis.
"""
from __future__ import annotations

import numpy as np

from xform.core import (IR, Literal, Primitive, ShapedArray, Tracer, UndefinedPrimal, Zero, at_root,
                        batch_size, concrete_or_none, eval_ir, get_aval, instantiate,
                        is_float_dtype, zeros_like_aval)
from xform.primitives.elementwise import add, mul, select
from xform.primitives.lowering import dtype_expr
from xform.primitives.reductions import reduce_max
from xform.primitives.structural import broadcast_in_dim, moveaxis
from xform.transforms.derive import (closed, derived, jvp_ir, linearize_ir, nonzero_tangents,
                                     reorder, transpose_ir, vmap_ir, with_inputs)
from xform.transforms.simplify import dce
from xform.transforms.vjp import backward_pass
from xform.transforms.vmap import move_to

cond_p = Primitive("cond")
while_p = Primitive("while")
scan_p = Primitive("scan")


# ----------------------------------------------------------------------------- helpers

def _split(xs, *sizes) -> list:
    """Consecutive slices of `xs` of the given sizes, and the rest as a last slice."""
    parts, start = [], 0
    for n in sizes:
        parts.append(list(xs[start:start + n]))
        start += n
    return [*parts, list(xs[start:])]


def _grow(flags, step) -> tuple:
    """The least superset of `flags` that `step` maps into itself: which loop carries end up
    with a tangent (or a batch axis) once the body has run any number of times."""
    flags = tuple(flags)
    while True:
        new = tuple(a or b for a, b in zip(flags, step(flags)))
        if new == flags:
            return flags
        flags = new


def _active(primals, tangents) -> tuple:
    """Which inputs carry a tangent worth differentiating (nonzero and floating point)."""
    return tuple(not isinstance(t, Zero) and is_float_dtype(get_aval(p).dtype)
                 for p, t in zip(primals, tangents))


def _float_or_zero(ts, outs) -> list:
    """Tangents of non-float outputs are symbolic zeros (their IR tangents are integer zeros)."""
    return [t if is_float_dtype(get_aval(o).dtype) else Zero(get_aval(o))
            for t, o in zip(ts, outs)]


# ----------------------------------------------------------------------------- cond

def _cond_inline(index, *ops, branches):
    return eval_ir(branches[int(np.clip(index, 0, len(branches) - 1))], list(ops))


def _at_root(inline):
    """The impl of a higher-order primitive: its inline rule run by the root interpreter."""
    def impl(*args, **params):
        with at_root():
            return [np.asarray(o) for o in inline(*args, **params)]
    return impl


def _cond_abstract_eval(index, *ops, branches):
    if index.shape != () or not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"cond needs a scalar integer branch index, got {index}")
    for i, b in enumerate(branches):
        if b.in_avals != list(ops):
            raise TypeError(f"cond branch {i} takes {b.in_avals} but was given {list(ops)}")
        if b.out_avals != branches[0].out_avals:
            raise TypeError(f"cond branch {i} returns {b.out_avals} but branch 0 returns "
                            f"{branches[0].out_avals}")
    return branches[0].out_avals


def _cond_linearized(branches: tuple, active: tuple):
    """Primal branches returning (*outputs, *residuals of every branch) and tangent branches
    taking (*residuals of every branch, *tangents). All branches share one residual layout:
    each fills its own slots and returns zeros in the other branches' slots."""
    def build():
        n_out = len(branches[0].outs)
        splits = [linearize_ir(b, active, 0) for b in branches]
        res_avals = [p.out_avals[n_out:] for p, _, _ in splits]
        all_res = [a for avals in res_avals for a in avals]
        t_avals = [a for a, act in zip(branches[0].in_avals, active) if act]
        primals, tangents, offset = [], [], 0
        for i, (p_ir, t_ir, _) in enumerate(splits):
            outs = list(p_ir.outs[:n_out])
            for j, avals in enumerate(res_avals):
                outs += (p_ir.outs[n_out:] if j == i
                         else [Literal(zeros_like_aval(a)) for a in avals])
            primals.append(IR(p_ir.in_vars, p_ir.eqns, outs))
            own = range(offset, offset + len(res_avals[i]))
            offset += len(res_avals[i])
            tail = range(len(all_res), len(all_res) + len(t_avals))
            tangents.append(with_inputs(t_ir, [*all_res, *t_avals], [*own, *tail]))
        return tuple(primals), tuple(tangents)
    return derived(branches[0], ("cond_linearize", active, branches), build)


def _cond_jvp(primals, tangents, *, branches):
    index, ops = primals[0], primals[1:]
    active = _active(ops, tangents[1:])
    if not any(active):
        outs = cond_p.bind(*primals, branches=branches)
        return outs, [Zero(get_aval(o)) for o in outs]
    p_branches, t_branches = _cond_linearized(branches, active)
    n_out = len(branches[0].outs)
    res = cond_p.bind(index, *ops, branches=p_branches)
    ts = [t for t, a in zip(tangents[1:], active) if a]
    t_out = cond_p.bind(index, *res[n_out:], *ts, branches=t_branches)
    return res[:n_out], _float_or_zero(t_out, res[:n_out])


def _cond_transpose(cts, index, *args, branches):
    if isinstance(index, UndefinedPrimal):
        raise TypeError("cond is not linear in its branch index")
    linear = tuple(isinstance(a, UndefinedPrimal) for a in args)
    t_branches = tuple(transpose_ir(b, linear) for b in branches)
    known = [a for a, lin in zip(args, linear) if not lin]
    cts = list(map(instantiate, cts))
    ct_in = iter(cond_p.bind(index, *known, *cts, branches=t_branches))
    return [None, *(next(ct_in) if lin else None for lin in linear)]


def _cond_vmap(args, bdims, *, branches):
    """An unbatched index batches the branches; a batched one makes a `batched_cond`, which
    runs on each example only the branch it takes."""
    size = batch_size(args, bdims)
    ops = [a if d in (None, 0) else moveaxis(a, d, 0) for a, d in zip(args[1:], bdims[1:])]
    batched = tuple(d is not None for d in bdims[1:])
    if bdims[0] is not None:
        index = moveaxis(args[0], bdims[0], 0)
        outs = batched_cond_p.bind(index, *ops, branches=branches, batched=batched,
                                   summed=(False,) * len(branches[0].outs))
        return outs, [0] * len(outs)
    none = (False,) * len(branches[0].outs)
    out_b = tuple(any(flags) for flags in
                  zip(*(vmap_ir(b, batched, size, none)[1] for b in branches)))
    b_branches = tuple(vmap_ir(b, batched, size, out_b)[0] for b in branches)
    outs = cond_p.bind(args[0], *ops, branches=b_branches)
    return outs, [0 if b else None for b in out_b]


cond_p.inline = _cond_inline
cond_p.impl = _at_root(_cond_inline)
cond_p.abstract_eval = _cond_abstract_eval
cond_p.jvp = _cond_jvp
cond_p.transpose = _cond_transpose
cond_p.vmap = _cond_vmap


# ----------------------------------------------------------------------------- while

def _with_steps(max_steps) -> dict:
    """The optional `max_steps` param, present only when set (other rules need not know it)."""
    return {} if max_steps is None else {"max_steps": max_steps}


def _while_inline(*args, cond_ir, body_ir, n_cond_consts, n_body_consts, max_steps=None):
    cc, bc, carry = _split(args, n_cond_consts, n_body_consts)
    while bool(eval_ir(cond_ir, [*cc, *carry])[0]):
        carry = eval_ir(body_ir, [*bc, *carry])
    return carry


def _while_abstract_eval(*avals, cond_ir, body_ir, n_cond_consts, n_body_consts,
                         max_steps=None):
    cc, bc, carry = _split(avals, n_cond_consts, n_body_consts)
    if cond_ir.in_avals != [*cc, *carry] or cond_ir.out_avals != [ShapedArray((), np.bool_)]:
        raise TypeError(f"while: the condition IR has type {cond_ir.in_avals} -> "
                        f"{cond_ir.out_avals}, which does not fit consts {cc} and carry {carry}")
    if body_ir.in_avals != [*bc, *carry] or body_ir.out_avals != carry:
        raise TypeError(f"while: the body IR has type {body_ir.in_avals} -> "
                        f"{body_ir.out_avals}, which does not fit consts {bc} and carry {carry}")
    return carry


def _while_jvp_irs(cond_ir, body_ir, active_consts: tuple, active_carry: tuple):
    """(cond, body) IRs of the loop over (carry, carry tangents) with body consts (consts,
    const tangents), for the carries and consts flagged active."""
    def build():
        n_bc = len(active_consts)
        n_k = len(active_carry)
        body, _ = jvp_ir(body_ir, active_consts + active_carry, active_carry)
        n_tc = sum(active_consts)
        # _jvp_ir orders inputs (consts, carry, const tangents, carry tangents).
        order = [*range(n_bc), *range(n_bc + n_k, n_bc + n_k + n_tc),
                 *range(n_bc, n_bc + n_k), *range(n_bc + n_k + n_tc, len(body.in_vars))]
        t_avals = [a for a, act in zip(body_ir.out_avals, active_carry) if act]
        cond = with_inputs(cond_ir, [*cond_ir.in_avals, *t_avals], range(len(cond_ir.in_vars)))
        return cond, reorder(body, order)
    return derived(body_ir, ("while_jvp", cond_ir, active_consts, active_carry), build)


def _trip_count(cond_ir, body_ir, cc, bc, init):
    """How many times the loop body runs, when the operands are concrete (else None)."""
    values = [concrete_or_none(x) for x in (*cc, *bc, *init)]
    if any(v is None for v in values):
        return None
    cc, bc, carry = _split(values, len(cc), len(bc))
    n = 0
    with at_root():
        while bool(eval_ir(cond_ir, [*cc, *carry])[0]):
            carry = eval_ir(body_ir, [*bc, *carry])
            n += 1
    return n


def _bounded_body(cond_ir, body_ir, n_cond_consts: int) -> IR:
    """A scan body (*cond consts, *body consts, *carry) -> carry that runs one loop step and
    keeps the new carry only if the condition holds: `max_steps` of them replay the loop."""
    def build():
        n_carry = len(body_ir.outs)
        n_bc = len(body_ir.in_vars) - n_carry

        def step(*args):
            cc, rest = args[:n_cond_consts], list(args[n_cond_consts:])
            carry = rest[n_bc:]
            going = eval_ir(cond_ir, [*cc, *carry])[0]
            new = eval_ir(body_ir, rest)
            return [select(broadcast_in_dim(going, get_aval(n).shape, ()), n, c)
                    for n, c in zip(new, carry)]
        in_avals = [*cond_ir.in_avals[:n_cond_consts], *body_ir.in_avals]
        return closed(step, in_avals, "while_bounded")
    return derived(body_ir, ("while_bounded", cond_ir, n_cond_consts), build)


def _nan_if(flag, tangents) -> list:
    """The tangents, NaN where `flag` holds (a loop cut short by `max_steps`)."""
    out = []
    for t in tangents:
        if isinstance(t, Zero):
            out.append(t)
            continue
        dtype = get_aval(t).dtype
        out.append(mul(t, select(flag, np.array(np.nan, dtype), np.array(1, dtype))))
    return out


def _while_as_scan(primals, tangents, *, cond_ir, body_ir, n_cond_consts, n_body_consts,
                   length, bounded: bool):
    """The jvp of the loop as the jvp of a scan, which reverse mode can transpose: `length`
    plain body steps (the trip count is known), or `length` bounded steps (`max_steps`), whose
    tangents are NaN if the loop had not finished by then."""
    cc, bc, init = _split(primals, n_cond_consts, n_body_consts)
    _, t_bc, t_init = _split(tangents, n_cond_consts, n_body_consts)
    if bounded:
        consts = [*cc, *bc]
        t_consts = [*(Zero(get_aval(c)) for c in cc), *t_bc]
        body = _bounded_body(cond_ir, body_ir, n_cond_consts)
    else:
        consts, t_consts, body = bc, t_bc, body_ir
    outs, t_outs = _scan_jvp([*consts, *init], [*t_consts, *t_init], body_ir=body,
                             length=length, reverse=False, n_consts=len(consts),
                             n_carry=len(init))
    if bounded:
        t_outs = _nan_if(eval_ir(cond_ir, [*cc, *outs])[0], t_outs)
    return outs, t_outs


def _while_jvp(primals, tangents, *, cond_ir, body_ir, n_cond_consts, n_body_consts,
               max_steps=None):
    """Where the tangents may be transposed later (some are traced), the loop becomes a scan:
    of its trip count when the operands are concrete, else of `max_steps` bounded steps.
    Otherwise a primal loop, then a loop over (primal, tangent) carries for the tangents."""
    params = {"cond_ir": cond_ir, "body_ir": body_ir, "n_cond_consts": n_cond_consts,
              "n_body_consts": n_body_consts}
    cc, bc, init = _split(primals, n_cond_consts, n_body_consts)
    _, t_bc, t_init = _split(tangents, n_cond_consts, n_body_consts)
    active_consts, active_init = _active(bc, t_bc), _active(init, t_init)
    if not any(active_consts + active_init):
        outs = while_p.bind(*primals, **params, **_with_steps(max_steps))
        return outs, [Zero(get_aval(o)) for o in outs]
    if any(isinstance(t, Tracer) for t in tangents):
        n = _trip_count(cond_ir, body_ir, cc, bc, init)
        if n is not None or max_steps is not None:
            return _while_as_scan(primals, tangents, **params, length=max_steps if n is None
                                  else n, bounded=n is None)
    outs = while_p.bind(*primals, **params, **_with_steps(max_steps))
    active = _grow(active_init,
                   lambda carry: nonzero_tangents(body_ir, active_consts + carry))
    cond, body = _while_jvp_irs(cond_ir, body_ir, active_consts, active)
    ts_bc = [t for t, a in zip(t_bc, active_consts) if a]
    ts_init = list(map(instantiate, [t for t, a in zip(t_init, active) if a]))
    res = while_p.bind(*cc, *bc, *ts_bc, *init, *ts_init, cond_ir=cond, body_ir=body,
                       n_cond_consts=n_cond_consts, n_body_consts=n_body_consts + len(ts_bc))
    t_out = iter(res[len(init):])
    return outs, [next(t_out) if a else Zero(get_aval(o)) for o, a in zip(outs, active)]


def _while_transpose(cts, *args, **params):
    raise ValueError(
        "reverse-mode differentiation (grad, vjp, jacrev, hessian) of xf.lax.while_loop needs "
        "its trip count: it works when the loop's inputs are concrete (eager, outside jit and "
        "vmap); under jit or vmap pass an upper bound, xf.lax.while_loop(cond_fun, body_fun, "
        "init_val, max_steps=N), so that the forward values of at most N steps are stored. "
        "Or use xf.lax.scan, or xf.lax.fori_loop with concrete Python int bounds.")


def _frozen_loop(cond_ir, body_ir, n_cond_consts: int):
    """(cond, body) IRs for a batched predicate: loop while any example goes on; the body runs
    for every example, but finished ones keep their carry."""
    def build():
        cc_avals, carry_avals = _split(cond_ir.in_avals, n_cond_consts)
        bc_avals = body_ir.in_avals[:len(body_ir.in_avals) - len(carry_avals)]

        def any_going(*args):
            return [reduce_max(eval_ir(cond_ir, list(args))[0], (0,))]

        def body(*args):
            cc, bc, carry = _split(args, len(cc_avals), len(bc_avals))
            going = eval_ir(cond_ir, [*cc, *carry])[0]
            new = eval_ir(body_ir, [*bc, *carry])
            return [select(broadcast_in_dim(going, get_aval(n).shape, (0,)), n, c)
                    for n, c in zip(new, carry)]
        return (closed(any_going, cond_ir.in_avals, "while_any"),
                closed(body, [*cc_avals, *bc_avals, *carry_avals], "while_frozen"))
    return derived(body_ir, ("frozen", cond_ir, n_cond_consts), build)


def _while_vmap(args, bdims, *, cond_ir, body_ir, n_cond_consts, n_body_consts,
                max_steps=None):
    size = batch_size(args, bdims)
    args = [a if d in (None, 0) else moveaxis(a, d, 0) for a, d in zip(args, bdims)]
    cc, bc, init = _split(args, n_cond_consts, n_body_consts)
    cc_b, bc_b, init_b = _split([d is not None for d in bdims], n_cond_consts, n_body_consts)
    cc_b, bc_b = tuple(cc_b), tuple(bc_b)
    carry_b = _grow(init_b, lambda k: vmap_ir(body_ir, bc_b + k, size, k)[1])
    pred_b = vmap_ir(cond_ir, cc_b + carry_b, size, (False,))[1][0]
    if pred_b:
        carry_b = (True,) * len(init)
    init = [move_to(x, None, 0, size) if want and not had else x
            for x, had, want in zip(init, init_b, carry_b)]
    cond, _ = vmap_ir(cond_ir, cc_b + carry_b, size, (pred_b,))
    body, _ = vmap_ir(body_ir, bc_b + carry_b, size, carry_b)
    if pred_b:
        cond, body = _frozen_loop(cond, body, n_cond_consts)
        outs = while_p.bind(*cc, *cc, *bc, *init, cond_ir=cond, body_ir=body,
                            n_cond_consts=n_cond_consts,
                            n_body_consts=n_cond_consts + n_body_consts,
                            **_with_steps(max_steps))
    else:
        outs = while_p.bind(*cc, *bc, *init, cond_ir=cond, body_ir=body,
                            n_cond_consts=n_cond_consts, n_body_consts=n_body_consts,
                            **_with_steps(max_steps))
    return outs, [0 if b else None for b in carry_b]


while_p.inline = _while_inline
while_p.impl = _at_root(_while_inline)
while_p.abstract_eval = _while_abstract_eval
while_p.jvp = _while_jvp
while_p.transpose = _while_transpose
while_p.vmap = _while_vmap


# ----------------------------------------------------------------------------- scan

def _scan_inline(*args, body_ir, length, reverse, n_consts, n_carry):
    consts, carry, xs = _split(args, n_consts, n_carry)
    xs = [np.asarray(x) for x in xs]
    ys = [np.empty((length, *a.shape), a.dtype) for a in body_ir.out_avals[n_carry:]]
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = eval_ir(body_ir, [*consts, *carry, *(x[i] for x in xs)])
        carry = outs[:n_carry]
        for y, o in zip(ys, outs[n_carry:]):
            y[i] = o
    return [*carry, *ys]


def _scan_abstract_eval(*avals, body_ir, length, reverse, n_consts, n_carry):
    consts, carry, xs = _split(avals, n_consts, n_carry)
    if any(x.shape[:1] != (length,) for x in xs):
        raise TypeError(f"scan of length {length} got xs {xs}: each needs a leading axis of "
                        f"size {length}")
    slices = [ShapedArray(x.shape[1:], x.dtype) for x in xs]
    if body_ir.in_avals != [*consts, *carry, *slices] or body_ir.out_avals[:n_carry] != carry:
        raise TypeError(f"scan: the body IR has type {body_ir.in_avals} -> {body_ir.out_avals},"
                        f" which does not fit consts {consts}, carry {carry} and x {slices}")
    return [*carry, *(ShapedArray((length, *a.shape), a.dtype)
                      for a in body_ir.out_avals[n_carry:])]


def _scan_tangent_body(body_ir, active: tuple, n_consts: int, n_carry: int):
    """The tangent scan's body, in scan layout: consts (*const residuals, *const tangents),
    carry (carry tangents), xs (*stacked residuals, *x tangents); it returns the active carry
    tangents and the tangents of the float ys."""
    def build():
        primal, tangent, const_pos = linearize_ir(body_ir, active, n_consts)
        n_res = len(primal.outs) - len(body_ir.outs)
        a_c, a_k, _ = _split(active, n_consts, n_carry)
        n_cr, n_tc, n_tk = len(const_pos), sum(a_c), sum(a_k)
        cr, res, tc, tk, tx = _split(range(len(tangent.in_vars)), n_cr, n_res, n_tc, n_tk)
        y_float = [is_float_dtype(a.dtype) for a in body_ir.out_avals[n_carry:]]
        outs = [o for o, a in zip(tangent.outs, [*a_k, *y_float]) if a]
        return dce(IR([tangent.in_vars[i] for i in [*cr, *tc, *tk, *res, *tx]], tangent.eqns,
                      outs))
    return derived(body_ir, ("scan_tangent", active, n_consts, n_carry), build)


def _scan_jvp(primals, tangents, *, body_ir, length, reverse, n_consts, n_carry):
    """A primal scan that also stacks the residuals of each step, then a tangent scan over
    them (linear in the tangents, so reverse mode can transpose it)."""
    params = {"length": length, "reverse": reverse}
    consts, init, xs = _split(primals, n_consts, n_carry)
    t_c, t_init, t_x = _split(tangents, n_consts, n_carry)
    a_c, a_init, a_x = _active(consts, t_c), _active(init, t_init), _active(xs, t_x)
    if not any(a_c + a_init + a_x):
        outs = scan_p.bind(*primals, body_ir=body_ir, n_consts=n_consts, n_carry=n_carry,
                           **params)
        return outs, [Zero(get_aval(o)) for o in outs]
    a_k = _grow(a_init, lambda k: nonzero_tangents(body_ir, a_c + k + a_x)[:n_carry])
    active = a_c + a_k + a_x
    primal, _, const_pos = linearize_ir(body_ir, active, n_consts)
    t_body = _scan_tangent_body(body_ir, active, n_consts, n_carry)
    res = scan_p.bind(*primals, body_ir=primal, n_consts=n_consts, n_carry=n_carry, **params)
    n_out = len(body_ir.outs)
    outs, stacked = res[:n_out], res[n_out:]
    ts_c = [t for t, a in zip(t_c, a_c) if a]
    ts_k = list(map(instantiate, [t for t, a in zip(t_init, a_k) if a]))
    ts_x = [t for t, a in zip(t_x, a_x) if a]
    t_res = scan_p.bind(*(consts[j] for j in const_pos), *ts_c, *ts_k, *stacked, *ts_x,
                        body_ir=t_body, n_consts=len(const_pos) + len(ts_c), n_carry=len(ts_k),
                        **params)
    it = iter(t_res)
    flags = [*a_k, *(is_float_dtype(get_aval(o).dtype) for o in outs[n_carry:])]
    return outs, [next(it) if f else Zero(get_aval(o)) for o, f in zip(outs, flags)]


def _scan_transposed_body(body_ir, linear: tuple, n_consts: int, n_carry: int) -> IR:
    """Body of the transposed scan: (*known consts, *carry cts, *const ct sums, *known xs,
    *y cts) -> (*carry cts one step back, *updated const ct sums, *x cts)."""
    def build():
        idx = range(len(body_ir.in_vars))
        consts, carry, xs = _split(idx, n_consts, n_carry)
        ck = [i for i in consts if not linear[i]]
        cl = [i for i in consts if linear[i]]
        xk = [i for i in xs if not linear[i]]
        xl = [i for i in xs if linear[i]]
        reordered = reorder(body_ir, ck + xk + cl + carry + xl)
        avals = body_ir.in_avals

        def fn(*vals):
            v_ck, v_ctk, v_acc, v_xk, v_cty = _split(vals, len(ck), n_carry, len(cl), len(xk))
            cts = backward_pass(reordered, [*v_ck, *v_xk], [*v_ctk, *v_cty])
            ct_cl, ct_k, ct_xl = _split(cts, len(cl), n_carry)
            sums = [acc if isinstance(c, Zero) else add(acc, c) for acc, c in zip(v_acc, ct_cl)]
            return [*list(map(instantiate, ct_k)), *sums,
                    *list(map(instantiate, ct_xl))]
        in_avals = [*(avals[i] for i in ck), *(avals[i] for i in carry),
                    *(avals[i] for i in cl), *(avals[i] for i in xk),
                    *body_ir.out_avals[n_carry:]]
        return closed(fn, in_avals, "transpose_scan")
    return derived(body_ir, ("scan_transpose", linear, n_consts, n_carry), build)


def _scan_transpose(cts, *args, body_ir, length, reverse, n_consts, n_carry):
    """A scan in the opposite direction over the transposed body: carry cotangents flow
    backwards, const cotangents are summed in the carry, x cotangents are stacked."""
    # A tangent scan is linear in its carry even where the initial tangent is a known zero.
    linear = tuple(isinstance(a, UndefinedPrimal) or n_consts <= i < n_consts + n_carry
                   for i, a in enumerate(args))
    consts, _, xs = _split(args, n_consts, n_carry)
    ck = [c for c in consts if not isinstance(c, UndefinedPrimal)]
    cl = [c.aval for c in consts if isinstance(c, UndefinedPrimal)]
    xk = [x for x in xs if not isinstance(x, UndefinedPrimal)]
    ct_k = list(map(instantiate, cts[:n_carry]))
    ct_y = list(map(instantiate, cts[n_carry:]))
    t_body = _scan_transposed_body(body_ir, linear, n_consts, n_carry)
    outs = scan_p.bind(*ck, *ct_k, *map(zeros_like_aval, cl), *xk, *ct_y, body_ir=t_body,
                       length=length, reverse=not reverse, n_consts=len(ck),
                       n_carry=n_carry + len(cl))
    ct_init, ct_cl, ct_xl = _split(outs, n_carry, len(cl))
    it_c, it_x = iter(ct_cl), iter(ct_xl)
    return [*(next(it_c) if isinstance(c, UndefinedPrimal) else None for c in consts),
            *ct_init,
            *(next(it_x) if isinstance(x, UndefinedPrimal) else None for x in xs)]


def _scan_vmap(args, bdims, *, body_ir, length, reverse, n_consts, n_carry):
    """Batch the body; batched xs and ys carry the batch at axis 1 (axis 0 is scanned)."""
    size = batch_size(args, bdims)
    consts, init, xs = _split(args, n_consts, n_carry)
    d_c, d_k, d_x = _split(bdims, n_consts, n_carry)
    b_c = tuple(d is not None for d in d_c)
    b_x = tuple(d is not None for d in d_x)
    n_ys = len(body_ir.outs) - n_carry
    b_k = _grow((d is not None for d in d_k),
                lambda k: vmap_ir(body_ir, b_c + k + b_x, size, k + (False,) * n_ys)[1])
    body, out_b = vmap_ir(body_ir, b_c + b_k + b_x, size, b_k + (False,) * n_ys)
    consts = [c if d in (None, 0) else moveaxis(c, d, 0) for c, d in zip(consts, d_c)]
    init = [move_to(k, d, 0, size) if b else k for k, d, b in zip(init, d_k, b_k)]
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(xs, d_x)]
    outs = scan_p.bind(*consts, *init, *xs, body_ir=body, length=length, reverse=reverse,
                       n_consts=n_consts, n_carry=n_carry)
    return outs, [*(0 if b else None for b in b_k), *(1 if b else None for b in out_b[n_carry:])]


scan_p.inline = _scan_inline
scan_p.impl = _at_root(_scan_inline)
scan_p.abstract_eval = _scan_abstract_eval
scan_p.jvp = _scan_jvp
scan_p.transpose = _scan_transpose
scan_p.vmap = _scan_vmap


# ----------------------------------------------------------------------------- Numba lowerings
#
# Branches and loop bodies are emitted inline (`Emitter.nested`) as blocks of the generated
# function. A variable assigned in several places (a cond result, a loop carry) must keep one
# Numba type, so scalars are converted to their dtype and arrays made C-contiguous. Generated
# code never writes into an array it did not just create, so rebinding a carry to a body result
# (even one that aliases another carry) is safe without copying.

def _fixed_type(o, expr: str) -> str:
    """`expr` as a value of the one Numba type of output `o`."""
    if o.aval.shape == ():
        return f"{dtype_expr(o.aval.dtype)}({expr})"
    return f"np.ascontiguousarray({expr})"


def _rebind(outs, exprs) -> list[str]:
    """One statement assigning all `exprs` to `outs` at once (a body may swap its carries)."""
    if not outs:
        return []
    targets = ", ".join(o.expr for o in outs)
    return [f"{targets} = {', '.join(_fixed_type(o, e) for o, e in zip(outs, exprs))}"]


def _emit_block(em, head: str, lines: list[str]):
    em.line(head)
    for s in lines or ["pass"]:
        em.line("    " + s)


def _cond_numba(em, ins, outs, *, branches):
    index, operands = ins[0].expr, [x.expr for x in ins[1:]]
    last = len(branches) - 1
    for i, branch in enumerate(branches):
        lines, results = em.nested(branch, operands)
        lines += _rebind(outs, results)
        if last == 0:
            for s in lines:
                em.line(s)
        else:  # the index is clamped into range, as in the impl
            head = (f"if {index} <= 0:" if i == 0 else "else:" if i == last
                    else f"elif {index} == {i}:")
            _emit_block(em, head, lines)


def _while_numba(em, ins, outs, *, cond_ir, body_ir, n_cond_consts, n_body_consts,
                 max_steps=None):
    cc, bc, init = _split(ins, n_cond_consts, n_body_consts)
    carry = [o.expr for o in outs]
    for line in _rebind(outs, [x.expr for x in init]):
        em.line(line)
    test, (going,) = em.nested(cond_ir, [x.expr for x in cc] + carry)
    body, new = em.nested(body_ir, [x.expr for x in bc] + carry)
    _emit_block(em, "while True:", [*test, f"if not {going}:", "    break", *body,
                                     *_rebind(outs, new)])


def _scan_numba(em, ins, outs, *, body_ir, length, reverse, n_consts, n_carry):
    consts, init, xs = _split(ins, n_consts, n_carry)
    carry, ys = outs[:n_carry], outs[n_carry:]
    for line in _rebind(carry, [x.expr for x in init]):
        em.line(line)
    for y in ys:
        em.line(f"{y.expr} = {em.alloc(y.aval.shape, y.aval.dtype)}")
    step = em.fresh("step")
    slices = [em.fresh("x") for _ in xs]
    body, new = em.nested(body_ir, [*(c.expr for c in consts), *(k.expr for k in carry),
                                    *slices])
    steps = f"range({length - 1}, -1, -1)" if reverse else f"range({length})"
    _emit_block(em, f"for {step} in {steps}:", [
        *(f"{s} = {x.expr}[{step}]" for s, x in zip(slices, xs)), *body,
        *(f"{y.expr}[{step}] = {r}" for y, r in zip(ys, new[n_carry:])),
        *_rebind(carry, new[:n_carry])])


cond_p.numba = _cond_numba
while_p.numba = _while_numba
scan_p.numba = _scan_numba

# batched_cond builds on this module's cond rules; `vmap` of a cond binds it.
from xform.higher_order.batched_cond import batched_cond_p  # noqa: E402
