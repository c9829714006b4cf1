"""Per-example gradients and data-parallel training on a Dask cluster with xform.dask.

`xd.vmap(xf.grad(example_loss))` computes every example's gradient block by block on the
workers, as lazy dask arrays; here they are clipped (as in DP-SGD) and summed on the cluster,
then checked against the local `xf.vmap`. `xd.fit` then trains the model with adam on
data-parallel gradients. Without a running client this starts a LocalCluster (one worker
process per core); `DASK_SCHEDULER_ADDRESS=tcp://host:8786 python examples/dask_per_example.py`
runs the same on an existing cluster whose workers have xform and dask installed.
Needs the extra: pip install "xform[dask]".
"""
import time

import dask
import dask.array as da
import numpy as np

import xform as xf
import xform.dask as xd
import xform.numpy as xnp
from xform import optim

ROWS, DIM, CHUNK = 200_000, 8, 25_000


def example_loss(params, x, y):
    """Logistic loss of one example: log(1 + exp(z)) - y z for the logit z."""
    z = xnp.sum(x * params["w"]) + params["b"]
    return xnp.logaddexp(0.0, z) - y * z


def clipped_grad(params, x, y):
    """One example's gradient, scaled down to norm at most 1."""
    g = xf.grad(example_loss)(params, x, y)
    norm = xnp.sqrt(xnp.sum(g["w"] ** 2) + g["b"] ** 2)
    scale = 1.0 / xnp.maximum(1.0, norm)
    return {"w": g["w"] * scale, "b": g["b"] * scale}


def mean_loss(params, x, y):
    return xnp.mean(xf.vmap(example_loss, in_axes=(None, 0, 0))(params, x, y))


def make_data(seed=0):
    """Two Gaussian clouds, labelled 0 and 1, generated lazily by dask from a seed."""
    rng = da.random.default_rng(seed)
    y = (rng.random(ROWS, chunks=CHUNK) < 0.5).astype(np.float64)
    x = rng.standard_normal((ROWS, DIM), chunks=(CHUNK, DIM)) + (2 * y[:, None] - 1)
    return x, y


def main():
    client = xd.get_client()
    print(f"cluster: {len(client.nthreads())} workers")
    x, y = dask.persist(*make_data())  # generated once, kept in the workers' memory
    params = {"w": np.zeros(DIM), "b": 0.0}

    start = time.perf_counter()
    grads = xd.vmap(clipped_grad, in_axes=(None, 0, 0))(params, x, y)
    summed, = dask.compute({k: v.sum(axis=0) for k, v in grads.items()})
    print(f"per-example gradients of {ROWS} rows, clipped and summed on the cluster "
          f"in {time.perf_counter() - start:.1f} s (compiling included)")
    xs, ys = dask.compute(x, y)
    local = xf.vmap(clipped_grad, in_axes=(None, 0, 0))(params, xs, ys)
    same = all(np.allclose(summed[k], local[k].sum(axis=0)) for k in summed)
    print(f"equal to the local vmap: {same}")

    start = time.perf_counter()
    params, losses = xd.fit(mean_loss, params, (x, y), optim.adam(0.1), 30, reduce="mean")
    accuracy = np.mean(((xs @ params["w"] + params["b"]) > 0) == (ys > 0.5))
    print(f"fit: loss {losses[0]:.3f} -> {losses[-1]:.3f} in 30 steps "
          f"({time.perf_counter() - start:.1f} s), training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
