"""Optimisers: optax-style gradient transformations, learning-rate schedules and `minimize`."""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import xform.numpy as xnp
from xform import api, tree
from xform.backends import BACKENDS

__all__ = [
    "GradientTransformation",
    "OptimizeResult",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "global_norm",
    "identity",
    "minimize",
    "rmsprop",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "sgd",
    "trace",
]


# ----------------------------------------------------------------------------- validation

def _number(name: str, value, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a Python float after checking it is a real number in the given range.

    Hyperparameters become Python floats so that they stay weakly typed: a float32 parameter
    times a Python float is float32, whereas times a numpy float64 it would be upcast.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    too_low = v <= low if low_open else v < low
    too_high = v >= high if high_open else v > high
    if math.isnan(v) or too_low or too_high:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lo}{low}, {high}{hi}, got {value!r}")
    return v


def _learning_rate(value):
    """A learning rate: a positive finite number, or a schedule (a callable of the step)."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"learning_rate must be a positive number or a schedule (a function of "
                        f"the step count), got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"learning_rate must be a positive finite number, got {value!r}; the "
                         "optimiser already steps against the gradient (to maximise a function, "
                         "minimise its negative)")
    return float(value)


def _dtype(x) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _check_same_tree(a, b, what_a: str, what_b: str) -> None:
    """A ValueError unless `a` and `b` are pytrees of one structure with equally shaped leaves."""
    leaves_a, def_a = tree.flatten(a)
    leaves_b, def_b = tree.flatten(b)
    if def_a != def_b:
        raise ValueError(f"the pytree structure of {what_a}, {def_a}, differs from that of "
                         f"{what_b}, {def_b}; they must match leaf for leaf (gradients and "
                         "updates of the very parameters the optimiser state was built from)")
    for i, (x, y) in enumerate(zip(leaves_a, leaves_b)):
        if _shape(x) != _shape(y):
            raise ValueError(f"leaf {i} of {what_a} has shape {_shape(x)} but the matching "
                             f"leaf of {what_b} has shape {_shape(y)}")


def _zeros_like_param(p):
    """A zero moment for parameter `p`; optimisers only make sense for floating parameters."""
    if not np.issubdtype(_dtype(p), np.floating):
        raise TypeError(f"optimiser parameters must be floating-point arrays, got a leaf of "
                        f"dtype {_dtype(p)}; convert it first (e.g. x.astype(float))")
    return xnp.zeros_like(p)


def _full_like_param(p, value: float):
    return _zeros_like_param(p) + value


def _like(s, x):
    """The scalar `s` (e.g. a bias correction or a scheduled rate) in the dtype of `x`, so
    that applying it does not upcast a float32 leaf."""
    return xnp.asarray(s, dtype=_dtype(x))


# ----------------------------------------------------------------------------- transformations

class GradientTransformation(NamedTuple):
    """A pair of pure functions over pytrees, as in optax.

    `init(params) -> state` builds the optimiser state; `update(grads, state, params=None) ->
    (updates, state)` turns gradients into the updates to add to the parameters. Both are written
    with `xform.numpy`, so they can run under `xf.jit`.

    >>> import numpy as np, xform as xf
    >>> opt = xf.optim.sgd(0.1)
    >>> params = {"w": np.ones(2)}
    >>> updates, state = opt.update({"w": np.array([1.0, -2.0])}, opt.init(params))
    >>> xf.optim.apply_updates(params, updates)["w"].tolist()
    [0.9, 1.2]
    """
    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class TraceState(NamedTuple):
    """The momentum buffer of `trace`."""
    trace: Any


class ScaleByAdamState(NamedTuple):
    """Adam's step count and first and second moment estimates."""
    count: Any
    mu: Any
    nu: Any


class ScaleByRmsState(NamedTuple):
    """RMSProp's moving average of squared gradients."""
    nu: Any


class ScaleByRssState(NamedTuple):
    """Adagrad's running sum of squared gradients."""
    sum_of_squares: Any


class ScaleByScheduleState(NamedTuple):
    """The step count a schedule is evaluated at."""
    count: Any


def _step_count():
    return np.zeros((), np.int32)


def identity() -> GradientTransformation:
    """The transformation that returns the gradients unchanged."""
    return GradientTransformation(lambda params: EmptyState(),
                                  lambda grads, state, params=None: (grads, state))


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply `transforms` one after the other; the state is the tuple of their states.

    >>> import xform as xf
    >>> opt = xf.optim.chain(xf.optim.clip_by_global_norm(1.0), xf.optim.adam(1e-3))
    """
    for i, t in enumerate(transforms):
        if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
            raise TypeError(f"chain argument {i} is {t!r}, not a gradient transformation (an "
                            "object with init and update, such as xf.optim.adam(1e-3))")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        if not (isinstance(state, tuple) and len(state) == len(transforms)):
            raise ValueError("the state does not belong to this optimiser: pass the state "
                             "returned by its own init (or by its previous update)")
        if params is not None:
            _check_same_tree(grads, params, "the gradients", "the parameters")
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)
    return GradientTransformation(init, update)


def scale(step_size: float) -> GradientTransformation:
    """Multiply the updates by a fixed `step_size`."""
    step_size = _number("step_size", step_size)

    def update(grads, state, params=None):
        return tree.map(lambda g: step_size * g, grads), state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_schedule(step_size_fn: Callable) -> GradientTransformation:
    """Multiply the updates by `step_size_fn(count)`, `count` being 0 at the first update."""
    if not callable(step_size_fn):
        raise TypeError(f"scale_by_schedule needs a function of the step count, got "
                        f"{step_size_fn!r}")

    def update(grads, state, params=None):
        s = step_size_fn(state.count)
        updates = tree.map(lambda g: _like(s, g) * g, grads)
        return updates, ScaleByScheduleState(state.count + 1)
    return GradientTransformation(lambda params: ScaleByScheduleState(_step_count()), update)


def scale_by_learning_rate(learning_rate) -> GradientTransformation:
    """Multiply the updates by `-learning_rate` (a number or a schedule), to descend."""
    lr = _learning_rate(learning_rate)
    if callable(lr):
        return scale_by_schedule(lambda count: -lr(count))
    return scale(-lr)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: `t = g + decay * t`; the update is `t`, or `g + decay * t` with nesterov."""
    decay = _number("momentum", decay, 0.0, 1.0)

    def init(params):
        return TraceState(tree.map(_zeros_like_param, params))

    def update(grads, state, params=None):
        _check_same_tree(grads, state.trace, "the gradients", "the momentum state")
        new = tree.map(lambda g, t: g + decay * t, grads, state.trace)
        out = tree.map(lambda g, t: g + decay * t, grads, new) if nesterov else new
        return out, TraceState(new)
    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
                  ) -> GradientTransformation:
    """Adam's direction `m̂ / (sqrt(v̂) + eps)` with bias-corrected moment estimates."""
    b1 = _number("b1", b1, 0.0, 1.0, high_open=True)
    b2 = _number("b2", b2, 0.0, 1.0, high_open=True)
    eps = _number("eps", eps, 0.0)

    def init(params):
        mu = tree.map(_zeros_like_param, params)
        return ScaleByAdamState(_step_count(), mu, tree.map(_zeros_like_param, params))

    def update(grads, state, params=None):
        _check_same_tree(grads, state.mu, "the gradients", "the adam state")
        mu = tree.map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.mu)
        nu = tree.map(lambda g, v: b2 * v + (1 - b2) * (g * g), grads, state.nu)
        count = state.count + 1
        c1, c2 = 1 - b1 ** count, 1 - b2 ** count

        def direction(m, v):
            return (m / _like(c1, m)) / (xnp.sqrt(v / _like(c2, v)) + eps)
        return tree.map(direction, mu, nu), ScaleByAdamState(count, mu, nu)
    return GradientTransformation(init, update)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8) -> GradientTransformation:
    """RMSProp's direction `g / sqrt(v + eps)`, `v` a moving average of `g**2` started at 0."""
    decay = _number("decay", decay, 0.0, 1.0)
    eps = _number("eps", eps, 0.0)

    def init(params):
        return ScaleByRmsState(tree.map(_zeros_like_param, params))

    def update(grads, state, params=None):
        _check_same_tree(grads, state.nu, "the gradients", "the rmsprop state")
        nu = tree.map(lambda g, v: decay * v + (1 - decay) * (g * g), grads, state.nu)
        return tree.map(lambda g, v: g / xnp.sqrt(v + eps), grads, nu), ScaleByRmsState(nu)
    return GradientTransformation(init, update)


def scale_by_rss(initial_accumulator_value: float = 0.1, eps: float = 1e-7
                 ) -> GradientTransformation:
    """Adagrad's direction `g / sqrt(s + eps)`, `s` the running sum of `g**2`."""
    initial = _number("initial_accumulator_value", initial_accumulator_value, 0.0)
    eps = _number("eps", eps, 0.0)

    def init(params):
        return ScaleByRssState(tree.map(lambda p: _full_like_param(p, initial), params))

    def direction(g, s):
        # s >= g**2, so s == 0 means g == 0: a unit denominator then gives the update 0
        # without ever dividing by zero (eps may be 0).
        return g / xnp.sqrt(xnp.where(s > 0, s + eps, 1.0))

    def update(grads, state, params=None):
        _check_same_tree(grads, state.sum_of_squares, "the gradients", "the adagrad state")
        s = tree.map(lambda g, a: a + g * g, grads, state.sum_of_squares)
        return tree.map(direction, grads, s), ScaleByRssState(s)
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """Add `weight_decay * params` to the updates (decoupled weight decay, as in AdamW)."""
    weight_decay = _number("weight_decay", weight_decay, 0.0)

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("weight decay needs the parameters: call "
                             "update(grads, state, params)")
        _check_same_tree(grads, params, "the gradients", "the parameters")
        return tree.map(lambda g, p: g + weight_decay * p, grads, params), state
    return GradientTransformation(lambda params: EmptyState(), update)


def global_norm(updates) -> Any:
    """The L2 norm of all leaves of a pytree taken together.

    >>> import numpy as np, xform as xf
    >>> float(xf.optim.global_norm({"a": np.array([3.0]), "b": np.array([4.0])}))
    5.0
    """
    total = 0.0
    for x in tree.leaves(updates):
        total = total + xnp.sum(x * x)
    return xnp.sqrt(total)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Rescale the updates so that their global norm is at most `max_norm`.

    >>> import numpy as np, xform as xf
    >>> clip = xf.optim.clip_by_global_norm(1.0)
    >>> np.round(clip.update(np.array([3.0, 4.0]), clip.init(None))[0], 6).tolist()
    [0.6, 0.8]
    """
    max_norm = _number("max_norm", max_norm, 0.0, low_open=True)

    def update(grads, state, params=None):
        # max_norm / max(norm, max_norm) is 1 below the threshold and never divides by zero.
        factor = max_norm / xnp.maximum(global_norm(grads), max_norm)
        return tree.map(lambda g: _like(factor, g) * g, grads), state
    return GradientTransformation(lambda params: EmptyState(), update)


def apply_updates(params, updates):
    """`params + updates` leaf by leaf, each result keeping its parameter's dtype.

    >>> import numpy as np, xform as xf
    >>> xf.optim.apply_updates([np.float32(1.0)], [np.float64(0.5)])[0].dtype
    dtype('float32')
    """
    _check_same_tree(updates, params, "the updates", "the parameters")
    return tree.map(lambda p, u: xnp.asarray(p + u, dtype=_dtype(p)), params, updates)


# ----------------------------------------------------------------------------- optimisers

def sgd(learning_rate, momentum: float = 0.0, nesterov: bool = False) -> GradientTransformation:
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    `learning_rate` is a positive number or a schedule (a function of the step count).

    >>> import numpy as np, xform as xf
    >>> opt = xf.optim.sgd(0.5, momentum=0.9)
    >>> float(opt.update(np.array(2.0), opt.init(np.array(1.0)))[0])
    -1.0
    """
    lr = scale_by_learning_rate(learning_rate)
    if momentum == 0.0 and not nesterov:
        return chain(lr)
    return chain(trace(momentum, nesterov), lr)


def adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
         ) -> GradientTransformation:
    """Adam (Kingma & Ba): `-lr * m̂ / (sqrt(v̂) + eps)` with bias-corrected moments.

    >>> import numpy as np, xform as xf
    >>> opt = xf.optim.adam(0.1)
    >>> round(float(opt.update(np.array(3.0), opt.init(np.array(1.0)))[0]), 6)  # -lr*sign(g)
    -0.1
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-4) -> GradientTransformation:
    """Adam with decoupled weight decay: `-lr * (adam direction + weight_decay * params)`.

    `update` needs `params`.

    >>> import numpy as np, xform as xf
    >>> opt, p = xf.optim.adamw(0.1, weight_decay=0.5), np.array(2.0)
    >>> round(float(opt.update(np.array(3.0), opt.init(p), p)[0]), 6)
    -0.2
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay),
                 scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate, decay: float = 0.9, eps: float = 1e-8, momentum: float = 0.0
            ) -> GradientTransformation:
    """RMSProp: `-lr * g / sqrt(v + eps)`; with momentum, the scaled steps are accumulated
    (`t = step + momentum * t`) as in optax.

    >>> import numpy as np, xform as xf
    >>> opt = xf.optim.rmsprop(0.01, decay=0.75, eps=0.0)
    >>> float(opt.update(np.array(4.0), opt.init(np.array(1.0)))[0])
    -0.02
    """
    parts = [scale_by_rms(decay, eps), scale_by_learning_rate(learning_rate)]
    if momentum != 0.0:
        parts.append(trace(momentum))
    return chain(*parts)


def adagrad(learning_rate, initial_accumulator_value: float = 0.1, eps: float = 1e-7
            ) -> GradientTransformation:
    """Adagrad: `-lr * g / sqrt(s + eps)`, `s` the sum of squared gradients so far (started at
    `initial_accumulator_value`).

    >>> import numpy as np, xform as xf
    >>> opt = xf.optim.adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
    >>> float(opt.update(np.array(-2.0), opt.init(np.array(1.0)))[0])
    1.0
    """
    return chain(scale_by_rss(initial_accumulator_value, eps),
                 scale_by_learning_rate(learning_rate))


# ----------------------------------------------------------------------------- schedules

def constant_schedule(value: float) -> Callable:
    """The schedule that always returns `value`.

    >>> import xform as xf
    >>> xf.optim.constant_schedule(0.1)(1000)
    0.1
    """
    value = _number("value", value)
    return lambda count: value


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Callable:
    """`init_value * decay_rate ** ((count - transition_begin) / transition_steps)`, constant
    before `transition_begin`; `staircase` floors the exponent, `end_value` bounds the result.

    >>> import xform as xf
    >>> float(xf.optim.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)(20))
    0.25
    """
    init_value = _number("init_value", init_value)
    transition_steps = _number("transition_steps", transition_steps, 0.0, low_open=True)
    decay_rate = _number("decay_rate", decay_rate, 0.0, low_open=True)
    transition_begin = _number("transition_begin", transition_begin, 0.0)
    if end_value is not None:
        end_value = _number("end_value", end_value)
    bound = xnp.maximum if decay_rate < 1 else xnp.minimum

    def schedule(count):
        p = xnp.maximum(count - transition_begin, 0) / transition_steps
        if staircase:
            p = xnp.floor(p)
        value = init_value * decay_rate ** p
        return value if end_value is None else bound(value, end_value)
    return schedule


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0,
                          exponent: float = 1.0) -> Callable:
    """Cosine decay from `init_value` to `alpha * init_value` over `decay_steps`, then constant:
    `init_value * ((1 - alpha) * (0.5 * (1 + cos(pi * t / decay_steps))) ** exponent + alpha)`.

    >>> import xform as xf
    >>> float(xf.optim.cosine_decay_schedule(1.0, decay_steps=100)(50))
    0.5
    """
    init_value = _number("init_value", init_value)
    decay_steps = _number("decay_steps", decay_steps, 0.0, low_open=True)
    alpha = _number("alpha", alpha)
    exponent = _number("exponent", exponent)

    def schedule(count):
        t = xnp.minimum(count, decay_steps)
        cosine = 0.5 * (1 + xnp.cos(math.pi * t / decay_steps))
        return init_value * ((1 - alpha) * cosine ** exponent + alpha)
    return schedule


# ----------------------------------------------------------------------------- minimize

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
    """Prints progress lines when asked to: every `every` iterations, and at the end."""

    def __init__(self, label: str, progress, maxiter: int):
        if progress is True:
            self.every = max(1, maxiter // 10)
        elif isinstance(progress, int) and progress > 0:
            self.every = progress
        else:
            self.every = 0
        self.label = label

    def step(self, nit: int, point: _Point) -> None:
        if self.every and nit % self.every == 0:
            print(f"{self.label} iter {nit:6d}  fun {point.value: .8e}  "
                  f"|grad| {point.gnorm:.3e}", flush=True)

    def done(self, nit: int, point: _Point, message: str) -> None:
        if self.every:
            print(f"{self.label} stop at iter {nit}: fun {point.value: .8e}, "
                  f"|grad| {point.gnorm:.3e}; {message}", flush=True)


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
    picks the backend; False runs them eagerly); `progress=True` (or a number of iterations)
    prints a line every so many iterations.

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
        _learning_rate(learning_rate)
    tol = _number("tol", tol, 0.0)
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
