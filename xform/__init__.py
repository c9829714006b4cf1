"""xform: composable function transformations (grad, vmap, jit) for numpy code on the CPU."""
from xform import lax, numpy, optim, scipy, tree  # noqa: F401
from xform.api import (  # noqa: F401
                       count_flops,
                       grad,
                       hessian,
                       jacfwd,
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

__version__ = "0.1.0"
