"""IRs derived from IRs: the jvp, linearization, transpose and batched version of a closed IR.

These are the jobs that make a higher-order primitive (a jitted call, cond, while, scan, the
custom-rule primitives, remat) transformable: each rule derives the IR it needs from the IR in
its params and binds the primitive again. A derived IR is traced once, closed, simplified and
memoised on the IR it comes from, so a jitted function is transformed once per signature.
"""
from __future__ import annotations

from typing import Callable

from xform.core import (IR, ShapedArray, Tracer, UndefinedPrimal, Var, Zero, batch_size, close_ir,
                        current_interpreter, eval_ir, instantiate, trace_closed)
from xform.primitives.structural import moveaxis
from xform.transforms.jvp import jvp_flat
from xform.transforms.simplify import simplify
from xform.transforms.vjp import backward_pass, linearize_flat
from xform.transforms.vmap import BatchTracer, vmap_flat


def derived(ir: IR, key, build: Callable):
    """`build()` once per (ir, key): derived IRs are cached on the IR they come from."""
    hit = ir.derived.get(key)
    if hit is None:
        hit = ir.derived[key] = build()
    return hit


def closed(fn: Callable, in_avals, name: str) -> IR:
    """`fn(*flat) -> list` traced into a closed, simplified IR."""
    ir, consts = trace_closed(fn, in_avals, name)
    assert not consts, "a derived IR closes over nothing traced"
    return simplify(ir)


def reorder(ir: IR, order) -> IR:
    """`ir` taking its inputs in the order `order` (indices into its own inputs)."""
    return IR([ir.in_vars[i] for i in order], ir.eqns, ir.outs)


def with_inputs(ir: IR, in_avals, positions) -> IR:
    """`ir` taking inputs of `in_avals`, its own at `positions`, the others unused."""
    in_vars = [Var(a) for a in in_avals]
    for v, p in zip(ir.in_vars, positions):
        in_vars[p] = v
    return IR(in_vars, ir.eqns, ir.outs)


def jvp_ir(ir: IR, active: tuple, want: tuple | None = None, with_primals: bool = True):
    """Forward mode of `ir`: the IR (*inputs, *tangents of active inputs) -> (*outputs, unless
    not `with_primals`, *tangents of the outputs flagged in `want`, zeros as arrays), and
    which outputs have a nonzero tangent."""
    want = (True,) * len(ir.outs) if want is None else want

    def build():
        n, nonzero = len(ir.in_vars), []

        def fn(*args):
            it = iter(args[n:])
            ts = [next(it) if a else Zero(v.aval) for v, a in zip(ir.in_vars, active)]
            outs, t_outs = jvp_flat(lambda *a: eval_ir(ir, list(a)), list(args[:n]), ts)
            nonzero[:] = [not isinstance(t, Zero) for t in t_outs]
            wanted = [instantiate(t) for t, w in zip(t_outs, want) if w]
            return [*outs, *wanted] if with_primals else wanted
        t_avals = [a for a, act in zip(ir.in_avals, active) if act]
        return closed(fn, [*ir.in_avals, *t_avals], "jvp"), tuple(nonzero)
    return derived(ir, ("jvp", active, want, with_primals), build)


def nonzero_tangents(ir: IR, active: tuple) -> tuple:
    """Which outputs of `ir` have a tangent when the `active` inputs have one."""
    return jvp_ir(ir, active, (False,) * len(ir.outs))[1]


def linearize_ir(ir: IR, active: tuple, n_consts: int = 0):
    """Split `ir` for reverse mode into (primal IR, tangent IR, const residual positions).

    The primal IR maps the inputs to (*outputs, *residuals); the tangent IR maps (*const
    residuals, *residuals, *tangents of the active inputs) to the tangents of all outputs.
    Residuals that are constants are inlined, and residuals that are simply one of the first
    `n_consts` inputs are passed as that input ("const residuals"), so that a scan does not
    stack a copy of a loop-invariant value for every iteration.
    """
    def build():
        parts = {}

        def fn(*ps):
            outs, lin, res = linearize_flat(lambda *a: eval_ir(ir, list(a)), list(ps),
                                            active=list(active))
            const_at = {id(p): j for j, p in enumerate(ps[:n_consts])}
            literal = [i for i, r in enumerate(res) if not isinstance(r, Tracer)]
            by_const = [i for i, r in enumerate(res) if id(r) in const_at and i not in literal]
            stacked = [i for i in range(len(res)) if i not in literal and i not in by_const]
            order = [*literal, *by_const, *stacked, *range(len(res), len(lin.in_vars))]
            parts["tangent"] = simplify(close_ir(reorder(lin, order), [res[i] for i in literal]))
            parts["const_pos"] = tuple(const_at[id(res[i])] for i in by_const)
            return [*outs, *(res[i] for i in stacked)]
        primal = closed(fn, ir.in_avals, "linearize")
        return primal, parts["tangent"], parts["const_pos"]
    return derived(ir, ("linearize", active, n_consts), build)


def transpose_ir(ir: IR, linear: tuple) -> IR:
    """The IR (*non-linear inputs, *output cotangents) -> cotangents of the `linear` inputs of
    `ir`, which is linear in those (work on the other inputs is recomputed)."""
    def build():
        known = [i for i, lin in enumerate(linear) if not lin]
        lin_idx = [i for i, lin in enumerate(linear) if lin]
        reordered = reorder(ir, known + lin_idx)

        def fn(*vals):
            cts = backward_pass(reordered, list(vals[:len(known)]), list(vals[len(known):]))
            return [instantiate(ct) for ct in cts]
        in_avals = [*(ir.in_vars[i].aval for i in known), *ir.out_avals]
        return closed(fn, in_avals, "transpose")
    return derived(ir, ("transpose", linear), build)


def transpose_call(ir: IR, args, cts, run: Callable) -> list:
    """The transpose rule of a primitive that runs `ir` on its operands `args` (linear ones
    `UndefinedPrimal`): `run(ir, operands)` binds it on the transposed IR; the result has a
    cotangent for each linear arg and None for the others."""
    linear = tuple(isinstance(a, UndefinedPrimal) for a in args)
    known = [a for a, lin in zip(args, linear) if not lin]
    ct_vals = iter(run(transpose_ir(ir, linear), [*known, *map(instantiate, cts)]))
    return [next(ct_vals) if lin else None for lin in linear]


def vmap_ir(ir: IR, batched: tuple, size: int, force: tuple | None = None):
    """`ir` over a batch of `size` (batched inputs and outputs carry the batch at axis 0) and
    which outputs are batched: those flagged in `force` (default: all) and those a batched
    input reaches."""
    force = (True,) * len(ir.outs) if force is None else force

    def build():
        out_batched = []

        def fn(*xs):
            seen = {}

            def inner(*x):
                seen["interp"] = current_interpreter()
                seen["outs"] = eval_ir(ir, list(x))
                return seen["outs"]

            def out_dims():
                out_batched[:] = [f or (isinstance(o, BatchTracer)
                                        and o.interp is seen["interp"])
                                  for o, f in zip(seen["outs"], force)]
                return [0 if b else None for b in out_batched]
            return vmap_flat(inner, list(xs), [0 if b else None for b in batched], out_dims,
                             size)
        in_avals = [ShapedArray((size, *a.shape), a.dtype) if b else a
                    for a, b in zip(ir.in_avals, batched)]
        return closed(fn, in_avals, "vmap"), tuple(out_batched)
    return derived(ir, ("vmap", batched, size, force), build)


def batch_call(ir: IR, args, bdims, run: Callable):
    """The vmap rule of a primitive that runs `ir` on its operands: `run(ir, operands)` binds
    it on `ir` batched at axis 0 of every batched operand and output."""
    size = batch_size(args, bdims)
    b_ir, _ = vmap_ir(ir, tuple(d is not None for d in bdims), size)
    moved = [a if d in (None, 0) else moveaxis(a, d, 0) for a, d in zip(args, bdims)]
    return run(b_ir, moved), [0] * len(ir.outs)
