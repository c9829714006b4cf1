"""xform on a Dask cluster: `vmap` over chunked arrays, data-parallel `value_and_grad` and
`fit`, and `map` over many inputs (an optional extra: `pip install "xform[dask]"`).

Functions are traced where they are called and their IR is shipped: workers never import the
caller's module, and each worker compiles a program once (or loads it from xform's disk cache)
and reuses it for every task naming it. Work runs on the `client=` given, else the active
Dask client, else the scheduler Dask's configuration names (`DASK_SCHEDULER_ADDRESS`), else a
`LocalCluster` with one single-threaded worker process per core, started once and reused.
Dask reschedules the tasks of a worker that dies; a task that raises raises its original
exception here.
"""
from __future__ import annotations

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("xform.dask needs dask[array] and distributed: pip install "
                      "'xform[dask]' (or: pip install 'dask[array]' distributed)") from e

from xform.dask._cluster import get_client
from xform.dask._grad import fit, value_and_grad
from xform.dask._map import map
from xform.dask._vmap import vmap

__all__ = ["fit", "get_client", "map", "value_and_grad", "vmap"]
