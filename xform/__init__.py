"""xform: composable function transformations (grad, vmap, jit) for numpy code on the CPU."""
from xform import lax, numpy, optim, scipy, tree  # noqa: F401
from xform.api import (  # noqa: F401
                       count_flops,
                       grad,
                       hessian,
                       jacfwd,
                       jacobian,
                       jacrev,
                       jit,
                       jvp,
                       linearize,
                       make_ir,
                       stop_gradient,
                       value_and_grad,
                       vjp,
                       vmap,
)
from xform.core import IR  # noqa: F401
from xform.custom import checkpoint, custom_jvp, custom_vjp, remat  # noqa: F401
from xform import config, debug, nn, tree_util  # noqa: F401,E402
from xform import random  # noqa: F401,E402
from xform.custom import checkpoint_policies  # noqa: F401,E402
from xform.devices import (block_until_ready, default_backend, device_count,  # noqa: F401,E402
                           device_get, device_put, devices, local_device_count, local_devices)
from xform.staging import ShapeDtypeStruct, eval_shape, linear_transpose  # noqa: F401,E402
from xform.taylor import (derivatives, hessian_diag, jet, laplacian,  # noqa: F401,E402
                          taylor_coefficients)
from xform.pictures import trace_table  # noqa: F401,E402
from xform.derivative_helpers import (elementwise_grad, hessian_tensor_product,  # noqa: F401,E402
                                      hessian_vector_product, hvp, make_jaxpr)

__version__ = "0.1.0"

# Names whose module imports scipy.sparse (a tenth of a second): imported on first use.
_LAZY = {"sparsity": "xform.sparse", "hessian_sparsity": "xform.sparse"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xform' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
