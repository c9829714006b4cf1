"""Runtime debugging inside transformations: `xf.debug.print` and `xf.debug.callback`.

Both see the values a program computes at run time, also inside `jit` (compiled by Numba, the
call leaves native code for Python), `lax.scan`/`while_loop`/`cond` bodies, `vmap` (once per
example, in order, as JAX does) and `grad`/`jvp` (the primal values, once per forward pass;
nothing is printed for tangents or in the backward pass, except that a `checkpoint`ed function
recomputes, and so prints again; so does forward mode through a `while_loop`, which runs the
loop once for the primal values and again with the tangents). Simplification never removes
them, although they return nothing, and under `jit` they run at every call, also on constants.
Under `vmap` of a `cond` or `while_loop` whose predicate differs across the batch, every branch
runs on every example, and so calls in either branch run for every example.
"""
from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable

import numpy as np

from xform import tree
from xform.core import Tracer, is_eager
from xform.primitives.debug import Callback, debug_callback

__all__ = ["callback", "print"]


def _as_value(x):
    """A leaf as the callback sees it: numbers as numpy values, anything else unchanged."""
    if isinstance(x, (np.ndarray, np.generic, int, float, complex, bool)):
        return np.asarray(x)[()] if np.ndim(x) == 0 else np.asarray(x)
    return x


def _call(fn: Callable, args, kwargs, label: str, key_of: Callable | None):
    leaves, treedef = tree.flatten((args, kwargs))
    traced = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
    values = [_as_value(x) for x in leaves]

    def per_example(*operands):
        for i, v in zip(traced, operands):
            values[i] = v
        a, k = tree.unflatten(treedef, values)
        fn(*a, **k)

    if is_eager():
        per_example()
        return
    key = key_of(treedef, traced, values) if key_of else None
    debug_callback([leaves[i] for i in traced], Callback(per_example, label, key))


def callback(fn: Callable, *args, ordered: bool = False, **kwargs) -> None:
    """Call `fn(*args, **kwargs)` with the runtime values of the (pytree) arguments, also under
    transformations (see the module docstring). Calls run in program order; `ordered` is
    accepted for JAX compatibility.

    >>> import numpy as np, xform as xf
    >>> seen = []
    >>> xf.jit(lambda x: xf.debug.callback(seen.append, x) or x * 2)(np.arange(2.0)).tolist()
    [0.0, 2.0]
    >>> seen[0].tolist()
    [0.0, 1.0]
    """
    if not callable(fn):
        raise TypeError(f"xf.debug.callback needs a callable first, got {type(fn).__name__}")
    name = getattr(fn, "__qualname__", type(fn).__name__)
    _call(fn, args, kwargs, f"callback {name}", None)


def print(fmt: str, *args, ordered: bool = False, **kwargs) -> None:  # noqa: A001 (JAX's name)
    """Print `fmt.format(*args, **kwargs)` with the runtime values of the arguments (numpy
    arrays and scalars), also inside `jit`, `vmap` (one line per example), `grad` and
    `lax.scan`; see the module docstring.

    >>> import xform as xf, xform.numpy as xnp
    >>> y = xf.grad(lambda x: xf.debug.print("x = {}", x) or xnp.sin(x))(0.0)
    x = 0.0
    """
    if not isinstance(fmt, str):
        raise TypeError(f"xf.debug.print needs a format string first, got {type(fmt).__name__}")

    def show(*a, **k):
        builtins.print(fmt.format(*a, **k))

    def key_of(treedef, traced, values):
        static = [(v.shape, v.dtype.str, v.tobytes()) if isinstance(v, np.ndarray) else repr(v)
                  for i, v in enumerate(values) if i not in traced]
        text = repr((fmt, treedef, traced, static))
        return "print " + hashlib.sha256(text.encode()).hexdigest()[:16]
    _call(show, args, kwargs, f"print {fmt!r}", key_of)
