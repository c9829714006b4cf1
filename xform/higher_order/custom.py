"""Primitives for user-defined derivatives and rematerialisation, each with all its rules.

- `custom_jvp_call`: runs a closed primal IR; its derivative is the user's JVP rule.
- `custom_vjp_call`: runs a closed primal IR; its derivative runs the user's forward rule and
  records `custom_vjp_lin`, a linear primitive whose transpose is the user's backward rule.
- `remat`: runs a closed IR; its derivative recomputes that IR instead of storing its
  intermediates, so under reverse mode the only residuals are the IR's inputs, and the
  outputs of the equations its `policy` saves.

Each primal IR takes `(*consts, *args)`: values the user's function closed over that are traced
by an enclosing transformation come first (`num_consts` of them), so that every transformation
sees them as ordinary operands. The `ir` param always evaluates to the primitive's meaning, so
the Numba backend inlines it.
"""
from __future__ import annotations

from collections.abc import Callable

from xform.core import (IR, Eqn, Literal, Primitive, UndefinedPrimal, Var, Zero, batch_size,
                        current_interpreter, eval_ir, instantiate, is_float_dtype, using)
from xform.primitives.lowering import INLINE
from xform.primitives.reductions import reduce_sum
from xform.transforms.derive import batch_call, closed, derived, jvp_ir, transpose_call
from xform.transforms.jvp import JVPTracer, jvp_flat, unpack
from xform.transforms.simplify import dce
from xform.transforms.vmap import vmap_flat


class Rule:
    """A user rule adapted to flat lists, labelled so that printed IRs stay readable.

    Rules are params of equations: they hash and compare by identity."""

    __slots__ = ("fn", "label")

    def __init__(self, fn: Callable, label: str):
        self.fn = fn
        self.label = label

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return self.label


# ----------------------------------------------------------------------------- shared rules

def _run_ir(*args, ir, **_):
    return eval_ir(ir, list(args))


def _check_avals(avals, ir: IR, name: str):
    if list(avals) != ir.in_avals:
        raise TypeError(f"{name}: the IR takes {ir.in_avals} but was given {list(avals)}")
    return ir.out_avals


def _batched_dims(bdims, num_consts: int, kind: str, name: str):
    """The batch dims (0 or None, after batch_call moves them) of the non-const operands, and
    a check to run when the rule is used: a batched const is invisible to the custom rule."""
    dims = [None if d is None else 0 for d in bdims]

    def check():
        if any(d is not None for d in dims[:num_consts]):
            raise ValueError(
                f"{kind} function {name} closes over a value batched by an enclosing vmap and "
                "is differentiated inside that vmap, which its custom rule cannot see. Pass "
                "the value as an explicit argument instead.")
    return dims[num_consts:], check


def _float_tangents(ts, avals):
    """Tangents of non-float outputs are symbolic zeros."""
    return [t if is_float_dtype(a.dtype) else Zero(a) for t, a in zip(ts, avals)]


def _check_consts_not_differentiated(tangents, num_consts, kind, name, fix):
    if any(not isinstance(t, Zero) for t in tangents[:num_consts]):
        raise TypeError(
            f"{kind} function {name} is being differentiated with respect to a value it "
            f"closes over, but its custom rule only covers its explicit arguments. {fix}")


# ----------------------------------------------------------------------------- custom_jvp_call

custom_jvp_call_p = Primitive("custom_jvp_call")


def custom_jvp_call(consts, args, *, ir: IR, jvp: Rule, name: str) -> list:
    """Bind the primal IR `ir(*consts, *args)` whose derivative is `jvp(primals, tangents)
    -> (outs, tangents_out)` (flat lists, over `args` only)."""
    return custom_jvp_call_p.bind(*consts, *args, ir=ir, jvp=jvp, num_consts=len(consts),
                                  name=name)


def _custom_jvp_call_abstract_eval(*avals, ir, jvp, num_consts, name):
    return _check_avals(avals, ir, f"custom_jvp function {name}")


def _custom_jvp_call_jvp(primals, tangents, *, ir, jvp, num_consts, name):
    _check_consts_not_differentiated(
        tangents, num_consts, "custom_jvp", name,
        "Pass the value into the custom_jvp function as an argument and extend its JVP rule.")
    outs, t_outs = jvp(list(primals[num_consts:]),
                       [instantiate(t) for t in tangents[num_consts:]])
    return outs, _float_tangents(t_outs, ir.out_avals)


def _custom_jvp_call_vmap(args, bdims, *, ir, jvp, num_consts, name):
    arg_dims, check = _batched_dims(bdims, num_consts, "custom_jvp", name)
    n_out = len(ir.outs)

    size = batch_size(args, bdims)

    def run(b_ir, moved):
        def batched_jvp(primals, tangents):
            check()
            n = len(primals)

            def flat(*xs):
                outs, t_outs = jvp(list(xs[:n]), list(xs[n:]))
                return [*outs, *t_outs]
            res = vmap_flat(flat, [*primals, *tangents], arg_dims * 2, [0] * (2 * n_out), size)
            return res[:n_out], res[n_out:]
        return custom_jvp_call(moved[:num_consts], moved[num_consts:], ir=b_ir,
                               jvp=Rule(batched_jvp, f"vmap({jvp!r})"), name=name)
    return batch_call(ir, args, bdims, run)


def _custom_jvp_call_transpose(cts, *args, ir, jvp, num_consts, name):
    # Reverse mode meets this equation among tangents only when a custom JVP rule applies a
    # custom_jvp function to tangents (solve(A, tb - tA @ x)), linearly: transpose its body.
    return transpose_call(ir, args, cts, eval_ir)


custom_jvp_call_p.impl = custom_jvp_call_p.inline = _run_ir
custom_jvp_call_p.abstract_eval = _custom_jvp_call_abstract_eval
custom_jvp_call_p.jvp = _custom_jvp_call_jvp
custom_jvp_call_p.transpose = _custom_jvp_call_transpose
custom_jvp_call_p.vmap = _custom_jvp_call_vmap
custom_jvp_call_p.numba = INLINE


# ----------------------------------------------------------------------------- custom_vjp_call

custom_vjp_call_p = Primitive("custom_vjp_call")


def custom_vjp_call(consts, args, *, ir: IR, fwd: Rule, bwd: Rule, name: str) -> list:
    """Bind the primal IR `ir(*consts, *args)` with reverse-mode rules over `args` (flat lists):
    `fwd(args) -> (outs, residuals, res_tree)`, `bwd(res_tree, residuals, cts) -> cts_in`."""
    return custom_vjp_call_p.bind(*consts, *args, ir=ir, fwd=fwd, bwd=bwd,
                                  num_consts=len(consts), name=name)


def _custom_vjp_call_abstract_eval(*avals, ir, fwd, bwd, num_consts, name):
    return _check_avals(avals, ir, f"custom_vjp function {name}")


def _custom_vjp_call_jvp(primals, tangents, *, ir, fwd, bwd, num_consts, name):
    _check_consts_not_differentiated(
        tangents, num_consts, "custom_vjp", name,
        "Pass the value into the custom_vjp function as an argument and return its cotangent "
        "from the backward rule.")
    outs, res, res_tree = fwd(list(primals[num_consts:]))
    ts = [instantiate(t) for t in tangents[num_consts:]]
    t_outs = custom_vjp_lin_p.bind(*res, *ts, num_res=len(res), bwd=bwd, res_tree=res_tree,
                                   out_avals=tuple(ir.out_avals), name=name)
    return outs, _float_tangents(t_outs, ir.out_avals)


def _custom_vjp_call_vmap(args, bdims, *, ir, fwd, bwd, num_consts, name):
    arg_dims, check = _batched_dims(bdims, num_consts, "custom_vjp", name)
    size, n_out = batch_size(args, bdims), len(ir.outs)

    def batched_fwd(xs):
        check()
        store = {}

        def flat(*a):
            outs, res, store["res_tree"] = fwd(list(a))
            store["n"] = len(outs) + len(res)
            return [*outs, *res]
        got = vmap_flat(flat, list(xs), arg_dims, lambda: [0] * store["n"], size)
        return got[:n_out], got[n_out:], store["res_tree"]

    def batched_bwd(res_tree, res, cts):
        n_res = len(res)
        cts_in = vmap_flat(lambda *a: bwd(res_tree, list(a[:n_res]), list(a[n_res:])),
                           [*res, *cts], [0] * (n_res + len(cts)), [0] * len(arg_dims), size)
        # An argument shared by the whole batch gets the sum of the per-example cotangents.
        return [ct if d is not None else reduce_sum(ct, (0,)) for ct, d in zip(cts_in, arg_dims)]

    def run(b_ir, moved):
        return custom_vjp_call(moved[:num_consts], moved[num_consts:], ir=b_ir,
                               fwd=Rule(batched_fwd, f"vmap({fwd!r})"),
                               bwd=Rule(batched_bwd, f"vmap({bwd!r})"), name=name)
    return batch_call(ir, args, bdims, run)


custom_vjp_call_p.impl = custom_vjp_call_p.inline = _run_ir
custom_vjp_call_p.abstract_eval = _custom_vjp_call_abstract_eval
custom_vjp_call_p.jvp = _custom_vjp_call_jvp
custom_vjp_call_p.vmap = _custom_vjp_call_vmap
custom_vjp_call_p.numba = INLINE


# ----------------------------------------------------------------------------- custom_vjp_lin

custom_vjp_lin_p = Primitive("custom_vjp_lin")


def _forward_mode(*args, name, **_):
    """Every rule that would run this linear map forward (impl: linearize's f_jvp; jvp;
    vmap: jacfwd; numba: jvp of a jit) says that a custom_vjp function has no forward mode."""
    raise TypeError(
        f"can't apply forward-mode differentiation (jvp, jacfwd, linearize's f_jvp) to the "
        f"custom_vjp function {name}: a custom_vjp rule only defines reverse mode. Use "
        "xf.grad / xf.vjp / xf.jacrev, or define the derivative with xf.custom_jvp, which "
        "supports both modes.")


def _custom_vjp_lin_abstract_eval(*avals, num_res, bwd, res_tree, out_avals, name):
    return list(out_avals)


def _custom_vjp_lin_transpose(cts, *args, num_res, bwd, res_tree, out_avals, name):
    res, lin = args[:num_res], args[num_res:]
    if any(isinstance(r, UndefinedPrimal) for r in res):
        raise TypeError(f"custom_vjp function {name}: its residuals must be known in the "
                        "backward pass")
    cts_in = bwd(res_tree, list(res), list(map(instantiate, cts)))
    return [None] * num_res + [ct if isinstance(a, UndefinedPrimal) else None
                               for a, ct in zip(lin, cts_in)]


custom_vjp_lin_p.impl = custom_vjp_lin_p.jvp = custom_vjp_lin_p.vmap = _forward_mode
custom_vjp_lin_p.numba = _forward_mode
custom_vjp_lin_p.abstract_eval = _custom_vjp_lin_abstract_eval
custom_vjp_lin_p.transpose = _custom_vjp_lin_transpose


# ----------------------------------------------------------------------------- remat

remat_p = Primitive("remat")


def remat(args, *, ir: IR, name: str, policy: Rule | None = None) -> list:
    """Bind `ir(*args)`, to be recomputed rather than stored by reverse mode, except the
    outputs of the equations `policy(prim, *avals, **params)` calls saveable (None: none)."""
    return remat_p.bind(*args, ir=ir, name=name, policy=policy)


def _remat_abstract_eval(*avals, ir, name, policy):
    return _check_avals(avals, ir, f"checkpoint of {name}")


def _remat_jvp(primals, tangents, *, ir, name, policy):
    active = tuple(not isinstance(t, Zero) for t in tangents)
    floats = tuple(is_float_dtype(a.dtype) for a in ir.out_avals)
    ts = [t for t in tangents if not isinstance(t, Zero)]
    if policy is None:
        outs, saved = remat(primals, ir=ir, name=name), []
        # The tangents come from one equation whose only non-tangent operands are the primal
        # inputs (its IR recomputes the primal): under reverse mode they are the sole
        # residuals, and the transpose recomputes the rest.
        tangent_ir, _ = jvp_ir(ir, active, floats, with_primals=False)
    else:
        saving_ir, tangent_ir = _remat_saving(ir, active, floats, policy)
        res = remat(primals, ir=saving_ir, name=name, policy=policy)
        outs, saved = res[:len(ir.outs)], res[len(ir.outs):]
    t_float = iter(remat([*primals, *saved, *ts], ir=tangent_ir, name=name, policy=policy))
    return outs, [next(t_float) if f else Zero(a) for f, a in zip(floats, ir.out_avals)]


def _remat_saving(ir: IR, active: tuple, floats: tuple, policy: Rule):
    """(the IR returning its outputs and then the outputs of the equations `policy` saves;
    the IR of the float output tangents from (*inputs, *saved values, *active tangents), which
    recomputes the other equations but takes the saved ones' values as they are)."""
    def build():
        keep = [e for e in ir.eqns
                if policy.fn(e.prim, *[a.aval for a in e.inputs], **e.params)]
        saved = [v for e in keep for v in e.outputs]
        saving = IR(ir.in_vars, ir.eqns, [*ir.outs, *saved])
        n, kept = len(ir.in_vars), {id(e) for e in keep}

        def tangents(*args):
            it = iter(args[n + len(saved):])
            ts = [next(it) if a else Zero(v.aval) for v, a in zip(ir.in_vars, active)]
            values = dict(zip(saved, args[n:n + len(saved)]))
            _, t_out = jvp_flat(lambda *p: _eval_reusing(ir, list(p), kept, values),
                                list(args[:n]), ts)
            return [instantiate(t) for t, f in zip(t_out, floats) if f]
        t_avals = [a for a, act in zip(ir.in_avals, active) if act]
        tangent_ir = closed(tangents, [*ir.in_avals, *(v.aval for v in saved), *t_avals],
                            "checkpoint")
        return saving, tangent_ir
    return derived(ir, ("remat_saving", active, floats, policy), build)


def _eval_reusing(ir: IR, args: list, kept: set, values: dict) -> list:
    """`eval_ir` under a JVP interpreter, where the equations in `kept` are not run again:
    their outputs are the saved `values`, with the tangents their jvp rules give."""
    jvp = current_interpreter()
    env = dict(zip(ir.in_vars, args))

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    for eqn in ir.eqns:
        ins = [read(a) for a in eqn.inputs]
        if id(eqn) not in kept:
            outs = eqn.prim.bind(*ins, **eqn.params)
        else:
            pairs = [unpack(jvp, x) for x in ins]
            outs = [values[v] for v in eqn.outputs]
            active = tuple(not isinstance(t, Zero) for _, t in pairs)
            if any(active):
                t_ir, nonzero = _jvp_given_outputs(eqn, active)
                ts = [t for _, t in pairs if not isinstance(t, Zero)]
                with using(jvp.parent):
                    t_outs = iter(eval_ir(t_ir, [*(p for p, _ in pairs), *outs, *ts]))
                outs = [JVPTracer(jvp, o, next(t_outs)) if nz else o
                        for o, nz in zip(outs, nonzero)]
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in ir.outs]


def _jvp_given_outputs(eqn: Eqn, active: tuple):
    """The IR (*inputs, *outputs, *tangents of the active inputs) -> the nonzero tangents of
    the outputs of `eqn` by its jvp rule, where the primal outputs the rule computes are
    replaced by the given ones (so that they are not computed again); and which outputs
    have a nonzero tangent."""
    in_avals = [a.aval for a in eqn.inputs]
    n_in, n_out, nonzero = len(eqn.inputs), len(eqn.outputs), []

    def fn(*args):
        it = iter(args[n_in + n_out:])
        ts = [next(it) if a else Zero(aval) for a, aval in zip(active, in_avals)]
        outs, t_outs = eqn.prim.rule("jvp")(list(args[:n_in]), ts, **eqn.params)
        nonzero[:] = [not isinstance(t, Zero) for t in t_outs]
        return [*outs, *(t for t in t_outs if not isinstance(t, Zero))]
    t_avals = [a for a, act in zip(in_avals, active) if act]
    ir = closed(fn, [*in_avals, *(v.aval for v in eqn.outputs), *t_avals], "checkpoint")
    given = dict(zip(ir.outs[:n_out], ir.in_vars[n_in:n_in + n_out]))
    given = {v: g for v, g in given.items() if isinstance(v, Var) and v not in ir.in_vars}

    def sub(a):
        return given.get(a, a) if isinstance(a, Var) else a
    eqns = [Eqn(e.prim, [sub(a) for a in e.inputs], e.outputs, e.params) for e in ir.eqns]
    return dce(IR(ir.in_vars, eqns, [sub(a) for a in ir.outs[n_out:]])), tuple(nonzero)


def _remat_transpose(cts, *args, ir, name, policy):
    return transpose_call(ir, args, cts,
                          lambda t_ir, ops: remat(ops, ir=t_ir, name=name, policy=policy))


def _remat_vmap(args, bdims, *, ir, name, policy):
    return batch_call(ir, args, bdims,
                      lambda b_ir, ops: remat(ops, ir=b_ir, name=name, policy=policy))


remat_p.impl = remat_p.inline = _run_ir
remat_p.abstract_eval = _remat_abstract_eval
remat_p.jvp = _remat_jvp
remat_p.transpose = _remat_transpose
remat_p.vmap = _remat_vmap
remat_p.numba = INLINE
