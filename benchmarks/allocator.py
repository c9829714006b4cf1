"""glibc's malloc thresholds, put back where its own adaptation takes them.

glibc serves a large block from the heap once a block of its size has been freed (the mmap
threshold adapts, up to 32 MB, and the trim threshold follows at twice that), so a program
that allocates the same large arrays on every call stops paying page faults after the first.
Setting either threshold explicitly turns that adaptation off, and JAX's CPU runtime does so
when it starts: from then on every array of 128 KB or more in the process is a fresh mapping
whose pages fault on first touch. That took 7 ms per call from xform's MLP training step (and
as much from the hand-written numpy peers), a cost none of them has in a process of its own.
So the suite sets the thresholds to the values glibc's adaptation reaches once a library has
loaded.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def restore() -> bool:
    """Set glibc's mmap and trim thresholds to their adapted values; False where the C
    library is not glibc (nothing is changed)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
