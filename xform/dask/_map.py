"""`xform.dask.map`: a function applied to many pytrees, one Dask task each."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from xform import tree
from xform.dask import _blocks, _worker
from xform.dask._cluster import get_client, ship


def map(fun: Callable, items: Iterable, *, client=None, compile: str = "sync") -> list:
    """`[xf.jit(fun)(item) for item in items]`, the items run in parallel on a Dask cluster
    (parameter sweeps, Monte Carlo batches).

    Each item is one pytree of arrays and numbers, passed as `fun`'s single argument, and one
    task. `fun` is traced here once per distinct item signature (structure, shapes, dtypes) and
    its IR shipped to the workers, which compile it once each. Blocks until every result is in
    and returns them as a list in the order of `items`; a task that raises raises here, with
    its original exception type and message.

    >>> import numpy as np, xform.numpy as xnp, xform.dask as xd
    >>> xd.map(lambda p: xnp.sum(p["a"]) * p["b"],
    ...        [{"a": np.ones(3), "b": float(k)} for k in range(3)])  # doctest: +SKIP
    [array(0.), array(3.), array(6.)]
    """
    _blocks.check_compile(compile)
    c = get_client(client)
    programs: dict = {}
    futures, trees = [], []
    for item in items:
        leaves, in_tree = tree.flatten(item)
        avals = tuple(_blocks.aval_of(x) for x in leaves)
        key = (in_tree, avals)
        if key not in programs:
            program, out_tree = _trace(fun, in_tree, list(avals))
            programs[key] = ship(c, program), out_tree
        shipped, out_tree = programs[key]
        futures.append(c.submit(_worker.run, shipped, compile, *leaves))
        trees.append(out_tree)
    return [tree.unflatten(t, list(r)) for t, r in zip(trees, c.gather(futures))]


def _trace(fun, in_tree, avals):
    store = {}

    def flat_fun(*flat):
        out_leaves, store["tree"] = tree.flatten(fun(tree.unflatten(in_tree, flat)))
        return out_leaves
    program, _ = _blocks.trace(flat_fun, avals, "map")
    return program, store["tree"]
