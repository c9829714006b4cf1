"""`xf.config.update(name, value)`: JAX's configuration flags, as far as they mean anything here.

- `jax_enable_x64`: float64 is already the default, as in numpy, and float32 inputs stay
  float32; `True` is accepted and changes nothing. `False` (a float32 default, JAX's default)
  is not supported and raises NotImplementedError: pass float32 arrays instead.
- Other JAX flags (`jax_platform_name`, `jax_debug_nans`, `jax_disable_jit`, ...) have no
  effect here: setting one warns and is otherwise ignored.
- A name JAX does not know either raises AttributeError, as JAX does.
"""
from __future__ import annotations

import warnings

__all__ = ["update", "jax_enable_x64", "x64_enabled"]

jax_enable_x64 = True
x64_enabled = True

# JAX flags that are accepted and ignored, with a warning (they concern devices, compilation,
# logging or debugging machinery that xform does not have).
_IGNORED = frozenset({
    "jax_platform_name", "jax_platforms", "jax_default_device", "jax_disable_jit",
    "jax_debug_nans", "jax_debug_infs", "jax_log_compiles", "jax_enable_checks",
    "jax_check_tracer_leaks", "jax_traceback_filtering", "jax_default_matmul_precision",
    "jax_numpy_rank_promotion", "jax_numpy_dtype_promotion", "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs", "jax_persistent_cache_min_entry_size_bytes",
    "jax_default_prng_impl", "jax_threefry_partitionable", "jax_softmax_custom_jvp",
    "jax_debug_key_reuse", "jax_explain_cache_misses", "jax_dynamic_shapes",
    "jax_transfer_guard", "jax_cpu_enable_async_dispatch", "jax_enable_compilation_cache",
    "jax_use_shardy_partitioner", "jax_spmd_mode",
})


def update(name: str, value) -> None:
    """Set a JAX configuration flag (see the module docstring for what each does here).

    >>> update("jax_enable_x64", True)
    """
    if name == "jax_enable_x64":
        if not value:
            raise NotImplementedError(
                "xform has no float32 default: it computes in float64 by default, as numpy "
                "does, and keeps float32 inputs float32. Pass float32 arrays (e.g. "
                "x.astype(np.float32)) to compute in float32.")
        return
    if name in _IGNORED:
        warnings.warn(f"xf.config: the JAX flag {name!r} has no effect in xform; ignored",
                      UserWarning, stacklevel=2)
        return
    raise AttributeError(f"Unrecognized config option: {name}")
