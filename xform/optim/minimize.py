"""`minimize`: one call that fits a function's argument with a first-order optimiser
(adam, sgd) or a second-order method (damped Newton, BFGS with a Wolfe line search)."""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from xform import api, tree
from xform.backends import BACKENDS
from xform.optim.plot import plot_history
from xform.optim.progress import reporter as progress_reporter
from xform.optim.transforms import (GradientTransformation, adam, apply_updates,
                                    check_learning_rate, check_number, global_norm, sgd)

__all__ = ["OptimizeResult", "minimize"]


@dataclasses.dataclass
class OptimizeResult:
    """What `minimize` found.

    `x` has the structure of `x0`; `fun` and `grad` are the objective and its gradient at `x`;
    `nit` counts the steps taken; `history` holds the objective at every iterate, from `x0`
    (`history[0]`) to `x` (`history[-1]`), so it has `nit + 1` entries.
    """
    x: Any
    fun: float
    grad: Any
    nit: int
    success: bool
    message: str
    history: list

    def plot(self, ax=None, *, log: bool | None = None, path=None):
        """Draw the loss per iteration (`history`) with matplotlib on `ax` (default: a new
        figure), on a log scale when the losses are all positive (or as `log` says); with
        `path`, also save the figure there (e.g. "loss.png"). Returns the axes."""
        return plot_history(self.history, ax=ax, log=log, path=path)


class _Point(NamedTuple):
    """One iterate: the point, the objective and gradient there, and the method's state."""
    x: Any
    value: float
    grad: Any
    gnorm: float
    state: Any = None


_METHODS = ("adam", "sgd", "newton", "bfgs")
_DEFAULT_MAXITER = {"adam": 1000, "sgd": 1000, "newton": 100, "bfgs": 500}
_DEFAULT_LEARNING_RATE = 1e-2


def _as_float_leaf(x):
    """A leaf of x0 as a floating array: integers and booleans become float64."""
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.floating):
        return a.copy()
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        return a.astype(np.float64)
    raise TypeError(f"minimize needs real numbers in x0, got a leaf of dtype {a.dtype}")


def _check_objective(fun, x, args):
    """Evaluate `fun` at the start once, so a wrong kind of objective fails with advice."""
    out = fun(x, *args)
    if isinstance(out, (tuple, list, dict)) or np.shape(out) != ():
        got = (f"a {type(out).__name__}" if isinstance(out, (tuple, list, dict))
               else f"an array of shape {np.shape(out)}")
        raise ValueError(f"minimize needs fun to return a scalar, got {got}; reduce the output "
                         "to one number (e.g. with xnp.sum or xnp.mean)")
    if not np.issubdtype(np.result_type(out), np.floating):
        raise TypeError(f"minimize needs fun to return a floating-point scalar, got dtype "
                        f"{np.result_type(out)}")
    if not np.isfinite(out):
        raise ValueError(f"fun(x0) is {float(out)}; start from a point where it is finite")


class _Reporter:
    """Shows the progress `minimize(progress=...)` asks for (see `xform.optim.progress`)."""

    def __init__(self, label: str, progress, maxiter: int):
        self.show = progress_reporter(progress, label, maxiter)

    def step(self, nit: int, point: _Point) -> None:
        self.show.step(nit, point.value, point.gnorm)

    def done(self, nit: int, point: _Point, message: str) -> None:
        self.show.done(nit, point.value, point.gnorm, message)


def _iterate(start: _Point, advance: Callable, maxiter: int, tol: float,
             reporter: _Reporter):
    """The loop all methods share: stop when the gradient norm is at most `tol`, at `maxiter`,
    on a non-finite objective, or when `advance` returns a message instead of a new point."""
    point, history = start, [start.value]
    for nit in range(maxiter + 1):
        reporter.step(nit, point)
        if not (math.isfinite(point.value) and math.isfinite(point.gnorm)):
            return point, nit, False, (f"the objective or its gradient became non-finite at "
                                       f"iteration {nit}; try a smaller learning rate"), history
        if point.gnorm <= tol:
            return point, nit, True, (f"converged: gradient norm {point.gnorm:.3e} <= "
                                      f"tol {tol:g}"), history
        if nit == maxiter:
            break
        nxt = advance(point)
        if isinstance(nxt, str):
            return point, nit, False, f"stopped at iteration {nit}: {nxt}", history
        point = nxt
        history.append(point.value)
    return point, maxiter, False, (f"maximum number of iterations ({maxiter}) reached with "
                                   f"gradient norm {point.gnorm:.3e} > tol {tol:g}"), history


def _compiler(jit) -> Callable[[Callable], Callable]:
    """How `minimize` wraps its per-iteration functions: `xf.jit` (on the default or the
    named backend), or not at all."""
    if jit is False:
        return lambda f: f
    if jit is True:
        return api.jit
    if isinstance(jit, str) and jit in BACKENDS:
        return lambda f: api.jit(f, backend=jit)
    raise ValueError(f"jit must be True, False or a backend name {BACKENDS}, got {jit!r}")


def _first_order(fun, x, args, opt, maxiter, tol, reporter, compile_):
    """Run a gradient transformation; one (jitted) call per step updates and re-evaluates."""
    def step(x, g, state, *args):
        updates, state = opt.update(g, state, x)
        x = apply_updates(x, updates)
        value, g = api.value_and_grad(fun)(x, *args)
        return x, value, g, global_norm(g), state
    step = compile_(step)

    def advance(p):
        x, value, g, gnorm, state = step(p.x, p.grad, p.state, *args)
        return _Point(x, float(value), g, float(gnorm), state)
    # The start is evaluated without jit: only the step is worth compiling.
    value, g = api.value_and_grad(fun)(x, *args)
    start = _Point(x, float(value), g, float(global_norm(g)), opt.init(x))
    return _iterate(start, advance, maxiter, tol, reporter)


class _FlatView:
    """x0's leaves as one flat vector in their common dtype, and the way back."""

    def __init__(self, x):
        leaves, self.treedef = tree.flatten(x)
        self.shapes = [a.shape for a in leaves]
        self.dtypes = [a.dtype for a in leaves]
        self.dtype = np.result_type(*self.dtypes)
        self.bounds = [int(b) for b in np.cumsum([0] + [a.size for a in leaves])]

    def ravel(self, x) -> np.ndarray:
        return np.concatenate([np.ravel(a).astype(self.dtype) for a in tree.leaves(x)])

    def unravel(self, v):
        """The pytree for the flat vector `v`; traceable, so the objective can be
        differentiated with respect to `v`."""
        parts = [v[a:b].reshape(shape).astype(dt) for a, b, shape, dt
                 in zip(self.bounds[:-1], self.bounds[1:], self.shapes, self.dtypes)]
        return tree.unflatten(self.treedef, parts)


def _flat_point(v, value, g, state=None) -> _Point:
    return _Point(v, float(value), g, float(np.linalg.norm(g)), state)


def _damped_newton_direction(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve `(H + tau I) p = -g` with the smallest tau (from a doubling sequence) that makes
    the matrix positive definite, so `p` is a descent direction even where H is indefinite."""
    if not np.all(np.isfinite(h)):
        return -g
    h = 0.5 * (h + h.T)
    diag = np.diag(h)
    beta = 1e-3 * max(1.0, float(np.max(np.abs(diag))))
    tau = 0.0 if np.min(diag) > 0 else beta - float(np.min(diag))
    eye = np.eye(len(g), dtype=h.dtype)
    for _ in range(100):
        try:
            np.linalg.cholesky(h + tau * eye)
            return -np.linalg.solve(h + tau * eye, g)
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, beta)
    return -g


def _backtrack(f, v, value, g, p, c1=1e-4, max_halvings=60):
    """The first step 1, 1/2, 1/4, ... along `p` with sufficient (Armijo) decrease, or None."""
    slope = float(g @ p)
    alpha = 1.0
    for _ in range(max_halvings):
        trial = float(f(v + alpha * p))
        if math.isfinite(trial) and trial <= value + c1 * alpha * slope:
            return alpha
        alpha *= 0.5
    return None


def _newton(f, vgh, v, maxiter, tol, reporter):
    """Newton's method with Levenberg-style damping and a backtracking line search."""
    def advance(p):
        step = _damped_newton_direction(p.state, p.grad)
        alpha = _backtrack(f, p.x, p.value, p.grad, step)
        if alpha is None:
            return ("the line search found no lower value along the Newton direction (the "
                    "gradient may be at the precision limit of the dtype)")
        x = p.x + alpha * step
        return _flat_point(x, *vgh(x))
    return _iterate(_flat_point(v, *vgh(v)), advance, maxiter, tol, reporter)


class _Trial(NamedTuple):
    """A step length with the objective and its slope along the search direction there."""
    alpha: float
    value: float
    slope: float
    grad: Any


def _cubic_min(lo: _Trial, hi: _Trial) -> float:
    """The minimiser of the cubic matching values and slopes at both ends, kept well inside
    the interval (bisection when the cubic does not help)."""
    a, b = lo.alpha, hi.alpha
    mid = 0.5 * (a + b)
    with np.errstate(all="ignore"):
        d1 = lo.slope + hi.slope - 3 * (lo.value - hi.value) / (a - b)
        rad = d1 * d1 - lo.slope * hi.slope
        if not (math.isfinite(rad) and rad >= 0):
            return mid
        d2 = math.copysign(math.sqrt(rad), b - a)
        denom = hi.slope - lo.slope + 2 * d2
        if denom == 0:
            return mid
        x = b - (b - a) * (hi.slope + d2 - d1) / denom
    left, right = min(a, b), max(a, b)
    margin = 0.1 * (right - left)
    return x if math.isfinite(x) and left + margin <= x <= right - margin else mid


def _wolfe_line_search(phi, start: _Trial, c1=1e-4, c2=0.9, alpha=1.0, max_evals=40):
    """A step satisfying the strong Wolfe conditions along a descent direction, by the
    bracketing and zoom phases of Nocedal & Wright (Algorithms 3.5 and 3.6); None if none was
    found. `phi(alpha)` returns a `_Trial`."""
    def armijo_ok(t):
        return math.isfinite(t.value) and t.value <= start.value + c1 * t.alpha * start.slope

    def curvature_ok(t):
        return abs(t.slope) <= -c2 * start.slope

    def zoom(lo, hi, evals):
        while evals < max_evals and abs(hi.alpha - lo.alpha) > 1e-12 * max(lo.alpha, hi.alpha):
            t = phi(_cubic_min(lo, hi))
            evals += 1
            if not armijo_ok(t) or t.value >= lo.value:
                hi = t
                continue
            if curvature_ok(t):
                return t
            if t.slope * (hi.alpha - lo.alpha) >= 0:
                hi = lo
            lo = t
        # Sufficient decrease without the curvature condition still makes progress.
        return lo if lo.alpha > 0 else None

    prev = start
    for evals in range(1, max_evals + 1):
        t = phi(alpha)
        if not armijo_ok(t) or (evals > 1 and t.value >= prev.value):
            return zoom(prev, t, evals)
        if curvature_ok(t):
            return t
        if t.slope >= 0:
            return zoom(t, prev, evals)
        prev, alpha = t, 2.0 * alpha
    return None


def _bfgs_update(h: np.ndarray, s: np.ndarray, y: np.ndarray, first: bool) -> np.ndarray:
    """The BFGS update of the inverse Hessian estimate; skipped when the curvature `y.s` is
    not safely positive. Before the first update the identity is rescaled to `y.s / y.y`."""
    ys = float(y @ s)
    if not ys > 1e-10 * float(np.linalg.norm(y)) * float(np.linalg.norm(s)):
        return h
    if first:
        h = h * (ys / float(y @ y))
    rho = 1.0 / ys
    hy = h @ y
    return (h - rho * (np.outer(s, hy) + np.outer(hy, s))
            + (rho * rho * float(y @ hy) + rho) * np.outer(s, s))


def _bfgs(vg, v, maxiter, tol, reporter):
    """BFGS on the inverse Hessian with a strong-Wolfe line search; the state is
    (inverse Hessian estimate, whether it was updated yet)."""
    n = len(v)

    def advance(p):
        h, updated = p.state
        direction = -(h @ p.grad)
        slope = float(p.grad @ direction)
        if not slope < 0:  # the estimate lost positive definiteness numerically: restart
            h, updated = np.eye(n, dtype=v.dtype), False
            direction, slope = -p.grad, -float(p.grad @ p.grad)

        def phi(alpha):
            value, g = vg(p.x + alpha * direction)
            return _Trial(alpha, float(value), float(g @ direction), g)
        first_step = 1.0 if updated else min(1.0, 1.0 / p.gnorm)
        t = _wolfe_line_search(phi, _Trial(0.0, p.value, slope, p.grad), alpha=first_step)
        if t is None:
            return ("the line search found no step satisfying the Wolfe conditions (the "
                    "gradient may be at the precision limit of the dtype)")
        x = p.x + t.alpha * direction
        h = _bfgs_update(h, x - p.x, t.grad - p.grad, first=not updated)
        return _flat_point(x, t.value, t.grad, (h, True))
    start = _flat_point(v, *vg(v), (np.eye(n, dtype=v.dtype), False))
    return _iterate(start, advance, maxiter, tol, reporter)


def _second_order(fun, x, args, method, maxiter, tol, reporter, compile_):
    """Run newton or bfgs on the flattened parameters; returns the iterate as a pytree."""
    view = _FlatView(x)

    def flat_fun(v):
        return fun(view.unravel(v), *args)

    def vgh(v):
        value, g = api.value_and_grad(flat_fun)(v)
        return value, g, api.hessian(flat_fun)(v)
    v = view.ravel(x)
    if method == "newton":
        point, *rest = _newton(compile_(flat_fun), compile_(vgh), v, maxiter, tol, reporter)
    else:
        vg = compile_(api.value_and_grad(flat_fun))
        point, *rest = _bfgs(vg, v, maxiter, tol, reporter)
    tree_point = point._replace(x=view.unravel(np.asarray(point.x)),
                                grad=view.unravel(np.asarray(point.grad)))
    return (tree_point, *rest)


def _optimiser_for(method, learning_rate):
    """The gradient transformation that a first-order `method` names or is."""
    if isinstance(method, GradientTransformation):
        if learning_rate is not None:
            raise ValueError("learning_rate cannot be combined with an optimiser object as "
                             "method: set it when building the optimiser")
        return method
    lr = _DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
    return adam(lr) if method == "adam" else sgd(lr)


def minimize(fun: Callable, x0, method="adam", *, args: tuple = (), maxiter: int | None = None,
             tol: float = 1e-6, learning_rate=None, progress=False, jit: bool | str = True
             ) -> OptimizeResult:
    """Minimise the scalar function `fun(x, *args)` starting from the pytree `x0`.

    `method` is "adam" or "sgd" (first order, step size `learning_rate`, default 1e-2, a
    number or a schedule), "newton" (exact Hessian, damped where it is not positive definite,
    with a backtracking line search), "bfgs" (inverse-Hessian BFGS with a strong Wolfe line
    search), or any gradient transformation such as `xf.optim.adamw(1e-3)`. Iteration stops
    when the gradient norm is at most `tol` (`success` is then True) or after `maxiter` steps
    (default 1000 for first-order methods, 100 for newton, 500 for bfgs). Integer leaves of
    `x0` are converted to float64; float32 leaves stay float32 throughout. With `jit=True` the
    per-iteration functions are compiled by `xf.jit` (a backend name such as "interpreter"
    picks the backend; False runs them eagerly). `progress=True` shows a progress bar on
    stderr (iterations, loss, gradient norm; tqdm's when it is installed, else a line rewritten
    in place; `"plain"` forces that one), a number n prints a log line every n iterations.
    `result.history` holds the loss per iteration and `result.plot()` draws it (matplotlib,
    `pip install 'xform[plot]'`).

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> res = xf.optim.minimize(lambda x: xnp.sum((x - 3.0) ** 2), np.zeros(2), method="bfgs")
    >>> res.success, np.round(res.x, 6)
    (True, array([3., 3.]))
    """
    if not callable(fun):
        raise TypeError(f"minimize needs a function to minimise, got {fun!r}")
    if not isinstance(method, GradientTransformation) and method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(_METHODS)}, or "
                         "pass an optimiser such as xf.optim.adamw(1e-3)")
    label = f"minimize({method if isinstance(method, str) else 'optimiser'})"
    if method in ("newton", "bfgs") and learning_rate is not None:
        raise ValueError(f"learning_rate does not apply to method {method!r}, which chooses "
                         "its steps by a line search; leave it out")
    if learning_rate is not None:
        check_learning_rate(learning_rate)
    tol = check_number("tol", tol, 0.0)
    if maxiter is None:
        maxiter = _DEFAULT_MAXITER.get(method, 1000)
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral) or maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer, got {maxiter!r}")
    x = tree.map(_as_float_leaf, x0)
    if not tree.leaves(x):
        raise ValueError("x0 has no leaves to optimise; pass an array or a pytree of arrays")
    args = tuple(args)
    compile_ = _compiler(jit)
    _check_objective(fun, x, args)
    reporter = _Reporter(label, progress, maxiter)
    if method in ("newton", "bfgs"):
        run = _second_order(fun, x, args, method, maxiter, tol, reporter, compile_)
    else:
        run = _first_order(fun, x, args, _optimiser_for(method, learning_rate), maxiter, tol,
                           reporter, compile_)
    point, nit, success, message, history = run
    reporter.done(nit, point, message)
    return OptimizeResult(x=tree.map(np.asarray, point.x), fun=point.value,
                          grad=tree.map(np.asarray, point.grad), nit=nit, success=success,
                          message=message, history=history)
