"""A fuzzer of random programs: random xform.numpy programs under random transform stacks.

Each program applies 2-8 operations (from a table of about 40 xform.numpy functions, with
broadcasting operands) to its inputs. It is checked eagerly against its traced IR on the
interpreter, differentiated against central differences (float64), batched against a loop, and
put under a random stack of transformations whose result is compared with an independent way of
computing the same thing (vmap(grad) with a loop of grads, jacrev with jacfwd, hessian with
jacfwd(jacfwd), jit with eager). Programs are then compiled by Numba in bundles (one compile
for many programs) and compared with the interpreter. Inputs are kept in each operation's smooth
domain (log of x**2 + 0.5, division by y**2 + 0.5, ...), so differences are exact to rounding.

The default suite runs a fixed-seed slice (300 programs, 24 of them compiled); `-m slow` runs a
long one.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
import xform.scipy.special as xsp
from xform.backends import numba as numba_backend
from xform.core import eval_ir
from xform.test_util import check_grads

# ----------------------------------------------------------------------------- operations


class Op(NamedTuple):
    name: str
    arity: int
    fn: Callable


def _pos(x):
    return x * x + 0.5


UNARY = [
    Op("sin", 1, xnp.sin), Op("cos", 1, xnp.cos), Op("tanh", 1, xnp.tanh),
    Op("exp", 1, lambda x: xnp.exp(xnp.tanh(x))), Op("log", 1, lambda x: xnp.log(_pos(x))),
    Op("sqrt", 1, lambda x: xnp.sqrt(_pos(x))), Op("square", 1, xnp.square),
    Op("negative", 1, xnp.negative), Op("expit", 1, xsp.expit),
    Op("log1p", 1, lambda x: xnp.log1p(x * x)), Op("arctan", 1, xnp.arctan),
    Op("sinh", 1, lambda x: xnp.sinh(xnp.tanh(x))),
    Op("cosh", 1, lambda x: xnp.cosh(xnp.tanh(x))),
    Op("reciprocal", 1, lambda x: xnp.reciprocal(_pos(x))),
    Op("cbrt", 1, lambda x: xnp.cbrt(_pos(x))),
    Op("cumsum", 1, lambda x: xnp.cumsum(x, axis=-1) if xnp.ndim(x) else x),
    Op("flip", 1, lambda x: xnp.flip(x, -1) if xnp.ndim(x) else x),
    Op("transpose", 1, lambda x: x.T),
    Op("mean-keep", 1, lambda x: x - xnp.mean(x, axis=-1, keepdims=True) if xnp.ndim(x) else x),
    Op("softmax", 1, lambda x: xsp.softmax(x, axis=-1) if xnp.ndim(x) else x),
    Op("logsumexp", 1, lambda x: xsp.logsumexp(x, axis=-1) if xnp.ndim(x) else x),
    Op("sum0", 1, lambda x: xnp.sum(x, axis=0) if xnp.ndim(x) else x),
    Op("max", 1, lambda x: xnp.max(x, axis=-1) if xnp.ndim(x) else x),
    Op("prod", 1, lambda x: xnp.prod(xnp.tanh(x) + 1.5, axis=-1) if xnp.ndim(x) else x),
    Op("std", 1, lambda x: xnp.std(x, axis=-1) if xnp.ndim(x) and x.shape[-1] > 1 else x),
    Op("slice", 1, lambda x: x[..., ::2] if xnp.ndim(x) else x),
    Op("concat", 1, lambda x: xnp.concatenate([x, 2.0 * x], axis=-1) if xnp.ndim(x) else x),
    Op("stack-list", 1, lambda x: xnp.stack([x, xnp.sin(x)]).sum(0)),
    Op("pow-int", 1, lambda x: xnp.tanh(x) ** 3), Op("pow-float", 1, lambda x: _pos(x) ** 1.5),
]
BINARY = [
    Op("add", 2, xnp.add), Op("subtract", 2, xnp.subtract), Op("multiply", 2, xnp.multiply),
    Op("divide", 2, lambda x, y: x / _pos(y)), Op("maximum", 2, xnp.maximum),
    Op("minimum", 2, xnp.minimum), Op("power", 2, lambda x, y: _pos(x) ** xnp.tanh(y)),
    Op("arctan2", 2, lambda x, y: xnp.arctan2(x, _pos(y))), Op("hypot", 2, xnp.hypot),
    Op("logaddexp", 2, xnp.logaddexp),
    Op("where", 2, lambda x, y: xnp.where(x > y, x * y, x - y)),
    Op("scalar-mix", 2, lambda x, y: 2.5 * x - y / 3.0 + 1.0),
    Op("matmul", 2, lambda x, y: _matmul(x, y)),
]


def _matmul(x, y):
    """x @ yᵀ where the trailing dimensions agree (the product of the contracted rows)."""
    if not (xnp.ndim(x) and xnp.ndim(y)) or x.shape[-1] != y.shape[-1]:
        return x * y
    return xnp.matmul(x, xnp.swapaxes(y, -1, -2) if xnp.ndim(y) > 1 else y)
OPS = UNARY + BINARY


class Program(NamedTuple):
    """A random program: its operations, as (op index, operand indices into the value pool),
    and the shapes of its inputs."""
    steps: tuple
    shapes: tuple

    def __call__(self, *xs):
        pool = list(xs)
        for k, operands in self.steps:
            out = OPS[k].fn(*(pool[i] for i in operands))
            pool.append(out)
        return pool[-1]

    def describe(self) -> str:
        lines = [f"inputs {self.shapes}"]
        for j, (k, operands) in enumerate(self.steps):
            args = ", ".join(f"v{i}" for i in operands)
            lines.append(f"v{len(self.shapes) + j} = {OPS[k].name}({args})")
        return "\n".join(lines)


SHAPES = [(), (3,), (2, 3), (4,), (2, 4)]


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def random_program(rng: np.random.Generator) -> Program:
    """Inputs of broadcast-compatible shapes (a trailing shape, some with leading axes); each
    step reads recent values, a binary one a partner whose shape broadcasts with the first."""
    base = SHAPES[rng.integers(len(SHAPES))]
    n_in = int(rng.integers(1, 4))
    shapes = tuple(base[int(rng.integers(0, len(base) + 1)):] if rng.random() < 0.4 else base
                   for _ in range(n_in))
    pool = [np.zeros(s) + 0.5 for s in shapes]  # evaluated as we go, for the shapes
    steps = []
    for _ in range(int(rng.integers(2, 9))):
        k = int(rng.integers(len(OPS)))
        first = max(0, len(pool) - int(rng.geometric(0.5)))
        operands = [first]
        if OPS[k].arity == 2:
            fits = [i for i, v in enumerate(pool) if _broadcasts(v.shape, pool[first].shape)]
            operands.append(fits[int(rng.integers(len(fits)))])
        pool.append(np.asarray(OPS[k].fn(*(pool[i] for i in operands))))
        steps.append((k, tuple(operands)))
    return Program(tuple(steps), shapes)


def inputs(program: Program, rng: np.random.Generator, dtype=np.float64):
    return [rng.uniform(-1.5, 1.5, s).astype(dtype) for s in program.shapes]


# ----------------------------------------------------------------------------- checks

def loss(program):
    # tanh keeps the loss smooth and slowly varying however large the values grow, so that
    # central differences stay accurate.
    return lambda *xs: xnp.sum(xnp.tanh(program(*xs)))


def check_program(program: Program, seed: int):
    """Every check of one program; raises AssertionError describing the program on failure."""
    rng = np.random.default_rng(seed)
    xs = inputs(program, rng)
    try:
        with np.errstate(all="raise"):
            want = np.asarray(program(*xs))
        assert np.all(np.isfinite(want)), "the program's values are not finite"
        ir = xf.make_ir(program)(*xs)
        (got,) = eval_ir(ir, xs)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(xf.jit(program, backend="interpreter")(*xs), want,
                                   rtol=1e-12, atol=1e-12)
        _check_derivatives(program, xs, order=2 if rng.random() < 0.3 else 1, rng=rng)
        _check_stack(program, xs, rng)
    except AssertionError as e:
        raise AssertionError(f"seed {seed}:\n{program.describe()}\n{e}") from None


NONSMOOTH = {"maximum", "minimum", "where", "max"}  # kinks where finite differences fail


def _check_derivatives(program, xs, order, rng):
    """check_grads of the program's loss; a program with kinks is retried at two nearby
    points, since a random point may lie within the step of a kink."""
    kinked = any(OPS[k].name in NONSMOOTH for k, _ in program.steps)
    for attempt in range(3 if kinked else 1):
        try:
            return check_grads(loss(program), xs, order=order)
        except AssertionError:
            if attempt == (2 if kinked else 0):
                raise
            xs = [x + rng.uniform(-1e-2, 1e-2, np.shape(x)) for x in xs]


def _check_stack(program, xs, rng):
    """One random transformation stack, against an independent computation of the same."""
    f = loss(program)
    choice = int(rng.integers(5))
    if choice == 0:  # vmap(grad) against a loop of grads, batching the first input
        batch = np.stack([xs[0], xs[0] * 0.5 + 0.25, -xs[0]])
        got = xf.vmap(xf.grad(f), in_axes=(0, *[None] * (len(xs) - 1)))(batch, *xs[1:])
        want = np.stack([xf.grad(f)(b, *xs[1:]) for b in batch])
    elif choice == 1:  # jacrev against jacfwd
        got = xf.jacrev(program)(*xs)
        want = xf.jacfwd(program)(*xs)
    elif choice == 2:  # hessian against jacfwd(jacfwd)
        got = xf.hessian(f)(*xs)
        want = xf.jacfwd(xf.jacfwd(f))(*xs)
    elif choice == 3:  # jit(grad) on the interpreter against eager grad
        got = xf.jit(xf.grad(f), backend="interpreter")(*xs)
        want = xf.grad(f)(*xs)
    else:  # vmap of the program against a loop, all inputs batched
        batch = [np.stack([x, x * 0.5 + 0.25]) for x in xs]
        got = xf.vmap(program)(*batch)
        want = np.stack([program(*[b[k] for b in batch]) for k in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def check_compiled(programs: list[Program], seed: int, dtype=np.float64):
    """The programs and their gradients in one Numba-compiled function, against the
    interpreter (in `dtype`, which the results keep)."""
    rng = np.random.default_rng(seed)
    args = [inputs(p, rng, dtype) for p in programs]
    tol = 1e-10 if dtype == np.float64 else 2e-4

    def bundle(args):
        return [(p(*a), xf.grad(loss(p))(*a)) for p, a in zip(programs, args)]
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to the interpreter fails
        got = xf.jit(bundle)(args)
    want = xf.jit(bundle, backend="interpreter")(args)
    for p, g, w in zip(programs, got, want):
        for a, b in zip(xf.tree.leaves(g), xf.tree.leaves(w)):
            assert np.asarray(a).dtype == np.asarray(b).dtype == dtype, p.describe()
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=p.describe())


# ----------------------------------------------------------------------------- the slices

def programs(seed: int, n: int) -> list[Program]:
    rng = np.random.default_rng(seed)
    return [random_program(rng) for _ in range(n)]


DEFAULT = programs(0, 300)


@pytest.mark.parametrize("chunk", range(6))
def test_random_programs(chunk):
    for k, program in enumerate(DEFAULT[chunk::6]):
        check_program(program, seed=chunk * 1000 + k)


# Each bundle is one generated function, whose Numba compile grows faster than its size: the
# default slice compiles a sample in small bundles, `-m slow` all of it.
@pytest.mark.parametrize("chunk", [pytest.param(k, marks=[pytest.mark.slow] if k >= 2 else [])
                                   for k in range(25)])
def test_random_programs_compiled(chunk):
    check_compiled(DEFAULT[chunk * 12:(chunk + 1) * 12], seed=chunk,
                   dtype=np.float32 if chunk % 2 else np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(20))
def test_random_programs_long(chunk):
    for k, program in enumerate(programs(1000 + chunk, 500)):
        check_program(program, seed=k)
    check_compiled(programs(1000 + chunk, 500)[:12], seed=chunk)
