"""Sparse Jacobians and Hessians with the sparsity pattern found from the traced program.

`sparse_jacobian` traces the function once per signature (shapes, dtypes, pytree structure),
detects the Jacobian's pattern from the IR (`xform.transforms.sparsity`), colours it
(`xform.transforms.colouring`) and then evaluates the whole Jacobian as ONE batched jvp over
the colour seeds (or one batched vjp over row colours), decompressed into a
`scipy.sparse.csr_matrix`. A tridiagonal Jacobian takes 3 colours whatever its size, so it
costs about four evaluations of the function. `sparse_hessian` does the same for the pattern
of the gradient's Jacobian, colouring it symmetrically (star colouring).

The matrices are over the flattened leaves of the arguments at `argnums`, concatenated in
pytree order (columns), and the flattened leaves of the output, concatenated (rows). Patterns,
colourings and traced programs are cached per signature in the returned function, and never
depend on the argument values, so a Newton loop pays for them once.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from xform import tree
from xform.backends import executable, runner_key
from xform.core import (
    IR,
    Tracer,
    eval_ir,
    get_aval,
    instantiate,
    is_float_dtype,
    trace_closed,
    typed_key,
)
from xform.transforms import colouring
from xform.transforms.jvp import jvp_flat
from xform.transforms.simplify import simplify
from xform.transforms.sparsity import jacobian_pattern
from xform.transforms.vjp import vjp_flat
from xform.transforms.vmap import vmap_flat


class _Program:
    """`fun` traced at one signature as an IR of the leaves of the arguments at `argnums`
    (the other arguments are constants of it, as under `jacfwd`)."""

    def __init__(self, fun, args, argnums, name):
        self.name, self.argnums = name, argnums
        leaves, treedef = tree.flatten(self.dynamic(args))
        self.in_avals = [get_aval(x) for x in leaves]
        for a in self.in_avals:
            if not is_float_dtype(a.dtype):
                raise TypeError(f"{name} needs floating-point inputs to differentiate with "
                                f"respect to, but an input has dtype {a.dtype}. Convert it or "
                                "leave it out of argnums.")

        def flat(*xs):
            full = list(args)
            for i, x in zip(argnums, tree.unflatten(treedef, list(xs))):
                full[i] = x
            return tree.leaves(fun(*full))
        self.ir = _closed(flat, self.in_avals, name)
        for a in self.ir.out_avals:
            if not is_float_dtype(a.dtype):
                raise TypeError(f"{name} needs floating-point outputs, got one of dtype "
                                f"{a.dtype}")

    def dynamic(self, args) -> list:
        return [args[i] for i in self.argnums]

    def inputs(self, args) -> list:
        """The program's inputs in a call with `args`."""
        return tree.leaves(self.dynamic(args))

    @property
    def n_in(self) -> int:
        return sum(a.size for a in self.in_avals)

    @staticmethod
    def split(rows: np.ndarray, avals) -> list:
        """A (k, total) matrix as k-batches shaped and typed like each of `avals`."""
        ends = np.cumsum([0, *(a.size for a in avals)])
        return [np.ascontiguousarray(rows[:, a:b]).reshape((len(rows), *v.shape)).astype(v.dtype)
                for a, b, v in zip(ends[:-1], ends[1:], avals)]


def _closed(flat, avals, name) -> IR:
    ir, consts = trace_closed(flat, avals, name)
    if consts:
        raise TypeError(f"{name}: the function closes over values traced by an enclosing "
                        "transformation; sparse derivatives are computed on concrete values, "
                        "so pass them as arguments instead")
    return ir


def _dtype(avals):
    return np.result_type(*[a.dtype for a in avals]) if avals else np.float64


def _forward(prog: _Program, ir: IR, seeds: np.ndarray) -> Callable:
    """A function of the program's inputs giving the jvps of `ir` along the rows of
    `seeds`, as one batched jvp: (k, *shape) per output."""
    def run(*primals):
        def push(*ts):
            _, t_out = jvp_flat(lambda *xs: eval_ir(ir, list(xs)), list(primals), list(ts),
                                prog.name)
            return [instantiate(t) for t in t_out]
        return vmap_flat(push, prog.split(seeds, prog.in_avals), [0] * len(primals),
                         lambda: [0] * len(ir.outs), len(seeds), prog.name)
    return run


def _reverse(prog: _Program, seeds: np.ndarray) -> Callable:
    """A function of the program's inputs giving the vjps of the program along the rows of
    `seeds`, as one batched vjp: (k, *shape) per input."""
    def run(*primals):
        _, backward = vjp_flat(lambda *xs: eval_ir(prog.ir, list(xs)), list(primals), 0,
                               prog.name)
        return vmap_flat(lambda *cts: [instantiate(c) for c in backward(list(cts))],
                         prog.split(seeds, prog.ir.out_avals), [0] * len(prog.ir.outs),
                         [0] * len(primals), len(seeds), prog.name)
    return run


def _compressed(prog: _Program, run: Callable, k: int) -> Callable[[list], np.ndarray]:
    """`run` traced once and simplified, as a function of the program's inputs returning the
    compressed derivative as one (k, total size) matrix."""
    exe = executable(simplify(_closed(run, prog.in_avals, prog.name)),
                     runner_key("interpreter", None))
    return lambda xs: np.hstack([np.asarray(o).reshape(k, -1) for o in exe(list(xs))])


def _given(pattern, shape) -> sp.csr_matrix:
    p = sp.csr_matrix(pattern, dtype=bool)
    if p.shape != shape:
        raise ValueError(f"the sparsity pattern given has shape {p.shape}, but the Jacobian "
                         f"has shape {shape} (outputs x inputs, flattened)")
    p.sort_indices()
    return p


def _check_concrete(args, name):
    if any(isinstance(x, Tracer) for x in tree.leaves(tuple(args))):
        raise TypeError(f"{name} returns a scipy.sparse matrix, computed on concrete values: "
                        "it cannot run inside jit, grad or vmap. Call it outside them (the "
                        "function it differentiates may itself be jitted).")


def _constant_key(x):
    """A hashable stand-in for the value of an argument that is not differentiated (the
    traced program and its pattern depend on it), or None."""
    if isinstance(x, np.ndarray):
        return (x.shape, x.dtype.str, x.tobytes())
    return typed_key(x)


class _Cache:
    """Per-signature results of `build(args)`: keyed by the pytree structure, the shapes
    and dtypes of the differentiated leaves, and the values of the other arguments (no
    caching when one is unhashable)."""

    def __init__(self, argnums, build):
        self.argnums, self.build, self.entries = argnums, build, {}

    def __call__(self, args):
        nums = _argnums(self.argnums, len(args))
        parts = []
        for i, a in enumerate(args):
            leaves, treedef = tree.flatten(a)
            parts.append(treedef)
            parts.extend(get_aval(x) if i in nums else _constant_key(x) for x in leaves)
        key = tuple(parts) if all(p is not None for p in parts) else None
        if key is None:
            return self.build(args, nums)
        if key not in self.entries:
            self.entries[key] = self.build(args, nums)
        return self.entries[key]


def _argnums(argnums, nargs) -> tuple:
    nums = argnums if isinstance(argnums, (tuple, list)) else (argnums,)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"argnums {argnums} does not fit a function called with {nargs} "
                             "positional arguments")
    return tuple(dict.fromkeys(i % nargs for i in nums))


# ----------------------------------------------------------------------------- patterns

def sparsity(fun: Callable, argnums=0) -> Callable[..., sp.csr_matrix]:
    """The Jacobian sparsity pattern of `fun`, found from its traced program: a boolean
    `scipy.sparse.csr_matrix` with a row per output element and a column per input element
    (flattened leaves of the arguments at `argnums`, concatenated), true where the derivative
    may be non-zero for some input value (see `xform.transforms.sparsity`).

    >>> import numpy as np, xform as xf
    >>> xf.sparsity(lambda x: x[1:] - x[:-1] ** 2)(np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    def pattern(*args):
        _check_concrete(args, "sparsity")
        return jacobian_pattern(_Program(fun, args, _argnums(argnums, len(args)),
                                         "sparsity").ir)
    return pattern


def _gradient_program(fun, args, argnums, name) -> tuple[_Program, IR]:
    """The program of `fun` and the IR of its gradient (with the program's inputs)."""
    prog = _Program(fun, args, argnums, name)
    if [a.size for a in prog.ir.out_avals] != [1]:
        raise TypeError(f"{name} needs a function with one scalar output, got outputs "
                        f"{prog.ir.out_avals}; use xf.jacobian for vector outputs")

    def gradient(*primals):
        (out,), backward = vjp_flat(lambda *xs: eval_ir(prog.ir, list(xs)), list(primals), 0,
                                    name)
        aval = get_aval(out)
        return [instantiate(c) for c in backward([np.ones(aval.shape, aval.dtype)])]
    return prog, _closed(gradient, prog.in_avals, name)


def _symmetric(p: sp.csr_matrix) -> sp.csr_matrix:
    s = (p + p.T).tocsr()
    s.sort_indices()
    return s


def hessian_sparsity(fun: Callable, argnums=0) -> Callable[..., sp.csr_matrix]:
    """The Hessian sparsity pattern of a scalar function: the Jacobian pattern of its
    gradient's traced program (so it sees which inputs interact nonlinearly), symmetrised.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> f = lambda x: xnp.sum((x[1:] - x[:-1] ** 2) ** 2) + xnp.sum(x)
    >>> xf.hessian_sparsity(f)(np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 1, 0],
           [0, 1, 1, 1],
           [0, 0, 1, 1]])
    """
    def pattern(*args):
        _check_concrete(args, "hessian_sparsity")
        _, grad_ir = _gradient_program(fun, args, _argnums(argnums, len(args)),
                                       "hessian_sparsity")
        return _symmetric(jacobian_pattern(grad_ir))
    return pattern


# ----------------------------------------------------------------------------- Jacobians

class _JacobianPlan:
    """Everything about one signature that does not depend on the values."""

    def __init__(self, fun, args, argnums, given, mode):
        self.prog = _Program(fun, args, argnums, "jacobian")
        shape = (sum(a.size for a in self.prog.ir.out_avals), self.prog.n_in)
        self.pattern = (jacobian_pattern(self.prog.ir) if isinstance(given, str)
                        else _given(given, shape))
        if mode == "fwd" or (mode == "auto" and shape[1] <= shape[0]):
            self.mode, self.colours = "fwd", colouring.column_colouring(self.pattern)
        else:
            self.mode, self.colours = "rev", colouring.row_colouring(self.pattern)
        if mode == "auto":
            other = (colouring.row_colouring(self.pattern) if self.mode == "fwd" else
                     colouring.column_colouring(self.pattern))
            if other.max(initial=-1) < self.colours.max(initial=-1):
                self.mode = "rev" if self.mode == "fwd" else "fwd"
                self.colours = other
        if self.n_colours:
            if self.mode == "fwd":
                seeds = colouring.seeds(self.colours, _dtype(self.prog.in_avals))
                run = _forward(self.prog, self.prog.ir, seeds)
            else:
                run = _reverse(self.prog, colouring.seeds(self.colours,
                                                          _dtype(self.prog.ir.out_avals)))
            self.compressed = _compressed(self.prog, run, self.n_colours)
            self.read = (colouring.from_columns if self.mode == "fwd" else
                         colouring.from_rows)(self.pattern, self.colours)

    @property
    def n_colours(self) -> int:
        return int(self.colours.max(initial=-1)) + 1

    def __call__(self, args) -> sp.csr_matrix:
        prog = self.prog
        if self.n_colours == 0:
            dtype = _dtype(prog.ir.out_avals)
            return sp.csr_matrix(self.pattern.shape, dtype=dtype)
        return self.read(self.compressed(prog.inputs(args)))


_MODES = ("fwd", "rev", "auto")


def _check_sparsity(sparsity):
    if isinstance(sparsity, str) and sparsity != "auto":
        raise ValueError(f"sparsity must be None, 'auto' or a pattern, got {sparsity!r}")


def sparse_jacobian(fun: Callable, argnums=0, sparsity="auto", mode: str = "auto"
                    ) -> Callable[..., sp.csr_matrix]:
    """The Jacobian of `fun` as a `scipy.sparse.csr_matrix` (see the module docstring), with
    the pattern `sparsity` ("auto": detected; or a boolean matrix, dense or sparse, of shape
    outputs x inputs). `mode="fwd"` colours columns and runs one batched jvp, `"rev"` colours
    rows and runs one batched vjp, `"auto"` takes whichever needs fewer colours (forward on a
    tie). `xf.jacobian(f, sparsity=...)` calls this."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    _check_sparsity(sparsity)
    plans = _Cache(argnums, lambda args, nums: _JacobianPlan(fun, args, nums, sparsity, mode))

    def jac(*args):
        _check_concrete(args, "jacobian")
        return plans(args)(args)
    jac.plans = plans
    return jac


class _HessianPlan:
    def __init__(self, fun, args, argnums, given):
        self.prog, self.grad_ir = _gradient_program(fun, args, argnums, "hessian")
        n = self.prog.n_in
        self.pattern = _symmetric(jacobian_pattern(self.grad_ir) if isinstance(given, str)
                                  else _given(given, (n, n)))
        self.colours = colouring.column_colouring(self.pattern)
        self.symmetric = False
        if self.n_colours > 3:  # a star colouring of a graph with a 4-vertex path needs 3
            star = colouring.star_colouring(self.pattern)
            if (star.max(initial=-1) < self.colours.max(initial=-1)
                    and colouring.star_recoverable(self.pattern, star)):
                self.colours, self.symmetric = star, True
        if self.n_colours:
            seeds = colouring.seeds(self.colours, _dtype(self.prog.in_avals))
            self.compressed = _compressed(self.prog, _forward(self.prog, self.grad_ir, seeds),
                                          self.n_colours)
            self.read = (colouring.symmetric_entries if self.symmetric else
                         colouring.from_columns)(self.pattern, self.colours)

    @property
    def n_colours(self) -> int:
        return int(self.colours.max(initial=-1)) + 1

    def __call__(self, args) -> sp.csr_matrix:
        prog = self.prog
        dtype = _dtype(prog.in_avals)
        if self.n_colours == 0:
            return sp.csr_matrix(self.pattern.shape, dtype=dtype)
        return self.read(self.compressed(prog.inputs(args)))


def sparse_hessian(fun: Callable, argnums=0, sparsity="auto") -> Callable[..., sp.csr_matrix]:
    """The Hessian of a scalar function as a symmetric `scipy.sparse.csr_matrix`: the pattern
    (`sparsity="auto"`: the Jacobian pattern of the gradient's program, symmetrised; or a
    given boolean matrix) is coloured — a star colouring when it needs fewer colours than the
    distance-2 column colouring and every entry can be read back — and the compressed
    Hessian is one batched forward-over-reverse pass. `xf.hessian(f, sparsity=...)` calls
    this."""
    _check_sparsity(sparsity)
    plans = _Cache(argnums, lambda args, nums: _HessianPlan(fun, args, nums, sparsity))

    def hess(*args):
        _check_concrete(args, "hessian")
        return plans(args)(args)
    hess.plans = plans
    return hess
