"""User-facing transformations: flatten pytrees, trace, transform, execute, unflatten."""
from __future__ import annotations

from typing import Callable

from xform import tree
from xform.core import IR, Tracer, close_ir, get_aval, trace_to_ir


def _static_args(args, static_argnums):
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else static_argnums
    n = len(args)
    return {a % n if n else a for a in static_argnums}


def make_ir(fun: Callable, static_argnums=()) -> Callable[..., IR]:
    """The traced IR of `fun` at the shapes and dtypes of the given arguments.

    >>> import xform as xf, xform.numpy as xnp
    >>> print(xf.make_ir(lambda x: xnp.sin(x) * 2.0)(1.0))  # doctest: +NORMALIZE_WHITESPACE
    { lambda a:f64[] . let
        b:f64[] = sin a
        c:f64[] = mul b 2.0:f64[]
      in (c) }
    """
    def traced(*args):
        static = _static_args(args, static_argnums)
        dynamic = [a for i, a in enumerate(args) if i not in static]
        leaves, treedef = tree.flatten(dynamic)
        avals = [get_aval(x) for x in leaves]

        def flat_fun(*flat):
            rebuilt = iter(tree.unflatten(treedef, flat))
            full = [a if i in static else next(rebuilt) for i, a in enumerate(args)]
            out_leaves, _ = tree.flatten(fun(*full))
            return out_leaves
        ir, consts = trace_to_ir(flat_fun, avals, "make_ir")
        if any(isinstance(c, Tracer) for c in consts):
            raise TypeError("make_ir: the function closes over values traced by an enclosing "
                            "transformation; pass them as arguments instead")
        return close_ir(ir, consts)
    return traced

