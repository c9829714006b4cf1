"""Records that vouch for Numba's cached code of generated modules and xform's helper kernels,
checked before the code is loaded.

Numba's cache trusts its data files: the index (``*.nbi``) checks the source, but a data file
(``*.nbc``) holding another program's machine code, or one bit flipped in a constant, is loaded
and run without a word (or crashes LLVM). So each disk-cached function gets a record (a
``*.manifest`` file beside its cache files): the SHA-256 of each of its index and data files,
the Numba, numpy and Python versions and the CPU target they were compiled for. Its code is
loaded only when the record matches; otherwise the files are deleted and the code is compiled
afresh, with one warning when they were damaged or are not the ones recorded (a record from
another environment just means recompiling).

Records are written when Numba has saved new code and checked when it is about to load some,
both under a lock file beside them (``*.lock``): a record always describes the files of one
writer, never files another process is still replacing. Faults while writing a record cost one
warning (and a recompile in a later process), never a result.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable

FORMAT = "xform-manifest 1"
SUFFIXES = (".nbi", ".nbc")  # Numba's index and data files

DAMAGED = ("jit: compiled code in the disk cache does not match its record (damaged, or copied "
           "from another program); it is recompiled")


def guard(module, warn: Callable[[str], None]) -> None:
    """Make each disk-cached Numba function of the generated `module`, and of xform's helper
    kernels that generated code calls, check its cache files against their record before
    loading them, and record them after saving; `warn(message)` reports faults.

    A fault in a generated module's files clears all of that module's files, with a warning;
    in a helper's, that helper's files, silently (a process that calls helpers directly before
    it imports any generated module, as some tests do, saves them without a record)."""
    for value in list(vars(module).values()):
        _guard(value, module.__name__, warn)
    for name, helpers in list(sys.modules.items()):
        if name.startswith("xform.backends."):
            for value in list(vars(helpers).values()):
                _guard(value, None, _silent)


def _silent(message: str) -> None:
    pass


def _guard(function, clear: str | None, warn: Callable[[str], None]) -> None:
    """Guard the cache of the Numba `function` (a no-op for anything else, or when done)."""
    cache = getattr(function, "_cache", None)
    directory = getattr(cache, "_cache_path", None)
    base = getattr(getattr(cache, "_impl", None), "filename_base", None)
    if not (isinstance(directory, str) and isinstance(base, str)) or hasattr(cache, "xform_files"):
        return
    files = cache.xform_files = CodeFiles(directory, base, clear)
    load, save = cache.load_overload, cache.save_overload

    def load_overload(sig, target_context):
        with _locked(files.lock):
            if files.trusted(target_context.codegen(), warn):
                return load(sig, target_context)
        return None

    def save_overload(sig, data):
        with _locked(files.lock):
            save(sig, data)
            files.record(data.codegen, warn)

    def flush():  # forget every overload: no index is as good as an empty one
        with _locked(files.lock):
            remove_files(files.directory, files.base)

    cache.load_overload, cache.save_overload, cache.flush = load_overload, save_overload, flush


class CodeFiles:
    """The cache files of one Numba function: in `directory`, named `base` + a suffix, with
    its record (`base`.manifest) and lock file (`base`.lock); a fault clears the files named
    `clear`.* (default: `base`.*)."""

    def __init__(self, directory: str, base: str, clear: str | None = None):
        self.directory, self.base, self.clear = directory, base, clear or base
        self.manifest = os.path.join(directory, base + ".manifest")
        self.lock = os.path.join(directory, base + ".lock")

    def trusted(self, codegen, warn: Callable[[str], None]) -> bool:
        """Whether Numba may look for code in the files: after a fault they are deleted (and
        there is nothing left to find), or, where they cannot be, not."""
        fault = self._fault(codegen)
        if fault is None:
            return True
        if fault == "damaged":
            warn(DAMAGED)
        remove_files(self.directory, self.clear)
        return not os.path.exists(self._path(".nbi"))  # undeletable: compile, do not load

    def record(self, codegen, warn: Callable[[str], None]) -> None:
        """Write the record of the files now present (atomically; none when there are no
        files)."""
        try:
            names = sorted(n for n in os.listdir(self.directory)
                           if n.startswith(self.base + ".") and n.endswith(SUFFIXES))
            if not names:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.manifest)
                return
            lines = [*self._header(codegen),
                     *(f"file {_digest(self._join(n))} {n}" for n in names)]
            _write_atomically(self.manifest, "\n".join(lines) + "\n")
        except OSError as exc:
            warn(f"jit: the record of compiled code cannot be written in {self.directory!r} "
                 f"({exc}); later processes recompile that code")

    def _fault(self, codegen) -> str | None:
        """None when the files match their record or there is nothing to load; "stale" for a
        record of another environment; "damaged" otherwise."""
        try:
            with open(self.manifest) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return "damaged" if os.path.exists(self._path(".nbi")) else None
        except (OSError, UnicodeDecodeError):
            return "damaged"
        header = self._header(codegen)
        if lines[:len(header)] != header:
            return "stale" if lines[:2] == header[:2] else "damaged"
        files = {}
        for line in lines[len(header):]:
            kind, digest, name = (line.split(" ", 2) + ["", ""])[:3]
            if kind != "file" or os.sep in name or not name.startswith(self.base + "."):
                return "damaged"
            files[name] = digest
        if self.base + ".nbi" not in files and os.path.exists(self._path(".nbi")):
            return "damaged"
        return None if all(_digest(self._join(n)) == d for n, d in files.items()) else "damaged"

    def _header(self, codegen) -> list[str]:
        import numba
        import numpy
        versions = (f"numba {numba.__version__} numpy {numpy.__version__} "
                    f"python {sys.version.split()[0]}")
        return [FORMAT, f"function {self.base}", f"versions {versions}",
                f"target {codegen.magic_tuple()!r}"]

    def _path(self, suffix: str) -> str:
        return self._join(self.base + suffix)

    def _join(self, name: str) -> str:
        return os.path.join(self.directory, name)


def _write_atomically(path: str, text: str) -> None:
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o644)  # as readable as the cache files it describes
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def remove_files(directory: str, prefix: str) -> None:
    """Delete the files in `directory` named `prefix`.* (the cache files and records of a
    generated module, or of one function), except lock files (another process may hold one)."""
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            if name.startswith(prefix + ".") and not name.endswith(".lock"):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(directory, name))


@contextlib.contextmanager
def _locked(path: str):
    """Hold an exclusive lock on the file `path` (created if needed) between processes and
    threads; where files cannot be locked, go on unlocked (a race then costs a recompile)."""
    try:
        import fcntl
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
