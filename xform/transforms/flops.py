"""Counting floating-point operations: an interpretation of the IR that runs it and counts.

Each first-order primitive on floating-point operands costs what its family says (an
elementwise operation one flop per output element, a reduction one per input element, a product
2mnk, a decomposition its usual leading term, data movement nothing); a higher-order primitive
is run through its `inline` rule, so the count looks inside branches (the one taken), loops
(every trip) and jitted or custom calls. Counts are exact for the values given: a while loop
counts the trips it makes.
"""
from __future__ import annotations

import math
from collections import Counter

from xform.core import (IR, Interpreter, Primitive, eval_ir, get_aval, is_float_dtype,
                        new_interpreter, using)
from xform.primitives import elementwise, reductions, special


class FlopCount(Counter):
    """Floating-point operations per primitive name; `.total` sums them."""

    @property
    def total(self) -> int:
        return sum(self.values())

    def __repr__(self):
        parts = ", ".join(f"{k}: {v:,}" for k, v in self.most_common())
        return f"FlopCount(total={self.total:,}; {parts})"


def _family(module) -> set[Primitive]:
    return {p for p in vars(module).values() if isinstance(p, Primitive)}


_ELEMENTWISE = _family(elementwise) | _family(special)
_REDUCTIONS = _family(reductions)
_MOVES = {"select", "convert_element_type", "stop_gradient"}  # elementwise, but no arithmetic


def _dot_general(ins, outs, dimension_numbers):
    (lc, _), _ = dimension_numbers
    return 2 * outs[0].size * math.prod(ins[0].shape[d] for d in lc)


def _stack(a):
    """(number of matrices in a stack, rows, columns) of a (..., m, n) operand."""
    *batch, m, n = a.shape
    return math.prod(batch), m, n


def _square(cost):
    """A decomposition of a stack of n x n matrices costing `cost(n)` each."""
    def rule(ins, outs, **_):
        b, n, _ = _stack(ins[0])
        return b * cost(n)
    return rule


def _qr_svd(cost):
    def rule(ins, outs, **_):
        b, m, n = _stack(ins[0])
        return b * cost(max(m, n), min(m, n))
    return rule


def _solve(factor):
    """Solving with a stack of n x n matrices: `factor(n)` to factor each, n^2 per right-hand
    side (triangular solves), twice over for an LU factorisation."""
    def rule(ins, outs, **_):
        b, n, _ = _stack(ins[0])
        rhs = outs[0].size // max(b * n, 1)
        return b * (factor(n) + (n * n if factor(n) == 0 else 2 * n * n) * rhs)
    return rule


def _conv(ins, outs, dimension_numbers, **_):
    """A multiply and an add per output element and kernel tap (input features x taps)."""
    _, rhs_spec, _ = dimension_numbers
    return 2 * outs[0].size * math.prod(ins[1].shape[d] for d in rhs_spec[1:])


def _window(ins, outs, window_dimensions, **_):
    return outs[0].size * math.prod(window_dimensions) if is_float_dtype(ins[0].dtype) else 0


# Leading terms of the usual operation counts (Golub and Van Loan).
_COSTS = {
    "dot_general": _dot_general,
    "triangular_solve": _solve(lambda n: 0),
    "solve": _solve(lambda n: 2 * n ** 3 // 3),
    "cholesky": _square(lambda n: n ** 3 // 3),
    "det": _square(lambda n: 2 * n ** 3 // 3),
    "slogdet": _square(lambda n: 2 * n ** 3 // 3),
    "eigh": _square(lambda n: 9 * n ** 3),
    "qr": _qr_svd(lambda m, n: 2 * m * n * n - 2 * n ** 3 // 3),
    "svd": _qr_svd(lambda m, n: 4 * m * n * n + 8 * n ** 3),
    "lu": _square(lambda n: 2 * n ** 3 // 3),
    "conv_general_dilated": _conv,
    **{f"reduce_window_{kind}": _window for kind in ("sum", "max", "min")},
}


def cost(prim: Primitive, ins, outs, params) -> int:
    """The flops of one application of a first-order primitive to operands of avals `ins`."""
    rule = _COSTS.get(prim.name)
    if rule is not None:
        return int(rule(ins, outs, **params))
    if not ins or not is_float_dtype(ins[-1].dtype) or prim.name in _MOVES:
        return 0
    if prim in _ELEMENTWISE:
        return sum(o.size for o in outs)
    return ins[0].size if prim in _REDUCTIONS else 0  # the others move data


class FlopCounter(Interpreter):
    """Runs each primitive at the root and adds its cost; higher-order ones are inlined."""

    name = "count_flops"

    def __init__(self, parent):
        super().__init__(parent)
        self.counts = FlopCount()

    def process(self, prim, args, params):
        if prim.inline is not None:
            return prim.inline(*args, **params)
        with using(self.parent):
            outs = prim.bind(*args, **params)
        flops = cost(prim, [get_aval(a) for a in args], [get_aval(o) for o in outs], params)
        if flops:
            self.counts[prim.name] += flops
        return outs


def count_ir(ir: IR, args: list) -> FlopCount:
    """The flops of running `ir` on the concrete `args`, per primitive."""
    with new_interpreter(FlopCounter) as counter:
        eval_ir(ir, list(args))
    return counter.counts
