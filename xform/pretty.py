"""Text form of an IR: typed binders, one equation a line, sorted params, nested IRs indented."""
from __future__ import annotations

import numpy as np

from xform.core import IR, Literal, Var


class _Names:
    """Hands out short names a, b, ..., z, ba, bb, ... in order of first appearance."""

    def __init__(self):
        self.names: dict[Var, str] = {}

    def __call__(self, v: Var) -> str:
        name = self.names.get(v)
        if name is None:
            n = len(self.names)
            name = ""
            while True:
                name = chr(ord("a") + n % 26) + name
                n //= 26
                if n == 0:
                    break
            self.names[v] = name
        return name


def _literal(lit: Literal) -> str:
    val = np.asarray(lit.val)
    if val.ndim == 0:
        return f"{val.item()!r}:{lit.aval}"
    return f"const:{lit.aval}"


def _param(value, indent: int, names: _Names) -> str:
    if isinstance(value, IR):
        body = format_ir(value, indent + 4, names)
        return "\n" + body
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, IR) for v in value):
        return "(" + ",".join("\n" + format_ir(v, indent + 4, names) for v in value) + ")"
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    return repr(value)


def format_ir(ir: IR, indent: int = 0, names: _Names | None = None) -> str:
    names = names or _Names()
    pad = " " * indent

    def atom(a) -> str:
        return _literal(a) if isinstance(a, Literal) else names(a)

    def binder(v: Var) -> str:
        return f"{names(v)}:{v.aval}"

    lines = [f"{pad}{{ lambda {' '.join(binder(v) for v in ir.in_vars)} . let"]
    for eqn in ir.eqns:
        outs = " ".join(binder(v) for v in eqn.outputs)
        params = ""
        if eqn.params:
            params = "[" + " ".join(f"{k}={_param(eqn.params[k], indent + 4, names)}"
                                    for k in sorted(eqn.params)) + "]"
        args = " ".join(atom(a) for a in eqn.inputs)
        lines.append(f"{pad}    {outs} = {eqn.prim.name}{params} {args}")
    lines.append(f"{pad}  in ({', '.join(atom(a) for a in ir.outs)}) }}")
    return "\n".join(lines)
