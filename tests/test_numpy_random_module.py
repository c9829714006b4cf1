"""`xform.numpy.random` is importable as a module, as `autograd.numpy.random` is."""
import importlib

import numpy as np


def test_import_xform_numpy_random_is_numpys_random():
    npr = importlib.import_module("xform.numpy.random")
    import xform.numpy as xnp
    assert npr is np.random and xnp.random is np.random
    rs = npr.RandomState(0)
    assert rs.randn(3).shape == (3,)
