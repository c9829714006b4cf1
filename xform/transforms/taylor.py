"""Taylor mode: push truncated Taylor series through a program, one primitive at a time.

A traced value carries its primal and its Taylor coefficients x_1..x_k stacked in one array of
shape (k, *shape) (x(t) = x_0 + x_1 t + ... + x_k t^k). Stacking keeps the program small: each
rule is a handful of equations whatever the order, and costs O(k^2) per element:

- linear and structural primitives send the stacked terms through the primitive's own `vmap`
  rule (each term goes through the same primitive);
- bilinear ones (mul, dot_general, conv_general_dilated) sum f(a_{j-i}, b_i) over the
  Toeplitz matrix of a's coefficients (Cauchy convolution);
- running and full products (cumprod, reduce_prod) double up: log2(n) products of series;
- linear solves (solve, triangular_solve) solve for one coefficient after another with the
  same matrix (O(k) equations), which det, inv, slogdet and cholesky inherit through their
  jvp rules;
- exp, log, sin/cos, sinh/cosh, powers, division, logistic and tanh solve their ODE-based
  recurrences as one lower-triangular system of size k + 1 per element (forward substitution
  is the recurrence);
- every other primitive (and custom_jvp functions) goes through its jvp rule:
  y' = J(x) x' is a series of order k - 1 computed by Taylor mode at order k - 1, so that
  y_j = [y']_{j-1} / j (correct for any primitive with a jvp rule, polynomial in k);
- cond (and batched_cond, its vmap), while, scan and jitted calls propagate the series through
  the IRs they hold (so a jitted function stays one call, of its Taylor program);
  rematerialised and custom_vjp functions are inlined.

The rules are kept in this module's table keyed by primitive name rather than as a `taylor`
attribute of each primitive: most primitives need no rule of their own (the jvp fallback
covers them), and the rules that exist are shared by families (linear, bilinear, the
triangular recurrences, control flow), which read best side by side.
"""
from __future__ import annotations

import math

import numpy as np

from xform.core import (IR, Interpreter, ShapedArray, Tracer, Var, Zero, concrete_or_none,
                        eval_ir, get_aval, has_effect, is_float_dtype, new_interpreter,
                        trace_closed, typed_key, using)
from xform.primitives import elementwise as ew
from xform.primitives.indexing import gather
from xform.primitives.linalg import dot_general, triangular_solve
from xform.primitives.reductions import reduce_sum
from xform.primitives.structural import (broadcast_in_dim, concatenate, moveaxis, pad, reshape,
                                         rev, slice_, transpose)
from xform.transforms.simplify import simplify


class TaylorTracer(Tracer):
    """A primal value and its Taylor coefficients 1..k stacked along a leading axis."""

    __slots__ = ("aval", "origin", "primal", "series")

    def __init__(self, interp, primal, series, origin=None):
        self.interp = interp
        self.primal = primal
        self.series = series
        self.origin = origin  # which value this one truncates (see TaylorInterpreter.by_jvp)
        self.aval = get_aval(primal)

    def concrete(self):
        p = self.primal
        return p.concrete() if isinstance(p, Tracer) else p


class TaylorInterpreter(Interpreter):
    """Applies Taylor rules of order `order` to operations on its own tracers."""

    def __init__(self, parent, order: int, name: str = "jet", memo: dict | None = None):
        super().__init__(parent)
        self.order = order
        self.name = name
        self.memo = {"alive": []} if memo is None else memo

    def process(self, prim, args, params):
        primals, series, own = [], [], False
        for a in args:
            if isinstance(a, TaylorTracer) and a.interp is self:
                own = True
                primals.append(a.primal)
                series.append(a.series)
            else:
                primals.append(self.lift(a) if isinstance(a, Tracer) else a)
                series.append(None)
        if own and prim.name in _INLINE:
            return prim.inline(*args, **params)
        with using(self.parent):
            if not own:
                return prim.bind(*primals, **params)
            rule = RULES.get(prim.name)
            if rule is None:
                outs, out_series = self.by_jvp(prim, args, primals, series, params)
            else:
                outs, out_series = rule(prim, self.order, primals, series, **params)
        return [o if s is None else TaylorTracer(self, o, s) for o, s in zip(outs, out_series)]

    def by_jvp(self, prim, args, primals, series, params):
        """`_by_jvp`, remembered per (primitive, params, operands, order). Its recursion
        applies a primitive and its derivatives to truncations of the same operands at every
        lower order (lgamma -> digamma -> polygamma ...); the memo, shared by the nested
        interpreters and keyed by the value each operand truncates, computes each once, so
        the cost stays polynomial in the order."""
        self.memo["alive"].append(args)  # the ids below stay unique while the memo lives
        origins = tuple(a.origin if isinstance(a, TaylorTracer) and a.origin is not None
                        else id(a) for a in args)
        params_key = None if has_effect(prim, params) else typed_key(tuple(sorted(params.items())))
        key = None if params_key is None else (prim.name, params_key, origins, self.order)
        hit = self.memo.get(key)
        if hit is None:
            hit = _by_jvp(prim, self.order, primals, series, origins, self.memo, **params)
            if key is not None:
                self.memo[key] = hit
        return hit


def jet_flat(fun, primals: list, series: list, order: int, name: str = "jet"):
    """Run `fun(*flat) -> list` on truncated Taylor series: `series[i]` holds the coefficients
    1..order of input i stacked on a leading axis (None: a constant input). Returns the output
    primals and their stacked coefficients (None where an output is constant)."""
    if order == 0:
        outs = list(fun(*primals))
        return outs, [None] * len(outs)
    with new_interpreter(TaylorInterpreter, order, name) as interp:
        ins = [p if s is None else TaylorTracer(interp, p, s) for p, s in zip(primals, series)]
        outs = fun(*ins)
        pairs = [(o.primal, o.series) if isinstance(o, TaylorTracer) and o.interp is interp
                 else (o, None) for o in outs]
    return [p for p, _ in pairs], [s for _, s in pairs]


# ----------------------------------------------------------------------------- series helpers

def _dtype(x):
    return get_aval(x).dtype


def _shape(x):
    return get_aval(x).shape


def _lead(x, n: int):
    """`x` broadcast to (n, *shape)."""
    shape = _shape(x)
    return broadcast_in_dim(x, (n, *shape), tuple(range(1, len(shape) + 1)))


def _zeros(k: int, aval: ShapedArray):
    return np.zeros((k, *aval.shape), aval.dtype)


def _coeffs(p, s, k: int, shape=None):
    """All k + 1 coefficients (primal first) stacked, broadcast to `shape` if given."""
    aval = get_aval(p)
    shape = aval.shape if shape is None else shape
    if aval.shape != shape:
        p = broadcast_in_dim(p, shape, ())
        if s is not None:
            s = broadcast_in_dim(s, (k, *shape), (0,))
    s = _zeros(k, ShapedArray(shape, aval.dtype)) if s is None else s
    return concatenate([_lead(p, 1), s], 0)


def _column(values, n: int, shape, dtype):
    """A constant of shape (n, *shape) whose row j is values[j]."""
    values = np.asarray(values, dtype).reshape((n,) + (1,) * len(shape))
    return np.ascontiguousarray(np.broadcast_to(values, (n, *shape)))


def _matrix(values, shape, dtype):
    """A constant (n, n, *shape) from an (n, n) matrix."""
    n = len(values)
    values = np.asarray(values, dtype).reshape((n, n) + (1,) * len(shape))
    return np.ascontiguousarray(np.broadcast_to(values, (n, n, *shape)))


def _scaled(F):
    """The coefficients of t x'(t): row j times j."""
    n, *shape = _shape(F)
    return ew.mul(F, _column(np.arange(n), n, shape, _dtype(F)))


def _toeplitz(F, first: int = 0):
    """T[j - first, i] = F[j - i] (zero for i > j), rows j = first..n-1: the matrix of
    multiplication by the series F."""
    n, *shape = _shape(F)
    padded = pad(F, np.zeros((), _dtype(F)), (n - 1,) + (0,) * len(shape), (0,) * (len(shape) + 1))
    j, i = np.meshgrid(np.arange(first, n), np.arange(n), indexing="ij")
    return gather(padded, (n - 1 + j - i)[..., None])


def _solve(A, b):
    """x with A x = b for a lower-triangular A of shape (n, n, *shape), b of shape (n, *shape)."""
    n, *shape = _shape(b)
    nd = len(shape)
    if nd:
        A = transpose(A, (*range(2, nd + 2), 0, 1))
        b = transpose(b, (*range(1, nd + 1), 0))
    x = triangular_solve(A, reshape(b, (*shape, n, 1)), left_side=True, lower=True)
    x = reshape(x, (*shape, n))
    return transpose(x, (nd, *range(nd))) if nd else x


def _first(x0, k: int):
    """The coefficients [x0, 0, ..., 0] of a constant x0."""
    return concatenate([_lead(x0, 1), _zeros(k, get_aval(x0))], 0)


def _tail(F):
    """Coefficients 1.. of stacked coefficients 0.. (drop the primal)."""
    n, *shape = _shape(F)
    return slice_(F, (1,) + (0,) * len(shape), (n, *shape))


def _row(F, j: int):
    _, *shape = _shape(F)
    return reshape(slice_(F, (j,) + (0,) * len(shape), (j + 1, *shape)), tuple(shape))


def _exp_series(F):
    """Coefficients of exp(x(t) - x_0) (so the first is 1): j y_j = sum_i i x_i y_{j-i}."""
    n, *shape = _shape(F)
    dtype = _dtype(F)
    diag = np.diag(np.maximum(np.arange(n), 1))
    A = ew.sub(_matrix(diag, shape, dtype), _toeplitz(_scaled(F)))
    return _solve(A, _column(np.eye(n)[0], n, shape, dtype))


def _times(F, c):
    """Stacked coefficients times a value c of one element's shape."""
    return ew.mul(F, _lead(c, _shape(F)[0]))


def _series_of(prim_value, F):
    """Coefficients 1..k of y_0 times a series F whose first coefficient is 1."""
    return _tail(_times(F, prim_value))


# ----------------------------------------------------------------------------- rules

def _convert(prim, k, primals, series, *, new_dtype):
    (x,), (s,) = primals, series
    out = prim.bind1(x, new_dtype=new_dtype)
    if not (is_float_dtype(new_dtype) and is_float_dtype(_dtype(x))):
        return [out], [None]
    return [out], [prim.bind1(s, new_dtype=new_dtype)]


def _zero_rule(prim, k, primals, series, **params):
    outs = prim.bind(*primals, **params)
    return outs, [None] * len(outs)


def _linear(*positions):
    """A primitive linear in the operands at `positions` (jointly; all of them if none are
    named; the others are data such as indices or predicates): the stacked terms go through
    its vmap rule."""
    def rule(prim, k, primals, series, **params):
        outs = prim.bind(*primals, **params)
        linear_at = range(len(primals)) if not positions else positions
        if all(series[i] is None for i in linear_at):
            return outs, [None] * len(outs)
        args, dims = [], []
        for i, (p, s) in enumerate(zip(primals, series)):
            linear = i in linear_at
            args.append((_zeros(k, get_aval(p)) if s is None else s) if linear else p)
            dims.append(0 if linear else None)
        terms, out_dims = prim.rule("vmap")(args, dims, **params)
        return outs, [moveaxis(t, d, 0) if is_float_dtype(_dtype(o)) else None
                      for o, t, d in zip(outs, terms, out_dims)]
    return rule


def _add(prim, k, primals, series, **params):
    (out,) = prim.bind(*primals, **params)
    sa, sb = series
    if sa is None or sb is None:
        s = sa if sb is None else (sb if prim.name == "add" else ew.neg(sb))
        shape = _shape(out)
        if _shape(s)[1:] != shape:
            s = broadcast_in_dim(s, (k, *shape), (0,))
        return [out], [s]
    return [out], [prim.bind1(*_aligned(sa, sb, k))]


def _aligned(sa, sb, k):
    """Two stacked series of a 0-d and an n-d operand, the 0-d one broadcast."""
    sha, shb = _shape(sa)[1:], _shape(sb)[1:]
    if sha == shb:
        return sa, sb
    if not sha:
        return broadcast_in_dim(sa, (k, *shb), (0,)), sb
    return sa, broadcast_in_dim(sb, (k, *sha), (0,))


def _bilinear(prim, k, primals, series, **params):
    """c_j = sum_i f(a_{j-i}, b_i), all (j, i) pairs in one batched application of f."""
    (a, b), (sa, sb) = primals, series
    outs = prim.bind(a, b, **params)
    if sa is None or sb is None:
        return _linear(0 if sb is None else 1)(prim, k, primals, series, **params)
    n = k + 1
    TA = _toeplitz(_coeffs(a, sa, k), first=1)
    FB = _coeffs(b, sb, k)
    shb = _shape(b)
    BB = broadcast_in_dim(FB, (k, n, *shb), tuple(range(1, len(shb) + 2)))
    TA = reshape(TA, (k * n, *_shape(a)))
    BB = reshape(BB, (k * n, *shb))
    (prods,), (d,) = prim.rule("vmap")([TA, BB], [0, 0], **params)
    prods = moveaxis(prods, d, 0)
    shape = _shape(outs[0])
    return outs, [reduce_sum(reshape(prods, (k, n, *shape)), (1,))]


def _div(prim, k, primals, series, **params):
    (a, b), (sa, sb) = primals, series
    if sb is None:
        return _linear(0)(prim, k, primals, series, **params)
    (out,) = prim.bind(a, b, **params)
    shape = _shape(out)
    FA, FB = _coeffs(a, sa, k, shape), _coeffs(b, sb, k, shape)
    return [out], [_tail(_solve(_toeplitz(FB), FA))]


def _exp_like(scale=1.0, minus_one=False):
    """exp(scale x) (exp, exp2, and expm1 with `minus_one`): exp(scale x_0) times the series of
    exp(scale (x - x_0))."""
    def rule(prim, k, primals, series, **params):
        (x,), (s,) = primals, series
        (out,) = prim.bind(x, **params)
        F = _coeffs(x, s, k)
        if scale != 1.0:
            F = ew.mul(F, np.asarray(scale, _dtype(x)))
        return [out], [_series_of(ew.exp(x) if minus_one else out, _exp_series(F))]
    return rule


def _log_like(shift: float):
    """log(x + shift): with u = t y'(t), x u = t x'(t) is one triangular solve."""
    def rule(prim, k, primals, series, **params):
        (x,), (s,) = primals, series
        (out,) = prim.bind(x, **params)
        F = _coeffs(ew.add(x, shift) if shift else x, s, k)
        n, shape = k + 1, _shape(x)
        u = _solve(_toeplitz(F), _scaled(F))
        inv = _column(np.r_[0.0, 1.0 / np.arange(1, n)], n, shape, _dtype(x))
        return [out], [_tail(ew.mul(u, inv))]
    return rule


def _power_series(x, s, p, k, y0):
    """Coefficients 1..k of x^p for an exponent p without a series: x y' = p x' y, i.e.
    sum_i (i x_{j-i} - p (j-i) x_{j-i}) y_i = 0, with y_0 the primal."""
    n, shape, dtype = k + 1, _shape(y0), _dtype(y0)
    F = _coeffs(x, s, k, shape)
    T, TD = _toeplitz(F), _toeplitz(_scaled(F))
    cols = np.broadcast_to(np.arange(n), (n, n))
    p = p if not _shape(p) else broadcast_in_dim(p, (n, n, *shape), tuple(range(2, 2 + len(shape))))
    A = ew.sub(ew.mul(T, _matrix(cols, shape, dtype)), ew.mul(TD, p))
    A = ew.add(A, _matrix(np.eye(n)[:1].T @ np.eye(n)[:1], shape, dtype))
    return _tail(_solve(A, _first(y0, k)))


def _power(exponent: float):
    def rule(prim, k, primals, series, **params):
        (x,), (s,) = primals, series
        (out,) = prim.bind(x, **params)
        return [out], [_power_series(x, s, np.asarray(exponent, _dtype(x)), k, out)]
    return rule


def _pow(prim, k, primals, series, **params):
    """x ** y: through the jvp rule when y has a series; by products when y is a constant
    small integer (exact where x_0 = 0); else the recurrence of `_power_series`."""
    (x, y), (sx, sy) = primals, series
    if sy is not None:
        return _by_jvp(prim, k, primals, series, **params)
    (out,) = prim.bind(x, y, **params)
    n = concrete_or_none(y)
    if n is not None and np.ndim(n) == 0 and float(n).is_integer() and abs(n) <= 64:
        s = _integer_power_series(x, sx, int(n), k)
        if s is not None and _shape(s)[1:] != _shape(out):
            s = broadcast_in_dim(s, (k, *_shape(out)), (0,))
        return [out], [s]
    return [out], [_power_series(x, sx, y, k, out)]


def _integer_pow(prim, k, primals, series, *, y):
    (x,), (s,) = primals, series
    (out,) = prim.bind(x, y=y)
    return [out], [_integer_power_series(x, s, y, k)]


def _integer_power_series(x, s, y: int, k: int):
    """Coefficients 1..k of x ** y by repeated squaring of the series (None for y = 0)."""
    if y == 0:
        return None
    base, acc, n = (x, s), None, abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else _pair(ew.mul_p, acc, base, k)
        n >>= 1
        if n:
            base = _pair(ew.mul_p, base, base, k)
    if y < 0:
        acc = _pair(ew.div_p, (np.ones((), _dtype(x)), None), acc, k)
    return acc[1]


def _pair(prim, a, b, k):
    """(primal, series) of prim(a, b) for (primal, series) pairs a and b."""
    (out,), (s,) = RULES[prim.name](prim, k, [a[0], b[0]], [a[1], b[1]])
    return out, s


def _running_product(pair, axis: int, k: int):
    """(primal, series) of the running products of a (primal, series) pair along `axis`, by
    doubling (Hillis-Steele): log2(n) products of series, each with the series shifted by
    1, 2, 4, ... places (ones shifted in)."""
    x = pair[0]
    n, nd = _shape(x)[axis], _ndim(x)
    shift = 1
    while shift < n:
        lo, hi = [0] * nd, [0] * nd
        lo[axis], hi[axis] = shift, -shift
        shifted = (pad(pair[0], np.ones((), _dtype(x)), lo, hi),
                   pad(pair[1], np.zeros((), _dtype(x)), [0, *lo], [0, *hi]))
        pair, shift = _pair(ew.mul_p, pair, shifted, k), 2 * shift
    return pair


def _cumprod(prim, k, primals, series, *, axis, reverse):
    (x,), (s,) = primals, series
    (out,) = prim.bind(x, axis=axis, reverse=reverse)
    if reverse:
        x, s = rev(x, (axis,)), rev(s, (axis + 1,))
    s = _running_product((x, s), axis, k)[1]
    return [out], [rev(s, (axis + 1,)) if reverse else s]


def _reduce_prod(prim, k, primals, series, *, axes):
    """The last of the running products over the reduced axes, flattened into one."""
    (x,), (s,) = primals, series
    (out,) = prim.bind(x, axes=axes)
    shape = _shape(x)
    kept = [i for i in range(len(shape)) if i not in axes]
    m, rest = math.prod(shape[a] for a in axes), tuple(shape[i] for i in kept)
    x = reshape(transpose(x, (*axes, *kept)), (m, *rest))
    s = reshape(transpose(s, (0, *(a + 1 for a in axes), *(i + 1 for i in kept))), (k, m, *rest))
    s = _running_product((x, s), 0, k)[1]
    last = slice_(s, (0, m - 1) + (0,) * len(rest), (k, m, *rest))
    return [out], [reshape(last, (k, *rest))]


def _linear_solve(prim, k, primals, series, left_side=True, lower=True, transpose_a=False,
                  unit_diagonal=None):
    """solve and triangular_solve, op(A) X = B (or X op(A) = B): with A's series, order by
    order, op(A_0) X_j = B_j - sum_{i=1}^{j} op(A_i) X_{j-i} (one batched product each)."""
    (a, b), (sa, sb) = primals, series
    params = {} if unit_diagonal is None else {
        "left_side": left_side, "lower": lower, "transpose_a": transpose_a,
        "unit_diagonal": unit_diagonal}
    if sa is None:
        return _linear(1)(prim, k, primals, series, **params)
    (out,) = prim.bind(a, b, **params)
    *batch, n, _ = _shape(a)
    nb = len(batch)
    if unit_diagonal is not None:  # only one triangle of A is read
        tri = np.tril(np.ones((n, n)), -1 if unit_diagonal else 0)
        mask = np.broadcast_to(tri if lower else tri.T, (k, *batch, n, n))
        sa = ew.mul(sa, np.ascontiguousarray(mask, _dtype(a)))
    a_dim = nb + 2 if left_side != transpose_a else nb + 1
    x_dim = nb + 1 if left_side else nb + 2
    dims = tuple(range(nb + 1))
    xs, stacked = [], _lead(out, 1)
    for j in range(1, k + 1):
        aj = slice_(sa, (0,) * (nb + 3), (j, *batch, n, n))
        if left_side:
            prod = dot_general(aj, stacked, ((a_dim,), (x_dim,)), (dims, dims))
        else:
            prod = dot_general(stacked, aj, ((x_dim,), (a_dim,)), (dims, dims))
        prod = reduce_sum(prod, (0,))
        rhs = ew.neg(prod) if sb is None else ew.sub(_row(sb, j - 1), prod)
        xj = prim.bind1(a, rhs, **params)
        xs.append(_lead(xj, 1))
        stacked = concatenate([xs[-1], stacked], 0)
    return [out], [concatenate(xs, 0)]


def _coupled(sign: float, cos_fn, sin_fn, pick: int):
    """sin/cos (sign -1) and sinh/cosh (sign +1): c' = sign x' s, s' = x' c, solved together
    as one block lower-triangular system over the interleaved unknowns (c_j, s_j)."""
    def rule(prim, k, primals, series, **params):
        (x,), (s,) = primals, series
        (out,) = prim.bind(x, **params)
        n, shape, dtype = k + 1, _shape(x), _dtype(x)
        T = _toeplitz(_scaled(_coeffs(x, s, k)))
        nd = len(shape)
        T4 = broadcast_in_dim(T, (n, 2, n, 2, *shape), (0, 2, *range(4, 4 + nd)))
        K = np.array([[0.0, -sign], [-1.0, 0.0]])
        K4 = np.broadcast_to(K.reshape((1, 2, 1, 2) + (1,) * nd), (n, 2, n, 2, *shape))
        D = np.kron(np.diag(np.maximum(np.arange(n), 1)), np.eye(2))
        A = ew.add(reshape(ew.mul(T4, np.ascontiguousarray(K4, dtype)), (2 * n, 2 * n, *shape)),
                   _matrix(D, shape, dtype))
        c0, s0 = _lead(cos_fn(x), 1), _lead(sin_fn(x), 1)
        b = concatenate([c0, s0, _zeros(2 * k, get_aval(x))], 0)
        cs = reshape(_solve(A, b), (n, 2, *shape))
        part = slice_(cs, (1, pick) + (0,) * nd, (n, pick + 1, *shape))
        return [out], [reshape(part, (k, *shape))]
    return rule


def _sigmoid_series(x, F, k):
    """Coefficients 1..k of logistic(x(t)) = s_0 / (s_0 + (1 - s_0) exp(-(x(t) - x_0))),
    written with s_0 = logistic(x_0) and 1 - s_0 = logistic(-x_0) so that nothing
    overflows."""
    n, shape, dtype = k + 1, _shape(x), _dtype(x)
    s0, q = ew.logistic_p.bind1(x), ew.logistic_p.bind1(ew.neg(x))
    Z = _exp_series(ew.neg(F))
    den = concatenate([np.ones((1, *shape), dtype), _times(_tail(Z), q)], 0)
    return _tail(_times(_solve(_toeplitz(den), _column(np.eye(n)[0], n, shape, dtype)), s0))


def _logistic(prim, k, primals, series, **params):
    (x,), (s,) = primals, series
    (out,) = prim.bind(x, **params)
    return [out], [_sigmoid_series(x, _coeffs(x, s, k), k)]


def _tanh(prim, k, primals, series, **params):
    """tanh(x) = 2 logistic(2x) - 1."""
    (x,), (s,) = primals, series
    (out,) = prim.bind(x, **params)
    two = np.asarray(2, _dtype(x))
    x2 = ew.mul(x, two)
    return [out], [ew.mul(_sigmoid_series(x2, ew.mul(_coeffs(x, s, k), two), k), two)]


def _by_jvp(prim, k, primals, series, origins=None, memo=None, **params):
    """Any primitive through its jvp rule: y'(t) = J(x(t)) x'(t) to order k - 1 by Taylor mode
    of order k - 1, then y_j = [y']_{j-1} / j. The truncated operands x(t) remember the
    `origins` of the operands they truncate (see `TaylorInterpreter.by_jvp`)."""
    lower = k - 1
    if lower == 0:
        ts = [Zero(get_aval(p)) if s is None else _row(s, 0) for p, s in zip(primals, series)]
        outs, t_outs = prim.rule("jvp")(list(primals), ts, **params)
        return outs, [None if isinstance(t, Zero) or not is_float_dtype(_dtype(o))
                      else _coeffs(t, None, 0, _shape(o)) for o, t in zip(outs, t_outs)]
    origins = origins or (None,) * len(primals)
    with new_interpreter(TaylorInterpreter, lower, "jet", memo) as sub:
        xs, ts = [], []
        for p, s, origin in zip(primals, series, origins):
            if s is None:
                xs.append(p)
                ts.append(Zero(get_aval(p)))
                continue
            xs.append(TaylorTracer(sub, p, slice_(s, (0,) * _ndim(s), (lower, *_shape(p))),
                                   origin))
            dx = ew.mul(_tail(s), _column(np.arange(2, k + 1), lower, _shape(p), _dtype(p)))
            ts.append(TaylorTracer(sub, _row(s, 0), dx))
        outs, t_outs = prim.rule("jvp")(xs, ts, **params)
        pairs = [_split(sub, o) for o in outs]
        t_pairs = [None if isinstance(t, Zero) else _split(sub, t) for t in t_outs]
    series_out = []
    for (o, _), tp in zip(pairs, t_pairs):
        if tp is None or not is_float_dtype(_dtype(o)):
            series_out.append(None)
            continue
        inv = _column(1.0 / np.arange(1, k + 1), k, _shape(o), _dtype(o))
        series_out.append(ew.mul(_coeffs(tp[0], tp[1], lower, _shape(o)), inv))
    return [p for p, _ in pairs], series_out


def _ndim(x):
    return len(_shape(x))


def _split(interp, x):
    """(primal, series) of a value the interpreter `interp` may own."""
    if isinstance(x, TaylorTracer) and x.interp is interp:
        return x.primal, x.series
    return x, None


# ----------------------------------------------------------------------------- control flow

def jet_ir(ir: IR, order: int, active: tuple):
    """The IR (*inputs, *series of the active inputs) -> (*outputs, *series of the float
    outputs, zeros as arrays), memoised on `ir`."""
    key = ("jet", order, active)
    hit = ir.derived.get(key)
    if hit is not None:
        return hit
    n = len(ir.in_vars)
    float_out = [is_float_dtype(a.dtype) for a in ir.out_avals]

    def fn(*args):
        it = iter(args[n:])
        ss = [next(it) if a else None for a in active]
        outs, s_outs = jet_flat(lambda *a: eval_ir(ir, list(a)), list(args[:n]), ss, order)
        filled = [_zeros(order, a) if s is None else s
                  for s, a, f in zip(s_outs, ir.out_avals, float_out) if f]
        return [*outs, *filled]
    s_avals = [ShapedArray((order, *a.shape), a.dtype) for a, act in zip(ir.in_avals, active)
               if act]
    closed, _ = trace_closed(fn, [*ir.in_avals, *s_avals], "jet")
    ir.derived[key] = simplify(closed)
    return ir.derived[key]


def _active(primals, series):
    return tuple(s is not None and is_float_dtype(_dtype(p)) for p, s in zip(primals, series))


def _unpack_outs(outs, n_out, avals):
    it = iter(outs[n_out:])
    return outs[:n_out], [next(it) if is_float_dtype(a.dtype) else None for a in avals]


def _cond(prim, k, primals, series, *, branches):
    ops, s_ops = primals[1:], series[1:]
    active = _active(ops, s_ops)
    new = tuple(jet_ir(b, k, active) for b in branches)
    outs = prim.bind(primals[0], *ops, *(s for s, a in zip(s_ops, active) if a),
                     branches=new)
    return _unpack_outs(outs, len(branches[0].outs), branches[0].out_avals)


def _batched_cond(prim, k, primals, series, *, branches, batched, summed):
    """As `_cond`, each example's series riding with it: a batched operand's series (k, B, ...)
    enters as (B, k, ...), and the stacked outputs' series leave as (k, B, ...) (a summed
    output's series is summed too)."""
    ops, s_ops = primals[1:], series[1:]
    active = _active(ops, s_ops)
    new = tuple(jet_ir(b, k, active) for b in branches)
    s_in = [moveaxis(s, 0, 1) if b else s for s, a, b in zip(s_ops, active, batched) if a]
    avals = branches[0].out_avals
    s_summed = tuple(s for s, a in zip(summed, avals) if is_float_dtype(a.dtype))
    outs = prim.bind(primals[0], *ops, *s_in, branches=new,
                     batched=batched + tuple(b for a, b in zip(active, batched) if a),
                     summed=summed + s_summed)
    outs, s_out = _unpack_outs(outs, len(branches[0].outs), avals)
    return outs, [s if s is None or sm else moveaxis(s, 1, 0) for s, sm in zip(s_out, summed)]


def _call(prim, k, primals, series, *, ir, name, backend):
    active = _active(primals, series)
    outs = prim.bind(*primals, *(s for s, a in zip(series, active) if a),
                     ir=jet_ir(ir, k, active), name=f"jet_{name}", backend=backend)
    return _unpack_outs(outs, len(ir.outs), ir.out_avals)


def _with_inputs(ir: IR, in_avals, positions) -> IR:
    in_vars = [Var(a) for a in in_avals]
    for v, p in zip(ir.in_vars, positions):
        in_vars[p] = v
    return IR(in_vars, ir.eqns, ir.outs)


def _while(prim, k, primals, series, *, cond_ir, body_ir, n_cond_consts, n_body_consts,
           max_steps=None):
    nc, nb = n_cond_consts, n_body_consts
    cc, bc, init = primals[:nc], primals[nc:nc + nb], primals[nc + nb:]
    s_bc, s_init = series[nc:nc + nb], series[nc + nb:]
    a_bc = _active(bc, s_bc)
    a_carry = tuple(is_float_dtype(_dtype(p)) for p in init)
    body = jet_ir(body_ir, k, a_bc + a_carry)
    n_bc, n_k, n_sc = len(bc), len(init), sum(a_bc)
    order = [*range(n_bc), *range(n_bc + n_k, n_bc + n_k + n_sc), *range(n_bc, n_bc + n_k),
             *range(n_bc + n_k + n_sc, len(body.in_vars))]
    body = IR([body.in_vars[i] for i in order], body.eqns, body.outs)
    s_avals = [ShapedArray((k, *_shape(p)), _dtype(p)) for p, a in zip(init, a_carry) if a]
    cond = _with_inputs(cond_ir, [*cond_ir.in_avals, *s_avals], range(len(cond_ir.in_vars)))
    carry_s = [_zeros(k, get_aval(p)) if s is None else s
               for p, s, a in zip(init, s_init, a_carry) if a]
    outs = prim.bind(*cc, *bc, *(s for s, a in zip(s_bc, a_bc) if a), *init, *carry_s,
                     cond_ir=cond, body_ir=body, n_cond_consts=nc, n_body_consts=nb + n_sc)
    return _unpack_outs(outs, n_k, body_ir.out_avals)


def _scan(prim, k, primals, series, *, body_ir, length, reverse, n_consts, n_carry):
    """Series of the xs and ys are stacked (k, length, ...) outside and scanned as
    (length, k, ...)."""
    consts, init, xs = (primals[:n_consts], primals[n_consts:n_consts + n_carry],
                        primals[n_consts + n_carry:])
    s_c, s_init, s_x = (series[:n_consts], series[n_consts:n_consts + n_carry],
                        series[n_consts + n_carry:])
    a_c, a_x = _active(consts, s_c), _active(xs, s_x)
    a_k = tuple(is_float_dtype(_dtype(p)) for p in init)
    body = jet_ir(body_ir, k, a_c + a_k + a_x)
    n_in = len(body_ir.in_vars)
    n_sc, n_sk = sum(a_c), sum(a_k)
    c_idx, k_idx = range(n_consts), range(n_consts, n_consts + n_carry)
    x_idx = range(n_consts + n_carry, n_in)
    sc_idx = range(n_in, n_in + n_sc)
    sk_idx = range(n_in + n_sc, n_in + n_sc + n_sk)
    sx_idx = range(n_in + n_sc + n_sk, len(body.in_vars))
    order = [*c_idx, *sc_idx, *k_idx, *sk_idx, *x_idx, *sx_idx]
    n_y = len(body_ir.outs) - n_carry
    y_float = [is_float_dtype(a.dtype) for a in body_ir.out_avals[n_carry:]]
    outs_order = [*range(n_carry), *range(len(body_ir.outs), len(body_ir.outs) + n_sk),
                  *range(n_carry, n_carry + n_y),
                  *range(len(body_ir.outs) + n_sk, len(body.outs))]
    body = IR([body.in_vars[i] for i in order], body.eqns, [body.outs[i] for i in outs_order])
    sk = [_zeros(k, get_aval(p)) if s is None else s for p, s, a in zip(init, s_init, a_k) if a]
    sx = [moveaxis(s, 0, 1) for s, a in zip(s_x, a_x) if a]
    outs = prim.bind(*consts, *(s for s, a in zip(s_c, a_c) if a), *init, *sk, *xs, *sx,
                     body_ir=body, length=length, reverse=reverse, n_consts=n_consts + n_sc,
                     n_carry=n_carry + n_sk)
    carry, carry_s = outs[:n_carry], iter(outs[n_carry:n_carry + n_sk])
    ys, ys_s = outs[n_carry + n_sk:n_carry + n_sk + n_y], iter(outs[n_carry + n_sk + n_y:])
    out_series = [next(carry_s) if a else None for a in a_k]
    out_series += [moveaxis(next(ys_s), 1, 0) if f else None for f in y_float]
    return [*carry, *ys], out_series


_INLINE = {"remat", "custom_vjp_call"}

_LINEAR = {
    "neg": (0,), "reduce_sum": (0,), "broadcast_in_dim": (0,), "reshape": (0,),
    "transpose": (0,), "rev": (0,), "slice": (0,), "pad": (0, 1), "gather": (0,),
    "scatter_add": (0, 2), "scatter": (0, 2), "select": (1, 2), "cumsum": (0,),
    "reduce_window_sum": (0,),
}

RULES = {
    **{name: _linear(*pos) for name, pos in _LINEAR.items()},
    "concatenate": _linear(),
    "add": _add, "sub": _add,
    "mul": _bilinear, "dot_general": _bilinear, "conv_general_dilated": _bilinear,
    "div": _div, "pow": _pow, "integer_pow": _integer_pow,
    "exp": _exp_like(), "expm1": _exp_like(minus_one=True), "exp2": _exp_like(math.log(2.0)),
    "log": _log_like(0.0), "log1p": _log_like(1.0),
    "sqrt": _power(0.5), "rsqrt": _power(-0.5), "cbrt": _power(1.0 / 3.0),
    "sin": _coupled(-1.0, ew.cos, ew.sin, 1), "cos": _coupled(-1.0, ew.cos, ew.sin, 0),
    "sinh": _coupled(1.0, ew.cosh, ew.sinh, 1), "cosh": _coupled(1.0, ew.cosh, ew.sinh, 0),
    "logistic": _logistic, "tanh": _tanh, "cumprod": _cumprod,
    "reduce_prod": _reduce_prod, "solve": _linear_solve, "triangular_solve": _linear_solve,
    "stop_gradient": _zero_rule,
    "convert_element_type": _convert,
    "cond": _cond, "batched_cond": _batched_cond, "while": _while, "scan": _scan,
    "call": _call,
}
