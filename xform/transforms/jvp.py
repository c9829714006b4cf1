"""Forward mode: push tangents alongside primals, one primitive's `jvp` rule at a time."""
from __future__ import annotations

from xform.core import Interpreter, Tracer, Zero, get_aval, new_interpreter, using


class JVPTracer(Tracer):
    """A primal value paired with its tangent (a dual number)."""

    __slots__ = ("primal", "tangent", "aval")

    def __init__(self, interp, primal, tangent):
        self.interp = interp
        self.primal = primal
        self.tangent = tangent
        self.aval = get_aval(primal)  # a plain attribute: read many times per operation

    def concrete(self):
        p = self.primal
        return p.concrete() if isinstance(p, Tracer) else p


class JVPInterpreter(Interpreter):
    """Applies jvp rules to operations on its own tracers; others pass to the parent."""

    def __init__(self, parent, name: str = "jvp"):
        super().__init__(parent)
        self.name = name

    def process(self, prim, args, params):
        primals, tangents, own, missing = [], [], False, False
        for a in args:
            if isinstance(a, JVPTracer) and a.interp is self:
                own = True
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                primals.append(self.lift(a) if isinstance(a, Tracer) else a)
                tangents.append(None)
                missing = True
        with using(self.parent):
            if not own:
                return prim.bind(*primals, **params)
            if missing:
                tangents = [Zero(get_aval(p)) if t is None else t
                            for p, t in zip(primals, tangents)]
            primals_out, tangents_out = (prim.jvp or prim.rule("jvp"))(primals, tangents,
                                                                        **params)
        return [p if isinstance(t, Zero) else JVPTracer(self, p, t)
                for p, t in zip(primals_out, tangents_out)]


def unpack(interp: JVPInterpreter, x):
    """(primal, tangent) of an output; values the interpreter does not own have zero tangent."""
    if isinstance(x, JVPTracer) and x.interp is interp:
        return x.primal, x.tangent
    return x, Zero(get_aval(x))


def jvp_flat(fun, primals: list, tangents: list, name: str = "jvp"):
    """Run `fun(*flat) -> list` on dual numbers; returns (primals_out, tangents_out) lists,
    tangents possibly `Zero`."""
    with new_interpreter(JVPInterpreter, name) as interp:
        ins = [p if isinstance(t, Zero) else JVPTracer(interp, p, t)
               for p, t in zip(primals, tangents)]
        outs = fun(*ins)
        pairs = [unpack(interp, o) for o in outs]
    return [p for p, _ in pairs], [t for _, t in pairs]
