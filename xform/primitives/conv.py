"""Convolutions and windowed reductions: conv_general_dilated, reduce_window_{sum,max,min},
and window_select_{gather,scatter}, the linear maps that differentiate a windowed max or min.

All read an operand through windows. Along each windowed (spatial) dimension the operand is
dilated (`a - 1` holes between neighbours), padded (`lo`, `hi`; negative padding crops) and read
by a window of `k` taps `r` apart, placed every `s` elements. `source_table` turns that geometry
into the operand index each tap of each window reads (or -1, for padding and holes); the numpy
implementations gather with it and the Numba kernels loop over it.

The transposes are windowed operations of the same kind with the roles of strides and
dilations swapped (see `_transposed_padding`): a convolution's transpose with respect to either
operand is a convolution, and a windowed sum's is a windowed sum.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from xform.core import Literal, Primitive, ShapedArray, UndefinedPrimal, Zero, get_aval
from xform.primitives.elementwise import add_tangents
from xform.primitives.lowering import scalar_literal
from xform.primitives.structural import broadcast_in_dim, moveaxis, reshape, rev, transpose

# ----------------------------------------------------------------------------- geometry


def dilate(n: int, d: int) -> int:
    """The size of `n` elements with `d - 1` holes between neighbours."""
    return 0 if n == 0 else (n - 1) * d + 1


def window_count(n: int, k: int, s: int, pad_: tuple, a: int, r: int) -> int:
    """How many windows of `k` taps `r` apart, every `s`, fit the dilated, padded operand."""
    padded, span = pad_[0] + dilate(n, a) + pad_[1], dilate(k, r)
    return (padded - span) // s + 1 if padded >= span else 0


def source_table(n: int, k: int, s: int, pad_: tuple, a: int, r: int) -> np.ndarray:
    """(windows, k) int64: the operand index that tap j of window y reads, -1 where it reads
    padding or a hole of the dilation."""
    m = window_count(n, k, s, pad_, a, r)
    p = np.arange(m, dtype=np.int64)[:, None] * s + np.arange(k, dtype=np.int64) * r - pad_[0]
    q = p // a
    return np.where((p >= 0) & (p % a == 0) & (q < n), q, -1)


def _transposed_padding(n, k, m, s, pad_, a, r):
    """Padding of the windowed operation that maps cotangents of the `m` windows back to the
    `n` operand elements: windows become taps and taps windows (strides trade places with
    the operand dilation), so a tap reading element i of window y reads it again."""
    lo = dilate(k, r) - 1 - pad_[0]
    return lo, dilate(n, a) + dilate(k, r) - 1 - dilate(m, s) - lo


def check_window(name, sizes, windows, strides, padding, base_dilation, window_dilation,
                 empty_windows=True):
    """Raise a TypeError saying what is wrong with a windowed operation's parameters.
    (A convolution's transpose can have windows of no taps; a reduce_window cannot.)"""
    nd = len(sizes)
    for label, values in [("window sizes", windows), ("strides", strides),
                          ("padding", padding), ("base dilation", base_dilation),
                          ("window dilation", window_dilation)]:
        if len(values) != nd:
            raise TypeError(f"{name}: {label} {values} need one entry per windowed dimension "
                            f"({nd})")
    for label, values in [("strides", strides), ("base dilation", base_dilation),
                          ("window dilation", window_dilation)]:
        if any(v < 1 for v in values):
            raise TypeError(f"{name}: {label} must be positive, got {values}")
    if not empty_windows and any(k < 1 for k in windows):
        raise TypeError(f"{name}: window dimensions must be positive, got {tuple(windows)}")
    for n, p, a in zip(sizes, padding, base_dilation):
        if p[0] + dilate(n, a) + p[1] < 0:
            raise TypeError(f"{name}: negative padding {tuple(padding)} crops more than the "
                            f"dimensions {tuple(sizes)} hold")


def _numeric(name, *avals):
    for aval in avals:
        if aval.dtype == np.bool_ or aval.dtype.kind not in "iuf" or aval.dtype == np.float16:
            raise TypeError(f"{name} needs float32, float64 or integer operands, got {aval}; "
                            "convert with .astype")


def _gather_windows(x, tables, fill):
    """x (N, S1..Sd, C) -> (N, Y1..Yd, K1..Kd, C): every window's taps, `fill` where a tap
    reads padding or a hole."""
    x = np.asarray(x)
    nd = len(tables)
    for d, table in enumerate(tables):
        axis = 1 + 2 * d
        edge = list(x.shape)
        edge[axis] = 1
        # Index -1 reads the appended fill.
        extended = np.concatenate([x, np.full(edge, fill, x.dtype)], axis)
        x = np.take(extended, table, axis=axis)
    perm = (0, *range(1, 2 * nd, 2), *range(2, 2 * nd + 1, 2), 2 * nd + 1)
    return x.transpose(perm)


def _argsort(seq) -> tuple[int, ...]:
    return tuple(sorted(range(len(seq)), key=seq.__getitem__))


# ----------------------------------------------------------------------------- conv_general_dilated


class ConvDimensionNumbers(NamedTuple):
    """Where each role sits: lhs_spec = (batch, feature, spatial...) dimensions of the input,
    rhs_spec = (out feature, in feature, spatial...) of the kernel, out_spec = (batch, feature,
    spatial...) of the output."""
    lhs_spec: tuple
    rhs_spec: tuple
    out_spec: tuple


conv_general_dilated_p = Primitive("conv_general_dilated")


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count=1, batch_group_count=1):
    """XLA's convolution with every parameter explicit (`xform.lax.conv_general_dilated` is
    the friendly front end): padding as (lo, hi) pairs, dimension numbers as three tuples."""
    specs = ConvDimensionNumbers(*(tuple(int(d) for d in s) for s in dimension_numbers))
    return conv_general_dilated_p.bind1(
        lhs, rhs, window_strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        lhs_dilation=tuple(int(d) for d in lhs_dilation),
        rhs_dilation=tuple(int(d) for d in rhs_dilation), dimension_numbers=specs,
        feature_group_count=int(feature_group_count), batch_group_count=int(batch_group_count))


class _Conv(NamedTuple):
    """The sizes of a convolution in canonical order."""
    n: int          # batch
    c: int          # input features
    o: int          # output features
    i: int          # input features per kernel
    sizes: tuple    # input spatial sizes
    kernel: tuple   # kernel spatial sizes
    out: tuple      # output spatial sizes
    groups: int     # feature or batch groups (at most one kind is > 1)


def _conv_sizes(lhs_shape, rhs_shape, params) -> _Conv:
    lhs_spec, rhs_spec, _ = params["dimension_numbers"]
    sizes = tuple(lhs_shape[d] for d in lhs_spec[2:])
    kernel = tuple(rhs_shape[d] for d in rhs_spec[2:])
    out = tuple(window_count(n, k, s, p, a, r) for n, k, s, p, a, r in zip(
        sizes, kernel, params["window_strides"], params["padding"], params["lhs_dilation"],
        params["rhs_dilation"]))
    return _Conv(lhs_shape[lhs_spec[0]], lhs_shape[lhs_spec[1]], rhs_shape[rhs_spec[0]],
                 rhs_shape[rhs_spec[1]], sizes, kernel, out,
                 max(params["feature_group_count"], params["batch_group_count"]))


def _conv_tables(sizes: _Conv, params) -> list[np.ndarray]:
    return [source_table(n, k, s, p, a, r) for n, k, s, p, a, r in zip(
        sizes.sizes, sizes.kernel, params["window_strides"], params["padding"],
        params["lhs_dilation"], params["rhs_dilation"])]


def _out_layout(out_spec) -> tuple[int, ...]:
    """The permutation taking a canonical (N, Y..., O) output to the out_spec layout."""
    return _argsort((out_spec[0], *out_spec[2:], out_spec[1]))


def _conv_impl(lhs, rhs, **params):
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    sz = _conv_sizes(lhs.shape, rhs.shape, params)
    by_batch, g = params["batch_group_count"] > 1, sz.groups
    x = lhs.transpose((lhs_spec[0], *lhs_spec[2:], lhs_spec[1]))          # (N, S..., C)
    w = rhs.transpose((rhs_spec[0], *rhs_spec[2:], rhs_spec[1]))          # (O, K..., I)
    taps = _gather_windows(x, _conv_tables(sz, params), 0)               # (N, Y.., K.., C)
    ny, nk, nb = math.prod(sz.out), math.prod(sz.kernel), sz.n // g if by_batch else sz.n
    if by_batch:
        cols = taps.reshape(g, nb * ny, nk * sz.c)
    else:
        cols = taps.reshape(sz.n, ny, nk, g, sz.c // g).transpose(3, 0, 1, 2, 4)
        cols = cols.reshape(g, sz.n * ny, nk * (sz.c // g))
    kernel = w.reshape(g, sz.o // g, nk * sz.i).transpose(0, 2, 1)
    out = np.matmul(cols, kernel).astype(lhs.dtype, copy=False)          # (G, Nb*Y, Og)
    out = np.moveaxis(out.reshape(g, nb, *sz.out, sz.o // g), 0, -2)
    return [out.reshape(nb, *sz.out, sz.o).transpose(_out_layout(out_spec))]


def _check_specs(lhs, rhs, specs):
    nd = lhs.ndim
    if rhs.ndim != nd or nd < 2:
        raise TypeError(f"conv_general_dilated needs lhs and rhs of equal rank >= 2, got "
                        f"{lhs} and {rhs}")
    if len(specs) != 3 or any(sorted(s) != list(range(nd)) for s in specs):
        raise TypeError(f"conv_general_dilated: dimension numbers {specs} must be three "
                        f"permutations of range({nd})")


def _conv_abstract_eval(lhs, rhs, **params):
    name = "conv_general_dilated"
    _check_specs(lhs, rhs, params["dimension_numbers"])
    _numeric(name, lhs, rhs)
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"{name} needs operands of equal dtype, got {lhs} and {rhs}")
    lhs_spec, rhs_spec, _ = params["dimension_numbers"]
    check_window(name, [lhs.shape[d] for d in lhs_spec[2:]],
                 [rhs.shape[d] for d in rhs_spec[2:]], params["window_strides"],
                 params["padding"], params["lhs_dilation"], params["rhs_dilation"])
    sz = _conv_sizes(lhs.shape, rhs.shape, params)
    fg, bg = params["feature_group_count"], params["batch_group_count"]
    if fg < 1 or bg < 1 or (fg > 1 and bg > 1):
        raise TypeError(f"{name}: feature_group_count ({fg}) and batch_group_count ({bg}) "
                        "must be positive, and at most one of them above 1")
    if sz.c != sz.i * fg or sz.o % fg:
        raise TypeError(f"{name}: with feature_group_count={fg}, the input features ({sz.c}) "
                        f"must be {fg} x the kernel's input features ({sz.i}) and the output "
                        f"features ({sz.o}) a multiple of {fg}")
    if sz.n % bg or sz.o % bg:
        raise TypeError(f"{name}: with batch_group_count={bg}, the batch ({sz.n}) and the "
                        f"output features ({sz.o}) must be multiples of {bg}")
    canonical = (sz.n // bg, *sz.out, sz.o)
    shape = tuple(canonical[p] for p in _out_layout(params["dimension_numbers"].out_spec))
    return [ShapedArray(shape, lhs.dtype)]


def _conv_jvp(primals, tangents, **params):
    (x, w), (tx, tw) = primals, tangents
    out = conv_general_dilated_p.bind1(x, w, **params)
    zero = Zero(get_aval(out))
    a = zero if isinstance(tx, Zero) else conv_general_dilated_p.bind1(tx, w, **params)
    b = zero if isinstance(tw, Zero) else conv_general_dilated_p.bind1(x, tw, **params)
    return [out], [add_tangents(a, b)]


def _swap(spec):
    return (spec[1], spec[0], *spec[2:])


def _regroup_kernel(w, rhs_spec, groups):
    """The kernel (O = G*Og, I, K...) in rhs_spec layout as the canonical (G*I, Og, K...)
    kernel of the transposed convolution: group g maps its Og outputs back to its I inputs."""
    w = transpose(w, rhs_spec)
    o, i, *kernel = get_aval(w).shape
    w = reshape(w, (groups, o // groups, i, *kernel))
    w = transpose(w, (0, 2, 1, *range(3, 3 + len(kernel))))
    return reshape(w, (groups * i, o // groups, *kernel))


def _conv_transpose_lhs(ct, w, lhs_aval, **params):
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    sz = _conv_sizes(lhs_aval.shape, get_aval(w).shape, params)
    padding = tuple(_transposed_padding(n, k, m, s, p, a, r) for n, k, m, s, p, a, r in zip(
        sz.sizes, sz.kernel, sz.out, params["window_strides"], params["padding"],
        params["lhs_dilation"], params["rhs_dilation"]))
    flipped = rev(w, rhs_spec[2:])
    fg, bg = params["feature_group_count"], params["batch_group_count"]
    conv = {"window_strides": params["lhs_dilation"], "padding": padding,
            "lhs_dilation": params["window_strides"], "rhs_dilation": params["rhs_dilation"]}
    if fg == bg == 1:
        specs = ConvDimensionNumbers(out_spec, _swap(rhs_spec), lhs_spec)
        return conv_general_dilated(ct, flipped, dimension_numbers=specs, **conv)
    kernel = _regroup_kernel(flipped, rhs_spec, sz.groups)
    iota = tuple(range(lhs_aval.ndim))
    if fg > 1:
        specs = ConvDimensionNumbers(out_spec, iota, lhs_spec)
        return conv_general_dilated(ct, kernel, dimension_numbers=specs,
                                    feature_group_count=fg, **conv)
    # Batch groups: group b's outputs come from its slice of the batch, so the transposed
    # convolution (feature-grouped) yields (Nb, B*C) and the batch groups move back into N.
    out = conv_general_dilated(ct, kernel, dimension_numbers=(out_spec, iota, iota),
                               feature_group_count=bg, **conv)
    nb, spatial = sz.n // bg, sz.sizes
    out = reshape(out, (nb, bg, sz.c, *spatial))
    out = transpose(out, (1, 0, *range(2, 3 + len(spatial))))
    return transpose(reshape(out, (sz.n, sz.c, *spatial)), _argsort(lhs_spec))


def _conv_transpose_rhs(ct, x, rhs_aval, **params):
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    sz = _conv_sizes(get_aval(x).shape, rhs_aval.shape, params)
    padding = []
    for n, k, m, s, p, a, r in zip(sz.sizes, sz.kernel, sz.out, params["window_strides"],
                                   params["padding"], params["lhs_dilation"],
                                   params["rhs_dilation"]):
        padding.append((p[0], dilate(k, r) - 1 + dilate(m, s) - p[0] - dilate(n, a)))
    # Batch and feature trade places in the input and in the output; so do the group kinds.
    specs = ConvDimensionNumbers(_swap(lhs_spec), _swap(out_spec), _swap(rhs_spec))
    return conv_general_dilated(
        x, ct, window_strides=params["rhs_dilation"], padding=padding,
        lhs_dilation=params["lhs_dilation"], rhs_dilation=params["window_strides"],
        dimension_numbers=specs, feature_group_count=params["batch_group_count"],
        batch_group_count=params["feature_group_count"])


def _conv_transpose(cts, lhs, rhs, **params):
    (ct,) = cts
    if isinstance(lhs, UndefinedPrimal):
        return [_conv_transpose_lhs(ct, rhs, lhs.aval, **params), None]
    return [None, _conv_transpose_rhs(ct, lhs, rhs.aval, **params)]


def _canonical(x, spec, bdim):
    """x with its batch dimension `bdim` first and the others in `spec` order."""
    return transpose(x, (bdim, *(d + (d >= bdim) for d in spec)))


def _conv_vmap(args, bdims, **params):
    (x, w), (dx, dw) = args, bdims
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    nd = len(lhs_spec)
    iota = tuple(range(nd))
    fg, bg = params["feature_group_count"], params["batch_group_count"]
    xs = get_aval(x).shape
    ws = get_aval(w).shape
    lhs_shape = xs if dx is None else xs[:dx] + xs[dx + 1:]
    rhs_shape = ws if dw is None else ws[:dw] + ws[dw + 1:]
    sz = _conv_sizes(lhs_shape, rhs_shape, params)
    v = xs[dx] if dx is not None else ws[dw]
    rest = tuple(range(3, nd + 1))
    if dw is None:
        # Members join the batch, inside each batch group: (B, V, Nb).
        x = _canonical(x, lhs_spec, dx)                                   # (V, N, C, S..)
        nb = sz.n // bg
        x = reshape(x, (v, bg, nb, *get_aval(x).shape[2:]))
        x = transpose(x, (1, 0, *range(2, nd + 2)))
        x = reshape(x, (v * sz.n, *get_aval(x).shape[3:]))
        specs = ConvDimensionNumbers(iota, rhs_spec, iota)
        out = conv_general_dilated_p.bind1(x, w, **dict(params, dimension_numbers=specs))
        out = reshape(out, (v, nb, sz.o, *sz.out))
    elif dx is None:
        # Members join the output features, inside each group: (G, V, Og).
        w = _canonical(w, rhs_spec, dw)                                   # (V, O, I, K..)
        og = sz.o // sz.groups
        w = reshape(w, (v, sz.groups, og, *get_aval(w).shape[2:]))
        w = transpose(w, (1, 0, *range(2, nd + 2)))
        w = reshape(w, (v * sz.o, *get_aval(w).shape[3:]))
        specs = ConvDimensionNumbers(lhs_spec, iota, iota)
        out = conv_general_dilated_p.bind1(x, w, **dict(params, dimension_numbers=specs))
        n_out = get_aval(out).shape[0]
        out = reshape(out, (n_out, sz.groups, v, og, *sz.out))
        out = transpose(out, (2, 0, 1, 3, *range(4, nd + 2)))
        out = reshape(out, (v, n_out, sz.o, *sz.out))
    else:
        # Each member is a group of its own: (V, G) feature groups or (V, B) batch groups.
        x = _canonical(x, lhs_spec, dx)
        w = reshape(_canonical(w, rhs_spec, dw), (v * sz.o, sz.i, *sz.kernel))
        if bg > 1:
            x = reshape(x, (v * sz.n, sz.c, *sz.sizes))
            groups = {"feature_group_count": 1, "batch_group_count": v * bg}
        else:
            x = reshape(transpose(x, (1, 0, 2, *rest)), (sz.n, v * sz.c, *sz.sizes))
            groups = {"feature_group_count": v * fg, "batch_group_count": 1}
        specs = ConvDimensionNumbers(iota, iota, iota)
        out = conv_general_dilated_p.bind1(x, w, **dict(params, dimension_numbers=specs,
                                                        **groups))
        n_out = get_aval(out).shape[0]
        out = transpose(reshape(out, (n_out, v, sz.o, *sz.out)), (1, 0, 2, *rest))
    # out is (V, N', O, Y..): put N', O, Y.. where out_spec wants them.
    return [transpose(out, (0, *(1 + p for p in _argsort(out_spec))))], [0]


conv_general_dilated_p.impl = _conv_impl
conv_general_dilated_p.abstract_eval = _conv_abstract_eval
conv_general_dilated_p.jvp = _conv_jvp
conv_general_dilated_p.transpose = _conv_transpose
conv_general_dilated_p.vmap = _conv_vmap

# ----------------------------------------------------------------------------- reduce_window

_WINDOW_PARAMS = ("window_dimensions", "window_strides", "padding", "base_dilation",
                  "window_dilation")


def identity(kind: str, dtype):
    """The identity of a windowed reduction: what padding and holes hold."""
    dtype = np.dtype(dtype)
    if kind == "sum":
        return dtype.type(0)
    if dtype.kind == "f":
        return dtype.type(-np.inf if kind == "max" else np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.min if kind == "max" else info.max)


def _windowed_axes(params) -> list[int]:
    """The dimensions a windowed reduction changes (the others pass through)."""
    return [d for d, (k, s, p, a) in enumerate(zip(
        params["window_dimensions"], params["window_strides"], params["padding"],
        params["base_dilation"])) if (k, s, tuple(p), a) != (1, 1, (0, 0), 1)]


def _axis_params(params, axis: int) -> dict:
    """The windowed reduction along `axis` alone (the reduction is separable)."""
    def only(name, trivial):
        return tuple(v if d == axis else trivial for d, v in enumerate(params[name]))
    return {"window_dimensions": only("window_dimensions", 1),
            "window_strides": only("window_strides", 1),
            "padding": tuple(tuple(p) if d == axis else (0, 0)
                             for d, p in enumerate(params["padding"])),
            "base_dilation": only("base_dilation", 1),
            "window_dilation": only("window_dilation", 1)}


def _window_geometry(params, axis):
    return (params["window_dimensions"][axis], params["window_strides"][axis],
            params["padding"][axis], params["base_dilation"][axis],
            params["window_dilation"][axis])


_COMBINE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


def _reduce_window_impl(kind):
    def impl(x, **params):
        x = np.asarray(x)
        init = identity(kind, x.dtype)
        for axis in _windowed_axes(params):
            k, s, p, a, r = _window_geometry(params, axis)
            edge = list(x.shape)
            edge[axis] = 1
            extended = np.concatenate([x, np.full(edge, init, x.dtype)], axis)
            taps = np.take(extended, source_table(x.shape[axis], k, s, p, a, r), axis=axis)
            # Tap by tap, in the order of the Numba kernel, so that both round alike.
            acc = np.full(np.delete(taps.shape, axis + 1), init, x.dtype)
            for j in range(k):
                acc = _COMBINE[kind](acc, np.take(taps, j, axis=axis + 1))
            x = acc
        return [x]
    return impl


def _reduce_window_abstract_eval(kind):
    name = f"reduce_window_{kind}"

    def abstract_eval(x, **params):
        _numeric(name, x)
        windows = params["window_dimensions"]
        check_window(name, x.shape, windows, params["window_strides"], params["padding"],
                     params["base_dilation"], params["window_dilation"], empty_windows=False)
        return [ShapedArray(tuple(window_count(n, *_window_geometry(params, d))
                                  for d, n in enumerate(x.shape)), x.dtype)]
    return abstract_eval


def _reduce_window_vmap(p):
    def rule(args, bdims, **params):
        (x,), (d,) = args, bdims

        def insert(name, trivial):
            values = list(params[name])
            values.insert(d, trivial)
            return tuple(values)
        trivial = {"window_dimensions": 1, "window_strides": 1, "padding": (0, 0),
                   "base_dilation": 1, "window_dilation": 1}
        return [p.bind1(x, **{n: insert(n, trivial[n]) for n in _WINDOW_PARAMS})], [d]
    return rule


def _reducer(kind: str) -> Primitive:
    p = Primitive(f"reduce_window_{kind}")
    p.impl = _reduce_window_impl(kind)
    p.abstract_eval = _reduce_window_abstract_eval(kind)
    p.vmap = _reduce_window_vmap(p)
    return p


reduce_window_sum_p = _reducer("sum")
reduce_window_max_p = _reducer("max")
reduce_window_min_p = _reducer("min")
REDUCE_WINDOW = {"sum": reduce_window_sum_p, "max": reduce_window_max_p,
                 "min": reduce_window_min_p}


def _reduce_window_sum_jvp(primals, tangents, **params):
    (x,), (t,) = primals, tangents
    out = reduce_window_sum_p.bind1(x, **params)
    if isinstance(t, Zero):
        return [out], [Zero(get_aval(out))]
    return [out], [reduce_window_sum_p.bind1(t, **params)]


def _reduce_window_sum_transpose(cts, x, **params):
    (ct,) = cts
    shape, out = x.aval.shape, get_aval(ct).shape
    padding = tuple(_transposed_padding(n, k, m, s, p, a, r) for n, m, (k, s, p, a, r) in zip(
        shape, out, (_window_geometry(params, d) for d in range(len(shape)))))
    return [reduce_window_sum_p.bind1(
        ct, window_dimensions=params["window_dimensions"],
        window_strides=params["base_dilation"], padding=padding,
        base_dilation=params["window_strides"], window_dilation=params["window_dilation"])]


def _extremum_jvp(kind):
    p = REDUCE_WINDOW[kind]

    def jvp(primals, tangents, **params):
        (x,), (t,) = primals, tangents
        axes = _windowed_axes(params)
        if isinstance(t, Zero) or not axes:
            out = p.bind1(x, **params)
            return [out], [Zero(get_aval(out)) if isinstance(t, Zero) else t]
        # Axis by axis (a windowed max is separable): each pass picks its windows' tangents.
        for axis in axes:
            out = p.bind1(x, **_axis_params(params, axis))
            t = window_select_gather_p.bind1(t, x, **_selection(kind, params, axis))
            x = out
        return [x], [t]
    return jvp


reduce_window_sum_p.jvp = _reduce_window_sum_jvp
reduce_window_sum_p.transpose = _reduce_window_sum_transpose
reduce_window_max_p.jvp = _extremum_jvp("max")
reduce_window_min_p.jvp = _extremum_jvp("min")

# ----------------------------------------------------------------------------- window selection
#
# The tangent of a windowed max (min) along one axis is, in each window, the tangent of the tap
# holding the window's value: the first such tap (NaN counts as the largest), among the taps
# that read the operand (a window of padding only selects nothing, 0). window_select_gather
# picks those tangents, window_select_scatter adds cotangents back to the selected elements;
# each is linear in its first operand and the other's transpose, and the selection itself
# (the second operand) has no derivative.

window_select_gather_p = Primitive("window_select_gather")
window_select_scatter_p = Primitive("window_select_scatter")


def _selection(kind, params, axis) -> dict:
    k, s, p, a, r = _window_geometry(params, axis)
    return {"kind": kind, "axis": axis, "window": k, "stride": s, "padding": tuple(p),
            "base_dilation": a, "window_dilation": r}


def _selected(x, kind, axis, window, stride, padding, base_dilation, window_dilation):
    """For x with `axis` moved last: the operand index each window selects along it and
    whether it selects any, both of shape (..., windows)."""
    x = np.moveaxis(np.asarray(x), axis, -1)
    table = source_table(x.shape[-1], window, stride, padding, base_dilation, window_dilation)
    taps = np.take(x, np.maximum(table, 0), axis=-1) if x.shape[-1] else \
        np.zeros((*x.shape[:-1], *table.shape), x.dtype)
    valid = np.broadcast_to(table >= 0, taps.shape)
    fill = identity(kind, x.dtype)
    numbers = valid & ~np.isnan(taps) if x.dtype.kind == "f" else valid
    extreme = (np.max if kind == "max" else np.min)(np.where(numbers, taps, fill), -1,
                                                    initial=fill)
    match = numbers & (taps == extreme[..., None])
    first, found = np.argmax(match, -1), match.any(-1)
    if x.dtype.kind == "f":
        nan = valid & np.isnan(taps)
        first = np.where(nan.any(-1), np.argmax(nan, -1), first)
        found |= nan.any(-1)
    chosen = np.take_along_axis(np.broadcast_to(table, taps.shape), first[..., None], -1)
    return chosen[..., 0], found


def _window_select_gather_impl(t, x, **params):
    t = np.moveaxis(np.asarray(t), params["axis"], -1)
    chosen, found = _selected(x, **params)
    out = np.where(found, np.take_along_axis(t, np.maximum(chosen, 0), -1) if t.shape[-1]
                   else 0, 0).astype(t.dtype, copy=False)
    return [np.moveaxis(out, -1, params["axis"])]


def _window_select_scatter_impl(ct, x, **params):
    axis = params["axis"]
    ct = np.moveaxis(np.asarray(ct), axis, -1)
    chosen, found = _selected(x, **params)
    moved = np.moveaxis(np.asarray(x), axis, -1)
    out = np.zeros(moved.shape, ct.dtype).reshape(-1, moved.shape[-1])
    rows = np.broadcast_to(np.arange(out.shape[0]).reshape(*ct.shape[:-1], 1), ct.shape)
    np.add.at(out, (rows[found], chosen[found]), ct[found])
    return [np.moveaxis(out.reshape(moved.shape), -1, axis)]


def _selection_aval(name, t, x, params, out_shape):
    _numeric(name, t, x)
    if t.dtype != x.dtype:
        raise TypeError(f"{name} needs operands of equal dtype, got {t} and {x}")
    axis = params["axis"]
    check_window(name, [x.shape[axis]], [params["window"]], [params["stride"]],
                 [params["padding"]], [params["base_dilation"]], [params["window_dilation"]],
                 empty_windows=False)
    m = window_count(x.shape[axis], params["window"], params["stride"], params["padding"],
                     params["base_dilation"], params["window_dilation"])
    windows = tuple(m if d == axis else n for d, n in enumerate(x.shape))
    if t.shape != out_shape(windows, x.shape):
        raise TypeError(f"{name}: operand {t} does not fit the windows of {x}")
    return ShapedArray(out_shape(x.shape, windows), t.dtype)


def _selection_jvp(p):
    def jvp(primals, tangents, **params):
        (t, x), (dt, _) = primals, tangents
        out = p.bind1(t, x, **params)
        # Linear in its first operand; the selection is piecewise constant in x.
        return [out], [Zero(get_aval(out)) if isinstance(dt, Zero) else p.bind1(dt, x, **params)]
    return jvp


def _selection_transpose(other):
    def transpose(cts, t, x, **params):
        if isinstance(x, UndefinedPrimal):
            raise NotImplementedError("window selections are not linear in the selecting "
                                      "operand")
        return [other.bind1(cts[0], x, **params), None]
    return transpose


def _selection_vmap(p):
    def vmap(args, bdims, **params):
        size = next(get_aval(a).shape[d] for a, d in zip(args, bdims) if d is not None)
        aligned = []
        for a, d in zip(args, bdims):
            if d is None:
                shape = get_aval(a).shape
                aligned.append(broadcast_in_dim(a, (size, *shape), tuple(range(1, len(shape)
                                                                               + 1))))
            else:
                aligned.append(moveaxis(a, d, 0))
        return [p.bind1(*aligned, **dict(params, axis=params["axis"] + 1))], [0]
    return vmap


window_select_gather_p.impl = _window_select_gather_impl
window_select_gather_p.abstract_eval = lambda t, x, **params: [_selection_aval(
    "window_select_gather", t, x, params, lambda operand, windows: windows)]
window_select_scatter_p.impl = _window_select_scatter_impl
window_select_scatter_p.abstract_eval = lambda ct, x, **params: [_selection_aval(
    "window_select_scatter", ct, x, params, lambda operand, windows: operand)]
window_select_gather_p.jvp = _selection_jvp(window_select_gather_p)
window_select_scatter_p.jvp = _selection_jvp(window_select_scatter_p)
window_select_gather_p.transpose = _selection_transpose(window_select_scatter_p)
window_select_scatter_p.transpose = _selection_transpose(window_select_gather_p)
window_select_gather_p.vmap = _selection_vmap(window_select_gather_p)
window_select_scatter_p.vmap = _selection_vmap(window_select_scatter_p)

# ----------------------------------------------------------------------------- Numba lowerings


def _unit_table():
    return np.zeros((1, 1), np.int64)


def _canonical_tables(tables, sizes):
    """Three tables (and spatial sizes) for the kernels' three spatial dimensions: unit ones
    fill in for fewer (in front: the kernel copies runs along the last); more are flattened
    into one."""
    if len(tables) <= 3:
        pad_ = 3 - len(tables)
        return [_unit_table()] * pad_ + list(tables), [1] * pad_ + list(sizes)
    flat = np.zeros((1, 1), np.int64)
    flat_size = 1
    for table, n in zip(tables, sizes):
        valid = (flat[:, None, :, None] >= 0) & (table[None, :, None, :] >= 0)
        joined = flat[:, None, :, None] * n + table[None, :, None, :]
        m, k = flat.shape[0] * table.shape[0], flat.shape[1] * table.shape[1]
        flat = np.where(valid, joined, -1).reshape(m, k)
        flat_size *= n
    return [_unit_table(), _unit_table(), flat], [1, 1, flat_size]


def _conv_numba(em, ins, outs, **params):
    (x, w), (o,) = ins, outs
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    sz = _conv_sizes(x.aval.shape, w.aval.shape, params)
    tables, sizes = _canonical_tables(_conv_tables(sz, params), sz.sizes)
    names = [em.atom(Literal(t)) for t in tables]
    g, by_batch = sz.groups, params["batch_group_count"] > 1
    nb, og = sz.n // g if by_batch else sz.n, sz.o // g
    rows, cols = nb * math.prod(sz.out), math.prod(sz.kernel) * sz.i
    lhs, kernel = em.fresh("lhs"), em.fresh("kernel")
    em.line(f"{lhs} = {_arranged(em, x.expr, (lhs_spec[0], *lhs_spec[2:], lhs_spec[1]))}"
            f".reshape({(sz.n, *sizes, sz.c)!r})")
    em.line(f"{kernel} = {_arranged(em, w.expr, (rhs_spec[0], *rhs_spec[2:], rhs_spec[1]))}"
            f".reshape({(g, og, cols)!r})")
    dtype = o.aval.dtype
    fn = em.kernels.conv_gemm if dtype.kind == "f" else em.kernels.conv_loops
    grouped = em.alloc((g, rows, og), dtype)
    em.line(f"{fn}({lhs}, {', '.join(names)}, np.bool_({by_batch}), {kernel}, {grouped})")
    canonical = (nb, *sz.out, sz.o)
    if g == 1:
        result = f"{grouped}.reshape({canonical!r})"
    else:
        nd = len(sz.out)
        perm = (*range(1, nd + 2), 0, nd + 2)
        result = (f"{_arranged(em, f'{grouped}.reshape({(g, nb, *sz.out, og)!r})', perm)}"
                  f".reshape({canonical!r})")
    layout = _out_layout(out_spec)
    em.line(f"{o.expr} = " + (result if layout == tuple(range(len(layout))) else
                              _arranged(em, result, layout)))


def _arranged(em, expr: str, perm: tuple | int) -> str:
    """The source of `expr` with its dimensions permuted by `perm` (a tuple, or the rank for
    none) as a contiguous array, through a kernel (see window_kernels.arranged); the
    permutation is typed, not literal, so that one compiled kernel serves each rank."""
    perm = tuple(range(perm)) if isinstance(perm, int) else perm
    return f"{em.kernels.arranged}({expr}, ({''.join(f'np.int64({p}), ' for p in perm)}))"


_KIND_CODE = {"sum": 0, "max": 1, "min": 2}


def _reduce_window_numba(kind):
    def rule(em, ins, outs, **params):
        (x,), (o,) = ins, outs
        shape, current = list(x.aval.shape), None
        dtype = x.aval.dtype
        for axis in _windowed_axes(params):
            k, s, p, a, r = _window_geometry(params, axis)
            outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
            m = window_count(shape[axis], k, s, p, a, r)
            rows = em.fresh("rows")
            source = current or _arranged(em, x.expr, len(shape))  # buffers are contiguous
            em.line(f"{rows} = {source}.reshape({(outer, shape[axis], inner)!r})")
            reduced = em.alloc((outer, m, inner), dtype)
            ints = ", ".join(f"np.int64({v})" for v in (_KIND_CODE[kind], k, s, r, p[0], a))
            em.line(f"{em.kernels.window_reduce}({rows}, {reduced}, {ints}, "
                    f"{scalar_literal(identity(kind, dtype), dtype)})")
            shape[axis], current = m, reduced
        # With no windowed axis the reduction is the identity.
        em.line(f"{o.expr} = {current}.reshape({tuple(shape)!r})" if current else
                f"{o.expr} = {x.expr}")
    return rule


def _selection_numba(scatter):
    def rule(em, ins, outs, *, kind, axis, window, stride, padding, base_dilation,
             window_dilation):
        (values, x), (o,) = ins, outs
        shape = x.aval.shape
        outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
        m = window_count(shape[axis], window, stride, padding, base_dilation, window_dilation)
        rows, vals = em.fresh("rows"), em.fresh("vals")
        em.line(f"{rows} = {_arranged(em, x.expr, len(shape))}"
                f".reshape({(outer, shape[axis], inner)!r})")
        em.line(f"{vals} = {_arranged(em, values.expr, len(shape))}"
                f".reshape({(outer, m if scatter else shape[axis], inner)!r})")
        result = em.alloc((outer, shape[axis] if scatter else m, inner), o.aval.dtype)
        ints = ", ".join(f"np.int64({v})" for v in (window, stride, window_dilation, padding[0],
                                                      base_dilation))
        em.line(f"{em.kernels.window_select}({rows}, {vals}, {result}, np.bool_({kind == 'max'}), "
                f"np.bool_({scatter}), {ints})")
        em.line(f"{o.expr} = {result}.reshape({o.aval.shape!r})")
    return rule


conv_general_dilated_p.numba = _conv_numba
window_select_gather_p.numba = _selection_numba(False)
window_select_scatter_p.numba = _selection_numba(True)
reduce_window_sum_p.numba = _reduce_window_numba("sum")
reduce_window_max_p.numba = _reduce_window_numba("max")
reduce_window_min_p.numba = _reduce_window_numba("min")
