"""Every primitive's Numba lowering agrees with the interpreter, one program per family and dtype.

A lowering that computes the wrong function must fail the default suite, and every compiled
program costs seconds. So each primitive family (a module of xform/primitives, and the call and
custom-rule primitives) is one program per dtype, float64, float32, and the integer and boolean
dtypes together, that binds every primitive of the family the dtype applies to: with
representative static params, n-d and 0-d operands, non-contiguous ones, constants, and the
values where lowerings tend to go wrong (signed zeros, subnormals, infinities, NaN, the ends of
exp's range, sine arguments past the fast reduction, integer division and remainder of negative
numbers). The float64 programs take every variant of the static params; the others, whose
lowerings take the same paths with other types, the first of each primitive's. Each program
runs under `xf.jit` on both backends, and every output must agree in shape, dtype and value
(within a few ulps for floats, NaN where NaN, the sign of zeros; exactly for integers and
booleans). Hypothesis draws the values; shapes and params stay fixed, so that each program
compiles once. A fallback to the interpreter fails, and a registry test fails when a primitive
appears in no program.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import lowering_family
from test_linalg import spd, well_conditioned
from test_numpy import rand
from test_vmap import BINARY_DOMAINS, UNARY_DOMAINS, separated, symmetric

import xform as xf
import xform.numpy as xnp
from xform import lax
from xform.backends import numba as numba_backend
from xform.core import IR, registry
from xform.primitives.debug import Callback
from xform.primitives import structural as sp

# The dtypes of a family's programs: float64, float32, and the integer and boolean dtypes in one
# program (int32 only in the elementwise one: Numba's arithmetic widens it to int64).
FLOAT_KINDS = [(np.float64,), (np.float32,)]
KINDS = [*FLOAT_KINDS, (np.int64, np.bool_)]
# Within a few ulps of the interpreter (both are within a couple of ulps of the true values).
TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-14}


class Family(NamedTuple):
    """A family's program: `operands(rng) -> dict of arrays` and `program(operands) -> dict
    of outputs` (the dict keys label the outputs in failures)."""
    operands: Callable[[np.random.Generator], dict]
    program: Callable[[dict], dict]


def bind(name: str, *args, **params):
    """The outputs of one equation of the primitive `name` (one value, or a list of several)."""
    outs = registry[name].bind(*args, **params)
    return outs[0] if len(outs) == 1 else outs


# Most programs are tables of rows (primitive, operand names, params), a primitive's most telling
# row first; each row costs compile time, so only the float64 programs bind every row.

def _sample(dtype, rows: list) -> list:
    """All of `rows` for float64, else the first row of each primitive."""
    if dtype == np.float64:
        return rows
    firsts = {}
    for row in rows:
        firsts.setdefault(row[0], row)
    return list(firsts.values())


def _bind_rows(ops: dict, rows: list) -> dict:
    """Each row's primitive bound to its operands, labelled like a call."""
    out = {}
    for name, args, params in rows:
        label = ", ".join([*args, *(f"{k}={v}" for k, v in params.items())])
        out[f"{name}({label})"] = bind(name, *(ops[a] for a in args), **params)
    return out


# ----------------------------------------------------------------------------- elementwise
#
# The unary operands of one domain are one vector: the domain's edge values, the special
# values, random values of the domain. Sine and cosine check whether their fast argument
# reduction applies and rerun their loop with libm's otherwise, so they get vectors of their
# own lengths (each shape is one loop): one with only finite values in the fast range, one with
# the special values. The binary operands are all pairs of special values, then random values
# of the operands' domains.

def _edges(dtype) -> dict[str, list]:
    """Per domain, values where fast implementations slip: signed zeros, subnormals, the ends
    of exp's range, the largest arguments sine and cosine reduce fast, halves rounded to even,
    the ends of the domain."""
    f = np.finfo(dtype)
    sub = f.smallest_subnormal
    big, small = float(np.log(f.max)), float(np.log(sub))
    return {"real": [-0.0, 0.0, sub, -f.tiny, 1e-5, 0.5, -0.5, 2.5, -20.0, 20.0, big * 0.9999,
                     big * 1.0001, small + 0.5, small - 1.0, 8.2e5, -8.2e5],
            "pos": [sub, f.tiny, 1.0, 1.0 + f.eps, 1.0 - f.epsneg, f.max],
            "unit": [-0.0, 0.0, sub, 1.0, -1.0, 1.0 - f.epsneg],
            "ge1": [1.0, 1.0 + f.eps, f.max],
            # lgamma's reference raises where the result overflows and at the poles.
            "gamma": [sub, f.tiny, 1.0, 2.0, 1.0 - f.epsneg, -0.5, -2.5]}


# Arguments outside every domain, and past the fast sine reduction. The gamma functions get
# no large negative number: their reference steps up from it to 12 one at a time.
_SPECIAL = [np.inf, -np.inf, np.nan, -1.5, 2.0, 1e6 + 0.25, 1e22, -3e6 - 0.5]
_PAIRED = [-0.0, 0.0, 1.0, -1.5, 3.0, np.inf, -np.inf, np.nan]
_UNARY = {**UNARY_DOMAINS, "lgamma": "gamma", "digamma": "gamma", **dict.fromkeys(
    ["neg", "abs", "sign", "stop_gradient", "is_finite", "is_nan"], "real")}
_TRIG = {"sin", "cos"}


def _vector(rng, dtype, values, domain: str, length: int):
    """`values`, then random values of `domain` up to `length`."""
    fill = rand(rng, (length - len(values),), dtype, "pos" if domain == "gamma" else domain)
    return np.concatenate([np.array(values, dtype), fill])


def _paired(rng, dtype, paired, domains, random=16):
    """Two vectors holding every pair of the values `paired`, then random pairs."""
    n = len(paired)
    return [_vector(rng, dtype, np.repeat(paired, n), domains[0], n * n + random),
            _vector(rng, dtype, np.tile(paired, n), domains[1], n * n + random)]


def _float_elementwise(dtype) -> Family:
    def operands(rng):
        edges, ops = _edges(dtype), {}
        for d in ("real", "pos", "unit", "ge1", "gamma"):
            special = _SPECIAL[:-1] if d == "gamma" else _SPECIAL
            ops[d] = _vector(rng, dtype, edges[d] + special, d, 24)
        ops["real0"], ops["pos0"] = rand(rng, (), dtype), rand(rng, (), dtype, "pos")
        ops["finite"] = _vector(rng, dtype, edges["real"], "real", 20)
        ops["wild"] = _vector(rng, dtype, _SPECIAL, "real", 12)
        for d, e in set(BINARY_DOMAINS.values()):
            ops[f"{d} {e}"] = _paired(rng, dtype, _PAIRED, (d, e))
        ops["mask"], ops["mask0"] = rng.random(80) < 0.5, rng.random(()) < 0.5
        return ops

    other = np.dtype(np.float32 if dtype == np.float64 else np.float64)

    def program(ops):
        out = {}
        # Scalar code (for 0-d values) runs the loops' templates, except for sine and cosine,
        # which skip their fast versions there.
        for name, d in _UNARY.items():
            for key in ["finite", "wild", "real0"] if name in _TRIG else [d]:
                out[f"{name} {key}"] = bind(name, ops[key])
        for name, (d, e) in BINARY_DOMAINS.items():
            out[name] = bind(name, *ops[f"{d} {e}"])
        for y in (-3, -1, 0, 1, 2, 3, 5):
            out[f"integer_pow {y}"] = bind("integer_pow", ops["real"], y=y)
        for n in (0, 1, 2, 3):
            out[f"polygamma {n}"] = bind("polygamma", ops["gamma"], n=n)
        out["select"] = bind("select", ops["mask"], *ops["real real"])
        out["select 0-d"] = bind("select", ops["mask0"], ops["real0"], ops["pos0"])
        for key, targets in [("real", (other, np.bool_)), ("finite", (np.int64, np.int32)),
                             ("real0", (np.int64,))]:
            for to in targets:
                out[f"convert {key} to {np.dtype(to)}"] = bind(
                    "convert_element_type", ops[key], new_dtype=np.dtype(to))
        # Constant operands: a 0-d literal, a uniform array and a varying one.
        out["mul by a 0-d constant"] = bind("mul", ops["real0"], dtype(2.5))
        out["add a uniform constant"] = bind("add", ops["real"], np.full(24, 0.5, dtype))
        out["sub from a constant"] = bind("sub", np.linspace(-1, 1, 24, dtype=dtype),
                                          ops["real"])
        return out
    return Family(operands, program)


def _integer_elementwise(dtype) -> Family:
    info = np.iinfo(dtype)
    # Negative dividends and divisors, division by zero, the extremes (MIN // -1 overflows).
    paired = np.array([-7, -4, -1, 0, 1, 3, 7, info.max, info.min + 1, info.min], dtype)

    def operands(rng):
        pair = _paired(rng, dtype, paired, ("real", "real"))
        return {"pair": pair, "mask": rng.random(len(pair[0])) < 0.5}

    def program(ops):
        i, j = ops["pair"]
        out = {name: bind(name, i) for name in ("neg", "abs", "sign", "stop_gradient")}
        for name in ("add", "sub", "mul", "max", "min", "rem", "floordiv", "eq", "ne", "lt",
                     "le", "gt", "ge"):
            out[name] = bind(name, i, j)
        for y in (0, 1, 2, 3, 5):
            out[f"integer_pow {y}"] = bind("integer_pow", i, y=y)
        out["select"] = bind("select", ops["mask"], i, j)
        for to in (np.float64, np.float32, np.int64, np.int32, np.int8, np.bool_):
            if to != dtype:
                out[f"convert to {np.dtype(to)}"] = bind("convert_element_type", i,
                                                          new_dtype=np.dtype(to))
        return out
    return Family(operands, program)


def _bool_elementwise() -> Family:
    def operands(rng):
        return {"pair": _paired(rng, np.bool_, [False, True], ("real", "real"))}

    def program(ops):
        p, q = ops["pair"]
        out = {name: bind(name, p) for name in ("not", "stop_gradient")}
        for name in ("and", "or", "xor", "eq", "ne", "lt", "le", "gt", "ge", "max", "min"):
            out[name] = bind(name, p, q)
        out["select"] = bind("select", p, q, p)
        for to in (np.float64, np.float32, np.int64, np.int32):
            out[f"convert to {np.dtype(to)}"] = bind("convert_element_type", p,
                                                      new_dtype=np.dtype(to))
        return out
    return Family(operands, program)


def _elementwise(dtype) -> Family:
    if dtype == np.bool_:
        return _bool_elementwise()
    if np.issubdtype(dtype, np.integer):
        return _integer_elementwise(dtype)
    return _float_elementwise(dtype)


# ----------------------------------------------------------------------------- structural

def _strided(rng, dtype, shape):
    """A non-contiguous argument of `shape` (every other row of a larger array, reversed)."""
    base = rand(rng, (2 * shape[0] + 1, 2 * shape[1]), dtype)
    return base[1::2, ::-2]


# 0-d operands and results, size-1 dims stretched, empty dims, strides, negative padding,
# non-contiguous arguments ("view") and intermediates ("transposed"), constants ("const").
_STRUCTURAL = [
    ("broadcast_in_dim", ["a0"], {"shape": (2, 3), "broadcast_dimensions": ()}),
    ("broadcast_in_dim", ["a1"], {"shape": (2, 5), "broadcast_dimensions": (1,)}),
    ("broadcast_in_dim", ["col"], {"shape": (3, 4, 2), "broadcast_dimensions": (0, 1)}),
    ("broadcast_in_dim", ["a1"], {"shape": (5, 2), "broadcast_dimensions": (0,)}),
    ("broadcast_in_dim", ["view"], {"shape": (3, 2, 5), "broadcast_dimensions": (0, 2)}),
    ("reshape", ["a0"], {"new_shape": (1, 1)}),
    ("reshape", ["a3"], {"new_shape": (6, 4)}),
    ("reshape", ["one"], {"new_shape": ()}),
    ("reshape", ["view"], {"new_shape": (15,)}),
    ("reshape", ["transposed"], {"new_shape": (2, 6)}),
    ("transpose", ["a3"], {"permutation": (2, 0, 1)}),
    ("transpose", ["view"], {"permutation": (1, 0)}),
    ("rev", ["view"], {"dimensions": (1,)}),
    ("rev", ["a3"], {"dimensions": (0, 1, 2)}),
    ("slice", ["a3"], {"start": (0, 1, 1), "limit": (2, 3, 4), "strides": (2, 1, 3)}),
    ("slice", ["view"], {"start": (1, 0), "limit": (3, 5), "strides": (1, 2)}),
    ("slice", ["a2"], {"start": (1, 2), "limit": (1, 4), "strides": (1, 1)}),
    ("pad", ["view", "const0"], {"lo": (0, 1), "hi": (2, 0), "interior": (0, 1)}),
    ("pad", ["a2", "a0"], {"lo": (-1, 1), "hi": (1, -2), "interior": (1, 0)}),
    ("pad", ["a1", "a0"], {"lo": (2,), "hi": (1,), "interior": (2,)}),
    ("concatenate", ["a2", "b2", "a2"], {"dimension": 0}),
    ("concatenate", ["a2", "empty", "c2"], {"dimension": 1}),
    ("concatenate", ["view", "d2", "view"], {"dimension": 0}),
    ("concatenate", ["const", "b2"], {"dimension": 0}),
]


def _structural(dtype) -> Family:
    def operands(rng):
        return {"a3": rand(rng, (2, 3, 4), dtype), "a2": rand(rng, (3, 4), dtype),
                "b2": rand(rng, (1, 4), dtype), "c2": rand(rng, (3, 2), dtype),
                "d2": rand(rng, (1, 5), dtype), "empty": rand(rng, (3, 0), dtype),
                "a1": rand(rng, (5,), dtype), "a0": rand(rng, (), dtype),
                "col": rand(rng, (3, 1), dtype), "one": rand(rng, (1, 1), dtype),
                "row": rand(rng, (4,), dtype), "view": _strided(rng, dtype, (3, 5))}

    def program(ops):
        const = rand(np.random.default_rng(0), (1, 4), dtype)
        ops = dict(ops, transposed=sp.transpose(ops["a2"], (1, 0)), const=const,
                   const0=const[0, 0])
        out = _bind_rows(ops, _sample(dtype, _STRUCTURAL))
        # Broadcasts inside the loop of their consumer: of an argument, of constants.
        for label, x in [("argument", ops["row"]), ("constant", const[0]),
                         ("uniform constant", np.ones(4, dtype))]:
            out[f"max of a broadcast {label}"] = bind(
                "max", sp.broadcast_in_dim(x, (3, 4), (1,)), ops["a2"])
        return out
    return Family(operands, program)


# ----------------------------------------------------------------------------- reductions

# Every layout for sum: a full reduction (a scalar accumulator), kept axes (an accumulator
# array), a reduction fused into the loop of its operand, of a 0-d operand, of a view, of a
# transpose, of an empty dim; the other kinds share the loops but not the updates.
_LAYOUTS = [("r3", (0, 1, 2)), ("r3", (1,)), ("r3", (0,)), ("r3", (0, 2)), ("fused", (1,)),
            ("r0", ()), ("view", (0,)), ("transposed", (0,)), ("empty", (0,))]
_UPDATES = [("special", (1,)), ("r3", (0, 2)), ("r3", (0, 1, 2)), ("fused", (1,))]
# (operand, axis, index dtype) of argmax, (operand, axis, reverse) of cumsum; the argmin and
# cumprod kernels are those of argmax and cumsum.
_ARGS = [("s3", 0, np.int64), ("special", 1, np.int64), ("s3", 1, np.int32),
         ("view", 1, np.int64), ("s3", 2, np.int64)]
_CUMULATIVE = [("r3", 2, True), ("special", 1, False), ("view", 1, True), ("r3", 0, False)]


def _reduction_rows(kinds) -> list:
    rows = [(f"reduce_{kind}", [x], {"axes": axes}) for kind in kinds
            for x, axes in (_LAYOUTS + _UPDATES[:1] if kind == "sum" else _UPDATES)]
    return rows + [(name, [x], {"axis": axis, "index_dtype": np.dtype(index_dtype)})
                   for name, variants in [("argmax", _ARGS), ("argmin", _ARGS[:2])]
                   for x, axis, index_dtype in variants]


def _cumulative_rows() -> list:
    return [(name, [x], {"axis": axis, "reverse": reverse})
            for name, variants in [("cumsum", _CUMULATIVE), ("cumprod", _CUMULATIVE[:2])]
            for x, axis, reverse in variants]


def _reductions(dtype) -> Family:
    boolean = dtype == np.bool_
    kinds = ["max", "min"] if boolean else ["sum", "max", "min", "prod"]
    rows = _sample(dtype, _reduction_rows(kinds) + ([] if boolean else _cumulative_rows()))

    def operands(rng):
        ops = {"r3": rand(rng, (2, 3, 4), dtype, "near1"), "s3": rand(rng, (2, 3, 4), dtype),
               "r0": rand(rng, (), dtype), "view": _strided(rng, dtype, (3, 5)),
               "empty": rand(rng, (0, 3), dtype)}
        if np.issubdtype(dtype, np.floating):  # NaN wherever; infinities; signed zeros
            ops["special"] = np.array([[1.0, np.nan, 3.0, -1.0], [2.0, 5.0, 1.0, np.nan],
                                       [np.inf, -np.inf, 0.0, 1.0], [-0.0, 0.0, -0.0, 0.0]],
                                      dtype)
        else:  # ties (the first index wins)
            ops["special"] = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 1]], dtype)
        return ops

    def program(ops):
        ops = dict(ops, fused=bind("max", ops["r3"], ops["s3"]),
                   transposed=sp.transpose(ops["s3"], (2, 0, 1)))
        out = _bind_rows(ops, rows)
        # Reduced values consumed by a loop of their own shape.
        out["max of two reductions"] = bind(
            "max", bind(f"reduce_{kinds[0]}", ops["r3"], axes=(2,)),
            bind(f"reduce_{kinds[1]}", ops["s3"], axes=(2,)))
        return out
    return Family(operands, program)


# ----------------------------------------------------------------------------- indexing

def _indices(rng, dims, batch, dtype=np.int64):
    """Indices of shape (*batch, len(dims)) into leading dims `dims`: repeated (the first two
    are equal) and some negative."""
    idx = np.stack([rng.integers(-n, n, batch) for n in dims], -1).reshape(-1, len(dims))
    if len(idx) > 1:
        idx[1] = idx[0]
    return idx.reshape(*batch, len(dims)).astype(dtype)


# (operand, indices, updates): elements by int32 indices; rows of a matrix; one element of a
# vector (a 0-d result, a 0-d update); rows of a 3-d array by pairs of indices.
_INDEXED = [("x2", "cells", "cell_updates"), ("x2", "rows", "row_updates"),
            ("x1", "one", "u0"), ("x3", "pairs", "pair_updates")]


def _indexing(dtype) -> Family:
    names = ["gather", "scatter"] + (["scatter_add"] if dtype != np.bool_ else [])
    rows = _sample(dtype, [(name, [x, idx, u][:2 if name == "gather" else 3], {})
                           for x, idx, u in _INDEXED for name in names])

    def operands(rng):
        return {"x3": rand(rng, (4, 3, 2), dtype), "x2": rand(rng, (5, 3), dtype),
                "x1": rand(rng, (6,), dtype), "rows": _indices(rng, (5,), (4,)),
                "cells": _indices(rng, (5, 3), (2, 3), np.int32),
                "one": _indices(rng, (6,), ()), "pairs": _indices(rng, (4, 3), (3,)),
                "row_updates": rand(rng, (4, 3), dtype),
                "cell_updates": rand(rng, (2, 3), dtype), "u0": rand(rng, (), dtype),
                "pair_updates": rand(rng, (3, 2), dtype)}
    return Family(operands, lambda ops: _bind_rows(ops, rows))


# ----------------------------------------------------------------------------- linalg

# Matrix and vector products (GEMM, transposed operands included), batch dims anywhere,
# several contracting dims, none, an empty contraction, a 0-d operand.
_DOT_GENERAL = [((3, 4), (4, 2), ((1,), (0,)), ((), ())),
                ((4, 3), (4, 2), ((0,), (0,)), ((), ())),
                ((4,), (4,), ((0,), (0,)), ((), ())),
                ((2, 3, 4), (2, 4, 5), ((2,), (1,)), ((0,), (0,))),
                ((3, 4), (4,), ((1,), (0,)), ((), ())),
                ((), (2, 3), ((), ()), ((), ())),
                ((2, 3, 4), (3, 2, 5), ((0, 1), (1, 0)), ((), ())),
                ((3, 2, 4), (4, 2), ((2,), (0,)), ((1,), (1,))),
                ((3, 0), (0, 2), ((1,), (0,)), ((), ())),
                ((3,), (2,), ((), ()), ((), ()))]
_DOT_ROWS = [("dot_general", [f"lhs{k}", f"rhs{k}"], {"dimension_numbers": (contract, batch)})
             for k, (_, _, contract, batch) in enumerate(_DOT_GENERAL)]
# Each triangular_solve flag both ways; stacks and single matrices (0-d determinants); tall
# and wide matrices.
_LINALG = [
    ("triangular_solve", ["a", "b_left"],
     {"left_side": True, "lower": False, "transpose_a": True, "unit_diagonal": True}),
    ("triangular_solve", ["a", "b_left"],
     {"left_side": True, "lower": True, "transpose_a": False, "unit_diagonal": False}),
    ("triangular_solve", ["a", "b_right"],
     {"left_side": False, "lower": True, "transpose_a": True, "unit_diagonal": False}),
    ("triangular_solve", ["a", "b_right"],
     {"left_side": False, "lower": False, "transpose_a": False, "unit_diagonal": True}),
    ("cholesky", ["spd"], {}),
    ("solve", ["a", "b_left"], {}),
    ("det", ["a"], {}), ("slogdet", ["single"], {}),
    ("eigh", ["sym"], {"lower": True}), ("eigh", ["sym"], {"lower": False}),
    ("qr", ["tall"], {}), ("qr", ["wide"], {}),
    ("svd", ["tall"], {"compute_uv": True}), ("svd", ["tall"], {"compute_uv": False}),
    ("svd", ["wide"], {"compute_uv": True}),
    ("lu", ["a"], {}), ("lu", ["single"], {}),
]


def _linalg(dtype) -> Family:
    floating = np.issubdtype(dtype, np.floating)
    rows = _sample(dtype, _DOT_ROWS + (_LINALG if floating else []))

    def operands(rng):
        ops = {}
        for k, (lhs, rhs, _, _) in enumerate(_DOT_GENERAL):
            ops[f"lhs{k}"], ops[f"rhs{k}"] = rand(rng, lhs, dtype), rand(rng, rhs, dtype)
        if floating:
            lower = np.tril(spd(rng, 2, 3, 3))  # noise above the diagonal, never to be read
            ops |= {
                "a": well_conditioned(rng, 2, 3, 3, dtype=dtype),
                "b_left": rng.standard_normal((2, 3, 2)).astype(dtype),
                "b_right": rng.standard_normal((2, 2, 3)).astype(dtype),
                "spd": (lower + np.triu(rng.standard_normal((2, 3, 3)), 1)).astype(dtype),
                "single": well_conditioned(rng, 3, 3, dtype=dtype) * int(rng.choice([-1, 1])),
                # Triangles a little apart: each value of eigh's `lower` reads its own.
                "sym": symmetric(rng, (2,), 3, dtype)
                + np.triu(0.1 * rng.random((3, 3)), 1).astype(dtype),
                "tall": separated(rng, (2,), 4, 3, dtype),
                "wide": separated(rng, (2,), 3, 4, dtype)}
        return ops
    return Family(operands, lambda ops: _bind_rows(ops, rows))


def _align_signs(got: dict, want: dict) -> dict:
    """Eigenvectors and singular vectors are unique up to sign (LAPACK builds choose
    differently): flip each column of got's eigh V, qr Q, svd U (and the matching row of R
    or Vh) towards want's."""
    got = dict(got)
    for label, outs in got.items():
        name = label.split("(")[0]
        if name not in ("eigh", "qr", "svd") or not isinstance(outs, list):
            continue
        outs, ref = list(outs), want[label]
        col, row = {"eigh": (1, None), "qr": (0, 1), "svd": (0, 2)}[name]
        s = np.sign((np.asarray(outs[col]) * ref[col]).sum(-2, keepdims=True))
        s = np.where(s == 0, 1, s).astype(outs[col].dtype)
        outs[col] = outs[col] * s
        if row is not None:
            outs[row] = outs[row] * np.swapaxes(s, -1, -2)
        got[label] = outs
    return got


# ----------------------------------------------------------------------------- control flow

def _control(dtype) -> Family:
    def operands(rng):
        return {"x": rand(rng, (3,), dtype), "c": rand(rng, (3,), dtype),
                "xs": rand(rng, (5, 3), dtype), "ks": rng.integers(-3, 4, 5),
                "w": rand(rng, (3,), dtype), "scale": dtype(rng.uniform(1.2, 2.0)),
                "limits": np.array([rng.uniform(5, 40), -1.0], dtype),
                "n": rng.integers(0, 5), "indices": np.array([-2, 0, 1, 2, 9])}

    def program(ops):
        x, c, xs, ks, w = ops["x"], ops["c"], ops["xs"], ops["ks"], ops["w"]
        out = {"cond": lax.cond(x.sum() > 0, lambda v: (v * c, c.sum()),
                                lambda v: (-v, c[0]), x)}

        def body(carry):  # swaps two carries
            i, a, b, t = carry
            return i + 1, b * ops["scale"], a + t, t * ops["scale"]

        def loop(limit):
            return lax.while_loop(lambda c: xnp.logical_and(c[0] < 10, c[3] < limit), body,
                                  (0, x, 2 * x, xnp.abs(x).sum()))
        out["while"] = loop(ops["limits"][0])

        def step(carry, x):
            total, count, v = carry
            x, k = x
            v = xnp.tanh(v * w + x)
            return (total + v.sum(), count + (k > 0), v), (v, k * 2, total > 1)
        init = (np.zeros((), dtype), 0, xnp.zeros_like(w))
        out["scan"] = lax.scan(step, init, (xs, ks))
        if dtype != np.float64:  # the rest takes the same paths with other types
            return out
        # Every branch, an index out of range either way (clamped): one switch, in a scan.
        branches = [lambda v: v, lambda v: xnp.sin(v) * c, lambda v: v * (v @ v)]
        out["switch"] = lax.scan(lambda v, i: (v, lax.switch(i, branches, v)), x,
                                 ops["indices"])
        # The second limit stops the loop before its first step.
        out["while in a scan"] = lax.scan(lambda v, limit: (v, loop(limit)), x, ops["limits"])
        out["scan reverse"] = lax.scan(step, init, (xs, ks), reverse=True)
        out["scan empty"] = lax.scan(step, init, (xs[:0], ks[:0]))
        out["fori_loop"] = lax.fori_loop(0, 4, lambda i, v: v * 0.5 + (i > 1), x)
        out["fori_loop traced"] = lax.fori_loop(0, ops["n"], lambda i, v: v * 0.5 + (i > 1), x)

        def outer(v, row):
            inner, _ = lax.scan(lambda d, y: (d + y * row[0], d.sum()), v, xs)
            halved = lax.while_loop(lambda u: xnp.abs(u).max() > 1, lambda u: u / 2, inner)
            return lax.cond(row[1] > 0, lambda u: u, lambda u: -u, halved), halved.sum()
        out["nested"] = lax.scan(outer, x, xs)
        # A batched index: each example runs its own branch (batched_cond).
        out["vmap switch"] = xf.vmap(lambda i, v: lax.switch(i, branches, v))(ops["indices"], xs)
        return out
    return Family(operands, program)


# ----------------------------------------------------------------------------- call and custom

@xf.custom_jvp
def _softplus(x):
    return xnp.log1p(xnp.exp(x))


@_softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _softplus(x), t / (1 + xnp.exp(-x))


@xf.custom_vjp
def _scaled_tanh(x, s):
    return xnp.tanh(x) * s


_scaled_tanh.defvjp(lambda x, s: (_scaled_tanh(x, s), (x, s)),
                    lambda res, g: (g * res[1] * (1 - xnp.tanh(res[0]) ** 2),
                                    xnp.sum(g * xnp.tanh(res[0]))))

_double_sine = xf.checkpoint(lambda x: xnp.sin(xnp.sin(x)) * 2)


def _called(a, b):
    return xnp.sin(a) * b, xnp.sum(a)


# ----------------------------------------------------------------------------- debug
#
# A host callback has no outputs: the program checks that the compiled one runs (and its
# effect, a recorded call, is compared below); tests/test_conveniences.py checks the printing.

_CALLS: list = []
_RECORD = Callback(lambda *values: _CALLS.append(values), "record")


def _debug(dtype) -> Family:
    def operands(rng):
        return {"x": rand(rng, (2, 3), dtype), "s": rand(rng, (), dtype), "i": np.arange(3)}

    def program(ops):
        x, s = ops["x"], ops["s"]
        bind("debug_callback", x, s, ops["i"], callback=_RECORD, batch_ndim=0)
        bind("debug_callback", x, callback=_RECORD, batch_ndim=1)
        return {"x": x * s}
    return Family(operands, program)


def test_compiled_callbacks_see_what_interpreted_ones_see():
    program = family("debug", (np.float64, np.float32))
    ops = program.operands(np.random.default_rng(0))
    _CALLS.clear()
    run_numba(program.program, ops)
    compiled = list(_CALLS)
    _CALLS.clear()
    xf.jit(program.program, backend="interpreter")(ops)
    assert len(compiled) == len(_CALLS) == 6
    for got, want in zip(compiled, _CALLS):
        assert [(np.shape(g), np.asarray(g).dtype) for g in got] == \
            [(np.shape(w), np.asarray(w).dtype) for w in want]
        assert all(np.array_equal(g, w) for g, w in zip(got, want))


def _call_custom(dtype) -> Family:
    def operands(rng):
        return {"x": rand(rng, (4,), dtype), "y": rand(rng, (4,), dtype),
                "m": rand(rng, (3, 4), dtype), "s": rand(rng, (), dtype)}

    def program(ops):
        x, y, m, s = ops["x"], ops["y"], ops["m"], ops["s"]
        # Under the interpreter, calls run in the interpreter too.
        inner = xf.jit(_called, backend="interpreter")
        out = {"call": inner(x, y), "custom_jvp": _softplus(x), "custom_vjp": _scaled_tanh(x, s),
               "remat": _double_sine(x)}
        if dtype != np.float64:  # the rest inlines the same way
            return out
        return out | {
            "call again": inner(y, x),
            "nested calls": xf.jit(lambda a: inner(a, a)[0] * 2, backend="interpreter")(x),
            "vmap of a call": xf.vmap(inner)(m, m),
            "grad of custom_jvp": xf.grad(lambda a: xnp.sum(_softplus(a)))(x),
            "grad of custom_vjp": xf.grad(lambda a, b: xnp.sum(_scaled_tanh(a, b)),
                                          argnums=(0, 1))(x, s),
            "grad of remat": xf.grad(lambda a: xnp.sum(_double_sine(a)))(x),
        }
    return Family(operands, program)


def _forward_mode_of_custom_vjp(x, t):
    return xf.jvp(lambda a: _scaled_tanh(a, 2.0), (x,), (t,))


# ----------------------------------------------------------------------------- bits

def _bits(dtype) -> Family:
    """threefry2x32 with 0-d and n-d keys, a non-contiguous counter, a 0-d result; xor of
    uint32 (wrapping) and int64 (negative) words."""
    def operands(rng):
        words = rng.integers(0, 2 ** 32, (4, 3, 5), dtype=np.uint32)
        return {"words": words, "key": words[0, 0, :2].copy(),
                "signed": rng.integers(-2 ** 40, 2 ** 40, (2, 7))}

    def program(ops):
        w, (k1, k2), i = ops["words"], ops["key"], ops["signed"]
        return {"threefry n-d": bind("threefry2x32", w[0], w[1], w[2], w[3]),
                "threefry 0-d keys": bind("threefry2x32", k1, k2, w[2].T, w[3].T),
                "threefry 0-d": bind("threefry2x32", k1, k2, k2, np.uint32(7)),
                "xor uint32": bind("bitwise_xor", w[0], w[1]),
                "xor int64": bind("bitwise_xor", i[0], i[1])}
    return Family(operands, program)


# ----------------------------------------------------------------------------- sorting

# (operands, dimension, num_keys): NaN, infinities and signed zeros carrying positions along
# (as argsort does); two keys, the first with ties, over three operands; the first axis of a
# 3-d array; a view; an empty axis.
_SORTS = [(["special", "pos4"], 1, 1), (["ties", "s2", "pos"], 1, 2), (["s3"], 0, 1),
          (["view"], 0, 1), (["empty"], 1, 1)]


def _sorting(dtype) -> Family:
    rows = _sample(dtype, [("sort", ops, {"dimension": d, "num_keys": k})
                           for ops, d, k in _SORTS])

    def operands(rng):
        ops = {"s2": rand(rng, (3, 4), dtype), "s3": rand(rng, (4, 2, 3), dtype),
               "ties": rng.integers(0, 2, (3, 4)).astype(dtype),
               "view": _strided(rng, dtype, (3, 5)), "empty": rand(rng, (2, 0), dtype),
               "pos": np.tile(np.arange(4), (3, 1)), "pos4": np.tile(np.arange(4), (4, 1))}
        if np.issubdtype(dtype, np.floating):
            ops["special"] = np.array([[1.0, np.nan, -0.0, 0.0], [np.inf, -np.inf, np.nan, 1.0],
                                       [0.0, -0.0, 2.0, 2.0], [np.nan, np.nan, 1.0, -1.0]],
                                      dtype)
        else:
            ops["special"] = rng.integers(0, 2, (4, 4)).astype(dtype)
        return ops
    return Family(operands, lambda ops: _bind_rows(ops, rows))


# ----------------------------------------------------------------------------- special

# Per unary special function: its poles, zeros, the ends of its domain and of each method's
# range (series, asymptotic expansion, tails), infinities, NaN; then random values of its
# domain. The incomplete gamma functions take every pair of their edge values, the incomplete
# beta function every triple; 0-d shape parameters beside n-d arguments.
_SPECIAL_EDGES = {
    "gamma": ([0.5, 1.0, 2.0, 5.5, 170.5, -0.5, -2.5, 0.0, -0.0, -1.0], (0.1, 30.0)),
    "erfc": ([-30.0, -5.0, 0.0, 0.5, 5.0, 26.0, 26.5], (-8.0, 8.0)),
    "erfcx": ([-27.0, -26.6, -10.0, 0.0, 0.5, 25.9, 26.0, 30.0, 1e300], (-8.0, 30.0)),
    "erf_inv": ([-1.0, 1.0, 0.0, -0.0, 0.5, -0.5, 0.9999999, 1e-300, 1.5], (-1.0, 1.0)),
    "ndtri": ([0.0, 1.0, 0.5, 0.25, 0.75, 1e-300, 1e-20, 1 - 1e-16, 2.0, -1.0], (0.0, 1.0)),
    "bessel_i0e": ([0.0, -0.0, 1e-300, 20.0, 20.000001, -20.0, 700.0, 1e300], (-40.0, 40.0)),
}
_SPECIAL_EDGES["bessel_i1e"] = _SPECIAL_EDGES["bessel_i0e"]
_GAMMA_PAIRS = [(a, x) for a in (0.0, 0.5, 1.0, 3.5, 20.0, 150.0, np.inf, np.nan, -1.0)
                for x in (0.0, 0.3, 1.0, 1.05, 5.0, 25.0, 160.0, np.inf, np.nan, -1.0)]
_BETA_TRIPLES = [(a, b, x) for a in (0.0, 0.5, 2.0, 30.0, np.inf) for b in (0.5, 2.0, 30.0)
                 for x in (0.0, 0.3, 0.7, 1.0)]


def _special(dtype) -> Family:
    def column(rng, values, low, high):
        with np.errstate(over="ignore"):
            return np.concatenate([values, rng.uniform(low, high, 16)]).astype(dtype)

    def operands(rng):
        ops = {name: column(rng, [*edges, np.inf, -np.inf, np.nan], *domain)
               for name, (edges, domain) in _SPECIAL_EDGES.items()}
        a, x = np.array(_GAMMA_PAIRS).T
        ops["gamma a"], ops["gamma x"] = column(rng, a, 0.1, 10.0), column(rng, x, 0.0, 20.0)
        a, b, x = np.array(_BETA_TRIPLES).T
        ops["beta"] = [column(rng, a, 0.1, 10.0), column(rng, b, 0.1, 10.0),
                       column(rng, x, 0.0, 1.0)]
        ops["0-d"] = dtype(rng.uniform(0.2, 0.8))
        return ops

    def program(ops):
        out = {name: bind(name, ops[name]) for name in _SPECIAL_EDGES}
        for name in ("igamma", "igammac", "igamma_grad_a"):
            out[name] = bind(name, ops["gamma a"], ops["gamma x"])
            out[f"{name} 0-d"] = bind(name, ops["0-d"], ops["gamma x"])
        out["betainc"] = bind("betainc", *ops["beta"])
        out["betainc 0-d"] = bind("betainc", ops["0-d"], ops["beta"][1], ops["0-d"])
        out["ndtri 0-d"] = bind("ndtri", ops["0-d"])
        return out
    return Family(operands, program)


# ----------------------------------------------------------------------------- the programs

FAMILIES = {
    "bits": (_bits, [(np.uint32,)]),
    "elementwise": (_elementwise, [*FLOAT_KINDS, (np.int64, np.int32, np.bool_)]),
    "structural": (_structural, KINDS),
    "reductions": (_reductions, KINDS),
    "indexing": (_indexing, KINDS),
    "linalg": (_linalg, [*FLOAT_KINDS, (np.int64,)]),
    "control": (_control, FLOAT_KINDS),
    "call-custom": (_call_custom, FLOAT_KINDS),
    "sorting": (_sorting, KINDS),
    "special": (_special, FLOAT_KINDS),
    "debug": (_debug, [(np.float64, np.float32)]),
    "conv": (lambda dtype: Family(*lowering_family(dtype)), [*FLOAT_KINDS, (np.int64,)]),
}
PROGRAMS = [(name, kind) for name, (_, kinds) in FAMILIES.items() for kind in kinds]
PROGRAM_IDS = [f"{name}-{'-'.join(np.dtype(d).name for d in kind)}" for name, kind in PROGRAMS]


@functools.cache
def family(name: str, kind: tuple) -> Family:
    """The family's program over the dtypes `kind`: operands and outputs keyed by dtype."""
    parts = {np.dtype(d).name: FAMILIES[name][0](d) for d in kind}
    return Family(lambda rng: {d: part.operands(rng) for d, part in parts.items()},
                  lambda ops: {d: part.program(ops[d]) for d, part in parts.items()})


def run_numba(f, *args):
    """jit(f)(*args) on the Numba backend; a fallback to the interpreter raises."""
    numba_backend._warned.clear()  # the fallback warning is only given once per message
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return xf.jit(f, backend="numba")(*args)


def _labelled(tree, label=""):
    """(label, array) for every leaf of nested dicts, lists and tuples."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _labelled(v, f"{label} {k}".strip())
    elif isinstance(tree, (list, tuple)):
        for k, v in enumerate(tree):
            yield from _labelled(v, f"{label}[{k}]")
    else:
        yield label, np.asarray(tree)


# dP/da of the incomplete gamma function near x = 1 comes from a slowly converging continued
# fraction whose derivative recurrence gathers rounding errors: both implementations are a few
# 1e-14 off the exact value there (checked against mpmath at x = 1.05), so not always within
# 1e-14 of each other.
LOOSER = {"igamma_grad_a": 10}


def _disagreement(got: np.ndarray, want: np.ndarray, label: str = "") -> str | None:
    """How `got` differs from `want` in shape, dtype or values (None if it does not)."""
    if (got.shape, got.dtype) != (want.shape, want.dtype):
        return f"{got.dtype}{list(got.shape)} instead of {want.dtype}{list(want.shape)}"
    if want.dtype.kind == "f":
        tol = TOL[want.dtype] * max([f for k, f in LOOSER.items() if k in label.split()] + [1])
        with np.errstate(all="ignore"):
            close = np.abs(got - want) <= tol * np.abs(want) + tol
        bad = ~(close | (got == want) | (np.isnan(got) & np.isnan(want)))
        bad |= (got == 0) & (want == 0) & (np.signbit(got) != np.signbit(want))
    else:
        bad = got != want
    if not bad.any():
        return None
    at = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{bad.sum()} of {bad.size} values differ, e.g. at {at}: {got[at]!r} instead of "
            f"{want[at]!r}")


def assert_agree(got, want):
    """Every output of `got` agrees with the interpreter's `want`; all disagreements listed."""
    got, want = dict(_labelled(got)), dict(_labelled(want))
    assert got.keys() == want.keys()
    problems = [f"{label}: {msg}" for label in want
                if (msg := _disagreement(got[label], want[label], label)) is not None]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name,kind", PROGRAMS, ids=PROGRAM_IDS)
@settings(max_examples=3)
@given(seed=st.integers(0, 2**32 - 1))
def test_family_program_agrees_with_the_interpreter(name, kind, seed):
    program = family(name, kind)
    ops = program.operands(np.random.default_rng(seed))
    got = run_numba(program.program, ops)
    with np.errstate(all="ignore"):
        want = xf.jit(program.program, backend="interpreter")(ops)
    if name == "linalg":
        got = {d: _align_signs(outs, want[d]) for d, outs in got.items()}
    assert_agree(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("name,kind", PROGRAMS, ids=PROGRAM_IDS)
def test_family_program_cut_into_small_shape_generic_parts(name, kind, monkeypatch):
    """Every family program cut into parts of a dozen lines, every size of 2 or more an
    argument: the cuts and the shape-generic code must keep every lowering's meaning (a cut
    between an `if` and its `else` once did not)."""
    from xform.backends import codegen, parts
    monkeypatch.setattr(codegen, "SPLIT_LINES", 30)
    monkeypatch.setattr(parts, "PART_LINES", 12)
    monkeypatch.setattr(parts, "SIZE_ARGUMENT", 2)
    program = family(name, kind)
    ops = program.operands(np.random.default_rng(0))
    got = run_numba(program.program, ops)
    with np.errstate(all="ignore"):
        want = xf.jit(program.program, backend="interpreter")(ops)
    if name == "linalg":
        got = {d: _align_signs(outs, want[d]) for d, outs in got.items()}
    assert_agree(got, want)


def test_forward_mode_of_custom_vjp_is_refused_by_both_backends():
    # custom_vjp_lin, the linear map a custom_vjp function's tangent goes through, only exists
    # to be transposed: run forward, both backends raise the same error.
    for backend in ("numba", "interpreter"):
        with pytest.raises(TypeError, match="forward-mode differentiation"):
            xf.jit(_forward_mode_of_custom_vjp, backend=backend)(np.ones(3), np.ones(3))


# ----------------------------------------------------------------------------- coverage

# Taken at import, before other tests register primitives of their own.
REGISTERED = sorted(registry)


def _primitives_in(ir: IR) -> set[str]:
    """Names of the primitives of `ir` and of the IRs in its equations' params."""
    names = set()
    for eqn in ir.eqns:
        names.add(eqn.prim.name)
        for value in eqn.params.values():
            for inner in value if isinstance(value, tuple) else (value,):
                if isinstance(inner, IR):
                    names |= _primitives_in(inner)
    return names


def _compiled_ir(f, *args) -> IR:
    """The IR that `xf.jit(f)` compiles for these arguments."""
    (eqn,) = xf.make_ir(xf.jit(f))(*args).eqns
    return eqn.params["ir"]


def test_every_primitive_is_in_some_program():
    covered = _primitives_in(_compiled_ir(_forward_mode_of_custom_vjp, np.ones(3), np.ones(3)))
    for name, kind in PROGRAMS:
        program = family(name, kind)
        covered |= _primitives_in(_compiled_ir(program.program,
                                               program.operands(np.random.default_rng(0))))
    missing = sorted(set(REGISTERED) - covered)
    assert not missing, (f"no program of tests/test_numba_lowerings.py binds the primitives "
                         f"{missing}: add them to their family's program")
