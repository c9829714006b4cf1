"""JAX's device and dispatch API for a library with one device, the CPU, and no asynchrony:
`devices`, `device_put`, `device_get` and `block_until_ready` are there so that code written for
JAX runs unchanged."""
from __future__ import annotations

import numpy as np

from xform import tree
from xform.core import Tracer
from xform.numpy._core import wrap

__all__ = ["Device", "block_until_ready", "default_backend", "device_count", "device_get",
           "device_put", "devices", "local_device_count", "local_devices"]


class Device:
    """The CPU, xform's only device."""

    id = 0
    process_index = 0
    platform = "cpu"
    device_kind = "cpu"

    def __repr__(self):
        return "CpuDevice(id=0)"


_CPU = Device()


def _check_backend(backend):
    if backend not in (None, "cpu"):
        raise RuntimeError(f"xform runs on the CPU only; there is no backend {backend!r}")


def devices(backend: str | None = None) -> list[Device]:
    """The list of devices: the one CPU device.

    >>> devices()
    [CpuDevice(id=0)]
    """
    _check_backend(backend)
    return [_CPU]


def local_devices(process_index: int | None = None, backend: str | None = None) -> list[Device]:
    """The devices of this process: the one CPU device."""
    _check_backend(backend)
    return [_CPU]


def device_count(backend: str | None = None) -> int:
    """The number of devices: 1."""
    _check_backend(backend)
    return 1


def local_device_count(backend: str | None = None) -> int:
    """The number of devices of this process: 1."""
    return device_count(backend)


def default_backend() -> str:
    """The platform computations run on: "cpu"."""
    return "cpu"


def _on_cpu(device):
    if device is not None and device is not _CPU and not (
            isinstance(device, (list, tuple)) and all(d is _CPU for d in device)):
        raise ValueError(f"device_put: xform has one device, the CPU ({_CPU}); got {device!r}")


def device_put(x, device=None, *, src=None, donate: bool = False, may_alias=None):
    """`x` (a pytree) with its leaves as xform arrays on the CPU; traced values unchanged.

    >>> device_put([1.0, 2.0])[0].block_until_ready()
    Array(1.)
    """
    _on_cpu(device)
    return tree.map(lambda v: v if isinstance(v, Tracer) else wrap(np.array(v)), x)


def device_get(x):
    """`x` (a pytree) with its array leaves as numpy arrays (a traced value is an error)."""
    return tree.map(lambda v: np.asarray(v) if isinstance(v, (np.ndarray, Tracer)) else v, x)


def block_until_ready(x):
    """`x` itself: xform computes eagerly, so every result is ready when it is returned."""
    return x
