"""Loss curves: `OptimizeResult.plot()` with matplotlib, an optional dependency."""
from __future__ import annotations

import importlib


def _pyplot():
    try:
        return importlib.import_module("matplotlib.pyplot")
    except ImportError:
        raise ImportError("plotting needs matplotlib, which xform does not install by default: "
                          "pip install 'xform[plot]' (or pip install matplotlib)") from None


def plot_history(history, ax=None, *, log: bool | None = None, path=None):
    """Plot `history` (the loss per iteration, from iteration 0) on `ax` or a new figure;
    log scale when `log` is True, or when None and every loss is positive. Saves the figure to
    `path` when given. Returns the axes."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(len(history)), history, marker="." if len(history) < 50 else None)
    if log or log is None and len(history) and min(history) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    if path is not None:
        ax.figure.savefig(path, bbox_inches="tight")
    return ax
