"""The compile worker: a process that compiles generated programs into the disk cache, so that
Numba's compiler never runs on the path of a jitted function's caller.

`xform.backends.tiered` starts it as `python -m xform.backends.compile_worker`. It reads jobs
`(module name, source path, argument specs)` pickled on stdin, compiles each kernel for those
arguments (Numba writes the result to its cache), and answers `(ok, message)` pickled on its
original stdout; anything printed while compiling goes to stderr. It exits at end of input,
so it never outlives the process that feeds it.
"""
from __future__ import annotations

import os
import pickle
import sys
import warnings


def serve(jobs, answers) -> None:
    """Compile the jobs read from the binary stream `jobs`, answering on `answers`."""
    from xform.backends.numba import compile_kernel, import_path, numba_signature
    import numba  # noqa: F401  (loaded before the first job arrives)
    while True:
        try:
            name, path, specs = pickle.load(jobs)
        except EOFError:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile_kernel(import_path(name, path).kernel, numba_signature(specs))
            answer = (True, "")
        except Exception as exc:  # reported to the parent, which keeps interpreting
            answer = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(answer, answers)
        answers.flush()


def main() -> None:
    # Background work: the caller's own threads (BLAS's among them, which spin while they wait
    # for a core) come first.
    if hasattr(os, "nice"):
        os.nice(10)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
