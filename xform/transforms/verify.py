"""The IR verifier: every variable defined once and before use, every equation well typed.

`verify(ir)` re-derives each equation's output types from its inputs with the primitive's
`abstract_eval` and compares them with the types the IR records, through nested IRs too. With
`XFORM_VERIFY_IR=1` in the environment (the test suite sets it), every IR that tracing and the
transformations produce is verified as it is simplified.
"""
from __future__ import annotations

import os

from xform.core import IR, Literal, get_aval

ENABLED = os.environ.get("XFORM_VERIFY_IR", "") == "1"


class IRError(Exception):
    """An IR that is not well formed: a bug in the transformation that produced it."""


def verify(ir: IR) -> IR:
    """Raise IRError naming the first ill-formed equation of `ir` (or a nested IR); else
    return `ir`."""
    defined = set()

    def define(v, where):
        if v in defined:
            raise IRError(f"{where}: the variable {v} is defined twice\n{ir}")
        defined.add(v)

    def use(a, where):
        if isinstance(a, Literal):
            if get_aval(a.val) != a.aval:
                raise IRError(f"{where}: a literal of type {get_aval(a.val)} is typed {a.aval}")
        elif a not in defined:
            raise IRError(f"{where}: {a} is used before it is defined\n{ir}")

    for v in ir.in_vars:
        define(v, "the inputs")
    for i, eqn in enumerate(ir.eqns):
        where = f"equation {i} ({eqn.prim.name})"
        for a in eqn.inputs:
            use(a, where)
        for value in eqn.params.values():
            for nested in value if isinstance(value, tuple) else (value,):
                if isinstance(nested, IR):
                    verify(nested)
        try:
            avals = list(eqn.prim.abstract_eval(*[a.aval for a in eqn.inputs], **eqn.params))
        except TypeError as e:
            raise IRError(f"{where}: its operands do not type-check: {e}\n{ir}") from None
        if avals != [v.aval for v in eqn.outputs]:
            raise IRError(f"{where}: outputs typed {[v.aval for v in eqn.outputs]} but its "
                          f"operands give {avals}\n{ir}")
        for v in eqn.outputs:
            define(v, where)
    for a in ir.outs:
        use(a, "the outputs")
    return ir
