"""Optimizers with the API of JAX's `jax.example_libraries.optimizers`.

Each optimizer is a triple of functions `(init_fun, update_fun, get_params)`:
`opt_state = init_fun(params)`, `opt_state = update_fun(step, grads, opt_state)` and
`params = get_params(opt_state)`, where `params` and `grads` are pytrees of arrays and
`opt_state` is an `OptimizerState` pytree, so all three can be passed through `xf.jit`. Step
sizes are numbers or schedules (functions of the step number). Float32 parameters keep float32
state and updates.

    opt_init, opt_update, get_params = optimizers.adam(1e-3)
    opt_state = opt_init(params)
    opt_state = opt_update(i, xf.grad(loss)(get_params(opt_state), batch), opt_state)
"""
from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable

import numpy as np

import xform.numpy as xnp
from xform import tree
from xform.numpy._core import dtype_of

__all__ = [
    "JoinPoint", "Optimizer", "OptimizerState", "adagrad", "adam", "adamax", "clip_grads",
    "constant", "exponential_decay", "inverse_time_decay", "l2_norm", "make_schedule",
    "momentum", "nesterov", "optimizer", "pack_optimizer_state", "piecewise_constant",
    "polynomial_decay", "rmsprop", "rmsprop_momentum", "sgd", "sm3",
    "unpack_optimizer_state",
]

OptimizerState = namedtuple("OptimizerState", ["packed_state", "tree_def", "subtree_defs"])
OptimizerState.__doc__ = ("The state of an optimizer over a pytree of parameters: the flat "
                          "leaves of each parameter's state (children) and the structures "
                          "needed to rebuild them (static).")
tree.register_node(OptimizerState,
                   lambda s: ((s.packed_state,), (s.tree_def, tuple(s.subtree_defs))),
                   lambda aux, children: OptimizerState(children[0], *aux))

Optimizer = namedtuple("Optimizer", ["init_fn", "update_fn", "params_fn"])


# ----------------------------------------------------------------------------- pytrees

def optimizer(opt_maker: Callable) -> Callable:
    """Lift an optimizer written for one array (`init(x0) -> state`, `update(i, g, state)
    -> state`, `get_params(state) -> x`) to pytrees of arrays, as an `Optimizer` triple."""
    @functools.wraps(opt_maker)
    def tree_opt_maker(*args, **kwargs):
        init, update, get_params = opt_maker(*args, **kwargs)

        @functools.wraps(init)
        def tree_init(x0_tree):
            x0_flat, treedef = tree.flatten(x0_tree)
            states = [tree.flatten(init(x0)) for x0 in x0_flat]
            return OptimizerState([s for s, _ in states], treedef, tuple(d for _, d in states))

        @functools.wraps(update)
        def tree_update(i, grad_tree, opt_state):
            states_flat, treedef, subtrees = opt_state
            grad_flat, grad_def = tree.flatten(grad_tree)
            if grad_def != treedef:
                raise TypeError(f"optimizer update: the gradient has structure {grad_def}, but "
                                f"the parameters have {treedef}")
            new = [tree.flatten(update(i, g, tree.unflatten(d, s)))
                   for g, s, d in zip(grad_flat, states_flat, subtrees)]
            for (_, got), want in zip(new, subtrees):
                if got != want:
                    raise TypeError(f"optimizer update: the state changed structure from "
                                    f"{want} to {got}")
            return OptimizerState([s for s, _ in new], treedef, subtrees)

        @functools.wraps(get_params)
        def tree_get_params(opt_state):
            states_flat, treedef, subtrees = opt_state
            return tree.unflatten(treedef, [get_params(tree.unflatten(d, s))
                                            for s, d in zip(states_flat, subtrees)])
        return Optimizer(tree_init, tree_update, tree_get_params)
    return tree_opt_maker


# ----------------------------------------------------------------------------- helpers

def _like(value, x):
    """A step size or coefficient as a 0-d value of x's floating dtype (no float32 upcast).

    Complements such as 1 - b2 are taken of the Python number before this rounding, as in
    JAX: 1 - float32(0.999) is 1.3e-5 away from float32(1 - 0.999).
    """
    dt = dtype_of(x)
    if not np.issubdtype(dt, np.floating):
        dt = np.dtype(np.float64)
    value = xnp.asarray(value)
    return value if value.dtype == dt else value.astype(dt)


def _power(base, i, x):
    """base ** (i + 1) in x's floating dtype (i may be traced)."""
    return _like(base, x) ** _like(xnp.asarray(i) + 1, x)


def _zeros_like(x):
    return xnp.zeros_like(x)


# ----------------------------------------------------------------------------- optimizers

@optimizer
def sgd(step_size):
    """Stochastic gradient descent: x <- x - step_size(i) * g."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0

    def update(i, g, x):
        return x - _like(step_size(i), x) * g
    return init, update, lambda x: x


@optimizer
def momentum(step_size, mass: float):
    """Gradient descent with momentum: v <- mass * v + g, x <- x - step_size(i) * v."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0)

    def update(i, g, state):
        x, velocity = state
        velocity = _like(mass, x) * velocity + g
        return x - _like(step_size(i), x) * velocity, velocity
    return init, update, lambda state: state[0]


@optimizer
def nesterov(step_size, mass: float):
    """Nesterov's accelerated gradient: v <- mass * v + g, x <- x - step_size(i) *
    (mass * v + g)."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0)

    def update(i, g, state):
        x, velocity = state
        velocity = _like(mass, x) * velocity + g
        return x - _like(step_size(i), x) * (_like(mass, x) * velocity + g), velocity
    return init, update, lambda state: state[0]


def _inv_sqrt_or_zero(a):
    safe = xnp.where(a > 0, a, xnp.ones_like(a))
    return xnp.where(a > 0, 1 / xnp.sqrt(safe), xnp.zeros_like(a))


@optimizer
def adagrad(step_size, momentum: float = 0.9):
    """Adagrad (Duchi et al.) with momentum on the scaled gradient."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0), _zeros_like(x0)

    def update(i, g, state):
        x, g_sq, m = state
        g_sq = g_sq + xnp.square(g)
        mom = _like(momentum, x)
        m = _like(1 - momentum, x) * (g * _inv_sqrt_or_zero(g_sq)) + mom * m
        return x - _like(step_size(i), x) * m, g_sq, m
    return init, update, lambda state: state[0]


@optimizer
def rmsprop(step_size, gamma: float = 0.9, eps: float = 1e-8):
    """RMSProp: a <- gamma * a + (1 - gamma) * g^2, x <- x - step_size(i) * g / sqrt(a + eps)."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0)

    def update(i, g, state):
        x, avg_sq_grad = state
        gam = _like(gamma, x)
        avg_sq_grad = avg_sq_grad * gam + xnp.square(g) * _like(1 - gamma, x)
        return x - _like(step_size(i), x) * g / xnp.sqrt(avg_sq_grad + _like(eps, x)), \
            avg_sq_grad
    return init, update, lambda state: state[0]


@optimizer
def rmsprop_momentum(step_size, gamma: float = 0.9, eps: float = 1e-8,
                     momentum: float = 0.9):
    """RMSProp with momentum on the scaled step."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0), _zeros_like(x0)

    def update(i, g, state):
        x, avg_sq_grad, mom = state
        gam = _like(gamma, x)
        avg_sq_grad = avg_sq_grad * gam + xnp.square(g) * _like(1 - gamma, x)
        mom = (_like(momentum, x) * mom
               + _like(step_size(i), x) * g / xnp.sqrt(avg_sq_grad + _like(eps, x)))
        return x - mom, avg_sq_grad, mom
    return init, update, lambda state: state[0]


@optimizer
def adam(step_size, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adam (Kingma and Ba) with bias-corrected moment estimates.

    >>> import numpy as np
    >>> init, update, get_params = adam(0.1)
    >>> get_params(update(0, {"w": np.ones(2)}, init({"w": np.zeros(2)})))["w"].round(6).tolist()
    [-0.1, -0.1]
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0), _zeros_like(x0)

    def update(i, g, state):
        x, m, v = state
        c1, c2 = _like(b1, x), _like(b2, x)
        m = _like(1 - b1, x) * g + c1 * m
        v = _like(1 - b2, x) * xnp.square(g) + c2 * v
        m_hat = m / (1 - _power(b1, i, x))
        v_hat = v / (1 - _power(b2, i, x))
        return x - _like(step_size(i), x) * m_hat / (xnp.sqrt(v_hat) + _like(eps, x)), m, v
    return init, update, lambda state: state[0]


@optimizer
def adamax(step_size, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
    """Adamax, the infinity-norm variant of Adam."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, _zeros_like(x0), _zeros_like(x0)

    def update(i, g, state):
        x, m, u = state
        c1 = _like(b1, x)
        m = _like(1 - b1, x) * g + c1 * m
        u = xnp.maximum(_like(b2, x) * u, xnp.abs(g))
        step = _like(step_size(i), x) / (1 - _power(b1, i, x))
        return x - step * m / (u + _like(eps, x)), m, u
    return init, update, lambda state: state[0]


@optimizer
def sm3(step_size, momentum: float = 0.9):
    """SM3 (Anil et al.): memory-efficient adaptive steps from one accumulator per axis."""
    step_size = make_schedule(step_size)

    def init(x0):
        vs = [xnp.zeros(n, dtype_of(x0)) for n in np.shape(x0)] or [xnp.zeros(1, dtype_of(x0))]
        return x0, _zeros_like(x0), vs

    def update(i, g, state):
        x, m, vs = state
        g1 = xnp.atleast_1d(g)
        nd = g1.ndim
        expanded = [xnp.reshape(v, tuple(-1 if d == k else 1 for d in range(nd)))
                    for k, v in enumerate(vs)]
        accum = functools.reduce(xnp.minimum, expanded) + xnp.square(g1)
        mom = _like(momentum, x)
        scaled = xnp.reshape(g1 * _inv_sqrt_or_zero(accum), np.shape(g))
        m = _like(1 - momentum, x) * scaled + mom * m
        vs = [xnp.max(accum, tuple(d for d in range(nd) if d != k)) for k in range(nd)]
        return x - _like(step_size(i), x) * m, m, vs
    return init, update, lambda state: state[0]


# ----------------------------------------------------------------------------- schedules

def constant(step_size) -> Callable:
    """The schedule i -> step_size."""
    return lambda i: step_size


def exponential_decay(step_size, decay_steps, decay_rate) -> Callable:
    """The schedule i -> step_size * decay_rate ** (i / decay_steps).

    >>> float(exponential_decay(1.0, 10, 0.5)(20))
    0.25
    """
    return lambda i: step_size * decay_rate ** (xnp.asarray(i) / decay_steps)


def inverse_time_decay(step_size, decay_steps, decay_rate, staircase: bool = False) -> Callable:
    """The schedule i -> step_size / (1 + decay_rate * i / decay_steps) (the ratio floored
    with `staircase`)."""
    def schedule(i):
        ratio = xnp.asarray(i) / decay_steps
        return step_size / (1 + decay_rate * (xnp.floor(ratio) if staircase else ratio))
    return schedule


def polynomial_decay(step_size, decay_steps, final_step_size, power=1.0) -> Callable:
    """The schedule decaying from step_size to final_step_size over decay_steps steps as
    (1 - i / decay_steps) ** power, then constant."""
    def schedule(i):
        done = xnp.minimum(xnp.asarray(i), decay_steps) / decay_steps
        return (1 - done) ** power * (step_size - final_step_size) + final_step_size
    return schedule


def piecewise_constant(boundaries, values) -> Callable:
    """The schedule giving values[k] for boundaries[k-1] < i <= boundaries[k] (values has one
    more entry than boundaries).

    >>> float(piecewise_constant([10, 20], [1.0, 0.5, 0.1])(15))
    0.5
    """
    boundaries, values = np.asarray(boundaries), np.asarray(values)
    if not boundaries.ndim == values.ndim == 1:
        raise ValueError("piecewise_constant: boundaries and values must be sequences")
    if values.shape[0] != boundaries.shape[0] + 1:
        raise ValueError("piecewise_constant: values must have one more entry than boundaries")
    table = xnp.asarray(values)
    return lambda i: table[xnp.sum(xnp.asarray(i) > boundaries)]


def make_schedule(scalar_or_schedule) -> Callable:
    """A schedule as it is, a number as the constant schedule."""
    if callable(scalar_or_schedule):
        return scalar_or_schedule
    if np.ndim(scalar_or_schedule) == 0:
        return constant(scalar_or_schedule)
    raise TypeError(f"a step size must be a number or a schedule (a function of the step), "
                    f"got {type(scalar_or_schedule).__name__}")


# ----------------------------------------------------------------------------- utilities

def l2_norm(tree_):
    """The Euclidean norm of all the leaves of a pytree taken together."""
    leaves = tree.leaves(tree_)
    return xnp.sqrt(sum(xnp.sum(xnp.square(x)) for x in leaves))


def clip_grads(grad_tree, max_norm):
    """The gradients scaled down to a joint l2 norm of at most `max_norm`."""
    norm = l2_norm(grad_tree)
    return tree.map(lambda g: xnp.where(norm < max_norm, g, g * (max_norm / norm)), grad_tree)


class JoinPoint:
    """Marks where a parameter's optimizer state joins the parameter tree (see
    `unpack_optimizer_state`)."""

    def __init__(self, subtree):
        self.subtree = subtree

    def __iter__(self):
        yield self.subtree


def unpack_optimizer_state(opt_state: OptimizerState):
    """The state as a pytree shaped like the parameters whose leaves are `JoinPoint`s holding
    each parameter's state (picklable, for saving)."""
    states_flat, treedef, subtree_defs = opt_state
    joins = [JoinPoint(tree.unflatten(d, s)) for s, d in zip(states_flat, subtree_defs)]
    return tree.unflatten(treedef, joins)


def pack_optimizer_state(marked_pytree) -> OptimizerState:
    """The inverse of `unpack_optimizer_state`."""
    joins, treedef = tree.flatten(marked_pytree)
    if not all(isinstance(j, JoinPoint) for j in joins):
        raise TypeError("pack_optimizer_state needs the output of unpack_optimizer_state")
    flat = [tree.flatten(j.subtree) for j in joins]
    return OptimizerState([s for s, _ in flat], treedef, tuple(d for _, d in flat))
