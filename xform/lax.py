"""Control flow that transformations can see: cond, switch, while_loop, fori_loop and scan.

Each front end flattens its pytrees, traces the user's functions into closed IRs and binds one
primitive of `xform.higher_order.control`. Bodies are traced at the root with every operation on
a traced value staged, including values captured from enclosing transformations: those become
explicit operands, and nothing of a branch or loop body runs outside the control flow.

lax's other operations (elementwise, structural, dynamic slicing, reductions, sorting) live in
`xform.lax_ops` and are attributes of this module as well.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import xform.numpy as xnp
from xform import lax_ops as _ops
from xform import tree
from xform.core import ShapedArray, Tracer, eval_ir, get_aval, trace_closed
from xform.higher_order.control import cond_p, scan_p, while_p
from xform.primitives.elementwise import convert
from xform.transforms.derive import with_inputs
from xform.transforms.simplify import simplify
from xform.transforms.vmap import vmap_flat

__all__ = ["cond", "fori_loop", "map", "scan", "switch", "while_loop", *_ops.__all__]


# lax's other operations (xform.lax_ops) are attributes of this module too, looked up on
# demand: defined here, lax.map, lax.max, lax.slice ... would shadow Python's builtins.
def __getattr__(name):
    if name == "map":
        return map_
    if name in _ops.__all__:
        return getattr(_ops, name)
    raise AttributeError(f"module 'xform.lax' has no attribute '{name}'")


def __dir__():
    return sorted({*globals(), "map", *_ops.__all__} - {"map_"})


# ----------------------------------------------------------------------------- tracing

class _Traced:
    """A function traced to a closed IR whose leading inputs are the captured traced values
    (`consts`), with the structure and avals of its output."""

    def __init__(self, fun: Callable, in_avals, name: str):
        out = {}

        def flat(*args):
            leaves, out["tree"] = tree.flatten(fun(*args))
            return leaves
        ir, self.consts = trace_closed(flat, in_avals, name)
        self.ir = simplify(ir)
        self.out_tree = out["tree"]
        self.out_avals = self.ir.out_avals

    def describe(self) -> str:
        return repr(tree.unflatten(self.out_tree, self.out_avals))


def _flatten(operands):
    leaves, treedef = tree.flatten(operands)
    return leaves, treedef, [get_aval(x) for x in leaves]


def _outputs(treedef, leaves):
    """Unflatten results; concrete ones as xform.numpy arrays (so `.at` works on them)."""
    return tree.unflatten(treedef, [x if isinstance(x, Tracer) else xnp.asarray(x)
                                    for x in leaves])


def _merge_consts(traced: Sequence[_Traced]):
    """The captured values of several traced functions without repeats, and for each function
    the positions of its own among them."""
    consts, where, positions = [], {}, []
    for t in traced:
        pos = []
        for c in t.consts:
            if id(c) not in where:
                where[id(c)] = len(consts)
                consts.append(c)
            pos.append(where[id(c)])
        positions.append(pos)
    return consts, positions


def _check_callable(fun, what: str):
    if not callable(fun):
        raise TypeError(f"{what} must be a function, got {type(fun).__name__}: {fun!r}")


# ----------------------------------------------------------------------------- cond, switch

def cond(pred, true_fun: Callable, false_fun: Callable, *operands):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`, as one traceable choice.

    `pred` is a scalar boolean (or integer, nonzero meaning true). Both branches must return
    the same pytree structure, shapes and dtypes. Under `vmap` with a batched predicate both
    branches run on the whole batch and each example's result is selected.

    >>> import xform as xf, xform.numpy as xnp
    >>> f = lambda x: xf.lax.cond(x > 0, xnp.sin, lambda x: -x, x)
    >>> float(f(-2.0)), float(xf.grad(f)(-2.0))
    (2.0, -1.0)
    """
    _check_callable(true_fun, "cond's true_fun")
    _check_callable(false_fun, "cond's false_fun")
    aval = _scalar_aval(pred, "cond", "predicate")
    if aval.dtype != np.bool_ and not np.issubdtype(aval.dtype, np.integer):
        raise TypeError(f"cond needs a boolean predicate, got dtype {aval.dtype}; compare "
                        "explicitly (e.g. x > 0) to make a boolean")
    if isinstance(pred, Tracer):
        index = convert(pred if aval.dtype == np.bool_ else pred != 0, np.int32)
    else:
        index = int(bool(pred))
    return _choose(index, (false_fun, true_fun), ("false_fun", "true_fun"), operands, "cond")


def switch(index, branches: Sequence[Callable], *operands):
    """`branches[index](*operands)`, with `index` clamped into range as in JAX.

    >>> import xform as xf
    >>> fs = [lambda x: x + 1.0, lambda x: x * 10.0]
    >>> [float(xf.lax.switch(i, fs, 2.0)) for i in (-5, 0, 1, 7)]
    [3.0, 3.0, 20.0, 20.0]
    """
    branches = list(branches)
    if not branches:
        raise ValueError("switch needs at least one branch function")
    for i, f in enumerate(branches):
        _check_callable(f, f"switch's branches[{i}]")
    aval = _scalar_aval(index, "switch", "index")
    if not np.issubdtype(aval.dtype, np.integer):
        raise TypeError(f"switch needs an integer index, got dtype {aval.dtype}; convert it "
                        "with .astype(int) or use cond for a boolean")
    names = [f"branches[{i}]" for i in range(len(branches))]
    return _choose(index, branches, names, operands, "switch")


def _scalar_aval(x, what: str, name: str):
    aval = get_aval(x)
    if aval.shape != ():
        raise TypeError(f"{what} needs a scalar {name}, got an array of shape {aval.shape}. "
                        "Reduce it first (e.g. xnp.any / xnp.all), or use xnp.where to choose "
                        "elementwise.")
    return aval


def _choose(index, funs, names, operands, what: str):
    leaves, in_tree, avals = _flatten(list(operands))

    def as_flat(f):
        return lambda *xs: f(*tree.unflatten(in_tree, xs))
    traced = [_Traced(as_flat(f), avals, what) for f in funs]
    first = traced[0]
    for t, name in zip(traced[1:], names[1:]):
        if t.out_tree != first.out_tree or t.out_avals != first.out_avals:
            raise TypeError(f"{what} branches must return the same structure, shapes and "
                            f"dtypes, but {names[0]} returns {first.describe()} and {name} "
                            f"returns {t.describe()}. Note that a Python float is float64: "
                            "return e.g. xnp.zeros_like(x) rather than 0.0 next to a float32 x.")
    if not isinstance(index, Tracer):
        chosen = traced[int(np.clip(index, 0, len(funs) - 1))]
        return _outputs(first.out_tree, eval_ir(chosen.ir, [*chosen.consts, *leaves]))
    consts, positions = _merge_consts(traced)
    in_avals = [*(get_aval(c) for c in consts), *avals]
    n = len(consts)
    branches = tuple(with_inputs(t.ir, in_avals, [*pos, *range(n, len(in_avals))])
                     for t, pos in zip(traced, positions))
    return _outputs(first.out_tree, cond_p.bind(index, *consts, *leaves, branches=branches))


# ----------------------------------------------------------------------------- loops

def while_loop(cond_fun: Callable, body_fun: Callable, init_val, *,
               max_steps: int | None = None):
    """Repeat `val = body_fun(val)` while `cond_fun(val)`, starting from `init_val`.

    Differentiable in both modes. Reverse mode (`grad`, `vjp`) replays the loop as a `scan`:
    eagerly of its trip count, found by running the loop; under `jit` or `vmap`, where that
    count is traced, of `max_steps` steps (an upper bound you give; the steps after the loop
    ends keep their carry). If the loop needs more, derivatives taken there are NaN (and the
    value computed with them is the carry after `max_steps` steps); `max_steps` does not limit
    the loop otherwise. Under `vmap` with a batched condition the loop runs until every example
    is done, finished examples keeping their value.

    >>> import xform as xf
    >>> sqrt = lambda a: xf.lax.while_loop(lambda x: abs(x * x - a) > 1e-12,
    ...                                    lambda x: x - (x * x - a) / (2 * x), a, max_steps=50)
    >>> round(float(xf.jit(xf.grad(sqrt))(4.0)), 6)
    0.25
    >>> int(xf.lax.while_loop(lambda i: i < 10, lambda i: i * 2, 1))
    16
    """
    _check_callable(cond_fun, "while_loop's cond_fun")
    _check_callable(body_fun, "while_loop's body_fun")
    if max_steps is not None and (not isinstance(max_steps, (int, np.integer))
                                  or isinstance(max_steps, bool) or max_steps < 0):
        raise TypeError(f"while_loop's max_steps must be a non-negative Python int (an upper "
                        f"bound on the trip count for reverse mode), got {max_steps!r}")
    leaves, in_tree, avals = _flatten(init_val)

    def as_flat(f):
        return lambda *xs: f(tree.unflatten(in_tree, xs))
    cond_t = _Traced(as_flat(cond_fun), avals, "while_loop")
    if len(cond_t.out_avals) != 1 or cond_t.out_avals[0].shape != () or \
            cond_t.out_avals[0].dtype != np.bool_:
        raise TypeError("while_loop's cond_fun must return a boolean scalar, but it returns "
                        f"{cond_t.describe()}")
    body_t = _Traced(as_flat(body_fun), avals, "while_loop")
    _check_carry("while_loop's body_fun", "init_val", in_tree, avals, body_t.out_tree,
                 body_t.out_avals)
    outs = while_p.bind(*cond_t.consts, *body_t.consts, *leaves, cond_ir=cond_t.ir,
                        body_ir=body_t.ir, n_cond_consts=len(cond_t.consts),
                        n_body_consts=len(body_t.consts),
                        **({} if max_steps is None else {"max_steps": int(max_steps)}))
    return _outputs(in_tree, outs)


def _check_carry(what: str, init_name: str, in_tree, in_avals, out_tree, out_avals):
    if out_tree != in_tree or list(out_avals) != list(in_avals):
        raise TypeError(f"{what} must return a carry with the same structure, shapes and "
                        f"dtypes as {init_name}: {init_name} is "
                        f"{tree.unflatten(in_tree, in_avals)!r} but it returns "
                        f"{tree.unflatten(out_tree, out_avals)!r}. Give the initial value the "
                        "dtype the loop produces (e.g. 0.0 instead of 0).")


def fori_loop(lower, upper, body_fun: Callable, init_val):
    """`val = body_fun(i, val)` for `i` in `range(lower, upper)`, starting from `init_val`.

    With concrete bounds (a static trip count) this is a `scan`; with traced bounds it is a
    `while_loop`, so reverse mode then needs concrete inputs (not under `jit` or `vmap`).

    >>> import xform as xf
    >>> float(xf.lax.fori_loop(0, 4, lambda i, x: x + i, 0.5))
    6.5
    """
    _check_callable(body_fun, "fori_loop's body_fun")
    dtype = xnp.result_type(lower, upper)
    if not np.issubdtype(dtype, np.integer):
        raise TypeError(f"fori_loop bounds must be integers, got dtype {dtype}")
    if not isinstance(lower, Tracer) and not isinstance(upper, Tracer):
        def step(carry, _):
            i, x = carry
            return (i + 1, body_fun(i, x)), None
        (_, out), _ = scan(step, (np.asarray(lower, dtype), init_val), None,
                           length=max(0, int(upper) - int(lower)))
        return out
    hi = xnp.asarray(upper, dtype)

    def body(carry):
        i, x = carry
        return i + 1, body_fun(i, x)
    _, out = while_loop(lambda carry: carry[0] < hi, body, (xnp.asarray(lower, dtype), init_val))
    return out


def scan(f: Callable, init, xs, length: int | None = None, reverse: bool = False):
    """Loop `carry, y = f(carry, x)` over the leading axis of `xs`; returns the final carry and
    the ys stacked along a new leading axis. `reverse=True` scans from the end.

    >>> import numpy as np, xform as xf
    >>> total, partial = xf.lax.scan(lambda c, x: (c + x, c + x), 0.0, np.arange(4.0))
    >>> float(total), partial.tolist()
    (6.0, [0.0, 1.0, 3.0, 6.0])
    """
    _check_callable(f, "scan's f")
    carry, carry_tree, carry_avals = _flatten(init)
    x_leaves, x_tree, x_avals = _flatten(xs)
    length = _scan_length(x_avals, length)
    slices = [ShapedArray(a.shape[1:], a.dtype) for a in x_avals]
    nk = len(carry)
    trees = {}

    def flat(*args):
        out = f(tree.unflatten(carry_tree, args[:nk]), tree.unflatten(x_tree, args[nk:]))
        if not (isinstance(out, tuple) and len(out) == 2):
            got = "one array" if isinstance(out, Tracer) else type(out).__name__
            raise TypeError(f"scan's f must return a pair (carry, y), got {got}")
        new_carry, trees["carry"] = tree.flatten(out[0])
        ys, trees["y"] = tree.flatten(out[1])
        return [*new_carry, *ys]
    traced = _Traced(flat, [*carry_avals, *slices], "scan")
    n_out = trees["carry"].num_leaves
    _check_carry("scan's f", "init", carry_tree, carry_avals, trees["carry"],
                 traced.out_avals[:n_out])
    outs = scan_p.bind(*traced.consts, *carry, *x_leaves, body_ir=traced.ir, length=length,
                       reverse=bool(reverse), n_consts=len(traced.consts), n_carry=nk)
    return _outputs(carry_tree, outs[:nk]), _outputs(trees["y"], outs[nk:])


def _scan_length(x_avals, length) -> int:
    for a in x_avals:
        if a.ndim == 0:
            raise TypeError("scan needs every leaf of xs to have a leading axis to scan over, "
                            "but one is a scalar")
    sizes = sorted({a.shape[0] for a in x_avals})
    if len(sizes) > 1:
        raise ValueError(f"scan needs every leaf of xs to have the same leading size, got "
                         f"sizes {sizes}")
    if length is not None:
        if not isinstance(length, (int, np.integer)) or length < 0:
            raise TypeError(f"scan's length must be a non-negative int, got {length!r}")
        if sizes and sizes[0] != length:
            raise ValueError(f"scan got length={length} but xs have leading size {sizes[0]}")
        return int(length)
    if not sizes:
        raise ValueError("scan needs `length` when xs is None or has no leaves")
    return sizes[0]


def map_(f: Callable, xs, *, batch_size: int | None = None):
    """`f` applied to each slice of `xs` along its leading axis, one after the other (a
    `scan`, so memory holds one application at a time), the results stacked. With
    `batch_size`, `f` runs vmapped over chunks of that many slices instead.

    >>> import numpy as np, xform as xf
    >>> xf.lax.map(lambda x: x * 2, np.arange(3.0)).tolist()
    [0.0, 2.0, 4.0]
    """
    _check_callable(f, "map's f")
    if batch_size is None:
        return scan(lambda carry, x: (carry, f(x)), (), xs)[1]
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise TypeError(f"map's batch_size must be a positive int, got {batch_size!r}")
    leaves, treedef, avals = _flatten(xs)
    n = _scan_length(avals, None)
    chunks, rest = divmod(n, int(batch_size))

    def head(x, k):
        return xnp.reshape(x[:chunks * k], (chunks, k, *np.shape(x)[1:]))
    out = scan(lambda carry, chunk: (carry, _vmapped(f, chunk)), (),
               tree.unflatten(treedef, [head(x, int(batch_size)) for x in leaves]))[1]
    out = tree.map(lambda y: xnp.reshape(y, (chunks * int(batch_size), *np.shape(y)[2:])), out)
    if rest:
        tail = _vmapped(f, tree.unflatten(treedef, [x[chunks * int(batch_size):]
                                                    for x in leaves]))
        out = tree.map(lambda a, b: xnp.concatenate([a, b]), out, tail)
    return out


def _vmapped(f: Callable, xs):
    """f vmapped over the leading axis of the pytree xs."""
    leaves, treedef = tree.flatten(xs)
    trees = {}

    def flat(*args):
        outs, trees["out"] = tree.flatten(f(tree.unflatten(treedef, args)))
        return outs
    outs = vmap_flat(flat, leaves, [0] * len(leaves),
                     lambda: [0] * trees["out"].num_leaves, np.shape(leaves[0])[0])
    return _outputs(trees["out"], outs)
