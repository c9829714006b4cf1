"""Pictures of an IR as Graphviz DOT text, and rendering them to SVG/PNG when Graphviz is there.

Two styles: the dataflow graph (equations as boxes, values flowing along edges) and the
computational graph of the textbooks (inputs and intermediate variables as nodes, operations on
the edges). IRs nested in an equation's params (a jitted call, the branches of a cond, a loop
body) are drawn as clusters. For a derivative program, `seeds` names its tangent or cotangent
inputs: the values the derivative work depends on are coloured apart from the primal ones, and
the primal values it reuses (the residuals) are highlighted, so the reuse that avoids expression
swell is visible.

The module depends on nothing but the standard library: `core.IR.to_dot` passes it the IR and
the printer's namer, so the names match the printed IR.
"""
from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

_PRIMAL, _DERIVATIVE, _RESIDUAL, _INPUT = "#ffffff", "#dbe9f6", "#fdd49e", "#e5f5e0"
_FORMATS = ("svg", "png", "pdf")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _is_literal(a) -> bool:
    return hasattr(a, "val")


def _nested(params: dict):
    """(param name, IR) for every IR held in an equation's params."""
    for key in sorted(params):
        value = params[key]
        irs = value if isinstance(value, (tuple, list)) else (value,)
        for k, ir in enumerate(irs):
            if hasattr(ir, "eqns"):
                yield (f"{key}[{k}]" if len(irs) > 1 else key), ir


def derivative_roles(ir, seeds) -> tuple[set, set]:
    """(values that depend on the `seeds` inputs, primal values used by their equations)."""
    tangent = {ir.in_vars[i] for i in seeds}
    residual = set()
    for eqn in ir.eqns:
        ins = [a for a in eqn.inputs if not _is_literal(a)]
        if any(a in tangent for a in ins):
            tangent.update(eqn.outputs)
            residual.update(a for a in ins if a not in tangent)
    return tangent, residual


class _Writer:
    """Accumulates DOT statements; hands out node ids unique across clusters."""

    def __init__(self, names: Callable, literal_text: Callable):
        self.names, self.literal_text = names, literal_text
        self.lines: list[str] = []
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def node(self, nid: str, label: str, **attrs) -> str:
        extra = "".join(f", {k}={_quote(str(v))}" for k, v in attrs.items())
        self.lines.append(f"  {nid} [label={_quote(label)}{extra}];")
        return nid

    def edge(self, a: str, b: str, label: str = "", **attrs):
        attrs = {"label": label, **attrs} if label else attrs
        text = ", ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items())
        self.lines.append(f"  {a} -> {b}" + (f" [{text}];" if text else ";"))

    def literal(self, a) -> str:
        return self.node(self.fresh("lit"), self.literal_text(a), shape="plaintext")


def _fill(v, roles) -> str:
    tangent, residual = roles
    return _RESIDUAL if v in residual else _DERIVATIVE if v in tangent else _PRIMAL


def _var_label(w: _Writer, v) -> str:
    return f"{w.names(v)}\n{v.aval}"


def _dataflow(w: _Writer, ir, roles, top: bool) -> dict:
    """Equations as boxes; returns where each value comes from (node ids)."""
    source = {}
    for v in ir.in_vars:
        fill = _DERIVATIVE if v in roles[0] else _INPUT if top else _PRIMAL
        source[v] = w.node(w.fresh("in"), _var_label(w, v), shape="ellipse", style="filled",
                           fillcolor=fill)
    for eqn in ir.eqns:
        tangent = any(o in roles[0] for o in eqn.outputs)
        nid = w.node(w.fresh("eq"), eqn.prim.name, shape="box", style="filled",
                     fillcolor=_DERIVATIVE if tangent else _PRIMAL)
        for a in eqn.inputs:
            src = w.literal(a) if _is_literal(a) else source[a]
            label = "" if _is_literal(a) else w.names(a)
            reused = not _is_literal(a) and a in roles[1] and tangent
            w.edge(src, nid, label, **({"color": "#d95f0e", "penwidth": 2} if reused else {}))
        for o in eqn.outputs:
            source[o] = nid
        _clusters(w, eqn, nid, roles, _dataflow)
    _outputs(w, ir, source)
    return source


def _computational(w: _Writer, ir, roles, top: bool) -> dict:
    """Variables as nodes, each operation on the edges from its operands to its results."""
    source = {}
    for v in ir.in_vars:
        bold = {"penwidth": 2} if v in roles[1] else {}
        fill = _INPUT if top and v not in roles[0] else _fill(v, roles)
        source[v] = w.node(w.fresh("v"), _var_label(w, v), shape="ellipse", style="filled",
                           fillcolor=fill, **bold)
    for eqn in ir.eqns:
        outs = []
        for o in eqn.outputs:
            bold = {"penwidth": 2} if o in roles[1] else {}
            source[o] = w.node(w.fresh("v"), _var_label(w, o), shape="ellipse", style="filled",
                               fillcolor=_fill(o, roles), **bold)
            outs.append(source[o])
        for a in eqn.inputs:
            src = w.literal(a) if _is_literal(a) else source[a]
            for nid in outs:
                w.edge(src, nid, eqn.prim.name)
        if outs:
            _clusters(w, eqn, outs[0], roles, _computational)
    _outputs(w, ir, source)
    return source


def _clusters(w: _Writer, eqn, anchor: str, roles, draw):
    for key, inner in _nested(eqn.params):
        cid = w.fresh("cluster_")
        w.lines.append(f"  subgraph {cid} {{")
        w.lines.append(f"  label={_quote(f'{eqn.prim.name}: {key}')}; style=dashed;")
        inner_source = draw(w, inner, (set(), set()), False)
        w.lines.append("  }")
        first = next(iter(inner_source.values()), None)
        if first is not None:
            w.edge(anchor, first, style="dotted", arrowhead="none", lhead=cid)


def _outputs(w: _Writer, ir, source: dict):
    for k, a in enumerate(ir.outs):
        out = w.node(w.fresh("out"), f"out {k}" if len(ir.outs) > 1 else "out",
                     shape="plaintext")
        w.edge(w.literal(a) if _is_literal(a) else source[a], out)


def to_dot(ir, names: Callable, literal_text: Callable, style: str = "computational",
           seeds=(), title: str | None = None) -> str:
    """DOT text of `ir` (see `xform.core.IR.to_dot`)."""
    if style not in ("computational", "dataflow"):
        raise ValueError(f"to_dot: style must be 'computational' or 'dataflow', got {style!r}")
    seeds = tuple(seeds)
    if any(not isinstance(i, int) or not 0 <= i < len(ir.in_vars) for i in seeds):
        raise ValueError(f"to_dot: seeds must be indices of the IR's {len(ir.in_vars)} "
                         f"inputs, got {seeds}")
    roles = derivative_roles(ir, seeds)
    w = _Writer(names, literal_text)
    (_computational if style == "computational" else _dataflow)(w, ir, roles, True)
    head = ["digraph xform {", "  compound=true; rankdir=TB;",
            '  graph [fontname="Helvetica"]; node [fontname="Helvetica", fontsize=11];',
            '  edge [fontname="Helvetica", fontsize=10];']
    if title:
        head.append(f"  label={_quote(title)}; labelloc=t;")
    return "\n".join([*head, *w.lines, "}"]) + "\n"


def _format(path: Path, fmt: str | None) -> str:
    fmt = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if fmt not in _FORMATS:
        raise ValueError(f"render: cannot write {fmt!r}; use one of {', '.join(_FORMATS)} "
                         "(the file's suffix or format=)")
    return fmt


def available() -> bool:
    """Whether Graphviz's `dot` program is installed (both ways of rendering need it)."""
    return shutil.which("dot") is not None


def pipe(dot: str, fmt: str) -> bytes:
    """`dot` rendered to `fmt` bytes through the `graphviz` package, or the `dot` program."""
    if not available():
        raise RuntimeError("rendering needs Graphviz's `dot` program: install Graphviz "
                           "(apt-get install graphviz, brew install graphviz, or conda install "
                           "graphviz) and optionally the Python package (pip install "
                           "'xform[viz]'); to_dot() gives the DOT text without it")
    try:
        graphviz = importlib.import_module("graphviz")
    except ImportError:
        done = subprocess.run(["dot", f"-T{fmt}"], input=dot.encode(), capture_output=True,
                              check=False, timeout=120)
        if done.returncode:
            raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace')}") from None
        return done.stdout
    return graphviz.Source(dot).pipe(format=fmt)


def render(dot: str, path, fmt: str | None = None) -> Path:
    """Write `dot` rendered to `path` (format from its suffix or `fmt`); returns the path."""
    path = Path(path)
    path.write_bytes(pipe(dot, _format(path, fmt)))
    return path
