"""Reverse mode: linearize (jvp + partial evaluation), then transpose the linear IR.

Linearizing runs the function on dual numbers whose tangents are traced into an IR while the
primal work runs at once in the enclosing interpreter: Python control flow sees concrete primal
values, and the forward values the tangent IR needs become its constants (the residuals), so the
backward pass reuses them instead of recomputing them.
"""
from __future__ import annotations

from xform.core import (IR, Literal, TraceInterpreter, UndefinedPrimal, Var, Zero, get_aval,
                        instantiate, is_float_dtype, new_interpreter)
from xform.primitives.elementwise import add
from xform.transforms.jvp import JVPInterpreter, JVPTracer, unpack
from xform.transforms.simplify import dce


def linearize_flat(fun, primals: list, n_aux: int = 0, name: str = "linearize",
                   active: list[bool] | None = None):
    """Run `fun(*flat) -> list`, returning (primal outputs, linear IR, its consts).

    The IR maps (*consts, *tangents of the active inputs) to the tangents of all but the last
    `n_aux` outputs. Inputs are active by default when they are floating point.
    """
    if active is None:
        active = [is_float_dtype(get_aval(p).dtype) for p in primals]
    with new_interpreter(TraceInterpreter, name) as lin:
        t_in = [lin.new_arg(get_aval(p)) for p, a in zip(primals, active) if a]
        with new_interpreter(JVPInterpreter, name) as jvp:
            it = iter(t_in)
            outs = fun(*[JVPTracer(jvp, p, next(it)) if a else p
                         for p, a in zip(primals, active)])
            pairs = [unpack(jvp, o) for o in outs]
        n_lin = len(pairs) - n_aux
        t_out = [instantiate(t) for _, t in pairs[:n_lin]]
        ir, consts = lin.finish(t_in, t_out)
    return [p for p, _ in pairs], dce(ir), consts


def backward_pass(ir: IR, consts: list, cts_out: list) -> list:
    """Transpose the IR, linear in its inputs after `consts`: cotangents of its outputs to
    cotangents of its linear inputs. Equations on known values only (work on primal values
    inside a loop body or a custom rule's tangent code) are evaluated forward first."""
    known = dict(zip(ir.in_vars[:len(consts)], consts))
    forward = _evaluate_known(ir, known)
    ct_env: dict[Var, object] = {}

    def accumulate(v, ct):
        if ct is None or isinstance(ct, Zero) or not isinstance(v, Var) or v in known:
            return
        prev = ct_env.get(v)
        ct_env[v] = ct if prev is None else add(prev, ct)

    for v, ct in zip(ir.outs, cts_out):
        accumulate(v, ct)
    for eqn in reversed(ir.eqns):
        if forward and id(eqn) in forward:
            continue
        if len(eqn.outputs) == 1:  # the common case, without building lists to inspect
            ct = ct_env.pop(eqn.outputs[0], None)
            if ct is None:
                continue
            cts = [ct]
        else:
            cts = [ct_env.pop(v, None) for v in eqn.outputs]
            if all(ct is None for ct in cts):
                continue
            cts = [Zero(v.aval) if ct is None else ct for v, ct in zip(eqn.outputs, cts)]
        invals = [a.val if isinstance(a, Literal) else
                  known[a] if a in known else UndefinedPrimal(a.aval) for a in eqn.inputs]
        cts_in = (eqn.prim.transpose or eqn.prim.rule("transpose"))(cts, *invals, **eqn.params)
        for a, ct in zip(eqn.inputs, cts_in):
            accumulate(a, ct)
    lin_in = ir.in_vars[len(consts):]
    return [ct_env.get(v, Zero(v.aval)) for v in lin_in]


def _evaluate_known(ir: IR, known: dict) -> set[int]:
    """Run the equations whose inputs are all known, adding their outputs to `known`; the ids
    of those equations (none in the IRs linearize makes, whose equations all use a tangent)."""
    done = set()
    for eqn in ir.eqns:
        for a in eqn.inputs:
            if isinstance(a, Var) and a not in known:
                break
        else:
            outs = eqn.prim.bind(*[a.val if isinstance(a, Literal) else known[a]
                                   for a in eqn.inputs], **eqn.params)
            known.update(zip(eqn.outputs, outs))
            done.add(id(eqn))
    return done


def vjp_flat(fun, primals: list, n_aux: int = 0, name: str = "vjp"):
    """(primal outputs, backward) where backward(cts) -> cotangents of the primals (or Zero)."""
    outs, ir, consts = linearize_flat(fun, primals, n_aux, name)

    def backward(cts):
        return backward_pass(ir, consts, cts)
    return outs, backward
