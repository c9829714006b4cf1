"""Matrix products in generated code through the BLAS that numpy itself links.

Numba's `np.dot` goes through scipy's BLAS, whose GEMM ran about 1.3x slower here than
numpy's, and compiles slowly for every layout. numpy's wheels bundle an OpenBLAS with a 64-bit
integer CBLAS interface; when it is found, its `cblas_?gemm` is registered with LLVM under a
fixed name and `gemm` calls it. Otherwise `gemm` falls back to Numba's `np.dot`. `FLAVOUR`
names the choice; generated sources include it, so a cached program never refers to a symbol
that this process did not register.

A product of fewer than `THREADED_WORK` multiply-adds runs on one thread (see `_one_thread`):
OpenBLAS splits every larger-than-tiny product evenly among its threads and waits for the
last, so when another process holds a core each product waits for the scheduler, which made a
VAE training epoch 5x slower than on one thread on a busy 2-core machine. Generated loops run
on one thread too.
"""
import ctypes

import llvmlite.binding
import numba
import numpy as np
from numba import types

from xform.backends import cache_dir

_jit = numba.njit(cache=cache_dir() is not None, error_model="numpy", nogil=True)
# Small helpers of gemm, inlined into it: one function for Numba to compile and link, not three.
_inline = numba.njit(inline="always", error_model="numpy", nogil=True)

# CBLAS enumerations
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_blas():
    """numpy's own module, whose dlsym also searches the BLAS it links (None if unloadable)."""
    try:
        return ctypes.CDLL(np._core._multiarray_umath.__file__)
    except (OSError, AttributeError):
        return None


def _register(lib, names: dict[str, tuple[str, ...]]) -> bool:
    """Register each symbol `names[alias]` (the first of the spellings found) of `lib` with
    LLVM as `alias`; False, registering nothing, unless all are found."""
    found = {}
    for alias, spellings in names.items():
        fn = next((getattr(lib, s) for s in spellings if hasattr(lib, s)), None)
        if fn is None:
            return False
        found[alias] = ctypes.cast(fn, ctypes.c_void_p).value
    for alias, address in found.items():
        llvmlite.binding.add_symbol(alias, address)
    return True


def _register_numpy_gemm(lib) -> bool:
    """Find numpy's 64-bit-integer sgemm and dgemm and register them as xform_cblas_?gemm64."""
    return lib is not None and any(
        _register(lib, {f"xform_cblas_{t}gemm64": (f"{prefix}{t}gemm64_",) for t in "sd"})
        for prefix in ("scipy_cblas_", "cblas_"))


def _register_thread_control(lib) -> bool:
    """Find the OpenBLAS thread-count getter and setter of numpy's BLAS and register them as
    xform_blas_get_threads and xform_blas_set_threads."""
    return lib is not None and _register(lib, {
        f"xform_blas_{op}_threads": tuple(f"{prefix}{op}_num_threads64_"
                                          for prefix in ("scipy_openblas_", "openblas_"))
        for op in ("get", "set")})


_LIB = _numpy_blas()
_NUMPY_GEMM = _register_numpy_gemm(_LIB)
_THREAD_CONTROL = _NUMPY_GEMM and _register_thread_control(_LIB)
FLAVOUR = ("numpy-cblas64" + ("-threads" if _THREAD_CONTROL else "") if _NUMPY_GEMM
           else "numba-dot")
# Multiply-adds from which a product may use BLAS's threads: about 5 ms on one core, long
# enough that a wait for the scheduler costs less than the threads save.
THREADED_WORK = 1 << 28


def _gemm_signature(scalar):
    i32, i64, ptr = types.int32, types.int64, types.voidptr
    return types.void(i32, i32, i32, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr,
                      i64)


_sgemm = types.ExternalFunction("xform_cblas_sgemm64", _gemm_signature(types.float32))
_dgemm = types.ExternalFunction("xform_cblas_dgemm64", _gemm_signature(types.float64))
_get_threads = types.ExternalFunction("xform_blas_get_threads", types.int32())
_set_threads = types.ExternalFunction("xform_blas_set_threads", types.void(types.int32))


@_inline
def _one_thread_control(work):
    """Make BLAS run on one thread if `work` (multiply-adds) is below THREADED_WORK; returns
    the thread count to restore afterwards, or 0 for nothing to restore.

    The count is global to the process: concurrent programs may see one thread for a while
    (their speed, never their results, changes), and whichever restores last restores the
    count it found, which only a setting of 1 seen mid-way leaves alone.
    """
    if work >= THREADED_WORK:
        return 0
    threads = _get_threads()
    if threads <= 1:
        return 0
    _set_threads(1)
    return threads


@_inline
def _restore_threads_control(threads):
    if threads > 0:
        _set_threads(threads)


@_inline
def _one_thread_none(work):
    return 0


@_inline
def _restore_threads_none(threads):
    pass


_one_thread, _restore_threads = ((_one_thread_control, _restore_threads_control)
                                 if _THREAD_CONTROL
                                 else (_one_thread_none, _restore_threads_none))


@_jit
def _operand(x, transpose):
    """x, or a contiguous copy, with the CBLAS transpose flag and leading dimension that make
    it mean x (or x.T, if `transpose`) in a row-major GEMM."""
    rows, cols = x.shape
    s0, s1 = x.strides[0] // x.itemsize, x.strides[1] // x.itemsize
    ld = s0 if rows > 1 else cols
    if (s1 == 1 or cols == 1) and ld >= max(1, cols):  # rows are contiguous
        return x, _TRANS if transpose else _NO_TRANS, ld
    ld = s1 if cols > 1 else rows
    if (s0 == 1 or rows == 1) and ld >= max(1, rows):  # columns are contiguous
        return x, _NO_TRANS if transpose else _TRANS, ld
    copy = np.empty((rows, cols), x.dtype)  # loops: cheaper for Numba to compile than copy()
    for i in range(rows):
        for j in range(cols):
            copy[i, j] = x[i, j]
    return copy, _TRANS if transpose else _NO_TRANS, max(1, cols)


# Transposes are flags rather than `.T` views so that one compiled specialisation (usually of
# C-contiguous arrays) serves every product of a program.
@_jit
def _gemm_numpy(a, b, out, transpose_a, transpose_b):
    """out = op(a) @ op(b), op(x) being x.T where asked, for 2-D float32 or float64 arrays of
    any strides and a C-contiguous `out`; returns out."""
    m, k = (a.shape[1], a.shape[0]) if transpose_a else (a.shape[0], a.shape[1])
    n = b.shape[0] if transpose_b else b.shape[1]
    if m == 0 or n == 0:
        return out
    if out.strides[1] != out.itemsize or out.strides[0] != n * out.itemsize:
        raise ValueError("gemm needs a C-contiguous output array")
    if k == 0:
        for i in range(m):
            for j in range(n):
                out[i, j] = 0
        return out
    a, flag_a, lda = _operand(a, transpose_a)
    b, flag_b, ldb = _operand(b, transpose_b)
    threads = _one_thread(m * n * k)
    if out.itemsize == 4:
        _sgemm(_ROW_MAJOR, flag_a, flag_b, m, n, k, np.float32(1), a.ctypes, lda,
               b.ctypes, ldb, np.float32(0), out.ctypes, n)
    else:
        _dgemm(_ROW_MAJOR, flag_a, flag_b, m, n, k, 1.0, a.ctypes, lda, b.ctypes,
               ldb, 0.0, out.ctypes, n)
    _restore_threads(threads)
    return out


@_jit
def _gemm_numba(a, b, out, transpose_a, transpose_b):
    """As _gemm_numpy, through Numba's np.dot (scipy's BLAS) on contiguous copies."""
    np.dot(np.ascontiguousarray(a.T) if transpose_a else np.ascontiguousarray(a),
           np.ascontiguousarray(b.T) if transpose_b else np.ascontiguousarray(b), out)
    return out


gemm = _gemm_numpy if _NUMPY_GEMM else _gemm_numba
