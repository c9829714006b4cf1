"""xform's layers import downward only, and its packages import each other without cycles.

core <- primitives <- transforms <- higher_order <- backends <- the numpy layer <- api. Every
import counts, also the ones inside functions (where a cycle would otherwise hide).
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "xform"

# Each unit is a package or a top-level module of xform; its layer may import from its own
# and the lower layers only.
LAYERS = [
    {"core", "tree", "tree_util", "irgraph"},
    {"primitives"},
    {"transforms"},
    {"higher_order"},
    {"backends"},
    {"numpy", "scipy", "lax", "lax_ops", "custom", "nn", "debug", "random", "sparse"},
    {"api", "optim", "test_util", "__init__", "example_libraries", "staging", "devices",
     "config", "derivative_helpers", "pictures", "taylor", "dask"},
]
LAYER = {unit: k for k, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str:
    """`xform.primitives.elementwise` -> `primitives`; `xform` itself -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> dict[str, set[str]]:
    """Every xform module (dotted name) and the xform modules it imports anywhere in it."""
    found = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from xform import tree` imports the module xform.tree; `from xform.core
                # import IR` imports xform.core (resolved below).
                targets |= {f"{node.module}.{a.name}" for a in node.names}
        found[name] = {t for t in targets if t.startswith("xform.")}
    return found


IMPORTS = imports()
MODULES = set(IMPORTS)


def _resolve(target: str) -> str | None:
    """The module an import names (`from xform.core import IR` names xform.core)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_every_unit_has_a_layer():
    assert {unit_of(m) for m in MODULES} <= set(LAYER), "add the new package to LAYERS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_downward(module):
    upward = sorted(t for t in map(_resolve, IMPORTS[module])
                    if t and LAYER[unit_of(t)] > LAYER[unit_of(module)])
    assert not upward, f"{module} (layer {LAYER[unit_of(module)]}) imports higher up: {upward}"


def test_no_cycles_between_units():
    graph: dict[str, set[str]] = {}
    for module, targets in IMPORTS.items():
        for t in filter(None, map(_resolve, targets)):
            if unit_of(t) != unit_of(module):
                graph.setdefault(unit_of(module), set()).add(unit_of(t))
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(unit, path):
        state[unit] = 1
        for nxt in graph.get(unit, ()):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [unit, nxt])}"
            if nxt not in state:
                visit(nxt, path + [unit])
        state[unit] = 2
    for unit in list(graph):
        if unit not in state:
            visit(unit, [])
