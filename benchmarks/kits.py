"""Each library's toolkit: its numpy-like ops, its transformations and its array conversion.

A workload recipe receives a Kit and builds its implementation from it, so one recipe serves
xform (interpreted and jitted), JAX, autograd and PyTorch alike. Libraries are imported only
when their kit is first asked for; a missing one raises ModuleNotFoundError.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from benchmarks import allocator


@dataclass(frozen=True)
class Kit:
    """One library's way of running a workload recipe."""
    ops: Any                     # tanh sin cos exp sum mean logsumexp, numpy signatures (and
                                 # conv max_pool relu reshape where the CNN workload runs)
    grad: Callable
    value_and_grad: Callable     # returns (value, grad) as in JAX
    hessian: Callable
    vmap: Callable | None        # vmap(f, in_axes); None when the library has none
    jit: Callable                # the identity for eager kits
    convert: Callable            # numpy array or float -> the library's input value
    sync: Callable               # waits for asynchronous results and returns them
    optimizers: str | None = None  # the module of jax.example_libraries.optimizers or its
                                   # port, imported by the recipes that use it (not timed in
                                   # the first-call rows)

    def inputs(self, *values):
        """The values (pytrees of lists and tuples of arrays) as this library's inputs."""
        return tree_map(self.convert, values)


def tree_map(fn, tree):
    """`fn` applied to the leaves of nested lists and tuples."""
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, t) for t in tree)
    return fn(tree)


def _identity(x):
    return x


def _cnn_ops(lax, numpy) -> dict:
    """The CNN workload's layers from a library's lax and numpy namespaces (JAX's API)."""
    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def max_pool(x):
        return lax.reduce_window(x, -np.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return {"conv": conv, "max_pool": max_pool, "relu": lambda x: numpy.maximum(x, 0),
            "reshape": numpy.reshape}


def _training_ops(lax, random, numpy) -> dict:
    """What the training-loop workloads use beyond the MLP's ops (JAX's API)."""
    return {"logaddexp": numpy.logaddexp, "fori_loop": lax.fori_loop, "split": random.split,
            "normal": random.normal}


def _xform(jitted: bool, backend: str | None, compile: str = "sync") -> Kit:
    import xform as xf
    import xform.numpy as xnp
    from xform.scipy.special import logsumexp
    ops = SimpleNamespace(tanh=xnp.tanh, sin=xnp.sin, cos=xnp.cos, exp=xnp.exp, sum=xnp.sum,
                          mean=xnp.mean, logsumexp=logsumexp, **_cnn_ops(xf.lax, xnp),
                          **_training_ops(xf.lax, xf.random, xnp))
    jit = functools.partial(xf.jit, backend=backend, compile=compile) if jitted else _identity
    return Kit(ops, xf.grad, xf.value_and_grad, xf.hessian, xf.vmap, jit, _identity, _identity,
               "xform.example_libraries.optimizers")


def _jax(jitted: bool) -> Kit:
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp
    # The float64 workloads must run in float64 in JAX too; float32 stays float32 either way.
    jax.config.update("jax_enable_x64", True)
    ops = SimpleNamespace(tanh=jnp.tanh, sin=jnp.sin, cos=jnp.cos, exp=jnp.exp, sum=jnp.sum,
                          mean=jnp.mean, logsumexp=logsumexp, **_cnn_ops(jax.lax, jnp),
                          **_training_ops(jax.lax, jax.random, jnp))

    def convert(x):
        return jnp.asarray(x) if isinstance(x, np.ndarray) else x
    return Kit(ops, jax.grad, jax.value_and_grad, jax.hessian, jax.vmap,
               jax.jit if jitted else _identity, convert, jax.block_until_ready,
               "jax.example_libraries.optimizers")


def _autograd() -> Kit:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp
    ops = SimpleNamespace(tanh=anp.tanh, sin=anp.sin, cos=anp.cos, exp=anp.exp, sum=anp.sum,
                          mean=anp.mean, logsumexp=logsumexp)
    return Kit(ops, autograd.grad, autograd.value_and_grad, autograd.hessian, None, _identity,
               _identity, _identity)


def _torch() -> Kit:
    import torch
    import torch.func

    def reduce(fn):
        return lambda x, axis=None: fn(x) if axis is None else fn(x, dim=axis)
    ops = SimpleNamespace(tanh=torch.tanh, sin=torch.sin, cos=torch.cos, exp=torch.exp,
                          sum=reduce(torch.sum), mean=reduce(torch.mean),
                          logsumexp=lambda x, axis: torch.logsumexp(x, dim=axis))

    def value_and_grad(f, argnums=0):
        grad_and_value = torch.func.grad_and_value(f, argnums)

        def swapped(*args):
            g, v = grad_and_value(*args)
            return v, g
        return swapped

    def vmap(f, in_axes=0):
        return torch.func.vmap(f, in_dims=in_axes)

    def convert(x):
        if isinstance(x, np.ndarray):
            return torch.from_numpy(x)
        return torch.tensor(x, dtype=torch.float64)
    return Kit(ops, torch.func.grad, value_and_grad, torch.func.hessian, vmap, _identity,
               convert, _identity)


_FACTORIES: dict[str, Callable[[str | None], Kit]] = {
    "xform-interp": lambda backend: _xform(False, backend),
    "xform-jit": lambda backend: _xform(True, backend),  # compiled before the first call
    "xform-jit-background": lambda backend: _xform(True, backend, "background"),  # the default
    "jax-jit": lambda backend: _jax(True),
    "jax-eager": lambda backend: _jax(False),
    "autograd": lambda backend: _autograd(),
    "torch": lambda backend: _torch(),
}
KIT_NAMES = tuple(_FACTORIES)


@functools.cache
def load(name: str, backend: str | None = None) -> Kit:
    """The kit called `name` (one of KIT_NAMES); `backend` is passed to xform's jit."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown kit {name!r}; choose one of {KIT_NAMES}")
    kit = _FACTORIES[name](backend)
    allocator.restore()  # importing JAX changes malloc's thresholds for every library
    return kit
