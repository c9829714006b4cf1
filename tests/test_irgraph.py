"""Pictures of IRs: DOT text (no dependency), rendering through Graphviz when it is installed."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import irgraph

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` program is not installed "
                               "(apt-get install graphviz)")
SVG, PNG = b"<svg", b"\x89PNG\r\n\x1a\n"


def f2(x1, x2):
    return xnp.log(x1) + x1 * x2 - xnp.sin(x2)


def vjp_program():
    """The derivative program of f2 with the output adjoint as its third input."""
    return xf.make_ir(lambda a, b, ybar: xf.vjp(f2, a, b)[1](ybar))(2.0, 5.0, 1.0)


def nested():
    inner = xf.jit(lambda x: xnp.sin(x) * 2.0)
    return xf.make_ir(lambda x: xf.lax.cond(x > 0, lambda a: inner(a) * 3.0,
                                            lambda a: -a, x))(1.0)


def test_printing_is_unchanged():
    assert str(xf.make_ir(lambda x: xnp.sin(x) * 2.0)(1.0)) == (
        "{ lambda a:f64[] . let\n    b:f64[] = sin a\n    c:f64[] = mul b 2.0:f64[]\n"
        "  in (c) }")


def test_computational_graph_has_variables_as_nodes_and_operations_on_edges():
    dot = xf.make_ir(f2)(2.0, 5.0).to_dot()
    labels = re.findall(r'label="([a-g])\\nf64\[\]"', dot)
    assert labels == list("abcdefg")  # the printer's names: inputs, then one per equation
    edges = re.findall(r'-> \w+ \[label="(\w+)"\]', dot)
    assert sorted(edges) == sorted(["log", "mul", "mul", "add", "add", "sin", "sub", "sub"])
    assert dot.startswith("digraph xform {") and dot.rstrip().endswith("}")


def test_dataflow_graph_has_equations_as_boxes():
    dot = xf.make_ir(f2)(2.0, 5.0).to_dot(style="dataflow", title="f2")
    assert dot.count('shape="box"') == 5 and 'label="f2"' in dot


def test_nested_irs_are_clusters():
    dot = nested().to_dot()
    assert dot.count("subgraph cluster_") == 3  # two branches, and the jitted call in one
    assert "cond: branches[1]" in dot and "call: ir" in dot


def test_residuals_of_a_derivative_program():
    ir = vjp_program()
    tangent, residual = irgraph.derivative_roles(ir, [2])
    names = {v: n for v, n in zip(ir.in_vars, "abc")}
    assert ir.in_vars[2] in tangent and not {ir.in_vars[0], ir.in_vars[1]} & tangent
    producers = {e.outputs[0]: e.prim.name for e in ir.eqns}
    reused = sorted(names.get(v) or producers[v] for v in residual)
    assert reused == ["a", "b", "cos", "div"]  # x1, x2, cos(x2) and 1/x1 are reused
    dot = ir.to_dot(seeds=[2])
    assert dot.count('fillcolor="#fdd49e"') == 2 and dot.count("penwidth") == 4


def test_bad_arguments():
    ir = xf.make_ir(f2)(2.0, 5.0)
    with pytest.raises(ValueError, match="style must be"):
        ir.to_dot(style="pretty")
    with pytest.raises(ValueError, match="seeds must be indices"):
        ir.to_dot(seeds=[7])
    with pytest.raises(ValueError, match="cannot write 'gif'"):
        ir.render("graph.gif")


def test_render_without_graphviz_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(irgraph.shutil, "which", lambda name: None)
    ir = xf.make_ir(f2)(2.0, 5.0)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        ir.render(tmp_path / "g.svg")
    assert ir._repr_svg_() is None


@needs_dot
@pytest.mark.parametrize("make", [lambda: xf.make_ir(f2)(2.0, 5.0), vjp_program, nested])
@pytest.mark.parametrize("style", ["computational", "dataflow"])
def test_dot_parses_the_text(make, style):
    done = subprocess.run(["dot", "-Tsvg"], input=make().to_dot(style=style, seeds=()).encode(),
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    assert SVG in done.stdout


@needs_dot
@pytest.mark.parametrize("suffix, magic", [("svg", SVG), ("png", PNG)])
@pytest.mark.parametrize("through", ["package", "binary"])
def test_render_writes_an_image_of_the_right_type(tmp_path, monkeypatch, suffix, magic,
                                                  through):
    if through == "package":
        pytest.importorskip("graphviz", reason="the graphviz Python package is not installed "
                            "(pip install 'xform[viz]')")
    else:
        real = irgraph.importlib.import_module

        def no_package(name):
            if name == "graphviz":
                raise ImportError(name)
            return real(name)
        monkeypatch.setattr(irgraph.importlib, "import_module", no_package)
    path = vjp_program().render(tmp_path / f"graph.{suffix}", seeds=[2])
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(magic) if suffix == "png" else magic in data[:400]


@needs_dot
def test_repr_svg_for_notebooks():
    svg = xf.make_ir(f2)(np.float64(2.0), 5.0)._repr_svg_()
    assert "<svg" in svg and "sin" in svg
