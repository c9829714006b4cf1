"""The call primitive: one equation that runs a whole closed IR (what `jit` stages).

Its rules transform the IR it holds instead of inlining it, so the derivative or the batched
version of a jitted function is again a call of one (compiled) IR. How a call runs is up to
the backend named in its params; backends register themselves in `RUNNERS`.
"""
from __future__ import annotations

from typing import Callable

from xform.core import IR, Primitive, Zero, eval_ir
from xform.primitives.lowering import INLINE
from xform.transforms.derive import batch_call, linearize_ir, transpose_call

call_p = Primitive("call")

# backend name -> ((closed IR, runner key) -> callable running it on a list of arrays); the
# runner key is the `backend` param: a backend name, optionally with ":<compile mode>"
RUNNERS: dict[str, Callable[[IR, str], Callable[[list], list]]] = {}


def call(ir: IR, args, name: str, backend: str) -> list:
    """Bind one call of the closed IR `ir` to `args`."""
    return call_p.bind(*args, ir=ir, name=name, backend=backend)


def _call_impl(*args, ir, name, backend):
    return RUNNERS[backend.partition(":")[0]](ir, backend)(list(args))


def _call_abstract_eval(*avals, ir, name, backend):
    if list(avals) != ir.in_avals:
        raise TypeError(f"call of {name}: the IR takes {ir.in_avals} but was given "
                        f"{list(avals)}")
    return ir.out_avals


def _call_jvp(primals, tangents, *, ir, name, backend):
    active = tuple(not isinstance(t, Zero) for t in tangents)
    primal_ir, tangent_ir, _ = linearize_ir(ir, active)
    n_out = len(ir.outs)
    res = call(primal_ir, primals, name, backend)
    ts = [t for t in tangents if not isinstance(t, Zero)]
    return res[:n_out], call(tangent_ir, [*res[n_out:], *ts], f"jvp_{name}", backend)


def _call_transpose(cts, *args, ir, name, backend):
    return transpose_call(ir, args, cts,
                          lambda t_ir, ops: call(t_ir, ops, f"transpose_{name}", backend))


def _call_vmap(args, bdims, *, ir, name, backend):
    return batch_call(ir, args, bdims, lambda b_ir, ops: call(b_ir, ops, f"vmap_{name}", backend))


call_p.impl = _call_impl
call_p.inline = lambda *args, ir, name, backend: eval_ir(ir, list(args))
call_p.abstract_eval = _call_abstract_eval
call_p.jvp = _call_jvp
call_p.transpose = _call_transpose
call_p.vmap = _call_vmap
call_p.numba = INLINE
