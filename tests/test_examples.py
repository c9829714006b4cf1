"""The examples run as scripts and print what they claim: accuracies, converged optimisers,
per-example gradients equal to a loop."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name: str) -> str:
    """Run examples/<name> in a fresh interpreter and return its standard output."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
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


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
