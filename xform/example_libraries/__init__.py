"""Ports of JAX's `jax.example_libraries`: `stax` (neural-network layers as pairs of
functions) and `optimizers` (init/update/get_params triples)."""
