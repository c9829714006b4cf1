"""Neural-network functions with JAX's `jax.nn` names: activations, softmax, one_hot, ..."""
from xform.nn.functions import *  # noqa: F401,F403
from xform.nn.functions import __all__  # noqa: F401
from xform.nn import initializers  # noqa: F401,E402
