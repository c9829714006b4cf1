"""Which Dask client runs the work, and shipping programs to its workers once.

The client is the one passed in, else the active one (`distributed.default_client()`), else
one connected to the scheduler Dask's configuration names (`DASK_SCHEDULER_ADDRESS` or the
`scheduler-address` setting), else a `LocalCluster` with one single-threaded worker process
per core, started on first use and reused until the process exits.
"""
from __future__ import annotations

import atexit
import os

import dask
import distributed

from xform.dask._ship import Program

_STARTED: list = []  # the (cluster, client) started here, if any
_SHIPPED: dict = {}  # (client id, program key) -> the Future holding the program on the cluster


def get_client(client: distributed.Client | None = None) -> distributed.Client:
    """The Dask client xform.dask uses (see the module docstring for the order of choice).

    >>> import xform.dask as xd
    >>> client = xd.get_client()  # doctest: +SKIP
    """
    if client is not None:
        return client
    try:
        return distributed.default_client()
    except ValueError:
        pass
    address = dask.config.get("scheduler-address", None)
    if address:
        return distributed.Client(address)
    if not _STARTED:
        cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
        _STARTED.append((cluster, distributed.Client(cluster)))
        atexit.register(_shut_down)
    return _STARTED[0][1]


def _shut_down() -> None:
    """Release the shipped programs, then close the client and cluster started here."""
    _SHIPPED.clear()
    for cluster, client in _STARTED:
        client.close()
        cluster.close()


def ship(client: distributed.Client, program: Program) -> distributed.Future:
    """`program` copied to every worker once (later tasks name it by its Future)."""
    key = (client.id, program.key)
    future = _SHIPPED.get(key)
    if future is None or future.status != "finished":
        future = client.scatter(program, broadcast=True, hash=True)
        _SHIPPED[key] = future
    return future


def n_workers(client: distributed.Client) -> int:
    """How many tasks the cluster runs at once (its worker threads), at least 1."""
    return max(1, sum(client.nthreads().values()))
