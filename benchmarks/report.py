"""The report: the ratio table, absolute times, targets, machine facts, as Markdown text."""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from dataclasses import dataclass

from benchmarks import threads
from benchmarks.workloads import RATIOS, WORKLOADS, Options, Workload

PEERS = ("numpy", "numba", "JAX", "autograd", "torch", "floor")
LIBRARIES = ("xform", "numpy", "numba", "jax", "jaxlib", "autograd", "torch")


@dataclass(frozen=True)
class Cell:
    """The outcome for one implementation: a time, or why there is none."""
    status: str                  # "ok", "error" or "skip"
    seconds: float | None = None
    spread: float | None = None
    samples: int = 0
    calls: int = 0
    reason: str = ""

    def text(self) -> str:
        """The time, or "error: <reason>" / "skipped: <reason>"."""
        if self.status == "ok":
            return seconds_text(self.seconds)
        return f"{'error' if self.status == 'error' else 'skipped'}: {self.reason}"


def seconds_text(t: float) -> str:
    """A duration with a unit that keeps three significant digits readable."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def ratio(num: Cell | None, den: Cell | None) -> float | str:
    """num ÷ den, or a mark saying why there is no ratio."""
    if num is None or den is None:
        return "·"
    if den.status == "skip":
        return "skip"
    if num.status != "ok" or den.status != "ok":
        return "error"
    return num.seconds / den.seconds


def ratio_text(num: Cell | None, den: Cell | None) -> str:
    """num ÷ den with two decimals (two significant digits below 0.1), or a mark."""
    r = ratio(num, den)
    if isinstance(r, str):
        return r
    return f"{r:.0f}" if r >= 100 else f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table padded so it also reads well as plain text."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _workloads_run(results) -> list[Workload]:
    return [w for w in WORKLOADS if w.key in results]


def ratio_table(results: dict[str, dict[str, Cell]]) -> str:
    """One line per xform implementation: its time and its time ÷ each peer's time."""
    rows = []
    for w in _workloads_run(results):
        cells = results[w.key]
        for impl in (i for i in w.impls if i.side == "xform"):
            mine = cells[impl.name]
            rows.append([w.row, w.title, impl.name, mine.text()]
                        + [ratio_text(mine, cells.get(p)) for p in PEERS])
    return markdown_table(["row", "workload", "xform", "time", *(f"÷{p}" for p in PEERS)], rows)


def times_table(results: dict[str, dict[str, Cell]]) -> str:
    """Every implementation's median time, spread and sampling effort."""
    rows = []
    for w in _workloads_run(results):
        for impl in w.impls:
            c = results[w.key][impl.name]
            effort = f"{c.samples}×{c.calls}" if c.status == "ok" else ""
            spread = f"±{50 * c.spread:.0f}%" if c.spread is not None else ""
            rows.append([w.row, w.title, impl.name, impl.desc, c.text(), spread, effort])
    return markdown_table(["row", "workload", "implementation", "what runs", "median", "IQR/2",
                           "samples"], rows)


def targets_table(results: dict[str, dict[str, Cell]]) -> str:
    """The targets of the issues and related ratios: measured value and whether it is met."""
    rows = []
    for r in RATIOS:
        num = results.get(r.num[0], {}).get(r.num[1])
        den = results.get(r.den[0], {}).get(r.den[1])
        if num is None and den is None:
            continue
        value = ratio(num, den)
        limit = "" if r.limit is None else f"≤ {r.limit:g}"
        if r.limit is None:
            status = ""
        elif isinstance(value, str):
            status = "n/a"
        else:
            status = "met" if value <= r.limit else "missed"
        rows.append([r.label, ratio_text(num, den), limit, status])
    return markdown_table(["ratio of times", "measured", "target", "status"], rows)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def machine_facts(opts: Options) -> list[str]:
    """Date, machine, load and library versions, one Markdown bullet each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{lib} {_version(lib)}" for lib in LIBRARIES)
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    mode = ("--quick (reduced sizes and repeats: a smoke run, not a measurement)"
            if opts.quick else "full")
    return [f"- date: {now}",
            f"- machine: {_cpu_model()}, {cores} usable cores, load average {load_average()}",
            f"- system: {platform.platform()}, Python {platform.python_version()}",
            f"- versions: {versions}",
            f"- threads: {threads.describe()}",
            f"- xf.jit backend: {opts.backend or 'its default'}; mode: {mode}"]


def render(results: dict[str, dict[str, Cell]], notes: list[str], opts: Options,
           command: str) -> str:
    """The whole report as Markdown."""
    legend = [f"- **{w.row} {w.title}**: {w.details}" for w in _workloads_run(results)]
    parts = [
        "# xform benchmark results", "",
        f"Produced by `{command}`.", "", *machine_facts(opts), "",
        "## Ratios of times, xform ÷ peer (below 1: xform is faster)", "",
        ratio_table(results), "",
        ("`·` no such peer for this row, `skip` peer not installed, `error` a side failed "
         "(see the times below)."), "",
        "## Targets", "", targets_table(results), "",
        "## Workloads", "", *legend, "",
        "## Median times", "",
        ("Steady state: median seconds per call after warm-up, over interleaved batches; "
         "first call: median over fresh processes."), "", times_table(results), "",
    ]
    if notes:
        parts += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(parts)
