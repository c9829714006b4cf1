"""xform: composable function transformations (grad, vmap, jit) for numpy code on the CPU."""
from xform import numpy, tree  # noqa: F401
from xform.api import make_ir  # noqa: F401
from xform.core import IR  # noqa: F401

__version__ = "0.1.0"
