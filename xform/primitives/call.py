"""The call primitive: one equation that runs a whole closed IR (what `jit` stages).

Its rules transform the IR it holds instead of inlining it, so the derivative or the batched
version of a jitted function is again a call of one (compiled) IR. Derived IRs are memoised on
the IR they came from, so a jitted function is traced and transformed once per signature.
"""
from __future__ import annotations

import numpy as np

from xform.backends.lowering import INLINE
from xform.core import (IR, Primitive, ShapedArray, UndefinedPrimal, Zero, at_root, close_ir,
                        eval_ir, trace_to_ir)
from xform.transforms.simplify import simplify

call_p = Primitive("call")


def call(ir: IR, args, name: str, backend: str) -> list:
    """Bind one call of the closed IR `ir` to `args`."""
    return call_p.bind(*args, ir=ir, name=name, backend=backend)


def _call_impl(*args, ir, name, backend):
    from xform.backends import executable
    return executable(ir, backend)(list(args))


def _call_abstract_eval(*avals, ir, name, backend):
    if list(avals) != ir.in_avals:
        raise TypeError(f"call of {name}: the IR takes {ir.in_avals} but was given "
                        f"{list(avals)}")
    return ir.out_avals


def _derive(ir: IR, key, fn, in_avals, name: str) -> IR:
    """Trace `fn` into a closed, simplified IR once per (ir, key)."""
    derived = ir.derived.get(key)
    if derived is None:
        with at_root():
            derived, consts = trace_to_ir(fn, in_avals, name)
        derived = ir.derived[key] = simplify(close_ir(derived, consts))
    return derived


def _zeros_for(ts, avals):
    return [np.zeros(a.shape, a.dtype) if isinstance(t, Zero) else t for t, a in zip(ts, avals)]


# ----------------------------------------------------------------------------- jvp

def _call_jvp(primals, tangents, *, ir, name, backend):
    from xform.transforms.vjp import linearize_flat
    active = [not isinstance(t, Zero) for t in tangents]
    lin: dict = {}

    def primal_and_residuals(*ps):
        outs, lin["ir"], residuals = linearize_flat(lambda *a: eval_ir(ir, list(a)), list(ps),
                                                    active=active)
        return [*outs, *residuals]
    key = ("primal", tuple(active))
    primal_ir = _derive(ir, key, primal_and_residuals, ir.in_avals, f"jvp_{name}")
    tangent_ir = ir.derived.setdefault(("tangent", key[1]), lin.get("ir"))
    n_out = len(ir.outs)
    res = call(primal_ir, primals, name, backend)
    ts = [t for t in tangents if not isinstance(t, Zero)]
    t_out = call(tangent_ir, [*res[n_out:], *ts], f"jvp_{name}", backend)
    return res[:n_out], t_out


# ----------------------------------------------------------------------------- transpose

def _call_transpose(cts, *args, ir, name, backend):
    from xform.transforms.vjp import backward_pass
    linear = tuple(isinstance(a, UndefinedPrimal) for a in args)
    known_idx = [i for i, lin in enumerate(linear) if not lin]
    lin_idx = [i for i, lin in enumerate(linear) if lin]
    reordered = IR([ir.in_vars[i] for i in known_idx + lin_idx], ir.eqns, ir.outs)
    n_known = len(known_idx)

    def backward(*vals):
        cts_in = backward_pass(reordered, list(vals[:n_known]), list(vals[n_known:]))
        return _zeros_for(cts_in, [ir.in_vars[i].aval for i in lin_idx])
    in_avals = [ir.in_vars[i].aval for i in known_idx] + ir.out_avals
    t_ir = _derive(ir, ("transpose", linear), backward, in_avals, f"transpose_{name}")
    ct_vals = call(t_ir, [*(args[i] for i in known_idx), *_zeros_for(cts, ir.out_avals)],
                   f"transpose_{name}", backend)
    result = [None] * len(args)
    for i, ct in zip(lin_idx, ct_vals):
        result[i] = ct
    return result


# ----------------------------------------------------------------------------- vmap

def _call_vmap(args, bdims, *, ir, name, backend):
    from xform.primitives.structural import moveaxis
    from xform.transforms.vmap import vmap_flat
    size = next(np.shape(a)[d] for a, d in zip(args, bdims) if d is not None)
    batched = tuple(d is not None for d in bdims)
    in_dims = [0 if b else None for b in batched]
    in_avals = [ShapedArray((size, *a.shape), a.dtype) if b else a
                for a, b in zip(ir.in_avals, batched)]

    def batched_fn(*xs):
        return vmap_flat(lambda *x: eval_ir(ir, list(x)), list(xs), in_dims,
                         [0] * len(ir.outs), size)
    b_ir = _derive(ir, ("vmap", batched, size), batched_fn, in_avals, f"vmap_{name}")
    moved = [a if d in (None, 0) else moveaxis(a, d, 0) for a, d in zip(args, bdims)]
    return call(b_ir, moved, f"vmap_{name}", backend), [0] * len(ir.outs)


call_p.impl = _call_impl
call_p.abstract_eval = _call_abstract_eval
call_p.jvp = _call_jvp
call_p.transpose = _call_transpose
call_p.vmap = _call_vmap
call_p.numba = INLINE
