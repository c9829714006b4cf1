"""Progress of a long optimisation: a bar with the iteration, the loss and the gradient norm
(tqdm's when it is installed, else one line rewritten in place on stderr), or log lines."""
from __future__ import annotations

import importlib
import sys
import time


class LogLines:
    """Prints a line every `every` iterations, and one at the end (on stdout)."""

    def __init__(self, label: str, every: int):
        self.label, self.every = label, every

    def step(self, nit: int, value: float, gnorm: float) -> None:
        if nit % self.every == 0:
            print(f"{self.label} iter {nit:6d}  fun {value: .8e}  |grad| {gnorm:.3e}",
                  flush=True)

    def done(self, nit: int, value: float, gnorm: float, message: str) -> None:
        print(f"{self.label} stop at iter {nit}: fun {value: .8e}, |grad| {gnorm:.3e}; "
              f"{message}", flush=True)


class PlainBar:
    """A progress line on `stream`, rewritten with a carriage return at most every
    `interval` seconds: `label  nit/maxiter  loss ...  |grad| ...`."""

    def __init__(self, label: str, maxiter: int, stream=None, interval: float = 0.1):
        self.label, self.maxiter, self.interval = label, maxiter, interval
        self.stream = stream or sys.stderr
        self.shown = -float("inf")

    def _line(self, nit, value, gnorm) -> str:
        done = nit / self.maxiter if self.maxiter else 1.0
        filled = int(20 * done)
        return (f"\r{self.label} [{'#' * filled}{'.' * (20 - filled)}] {nit}/{self.maxiter}"
                f"  loss {value:.6e}  |grad| {gnorm:.3e}")

    def step(self, nit: int, value: float, gnorm: float) -> None:
        now = time.monotonic()
        if now - self.shown >= self.interval:
            self.shown = now
            self.stream.write(self._line(nit, value, gnorm))
            self.stream.flush()

    def done(self, nit: int, value: float, gnorm: float, message: str) -> None:
        self.stream.write(self._line(nit, value, gnorm) + f"\n{self.label}: {message}\n")
        self.stream.flush()


class TqdmBar:
    """The same through tqdm: iterations as the bar, loss and gradient norm as its postfix."""

    def __init__(self, tqdm, label: str, maxiter: int, stream=None):
        self.bar = tqdm(total=maxiter, desc=label, file=stream or sys.stderr, leave=True)
        self.nit = 0

    def step(self, nit: int, value: float, gnorm: float) -> None:
        self.bar.update(nit - self.nit)
        self.nit = nit
        self.bar.set_postfix(loss=f"{value:.4e}", grad=f"{gnorm:.2e}", refresh=False)

    def done(self, nit: int, value: float, gnorm: float, message: str) -> None:
        self.step(nit, value, gnorm)
        self.bar.close()
        self.bar.write(f"{self.bar.desc}: {message}", file=self.bar.fp)


class Silent:
    def step(self, nit: int, value: float, gnorm: float) -> None:
        pass

    def done(self, nit: int, value: float, gnorm: float, message: str) -> None:
        pass


def reporter(progress, label: str, maxiter: int):
    """What `minimize(progress=...)` shows: True, a bar (tqdm's if installed); "plain", the
    plain bar; a positive int n, a log line every n iterations; False, nothing."""
    if progress is True or progress == "tqdm":
        try:
            return TqdmBar(importlib.import_module("tqdm").tqdm, label, maxiter)
        except ImportError:
            if progress == "tqdm":
                raise ImportError("progress='tqdm' needs tqdm: pip install tqdm") from None
            return PlainBar(label, maxiter)
    if progress == "plain":
        return PlainBar(label, maxiter)
    if progress is False or progress is None:
        return Silent()
    if isinstance(progress, int) and progress > 0:
        return LogLines(label, progress)
    raise ValueError(f"progress must be True, False, 'plain', 'tqdm' or a positive number of "
                     f"iterations between log lines, got {progress!r}")
