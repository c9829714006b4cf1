"""The README's Python examples run as written, and the results their comments state hold."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)^\s*```", README.read_text(),
                                                  re.S | re.M)]
# `expression   # 0.353553… ...` or `# [0., 0.25]`: the leading numbers are the stated result
STATED = re.compile(r"^(\S.*?)\s+#\s*\[?\s*(-?\d+\.?\d*)(?:[,\s]+(-?\d+\.?\d*))?")


def _stated_results(block: str):
    for line in block.splitlines():
        m = STATED.match(line)
        if m:
            try:
                compile(m.group(1), "<readme>", "eval")
            except SyntaxError:
                continue  # a statement, not an expression
            yield m.group(1), [float(g) for g in m.groups()[1:] if g is not None]


def test_the_readme_has_examples_with_stated_results():
    assert len(BLOCKS) >= 5 and sum(len(list(_stated_results(b))) for b in BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=[b.split("\n")[0][:30] for b in BLOCKS])
def test_readme_example(block):
    namespace = {}
    exec("import numpy as np\nimport xform as xf\nimport xform.numpy as xnp\n", namespace)
    exec(block, namespace)
    for expression, expected in _stated_results(block):
        value = np.ravel(np.asarray(eval(expression, namespace), dtype=float))
        np.testing.assert_allclose(value[:len(expected)], expected, rtol=1e-5, atol=1e-6,
                                   err_msg=expression)
