"""Optax-style gradient transformations, optimisers and learning-rate schedules.

Each optimiser is an `init(params) -> state` and `update(grads, state, params) -> (updates,
state)` pair written with xform.numpy, so it runs eagerly, under jit and under other
transformations; `apply_updates` adds the updates to the parameters.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import xform.numpy as xnp
from xform import tree

__all__ = [
    "GradientTransformation",
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

def check_number(name: str, value, low: float = -math.inf, high: float = math.inf,
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


def check_learning_rate(value):
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
    step_size = check_number("step_size", step_size)

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
    lr = check_learning_rate(learning_rate)
    if callable(lr):
        return scale_by_schedule(lambda count: -lr(count))
    return scale(-lr)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: `t = g + decay * t`; the update is `t`, or `g + decay * t` with nesterov."""
    decay = check_number("momentum", decay, 0.0, 1.0)

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
    b1 = check_number("b1", b1, 0.0, 1.0, high_open=True)
    b2 = check_number("b2", b2, 0.0, 1.0, high_open=True)
    eps = check_number("eps", eps, 0.0)

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
    decay = check_number("decay", decay, 0.0, 1.0)
    eps = check_number("eps", eps, 0.0)

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
    initial = check_number("initial_accumulator_value", initial_accumulator_value, 0.0)
    eps = check_number("eps", eps, 0.0)

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
    weight_decay = check_number("weight_decay", weight_decay, 0.0)

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
    max_norm = check_number("max_norm", max_norm, 0.0, low_open=True)

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
    value = check_number("value", value)
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
    init_value = check_number("init_value", init_value)
    transition_steps = check_number("transition_steps", transition_steps, 0.0, low_open=True)
    decay_rate = check_number("decay_rate", decay_rate, 0.0, low_open=True)
    transition_begin = check_number("transition_begin", transition_begin, 0.0)
    if end_value is not None:
        end_value = check_number("end_value", end_value)
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
    init_value = check_number("init_value", init_value)
    decay_steps = check_number("decay_steps", decay_steps, 0.0, low_open=True)
    alpha = check_number("alpha", alpha)
    exponent = check_number("exponent", exponent)

    def schedule(count):
        t = xnp.minimum(count, decay_steps)
        cosine = 0.5 * (1 + xnp.cos(math.pi * t / decay_steps))
        return init_value * ((1 - alpha) * cosine ** exponent + alpha)
    return schedule
