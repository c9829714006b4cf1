"""User-facing transformations: flatten pytrees, trace, transform, execute, unflatten."""
from __future__ import annotations

import functools
import inspect
import os
from typing import Callable

import numpy as np

from xform import tree
from xform.backends import executable, runner_key
from xform.core import (IR, Tracer, Zero, eval_ir, get_aval, instantiate, is_eager,
                        is_float_dtype, trace_closed, typed_key)
from xform.higher_order.call import call
from xform.primitives.elementwise import convert, stop_gradient_p
from xform.primitives.structural import reshape, slice_
from xform.transforms import verify
from xform.transforms.flops import FlopCount, count_ir
from xform.transforms.jvp import jvp_flat
from xform.transforms.simplify import simplify
from xform.transforms.vjp import linearize_flat, vjp_flat
from xform.transforms.vmap import vmap_flat


def _static_args(args, static_argnums):
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else static_argnums
    n = len(args)
    return {a % n if n else a for a in static_argnums}


def make_ir(fun: Callable, static_argnums=(), *, simplified: bool = False
            ) -> Callable[..., IR]:
    """The traced IR of `fun` at the shapes and dtypes of the given arguments; with
    `simplified=True`, after the clean-up that `jit` applies (what `jit` runs).

    >>> import xform as xf, xform.numpy as xnp
    >>> print(xf.make_ir(lambda x: xnp.sin(x) * 2.0)(1.0))  # doctest: +NORMALIZE_WHITESPACE
    { lambda a:f64[] . let
        b:f64[] = sin a
        c:f64[] = mul b 2.0:f64[]
      in (c) }
    """
    def traced(*args):
        static = _static_args(args, static_argnums)
        dynamic = [a for i, a in enumerate(args) if i not in static]
        leaves, treedef = tree.flatten(dynamic)
        avals = [get_aval(x) for x in leaves]

        def flat_fun(*flat):
            rebuilt = iter(tree.unflatten(treedef, flat))
            full = [a if i in static else next(rebuilt) for i, a in enumerate(args)]
            out_leaves, _ = tree.flatten(fun(*full))
            return out_leaves
        ir, consts = trace_closed(flat_fun, avals, "make_ir")
        if consts:
            raise TypeError("make_ir: the function closes over values traced by an enclosing "
                            "transformation; pass them as arguments instead")
        return simplify(ir) if simplified else verify.verify(ir) if verify.ENABLED else ir
    return traced



def count_flops(fun: Callable, static_argnums=()) -> Callable[..., FlopCount]:
    """The floating-point operations `fun` performs at these arguments, per primitive, looking
    inside control flow, jitted and custom-rule functions (see `xform.transforms.flops`).

    >>> import numpy as np, xform as xf
    >>> xf.count_flops(lambda a, b: a @ b)(np.ones((4, 3)), np.ones((3, 5))).total
    120
    """
    def counted(*args):
        static = _static_args(args, static_argnums)
        return count_ir(make_ir(fun, static_argnums)(*args),
                        tree.leaves([a for i, a in enumerate(args) if i not in static]))
    return counted


# ----------------------------------------------------------------------------- helpers

class _Flattened:
    """`fun` as a function of the flat leaves of the arguments at `argnums`."""

    def __init__(self, fun, args, kwargs, argnums, has_aux=False):
        self.fun, self.args, self.kwargs, self.has_aux = fun, args, kwargs, has_aux
        self.argnums = argnums
        self.leaves, self.in_tree = tree.flatten([args[i] for i in argnums])
        self.out_tree = self.aux_tree = None
        self.n_aux = 0

    def __call__(self, *flat):
        dyn = tree.unflatten(self.in_tree, flat)
        full = list(self.args)
        for i, v in zip(self.argnums, dyn):
            full[i] = v
        out = self.fun(*full, **self.kwargs)
        aux_leaves = []
        if self.has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with has_aux=True the function must return a pair "
                                f"(output, aux), got {type(out).__name__}")
            out, aux = out
            aux_leaves, self.aux_tree = tree.flatten(aux)
            self.n_aux = len(aux_leaves)
        out_leaves, self.out_tree = tree.flatten(out)
        return [*out_leaves, *aux_leaves]

    def split(self, outs):
        """(output pytree, aux pytree or None) from flat outputs."""
        n = len(outs) - self.n_aux
        out = tree.unflatten(self.out_tree, outs[:n])
        return out, (tree.unflatten(self.aux_tree, outs[n:]) if self.has_aux else None)


def _argnums(argnums, nargs, name):
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    for a in nums:
        if not isinstance(a, int) or not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums {argnums!r} does not fit a call with {nargs} "
                             "positional arguments")
    return tuple(a % nargs for a in nums), many


def _per_argnum(values, unique, nums):
    """Results computed once per distinct argnum (`unique`) repeated as `nums` names them, so
    that argnums=(0, 0) gives the derivative with respect to argument 0 twice."""
    return tuple(values[unique.index(i)] for i in nums)


@functools.lru_cache(maxsize=256)
def _is_floating(dtype) -> bool:
    """np.issubdtype(dtype, np.floating), remembered: it is slow and asked on every call."""
    return np.issubdtype(dtype, np.floating)


def _check_differentiable(leaves, name):
    for x in leaves:
        dt = get_aval(x).dtype
        if not _is_floating(dt):
            raise TypeError(
                f"{name} needs floating-point inputs to differentiate with respect to, but an "
                f"input has dtype {dt}. Convert it (e.g. x.astype(float), or 1.0 instead of 1) "
                "or leave it out of argnums.")


# ----------------------------------------------------------------------------- forward mode

def jvp(fun: Callable, primals, tangents, has_aux: bool = False):
    """Forward mode: `(fun(*primals), J·tangents)`.

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.jvp(xnp.sin, (0.0,), (2.0,))
    (0.0, 2.0)
    """
    if not (isinstance(primals, (tuple, list)) and isinstance(tangents, (tuple, list))):
        raise TypeError("jvp: primals and tangents must be tuples or lists with one entry per "
                        f"positional argument of the function, got {type(primals).__name__} "
                        f"and {type(tangents).__name__}; write xf.jvp(f, (x,), (t,))")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise TypeError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    flat = _Flattened(fun, primals, {}, tuple(range(len(primals))), has_aux)
    t_leaves, t_tree = tree.flatten(list(tangents))
    if t_tree != flat.in_tree:
        raise TypeError(f"jvp: tangents have structure {t_tree}, primals {flat.in_tree}")
    ts = [_tangent_like(t, p, "jvp") if np.issubdtype(get_aval(p).dtype, np.inexact)
          else Zero(get_aval(p)) for p, t in zip(flat.leaves, t_leaves)]
    p_out, t_out = jvp_flat(flat, flat.leaves, ts)
    n = len(p_out) - flat.n_aux
    t_out = list(map(instantiate, t_out[:n]))
    out, aux = flat.split(p_out)
    t_tree_out = tree.unflatten(flat.out_tree, t_out)
    return (out, t_tree_out, aux) if has_aux else (out, t_tree_out)


def _tangent_like(t, p, name):
    """Tangent `t` for the floating primal `p`, cast to its dtype; a TypeError naming the
    expected shape and dtype if `t` has another shape or is not floating."""
    ta, pa = get_aval(t), get_aval(p)
    if not _is_floating(pa.dtype):
        raise TypeError(f"{name}: differentiating with respect to a complex input (dtype "
                        f"{pa.dtype}) is not supported; pass its real and imaginary parts as "
                        "separate floating-point inputs")
    if ta.shape != pa.shape or not is_float_dtype(ta.dtype):
        raise TypeError(f"{name}: a tangent of shape {ta.shape} and dtype {ta.dtype} was given "
                        f"for a primal of shape {pa.shape} and dtype {pa.dtype}; each tangent "
                        "needs its primal's shape and a floating dtype (it is cast to "
                        f"{pa.dtype})")
    return _cast_like(t, p)


def linearize(fun: Callable, *primals):
    """`(fun(*primals), f_jvp)` where `f_jvp(*tangents)` reuses one linearization."""
    flat = _Flattened(fun, primals, {}, tuple(range(len(primals))))
    _check_differentiable(flat.leaves, "linearize")
    p_out, ir, consts = linearize_flat(flat, flat.leaves)
    out, _ = flat.split(p_out)
    out_tree = flat.out_tree

    def f_jvp(*tangents):
        t_leaves, t_tree = tree.flatten(list(tangents))
        if t_tree != flat.in_tree:
            raise TypeError(f"f_jvp: tangents have structure {t_tree}, expected "
                            f"{flat.in_tree}")
        t_leaves = [_tangent_like(t, p, "linearize's f_jvp") for t, p in zip(t_leaves, flat.leaves)]
        return tree.unflatten(out_tree, eval_ir(ir, [*consts, *t_leaves]))
    return out, f_jvp


# ----------------------------------------------------------------------------- reverse mode

def vjp(fun: Callable, *primals, has_aux: bool = False):
    """Reverse mode: `(fun(*primals), vjp_fun)`; `vjp_fun(ct)` returns one cotangent per primal.

    >>> import xform as xf, xform.numpy as xnp
    >>> y, f_vjp = xf.vjp(xnp.sin, 0.0)
    >>> f_vjp(1.0)
    (1.0,)
    """
    flat = _Flattened(fun, primals, {}, tuple(range(len(primals))), has_aux)
    _check_differentiable(flat.leaves, "vjp")
    p_out, backward = vjp_flat(flat, flat.leaves, flat.n_aux)
    out, aux = flat.split(p_out)
    out_tree, in_tree = flat.out_tree, flat.in_tree
    n = len(p_out) - flat.n_aux

    def vjp_fun(ct):
        ct_leaves, ct_tree = tree.flatten(ct)
        if ct_tree != out_tree:
            raise TypeError(f"vjp_fun: the cotangent has structure {ct_tree} but the "
                            f"output has {out_tree}")
        for c, o in zip(ct_leaves, p_out[:n]):
            if get_aval(c).shape != get_aval(o).shape:
                raise TypeError(f"vjp_fun: a cotangent of shape {get_aval(c).shape} was given "
                                f"for an output of shape {get_aval(o).shape}")
        ct_leaves = [_cast_like(c, o) for c, o in zip(ct_leaves, p_out[:n])]
        cts = list(map(instantiate, backward(ct_leaves)))
        return tuple(tree.unflatten(in_tree, cts))
    return (out, vjp_fun, aux) if has_aux else (out, vjp_fun)


def _cast_like(c, o):
    dt = get_aval(o).dtype
    if isinstance(c, Tracer):
        return c if c.aval.dtype == dt else convert(c, dt)
    return np.asarray(c, dt)


def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False, *, argnum=None):
    """A function returning `(fun(*args), gradient)`; with has_aux, `((value, aux), gradient)`.
    `argnum` is autograd's name for `argnums`.

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.value_and_grad(lambda x: x ** 2)(3.0)
    (9.0, 6.0)
    """
    if argnum is not None:
        argnums = argnum

    def value_and_grad_fun(*args, **kwargs):
        nums, many = _argnums(argnums, len(args), "grad")
        unique = tuple(dict.fromkeys(nums))
        flat = _Flattened(fun, args, kwargs, unique, has_aux)
        _check_differentiable(flat.leaves, "grad")
        p_out, backward = vjp_flat(flat, flat.leaves, flat.n_aux, "grad")
        n = len(p_out) - flat.n_aux
        out_aval = get_aval(p_out[0]) if n else None
        if n != 1 or out_aval.size != 1:
            shapes = [get_aval(o).shape for o in p_out[:n]]
            raise TypeError(
                f"grad needs a function with a single scalar output (or one of size 1), but "
                f"it returned outputs of shapes {shapes}. Use xf.jacrev or xf.vjp for "
                "non-scalar outputs, or reduce the output (e.g. with .sum()).")
        if not _is_floating(out_aval.dtype):
            raise TypeError(f"grad needs a floating-point output, got {out_aval.dtype}")
        # np.ones(shape, dtype), at a third of the cost for the usual 0-d output
        seed = np.array(1, out_aval.dtype) if out_aval.shape == () else \
            np.ones(out_aval.shape, out_aval.dtype)
        cts = list(map(instantiate, backward([seed])))
        grads = tree.unflatten(flat.in_tree, cts)
        out, aux = flat.split(p_out)
        g = _per_argnum(grads, unique, nums) if many else grads[0]
        return ((out, aux), g) if has_aux else (out, g)
    return value_and_grad_fun


def grad(fun: Callable, argnums=0, has_aux: bool = False, *, argnum=None):
    """The gradient of a scalar-valued function (with has_aux: `(gradient, aux)`); `argnum` is
    autograd's name for `argnums`.

    >>> import xform as xf, xform.numpy as xnp
    >>> xf.grad(xf.grad(xnp.sin))(0.0)
    -0.0
    """
    vg = value_and_grad(fun, argnums if argnum is None else argnum, has_aux)

    def grad_fun(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return grad_fun


# ----------------------------------------------------------------------------- vmap

def _resolve_axes(axes_prefix, leaves_tree, what):
    try:
        return tree.broadcast_prefix(axes_prefix, leaves_tree)
    except ValueError as e:
        raise ValueError(f"vmap {what} {axes_prefix!r} does not match the structure of the "
                         f"{'arguments' if what == 'in_axes' else 'outputs'}: {e}") from None


def vmap(fun: Callable, in_axes=0, out_axes=0, axis_size: int | None = None):
    """Vectorise `fun` over an axis of its arguments, in one batched pass.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> xf.vmap(lambda x: x @ x)(np.ones((4, 3))).shape
    (4,)
    """
    def batched(*args, **kwargs):
        prefix = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        if isinstance(prefix, tuple) and len(prefix) != len(args):
            raise ValueError(f"vmap in_axes has {len(prefix)} entries but the function was "
                             f"called with {len(args)} positional arguments")
        leaves, in_tree = tree.flatten(list(args))
        axes = _resolve_axes(list(prefix) if isinstance(prefix, tuple) else prefix,
                             list(args), "in_axes")
        owners = [i for i, a in enumerate(args) for _ in tree.leaves(a)]
        sizes, dims = {}, []
        for i, (x, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                dims.append(None)
                continue
            nd = len(get_aval(x).shape)
            if not isinstance(ax, int) or not -nd <= ax < nd:
                raise ValueError(f"vmap in_axes {ax!r} is out of range for an argument of "
                                 f"shape {get_aval(x).shape}")
            dims.append(ax % nd)
            sizes[i] = get_aval(x).shape[ax]
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"argument {owners[i]}"
                               + (f" (leaf {i})" if len(owners) > len(args) else "")
                               + f" has size {n}" for i, n in sizes.items())
            raise ValueError(f"vmap got inconsistent batch sizes along the mapped axes ({detail})"
                             "; every mapped argument needs the same size")
        if not sizes and axis_size is None:
            raise ValueError("vmap needs at least one argument with a mapped axis, or axis_size")
        size = next(iter(sizes.values())) if sizes else axis_size
        if axis_size is not None and size != axis_size:
            raise ValueError(f"vmap axis_size={axis_size} but the mapped axes have size {size}")
        store = {}

        def flat_fun(*flat):
            out = fun(*tree.unflatten(in_tree, flat), **kwargs)
            out_leaves, store["tree"] = tree.flatten(out)
            store["out"] = out
            return out_leaves

        def out_dims():
            dims_out = _resolve_axes(out_axes, store["out"], "out_axes")
            for d, o in zip(dims_out, tree.leaves(store["out"])):
                nd = len(get_aval(o).shape) + 1
                if d is not None and not -nd <= d < nd:
                    raise ValueError(f"vmap out_axes {d} is out of range for an output of "
                                     f"shape {get_aval(o).shape} (batched rank {nd})")
            return [None if d is None else int(d) for d in dims_out]
        outs = vmap_flat(flat_fun, leaves, dims, out_dims, size)
        return tree.unflatten(store["tree"], outs)
    return batched


# ----------------------------------------------------------------------------- Jacobians

def _unit_seeds(values):
    """The unit vectors of the concatenated (flattened) `values`, split into one stacked array
    shaped like each value: the seeds of a batched jvp or vjp. Also each value's span."""
    sizes = [get_aval(v).size for v in values]
    n = sum(sizes)
    eye = np.eye(n, dtype=np.result_type(*[get_aval(v).dtype for v in values]))
    spans = list(zip(np.cumsum([0, *sizes])[:-1], np.cumsum(sizes)))
    return [eye[:, a:b].reshape((n, *get_aval(v).shape)).astype(get_aval(v).dtype)
            for v, (a, b) in zip(values, spans)], spans, n


def _jacobian(fun, argnums, args, mode: str):
    """The Jacobian blocks, out.shape + in.shape each, in the output and input pytrees."""
    nums, many = _argnums(argnums, len(args), mode)
    unique = tuple(dict.fromkeys(nums))
    flat = _Flattened(fun, args, {}, unique)
    _check_differentiable(flat.leaves, mode)
    xs = [get_aval(x).shape for x in flat.leaves]
    if mode == "jacfwd":
        seeds, x_spans, n = _unit_seeds(flat.leaves)
        outs = []

        def push(*ts):
            p_out, t_out = jvp_flat(flat, flat.leaves, list(ts), "jacfwd")
            outs[:] = [get_aval(p).shape for p in p_out]
            return list(map(instantiate, t_out))
        cols = vmap_flat(push, seeds, [0] * len(seeds), lambda: [-1] * len(outs), n)
        blocks = [[reshape(slice_(col, (0,) * len(o) + (a,), (*o, b)), (*o, *x))
                   for x, (a, b) in zip(xs, x_spans)] for o, col in zip(outs, cols)]
    else:
        p_out, backward = vjp_flat(flat, flat.leaves, 0, "jacrev")
        seeds, o_spans, m = _unit_seeds(p_out)
        rows = vmap_flat(lambda *c: list(map(instantiate, backward(list(c)))), seeds,
                         [0] * len(seeds), [0] * len(xs), m)
        blocks = [[reshape(slice_(r, (a, *(0,) * len(x)), (b, *x)), (*get_aval(o).shape, *x))
                   for x, r in zip(xs, rows)] for o, (a, b) in zip(p_out, o_spans)]
    if not many:
        in_tree = tree.structure(args[nums[0]])
        return tree.unflatten(flat.out_tree, [tree.unflatten(in_tree, row) for row in blocks])
    in_tree = tree.structure(tuple(args[i] for i in unique))
    return tree.unflatten(flat.out_tree, [_per_argnum(tree.unflatten(in_tree, row), unique, nums)
                                          for row in blocks])


def jacfwd(fun: Callable, argnums=0, *, argnum=None):
    """The Jacobian by forward mode: one batched jvp over the input basis. Each block has
    shape out.shape + in.shape. (`argnum`: autograd's name for `argnums`.)"""
    argnums = argnums if argnum is None else argnum
    return lambda *args: _jacobian(fun, argnums, args, "jacfwd")


def jacrev(fun: Callable, argnums=0, *, argnum=None):
    """The Jacobian by reverse mode: one batched backward pass over the output basis. Each
    block has shape out.shape + in.shape. (`argnum`: autograd's name for `argnums`.)"""
    argnums = argnums if argnum is None else argnum
    return lambda *args: _jacobian(fun, argnums, args, "jacrev")


def _output_size(fun, args) -> int:
    """The number of output elements of `fun(*args)`, found by tracing it."""
    leaves, treedef = tree.flatten(list(args))
    ir, _ = trace_closed(lambda *xs: tree.leaves(fun(*tree.unflatten(treedef, list(xs)))),
                         [get_aval(x) for x in leaves], "jacobian")
    return sum(a.size for a in ir.out_avals)


def jacobian(fun: Callable, argnums=0, *, mode: str = "auto", sparsity=None):
    """The Jacobian with the mode chosen for you. Dense (`sparsity=None`): as `jacfwd`
    (`mode="fwd"`) or `jacrev` (`mode="rev"`); `mode="auto"` takes forward mode when the
    inputs at `argnums` have no more elements than the output (after one extra trace to
    learn the output size), else reverse. Sparse (`sparsity="auto"`, or a known boolean
    pattern of shape outputs x inputs): a `scipy.sparse.csr_matrix` over the flattened,
    concatenated outputs and inputs, from one batched jvp over column colours or one batched
    vjp over row colours (`mode="auto"`: whichever needs fewer colours; see `xform.sparse`).

    >>> import numpy as np, xform as xf
    >>> f = lambda x: x[1:] * x[:-1]
    >>> xf.jacobian(f, sparsity="auto")(np.arange(4.0)).toarray()
    array([[1., 0., 0., 0.],
           [0., 2., 1., 0.],
           [0., 0., 3., 2.]])
    """
    if sparsity is not None:
        from xform.sparse import sparse_jacobian  # scipy.sparse: imported when used
        return sparse_jacobian(fun, argnums, sparsity, mode)
    if mode not in ("fwd", "rev", "auto"):
        raise ValueError(f"mode must be 'fwd', 'rev' or 'auto', got {mode!r}")

    def jac(*args):
        chosen = mode
        if mode == "auto":
            nums, _ = _argnums(argnums, len(args), "jacobian")
            n_in = sum(get_aval(x).size for x in tree.leaves([args[i] for i in set(nums)]))
            chosen = "fwd" if n_in <= _output_size(fun, args) else "rev"
        return (jacfwd if chosen == "fwd" else jacrev)(fun, argnums)(*args)
    return jac


def hessian(fun: Callable, argnums=0, *, argnum=None, sparsity=None):
    """The Hessian, as forward-over-reverse: jacfwd(jacrev(fun)). (`argnum`: autograd's name
    for `argnums`.) With `sparsity="auto"` (or a known symmetric boolean pattern), a
    `scipy.sparse.csr_matrix` over the flattened inputs from one batched pass over the colours
    of the detected pattern (see `xform.sparse.sparse_hessian`)."""
    argnums = argnums if argnum is None else argnum
    if sparsity is not None:
        from xform.sparse import sparse_hessian
        return sparse_hessian(fun, argnums, sparsity)
    return jacfwd(jacrev(fun, argnums), argnums)


def stop_gradient(x):
    """The identity on values, with a zero derivative (applied to every leaf of a pytree)."""
    return tree.map(lambda v: stop_gradient_p.bind1(v) if isinstance(v, Tracer) else v, x)


# ----------------------------------------------------------------------------- jit

def _signature(x):
    """The part of an argument a compiled program depends on: its shape and dtype."""
    if isinstance(x, np.ndarray):
        return (x.shape, x.dtype)
    if isinstance(x, Tracer):
        return (x.aval.shape, x.aval.dtype)
    return type(x)


_PLAIN_SCALARS = frozenset({float, int, bool, np.float64, np.float32, np.int64, np.int32,
                            np.bool_})


def _plain_signature(args):
    """The signature of arguments that are all arrays or scalars (the fast path), else None."""
    sig = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            sig.append((a.shape, a.dtype))
        elif t in _PLAIN_SCALARS:
            sig.append(t)
        elif isinstance(a, np.ndarray):  # a subclass, such as xform.numpy's arrays
            sig.append((a.shape, a.dtype, t))
        else:
            return None
    return tuple(sig)


def _native(x):
    """An array argument as compiled programs take it: a plain ndarray in native byte order
    (as numpy's ufuncs return a big-endian array's results); anything else unchanged."""
    if isinstance(x, np.ndarray):
        if not x.dtype.isnative:
            return np.asarray(x, x.dtype.newbyteorder("="))
        if type(x) is not np.ndarray:
            return x.view(np.ndarray)
    return x


def _native_leaves(leaves):
    """`leaves` with each array made `_native`: the same list when none needed it."""
    out = [_native(x) for x in leaves]
    return leaves if all(a is b for a, b in zip(out, leaves)) else out


def _convert_then_run(run, positions, args):
    args = list(args)
    for i in positions:
        args[i] = _native(args[i])
    return run(args)


def _runner(run, out_tree, sig):
    """Call `run` on flat arguments of signature `sig` and rebuild its output pytree."""
    convert = [i for i, s in enumerate(sig)
               if type(s) is tuple and (len(s) == 3 or not s[1].isnative)]
    if convert:
        run = functools.partial(_convert_then_run, run, convert)
    if out_tree == tree.structure(0.0):
        return lambda args: run(args)[0]
    return lambda args: tree.unflatten(out_tree, run(args))


JIT_SIGNATURES = int(os.environ.get("XFORM_JIT_SIGNATURES", "64"))


class BoundedCache(dict):
    """A dict keeping at most `capacity` entries: inserting one more drops the oldest, so that
    a function called with ever new shapes does not keep every compiled program alive.
    Lookups are plain dict lookups (the per-call path pays nothing)."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = max(1, capacity)

    def __setitem__(self, key, value):
        if key not in self and len(self) >= self.capacity:
            del self[next(iter(self))]
        super().__setitem__(key, value)


def _static_positions_and_names(fun, static_argnums, static_argnames):
    """Static argument positions and names, each completed from the other through `fun`'s
    signature (as JAX does), so that a static argument is static however it is passed."""
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return nums, names
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    by_name = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    _check_static(fun, params, positional, by_name, nums, names)
    more_nums = tuple(positional.index(n) for n in names
                      if n in positional and n in by_name and positional.index(n) not in nums)
    more_names = tuple(positional[i] for i in nums if 0 <= i < len(positional)
                       and positional[i] in by_name and positional[i] not in names)
    return nums + more_nums, names + more_names


def _defaults_cover(fun, nums, n_args: int) -> bool:
    """Whether `fun`'s signature gives defaults to the static positions `nums` that a call
    with `n_args` positional arguments leaves out (then they are static as their defaults)."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return all(0 <= i < len(positional) and positional[i].default is not inspect.Parameter.empty
               for i in nums if not -n_args <= i < n_args)


def _check_static(fun, params, positional, by_name, nums, names):
    """Raise, as JAX does, for static argument positions or names `fun` cannot take (unless
    it takes *args or **kwargs): they would otherwise be silently ignored."""
    kinds = {p.kind for p in params}
    name = getattr(fun, "__name__", "the function")
    n = len(positional)
    if inspect.Parameter.VAR_POSITIONAL not in kinds:
        bad = [i for i in nums if not -n <= i < n]
        if bad:
            raise ValueError(f"jit of {name}: static_argnums={nums} names position(s) {bad}, "
                             f"but {name} takes only {n} positional argument(s)")
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        bad = [a for a in names if a not in by_name]
        if bad:
            raise ValueError(f"jit of {name}: static_argnames={names} names {bad}, which "
                             f"{name} does not take by name (it takes {by_name})")


def jit(fun: Callable | None = None, static_argnums=(), static_argnames=(),
        backend: str | None = None, compile: str | None = None):
    """Compile `fun` once per signature (pytree structure, shapes, dtypes, static arguments).

    Under another transformation the jitted function is one `call` equation whose IR that
    transformation rewrites, so `grad(jit(f))` and `vmap(jit(f))` run compiled code too.
    Without `fun`, returns a decorator: `@xf.jit(static_argnums=(1,))`.

    `compile` says when Numba compiles (default: the XFORM_COMPILE environment variable, else
    "background"): "background" runs the first calls of each signature on the interpreter
    while a worker process compiles, and switches to the compiled program when it is ready;
    "sync" compiles before the first call returns; "never" always interprets.
    `f.lower(*args).compile()` compiles one signature now, whatever the mode.

    >>> import xform as xf, xform.numpy as xnp
    >>> f = xf.jit(lambda x: xnp.sin(x) ** 2)
    >>> float(f(0.5)) == float(xnp.sin(0.5) ** 2)
    True
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, backend=backend,
                                 compile=compile)
    backend = runner_key(backend or "numba", compile)
    static_nums, static_names = _static_positions_and_names(fun, static_argnums,
                                                            static_argnames)
    name = getattr(fun, "__name__", "fun")
    if name == "<lambda>":
        name = "lambda"
    cache = BoundedCache(JIT_SIGNATURES)  # signature -> (IR, output treedef, traced consts)

    def split_static(args, kwargs):
        nums = {i % len(args) for i in static_nums if -len(args) <= i < len(args)}
        if len(nums) < len(static_nums) and not _defaults_cover(fun, static_nums, len(args)):
            raise ValueError(f"jit of {name}: static_argnums={static_nums} names positions "
                             f"beyond the {len(args)} positional argument(s) it was called "
                             "with; pass every static argument positionally")
        static = typed_key((tuple(args[i] for i in sorted(nums)),
                            tuple((k, v) for k, v in sorted(kwargs.items())
                                  if k in static_names)))
        if static is None:
            raise TypeError(f"jit of {name}: static arguments must be hashable (they key the "
                            "compilation cache); pass arrays as ordinary arguments or make "
                            "them tuples")
        dyn_args = [a for i, a in enumerate(args) if i not in nums]
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in static_names}
        return static, nums, (dyn_args, dyn_kwargs)

    def trace(args, kwargs, nums, dynamic, leaves, in_tree):
        out_tree = []

        def flat_fun(*flat):
            dyn_args, dyn_kwargs = tree.unflatten(in_tree, flat)
            it = iter(dyn_args)
            full = [a if i in nums else next(it) for i, a in enumerate(args)]
            kw = {k: kwargs[k] if k in static_names else dyn_kwargs[k] for k in kwargs}
            out_leaves, tree_def = tree.flatten(fun(*full, **kw))
            out_tree.append(tree_def)
            return out_leaves
        # Values closed over from an enclosing transformation become leading arguments.
        # Arrays closed over are captured as they are now (copies), as JAX does.
        ir, traced_consts = trace_closed(flat_fun, [get_aval(x) for x in leaves], "jit",
                                         copy_consts=True)
        return simplify(ir), out_tree[0], traced_consts

    def traced(args, kwargs):
        """(simplified IR, output treedef, traced consts) for these arguments, and their leaves."""
        static, nums, dynamic = split_static(args, kwargs)
        leaves, in_tree = tree.flatten(dynamic)
        leaves = _native_leaves(leaves)
        key = (in_tree, static, tuple(_signature(x) for x in leaves))
        entry = cache.get(key)
        if entry is None:
            entry = trace(args, kwargs, nums, dynamic, leaves, in_tree)
            if not entry[2]:
                cache[key] = entry
        return entry, leaves

    fast = BoundedCache(JIT_SIGNATURES)  # plain positional array/scalar signature -> runner

    def jitted(*args, **kwargs):
        sig = None
        if not kwargs and not static_nums:
            sig = _plain_signature(args)
            runner = fast.get(sig) if sig is not None else None
            if runner is not None and is_eager():
                return runner(args)
        (ir, out_tree, traced_consts), leaves = traced(args, kwargs)
        if traced_consts or not is_eager():
            outs = call(ir, [*traced_consts, *leaves], name, backend)
            return tree.unflatten(out_tree, outs)
        exe = executable(ir, backend)
        outs = exe(leaves)
        run = getattr(exe, "run", exe)
        if sig is not None and run is not None:
            # After the first call a compiled program's `run` is its final wrapper; a tiered
            # program has one once its compiled program has taken over.
            fast[sig] = _runner(run, out_tree, sig)
        return tree.unflatten(out_tree, outs)

    def lower(*args, **kwargs) -> Lowered:
        """What this function runs for these arguments: `.ir`, `.source`, `.compile()`."""
        (ir, out_tree, traced_consts), _ = traced(args, kwargs)
        if traced_consts:
            raise TypeError(f"jit of {name}: lower() was called on a function that closes over "
                            "values traced by an enclosing transformation; call it outside")
        return Lowered(ir, backend, out_tree, lambda *a, **k: traced(a, k)[1])
    jitted.lower = lower
    jitted._cache_size = lambda: len(cache)  # as JAX's: signatures traced and kept
    jitted.__wrapped__ = fun
    jitted.__name__ = name
    jitted.__doc__ = fun.__doc__
    return jitted


class Lowered:
    """One signature of a jitted function: the IR it runs (simplified, as `print(lowered.ir)`
    shows), the Numba source generated from it (its comments name variables as the IR
    printer does), and `compile()`, which compiles now rather than at the first call.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> lowered = xf.jit(lambda x: xnp.sin(x) * 2.0).lower(np.ones(3))
    >>> print(lowered.ir)  # doctest: +NORMALIZE_WHITESPACE
    { lambda a:f64[3] . let
        b:f64[3] = sin a
        c:f64[3] = mul b 2.0:f64[]
      in (c) }
    >>> float(lowered.compile()(np.zeros(3))[0])
    0.0
    """

    def __init__(self, ir: IR, backend: str, out_tree, flatten_args: Callable):
        self.ir, self.backend = ir, backend
        self._out_tree, self._flatten_args = out_tree, flatten_args

    @property
    def source(self) -> str:
        """The generated Python source that Numba compiles."""
        from xform.backends.codegen import generate
        return generate(self.ir)[0]

    def compile(self) -> Callable:
        """The compiled program (compiled, or loaded from the disk cache, now), as a function
        of the same arguments as the jitted function."""
        exe = executable(self.ir, self.backend)
        getattr(exe, "compile", lambda: None)()
        out_tree, flatten_args = self._out_tree, self._flatten_args

        def compiled(*args, **kwargs):
            return tree.unflatten(out_tree, exe(flatten_args(*args, **kwargs)))
        return compiled
