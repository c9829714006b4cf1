"""A numpy-compatible namespace whose functions work on arrays and inside every transformation.

On plain inputs each function runs numpy directly; on traced values it records primitives.
"""
import sys as _sys

import numpy as _numpy

from xform.numpy import methods as _methods  # noqa: F401  (attaches operators to tracers)
from xform.numpy import linalg  # noqa: F401
from xform.numpy._core import Array, unsupported as _unsupported
from xform.numpy._core import result_dtype as result_type  # noqa: F401  (traced values too)
from xform.numpy.contract import *  # noqa: F401,F403
from xform.numpy.convolution import *  # noqa: F401,F403
from xform.numpy.creation import *  # noqa: F401,F403
from xform.numpy.indexing import IndexUpdateHelper as _IndexUpdateHelper  # noqa: F401
from xform.numpy.reductions import *  # noqa: F401,F403
from xform.numpy.shape import *  # noqa: F401,F403
from xform.numpy.ufuncs import *  # noqa: F401,F403
from xform.numpy.differences import *  # noqa: F401,F403
from xform.numpy.dtypes import *  # noqa: F401,F403
from xform.numpy.index_tricks import *  # noqa: F401,F403
from xform.numpy.nanfunctions import *  # noqa: F401,F403
from xform.numpy.selection import *  # noqa: F401,F403
from xform.numpy.sorting import *  # noqa: F401,F403
from xform.numpy.statistics import *  # noqa: F401,F403

from numpy import (bool_, complex64, complex128, dtype, e, float16, float32, float64,  # noqa
                   inf, int8, int16, int32, int64, nan, newaxis, pi, uint8, uint32, uint64)
from numpy import random  # noqa: F401  (as autograd.numpy.random: test data; xf.random has keys)
from numpy import errstate, geterr, seterr  # noqa: F401  (numpy's floating-point error state)

_sys.modules[__name__ + ".random"] = random  # `import xform.numpy.random as npr` works too

ndarray = Array


def __getattr__(name):
    if hasattr(_numpy, name) and not name.startswith("_"):
        return _unsupported(name)
    raise AttributeError(f"module 'xform.numpy' has no attribute '{name}'")
