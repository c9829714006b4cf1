"""Run the benchmark suite: build, check and time every workload, print and save the report.

Usage: python -m benchmarks [--quick] [--only ROWS] [--backend NAME] [--threads N]
                            [--output PATH]
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.report import Cell, load_average, render
from benchmarks.timing import Budget, Measurement, measure_fresh, measure_steady
from benchmarks.workloads import WORKLOADS, Impl, Options, Workload

HERE = Path(__file__).resolve().parent
PEER_LIBRARIES = ("jax", "jaxlib", "autograd", "torch", "numba")
FULL = {"budget": Budget(seconds=4.0, min_batch=0.02, min_samples=5, max_samples=200),
        "fresh_repeats": 3}
QUICK = {"budget": Budget(seconds=0.3, min_batch=0.002, min_samples=3, max_samples=30),
         "fresh_repeats": 1}


class Mismatch(Exception):
    """An implementation computed something other than the expected result."""


def _leaves(tree) -> list[np.ndarray]:
    """The arrays of a result (nested tuples and lists), as numpy arrays."""
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    if hasattr(tree, "detach"):  # a torch tensor
        tree = tree.detach().cpu().numpy()
    return [np.asarray(tree)]


def check_result(result, expected, tol: float) -> None:
    """Raise Mismatch unless `result` matches `expected` in structure, dtype and value."""
    got, want = _leaves(result), _leaves(expected)
    if len(got) != len(want):
        raise Mismatch(f"{len(got)} result arrays, expected {len(want)}")
    for g, w in zip(got, want):
        if g.shape != w.shape:
            raise Mismatch(f"result shape {g.shape}, expected {w.shape}")
        if g.dtype != w.dtype:
            raise Mismatch(f"result dtype {g.dtype}, expected {w.dtype}")
        scale = max(float(np.max(np.abs(w), initial=0.0)), 1e-30)
        err = float(np.max(np.abs(g.astype(np.float64) - w), initial=0.0)) / scale
        if not err <= tol:
            raise Mismatch(f"result off by {err:.1e} (relative), tolerance {tol:.0e}")


def _reason(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    text = f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= 90 else text[:87] + "..."


def _missing_peer(e: BaseException, impl: Impl) -> bool:
    name = getattr(e, "name", None) or ""
    return (impl.side == "peer" and isinstance(e, ModuleNotFoundError)
            and name.split(".")[0] in PEER_LIBRARIES)


def prepare(w: Workload, impl: Impl, data: dict, expected, opts: Options):
    """Build an implementation, run it once (compiling) and check its result.

    Returns (the callable to time, its first result) or (None, a Cell saying why it cannot
    be timed). The first result of a fresh-process probe is (seconds, result).
    """
    try:
        fn = impl.make(data, opts)
        first = fn()
        if impl.check:
            check_result(first[1] if w.fresh else first, expected, w.tol)
    except Exception as e:  # noqa: BLE001 - one failing implementation must not stop the suite
        if _missing_peer(e, impl):
            return None, Cell("skip", reason=f"{e.name.split('.')[0]} not installed")
        return None, Cell("error", reason=_reason(e))
    return fn, first


def run_workload(w: Workload, data: dict, opts: Options, budget: Budget, fresh_repeats: int,
                 log) -> dict[str, Cell]:
    """Cells for every implementation of `w` on `data`: built, checked, timed side by side."""
    expected = w.expected(data)
    cells: dict[str, Cell] = {}
    ready, firsts = {}, {}
    for impl in w.impls:
        start = time.perf_counter()
        fn, first = prepare(w, impl, data, expected, opts)
        if fn is None:
            cells[impl.name] = first
            log(f"  {impl.name}: {first.text()}")
        else:
            ready[impl.name], firsts[impl.name] = fn, first
            log(f"  {impl.name}: ready in {time.perf_counter() - start:.1f} s")
    if w.fresh:
        measured = measure_fresh({n: (lambda f=f: f()[0]) for n, f in ready.items()},
                                 {n: first[0] for n, first in firsts.items()}, fresh_repeats)
    else:
        measured = measure_steady(ready, budget)
    for name, m in measured.items():
        if isinstance(m, Measurement):
            cells[name] = Cell("ok", m.seconds, m.spread, m.samples, m.calls)
        else:
            cells[name] = Cell("error", reason=_reason(m))
        log(f"  {name}: {cells[name].text()}")
    return {impl.name: cells[impl.name] for impl in w.impls}


def _selected(only: str | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS)
    wanted = {s.strip() for s in only.split(",") if s.strip()}
    chosen = [w for w in WORKLOADS
              if w.key in wanted or w.row in wanted or w.row.rstrip("ab") in wanted]
    if not chosen:
        rows = ", ".join(sorted({w.row for w in WORKLOADS} | {w.key for w in WORKLOADS}))
        raise SystemExit(f"--only {only!r} selects no workload; use rows or keys from: {rows}")
    return chosen


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}")
    return int(text)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: reduced sizes and repeats; timings are only indicative")
    p.add_argument("--only", metavar="ROWS",
                   help="comma-separated rows (1, 2a, 3 ...) or workload keys to run")
    p.add_argument("--backend", help="backend for xf.jit (default: xf.jit's own default)")
    p.add_argument("--threads", type=_count, default=1, metavar="N",
                   help="threads per library (BLAS, XLA, torch, Numba); 0 keeps the libraries' "
                        "defaults. Default 1: shared machines make multithreaded timings erratic")
    p.add_argument("--output", metavar="PATH", type=Path,
                   help="where to write the Markdown report (default: benchmarks/RESULTS.md "
                        "for a full run of every row, nowhere otherwise)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    chosen = _selected(args.only)
    settings = QUICK if args.quick else FULL
    output = args.output
    if output is None and not args.quick and not args.only:
        output = HERE / "RESULTS.md"

    def log(msg):
        print(msg, file=sys.stderr, flush=True)
    results: dict[str, dict[str, Cell]] = {}
    notes = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xform-bench-") as workdir:
        opts = Options(quick=args.quick, backend=args.backend, workdir=workdir)
        for i, w in enumerate(chosen, 1):
            log(f"[{i}/{len(chosen)}] row {w.row}: {w.title}")
            data = w.setup(opts)
            results[w.key] = run_workload(w, data, opts, settings["budget"],
                                          settings["fresh_repeats"], log)
            if w.note and (text := w.note(data, results[w.key])):
                notes.append(text)
    notes += sorted({f"{c.reason}: its columns are skipped." for cells in results.values()
                     for c in cells.values() if c.status == "skip"})
    notes.append(f"suite time {time.perf_counter() - start:.0f} s; load average at the end "
                 f"{load_average()}")
    command = " ".join(["python -m benchmarks", *map(shlex.quote, argv)])
    text = render(results, notes, opts, command)
    print(text)
    if output is not None:
        output.write_text(text)
        log(f"report written to {output}")
    return 0
