"""Data-parallel `value_and_grad` over partitions of the data, and `fit` on top of it."""
from __future__ import annotations

from collections.abc import Callable

import dask
import numpy as np

from xform import tree
from xform.api import value_and_grad as local_value_and_grad
from xform.core import ShapedArray
from xform.dask import _blocks, _worker
from xform.dask._cluster import get_client, n_workers, ship
from xform.optim.transforms import apply_updates

REDUCTIONS = ("sum", "mean")
FAN_IN = 8  # partial results summed per task of the tree reduction


def value_and_grad(loss: Callable, reduce: str = "sum", argnums=0, *, client=None,
                   compile: str = "sync"):
    """`xf.value_and_grad(loss, argnums)` of a loss that sums (`reduce="sum"`) or averages
    (`reduce="mean"`) over examples, computed partition by partition on a Dask cluster.

    The arguments at `argnums` (the parameters) are copied to every worker once per call; every
    other argument is data, split along axis 0: dask arrays chunked along axis 0 only (all with
    the same chunks), or numpy arrays, chunked to match. Each partition runs the jitted
    `value_and_grad(loss)` on a worker, and the partial values and gradients are summed in a
    tree on the cluster (for a mean, each weighted by its share of the rows), so the result
    equals the single-machine one up to rounding. Returns numpy values, as `xf.value_and_grad`.

    >>> import numpy as np, xform.numpy as xnp, xform.dask as xd
    >>> loss = lambda w, x, y: xnp.mean((x @ w - y) ** 2)
    >>> vg = xd.value_and_grad(loss, reduce="mean")
    >>> value, g = vg(np.zeros(3), np.ones((100, 3)), np.ones(100))  # doctest: +SKIP
    >>> float(value), g                                              # doctest: +SKIP
    (1.0, array([-2., -2., -2.]))
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"xform.dask.value_and_grad: reduce must be one of {REDUCTIONS}, got "
                         f"{reduce!r}")
    _blocks.check_compile(compile)
    cache: dict = {}

    def vg(*args):
        c = get_client(client)
        nums = _argnums(argnums, len(args))
        leaves, in_tree = tree.flatten(list(args))
        names = _blocks.names(args, leaves)
        owners = [i for i, a in enumerate(args) for _ in tree.leaves(a)]
        split = {i: _blocks.split_leaf(x, 0, names[i], "value_and_grad")
                 for i, x in enumerate(leaves) if owners[i] not in nums}
        if not split:
            raise ValueError("xform.dask.value_and_grad needs data: at least one argument "
                             "outside argnums, split along axis 0 into partitions")
        chunks = _blocks.common_chunks(split, names, "value_and_grad", n_workers(c))
        if sum(chunks) == 0:
            raise ValueError("xform.dask.value_and_grad: the data has no rows")
        programs = {}
        for n in set(chunks):
            avals = [ShapedArray((n,) + x.shape[1:], x.dtype) if i in split
                     else _blocks.aval_of(x) for i, x in enumerate(leaves)]
            key = (in_tree, tuple(avals), nums)
            if key not in cache:
                cache[key] = _trace(loss, in_tree, avals, nums)
            programs[n] = cache[key]
        parts = _partials(c, {n: p for n, (p, _) in programs.items()}, compile, leaves, split,
                          chunks, reduce)
        out = c.compute(_tree_sum(parts)).result()
        return tree.unflatten(programs[chunks[0]][1], [x[()] if x.ndim == 0 else x for x in out])
    return vg


def _partials(client, programs: dict, compile, leaves, split, chunks, reduce) -> list:
    """One task per partition computing its (weighted) value and gradient. The parameters
    are copied to every worker once, the programs once per session."""
    shipped = {n: ship(client, p) for n, p in programs.items()}
    fixed = [i for i in range(len(leaves)) if i not in split]
    # Fresh keys at each call: scattering again a key whose previous Future is being
    # released can lose the data.
    params = dict(zip(fixed, client.scatter([leaves[i] for i in fixed], broadcast=True,
                                            hash=False)))
    blocks = _blocks.block_lists(split, chunks)
    total = sum(chunks)
    run = dask.delayed(_worker.run_weighted, pure=True)
    return [run(shipped[n], compile, n / total if reduce == "mean" else 1,
                *[blocks[i][b] if i in split else params[i] for i in range(len(leaves))])
            for b, n in enumerate(chunks)]


def _argnums(argnums, n: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or any(not isinstance(k, int) or not -n <= k < n for k in nums):
        raise ValueError(f"xform.dask.value_and_grad: argnums={argnums!r} must name positions "
                         f"among the {n} arguments")
    return tuple(k % n for k in nums)


def _trace(loss, in_tree, avals, nums):
    """(program, output treedef) of `value_and_grad(loss, argnums)` at these avals."""
    store = {}
    argnums = nums[0] if len(nums) == 1 else nums

    def flat_fun(*flat):
        out = local_value_and_grad(loss, argnums)(*tree.unflatten(in_tree, flat))
        out_leaves, store["tree"] = tree.flatten(out)
        return out_leaves
    program, _ = _blocks.trace(flat_fun, avals, "value_and_grad")
    return program, store["tree"]


def _tree_sum(parts: list):
    """The sum of the partial results, as a tree of tasks adding FAN_IN results each."""
    add = dask.delayed(_worker.add, pure=True)
    while len(parts) > 1:
        parts = [add(*parts[k:k + FAN_IN]) for k in range(0, len(parts), FAN_IN)]
    return parts[0]


def fit(loss: Callable, params, data, optimizer, steps: int, *, reduce: str = "sum",
        client=None, compile: str = "sync"):
    """Train `params` for `steps` steps of an `xform.optim` optimiser on data-parallel
    gradients (`value_and_grad(loss, reduce)(params, *data)`); returns the final parameters
    and the loss before each step.

    `data` is the data argument, or a tuple of them. The parameters are copied to the workers
    once per step. Lazily generated data is generated again at every step: `persist()` it
    first when it fits in the cluster's memory.

    >>> import numpy as np, xform.numpy as xnp, xform.dask as xd, xform.optim as optim
    >>> loss = lambda w, x, y: xnp.mean((x @ w - y) ** 2)
    >>> x = np.random.rand(1000, 3); y = x @ np.array([1.0, 2.0, 3.0])
    >>> w, losses = xd.fit(loss, np.zeros(3), (x, y), optim.adam(0.1), 200,
    ...                    reduce="mean")                                     # doctest: +SKIP
    """
    data = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    vg = value_and_grad(loss, reduce=reduce, client=client, compile=compile)
    state = optimizer.init(params)
    losses = []
    for _ in range(int(steps)):
        value, grads = vg(params, *data)
        losses.append(float(value))
        updates, state = optimizer.update(grads, state, params)
        params = apply_updates(params, updates)
    return params, np.array(losses)
