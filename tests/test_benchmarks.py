"""The benchmark suite: its harness (checks, error cells, tables) and a quick smoke run."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import report, run, threads, timing
from benchmarks.workloads import RATIOS, WORKLOADS, Impl, Options, Workload

ROOT = Path(__file__).resolve().parent.parent
TINY = timing.Budget(seconds=0.01, min_batch=1e-4, min_samples=3, max_samples=5)


def test_workload_table_is_consistent():
    keys = [w.key for w in WORKLOADS]
    assert len(set(keys)) == len(keys)
    for w in WORKLOADS:
        names = [i.name for i in w.impls]
        assert len(set(names)) == len(names), w.key
        assert {i.side for i in w.impls} == {"xform", "peer"}, w.key
        assert all(i.name in report.PEERS for i in w.impls if i.side == "peer"), w.key
    impls = {(w.key, i.name) for w in WORKLOADS for i in w.impls}
    for r in RATIOS:
        assert r.num in impls and r.den in impls, r.label


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20), st.floats(2.0, 10.0))
def test_check_result_tolerance(values, factor):
    want = np.array(values)
    scale = max(np.max(np.abs(want)), 1e-30)
    run.check_result(want + 0.5e-6 * scale, want, 1e-6)
    if scale > 1e-20:
        with pytest.raises(run.Mismatch, match="off by"):
            run.check_result(want + factor * 1e-6 * scale, want, 1e-6)


def test_check_result_structure_and_dtype():
    grads = [(np.ones((2, 3), np.float32), np.zeros(3, np.float32))]
    run.check_result((np.float32(1.0), grads), (np.float32(1.0), grads), 1e-6)
    with pytest.raises(run.Mismatch, match="dtype float64"):
        run.check_result(np.ones(3), np.ones(3, np.float32), 1e-6)
    with pytest.raises(run.Mismatch, match="shape"):
        run.check_result(np.ones(3), np.ones(4), 1e-6)
    with pytest.raises(run.Mismatch, match="2 result arrays"):
        run.check_result((1.0, 2.0), 1.0, 1e-6)


def _raise(exc):
    def make(data, opts):
        raise exc
    return make


def _fake_workload():
    import_error = ModuleNotFoundError("No module named 'torch'", name="torch")
    return Workload(
        "fake", "9", "fake", "a workload whose implementations fail in every way",
        lambda opts: {"x": np.arange(3.0)},
        (Impl("interp", "xform", "works", lambda d, o: lambda: 2 * d["x"]),
         Impl("jit", "xform", "fails", _raise(RuntimeError("backend exploded\nmore text"))),
         Impl("numpy", "peer", "wrong", lambda d, o: lambda: d["x"]),
         Impl("JAX", "peer", "works", lambda d, o: lambda: d["x"] + d["x"]),
         Impl("torch", "peer", "absent", _raise(import_error))),
        expected=lambda d: 2 * d["x"], tol=1e-12)


def test_failures_become_cells_and_the_rest_is_timed():
    w = _fake_workload()
    cells = run.run_workload(w, w.setup(Options()), Options(), TINY, 1, lambda msg: None)
    assert cells["interp"].status == cells["JAX"].status == "ok"
    assert cells["interp"].seconds > 0 and cells["interp"].samples >= 3
    assert cells["jit"].text() == "error: RuntimeError: backend exploded"
    assert cells["numpy"].status == "error" and "Mismatch" in cells["numpy"].reason
    assert cells["torch"].text() == "skipped: torch not installed"
    assert report.ratio_text(cells["interp"], cells["torch"]) == "skip"
    assert report.ratio_text(cells["interp"], cells["numpy"]) == "error"
    assert report.ratio_text(cells["interp"], None) == "·"


def test_measure_interleaved_keeps_going_after_an_error():
    calls = {"bad": 0}

    def bad():
        calls["bad"] += 1
        raise ValueError("boom")
    samples, errors = timing.measure_interleaved({"good": lambda: 1.0, "bad": bad}, TINY)
    assert calls["bad"] == 1 and isinstance(errors["bad"], ValueError)
    assert TINY.min_samples <= len(samples["good"]) <= TINY.max_samples


def test_only_selects_rows_or_explains():
    assert [w.row for w in run._selected("2")] == ["2a", "2b"]
    assert [w.key for w in run._selected("per_example,6")] == ["per_example", "first_call",
                                                              "hundred_calls"]
    with pytest.raises(SystemExit, match="selects no workload"):
        run._selected("99")


def test_ratio_and_seconds_text():
    ok = report.Cell("ok", 2e-3)
    assert report.ratio_text(ok, report.Cell("ok", 4e-3)) == "0.50"
    assert report.seconds_text(2e-3) == "2 ms"
    assert report.seconds_text(1.5e-7) == "150 ns"
    assert report.seconds_text(3.25) == "3.25 s"


def test_thread_settings():
    assert threads.requested([]) == 1
    assert threads.requested(["--quick", "--threads", "4"]) == 4
    assert threads.requested(["--threads=0"]) == 0
    env = threads.environment(1)
    assert env["OPENBLAS_NUM_THREADS"] == "1" and "multi_thread_eigen=false" in env["XLA_FLAGS"]
    assert threads.environment(0) == {threads.MARK: "0"}


@pytest.mark.slow
def test_quick_run_produces_the_report(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.strip() == proc.stdout.strip()
    assert "## Ratios of times, xform ÷ peer" in text and "## Targets" in text
    ratio_rows = {}
    for line in text.split("## Targets")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 + len(report.PEERS):
            ratio_rows[cells[1], cells[2]] = cells
    for w in WORKLOADS:
        for impl in (i for i in w.impls if i.side == "xform"):
            assert (w.title, impl.name) in ratio_rows, (w.title, impl.name)
    # The interpreter is the reference backend: its cells must hold times, never errors.
    for (title, name), cells in ratio_rows.items():
        if name == "interp":
            assert not cells[3].startswith(("error", "skipped")), cells
