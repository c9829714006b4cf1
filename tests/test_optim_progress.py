"""`minimize(progress=...)`: a progress bar (tqdm's or a plain line), log lines; loss plots."""
from __future__ import annotations

import io

import numpy as np
import pytest

import xform.numpy as xnp
from xform import optim
from xform.optim import plot as plot_module
from xform.optim import progress

INTERP = {"jit": "interpreter"}


def rosenbrock(x):
    return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _without(monkeypatch, module, missing: str):
    real = module.importlib.import_module

    def fake(name):
        if name.split(".")[0] == missing:
            raise ImportError(name)
        return real(name)
    monkeypatch.setattr(module.importlib, "import_module", fake)


def test_plain_bar_without_tqdm(monkeypatch, capsys):
    _without(monkeypatch, progress, "tqdm")
    res = optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", progress=True,
                         **INTERP)
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("\rminimize(bfgs) [") and f"{res.nit}/500" in err
    assert "loss " in err and "|grad| " in err and "converged" in err


def test_plain_bar_redraws_in_place():
    stream = io.StringIO()
    bar = progress.PlainBar("fit", 10, stream, interval=0.0)
    for k in range(3):
        bar.step(k, 1.0 / (k + 1), 0.5)
    bar.done(3, 0.25, 0.1, "done")
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("fit: done\n")
    assert "[######..............] 3/10  loss 2.500000e-01  |grad| 1.000e-01" in text


def test_tqdm_bar(capsys):
    pytest.importorskip("tqdm", reason="tqdm is not installed (optional)")
    optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", progress="tqdm", **INTERP)
    err = capsys.readouterr().err
    assert "minimize(bfgs)" in err and "loss=" in err and "grad=" in err


def test_progress_tqdm_missing_is_a_clear_error(monkeypatch):
    _without(monkeypatch, progress, "tqdm")
    with pytest.raises(ImportError, match="pip install tqdm"):
        optim.minimize(rosenbrock, np.zeros(2), progress="tqdm", maxiter=2, **INTERP)


def test_bad_progress_value():
    with pytest.raises(ValueError, match="progress must be"):
        optim.minimize(rosenbrock, np.zeros(2), progress="loud", maxiter=2, **INTERP)


def test_history_and_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install "
                        "'xform[plot]')")
    import matplotlib
    matplotlib.use("Agg")
    res = optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", **INTERP)
    assert len(res.history) == res.nit + 1 and res.history[0] == pytest.approx(24.2)
    ax = res.plot(path=tmp_path / "loss.png")
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), res.history)
    assert ax.get_yscale() == "log"
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert res.plot(log=False).get_yscale() == "linear"
    matplotlib.pyplot.close("all")


def test_plot_without_matplotlib_says_what_to_install(monkeypatch):
    _without(monkeypatch, plot_module, "matplotlib")
    res = optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", maxiter=3, **INTERP)
    with pytest.raises(ImportError, match=r"pip install 'xform\[plot\]'"):
        res.plot()
