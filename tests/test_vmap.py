"""vmap against a Python loop: every registered primitive, random batch axes, nesting, errors.

The table `VMAP_TABLE` has one row per primitive in `xform.core.registry`: a generator of valid
operands and static params. Each primitive is run under `xf.vmap` with random `in_axes`
(negative ones and unbatched `None` arguments included) and random `out_axes`, and compared with
a loop over the batch members followed by `np.stack`, for float32 and float64 (and the integer
and boolean dtypes the primitive accepts); the dtype must come out unchanged. A test fails when
a primitive has no row, so adding a primitive forces adding a row.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import conv_example, selection_example, window_example
from test_linalg import spd, well_conditioned
from test_numpy import rand

import xform as xf
import xform.numpy as xnp
from xform import tree
from xform.core import Primitive, get_aval, registry
from xform.primitives.debug import Callback

FLOATS = (np.float32, np.float64)
WITH_INT = FLOATS + (np.int32,)
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-11}


# ----------------------------------------------------------------------------- which primitives

def _primitives_of(module_name: str) -> set[str]:
    """Names of the primitives a module defines (empty while the module does not exist yet)."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        return set()
    return {p.name for p in vars(module).values() if isinstance(p, Primitive)}


# Higher-order primitives (their params hold IRs) are tested through the transforms that
# create them; those of control.py and custom.py belong to modules written by others.
HIGHER_ORDER = ({"call"} | _primitives_of("xform.higher_order.control")
                | _primitives_of("xform.higher_order.custom") | _primitives_of("xform.custom"))


# ----------------------------------------------------------------------------- the table

@dataclasses.dataclass(frozen=True)
class Row:
    """How to build one valid example of a primitive: `make(s, v, dtype) -> (args, params)`.

    Shapes and static params are drawn from the generator `s` only and values from `v`, so the
    same `s` state with another `v` gives another batch member with the same shapes."""
    make: Callable
    dtypes: tuple = FLOATS


def shape_of(s, min_dims=0, max_dims=3, min_side=1, max_side=3) -> tuple[int, ...]:
    nd = int(s.integers(min_dims, max_dims + 1))
    return tuple(int(n) for n in s.integers(min_side, max_side + 1, nd))


def elementwise(*domains, dtypes=FLOATS, params=lambda s: {}) -> Row:
    """Operands of one random shape, one per domain (see test_numpy.DOMAINS)."""
    def make(s, v, dt):
        shape = shape_of(s)
        return [rand(v, shape, dt, d) for d in domains], params(s)
    return Row(make, dtypes)


def _nonfinite(s, v, dt):
    shape = shape_of(s)
    x = rand(v, shape, dt)
    u = v.random(shape)
    return [np.where(u < 0.2, np.nan, np.where(u > 0.8, -np.inf, x)).astype(dt)], {}


def _select(s, v, dt):
    shape = shape_of(s)
    return [rand(v, shape, np.bool_), rand(v, shape, dt), rand(v, shape, dt)], {}


def _convert(s, v, dt):
    targets = (np.float32, np.float64, np.int32, np.bool_)
    return [rand(v, shape_of(s), dt)], {"new_dtype": np.dtype(targets[s.integers(4)])}


def _broadcast_in_dim(s, v, dt):
    shape = shape_of(s)
    dims = tuple(int(d) for d in np.flatnonzero(s.random(len(shape)) < 0.6))
    operand = tuple(shape[d] if s.random() < 0.7 else 1 for d in dims)
    return [rand(v, operand, dt)], {"shape": shape, "broadcast_dimensions": dims}


def _reshape(s, v, dt):
    shape = shape_of(s)
    size = int(np.prod(shape, dtype=np.int64))
    options = [(size,), shape[::-1], (1, *shape), (*shape, 1), ()]
    new_shape = options[s.integers(len(options) - (size != 1))]
    return [rand(v, shape, dt)], {"new_shape": tuple(new_shape)}


def _transpose(s, v, dt):
    shape = shape_of(s, min_dims=2, max_dims=4)  # ranks with permutations that are not involutions
    return [rand(v, shape, dt)], {"permutation": tuple(int(p) for p in
                                                       s.permutation(len(shape)))}


def _rev(s, v, dt):
    shape = shape_of(s)
    dims = tuple(int(d) for d in np.flatnonzero(s.random(len(shape)) < 0.5))
    return [rand(v, shape, dt)], {"dimensions": dims}


def _slice(s, v, dt):
    shape = shape_of(s, max_side=4)
    start = [int(s.integers(0, n + 1)) for n in shape]
    limit = [int(s.integers(a, n + 1)) for a, n in zip(start, shape)]
    strides = [int(s.integers(1, 3)) for _ in shape]
    return [rand(v, shape, dt)], {"start": tuple(start), "limit": tuple(limit),
                                  "strides": tuple(strides)}


def _pad(s, v, dt):
    shape = shape_of(s)
    interior = tuple(int(s.integers(0, 2)) for _ in shape)
    # Negative padding crops, but never below an empty side.
    lo = tuple(int(s.integers(-(n // 2), 3)) for n in shape)
    hi = tuple(int(s.integers(-(n // 2), 3)) for n in shape)
    return ([rand(v, shape, dt), rand(v, (), dt)],
            {"lo": lo, "hi": hi, "interior": interior})


def _concatenate(s, v, dt):
    shape = shape_of(s, min_dims=1)
    dim = int(s.integers(len(shape)))
    xs = []
    for _ in range(int(s.integers(1, 4))):
        piece = list(shape)
        piece[dim] = int(s.integers(1, 4))
        xs.append(rand(v, tuple(piece), dt))
    return xs, {"dimension": dim}


def reduction(domain="real", min_dims=0, dtypes=FLOATS) -> Row:
    def make(s, v, dt):
        shape = shape_of(s, min_dims=min_dims)
        axes = tuple(int(d) for d in np.flatnonzero(s.random(len(shape)) < 0.5))
        return [rand(v, shape, dt, domain)], {"axes": axes}
    return Row(make, dtypes)


def _arg_reduction(s, v, dt):
    shape = shape_of(s, min_dims=1)
    index_dtype = np.dtype((np.int32, np.int64)[s.integers(2)])
    return [rand(v, shape, dt)], {"axis": int(s.integers(len(shape))),
                                  "index_dtype": index_dtype}


def cumulative(domain="real") -> Row:
    def make(s, v, dt):
        shape = shape_of(s, min_dims=1)
        return [rand(v, shape, dt, domain)], {"axis": int(s.integers(len(shape))),
                                              "reverse": bool(s.integers(2))}
    return Row(make, WITH_INT)


def index_operands(s, v, dt, updates: bool, unique: bool = False):
    """(x, idx) or (x, idx, updates): idx of shape (*b, k) indexes x's first k dimensions."""
    xshape = shape_of(s, min_dims=1)
    k = int(s.integers(1, len(xshape) + 1))
    idx_dtype = (np.int32, np.int64)[s.integers(2)]
    if unique:
        # One update per position, so that the order of writes does not matter.
        positions = int(np.prod(xshape[:k]))
        count = int(s.integers(1, positions + 1))
        bshape = (count,) if s.integers(2) else (1, count)
        flat = v.permutation(positions)[:count]
        idx = np.stack(np.unravel_index(flat, xshape[:k]), -1).reshape(*bshape, k)
    else:
        bshape = shape_of(s, max_dims=2)
        idx = np.stack([v.integers(0, xshape[j], bshape) for j in range(k)], -1)
    args = [rand(v, xshape, dt), idx.astype(idx_dtype)]
    if updates:
        args.append(rand(v, (*bshape, *xshape[k:]), dt))
    return args, {}


def _dot_general(s, v, dt):
    # Batch, contracting and free dimensions of each operand, in a random order.
    counts = {"b": int(s.integers(0, 3)), "c": int(s.integers(0, 3)),
              "l": int(s.integers(0, 3)), "r": int(s.integers(0, 2))}
    size = {(kind, i): int(s.integers(1, 4)) for kind, n in counts.items() for i in range(n)}
    batch = [("b", i) for i in range(counts["b"])]
    contract = [("c", i) for i in range(counts["c"])]
    lhs = batch + contract + [("l", i) for i in range(counts["l"])]
    rhs = batch + contract + [("r", i) for i in range(counts["r"])]
    lhs = [lhs[p] for p in s.permutation(len(lhs))]
    rhs = [rhs[p] for p in s.permutation(len(rhs))]
    dims = ((tuple(lhs.index(d) for d in contract), tuple(rhs.index(d) for d in contract)),
            (tuple(lhs.index(d) for d in batch), tuple(rhs.index(d) for d in batch)))
    return ([rand(v, tuple(size[d] for d in lhs), dt), rand(v, tuple(size[d] for d in rhs), dt)],
            {"dimension_numbers": dims})


def _square_stack(s):
    return shape_of(s, max_dims=1, max_side=2), int(s.integers(1, 4))


def _triangular_solve(s, v, dt):
    batch, n = _square_stack(s)
    k = int(s.integers(1, 4))
    params = {name: bool(s.integers(2)) for name in
              ("left_side", "lower", "transpose_a", "unit_diagonal")}
    b_shape = (*batch, n, k) if params["left_side"] else (*batch, k, n)
    return [well_conditioned(v, *batch, n, n, dtype=dt),
            v.standard_normal(b_shape).astype(dt)], params


def _solve(s, v, dt):
    batch, n = _square_stack(s)
    k = int(s.integers(1, 3))
    return [well_conditioned(v, *batch, n, n, dtype=dt),
            v.standard_normal((*batch, n, k)).astype(dt)], {}


def _orthogonal(v, batch, n):
    return np.linalg.qr(v.standard_normal((*batch, n, n)))[0]


def separated(v, batch, m, n, dt):
    """A stack of (m, n) matrices with well-separated singular values 1, 1.5, 2, ...
    (decompositions stay well conditioned, so their derivatives too)."""
    k = min(m, n)
    sv = 1.0 + 0.5 * v.permutation(k)
    u, w = _orthogonal(v, batch, m)[..., :k], _orthogonal(v, batch, n)[..., :k]
    return ((u * sv[..., None, :]) @ np.swapaxes(w, -1, -2)).astype(dt)


def symmetric(v, batch, n, dt):
    """A symmetric stack with eigenvalues spaced 0.5 apart, of both signs."""
    q = _orthogonal(v, batch, n)
    w = 0.5 * (v.permutation(n) - (n - 1) / 2) + 0.1
    return ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2)).astype(dt)


def _cholesky(s, v, dt):
    batch, n = _square_stack(s)
    return [spd(v, *batch, n, n, dtype=dt)], {}


def _det(s, v, dt):
    batch, n = _square_stack(s)
    a = well_conditioned(v, *batch, n, n, dtype=dt)
    a[..., 0, :] *= v.choice([-1, 1], (*batch, 1)).astype(dt)  # either sign of det
    return [a], {}


def _eigh(s, v, dt):
    batch, n = _square_stack(s)
    return [symmetric(v, batch, n, dt)], {"lower": bool(s.integers(2))}


def _rectangular(s):
    return shape_of(s, max_dims=1, max_side=2), int(s.integers(1, 5)), int(s.integers(1, 5))


def _qr(s, v, dt):
    batch, m, n = _rectangular(s)
    return [separated(v, batch, m, n, dt)], {}


def _svd(s, v, dt):
    batch, m, n = _rectangular(s)
    return [separated(v, batch, m, n, dt)], {"compute_uv": bool(s.integers(2))}


def _lu(s, v, dt):
    batch, n = _square_stack(s)
    return [well_conditioned(v, *batch, n, n, dtype=dt)], {}


def _in_unit_interval(*domains):
    """Operands of one shape, one per domain, then one in (0.05, 0.95) (a probability)."""
    def make(s, v, dt):
        shape = shape_of(s)
        return ([rand(v, shape, dt, d) for d in domains]
                + [v.uniform(0.05, 0.95, shape).astype(dt)]), {}
    return Row(make)


def _sort(s, v, dt):
    """One to three operands of one shape; the first num_keys sort them (integer keys tie)."""
    shape = shape_of(s, min_dims=1, max_side=4)
    count = int(s.integers(1, 4))
    return ([rand(v, shape, dt) for _ in range(count)],
            {"dimension": int(s.integers(len(shape))), "num_keys": int(s.integers(1, count + 1))})


UNARY_DOMAINS = {
    "sin": "real", "cos": "real", "tan": "unit", "asin": "unit", "acos": "unit",
    "atan": "real", "sinh": "real", "cosh": "real", "tanh": "real", "asinh": "real",
    "acosh": "ge1", "atanh": "unit", "exp": "real", "exp2": "real", "expm1": "real",
    "log": "pos", "log1p": "pos", "sqrt": "pos", "rsqrt": "pos", "cbrt": "real",
    "logistic": "real", "erf": "real", "lgamma": "pos", "digamma": "pos", "floor": "real",
    "ceil": "real", "round": "real",
}
BINARY_DOMAINS = {
    "add": ("real", "real"), "sub": ("real", "real"), "mul": ("real", "real"),
    "div": ("real", "pos"), "pow": ("pos", "real"), "max": ("real", "real"),
    "min": ("real", "real"), "atan2": ("real", "real"), "rem": ("real", "pos"),
    "floordiv": ("real", "pos"), "eq": ("real", "real"), "ne": ("real", "real"),
    "lt": ("real", "real"), "le": ("real", "real"), "gt": ("real", "real"),
    "ge": ("real", "real"),
}
INTEGER_OK = {"neg", "abs", "sign", "stop_gradient", "add", "sub", "mul", "max", "min", "eq",
              "ne", "lt", "le", "gt", "ge"}

# debug_callback's row: the effect itself is checked in tests/test_conveniences.py.
NO_OP = Callback(lambda *args: None, "no-op")

def _words(n: int) -> Row:
    """Random uint32 operands of the bit primitives; threefry2x32's keys (the first two) are
    0-d half of the time, as when one key hashes many counters."""
    def make(s, v, dt):
        shape = shape_of(s)
        scalar_keys = n == 4 and bool(s.integers(2))
        return [v.integers(0, 2 ** 32, () if scalar_keys and k < 2 else shape, dtype=np.uint32)
                for k in range(n)], {}
    return Row(make, (np.uint32,))


VMAP_TABLE: dict[str, Row] = {
    **{name: elementwise(d) for name, d in UNARY_DOMAINS.items()},
    **{name: elementwise("real", dtypes=WITH_INT) for name in
       ("neg", "abs", "sign", "stop_gradient")},
    **{name: elementwise(*d, dtypes=WITH_INT if name in INTEGER_OK else FLOATS)
       for name, d in BINARY_DOMAINS.items()},
    **{name: elementwise("real", "real", dtypes=(np.bool_,)) for name in ("and", "or", "xor")},
    "not": elementwise("real", dtypes=(np.bool_,)),
    "is_finite": Row(_nonfinite),
    "is_nan": Row(_nonfinite),
    "polygamma": elementwise("pos", params=lambda s: {"n": int(s.integers(0, 3))}),
    "integer_pow": elementwise("pos", params=lambda s: {"y": int(s.integers(-2, 4))}),
    "select": Row(_select, WITH_INT),
    "convert_element_type": Row(_convert, WITH_INT + (np.bool_,)),
    "broadcast_in_dim": Row(_broadcast_in_dim, WITH_INT),
    "reshape": Row(_reshape, WITH_INT),
    "transpose": Row(_transpose, WITH_INT),
    "rev": Row(_rev, WITH_INT),
    "slice": Row(_slice, WITH_INT),
    "pad": Row(_pad, WITH_INT),
    "concatenate": Row(_concatenate, WITH_INT),
    "reduce_sum": reduction(dtypes=WITH_INT),
    "reduce_max": reduction(dtypes=WITH_INT),
    "reduce_min": reduction(dtypes=WITH_INT),
    "reduce_prod": reduction("near1"),
    "argmax": Row(_arg_reduction, WITH_INT),
    "argmin": Row(_arg_reduction, WITH_INT),
    "cumsum": cumulative(),
    "cumprod": cumulative("near1"),
    "gather": Row(lambda s, v, dt: index_operands(s, v, dt, updates=False), WITH_INT),
    "scatter_add": Row(lambda s, v, dt: index_operands(s, v, dt, updates=True), WITH_INT),
    "scatter": Row(lambda s, v, dt: index_operands(s, v, dt, updates=True, unique=True),
                   WITH_INT),
    "dot_general": Row(_dot_general, WITH_INT),
    "triangular_solve": Row(_triangular_solve),
    "cholesky": Row(_cholesky),
    "solve": Row(_solve),
    "det": Row(_det),
    "slogdet": Row(_det),
    "eigh": Row(_eigh),
    "qr": Row(_qr),
    "svd": Row(_svd),
    "lu": Row(_lu),
    # special functions (xform/primitives/special.py)
    **{name: elementwise(d) for name, d in [
        ("gamma", "pos"), ("erfc", "real"), ("erfcx", "real"), ("erf_inv", "unit"),
        ("bessel_i0e", "real"), ("bessel_i1e", "real")]},
    "ndtri": _in_unit_interval(),
    **{name: elementwise("pos", "pos") for name in ("igamma", "igammac", "igamma_grad_a")},
    "betainc": _in_unit_interval("pos", "pos"),
    "sort": Row(_sort, WITH_INT),
    "bitwise_xor": _words(2),
    "threefry2x32": _words(4),
    "debug_callback": Row(lambda s, v, dt: ([rand(v, shape_of(s), dt), rand(v, (), dt)],
                                            {"callback": NO_OP, "batch_ndim": 0}), WITH_INT),
    # convolutions and windowed reductions (rows drawn in tests/test_conv.py)
    "conv_general_dilated": Row(conv_example, WITH_INT),
    **{f"reduce_window_{kind}": Row(window_example(kind), WITH_INT)
       for kind in ("sum", "max", "min")},
    **{name: Row(selection_example(name), WITH_INT)
       for name in ("window_select_gather", "window_select_scatter")},
}

VMAPPED = sorted(set(registry) - HIGHER_ORDER)


def test_every_primitive_has_a_row():
    missing = sorted(set(VMAPPED) - set(VMAP_TABLE))
    assert not missing, f"add a row to VMAP_TABLE for the primitives {missing}"
    stale = sorted(set(VMAP_TABLE) - set(registry))
    assert not stale, f"VMAP_TABLE has rows for unknown primitives {stale}"


# ----------------------------------------------------------------------------- helpers

def example(row: Row, seed: int, member, dtype):
    """Batch member `member` (any seed-like key) of the row's example family `seed`."""
    return row.make(np.random.default_rng(seed), np.random.default_rng([seed, *member]), dtype)


def assert_same(out, expected):
    out, expected = np.asarray(out), np.asarray(expected)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    assert out.dtype == expected.dtype, (out.dtype, expected.dtype)
    if expected.dtype.kind == "f":
        tol = TOL[expected.dtype]
        scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0)))
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * scale, equal_nan=True)
    else:
        np.testing.assert_array_equal(out, expected)


def draw_axis(data, ndim: int, label: str):
    """A batch axis for a value of rank `ndim` once batched, negative ones included."""
    return data.draw(st.integers(-ndim, ndim - 1), label)


def draw_in_axes(data, args, label="in_axes"):
    """One axis or None per argument, at least one of them an axis."""
    axes = [data.draw(st.one_of(st.none(), st.integers(-np.ndim(a) - 1, np.ndim(a))),
                      f"{label}[{k}]") for k, a in enumerate(args)]
    if all(ax is None for ax in axes):
        k = data.draw(st.integers(0, len(args) - 1), f"{label} forced")
        axes[k] = draw_axis(data, np.ndim(args[k]) + 1, f"{label}[{k}]")
    return axes


def stack_members(members, axes):
    """Batched arguments from per-member argument lists; unbatched ones come from member 0."""
    return [members[0][k] if ax is None else np.stack([m[k] for m in members], axis=ax)
            for k, ax in enumerate(axes)]


def bound(prim, params):
    return lambda *args: prim.bind(*args, **params)


# ----------------------------------------------------------------------------- every primitive

@pytest.mark.parametrize("name", VMAPPED)
@settings(max_examples=10)
@given(data=st.data())
def test_vmap_matches_loop(name, data):
    check_vmap_against_loop(name, data)


def check_vmap_against_loop(name, data, wrap=lambda f: f):
    """vmap of the primitive (through `wrap`, e.g. jit) against a loop over the batch."""
    prim, row = registry[name], VMAP_TABLE[name]
    dtype = data.draw(st.sampled_from(row.dtypes), "dtype")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), "seed")
    size = data.draw(st.integers(1, 3), "batch size")
    examples = [example(row, seed, (i,), dtype) for i in range(size)]
    args, params = examples[0]
    in_axes = draw_in_axes(data, args)
    members = [[args[k] if ax is None else ex[k] for k, ax in enumerate(in_axes)]
               for ex, _ in examples]
    refs = [prim.impl(*m, **params) for m in members]
    out_axes = [draw_axis(data, np.ndim(r) + 1, f"out_axes[{j}]") for j, r in enumerate(refs[0])]
    outs = wrap(xf.vmap(bound(prim, params), in_axes=tuple(in_axes), out_axes=out_axes))(
        *stack_members(members, in_axes))
    avals = prim.abstract_eval(*[get_aval(a) for a in args], **params)
    assert len(outs) == len(refs[0]) == len(avals)
    for j, (out, ax) in enumerate(zip(outs, out_axes)):
        assert np.asarray(out).dtype == avals[j].dtype
        assert_same(out, np.stack([np.asarray(r[j]) for r in refs], axis=ax))


NESTED = ["sin", "add", "pow", "lt", "select", "convert_element_type", "integer_pow",
          "broadcast_in_dim", "reshape", "transpose", "slice", "pad", "concatenate",
          "reduce_sum", "reduce_max", "argmax", "cumsum", "gather", "scatter_add", "scatter",
          "dot_general", "triangular_solve", "solve", "slogdet", "eigh", "svd",
          "conv_general_dilated", "reduce_window_max"]


def _draw_levels(data, args):
    """(outer, inner) batch axes per argument, each level batching at least one argument.
    Inner axes index the argument with only the inner batch axis added."""
    inner = [data.draw(st.one_of(st.none(), st.integers(-np.ndim(a) - 1, np.ndim(a))),
                       f"inner[{k}]") for k, a in enumerate(args)]
    if all(ax is None for ax in inner):
        inner[0] = 0
    ranks = [np.ndim(a) + (ax is not None) for a, ax in zip(args, inner)]
    outer = draw_in_axes(data, [np.empty((1,) * r) for r in ranks], "outer")
    return outer, inner


@pytest.mark.parametrize("name", NESTED)
@settings(max_examples=5)
@given(data=st.data())
def test_nested_vmap_over_two_axes_matches_double_loop(name, data):
    prim, row = registry[name], VMAP_TABLE[name]
    dtype = data.draw(st.sampled_from(row.dtypes), "dtype")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), "seed")
    n_outer, n_inner = data.draw(st.integers(1, 3), "outer size"), data.draw(
        st.integers(1, 3), "inner size")
    args, params = example(row, seed, (0, 0), dtype)
    outer, inner = _draw_levels(data, args)

    grid = [[example(row, seed, (i, j), dtype)[0] for j in range(n_inner)]
            for i in range(n_outer)]
    # Argument k of member (i, j) is example k of member (i or 0, j or 0), per batched level.
    members = [[[grid[i if outer[k] is not None else 0][j if inner[k] is not None else 0][k]
                 for k in range(len(args))] for j in range(n_inner)] for i in range(n_outer)]
    batched = stack_members([stack_members(row_i, inner) for row_i in members], outer)
    refs = [[prim.impl(*m, **params) for m in row_i] for row_i in members]
    ranks = [np.ndim(r) for r in refs[0][0]]
    out_inner = [draw_axis(data, r + 1, f"out inner[{j}]") for j, r in enumerate(ranks)]
    out_outer = [draw_axis(data, r + 2, f"out outer[{j}]") for j, r in enumerate(ranks)]
    f = xf.vmap(xf.vmap(bound(prim, params), in_axes=tuple(inner), out_axes=out_inner),
                in_axes=tuple(outer), out_axes=out_outer)
    outs = f(*batched)
    for j, out in enumerate(outs):
        expected = np.stack([np.stack([np.asarray(r[j]) for r in row_i], axis=out_inner[j])
                             for row_i in refs], axis=out_outer[j])
        assert_same(out, expected)


# ----------------------------------------------------------------------------- composites

def mlp_loss(params, x, y):
    h = xnp.tanh(x @ params["w1"] + params["b1"])
    out = h @ params["w2"] + params["b2"]
    return xnp.sum((out - y) ** 2) + 0.01 * xnp.sum(params["w1"] ** 2)


def _mlp(rng, dtype):
    params = {"w1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
              "w2": rng.standard_normal((4, 2)), "b2": rng.standard_normal(2)}
    return {k: v.astype(dtype) for k, v in params.items()}


@pytest.mark.parametrize("dtype", FLOATS)
@settings(max_examples=5)
@given(seed=st.integers(0, 2 ** 32 - 1), batch=st.integers(1, 5))
def test_vmap_of_grad_of_mlp_matches_loop_of_grads(dtype, seed, batch):
    rng = np.random.default_rng(seed)
    params = _mlp(rng, dtype)
    xs = rng.standard_normal((batch, 3)).astype(dtype)
    ys = rng.standard_normal((batch, 2)).astype(dtype)
    per_example = xf.vmap(xf.grad(mlp_loss), in_axes=(None, 0, 0))(params, xs, ys)
    loop = [xf.grad(mlp_loss)(params, xs[i], ys[i]) for i in range(batch)]
    assert set(per_example) == set(params)
    for k in params:
        assert per_example[k].dtype == dtype
        assert_same(per_example[k], np.stack([g[k] for g in loop]))
    # A pytree prefix of in_axes: w2 shared, the other parameters batched along axis 1.
    stacked = {k: np.stack([v] * batch, axis=-1) for k, v in params.items()}
    axes = {"w1": -1, "b1": 1, "w2": None, "b2": -1}
    mixed = xf.vmap(xf.grad(mlp_loss), in_axes=(axes, 0, 0))(
        {**stacked, "w2": params["w2"]}, xs, ys)
    for k in params:
        assert_same(mixed[k], np.stack([g[k] for g in loop]))


W = np.random.default_rng(0).standard_normal((100, 100)) / 10


def _histogram(ir):
    return Counter(eqn.prim.name for eqn in ir.eqns)


def _jacobian_irs(jac, sizes, make_fun, x_size):
    """The IRs of `jac(make_fun(n))` at an input of size `x_size(n)`, for each n."""
    return [xf.make_ir(jac(make_fun(n)))(np.linspace(-1, 1, x_size(n))) for n in sizes]


def test_jacrev_is_one_batched_reverse_pass():
    def make(m):
        return lambda x: xnp.tanh(W[:m] @ xnp.sin(x)) * 2.0
    ir5, ir50 = _jacobian_irs(xf.jacrev, (5, 50), make, lambda m: 100)
    assert _histogram(ir5) == _histogram(ir50)
    assert len(ir50.eqns) < 40
    assert ir50.out_avals[0].shape == (50, 100)
    x = np.linspace(-1, 1, 100)
    expected = 2 * (1 - np.tanh(W[:50] @ np.sin(x)) ** 2)[:, None] * W[:50] * np.cos(x)
    np.testing.assert_allclose(xf.jacrev(make(50))(x), expected, rtol=1e-12, atol=1e-14)


def test_jacfwd_is_one_batched_forward_pass():
    def make(n):
        return lambda x: xnp.tanh(W[:50, :n] @ xnp.sin(x)) * 2.0
    ir5, ir50 = _jacobian_irs(xf.jacfwd, (5, 50), make, lambda n: n)
    assert _histogram(ir5) == _histogram(ir50)
    assert len(ir50.eqns) < 40
    x = np.linspace(-1, 1, 50)
    expected = 2 * (1 - np.tanh(W[:50, :50] @ np.sin(x)) ** 2)[:, None] * W[:50, :50] * \
        np.cos(x)
    np.testing.assert_allclose(xf.jacfwd(make(50))(x), expected, rtol=1e-12, atol=1e-14)


def test_hessian_is_one_batched_pass():
    def make(n):
        return lambda x: xnp.sum(xnp.tanh(W[:n, :n] @ xnp.sin(x)))
    ir5, ir50 = _jacobian_irs(xf.hessian, (5, 50), make, lambda n: n)
    assert _histogram(ir5) == _histogram(ir50)
    assert len(ir50.eqns) < 100
    x = np.linspace(-1, 1, 50)
    a, z = W[:50, :50], W[:50, :50] @ np.sin(x)
    t = np.tanh(z)
    # d²/dx² of Σ tanh(A sin x): Aᵀ diag(-2 t (1 - t²)) A ∘ cos x cos xᵀ + diag((1 - t²)ᵀA · -sin x)
    expected = (a.T * (-2 * t * (1 - t ** 2))) @ a * np.outer(np.cos(x), np.cos(x)) + \
        np.diag(((1 - t ** 2) @ a) * -np.sin(x))
    np.testing.assert_allclose(xf.hessian(make(50))(x), expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- errors

def test_inconsistent_batch_sizes_name_each_size():
    with pytest.raises(ValueError, match=r"inconsistent batch sizes.*argument 0 has size 3.*"
                                         r"argument 1 has size 4"):
        xf.vmap(lambda a, b: a + b)(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"2.*5"):
        xf.vmap(lambda a, b: a * b, in_axes=(1, 0))(np.ones((3, 2)), np.ones((5, 3)))


def test_in_axes_must_match_the_arguments():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="in_axes has 3 entries.*2 positional"):
        xf.vmap(lambda a, b: a + b, in_axes=(0, 0, 0))(x, x)
    with pytest.raises(ValueError, match="does not match the structure of the arguments"):
        xf.vmap(lambda p: p[0], in_axes=({"a": 0},))([x])
    with pytest.raises(ValueError, match="does not match the structure of the outputs"):
        xf.vmap(lambda a: a, out_axes=(0, 1))(x)


@pytest.mark.parametrize("axis", [2, -3, 7])
def test_out_of_range_in_axis(axis):
    with pytest.raises(ValueError, match="out of range.*shape \\(3, 2\\)"):
        xf.vmap(xnp.sin, in_axes=axis)(np.ones((3, 2)))


@pytest.mark.parametrize("axis", [3, -4])
def test_out_of_range_out_axis(axis):
    with pytest.raises(ValueError, match="out of range"):
        xf.vmap(xnp.sin, out_axes=axis)(np.ones((3, 2)))


def test_branching_on_a_batched_value_names_the_alternatives():
    def relu(x):
        return x if x > 0 else 0.0 * x
    with pytest.raises(TypeError, match=r"xnp\.where.*xf\.lax\.cond|xf\.lax\.cond.*xnp\.where"):
        xf.vmap(relu)(np.array([1.0, -1.0]))
    # Branching on an unbatched argument is fine.
    out = xf.vmap(lambda x, s: x * 2 if s > 0 else x, in_axes=(0, None))(np.ones(3), 1.0)
    assert_same(out, np.full(3, 2.0))


def test_out_axes_none_needs_an_unbatched_output():
    with pytest.raises(ValueError, match="out_axes cannot be None"):
        xf.vmap(lambda x: x * 2, out_axes=None)(np.ones(3))
    out = xf.vmap(lambda x, c: (x * c, c * 2), in_axes=(0, None), out_axes=(0, None))(
        np.ones(3), 2.0)
    assert_same(out[0], np.full(3, 2.0))
    assert float(out[1]) == 4.0


def test_outputs_keep_the_pytree_structure():
    out = xf.vmap(lambda d: {"s": d["a"] + d["b"], "p": (d["a"] * 2,)})(
        {"a": np.ones((2, 3)), "b": np.arange(6.0).reshape(2, 3)})
    assert tree.structure(out) == tree.structure({"s": 0, "p": (0,)})
    assert_same(out["s"], 1 + np.arange(6.0).reshape(2, 3))
