"""A tour of xform: tracing to an IR, exact derivatives to any order, vmap, jit and minimize."""
import numpy as np

import xform as xf
import xform.numpy as xnp
from xform.transforms.simplify import simplify


def show(title, value):
    print(f"{title:<58} {value}")


print("1. Derivatives are exact. y = cos(x1) + x1*x2 - exp(x2) at (2, 4):")
f = lambda x1, x2: xnp.cos(x1) + x1 * x2 - xnp.exp(x2)  # noqa: E731
y, dy = xf.jvp(f, (2.0, 4.0), (1.0, 0.0))
show("   forward mode: primal y and tangent dy/dx1", (float(y), float(dy)))
show("   reverse mode: grad w.r.t. x1 (= -sin 2 + 4)", float(xf.grad(f)(2.0, 4.0)))

print("2. f = log(x1) + x1*x2 - sin(x2) at (2, 5):")
g = lambda x1, x2: xnp.log(x1) + x1 * x2 - xnp.sin(x2)  # noqa: E731
d1, d2 = xf.grad(g, argnums=(0, 1))(2.0, 5.0)
show("   df/dx1 (= 5.5), df/dx2 (= 2 - cos 5)", (float(d1), float(d2)))
show("   d2f/dx1^2 by grad of grad (= -0.25)", float(xf.grad(xf.grad(g))(2.0, 5.0)))

print("3. Every function is traced into a small typed IR, one equation a line:")
print(xf.make_ir(g)(2.0, 5.0))
print("   ... and its gradient is another IR (here simplified: dead code, common subexpressions")
print("   and multiplications by one removed); the backward part reuses the forward values:")
print(simplify(xf.make_ir(xf.grad(g))(2.0, 5.0)))

print("4. Python control flow on concrete values just works under grad:")


def relu_poly(x):
    return x ** 3 if x > 0 else 0.1 * x


show("   grad(relu_poly) at 2.0 and -2.0", (float(xf.grad(relu_poly)(2.0)),
                                           float(xf.grad(relu_poly)(-2.0))))

print("5. vmap vectorises a per-example function; jacobians are one batched pass:")
x = np.linspace(-1.0, 1.0, 4)
show("   vmap(grad(sin(x) * x)) over 4 points", xf.vmap(xf.grad(lambda t: xnp.sin(t) * t))(x))
show("   hessian of sum(x**3) is diag(6x)", np.diag(xf.hessian(lambda v: xnp.sum(v ** 3))(x)))

print("6. jit compiles a function, or its gradient, to fused native code through Numba:")
fast_grad = xf.jit(xf.grad(lambda v: xnp.sum(xnp.tanh(v) * xnp.sin(v))))
show("   jit(grad(sum(tanh(x) * sin(x)))) at 4 points", fast_grad(x))
show("   ... agrees with the interpreter", bool(np.allclose(
    fast_grad(x), xf.jit(xf.grad(lambda v: xnp.sum(xnp.tanh(v) * xnp.sin(v))),
                         backend="interpreter")(x))))

print("7. xf.optim.minimize: Rosenbrock from (-1.2, 1) by bfgs and newton (minimum at (1, 1)):")


def rosenbrock(v):
    return 100.0 * (v[1] - v[0] ** 2) ** 2 + (1.0 - v[0]) ** 2


for method in ("bfgs", "newton"):
    # The interpreter backend skips Numba's compilation, which would dominate so short a run.
    res = xf.optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method=method, jit="interpreter")
    show(f"   {method}: {res.nit} iterations, success {res.success}, x =", res.x)
