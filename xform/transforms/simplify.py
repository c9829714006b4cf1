"""IR simplifications every transform relies on: dead-code and common-subexpression elimination."""
from __future__ import annotations

import numpy as np

from xform.core import IR, Eqn, Literal, Var, has_effect
from xform.transforms import verify


def dce(ir: IR) -> IR:
    """Drop equations whose outputs nothing uses, unless their primitive has an effect."""
    live = set(ir.outs)  # literals among these and the inputs below are harmless
    kept = []
    for eqn in reversed(ir.eqns):
        if has_effect(eqn.prim, eqn.params):
            kept.append(eqn)
            live.update(eqn.inputs)
            continue
        for v in eqn.outputs:
            if v in live:
                kept.append(eqn)
                live.update(eqn.inputs)
                break
    kept.reverse()
    out = IR(ir.in_vars, kept, ir.outs)
    return verify.verify(out) if verify.ENABLED else out


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
    """Merge equations that apply the same primitive with the same params to the same inputs
    (equations with an effect all stay: each one happens)."""
    rename: dict[Var, Var] = {}
    seen: dict[tuple, list[Var]] = {}
    eqns = []

    def atom(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    def key_of(a):
        return ("var", id(a)) if isinstance(a, Var) else _literal_key(a)

    for eqn in ir.eqns:
        inputs = [atom(a) for a in eqn.inputs]
        if has_effect(eqn.prim, eqn.params):
            eqns.append(Eqn(eqn.prim, inputs, eqn.outputs, eqn.params))
            continue
        key = (eqn.prim.name, tuple(key_of(a) for a in inputs),
               tuple(sorted((k, _param_key(v)) for k, v in eqn.params.items())))
        prev = seen.get(key)
        if prev is not None:
            rename.update(zip(eqn.outputs, prev))
            continue
        seen[key] = eqn.outputs
        eqns.append(Eqn(eqn.prim, inputs, eqn.outputs, eqn.params))
    return IR(ir.in_vars, eqns, [atom(a) for a in ir.outs])


_IDENTITY = {"mul": 1, "add": 0}  # x * 1 == x and x + 0 == x


def _is_constant(a, value) -> bool:
    return isinstance(a, Literal) and bool(np.all(np.asarray(a.val) == value))


def fold_identities(ir: IR) -> IR:
    """Drop multiplications by one and additions of zero (e.g. the unit seed of a gradient)."""
    rename: dict[Var, object] = {}
    eqns = []

    def atom(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    for eqn in ir.eqns:
        inputs = [atom(a) for a in eqn.inputs]
        unit = _IDENTITY.get(eqn.prim.name)
        if unit is not None and not eqn.params:
            out = eqn.outputs[0]
            for a, b in (inputs, inputs[::-1]):
                if _is_constant(a, unit) and b.aval == out.aval:
                    rename[out] = b
                    break
            if out in rename:
                continue
        eqns.append(Eqn(eqn.prim, inputs, eqn.outputs, eqn.params))
    return IR(ir.in_vars, eqns, [atom(a) for a in ir.outs])


def simplify(ir: IR) -> IR:
    """Identity folding, CSE, then DCE: the clean-up run on every IR a transform produces."""
    return dce(cse(fold_identities(ir)))
