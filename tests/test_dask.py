"""xform.dask on a real LocalCluster of two worker processes: results equal to the local
transformations (float64 and float32), programs shipped as IR and compiled once per worker,
a worker killed mid-computation, exceptions from tasks, and the messages for bad inputs."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

pytest.importorskip("dask.array", reason="xform.dask needs the optional extra: pip install "
                    "'xform[dask]' (dask[array] and distributed)")
pytest.importorskip("distributed", reason="xform.dask needs the optional extra: pip install "
                    "'xform[dask]' (dask[array] and distributed)")

import dask
import dask.array as da
import distributed

import xform as xf
import xform.dask as xd
import xform.numpy as xnp
from xform import optim
from xform.dask import _worker
from xform.dask._ship import Program


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def loss(w, x, y):
    return xnp.mean((xnp.tanh(x @ w["a"]) + w["b"] - y) ** 2)


def example_loss(w, x, y):
    return (xnp.tanh(xnp.sum(x * w["a"])) + w["b"] - y) ** 2


def per_example(w, x64, x32):
    """Per-example gradients in float64, and a float32 output mapped along axis 1."""
    return {"g": xf.grad(example_loss)(w, x64, 0.25), "h": xnp.sin(x32) * xnp.float32(2.0)}


def rng_data(n=1000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    w = {"a": rng.normal(size=d), "b": 0.5}
    return w, rng.normal(size=(n, d)), rng.normal(size=n)


def test_vmap_matches_local_in_float64_and_float32(client):
    w, x, _ = rng_data()
    x32 = x.T.astype(np.float32)  # mapped along axis 1
    fn = xd.vmap(per_example, in_axes=(None, 0, 1), out_axes={"g": 0, "h": 1})
    out = fn(w, da.from_array(x, chunks=(300, 3)), x32)
    assert isinstance(out["g"]["a"], da.Array) and out["g"]["a"].chunks == ((300,) * 3 + (100,),
                                                                           (3,))
    assert out["h"].shape == (3, 1000) and out["h"].dtype == np.float32
    got = distributed.get_client().compute(out).result()
    want = xf.vmap(per_example, in_axes=(None, 0, 1), out_axes={"g": 0, "h": 1})(w, x, x32)
    np.testing.assert_allclose(got["g"]["a"], want["g"]["a"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got["g"]["b"], want["g"]["b"], rtol=1e-12, atol=1e-14)
    assert got["h"].dtype == np.float32
    np.testing.assert_allclose(got["h"], want["h"], rtol=2e-6)


def test_each_worker_builds_a_program_once_from_its_ir(client):
    w, x, _ = rng_data()
    fn = xd.vmap(per_example, in_axes=(None, 0, 1), out_axes={"g": 0, "h": 1})
    dask.compute(fn(w, da.from_array(x, chunks=(300, 3)), x.T.astype(np.float32)))
    status = client.run(_worker.status).values()
    assert len(status) == 2
    programs = {key for s in status for key in s["programs"]}
    assert all(len(s["programs"]) == len(set(s["programs"])) for s in status)
    # The workers share the disk cache: no program was compiled by both.
    assert sum(s["compiled"] for s in status) <= len(programs)
    program = Program(xf.make_ir(lambda v: xnp.sin(v) * 2.0)(np.ones(3)))
    assert __name__.encode() not in program.payload  # the IR, not this module's function
    assert str(program.load()) == str(xf.make_ir(lambda v: xnp.sin(v) * 2.0)(np.ones(3)))


@pytest.mark.parametrize("dtype, reduce", [(np.float64, "mean"), (np.float32, "sum")])
def test_value_and_grad_matches_local(client, dtype, reduce):
    w, x, y = rng_data(n=1200)
    w = {"a": w["a"].astype(dtype), "b": dtype(w["b"])}
    x, y = x.astype(dtype), y.astype(dtype)

    def summed(w, x, y):
        return loss(w, x, y) * (len(y) if reduce == "sum" else 1)
    value, grads = xd.value_and_grad(summed, reduce=reduce)(
        w, da.from_array(x, chunks=(300, 3)), y)
    want_value, want_grads = xf.value_and_grad(summed)(w, x, y)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    assert np.asarray(value).dtype == dtype and grads["a"].dtype == dtype
    np.testing.assert_allclose(value, want_value, rtol=rtol)
    np.testing.assert_allclose(grads["a"], want_grads["a"], rtol=rtol)
    np.testing.assert_allclose(grads["b"], want_grads["b"], rtol=rtol)


def test_fit_follows_the_local_optimiser(client):
    w, x, y = rng_data(n=1200)
    opt = optim.adam(0.05)
    got, losses = xd.fit(loss, w, (da.from_array(x, chunks=(300, 3)), y), opt, 4,
                         reduce="mean")
    state, want, want_losses = opt.init(w), w, []
    for _ in range(4):
        value, grads = xf.value_and_grad(loss)(want, x, y)
        want_losses.append(value)
        updates, state = opt.update(grads, state, want)
        want = optim.apply_updates(want, updates)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-12)
    np.testing.assert_allclose(got["a"], want["a"], rtol=1e-10)


def test_map_returns_results_in_order(client):
    items = [{"a": np.arange(3.0) * k, "b": float(k)} for k in range(5)]
    got = xd.map(lambda p: {"s": xnp.sum(p["a"]) * p["b"]}, items, compile="never")
    assert [float(r["s"]) for r in got] == [3.0 * k * k for k in range(5)]


def test_a_task_that_raises_raises_its_original_exception(client):
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        xd.map(xnp.linalg.inv, [np.eye(2), np.zeros((2, 2))], compile="never")


def slow_example(x):
    return xf.lax.fori_loop(0, 300, lambda i, c: 0.5 * xnp.tanh(c) + x, x)


def test_a_killed_worker_costs_no_result(client):
    x = np.random.default_rng(1).normal(size=(4000, 64))
    y = xd.vmap(slow_example, compile="never")(da.from_array(x, chunks=(100, 64)))
    futures = client.compute(list(y.to_delayed().ravel()))
    distributed.wait(futures, return_when="FIRST_COMPLETED")
    busy = [w for w, keys in client.processing().items() if keys]
    assert busy and not all(f.done() for f in futures), "the computation ended too soon"
    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
    os.kill(pid, signal.SIGKILL)
    got = np.concatenate(client.gather(futures))
    np.testing.assert_allclose(got, xf.vmap(slow_example)(x), rtol=1e-14, atol=1e-14)
    client.wait_for_workers(2, timeout=60)


def test_bad_inputs_say_what_to_change(client):
    x = da.ones((100, 4), chunks=(50, 2))
    f = xd.vmap(lambda r: xnp.sum(r))
    with pytest.raises(ValueError, match=r"chunked along axis 1.*x.rechunk\(\{1: -1\}\)"):
        f(x)
    g = xd.vmap(lambda a, b: a + b)
    with pytest.raises(ValueError, match="chunked differently.*rechunk them alike"):
        g(da.ones(100, chunks=50), da.ones(100, chunks=25))
    with pytest.raises(ValueError, match="differ in length"):
        g(np.ones(100), np.ones(90))
    with pytest.raises(TypeError, match="is a float; pass a numpy or dask array.*in_axes=None"):
        f(2.0)
    vg = xd.value_and_grad(lambda w, d: xnp.sum(w * d))
    with pytest.raises(TypeError, match="argument 1 .* is a float"):
        vg(np.ones(3), 2.0)
    with pytest.raises(ValueError, match="reduce must be one of"):
        xd.value_and_grad(loss, reduce="median")
