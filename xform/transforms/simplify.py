"""IR simplifications every transform relies on: dead-code and common-subexpression elimination."""
from __future__ import annotations

import numpy as np

from xform.core import IR, Eqn, Literal, Var


def dce(ir: IR) -> IR:
    """Drop equations whose outputs nothing uses (all primitives are pure)."""
    live = {a for a in ir.outs if isinstance(a, Var)}
    kept = []
    for eqn in reversed(ir.eqns):
        if any(v in live for v in eqn.outputs):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    return IR(ir.in_vars, kept, ir.outs)


def _literal_key(lit: Literal):
    val = np.asarray(lit.val)
    if val.size > 64:
        return ("big", id(lit.val))
    return ("lit", val.dtype.str, val.shape, val.tobytes())


def _param_key(value):
    if isinstance(value, IR):
        return ("ir", id(value))
    if isinstance(value, np.ndarray):
        return ("arr", id(value))
    if isinstance(value, (list, tuple)):
        return tuple(_param_key(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return ("obj", id(value))
    return value


def cse(ir: IR) -> IR:
    """Merge equations that apply the same primitive with the same params to the same inputs."""
    rename: dict[Var, Var] = {}
    seen: dict[tuple, list[Var]] = {}
    eqns = []

    def atom(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    def key_of(a):
        return ("var", id(a)) if isinstance(a, Var) else _literal_key(a)

    for eqn in ir.eqns:
        inputs = [atom(a) for a in eqn.inputs]
        key = (eqn.prim.name, tuple(key_of(a) for a in inputs),
               tuple(sorted((k, _param_key(v)) for k, v in eqn.params.items())))
        prev = seen.get(key)
        if prev is not None:
            rename.update(zip(eqn.outputs, prev))
            continue
        seen[key] = eqn.outputs
        eqns.append(Eqn(eqn.prim, inputs, eqn.outputs, eqn.params))
    return IR(ir.in_vars, eqns, [atom(a) for a in ir.outs])


def simplify(ir: IR) -> IR:
    """CSE then DCE: the clean-up run on every IR a transform produces."""
    return dce(cse(ir))
