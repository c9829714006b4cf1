"""Transformations that stage a function to an IR without running it: `eval_shape` and
`linear_transpose`, and `ShapeDtypeStruct`, the abstract argument both accept."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xform import tree
from xform.core import (IR, ShapedArray, Tracer, Var, eval_ir, get_aval, instantiate,
                        is_float_dtype, trace_closed)
from xform.transforms.simplify import simplify
from xform.transforms.vjp import backward_pass

__all__ = ["ShapeDtypeStruct", "eval_shape", "linear_transpose"]


class ShapeDtypeStruct:
    """The shape and dtype of an array, standing for it where no values are needed
    (`eval_shape`'s results and arguments, `linear_transpose`'s primals).

    >>> ShapeDtypeStruct((2, 3), np.float32)
    ShapeDtypeStruct(shape=(2, 3), dtype=float32)
    """

    __slots__ = ("shape", "dtype", "sharding", "weak_type")

    def __init__(self, shape, dtype, sharding=None, weak_type: bool = False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.sharding, self.weak_type = sharding, weak_type

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other):
        return (isinstance(other, ShapeDtypeStruct) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def __repr__(self):
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"


def _aval(x) -> ShapedArray:
    """The aval of an argument leaf: an array, a scalar, or anything with .shape and .dtype."""
    if isinstance(x, (np.ndarray, np.generic, Tracer, int, float, complex, bool)):
        return get_aval(x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return ShapedArray(tuple(x.shape), x.dtype)
    raise TypeError(f"expected an array, a scalar or a ShapeDtypeStruct, got "
                    f"{type(x).__name__}: {x!r}")


def _stage(fun: Callable, args: tuple, kwargs: dict, name: str):
    """(IR, traced consts, input treedef, output treedef) of `fun` at the avals of the
    argument leaves."""
    leaves, in_tree = tree.flatten((args, kwargs))
    out_tree = []

    def flat(*xs):
        a, k = tree.unflatten(in_tree, xs)
        out_leaves, treedef = tree.flatten(fun(*a, **k))
        out_tree.append(treedef)
        return out_leaves
    ir, consts = trace_closed(flat, [_aval(x) for x in leaves], name)
    return ir, consts, in_tree, out_tree[0]


def eval_shape(fun: Callable, *args, **kwargs):
    """The shapes and dtypes of `fun(*args, **kwargs)` as a pytree of `ShapeDtypeStruct`,
    found by tracing `fun` (no array computation runs). Arguments may be arrays or anything
    with `.shape` and `.dtype`.

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.eval_shape(lambda a: {"y": a @ a.T}, xf.ShapeDtypeStruct((4, 3), np.float32))
    {'y': ShapeDtypeStruct(shape=(4, 4), dtype=float32)}
    """
    ir, _, _, out_tree = _stage(fun, args, kwargs, "eval_shape")
    return tree.unflatten(out_tree, [ShapeDtypeStruct(a.shape, a.dtype) for a in ir.out_avals])


def _nonlinear_use(ir: IR, n_known: int) -> str | None:
    """Why `ir` is not linear in its inputs after the first `n_known`, or None. A value is
    linear when it depends on those inputs; every equation using one must be linear in it."""
    linear = set(ir.in_vars[n_known:])
    for eqn in ir.eqns:
        lin = [isinstance(a, Var) and a in linear for a in eqn.inputs]
        if not any(lin):
            continue
        name = eqn.prim.name
        if eqn.prim.transpose is None:
            return f"it applies `{name}` to a value that depends on its inputs"
        if name in ("mul", "dot_general") and all(lin):
            return f"it multiplies two values that depend on its inputs (`{name}`)"
        if (name == "div" and lin[1]) or (name in ("solve", "triangular_solve") and lin[0]):
            return f"it divides by a value that depends on its inputs (`{name}`)"
        linear.update(eqn.outputs)
    return None


def linear_transpose(fun: Callable, *primals):
    """The transpose of the linear function `fun` at arguments shaped like `primals` (arrays
    or `ShapeDtypeStruct`s): a function mapping a cotangent shaped like `fun`'s output to the
    tuple of cotangents of its arguments, by the backward pass of its IR. A function that is
    not linear (a nonlinear operation on its inputs, or a constant offset) is an error.

    >>> import xform as xf, xform.numpy as xnp
    >>> f_t = xf.linear_transpose(lambda x: 2.0 * x[::-1], np.zeros(3))
    >>> f_t(np.array([1.0, 2.0, 3.0]))[0].tolist()
    [6.0, 4.0, 2.0]
    """
    ir, consts, _, out_tree = _stage(fun, primals, {}, "linear_transpose")
    in_tree = tree.structure(primals)
    for a in ir.in_avals[len(consts):]:
        if not is_float_dtype(a.dtype):
            raise TypeError(f"linear_transpose needs floating-point arguments, got {a}")
    ir = simplify(ir)
    why = _nonlinear_use(ir, len(consts))
    if why is None and not any(isinstance(c, Tracer) for c in consts):
        zeros = [np.zeros(a.shape, a.dtype) for a in ir.in_avals[len(consts):]]
        if any(np.any(np.asarray(o) != 0) for o in eval_ir(ir, [*consts, *zeros])):
            why = "it is affine: its value at zero is not zero"
    if why is not None:
        raise TypeError(f"linear_transpose: the function is not linear, as {why}")
    out_avals = ir.out_avals

    def transposed(out_cotangent):
        ct_leaves, ct_tree = tree.flatten(out_cotangent)
        if ct_tree != out_tree:
            raise TypeError(f"the cotangent has structure {ct_tree} but the function's output "
                            f"has {out_tree}")
        for c, a in zip(ct_leaves, out_avals):
            if get_aval(c).shape != a.shape:
                raise TypeError(f"a cotangent of type {get_aval(c)} was given for an output "
                                f"of type {a}")
        ct_leaves = [c if isinstance(c, Tracer) else np.asarray(c, a.dtype)
                     for c, a in zip(ct_leaves, out_avals)]
        cts = backward_pass(ir, list(consts), ct_leaves)
        return tuple(tree.unflatten(in_tree, [instantiate(c) for c in cts]))
    return transposed

