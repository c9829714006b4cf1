"""Thread counts of the measured libraries, fixed through the environment before they load.

On a shared machine multithreaded BLAS and XLA pools slow down by large, random factors when
another process takes a core, so the suite pins every library to the same thread count
(one by default). The settings must be in the environment before numpy, JAX or torch loads.
"""
from __future__ import annotations

import os

MARK = "XFORM_BENCH_THREADS"
CPUS = "XFORM_BENCH_CPUS"  # the CPUs the suite could use before pin_cpus


def requested(argv: list[str]) -> int:
    """The --threads value in `argv` (0: the libraries' defaults), 1 when absent."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else (
            arg.split("=", 1)[1] if arg.startswith("--threads=") else None)
        if value is not None:
            # A malformed value is left for the argument parser to report.
            return int(value) if value.isdigit() else 1
    return 1


def environment(n: int) -> dict[str, str]:
    """Environment variables that make numpy's BLAS, Numba, torch and XLA use `n` threads."""
    env = {MARK: str(n)}
    if n > 0:
        env.update({var: str(n) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                             "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")})
        multi = "true" if n > 1 else "false"
        flags = f"--xla_cpu_multi_thread_eigen={multi} intra_op_parallelism_threads={n}"
        env["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), flags]))
    return env


def pin_cpus(n: int) -> None:
    """Run this process, and the threads and processes it starts, on `n` of its CPUs (n > 0).

    Thread-count settings do not bound every pool: JAX 0.10's CPU runtime ran a VAE epoch on
    two threads under the settings above (1.8 CPU-seconds per second). The CPUs it may use
    bound every library alike. The full set is kept in the environment for `unpin_cpus`.
    """
    if n <= 0 or not hasattr(os, "sched_setaffinity"):
        return
    allowed = sorted(os.sched_getaffinity(0))
    os.environ[CPUS] = ",".join(map(str, allowed))
    os.sched_setaffinity(0, allowed[-n:])


def unpin_cpus() -> None:
    """Give a fresh-process probe back the CPUs the suite had before pin_cpus (its compile
    worker may use a core of its own, as outside the suite)."""
    cpus = os.environ.get(CPUS)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def describe() -> str:
    """The thread setting in force in this process, for the report."""
    n = os.environ.get(MARK)
    if n is None:
        return "not pinned (run through `python -m benchmarks` to pin it)"
    if n == "0":
        return "libraries' defaults"
    return f"{n} per library (BLAS, XLA, torch, Numba), the process on {n} CPU(s)"
