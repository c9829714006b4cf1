"""Benchmarks of xform against hand-written numpy, JAX, autograd, PyTorch and Numba."""
