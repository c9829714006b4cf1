"""The primitive registry is complete: every primitive has its rules and its test-table rows.

Walks `xform.core.registry`: each primitive needs `impl`, `abstract_eval`, `jvp` (integer and
boolean ones too, returning symbolic zero tangents) and `vmap`; the linear ones (listed below)
need `transpose`; and each needs a row in the AD table (tests/test_ad_all.py) and the vmap
table (tests/test_vmap.py). The `numba` lowering is not required here.
"""
from __future__ import annotations

import pytest
from test_ad_all import AD_TABLE
from test_vmap import HIGHER_ORDER, VMAP_TABLE

import xform  # noqa: F401  (registers every primitive)
from xform.core import Primitive, registry

# Primitives that can be linear in some operand, so reverse mode transposes them.
LINEAR = {
    "neg", "add", "sub", "mul", "div", "select", "convert_element_type",
    "broadcast_in_dim", "reshape", "transpose", "rev", "slice", "pad", "concatenate",
    "reduce_sum", "cumsum", "gather", "scatter_add", "scatter", "dot_general",
    "triangular_solve", "solve", "conv_general_dilated", "reduce_window_sum",
    "window_select_gather", "window_select_scatter",
}
# Higher-order primitives that reverse mode transposes (checked once they are registered).
LINEAR_HIGHER_ORDER = {"call", "cond", "batched_cond", "scan", "remat", "custom_vjp_lin"}

REQUIRED = ("impl", "abstract_eval", "jvp", "vmap")
ALL = sorted(registry)
FIRST_ORDER = sorted(set(registry) - HIGHER_ORDER)


@pytest.mark.parametrize("name", ALL)
def test_every_primitive_has_the_required_rules(name):
    prim = registry[name]
    missing = [kind for kind in REQUIRED if not callable(getattr(prim, kind))]
    assert not missing, f"the primitive '{name}' lacks the rules {missing}"


@pytest.mark.parametrize("name", sorted(LINEAR | (LINEAR_HIGHER_ORDER & set(registry))))
def test_linear_primitives_have_a_transpose_rule(name):
    assert name in registry, f"LINEAR names '{name}', which is not a registered primitive"
    assert callable(registry[name].transpose), f"the linear primitive '{name}' lacks transpose"


def test_the_linear_set_lists_every_primitive_with_a_transpose_rule():
    with_transpose = {n for n in FIRST_ORDER if registry[n].transpose is not None}
    assert with_transpose == LINEAR, (
        f"primitives with a transpose rule but not in LINEAR: {sorted(with_transpose - LINEAR)}; "
        f"in LINEAR without one: {sorted(LINEAR - with_transpose)}")


def test_every_primitive_has_a_row_in_the_ad_and_vmap_tables():
    no_ad = sorted(set(FIRST_ORDER) - set(AD_TABLE))
    no_vmap = sorted(set(FIRST_ORDER) - set(VMAP_TABLE))
    assert not no_ad, f"add rows to AD_TABLE (tests/test_ad_all.py) for {no_ad}"
    assert not no_vmap, f"add rows to VMAP_TABLE (tests/test_vmap.py) for {no_vmap}"


def test_a_missing_rule_names_the_primitive_and_the_transformation():
    prim = Primitive("registry_test_only")
    try:
        with pytest.raises(NotImplementedError, match="'registry_test_only' has no vmap rule"):
            prim.rule("vmap")
    finally:
        del registry["registry_test_only"]
