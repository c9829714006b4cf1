"""docs/api.md, the API reference, lists every public name of every documented module, and
nothing that is gone: regenerate it with `python tools/apidoc.py > docs/api.md`."""
from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api.md"


def _apidoc():
    spec = importlib.util.spec_from_file_location("apidoc", ROOT / "tools" / "apidoc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APIDOC = _apidoc()
MODULES = APIDOC.documented_modules()


def page_sections() -> dict[str, set[str]]:
    """The names the committed page lists, per module section."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in PAGE.read_text().splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), set())
        elif current is not None and (m := re.match(r"\| `([A-Za-z_][A-Za-z0-9_]*)", line)):
            current.add(m.group(1))
    return sections


SECTIONS = page_sections()
REGENERATE = "regenerate it: python tools/apidoc.py > docs/api.md"


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_is_on_the_page(module):
    assert module in SECTIONS, f"docs/api.md has no section for {module}; {REGENERATE}"
    names = set(APIDOC.public_names(importlib.import_module(module)))
    missing = sorted(names - SECTIONS[module])
    stale = sorted(SECTIONS[module] - names)
    assert not missing, f"docs/api.md lacks {module}'s {missing}; {REGENERATE}"
    assert not stale, f"docs/api.md lists {module}'s {stale}, which are gone; {REGENERATE}"


def test_no_section_for_a_module_that_is_not_documented():
    assert not set(SECTIONS) - set(MODULES), REGENERATE


def test_the_generator_documents_the_user_facing_modules():
    for module in ("xform", "xform.numpy", "xform.numpy.linalg", "xform.lax",
                   "xform.scipy.special", "xform.tree", "xform.optim"):
        assert module in MODULES
    assert not any(".numpy.ufuncs" in m or "lax_ops" in m or "primitives" in m
                   for m in MODULES), "implementation modules must not be documented"
