"""First-call latency in a fresh process: import the library, build and run jit(value_and_grad).

Run as `python -m benchmarks.first_call KIT CALLS [BACKEND]` (KIT is an xform-jit kit or
jax-jit); prints JSON with the seconds from just before the library import to the CALLS-th
result, and the loss.
`probe()` is the parent side: it runs that in a new process and returns the pair.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(kit_name: str, calls: int, backend: str | None) -> dict:
    from benchmarks import models, workloads
    data = models.classification_data()
    start = time.perf_counter()
    from benchmarks import kits
    kit = kits.load(kit_name, backend)
    thunk = workloads.value_and_grad_recipe(kit, data)
    for _ in range(calls):
        value, _ = thunk()
    return {"seconds": time.perf_counter() - start, "value": float(value)}


def run_fresh(module: str, args: list[str], env: dict[str, str], timeout: float) -> dict:
    """The JSON report (its last line of output) of `python -m module *args` run in a fresh
    process with `env` added to this environment (a None value unsets a variable) and the
    project importable; RuntimeError with the child's last line of stderr if it fails."""
    env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", module, *args], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        raise RuntimeError(f"fresh process failed: {lines[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe(kit_name: str, backend: str | None, cache_dir: str | None, calls: int = 1,
          timeout: float = 600.0) -> tuple[float, float]:
    """(seconds, loss) of a fresh process's first `calls` calls; `cache_dir` holds xform's and
    Numba's on-disk caches (XFORM_CACHE_DIR and NUMBA_CACHE_DIR)."""
    env = {"JAX_PLATFORMS": "cpu"}
    if cache_dir is not None:
        # Numba's own cache (of xform's helper kernels too) starts from the same state.
        env.update(XFORM_CACHE_DIR=cache_dir, NUMBA_CACHE_DIR=os.path.join(cache_dir, "numba"))
    report = run_fresh("benchmarks.first_call",
                       [kit_name, str(calls), *([backend] if backend else [])], env, timeout)
    return report["seconds"], report["value"]


if __name__ == "__main__":
    from benchmarks import threads
    threads.unpin_cpus()
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]),
                            sys.argv[3] if len(sys.argv) > 3 else None)))
