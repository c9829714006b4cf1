"""`scipy.stats`-compatible distributions for xform, one module per distribution as in
jax.scipy.stats: log densities (or mass functions), distribution functions and their logs,
survival functions and, where JAX has them, quantile functions, written with xform.numpy and
xform.scipy.special so that they trace, differentiate, batch and compile."""
from xform.scipy.stats import (bernoulli, beta, binom, cauchy, chi2, dirichlet,  # noqa: F401
                               expon, gamma, geom, laplace, logistic, multivariate_normal,
                               nbinom, norm, poisson, t, uniform)
