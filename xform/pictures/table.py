"""`trace_table`: the evaluation trace of a function at a point, with its forward tangents or
its reverse adjoints, one row per elementary operation, in the textbook's layout.

It is an interpretation of the function's IR (like the flop counter): every equation runs on
concrete values and is recorded as a row. Forward mode evaluates each equation's own `jvp` rule
on the tangents of its operands; reverse mode then sweeps the rows backwards, linearizing each
equation and transposing it (the machinery of `xf.vjp`) to send the row's adjoint to its
operands, and maps every contribution back to the row it reaches. So the numbers are the ones
`xf.jvp` and `xf.grad` compute; only the rule text comes from a table of templates
(`xform.pictures.rules`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from xform import tree
from xform.api import make_ir
from xform.core import (Interpreter, Tracer, Zero, at_root, eval_ir, get_aval, instantiate,
                       is_float_dtype, new_interpreter, using)
from xform.pictures import render, rules
from xform.pictures.rules import BAR, DOT, Name
from xform.primitives.elementwise import add
from xform.transforms.vjp import backward_pass, linearize_flat

__all__ = ["Row", "Step", "TraceTable", "trace_table"]

# The higher-order primitives `expand` opens: not loops (their inline rules store into arrays)
# nor custom rules (their derivative is the rule's, not that of their body).
_EXPANDABLE = {"call", "cond", "remat"}


@dataclasses.dataclass(frozen=True)
class Row:
    """One value of the trace: `var = expr` has `value`; `rule` gives its tangent (forward
    mode) or its total adjoint (reverse mode, the sum of what the sweep sent it), `derivative`
    its value. `primitive` names the operation (None for inputs and outputs)."""
    var: str
    expr: str
    value: Any
    rule: str
    derivative: Any
    primitive: str | None


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the reverse sweep: `rule` (e.g. "v̄₀ = v̄₀ + v̄₂·v₋₁") adds `contribution`
    to the adjoint `adjoint`, which is `value` afterwards."""
    adjoint: str
    rule: str
    contribution: Any
    value: Any


class _Node:
    """A value of the trace: an input or one output of an operation."""

    __slots__ = ("depth", "name", "op", "tangent", "value")

    def __init__(self, op, value, tangent, depth: int):
        self.op, self.value, self.tangent, self.depth = op, value, tangent, depth
        self.name: Name | None = None


class _Op:
    """One recorded equation; its operands are nodes or constants."""

    __slots__ = ("depth", "operands", "outs", "params", "prim")

    def __init__(self, prim, params, operands, depth):
        self.prim, self.params, self.operands, self.depth = prim, params, operands, depth
        self.outs: list[_Node] = []


class _Value(Tracer):
    """A value of the traced function while the table is recorded."""

    __slots__ = ("aval", "node")

    def __init__(self, interp, node: _Node):
        self.interp, self.node = interp, node
        self.aval = get_aval(node.value)

    def concrete(self):
        return self.node.value


class _Recorder(Interpreter):
    """Runs each primitive at the root on concrete values and records it; in forward mode it
    also runs the primitive's jvp rule. Higher-order primitives are one row unless `expand`
    (then their inline rule binds their equations here, each recorded)."""

    name = "trace_table"

    def __init__(self, parent, forward: bool, expand: bool):
        super().__init__(parent)
        self.forward, self.expand = forward, expand
        self.ops: list[_Op] = []

    def new_input(self, value, tangent) -> _Value:
        return _Value(self, _Node(None, value, tangent, 0))

    def process(self, prim, args, params):
        if self.expand and prim.name in _EXPANDABLE:
            return prim.inline(*map(_index_as_constant, args), **params)
        operands = [a.node if isinstance(a, _Value) and a.interp is self else self.lift(a)
                    for a in args]
        primals = [o.value if isinstance(o, _Node) else o for o in operands]
        with using(self.parent):
            outs, tangents = self._evaluate(prim, primals, operands, params)
        op = _Op(prim, params, operands,
                 1 + max((o.depth for o in operands if isinstance(o, _Node)), default=0))
        op.outs = [_Node(op, v, t, op.depth) for v, t in zip(outs, tangents)]
        self.ops.append(op)
        return [_Value(self, n) for n in op.outs]

    def _evaluate(self, prim, primals, operands, params):
        tangents = [o.tangent if isinstance(o, _Node) else Zero(get_aval(o)) for o in operands]
        if not self.forward or all(isinstance(t, Zero) for t in tangents):
            outs = prim.bind(*primals, **params)
            return outs, [Zero(get_aval(o)) for o in outs]
        return prim.rule("jvp")(primals, tangents, **params)


def _index_as_constant(x):
    """A branch index or other integer operand of an expanded primitive as its value: it picks
    what runs (it has no derivative), and an inline rule may compute with it."""
    if isinstance(x, _Value) and not is_float_dtype(x.aval.dtype):
        return x.node.value
    return x


def _operand_text(o) -> str:
    return str(o.name) if isinstance(o, _Node) else render.summary(o)


def _differentiable(o) -> bool:
    return isinstance(o, _Node) and is_float_dtype(get_aval(o.value).dtype)


def _describe(op: _Op, k: int) -> tuple[str, list[str]]:
    """(expression, partial per operand) of output `k` of `op`."""
    texts = [_operand_text(o) for o in op.operands]
    out = str(op.outs[k].name)
    if len(op.outs) == 1:
        return rules.operation(op.prim.name, texts, out, op.params)
    expr, partials = rules.operation("", texts, out, op.params)
    return f"{op.prim.name}{expr}[{k}]", partials


class TraceTable:
    """The evaluation trace of a function at a point: `rows` (inputs, one row per elementary
    operation, outputs) and, in reverse mode, the adjoint sweep `steps`; `derivative` is the
    output tangent (forward) or the input adjoints (reverse). Prints in the textbook layout;
    `to_markdown()` and, in notebooks, `_repr_html_` render it as tables."""

    def __init__(self, mode: str, rows: list[Row], steps: list[Step], derivative, seed_text):
        self.mode, self.rows, self.steps = mode, rows, steps
        self.derivative, self.seed_text = derivative, seed_text

    def _blocks(self) -> list[tuple[str, list[str], list[list[str]]]]:
        if self.mode == "forward":
            lines = [[f"{r.var} = {r.expr}", f"= {render.summary(r.value)}", "│", r.rule,
                      f"= {render.summary(r.derivative)}"] for r in self.rows]
            title = f"Forward primal trace and tangent trace ({self.seed_text})"
            return [(title, ["primal", "value", "│", "tangent", "value"], lines)]
        primal = [[f"{r.var} = {r.expr}", f"= {render.summary(r.value)}"] for r in self.rows]
        sweep = [[s.rule, f"= {render.summary(s.value)}"] for s in self.steps]
        return [("Forward primal trace", ["primal", "value"], primal),
                (f"Reverse adjoint trace ({self.seed_text})", ["adjoint", "value"], sweep)]

    def __str__(self):
        return "\n\n".join(render.text_block(*b) for b in self._blocks())

    __repr__ = __str__

    def to_markdown(self) -> str:
        return "\n\n".join(render.markdown_block(t, h, [[c for c in r if c != "│"]
                                                        for r in lines])
                           for t, h, lines in self._blocks())

    def _repr_html_(self) -> str:
        return "".join(render.html_block(t, [c for c in h if c != "│"],
                                         [[c for c in r if c != "│"] for r in lines])
                       for t, h, lines in self._blocks())


def _leaf_names(n: int) -> list[Name]:
    return [Name("x")] if n == 1 else [Name("x", i + 1) for i in range(n)]


def _arg_leaves(args, positions) -> set[int]:
    """Indices into the flat leaves of `args` of the leaves of the arguments at `positions`."""
    found, start = set(), 0
    for i, a in enumerate(args):
        n = len(tree.leaves(a))
        if i in positions:
            found.update(range(start, start + n))
        start += n
    return found


def _positions(wrt, nargs: int) -> tuple:
    ps = (wrt,) if isinstance(wrt, int) else tuple(wrt)
    for p in ps:
        if not isinstance(p, int) or not -nargs <= p < nargs:
            raise ValueError(f"trace_table: wrt={wrt!r} must name argument positions "
                             f"(ints below {nargs})")
    return tuple(p % nargs for p in ps)


def _record(fun, args, forward: bool, tangents, expand: bool):
    ir = make_ir(fun)(*args)
    leaves = [np.asarray(x) for x in tree.leaves(list(args))]
    with at_root(), new_interpreter(_Recorder, forward, expand) as rec:
        ins = [rec.new_input(x, t) for x, t in zip(leaves, tangents)]
        outs = eval_ir(ir, ins)
    out_nodes = [o.node if isinstance(o, _Value) else np.asarray(o) for o in outs]
    return rec.ops, [i.node for i in ins], out_nodes


def _name_all(inputs: list[_Node], ops: list[_Op]):
    n = len(inputs)
    for i, node in enumerate(inputs):
        node.name = Name("v", i - n + 1)
    k = 0
    for op in ops:
        for node in op.outs:
            k += 1
            node.name = Name("v", k)


def _tangent_value(node: _Node):
    """The tangent of a node as an array; an integer or boolean value has a zero tangent."""
    if not _differentiable(node):
        return np.zeros(np.shape(node.value))
    return instantiate(node.tangent)


def _out_names(n: int) -> list[Name]:
    return [Name("y")] if n == 1 else [Name("y", i + 1) for i in range(n)]


def _forward(ops, inputs, outs, leaf_names) -> tuple[list[Row], Any]:
    rows = [Row(str(n.name), str(x), n.value, f"{n.name.mark(DOT)} = {x.mark(DOT)}",
                _tangent_value(n), None) for n, x in zip(inputs, leaf_names)]
    for op in ops:
        for k, node in enumerate(op.outs):
            expr, partials = _describe(op, k)
            terms = [rules.tangent_term(p, o.name.mark(DOT))
                     for o, p in zip(op.operands, partials) if _differentiable(o)]
            if not _differentiable(node):
                terms = []
            rows.append(Row(str(node.name), expr, node.value,
                            f"{node.name.mark(DOT)} = {rules.total(terms)}",
                            _tangent_value(node), op.prim.name))
    derivative = []
    for y, o in zip(_out_names(len(outs)), outs):
        node = o if isinstance(o, _Node) else None
        t = _tangent_value(node) if node else np.zeros(np.shape(o))
        src = node.name.mark(DOT) if node else "0"
        rows.append(Row(str(y), _operand_text(o), node.value if node else o,
                        f"{y.mark(DOT)} = {src}", t, None))
        derivative.append(t)
    return rows, derivative[0] if len(derivative) == 1 else tuple(derivative)


class _Sweep:
    """The reverse sweep over recorded operations: adjoints, steps and per-node terms."""

    def __init__(self):
        self.adjoint: dict[_Node, Any] = {}
        self.terms: dict[_Node, list[str]] = {}
        self.steps: list[Step] = []

    def send(self, node: _Node, ct, term: str):
        bar = node.name.mark(BAR)
        prev = self.adjoint.get(node)
        if prev is None:
            value, rule = ct, f"{bar} = {term}"
        else:
            value, rule = add(prev, ct), f"{bar} = {rules.total([bar, term])}"
        self.adjoint[node] = value
        self.terms.setdefault(node, []).append(term)
        self.steps.append(Step(bar, rule, ct, value))

    def through(self, op: _Op):
        cts = [self.adjoint.get(n) for n in op.outs]
        active = [_differentiable(o) for o in op.operands]
        if all(c is None for c in cts) or not any(active):
            return
        primals = [o.value if isinstance(o, _Node) else o for o in op.operands]
        _, lin, consts = linearize_flat(lambda *a: op.prim.bind(*a, **op.params), primals,
                                        active=active)
        cts_in = iter(backward_pass(lin, consts, [Zero(get_aval(n.value)) if c is None else c
                                                  for n, c in zip(op.outs, cts)]))
        described = [_describe(op, k)[1] for k in range(len(op.outs))]
        for j, (o, act) in enumerate(zip(op.operands, active)):
            ct = next(cts_in) if act else None
            if ct is None or isinstance(ct, Zero):
                continue
            term = " + ".join(rules.adjoint_term(n.name.mark(BAR), d[j])
                              for n, c, d in zip(op.outs, cts, described) if c is not None)
            self.send(o, ct, f"({term})" if " + " in term else term)


def _reverse(ops, inputs, outs, leaf_names, seeds, wanted):
    sweep = _Sweep()
    rows = [Row(str(n.name), str(x), n.value, "", None, None) for n, x in zip(inputs, leaf_names)]
    for op in ops:
        rows += [Row(str(n.name), _describe(op, k)[0], n.value, "", None, op.prim.name)
                 for k, n in enumerate(op.outs)]
    names = _out_names(len(outs))
    for y, o, s in zip(names, outs, seeds):
        rows.append(Row(str(y), _operand_text(o), o.value if isinstance(o, _Node) else o,
                        f"{y.mark(BAR)}", s, None))
        if isinstance(o, _Node):
            sweep.send(o, s, y.mark(BAR))
    for op in reversed(ops):
        sweep.through(op)
    nodes = inputs + [n for op in ops for n in op.outs]
    for i, (row, node) in enumerate(zip(rows, nodes)):
        adj = sweep.adjoint.get(node)
        rows[i] = dataclasses.replace(
            row, rule=f"{node.name.mark(BAR)} = {rules.total(sweep.terms.get(node, []))}",
            derivative=np.zeros_like(node.value) if adj is None else adj)
    derivative = []
    for i in sorted(wanted):
        node, x = inputs[i], leaf_names[i]
        value = rows[i].derivative
        sweep.steps.append(Step(x.mark(BAR), f"{x.mark(BAR)} = {node.name.mark(BAR)}", value,
                                value))
        derivative.append(value)
    return rows, sweep.steps, derivative[0] if len(derivative) == 1 else tuple(derivative)


def _check_floating(args, positions):
    for p in positions:
        for leaf in tree.leaves(args[p]):
            if not is_float_dtype(np.asarray(leaf).dtype):
                raise TypeError(f"trace_table: argument {p} has dtype "
                                f"{np.asarray(leaf).dtype}, which has no derivative; pass "
                                "floats or choose other arguments with wrt=")


def _seeds_in(args, positions, seed) -> list:
    """The input tangents of forward mode: `seed` (a pytree like the arguments) or ones on the
    leaves of the arguments at `positions` and zeros elsewhere."""
    leaves = [np.asarray(x) for x in tree.leaves(list(args))]
    if seed is not None:
        given = [np.asarray(t) for t in tree.leaves(list(seed))]
        if [g.shape for g in given] != [x.shape for x in leaves]:
            raise ValueError("trace_table: seed must have the structure and shapes of the "
                             "arguments (one tangent per argument)")
        return [t.astype(x.dtype) if is_float_dtype(x.dtype) else Zero(get_aval(x))
                for t, x in zip(given, leaves)]
    chosen = _arg_leaves(args, positions)
    return [(np.ones_like(x) if i in chosen else np.zeros_like(x))
            if is_float_dtype(x.dtype) else Zero(get_aval(x)) for i, x in enumerate(leaves)]


def _seeds_out(outs, seed) -> list:
    if seed is None:
        return [np.ones_like(o.value if isinstance(o, _Node) else o) for o in outs]
    given = [np.asarray(s) for s in tree.leaves(seed)]
    if len(given) != len(outs):
        raise ValueError(f"trace_table: seed must give one adjoint per output ({len(outs)})")
    return given


def trace_table(fun: Callable, mode: str = "forward", wrt=None, *, seed=None,
                expand: bool = False, order: str = "depth") -> Callable[..., TraceTable]:
    """The evaluation trace table of `fun` at the given arguments.

    Forward mode seeds the tangents of the arguments at positions `wrt` (default 0) with ones
    (or uses `seed`, tangents shaped like the arguments) and shows each row's tangent v̇ᵢ.
    Reverse mode seeds the output adjoint with ones (or `seed`), sweeps back once and shows
    every adjoint contribution, then the adjoints of the arguments at `wrt` (default: all).
    Rows are ordered by depth in the dataflow graph (as textbooks number them; a valid order
    of evaluation) or with `order="program"` as the IR has them. A higher-order primitive
    (a jitted call, cond, scan, a custom rule) is one row; `expand=True` shows the rows of
    jitted calls, cond branches and checkpointed functions instead (loops and functions with
    custom derivative rules stay one row: their derivative is the rule's).

    >>> import xform as xf, xform.numpy as xnp
    >>> t = xf.trace_table(lambda a, b: xnp.log(a) + a * b - xnp.sin(b), "reverse")(2.0, 5.0)
    >>> [float(d) for d in t.derivative]
    [5.5, 1.7163378145367738]
    >>> t.steps[-2].rule
    'x̄₁ = v̄₋₁'
    """
    if mode not in ("forward", "reverse"):
        raise ValueError(f"trace_table: mode must be 'forward' or 'reverse', got {mode!r}")
    if order not in ("depth", "program"):
        raise ValueError(f"trace_table: order must be 'depth' or 'program', got {order!r}")

    def table(*args) -> TraceTable:
        forward = mode == "forward"
        positions = _positions((0 if forward else range(len(args))) if wrt is None else wrt,
                               len(args))
        if wrt is not None or forward:
            _check_floating(args, positions)
        tangents = _seeds_in(args, positions, seed if forward else None)
        ops, inputs, outs = _record(fun, args, forward, tangents, expand)
        if order == "depth":
            ops = sorted(ops, key=lambda op: op.depth)
        _name_all(inputs, ops)
        names = _leaf_names(len(inputs))
        if forward:
            rows, derivative = _forward(ops, inputs, outs, names)
            seeded = [x.mark(DOT) for x, t in zip(names, tangents)
                      if not isinstance(t, Zero) and np.any(t)]
            value = "1" if seed is None else "seed"
            return TraceTable(mode, rows, [], derivative,
                              f"seed {', '.join(seeded) or 'none'} = {value}")
        with at_root():
            rows, steps, derivative = _reverse(ops, inputs, outs, names, _seeds_out(outs, seed),
                                               _arg_leaves(args, positions))
        ybar = ", ".join(y.mark(BAR) for y in _out_names(len(outs)))
        return TraceTable(mode, rows, steps, derivative,
                          f"seed {ybar} = {'1' if seed is None else 'seed'}")
    return table
