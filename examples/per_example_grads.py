"""Per-example gradients with vmap(grad), clipped one by one as in DP-SGD, checked against a loop.

Differentially private SGD bounds each example's influence by clipping its gradient to norm C
before averaging and adding Gaussian noise. `xf.vmap(xf.grad(loss))` gives all per-example
gradients in one batched pass; `vmap` of `optim.clip_by_global_norm` clips each of them.
"""
import time

import numpy as np

import xform as xf
import xform.numpy as xnp
from xform import optim

CLIP_NORM = 1.0
NOISE_MULTIPLIER = 1.0
BATCH = 64
# The interpreter backend starts at once; the Numba backend (xf.jit's default) runs each call
# faster but pays a compilation on first use, which would dominate a run this short.
BACKEND = "interpreter"


def make_data(n=512, dim=5, seed=0):
    """Two Gaussian clouds in `dim` dimensions, labelled 0 and 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, dim)) + 1.5 * (2 * y[:, None] - 1) / np.sqrt(dim)
    return x, y.astype(np.float64)


def example_loss(params, x, y):
    """Logistic loss of one example: log(1 + exp(z)) - y z for the logit z."""
    z = x @ params["w"] + params["b"]
    return xnp.logaddexp(0.0, z) - y * z


clip = optim.clip_by_global_norm(CLIP_NORM)


def clipped_example_grads(params, x, y):
    """Every example's gradient, each rescaled to global norm at most CLIP_NORM."""
    grads = xf.vmap(xf.grad(example_loss), in_axes=(None, 0, 0))(params, x, y)
    return xf.vmap(lambda g: clip.update(g, clip.init(g))[0])(grads)


def clipped_example_grads_loop(params, x, y):
    """The same, one example at a time in Python and clipped in plain numpy."""
    out = []
    for xi, yi in zip(x, y):
        g = xf.grad(example_loss)(params, xi, yi)
        norm = np.sqrt(sum(np.sum(np.square(v)) for v in xf.tree.leaves(g)))
        factor = min(1.0, CLIP_NORM / norm)
        out.append({k: v * factor for k, v in g.items()})
    return {k: np.stack([g[k] for g in out]) for k in out[0]}


def accuracy(params, x, y):
    return float(np.mean(((x @ params["w"] + params["b"]) > 0) == (y > 0.5)))


def main():
    x, y = make_data()
    params = {"w": np.zeros(x.shape[1]), "b": np.zeros(())}
    per_example = xf.jit(clipped_example_grads, backend=BACKEND)

    batch = (params, x[:BATCH], y[:BATCH])
    start = time.perf_counter()
    vectorised = per_example(*batch)
    t_vmap = time.perf_counter() - start
    start = time.perf_counter()
    looped = clipped_example_grads_loop(*batch)
    t_loop = time.perf_counter() - start
    diff = max(float(np.max(np.abs(vectorised[k] - looped[k]))) for k in looped)
    print(f"per-example clipped gradients of {BATCH} examples match a Python loop: "
          f"{diff < 1e-12} (max abs difference {diff:.1e})")
    print(f"vmap (first call, with tracing) {t_vmap:.3f} s, Python loop {t_loop:.3f} s")

    rng = np.random.default_rng(1)
    opt = optim.sgd(0.5)
    state = opt.init(params)
    for step in range(200):
        idx = rng.choice(len(y), BATCH, replace=False)
        grads = per_example(params, x[idx], y[idx])
        noisy = {k: (g.sum(axis=0) + NOISE_MULTIPLIER * CLIP_NORM
                     * rng.standard_normal(g.shape[1:])) / BATCH for k, g in grads.items()}
        updates, state = opt.update(noisy, state, params)
        params = optim.apply_updates(params, updates)
    print(f"DP-SGD (clip {CLIP_NORM}, noise multiplier {NOISE_MULTIPLIER}, batch {BATCH}), "
          f"200 steps: training accuracy {accuracy(params, x, y):.3f}")


if __name__ == "__main__":
    main()
