"""Split arguments into aligned row blocks, and trace what each block runs.

The arguments mapped over (by `vmap`) or split into partitions (by `value_and_grad`) are moved
so that the split axis comes first; dask arrays keep their chunks along it (every such
argument must have the same ones, and one chunk along every other axis, so that a block holds
whole examples) and numpy arrays are chunked to match. Mistakes raise before anything runs,
saying what to change.
"""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from xform import tree
from xform.core import ShapedArray, get_aval, trace_closed
from xform.dask._ship import Program
from xform.transforms.simplify import simplify


def split_leaf(x, axis: int, name: str, what: str):
    """`x` (a dask or numpy array split along `axis`) with that axis moved first."""
    verb = "mapped over" if what == "vmap" else "split along"
    if not isinstance(x, (da.Array, np.ndarray)):
        raise TypeError(f"xform.dask.{what}: {name} is {verb} axis {axis} but is a "
                        f"{type(x).__name__}; pass a numpy or dask array (numpy.asarray(...) "
                        "or dask.array.from_array(...))"
                        + (", or give it in_axes=None" if what == "vmap" else ""))
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"xform.dask.{what}: axis {axis} is out of range for {name}, of "
                         f"shape {x.shape}")
    axis %= x.ndim
    if isinstance(x, np.ndarray):
        return np.moveaxis(x, axis, 0)
    for d, chunks in enumerate(x.chunks):
        if d != axis and len(chunks) > 1:
            raise ValueError(f"xform.dask.{what}: {name} is chunked along axis {d}, which is "
                             f"not the axis it is {verb} ({axis}); every block must hold whole "
                             f"examples: pass it as x.rechunk({{{d}: -1}})")
    return da.moveaxis(x, axis, 0)


def common_chunks(leaves: dict, names: dict, what: str, n_workers: int) -> tuple[int, ...]:
    """The row chunks every split leaf (a dict position -> array, split axis first) shares."""
    sizes = {i: x.shape[0] for i, x in leaves.items()}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{names[i]} has {n} rows" for i, n in sizes.items())
        raise ValueError(f"xform.dask.{what}: the split arguments differ in length along their "
                         f"split axes ({detail}); they must have the same length")
    chunked = {i: x.chunks[0] for i, x in leaves.items() if isinstance(x, da.Array)}
    if len(set(chunked.values())) > 1:
        (first, c0), *rest = chunked.items()
        other = next(i for i, c in rest if c != c0)
        raise ValueError(
            f"xform.dask.{what}: the split arguments are chunked differently along their split "
            f"axes ({names[first]}: {c0}, {names[other]}: {chunked[other]}); rechunk them "
            f"alike, e.g. y.rechunk({{axis: x.chunks[axis]}}) with x = {names[first]} and "
            f"y = {names[other]}")
    if chunked:
        return next(iter(chunked.values()))
    n = next(iter(sizes.values()))
    step = max(1, -(-n // (4 * n_workers)))
    return tuple(min(step, n - k) for k in range(0, n, step)) or (0,)


def block_lists(leaves: dict, chunks: tuple[int, ...]) -> dict:
    """Each split leaf as a list of one Delayed per row block."""
    out = {}
    for i, x in leaves.items():
        if isinstance(x, np.ndarray):
            x = da.from_array(x, chunks=(chunks,) + x.shape[1:])
        # Unoptimised, so that block keys are the same whichever graph reads them.
        out[i] = list(x.to_delayed(optimize_graph=False).reshape(-1))
    return out


def aval_of(x) -> ShapedArray:
    """The abstract value of a leaf (dask arrays included)."""
    if isinstance(x, da.Array):
        return ShapedArray(x.shape, x.dtype)
    return get_aval(x)


def constant(x):
    """A leaf every block reads, as one node of the graph (so each worker receives it once per
    computation); scalars travel inline."""
    return dask.delayed(x) if isinstance(x, (da.Array, np.ndarray)) else x


def trace(flat_fun, avals: list[ShapedArray], what: str) -> tuple[Program, list]:
    """The program `flat_fun` (flat inputs -> flat outputs) is at these avals, simplified as
    `jit` simplifies, and its output avals."""
    ir, consts = trace_closed(flat_fun, avals, f"xform.dask.{what}")
    if consts:
        raise TypeError(f"xform.dask.{what} was called inside another transformation (grad, "
                        "vmap, jit); call it outside them")
    ir = simplify(ir)
    return Program(ir), ir.out_avals


def names(args, leaves) -> dict:
    """How errors name each leaf: its argument, and the leaf when arguments are pytrees."""
    owners = [i for i, a in enumerate(args) for _ in tree.leaves(a)]
    pytrees = len(leaves) > len(args)
    return {i: f"argument {owners[i]}" + (f" (leaf {i})" if pytrees else "")
            for i in range(len(leaves))}


COMPILE_MODES = ("sync", "never")


def check_compile(compile: str) -> str:
    """`compile`, checked: "sync" compiles on the workers, "never" interprets there."""
    if compile not in COMPILE_MODES:
        raise ValueError(f"xform.dask: compile must be one of {COMPILE_MODES}, got {compile!r}")
    return compile
