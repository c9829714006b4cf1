"""Tests for the linear-algebra primitives and xform.numpy.linalg: values, dtypes, derivative
rules (against central differences), transpose rules, batching rules and errors."""
import doctest
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import tree
from xform.core import Literal, UndefinedPrimal, Zero, eval_ir, get_aval
from xform.primitives import linalg as lp
from xform.test_util import check_grads

# ----------------------------------------------------------------------------- inputs

def rng_for(seed=0):
    return np.random.default_rng(seed)


def spd(rng, *shape, dtype=np.float64):
    """A well-conditioned symmetric positive-definite stack: M Mᵀ + n I."""
    n = shape[-1]
    m = rng.standard_normal(shape)
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n)).astype(dtype)


def well_conditioned(rng, *shape, dtype=np.float64):
    """A general square stack close to a scaled identity (far from singular)."""
    n = shape[-1]
    return (rng.standard_normal(shape) + 2 * np.sqrt(n) * np.eye(n)).astype(dtype)


def sym(rng, *shape):
    m = rng.standard_normal(shape)
    return m + np.swapaxes(m, -1, -2)


TOL = {np.float32: {"rtol": 2e-4, "atol": 2e-4}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}


# ----------------------------------------------------------------------------- forward mode
#
# A minimal forward-mode evaluator over an IR, applying each primitive's jvp rule to concrete
# arrays: it exercises the rules independently of xform's jvp transformation.

def _jvp_eval(ir, primals, tangents):
    env = {}

    def read(a):
        return (a.val, Zero(a.aval)) if isinstance(a, Literal) else env[a]

    for v, p, t in zip(ir.in_vars, primals, tangents):
        env[v] = (p, t)
    for eqn in ir.eqns:
        ps, ts = zip(*[read(a) for a in eqn.inputs]) if eqn.inputs else ((), ())
        if all(isinstance(t, Zero) for t in ts):
            outs = eqn.prim.bind(*ps, **eqn.params)
            touts = [Zero(get_aval(o)) for o in outs]
        else:
            outs, touts = eqn.prim.rule("jvp")(list(ps), list(ts), **eqn.params)
        for v, o, t in zip(eqn.outputs, outs, touts):
            env[v] = (o, t)
    outs = [read(a) for a in ir.outs]
    return [o for o, _ in outs], [np.zeros(get_aval(o).shape, get_aval(o).dtype)
                                  if isinstance(t, Zero) else t for o, t in outs]


def rule_jvp(f, primals, tangents):
    """Flat (outputs, output tangents) of `f` via its IR and the primitives' jvp rules."""
    ir = xf.make_ir(f)(*primals)
    return _jvp_eval(ir, list(primals), list(tangents))


def central_difference(f, primals, tangents, eps=1e-6):
    plus = tree.leaves(f(*[p + eps * t for p, t in zip(primals, tangents)]))
    minus = tree.leaves(f(*[p - eps * t for p, t in zip(primals, tangents)]))
    return [(np.asarray(a) - np.asarray(b)) / (2 * eps) for a, b in zip(plus, minus)]


def assert_jvp_matches_fd(f, primals, tangents, rtol=1e-5, atol=1e-6, use_xf=False):
    if use_xf:
        outs, touts = xf.jvp(f, tuple(primals), tuple(tangents))
        outs, touts = tree.leaves(outs), tree.leaves(touts)
    else:
        outs, touts = rule_jvp(f, primals, tangents)
    ref_outs = tree.leaves(f(*primals))
    for o, r in zip(outs, ref_outs):
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-12)
    fd = central_difference(f, primals, tangents)
    assert len(fd) == len(touts)
    for t, r in zip(touts, fd):
        t, r = np.asarray(t), np.asarray(r)
        scale = max(1.0, float(np.max(np.abs(r), initial=0.0)))
        np.testing.assert_allclose(t, r, rtol=rtol, atol=atol * scale)


# ----------------------------------------------------------------------------- function table

def _svd_thin(a):
    return xnp.linalg.svd(a, full_matrices=False)


def _svd_values(a):
    return xnp.linalg.svd(a, compute_uv=False)


# name -> (xnp function, numpy function, input builder(rng, batch, n, dtype))
CASES = {
    "inv": (xnp.linalg.inv, np.linalg.inv, lambda r, b, n, d: (well_conditioned(r, *b, n, n,
                                                                                  dtype=d),)),
    "solve_vec": (xnp.linalg.solve, np.linalg.solve,
                  lambda r, b, n, d: (well_conditioned(r, *b, n, n, dtype=d),
                                      r.standard_normal(n).astype(d))),
    "solve_mat": (xnp.linalg.solve, np.linalg.solve,
                  lambda r, b, n, d: (well_conditioned(r, *b, n, n, dtype=d),
                                      r.standard_normal((*b, n, 2)).astype(d))),
    "det": (xnp.linalg.det, np.linalg.det,
            lambda r, b, n, d: (well_conditioned(r, *b, n, n, dtype=d),)),
    "slogdet": (xnp.linalg.slogdet, np.linalg.slogdet,
                lambda r, b, n, d: (r.standard_normal((*b, n, n)).astype(d),)),
    "cholesky": (xnp.linalg.cholesky, np.linalg.cholesky,
                 lambda r, b, n, d: (spd(r, *b, n, n, dtype=d),)),
    "eigh": (xnp.linalg.eigh, np.linalg.eigh, lambda r, b, n, d: (spd(r, *b, n, n, dtype=d),)),
    "eigvalsh": (lambda a: xnp.linalg.eigvalsh(a, "U"), lambda a: np.linalg.eigvalsh(a, "U"),
                 lambda r, b, n, d: (spd(r, *b, n, n, dtype=d),)),
    "qr_tall": (xnp.linalg.qr, np.linalg.qr,
                lambda r, b, n, d: (r.standard_normal((*b, n + 2, n)).astype(d),)),
    "qr_wide": (xnp.linalg.qr, np.linalg.qr,
                lambda r, b, n, d: (r.standard_normal((*b, n, n + 2)).astype(d),)),
    "svd_tall": (_svd_thin, lambda a: np.linalg.svd(a, full_matrices=False),
                 lambda r, b, n, d: (r.standard_normal((*b, n + 1, n)).astype(d),)),
    "svd_wide": (_svd_thin, lambda a: np.linalg.svd(a, full_matrices=False),
                 lambda r, b, n, d: (r.standard_normal((*b, n, n + 2)).astype(d),)),
    "svd_values": (_svd_values, lambda a: np.linalg.svd(a, compute_uv=False),
                   lambda r, b, n, d: (r.standard_normal((*b, n + 1, n)).astype(d),)),
    "norm": (xnp.linalg.norm, np.linalg.norm,
             lambda r, b, n, d: (r.standard_normal((*b, n, n)).astype(d),)),
}


def _leaves(x):
    return [np.asarray(v) for v in (list(x) if isinstance(x, tuple) else [x])]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_values_plain_and_traced(name, dtype, batch):
    fn, ref_fn, build = CASES[name]
    args = build(rng_for(1), batch, 4, dtype)
    ref = _leaves(ref_fn(*args))
    plain = _leaves(fn(*args))
    ir = xf.make_ir(fn)(*args)
    traced = eval_ir(ir, list(args))
    assert len(plain) == len(traced) == len(ref)
    for p, t, r in zip(plain, traced, ref):
        assert p.shape == t.shape == r.shape
        assert p.dtype == np.asarray(t).dtype == r.dtype == dtype
        np.testing.assert_allclose(p, r, **TOL[dtype])
        np.testing.assert_allclose(t, r, **TOL[dtype])


def test_plain_results_are_wrapped_arrays():
    a = spd(rng_for(2), 3, 3)
    assert isinstance(xnp.linalg.inv(a), xnp.ndarray)
    w, v = xnp.linalg.eigh(a)
    assert isinstance(w, xnp.ndarray) and isinstance(v, xnp.ndarray)
    out = xnp.linalg.eigh(a)
    assert out.eigenvalues is out[0]
    q, r = xnp.linalg.qr(a)
    assert isinstance(q, xnp.ndarray) and isinstance(r, xnp.ndarray)
    u, s, vh = xnp.linalg.svd(a)
    assert all(isinstance(x, xnp.ndarray) for x in (u, s, vh))
    sign, logabsdet = xnp.linalg.slogdet(a)
    assert float(sign) == 1.0
    np.testing.assert_allclose(float(logabsdet), np.log(np.linalg.det(a)))
    assert float(xnp.linalg.det(a)) == pytest.approx(np.linalg.det(a))


def test_integer_inputs_become_float64():
    a = np.array([[4, 2], [2, 5]])
    b = np.array([1, 2])
    for fn, args in [(xnp.linalg.inv, (a,)), (xnp.linalg.solve, (a, b)), (xnp.linalg.det, (a,)),
                     (xnp.linalg.cholesky, (a,)), (xnp.linalg.norm, (a,))]:
        ir = xf.make_ir(fn)(*args)
        assert all(v.aval.dtype == np.float64 for v in ir.outs), fn
        (out,) = eval_ir(ir, list(args))
        np.testing.assert_allclose(out, fn(*args))
    # float32 with an integer operand computes in float64, like numpy
    ir = xf.make_ir(xnp.linalg.solve)(a.astype(np.float32), b)
    assert ir.outs[0].aval.dtype == np.float64


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5),
       batch=st.sampled_from([(), (2,), (1, 3)]))
def test_hypothesis_well_conditioned(seed, n, batch):
    rng = rng_for(seed)
    a = spd(rng, *batch, n, n)
    b = rng.standard_normal((*batch, n, 2))

    def f(a, b):
        x = xnp.linalg.solve(a, b)
        ainv = xnp.linalg.inv(a)
        L = xnp.linalg.cholesky(a)
        w, v = xnp.linalg.eigh(a)
        q, r = xnp.linalg.qr(a)
        u, s, vh = xnp.linalg.svd(a, full_matrices=False)
        return x, ainv, L, w, v, q, r, u, s, vh, xnp.linalg.det(a), xnp.linalg.slogdet(a)[1]

    x, ainv, L, w, v, q, r, u, s, vh, d, logdet = eval_ir(xf.make_ir(f)(a, b), [a, b])
    eye = np.eye(n)
    np.testing.assert_allclose(a @ x, b, atol=1e-8)
    np.testing.assert_allclose(a @ ainv, np.broadcast_to(eye, a.shape), atol=1e-8)
    np.testing.assert_allclose(L @ np.swapaxes(L, -1, -2), a, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(L, np.tril(L))
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), a, atol=1e-8)
    assert np.all(np.diff(w, axis=-1) >= 0)
    np.testing.assert_allclose(q @ r, a, atol=1e-8)
    np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(eye, a.shape),
                               atol=1e-10)
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, a, atol=1e-8)
    np.testing.assert_allclose(d, np.linalg.det(a), rtol=1e-8)
    np.testing.assert_allclose(logdet, np.log(np.linalg.det(a)), rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------- triangular_solve

TRI_PARAMS = [{"left_side": ls, "lower": lo, "transpose_a": tr, "unit_diagonal": un}
              for ls in (True, False) for lo in (True, False)
              for tr in (False, True) for un in (False, True)]


def _tri_operands(rng, p, batch=(2,), n=4, k=3, dtype=np.float64):
    t = np.tril(rng.standard_normal((*batch, n, n))) + 3 * np.eye(n)
    a = t if p["lower"] else np.swapaxes(t, -1, -2)
    # junk in the triangle that must not be read
    a = a + np.where(lp._triangle_mask(n, p["lower"], False), 0, 100.0)
    b = rng.standard_normal((*batch, n, k) if p["left_side"] else (*batch, k, n))
    return a.astype(dtype), b.astype(dtype)


def _tri_reference(a, b, p):
    n = a.shape[-1]
    am = np.where(lp._triangle_mask(n, p["lower"], p["unit_diagonal"]), a, 0)
    if p["unit_diagonal"]:
        am = am + np.eye(n)
    op = np.swapaxes(am, -1, -2) if p["transpose_a"] else am
    if p["left_side"]:
        return np.linalg.solve(op, b)
    return np.swapaxes(np.linalg.solve(np.swapaxes(op, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)


@pytest.mark.parametrize("p", TRI_PARAMS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_triangular_solve_values(p, dtype):
    a, b = _tri_operands(rng_for(3), p, dtype=dtype)
    (x,) = eval_ir(xf.make_ir(lambda a, b: lp.triangular_solve(a, b, **p))(a, b), [a, b])
    assert x.dtype == dtype
    np.testing.assert_allclose(x, _tri_reference(a.astype(np.float64), b, p),
                               **TOL[dtype])


@pytest.mark.parametrize("p", TRI_PARAMS, ids=str)
def test_triangular_solve_jvp(p):
    rng = rng_for(4)
    a, b = _tri_operands(rng, p)
    ta, tb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    f = lambda a, b: lp.triangular_solve(a, b, **p)
    assert_jvp_matches_fd(f, [a, b], [ta, tb])
    assert_jvp_matches_fd(f, [a, b], [ta, np.zeros_like(b)])
    # symbolic zero tangents are respected
    _, (t,) = lp.triangular_solve_p.jvp([a, b], [Zero(get_aval(a)), Zero(get_aval(b))], **p)
    assert isinstance(t, Zero)


def _inner(x, y):
    return float(np.sum(np.asarray(x) * np.asarray(y)))


@pytest.mark.parametrize("p", TRI_PARAMS, ids=str)
def test_triangular_solve_transpose(p):
    rng = rng_for(5)
    a, b = _tri_operands(rng, p)
    v = rng.standard_normal(b.shape)
    ct = rng.standard_normal(b.shape)
    jv = lp.triangular_solve(a, v, **p)
    _, ct_b = lp.triangular_solve_p.transpose([ct], a, UndefinedPrimal(get_aval(b)), **p)
    np.testing.assert_allclose(_inner(ct, jv), _inner(ct_b, v), rtol=1e-10)
    _, z = lp.triangular_solve_p.transpose([Zero(get_aval(b))], a,
                                           UndefinedPrimal(get_aval(b)), **p)
    assert isinstance(z, Zero)
    with pytest.raises(NotImplementedError):
        lp.triangular_solve_p.transpose([ct], UndefinedPrimal(get_aval(a)), b, **p)


def test_solve_transpose():
    rng = rng_for(6)
    a = well_conditioned(rng, 2, 4, 4)
    v, ct = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3))
    _, ct_b = lp.solve_p.transpose([ct], a, UndefinedPrimal(get_aval(v)))
    np.testing.assert_allclose(_inner(ct, lp.solve(a, v)), _inner(ct_b, v), rtol=1e-10)


# ----------------------------------------------------------------------------- jvp rules

def _jvp_cases():
    rng = rng_for(7)
    A = well_conditioned(rng, 2, 4, 4)
    S = spd(rng, 2, 4, 4)
    tall = rng.standard_normal((2, 5, 3))
    wide = rng.standard_normal((2, 3, 5))
    sq = rng.standard_normal((4, 4))
    nonsym = S + np.triu(rng.standard_normal(S.shape), 1)
    return {
        "inv": (xnp.linalg.inv, [A]),
        "solve_vec": (xnp.linalg.solve, [A[0], rng.standard_normal(4)]),
        "solve_mat_bcast": (xnp.linalg.solve, [A, rng.standard_normal((4, 2))]),
        "det": (xnp.linalg.det, [A]),
        "slogdet": (xnp.linalg.slogdet, [rng.standard_normal((2, 4, 4))]),
        "cholesky": (xnp.linalg.cholesky, [S]),
        "cholesky_nonsym_input": (xnp.linalg.cholesky, [nonsym]),
        "cholesky_upper": (lambda a: xnp.linalg.cholesky(a, upper=True), [S]),
        "eigh": (xnp.linalg.eigh, [S]),
        "eigh_nonsym_input": (xnp.linalg.eigh, [nonsym]),
        "eigh_upper": (lambda a: xnp.linalg.eigh(a, UPLO="U"), [S]),
        "qr_tall": (xnp.linalg.qr, [tall]),
        "qr_square": (xnp.linalg.qr, [sq]),
        "qr_wide": (xnp.linalg.qr, [wide]),
        "qr_r": (lambda a: xnp.linalg.qr(a, mode="r"), [tall]),
        "svd_tall": (_svd_thin, [tall]),
        "svd_square": (_svd_thin, [sq]),
        "svd_wide": (_svd_thin, [wide]),
        "svd_values": (_svd_values, [wide]),
        "norm": (xnp.linalg.norm, [tall]),
        "norm_nuc": (lambda a: xnp.linalg.norm(a, "nuc", axis=(1, 2)), [tall]),
        "norm_2": (lambda a: xnp.linalg.norm(a, 2, axis=(2, 1), keepdims=True), [tall]),
        "norm_vec_inf": (lambda a: xnp.linalg.norm(a, np.inf, axis=1), [tall]),
        "norm_vec_3": (lambda a: xnp.linalg.norm(a, 3, axis=-1), [tall]),
        "norm_mat_1": (lambda a: xnp.linalg.norm(a, 1, axis=(1, 2)), [tall]),
        "norm_mat_inf": (lambda a: xnp.linalg.norm(a, -np.inf, axis=(2, 1)), [tall]),
        "tri_inside_chol": (lambda a: lp.triangular_solve(lp.cholesky(a), a, lower=True), [S]),
    }


JVP_CASES = _jvp_cases()


@pytest.mark.parametrize("name", sorted(JVP_CASES))
def test_jvp_rules_match_finite_differences(name):
    f, primals = JVP_CASES[name]
    rng = rng_for(8)
    tangents = [rng.standard_normal(np.shape(p)) for p in primals]
    assert_jvp_matches_fd(f, primals, tangents)


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "qr_tall",
                                  "qr_wide", "svd_tall", "svd_wide", "svd_values"])
def test_second_order_via_traced_jvp_rule(name):
    """The jvp rules are written with xform ops: trace one, then differentiate it again."""
    f, primals = JVP_CASES[name]
    rng = rng_for(9)
    t1 = [rng.standard_normal(np.shape(p)) for p in primals]
    t2 = [rng.standard_normal(np.shape(p)) for p in primals]

    def first(*ps):
        # on tracers the rules record xform ops, so the tangent map is traced and then
        # differentiated again by the rules
        return rule_jvp(f, list(ps), t1)[1]
    assert_jvp_matches_fd(first, primals, t2, rtol=2e-5, atol=2e-6)


def test_float32_jvp_stays_float32():
    rng = rng_for(10)
    S = spd(rng, 3, 3, dtype=np.float32)
    t = sym(rng, 3, 3).astype(np.float32)
    for f in (xnp.linalg.inv, xnp.linalg.det, xnp.linalg.cholesky, xnp.linalg.eigh,
              xnp.linalg.qr, _svd_thin, _svd_values, xnp.linalg.norm,
              lambda a: xnp.linalg.slogdet(a)[1]):
        outs, touts = rule_jvp(f, [S], [t])
        assert all(np.asarray(o).dtype == np.float32 for o in outs + touts), f


def test_norm_gradient_at_zero_is_finite():
    x = np.zeros((3, 2))
    for f in (xnp.linalg.norm, lambda a: xnp.linalg.norm(a, axis=0),
              lambda a: xnp.linalg.norm(a, "fro", axis=(0, 1))):
        _, (t,) = rule_jvp(f, [x], [np.ones_like(x)])
        assert np.all(np.isfinite(t)) and np.all(t == 0)


@pytest.mark.parametrize("ord_axis", [(None, None), (None, 1), (2, 0), (1, 1), (np.inf, 0),
                                      (-np.inf, 1), (0, 1), (3, 0), (-1, 0), ("fro", None),
                                      ("nuc", None), (2, None), (-2, None), (1, None),
                                      (np.inf, None), (-1, (1, 0)), (np.inf, (1, 0))])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.filterwarnings("ignore:divide by zero")
def test_norm_orders(ord_axis, keepdims):
    ord, axis = ord_axis
    x = rng_for(11).standard_normal((4, 3))
    x[0, 0] = 0.0
    ref = np.linalg.norm(x, ord, axis, keepdims)
    f = lambda x: xnp.linalg.norm(x, ord, axis, keepdims)
    (out,) = eval_ir(xf.make_ir(f)(x), [x])
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert np.shape(out) == np.shape(ref)


def test_norm_batched_and_flattened():
    x = rng_for(12).standard_normal((2, 3, 4))
    for kwargs in ({}, {"keepdims": True}, {"axis": (0, 2)}, {"axis": -1, "ord": 1},
                   {"ord": "nuc", "axis": (2, 0)}):
        (out,) = eval_ir(xf.make_ir(lambda x, kw=kwargs: xnp.linalg.norm(x, **kw))(x), [x])
        np.testing.assert_allclose(out, np.linalg.norm(x, **kwargs), rtol=1e-12)


# ----------------------------------------------------------------------------- vmap rules

VMAP_CASES = {
    "cholesky": (lp.cholesky_p, lambda r: [spd(r, 3, 3, 3)], {}),
    "eigh": (lp.eigh_p, lambda r: [spd(r, 3, 3, 3)], {"lower": True}),
    "eigh_upper": (lp.eigh_p, lambda r: [spd(r, 3, 3, 3)], {"lower": False}),
    "det": (lp.det_p, lambda r: [well_conditioned(r, 3, 3, 3)], {}),
    "slogdet": (lp.slogdet_p, lambda r: [well_conditioned(r, 3, 3, 3)], {}),
    "qr": (lp.qr_p, lambda r: [r.standard_normal((3, 4, 2))], {}),
    "svd": (lp.svd_p, lambda r: [r.standard_normal((3, 2, 4))], {"compute_uv": True}),
    "svd_values": (lp.svd_p, lambda r: [r.standard_normal((3, 2, 4))], {"compute_uv": False}),
    "solve": (lp.solve_p, lambda r: [well_conditioned(r, 3, 3, 3),
                                     r.standard_normal((3, 3, 2))], {}),
    "triangular_solve": (lp.triangular_solve_p,
                         lambda r: [np.tril(well_conditioned(r, 3, 3, 3)),
                                    r.standard_normal((3, 3, 2))],
                         {"left_side": True, "lower": True, "transpose_a": True,
                          "unit_diagonal": False}),
}


@pytest.mark.parametrize("name", sorted(VMAP_CASES))
@pytest.mark.parametrize("bdim", [0, 1, 2])
def test_vmap_rules_against_loop(name, bdim):
    prim, build, params = VMAP_CASES[name]
    args = build(rng_for(13))
    for unbatched in ([None] if len(args) == 1 else [None, 0, 1]):
        # operand `unbatched` is shared by every batch member (bdim None)
        moved = [a[0] if k == unbatched else np.moveaxis(a, 0, bdim) for k, a in enumerate(args)]
        bdims = [None if k == unbatched else bdim for k in range(len(args))]
        loop = [prim.impl(*[a[0] if k == unbatched else a[i] for k, a in enumerate(args)],
                          **params) for i in range(3)]
        outs, out_bdims = prim.vmap(moved, bdims, **params)
        assert len(outs) == len(out_bdims) == len(loop[0])
        for j, (o, d) in enumerate(zip(outs, out_bdims)):
            np.testing.assert_allclose(np.moveaxis(o, d, 0), np.stack([r[j] for r in loop]),
                                       rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("prim,params", [(lp.cholesky_p, {}), (lp.eigh_p, {"lower": True}),
                                         (lp.det_p, {}),
                                         (lp.slogdet_p, {}), (lp.qr_p, {}),
                                         (lp.svd_p, {"compute_uv": True})])
def test_abstract_eval_errors(prim, params):
    with pytest.raises(TypeError, match="float32 or float64"):
        prim.abstract_eval(get_aval(np.eye(3, dtype=np.int64)), **params)
    with pytest.raises(TypeError, match="rank >= 2"):
        prim.abstract_eval(get_aval(np.ones(3)), **params)
    if prim not in (lp.qr_p, lp.svd_p):
        with pytest.raises(TypeError, match="square"):
            prim.abstract_eval(get_aval(np.ones((2, 3))), **params)


def test_solve_abstract_eval_errors():
    with pytest.raises(TypeError, match="square"):
        lp.solve_p.abstract_eval(get_aval(np.ones((2, 3))), get_aval(np.ones((2, 1))))
    with pytest.raises(TypeError, match="solve needs b"):
        lp.solve_p.abstract_eval(get_aval(np.ones((3, 3))), get_aval(np.ones((2, 1))))
    with pytest.raises(TypeError, match="equal dtype"):
        lp.solve_p.abstract_eval(get_aval(np.ones((3, 3))),
                                 get_aval(np.ones((3, 1), np.float32)))
    with pytest.raises(TypeError, match="triangular_solve"):
        lp.triangular_solve_p.abstract_eval(
            get_aval(np.ones((3, 3))), get_aval(np.ones((2, 1))), left_side=True, lower=True,
            transpose_a=False, unit_diagonal=False)


def test_user_errors_on_traced_inputs():
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        xf.make_ir(lambda a: xnp.linalg.svd(a))(np.ones((3, 2)))
    # square matrices: full == thin, so the default works
    xf.make_ir(lambda a: xnp.linalg.svd(a))(np.eye(3))
    with pytest.raises(NotImplementedError, match="mode='reduced'"):
        xf.make_ir(lambda a: xnp.linalg.qr(a, mode="complete"))(np.ones((3, 2)))
    xf.make_ir(lambda a: xnp.linalg.qr(a, mode="complete"))(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        xf.make_ir(xnp.linalg.inv)(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="two-dimensional"):
        xf.make_ir(xnp.linalg.det)(np.ones(3))
    with pytest.raises(ValueError, match="does not match"):
        xf.make_ir(xnp.linalg.solve)(np.eye(3), np.ones(2))
    with pytest.raises(ValueError, match="Invalid norm order"):
        xf.make_ir(lambda x: xnp.linalg.norm(x, "fro", axis=0))(np.ones(3))
    with pytest.raises(ValueError, match="Invalid norm order"):
        xf.make_ir(lambda x: xnp.linalg.norm(x, 3))(np.ones((2, 2)))
    with pytest.raises(NotImplementedError):
        xf.make_ir(xnp.linalg.inv)(np.eye(2, dtype=np.complex128))


def test_doctests():
    import xform.numpy.linalg as mod
    failures, tried = doctest.testmod(mod)
    assert failures == 0 and tried > 0


def test_unsupported_linalg_function_is_named():
    with pytest.raises(NotImplementedError, match="linalg.eig "):
        xnp.linalg.eig(np.eye(2))
    with pytest.raises(AttributeError):
        xnp.linalg.not_a_function  # noqa: B018


# ----------------------------------------------------------------------------- with xf.jvp etc.

@pytest.mark.parametrize("name", sorted(JVP_CASES))
def test_xf_jvp_matches_finite_differences(name):
    f, primals = JVP_CASES[name]
    rng = rng_for(8)
    tangents = [rng.standard_normal(np.shape(p)) for p in primals]
    assert_jvp_matches_fd(f, primals, tangents, use_xf=True)


def _scalarize(f, seed):
    """A scalar function of `f`'s outputs with random weights (for grad checks)."""
    def g(*args):
        outs = tree.leaves(f(*args))
        rng = rng_for(seed)
        total = 0.0
        for o in outs:
            total = total + xnp.sum(o * rng.standard_normal(np.shape(o)))
        return total
    return g


@pytest.mark.parametrize("name", sorted(JVP_CASES))
def test_xf_grad_matches_jvp(name):
    """Reverse mode (transpose rules) against forward mode: <grad, v> = jvp(v)."""
    f, primals = JVP_CASES[name]
    g = _scalarize(f, 14)
    rng = rng_for(15)
    v = [rng.standard_normal(np.shape(p)) for p in primals]
    grads = xf.grad(g, argnums=tuple(range(len(primals))))(*primals)
    _, jv = xf.jvp(g, tuple(primals), tuple(v))
    lhs = sum(_inner(gr, vi) for gr, vi in zip(grads, v))
    np.testing.assert_allclose(lhs, float(jv), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "qr_tall",
                                  "svd_values", "svd_tall", "norm_nuc"])
def test_xf_second_order(name):
    """Hessian-vector product (forward over reverse) against differences of the gradient."""
    f, primals = JVP_CASES[name]
    g = _scalarize(f, 16)
    grad_g = xf.grad(g)
    rng = rng_for(17)
    v = rng.standard_normal(np.shape(primals[0]))
    rest = primals[1:]
    _, hv = xf.jvp(lambda a: grad_g(a, *rest), (primals[0],), (v,))
    eps = 1e-5
    fd = (np.asarray(grad_g(primals[0] + eps * v, *rest))
          - np.asarray(grad_g(primals[0] - eps * v, *rest))) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.max(np.abs(fd))))


def test_xf_grad_of_norm_at_zero():
    g = xf.grad(lambda x: xnp.linalg.norm(x))(np.zeros(3))
    np.testing.assert_array_equal(g, np.zeros(3))


def test_xf_vmap_matches_loop():
    rng = rng_for(18)
    a = spd(rng, 4, 3, 3)
    b = rng.standard_normal((3, 4))
    f = lambda a, b: (xnp.linalg.solve(a, b), xnp.linalg.eigh(a)[0],
                      xnp.linalg.det(a), xnp.linalg.norm(a, axis=0))
    out = xf.vmap(f, in_axes=(0, 1))(a, b)
    for i in range(4):
        ref = f(a[i], b[:, i])
        for o, r in zip(tree.leaves(out), tree.leaves(ref)):
            np.testing.assert_allclose(np.asarray(o)[i], r, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- det at singular A
#
# grad det(A) = adj(A)ᵀ, the cofactor matrix: a polynomial in A, so defined at singular A too
# (nonzero at rank n − 1, zero at rank <= n − 2).

def cofactor_matrix(a):
    """C[i, j] = (−1)^(i+j) det(A without row i and column j), by numpy's det of the minors."""
    n = a.shape[-1]
    if n == 1:
        return np.ones_like(a)
    def minor(i, j):
        return np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
    return np.array([[(-1) ** (i + j) * minor(i, j) for j in range(n)] for i in range(n)])


def _singular_cases():
    rng = rng_for(40)
    b, c = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    return {
        # an exactly zero pivot last, first and in the middle of the LU factorisation
        "rank3_last_pivot": np.array([[1., 2, 3, 4], [2, 4, 6, 8], [0, 1, 0, 0], [0, 0, 1, 0]]),
        "rank3_zero_column": np.c_[np.zeros(4), rng.standard_normal((4, 3))],
        "rank3_inner_pivot": np.array([[1., 2, 3, 4], [2, 4, 7, 1], [3, 6, 1, 1],
                                       [1, 2, 1, 5]]),
        "rank3_rounded": b @ c,
        "rank2_rounded": b[:, :2] @ c[:2],
        "rank2_exact": np.array([[1., 2, 3, 4], [2, 4, 6, 8], [3, 6, 9, 12], [0, 0, 1, 0]]),
        "rank1_2x2": np.array([[1., 2], [3, 6]]),
        "zero_3x3": np.zeros((3, 3)),
        "zero_1x1": np.zeros((1, 1)),
    }


SINGULAR = _singular_cases()


def _det_fd_gradient(a, eps=1e-6):
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[idx] = eps
        g[idx] = (np.linalg.det(a + e) - np.linalg.det(a - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", sorted(SINGULAR))
def test_det_gradient_at_singular_matrices(name):
    a = SINGULAR[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = xf.grad(xnp.linalg.det)(a)
        v = rng_for(41).standard_normal(a.shape)
        _, jv = xf.jvp(xnp.linalg.det, (a,), (v,))
    cof = cofactor_matrix(a)
    np.testing.assert_allclose(g, cof, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, _det_fd_gradient(a), atol=1e-7)
    np.testing.assert_allclose(float(jv), np.sum(cof * v), rtol=1e-10, atol=1e-12)
    if name.startswith("rank3") or name == "rank1_2x2":
        assert np.abs(g).max() > 0.1  # rank n − 1: the gradient is not zero


def _det_program(stack):
    per_matrix = xf.vmap(xf.grad(xnp.linalg.det))
    of_stack = xf.grad(lambda s: xnp.sum(xnp.linalg.det(s)))
    log_grad = xf.grad(lambda s: xnp.sum(xnp.linalg.slogdet(s)[1]))
    return of_stack(stack), per_matrix(stack), xnp.linalg.slogdet(stack), log_grad(stack)


def _singular_stack(dtype=np.float64):
    """Four singular 4×4 matrices (zero pivots last, first, inner; rank 2) and a regular one."""
    names = ["rank3_last_pivot", "rank3_zero_column", "rank3_inner_pivot", "rank2_exact"]
    stack = np.stack([SINGULAR[k] for k in names] + [well_conditioned(rng_for(42), 4, 4)])
    return stack.astype(dtype), np.stack([cofactor_matrix(m) for m in stack])


def _check_det_program(outs, stack, cof):
    of_stack, per_matrix, (sign, logabsdet), log_grad = outs
    tol = TOL[stack.dtype.type]
    for g in (of_stack, per_matrix):
        assert np.asarray(g).dtype == stack.dtype
        np.testing.assert_allclose(g, cof, rtol=tol["rtol"],
                                   atol=tol["atol"] * np.abs(cof).max())
    # slogdet at a singular matrix, as in JAX: sign 0, log|det| −inf, and a gradient that is
    # not finite (rather than an error); A⁻ᵀ at the nonsingular matrix.
    np.testing.assert_array_equal(sign[:4], 0)
    np.testing.assert_array_equal(logabsdet[:4], -np.inf)
    assert not np.isfinite(np.asarray(log_grad)[:4]).all(axis=(1, 2)).any()
    np.testing.assert_allclose(log_grad[4], np.linalg.inv(stack[4]).T, **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_det_gradient_at_singular_stacks_and_vmap(dtype):
    stack, cof = _singular_stack(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_det_program(_det_program(stack), stack, cof)


def test_det_gradient_at_singular_stacks_under_jit():
    stack, cof = _singular_stack()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to the interpreter
        g = xf.jit(xf.vmap(xf.grad(xnp.linalg.det)))(stack)
    np.testing.assert_allclose(g, cof, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_det_program_at_singular_stacks_under_jit(dtype):
    stack, cof = _singular_stack(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _check_det_program(xf.jit(_det_program)(stack), stack, cof)


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3, 3)])
def test_det_gradient_of_empty_stacks(shape):
    for f in (xnp.linalg.det, lambda a: xnp.linalg.slogdet(a)[1]):
        g = xf.grad(lambda a, f=f: xnp.sum(f(a)))(np.zeros(shape))
        assert g.shape == shape


def test_det_hessian_at_a_nonsingular_matrix():
    a = rng_for(43).standard_normal((3, 3))
    h = xf.hessian(xnp.linalg.det)(a)
    eps = 1e-6
    fd = np.zeros((3, 3, 3, 3))
    for i, j in np.ndindex(3, 3):
        e = np.zeros((3, 3))
        e[i, j] = eps
        fd[:, :, i, j] = (cofactor_matrix(a + e) - cofactor_matrix(a - e)) / (2 * eps)
    np.testing.assert_allclose(h, fd, atol=1e-8)
    check_grads(xnp.linalg.det, (a,), order=2)
    check_grads(lambda m: xnp.linalg.slogdet(m)[1], (a,), order=2)


@pytest.mark.peers
def test_det_gradient_at_singular_matrices_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    # JAX's rule assumes the zero pivot is the last one (for n > 3), so only such cases.
    for name in ["rank3_last_pivot", "rank3_rounded", "rank2_rounded", "rank1_2x2",
                 "zero_3x3"]:
        a = SINGULAR[name]
        theirs = np.asarray(jax.grad(jax.numpy.linalg.det)(a))
        np.testing.assert_allclose(xf.grad(xnp.linalg.det)(a), theirs, rtol=1e-9, atol=1e-12)
        sign, logabsdet = jax.numpy.linalg.slogdet(a)
        ours = xnp.linalg.slogdet(a)
        assert (float(ours[0]), float(ours[1])) == (float(sign), float(logabsdet))
