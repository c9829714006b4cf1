"""Random numbers with explicit keys, as `jax.random`: `key = PRNGKey(0)`, `split`,
`fold_in`, then samplers taking a key. Keys are values (uint32 arrays of shape (2,), JAX's raw
keys), so samplers work under `jit`, `vmap` (over a batch of keys too), `grad` and `lax.scan`.

The generator is JAX's default, threefry2x32 with `jax_threefry_partitionable=True` (JAX
0.10's default), and the same key gives the same values as JAX 0.10.2:

- bit for bit: `PRNGKey`/`key` (seeds as JAX with 64-bit integers enabled), `split`,
  `fold_in`, `bits`, `uniform`, `bernoulli`, `randint`, `rademacher`, `permutation`,
  `shuffle`, and `choice` without `p`, in float32 and float64 (compare float64 with JAX run
  with `jax_enable_x64`); XLA's fused multiply-add in `uniform`'s `u * (maxval - minval) +
  minval` is reproduced exactly (see `_uniform._fma`);
- to within a few ulps: `normal` and what is built on it (`truncated_normal`,
  `multivariate_normal`, `orthogonal`): the uniform draws and the erfinv polynomial are JAX's,
  but XLA's CPU `log1p` inside erfinv is its own approximation, so about 5% (float32) to 10%
  (float64) of the values differ in the last bits;
- in distribution only: `gamma`, `loggamma`, `beta`, `dirichlet`, `t` (one rejection loop over
  the whole array instead of JAX's per-element loops), `poisson`, `exponential`, `laplace`,
  `logistic`, `gumbel`, `cauchy`, `categorical` and `choice` with `p` (the uniform draws are
  JAX's, but `log`, `tan` and `cumsum` round differently).

Differences from JAX: float64 and int64 are the defaults (xform's), there are no typed key
arrays (`key` returns a raw key), and shuffles cost O(n**2) in the shuffled length.

>>> import xform.random as xr
>>> key = xr.PRNGKey(0)
>>> key, sub = xr.split(key)
>>> xr.uniform(sub, (3,)).shape
(3,)
"""
from xform.random._continuous import (cauchy, exponential, gumbel, laplace, logistic,  # noqa
                                      orthogonal, t)
from xform.random._discrete import (categorical, choice, permutation, poisson,
                                    rademacher, shuffle)
from xform.random._gamma import beta, dirichlet, gamma, loggamma
from xform.random._keys import (PRNGKey, bits, fold_in, key, key_data, split,
                                wrap_key_data)
from xform.random._normal import multivariate_normal, normal, truncated_normal
from xform.random._uniform import bernoulli, randint, uniform

__all__ = ["PRNGKey", "bernoulli", "beta", "bits", "categorical", "cauchy", "choice",
           "dirichlet", "exponential", "fold_in", "gamma", "gumbel", "key", "key_data",
           "laplace", "loggamma", "logistic", "multivariate_normal", "normal", "orthogonal",
           "permutation", "poisson", "rademacher", "randint", "shuffle", "split", "t",
           "truncated_normal", "uniform", "wrap_key_data"]
