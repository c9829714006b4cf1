"""`xform.dask.vmap`: `vmap` whose blocks of examples run as Dask tasks, with lazy results."""
from __future__ import annotations

from collections.abc import Callable

import dask
import dask.array as da

from xform import tree
from xform.api import vmap as local_vmap
from xform.core import ShapedArray
from xform.dask import _blocks, _worker
from xform.dask._cluster import get_client, n_workers


def vmap(fun: Callable, in_axes=0, out_axes=0, *, client=None, compile: str = "sync"):
    """`xf.vmap(fun, in_axes, out_axes)` run block by block on a Dask cluster.

    Mapped arguments are dask arrays chunked along their mapped axis (and only along it), or
    numpy arrays, which are chunked to match (a few blocks per worker when no argument is a
    dask array). Every block runs `jit(vmap(fun))` on a worker; the results are lazy dask arrays
    (a pytree of them, as `fun` returns) with the same chunks along `out_axes`, and the dtypes
    `fun` gives (float32 stays float32). `fun` is traced here once per block shape and its IR
    shipped in the graph (each worker receives it once per computation); blocks shorter than
    the longest are padded with copies of their last row, so one program serves them all.
    The results compute wherever dask computes them (`.compute()` uses the default client).
    `compile="never"` interprets on the workers instead of compiling (for debugging).

    >>> import dask.array as da, xform.numpy as xnp, xform.dask as xd
    >>> x = da.ones((1000, 3), chunks=(250, 3))
    >>> y = xd.vmap(lambda r: xnp.sum(r ** 2))(x)   # doctest: +SKIP
    >>> y.chunks, float(y.sum().compute())          # doctest: +SKIP
    (((250, 250, 250, 250),), 3000.0)
    """
    _blocks.check_compile(compile)
    cache: dict = {}

    def mapped(*args):
        c = get_client(client)
        leaves, in_tree = tree.flatten(list(args))
        split = _split(leaves, _in_axes(in_axes, args), _blocks.names(args, leaves))
        chunks = _blocks.common_chunks(split, _blocks.names(args, leaves), "vmap",
                                       n_workers(c))
        size = max(chunks)
        avals = [ShapedArray((size,) + split[i].shape[1:], x.dtype) if i in split
                 else _blocks.aval_of(x) for i, x in enumerate(leaves)]
        key = (in_tree, tuple(avals), tuple(split))
        if key not in cache:
            cache[key] = _trace(fun, in_tree, avals, set(split))
        program, out_avals, out_tree = cache[key]
        outs = _run_blocks(program, compile, leaves, split, chunks, out_avals)
        return tree.unflatten(out_tree, _place(outs, out_axes, out_tree))
    return mapped


def _split(leaves, axes, names) -> dict:
    """The mapped leaves by position, mapped axis first."""
    split = {i: _blocks.split_leaf(x, ax, names[i], "vmap")
             for i, (x, ax) in enumerate(zip(leaves, axes)) if ax is not None}
    if not split:
        raise ValueError("xform.dask.vmap needs at least one mapped argument (in_axes not None)")
    return split


def _run_blocks(program, compile, leaves, split, chunks, out_avals) -> list:
    """The graph running `program` on each block: one lazy dask array per output, mapped
    axis first."""
    blocks = _blocks.block_lists(split, chunks)
    consts = {i: _blocks.constant(x) for i, x in enumerate(leaves) if i not in split}
    run = dask.delayed(_worker.run_block, pure=True)
    shipped = dask.delayed(program)
    mask = tuple(i in split for i in range(len(leaves)))
    results = [run(shipped, compile, max(chunks), mask,
                   *[blocks[i][b] if i in split else consts[i] for i in range(len(leaves))])
               for b in range(len(chunks))]
    return [da.concatenate([da.from_delayed(r[j], (n,) + aval.shape[1:], dtype=aval.dtype)
                            for r, n in zip(results, chunks)])
            for j, aval in enumerate(out_avals)]


def _in_axes(in_axes, args) -> list:
    prefix = tuple(in_axes) if isinstance(in_axes, list) else in_axes
    if isinstance(prefix, tuple) and len(prefix) != len(args):
        raise ValueError(f"xform.dask.vmap in_axes has {len(prefix)} entries but the function "
                         f"was called with {len(args)} positional arguments")
    try:
        return tree.broadcast_prefix(list(prefix) if isinstance(prefix, tuple) else prefix,
                                     list(args))
    except ValueError as e:
        raise ValueError(f"xform.dask.vmap in_axes {in_axes!r} does not match the structure "
                         f"of the arguments: {e}") from None


def _trace(fun, in_tree, avals, split: set):
    """(program, output avals, output treedef) of `vmap(fun)` over the split leaves."""
    store = {}
    flat_axes = [0 if i in split else None for i in range(len(avals))]

    def flat_fun(*flat):
        def per_example(*leaves):
            return fun(*tree.unflatten(in_tree, leaves))
        out = local_vmap(per_example, in_axes=flat_axes)(*flat)
        out_leaves, store["tree"] = tree.flatten(out)
        return out_leaves
    program, out_avals = _blocks.trace(flat_fun, avals, "vmap")
    return program, out_avals, store["tree"]


def _place(outs: list, out_axes, out_tree) -> list:
    """The outputs (mapped axis first) with their mapped axis moved to `out_axes`; an output
    with out_axes None is the same for every example, so it is read from the first."""
    try:
        axes = tree.broadcast_prefix(out_axes, tree.unflatten(out_tree, [0] * len(outs)))
    except ValueError as e:
        raise ValueError(f"xform.dask.vmap out_axes {out_axes!r} does not match the structure "
                         f"of the outputs: {e}") from None
    placed = []
    for x, ax in zip(outs, axes):
        if ax is None:
            placed.append(x[0])
        elif -x.ndim <= ax < x.ndim:
            placed.append(da.moveaxis(x, 0, ax))
        else:
            raise ValueError(f"xform.dask.vmap out_axes {ax} is out of range for an output of "
                             f"shape {x.shape[1:]} (batched rank {x.ndim})")
    return placed
