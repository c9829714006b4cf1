"""The examples run as scripts and print what they claim: accuracies, converged optimisers,
per-example gradients equal to a loop."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name: str, *args: str) -> str:
    """Run examples/<name> (with command-line `args`) in a fresh interpreter and return its
    standard output."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def number_after(label: str, text: str) -> float:
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert match, f"no {label!r} in the output:\n{text}"
    return float(match.group(1))


def test_mlp_learns():
    out = run_example("mlp.py")
    assert number_after("train accuracy:", out) >= 0.9
    assert number_after("test accuracy:", out) >= 0.9


def test_newton_table():
    out = run_example("newton.py")
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in ("newton", "bfgs", "adam")}
    assert set(rows) == {"newton", "bfgs", "adam"}, out
    for method, row in rows.items():
        assert row[-1] == "True", out  # converged
        assert float(row[3]) < (1e-5 if method == "adam" else 1e-6), out  # |x - 1|
    # Curvature pays: the second-order methods need far fewer iterations than adam.
    assert int(rows["newton"][1]) < 50 and int(rows["bfgs"][1]) < 100
    assert int(rows["adam"][1]) > 10 * int(rows["bfgs"][1])


def test_per_example_grads():
    out = run_example("per_example_grads.py")
    assert "match a Python loop: True" in out
    assert number_after("training accuracy", out) >= 0.85


def test_tour():
    out = run_example("tour.py")
    starts = {line.split()[0] for line in out.splitlines() if line and not line[0].isspace()}
    assert {"1.", "2.", "3.", "4.", "5.", "7."} <= starts, out
    for method in ("bfgs", "newton"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{method}:"))
        assert "success True" in line and re.search(r"\[1\.\s+(1\.|0\.9999999)", line), line


def test_stax_classifier_learns():
    out = run_example("stax_classifier.py")
    assert number_after("Test set accuracy", out) >= 0.9
    assert "params dtype: float32" in out


def test_seeds(tmp_path):
    out = run_example("seeds.py", str(tmp_path))
    assert "v̇₁ = −sin(v₋₁)·v̇₋₁" in out and "v̄₀ = v̄₀ + v̄₂·v₋₁" in out
    assert number_after("dy/dx1 =", out) == -np.sin(2.0) + 4.0
    assert "dy/dx1 = 5.5 (exact 5.5), dy/dx2 = 1.7163378145367738" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+1000\s", line)]
    forward, reverse = (int(x.replace(",", "")) for x in rows[0][1:3])
    assert forward > 500 * reverse  # n passes against one
    errors = [float(line.split()[1]) for line in out.splitlines() if re.match(r"\s+1e-", line)]
    assert min(errors) < 1e-7 < errors[0] and errors[-1] > 1e-3  # truncation, then rounding
    for name in ("example1_graph", "example2_vjp_graph"):
        assert (tmp_path / f"{name}.dot").read_text().startswith("digraph")
        if shutil.which("dot"):
            assert b"<svg" in (tmp_path / f"{name}.svg").read_bytes()[:400]


def test_taylor_ode():
    out = run_example("taylor_ode.py")
    taylor = number_after("max error of the order-8 Taylor method:", out)
    assert taylor < 1e-7 and 100 * taylor < number_after("max error of rk4 at the same step:",
                                                         out)


def test_sparse_newton():
    out = run_example("sparse_newton.py")
    assert number_after("variables:", out) == 100_000
    assert number_after("colours:", out) == 3
    assert number_after("Hessian non-zeros:", out) == 3 * 100_000 - 2
    assert number_after("newton iterations:", out) < 30
    assert number_after("max |x - 1|:", out) < 1e-6


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
