"""Derivative helpers under the names programs written for autograd and JAX use:
`elementwise_grad`, `hessian_vector_product`/`hessian_tensor_product`, `hvp`, and
`make_jaxpr` (xform's `make_ir`)."""
from __future__ import annotations

from collections.abc import Callable

from xform import tree
from xform.api import grad, jvp, make_ir, vjp

__all__ = ["elementwise_grad", "hessian_tensor_product", "hessian_vector_product", "hvp",
           "make_jaxpr"]


def elementwise_grad(fun: Callable, argnum: int = 0) -> Callable:
    """The gradient of the sum of `fun`'s outputs with respect to argument `argnum`: for an
    elementwise function, the derivative of each output element by its own input element.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> xf.elementwise_grad(xnp.sin)(np.zeros(2))
    array([1., 1.])
    """
    def derivative(*args, **kwargs):
        def of_one(x):
            return fun(*args[:argnum], x, *args[argnum + 1:], **kwargs)
        out, pullback = vjp(of_one, args[argnum])
        ones = tree.map(lambda o: o * 0 + 1, out)
        return pullback(ones)[0]
    return derivative


def hessian_tensor_product(fun: Callable, argnum: int = 0) -> Callable:
    """`(*args, v) -> H v`: the Hessian of scalar `fun` in argument `argnum`, contracted with a
    tensor `v` of that argument's shape, by reverse over reverse without forming H.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> hvp = xf.hessian_vector_product(lambda x: xnp.sum(x ** 3))
    >>> hvp(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    def product(*args):
        *primal, v = args

        def directional(*a):
            g = grad(fun, argnum)(*a)
            return (g * v).sum()
        return grad(directional, argnum)(*primal)
    return product


hessian_vector_product = hessian_tensor_product


def hvp(fun: Callable, primals: tuple, tangents: tuple):
    """JAX's recipe `hvp(f, primals, tangents)`: the Hessian-vector product of scalar `fun` at
    `primals` along `tangents`, as forward over reverse.

    >>> import numpy as np, xform as xf, xform.numpy as xnp
    >>> xf.hvp(lambda x: xnp.sum(x ** 3), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    array([6., 0.])
    """
    return jvp(grad(fun), primals, tangents)[1]


def make_jaxpr(fun: Callable, static_argnums=()) -> Callable:
    """JAX's name for `make_ir`: `make_jaxpr(f)(*args)` is the typed IR of `f` at `args`."""
    return make_ir(fun, static_argnums)
