"""xform.optim: optimisers against their published update formulas in plain numpy, schedules,
clipping, `minimize` on problems with known optima, dtypes, and every user error."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xform as xf
import xform.numpy as xnp
from xform import optim

DTYPES = [np.float32, np.float64]
# The Numba backend compiles every new program, which takes seconds on a cold cache: most tests
# exercise the optimisers on the interpreter backend and a few run the default one end to end.
INTERP = {"jit": "interpreter"}
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
STEPS = 3


# ----------------------------------------------------------------------------- references
# Each reference optimiser keeps its state per leaf as a dict of float64 arrays and maps
# (gradient, parameter, state, step k = 1, 2, ...) to the update, written from the papers'
# and optax's formulas, independently of xform.optim.

def _lr_at(lr, k):
    return lr(k - 1) if callable(lr) else lr


def ref_sgd(lr, momentum=0.0, nesterov=False):
    def step(g, p, s, k):
        t = g + momentum * s.get("t", 0.0)
        s["t"] = t
        return -_lr_at(lr, k) * (g + momentum * t if nesterov else t)
    return step


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    def step(g, p, s, k):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g ** 2
        m_hat, v_hat = s["m"] / (1 - b1 ** k), s["v"] / (1 - b2 ** k)
        return -_lr_at(lr, k) * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p)
    return step


def ref_rmsprop(lr, decay=0.9, eps=1e-8, momentum=0.0):
    def step(g, p, s, k):
        s["v"] = decay * s.get("v", 0.0) + (1 - decay) * g ** 2
        scaled = -_lr_at(lr, k) * g / np.sqrt(s["v"] + eps)
        s["t"] = scaled + momentum * s.get("t", 0.0)
        return s["t"]
    return step


def ref_adagrad(lr, initial_accumulator_value=0.1, eps=1e-7):
    def step(g, p, s, k):
        s["a"] = s.get("a", initial_accumulator_value) + g ** 2
        return -_lr_at(lr, k) * g / np.sqrt(s["a"] + eps)
    return step


def _decay(count):
    return 0.1 * 0.5 ** (count / 2)


CASES = [
    ("sgd", lambda: optim.sgd(0.1), ref_sgd(0.1)),
    ("sgd momentum", lambda: optim.sgd(0.1, momentum=0.9), ref_sgd(0.1, 0.9)),
    ("sgd nesterov", lambda: optim.sgd(0.1, momentum=0.8, nesterov=True),
     ref_sgd(0.1, 0.8, True)),
    ("sgd schedule", lambda: optim.sgd(optim.exponential_decay(0.1, 2, 0.5), momentum=0.5),
     ref_sgd(_decay, 0.5)),
    ("adam", lambda: optim.adam(0.01), ref_adam(0.01)),
    ("adam custom", lambda: optim.adam(0.05, b1=0.5, b2=0.75, eps=1e-3),
     ref_adam(0.05, 0.5, 0.75, 1e-3)),
    ("adam schedule", lambda: optim.adam(optim.exponential_decay(0.1, 2, 0.5)),
     ref_adam(_decay)),
    ("adamw", lambda: optim.adamw(0.01, weight_decay=0.1), ref_adam(0.01, weight_decay=0.1)),
    ("adamw default decay", lambda: optim.adamw(0.01), ref_adam(0.01, weight_decay=1e-4)),
    ("rmsprop", lambda: optim.rmsprop(0.01), ref_rmsprop(0.01)),
    ("rmsprop momentum", lambda: optim.rmsprop(0.01, decay=0.8, eps=1e-6, momentum=0.9),
     ref_rmsprop(0.01, 0.8, 1e-6, 0.9)),
    ("adagrad", lambda: optim.adagrad(0.1), ref_adagrad(0.1)),
    ("adagrad zero start", lambda: optim.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0),
     ref_adagrad(0.1, 0.0, 0.0)),
]
CASE_IDS = [c[0] for c in CASES]


def _params(rng, dtype, shapes):
    """A pytree with several leaves of different ranks, nested in a dict, list and tuple."""
    w_shape, b_shape = shapes
    return {"layer": [rng.standard_normal(w_shape).astype(dtype),
                      rng.standard_normal(b_shape).astype(dtype)],
            "scale": (np.asarray(rng.standard_normal(), dtype),)}


def _like_params(rng, params):
    return xf.tree.map(lambda p: rng.standard_normal(p.shape).astype(p.dtype), params)


shapes_st = st.tuples(st.tuples(st.integers(1, 4), st.integers(1, 3)),
                      st.tuples(st.integers(1, 5)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,make,ref", CASES, ids=CASE_IDS)
@settings(max_examples=4)
@given(seed=st.integers(0, 2 ** 32 - 1), shapes=shapes_st)
def test_updates_match_published_formulas(name, make, ref, dtype, seed, shapes):
    rng = np.random.default_rng(seed)
    params = _params(rng, dtype, shapes)
    opt = make()
    state = opt.init(params)
    ref_params = [p.astype(np.float64) for p in xf.tree.leaves(params)]
    ref_states = [{} for _ in ref_params]
    for k in range(1, STEPS + 1):
        grads = _like_params(rng, params)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        expected = [ref(g.astype(np.float64), p, s, k) for g, p, s
                    in zip(xf.tree.leaves(grads), ref_params, ref_states)]
        ref_params = [p + u for p, u in zip(ref_params, expected)]
        for u, e in zip(xf.tree.leaves(updates), expected):
            assert u.dtype == dtype
            np.testing.assert_allclose(u, e, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
        for p, e in zip(xf.tree.leaves(params), ref_params):
            assert p.dtype == dtype
            np.testing.assert_allclose(p, e, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])
    assert xf.tree.structure(params) == xf.tree.structure(_params(rng, dtype, shapes))
    for leaf in xf.tree.leaves(state):
        dt = np.asarray(leaf).dtype
        assert dt == dtype or np.issubdtype(dt, np.integer)


def _check_jitted_update(make, backend):
    rng = np.random.default_rng(0)
    params = _params(rng, np.float32, ((3, 2), (2,)))
    opt = make()
    update = xf.jit(opt.update, backend=backend)
    eager_state = jit_state = opt.init(params)
    for _ in range(STEPS):
        grads = _like_params(rng, params)
        eager, eager_state = opt.update(grads, eager_state, params)
        jitted, jit_state = update(grads, jit_state, params)
        for a, b in zip(xf.tree.leaves(eager), xf.tree.leaves(jitted)):
            assert np.asarray(b).dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        params = optim.apply_updates(params, eager)


@pytest.mark.parametrize("name,make,ref", CASES, ids=CASE_IDS)
def test_update_under_jit_matches_eager(name, make, ref):
    _check_jitted_update(make, "interpreter")


@pytest.mark.parametrize("name", ["adam schedule", "rmsprop momentum", "adagrad"])
def test_update_under_default_jit_backend(name):
    _check_jitted_update({c[0]: c[1] for c in CASES}[name], None)


def test_first_adam_step_is_learning_rate_times_sign():
    # With bias correction, the first step is -lr * g / (|g| + eps) whatever the scale of g.
    opt = optim.adam(0.01)
    g = np.array([1e-3, -5.0, 200.0])
    updates, _ = opt.update(g, opt.init(np.zeros(3)))
    np.testing.assert_allclose(updates, -0.01 * np.sign(g), rtol=1e-4)


def test_adamw_decay_is_decoupled_from_the_gradient_scale():
    # The decay term is lr * weight_decay * p, untouched by adam's normalisation.
    p = np.array([2.0, -4.0])
    plain, wd = optim.adam(0.1), optim.adamw(0.1, weight_decay=0.5)
    g = np.array([1e3, 1e-3])
    u_plain, _ = plain.update(g, plain.init(p), p)
    u_wd, _ = wd.update(g, wd.init(p), p)
    np.testing.assert_allclose(u_wd - u_plain, -0.1 * 0.5 * p, rtol=1e-12)


def test_optimisers_work_on_python_float_params_and_namedtuples():
    import collections
    Pair = collections.namedtuple("Pair", "a b")
    params = Pair(1.0, np.array([1.0, 2.0]))
    opt = optim.adam(0.1)
    updates, _ = opt.update(Pair(0.5, np.array([1.0, -1.0])), opt.init(params), params)
    new = optim.apply_updates(params, updates)
    assert isinstance(new, Pair)
    np.testing.assert_allclose(new.a, 0.9, rtol=1e-6)


# ----------------------------------------------------------------------------- schedules

def test_constant_schedule():
    sched = optim.constant_schedule(0.3)
    assert [sched(k) for k in (0, 1, 100)] == [0.3, 0.3, 0.3]


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("begin", [0, 5])
def test_exponential_decay_closed_form(staircase, begin):
    sched = optim.exponential_decay(0.2, transition_steps=4, decay_rate=0.7,
                                    transition_begin=begin, staircase=staircase)
    for k in range(30):
        p = max(k - begin, 0) / 4
        p = math.floor(p) if staircase else p
        assert float(sched(k)) == pytest.approx(0.2 * 0.7 ** p, rel=1e-12)


def test_exponential_decay_end_value_bounds_both_ways():
    down = optim.exponential_decay(1.0, 1, 0.5, end_value=0.1)
    up = optim.exponential_decay(1.0, 1, 2.0, end_value=5.0)
    assert [float(down(k)) for k in (0, 1, 3, 4, 10)] == [1.0, 0.5, 0.125, 0.1, 0.1]
    assert [float(up(k)) for k in (0, 2, 3, 10)] == [1.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize("alpha,exponent", [(0.0, 1.0), (0.1, 1.0), (0.2, 2.0)])
def test_cosine_decay_closed_form(alpha, exponent):
    sched = optim.cosine_decay_schedule(0.5, decay_steps=20, alpha=alpha, exponent=exponent)
    for k in range(0, 40, 3):
        t = min(k, 20)
        cosine = 0.5 * (1 + math.cos(math.pi * t / 20))
        expected = 0.5 * ((1 - alpha) * cosine ** exponent + alpha)
        assert float(sched(k)) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert float(sched(1000)) == pytest.approx(0.5 * alpha, abs=1e-15)


@pytest.mark.parametrize("sched", [optim.exponential_decay(0.1, 3, 0.9, staircase=True),
                                   optim.cosine_decay_schedule(0.1, 10, alpha=0.1)])
def test_schedules_are_traceable(sched):
    jitted = xf.jit(sched, backend="interpreter")
    for k in (0, 4, 12):
        count = np.asarray(k, np.int32)
        assert float(jitted(count)) == pytest.approx(float(sched(k)), rel=1e-12)


def test_schedule_drives_adam_under_jit():
    params = {"w": np.ones(3, np.float32)}
    opt = optim.adam(optim.cosine_decay_schedule(0.1, decay_steps=4))
    update = xf.jit(opt.update)
    state = opt.init(params)
    sizes = []
    for _ in range(6):
        updates, state = update({"w": np.full(3, 2.0, np.float32)}, state, params)
        assert updates["w"].dtype == np.float32
        sizes.append(float(-updates["w"][0]))
    # A constant gradient makes adam's direction exactly 1, so the step is the schedule.
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * min(k, 4) / 4)) for k in range(6)]
    np.testing.assert_allclose(sizes, expected, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- clipping

@settings(max_examples=20)
@given(seed=st.integers(0, 2 ** 32 - 1), max_norm=st.floats(0.1, 10.0),
       scale=st.floats(1e-3, 1e2), dtype=st.sampled_from(DTYPES))
def test_clip_by_global_norm(seed, max_norm, scale, dtype):
    rng = np.random.default_rng(seed)
    grads = xf.tree.map(lambda p: p * dtype(scale), _params(rng, dtype, ((2, 3), (4,))))
    clip = optim.clip_by_global_norm(max_norm)
    clipped, _ = clip.update(grads, clip.init(grads))
    norm = math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2))
                         for g in xf.tree.leaves(grads)))
    factor = min(1.0, max_norm / norm)
    for c, g in zip(xf.tree.leaves(clipped), xf.tree.leaves(grads)):
        assert c.dtype == dtype
        np.testing.assert_allclose(c, np.asarray(g, np.float64) * factor, rtol=RTOL[dtype] * 10)
    assert float(optim.global_norm(clipped)) == pytest.approx(min(norm, max_norm), rel=1e-5)


def test_clipping_chains_with_an_optimiser():
    params = {"a": np.zeros(2), "b": np.zeros(())}
    grads = {"a": np.array([30.0, 0.0]), "b": np.array(40.0)}
    opt = optim.chain(optim.clip_by_global_norm(5.0), optim.sgd(0.1))
    updates, _ = opt.update(grads, opt.init(params), params)
    np.testing.assert_allclose(updates["a"], [-0.1 * 3.0, 0.0])
    np.testing.assert_allclose(updates["b"], -0.1 * 4.0)


def test_clip_of_zero_gradient_is_zero():
    clip = optim.clip_by_global_norm(1.0)
    out, _ = clip.update([np.zeros(3)], clip.init(None))
    assert np.all(out[0] == 0) and np.all(np.isfinite(out[0]))


def test_apply_updates_keeps_parameter_dtype():
    params = {"a": np.ones(2, np.float32), "b": np.ones(2)}
    updates = {"a": np.full(2, 0.5), "b": np.full(2, 0.5, np.float32)}
    new = optim.apply_updates(params, updates)
    assert new["a"].dtype == np.float32 and new["b"].dtype == np.float64
    np.testing.assert_allclose(new["a"], 1.5)


# ----------------------------------------------------------------------------- minimize

def rosenbrock(x):
    return xnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _quadratic(n=5, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    a = m @ m.T / n + np.eye(n)
    b = rng.standard_normal(n)

    def fun(x):
        v = xnp.concatenate([x["u"], x["v"].ravel()])
        return 0.5 * v @ (a @ v) - b @ v
    x0 = {"u": np.zeros(2), "v": np.zeros((n - 2, 1))}
    return fun, x0, np.linalg.solve(a, b), np.linalg.eigvalsh(a)


def _flat(x):
    return np.concatenate([np.ravel(v) for v in xf.tree.leaves(x)])


@pytest.mark.parametrize("method,options,atol", [
    ("newton", {}, 1e-9),
    ("bfgs", {"tol": 1e-9}, 1e-7),
    ("adam", {"learning_rate": 0.05, "maxiter": 3000, "tol": 1e-6}, 1e-5),
    ("sgd", {"maxiter": 2000, "tol": 1e-8}, 1e-7),
])
def test_minimize_quadratic(method, options, atol):
    fun, x0, x_star, eigs = _quadratic()
    if method == "sgd":
        options = {**options, "learning_rate": 1.0 / eigs[-1]}
    res = optim.minimize(fun, x0, method=method, **options, **INTERP)
    assert res.success, res.message
    assert xf.tree.structure(res.x) == xf.tree.structure(x0)
    assert res.x["v"].shape == (3, 1)
    np.testing.assert_allclose(_flat(res.x), x_star, atol=atol)
    assert res.fun == pytest.approx(float(fun(res.x)), rel=1e-12)
    assert np.sqrt(sum(np.sum(g ** 2) for g in xf.tree.leaves(res.grad))) <= options.get(
        "tol", 1e-6)
    assert len(res.history) == res.nit + 1
    assert res.history[0] == pytest.approx(0.0) and res.history[-1] == res.fun
    if method == "newton":
        assert res.nit <= 2  # one exact Newton step solves a quadratic


@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_minimize_rosenbrock_second_order(method):
    res = optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method=method, **INTERP)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.nit < (40 if method == "newton" else 100)
    # Both line searches demand sufficient decrease, so the history never goes up.
    assert all(b <= a for a, b in zip(res.history, res.history[1:]))


def test_minimize_rosenbrock_adam():
    res = optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="adam", learning_rate=0.05,
                         maxiter=4000, tol=1e-4, **INTERP)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("method", ["newton", "bfgs"])
@pytest.mark.parametrize("start", [0.1, -0.3, 3.0])
def test_minimize_double_well_from_concave_region(method, start):
    # Near 0 the Hessian 3 x0^2 - 1 is negative: an undamped Newton step would climb to the
    # local maximum at 0. The damped step must descend to a minimum at x0 = +-1 instead.
    def fun(x):
        return x[0] ** 4 / 4 - x[0] ** 2 / 2 + (x[1] - 0.5) ** 2
    res = optim.minimize(fun, np.array([start, 0.0]), method=method, **INTERP)
    assert res.success, res.message
    np.testing.assert_allclose([abs(res.x[0]), res.x[1]], [1.0, 0.5], atol=1e-6)
    assert res.fun == pytest.approx(-0.25, abs=1e-12)
    assert all(b <= a for a, b in zip(res.history, res.history[1:]))


@settings(max_examples=8)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 6),
       method=st.sampled_from(["newton", "bfgs"]))
def test_minimize_random_quadratics(seed, n, method):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    a = m @ m.T + 0.5 * np.eye(n)
    b = rng.standard_normal(n)
    res = optim.minimize(lambda x: 0.5 * x @ (a @ x) - b @ x, rng.standard_normal(n),
                         method=method, jit=False)
    assert res.success, res.message
    np.testing.assert_allclose(a @ res.x, b, atol=1e-6)  # the residual is the gradient


@pytest.mark.parametrize("method", ["adam", "sgd", "newton", "bfgs"])
def test_minimize_integer_x0(method):
    def fun(x):
        return xnp.sum((x[0] - 1.5) ** 2) + (x[1] + 0.5) ** 2
    for x0 in ([3, -2], (np.array([3, 4]), 7)):
        res = optim.minimize(fun, x0, method=method, maxiter=3000, learning_rate=(
            0.1 if method in ("adam", "sgd") else None), tol=1e-5, **INTERP)
        assert res.success, res.message
        assert type(res.x) is type(x0)
        assert all(np.asarray(v).dtype == np.float64 for v in res.x)
        np.testing.assert_allclose(np.ravel(res.x[0]), 1.5, atol=1e-4)
        np.testing.assert_allclose(res.x[1], -0.5, atol=1e-4)


@pytest.mark.parametrize("method", ["adam", "sgd", "newton", "bfgs"])
def test_minimize_float32_stays_float32(method):
    x0 = {"a": np.array([-1.2], np.float32), "b": np.array([1.0], np.float32)}

    def fun(x):
        return rosenbrock(xnp.concatenate([x["a"], x["b"]]))
    # Plain sgd crawls along Rosenbrock's valley: it only has to keep float32 for a while.
    maxiter = {"adam": 3000, "sgd": 100}.get(method, 100)
    res = optim.minimize(fun, x0, method=method, tol=1e-3, maxiter=maxiter,
                         learning_rate={"adam": 0.1, "sgd": 1e-3}.get(method), **INTERP)
    for leaf in xf.tree.leaves(res.x) + xf.tree.leaves(res.grad):
        assert leaf.dtype == np.float32
    assert isinstance(res.fun, float)
    assert res.history[-1] < res.history[0]
    if method != "sgd":
        assert res.success, res.message
        np.testing.assert_allclose([res.x["a"][0], res.x["b"][0]], [1.0, 1.0], atol=1e-2)


def test_minimize_mixed_dtypes_in_second_order_methods():
    x0 = {"a": np.array([-1.2], np.float32), "b": np.array([1.0])}

    def fun(x):
        return rosenbrock(xnp.concatenate([x["a"].astype(np.float64), x["b"]]))
    res = optim.minimize(fun, x0, method="bfgs", tol=1e-4, **INTERP)
    assert res.success, res.message
    assert res.x["a"].dtype == np.float32 and res.x["b"].dtype == np.float64


@pytest.mark.parametrize("method", [
    "adam", "bfgs", pytest.param("newton", marks=pytest.mark.slow)])  # Hessian: long compile
def test_minimize_backends_agree(method):
    # jit=True uses xf.jit's default backend (Numba); all runs must follow the same path.
    options = {"learning_rate": 0.05, "maxiter": 200} if method == "adam" else {}
    runs = [optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method=method, jit=j, **options)
            for j in (True, "interpreter", False)]
    for run in runs:
        assert run.nit == runs[0].nit
        np.testing.assert_allclose(run.history, runs[0].history, rtol=1e-9)
        np.testing.assert_allclose(run.x, runs[0].x, rtol=1e-9)
    if method != "adam":
        assert runs[0].success, runs[0].message
        np.testing.assert_allclose(runs[0].x, [1.0, 1.0], atol=1e-6)


def test_minimize_args_and_optimiser_object():
    data = np.array([1.0, 2.0, 6.0])

    def fun(x, d):
        return xnp.sum((x - d) ** 2)
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.1))
    res = optim.minimize(fun, np.zeros(3), method=opt, args=(data,), maxiter=2000, tol=1e-5,
                         **INTERP)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, data, atol=1e-4)


def test_minimize_stops_at_maxiter():
    res = optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="adam", maxiter=7, **INTERP)
    assert not res.success and "maximum number of iterations (7)" in res.message
    assert res.nit == 7 and len(res.history) == 8


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_minimize_reports_divergence():
    res = optim.minimize(lambda x: xnp.sum(x ** 4), np.array([3.0]), method="sgd",
                         learning_rate=10.0, maxiter=50, **INTERP)
    assert not res.success and "non-finite" in res.message


def test_minimize_progress(capsys):
    optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", progress=10, **INTERP)
    out = capsys.readouterr().out
    assert "minimize(bfgs) iter      0" in out and "converged" in out
    optim.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", **INTERP)
    assert capsys.readouterr().out == ""


def test_minimize_converged_start_takes_no_step():
    res = optim.minimize(lambda x: xnp.sum(x ** 2), np.zeros(2), method="newton", **INTERP)
    assert res.success and res.nit == 0 and res.history == [0.0]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make", [optim.sgd, optim.adam, optim.adamw, optim.rmsprop,
                                  optim.adagrad])
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan")])
def test_nonpositive_learning_rate(make, lr):
    with pytest.raises(ValueError, match="learning_rate must be a positive"):
        make(lr)


def test_learning_rate_of_wrong_type():
    with pytest.raises(TypeError, match="learning_rate"):
        optim.adam("0.1")


@pytest.mark.parametrize("kwargs,match", [
    ({"b1": 1.0}, "b1"), ({"b2": -0.1}, "b2"), ({"eps": -1.0}, "eps")])
def test_bad_adam_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.adam(0.1, **kwargs)


def test_mismatched_trees_in_update():
    opt = optim.adam(0.1)
    state = opt.init({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="pytree structure of"):
        opt.update({"a": np.zeros(2)}, state)
    with pytest.raises(ValueError, match="shape"):
        opt.update({"a": np.zeros(2), "b": np.zeros(4)}, state)
    with pytest.raises(ValueError, match="pytree structure of"):
        sgd = optim.sgd(0.1)
        sgd.update([np.zeros(2)], sgd.init([np.zeros(2)]), {"a": np.zeros(2)})


def test_state_of_another_optimiser():
    params = np.zeros(2)
    with pytest.raises(ValueError, match="state does not belong"):
        optim.adam(0.1).update(params, optim.sgd(0.1).init(params))


def test_mismatched_trees_in_apply_updates():
    with pytest.raises(ValueError, match="pytree structure of"):
        optim.apply_updates({"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ValueError, match="shape"):
        optim.apply_updates([np.zeros(2)], [np.zeros(3)])


def test_adamw_needs_params():
    opt = optim.adamw(0.1)
    with pytest.raises(ValueError, match="needs the parameters"):
        opt.update(np.ones(2), opt.init(np.ones(2)))


def test_integer_params_in_init():
    with pytest.raises(TypeError, match="floating-point"):
        optim.adam(0.1).init({"a": np.arange(3)})


def test_chain_of_non_transformation():
    with pytest.raises(TypeError, match="not a gradient transformation"):
        optim.chain(optim.adam(0.1), lambda g: g)


@pytest.mark.parametrize("make", [lambda: optim.clip_by_global_norm(0.0),
                                  lambda: optim.exponential_decay(0.1, 0, 0.5),
                                  lambda: optim.exponential_decay(0.1, 10, 0.0),
                                  lambda: optim.cosine_decay_schedule(0.1, 0)])
def test_bad_transformation_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_minimize_non_scalar_objective():
    with pytest.raises(ValueError, match="scalar"):
        optim.minimize(lambda x: x ** 2, np.ones(3))


def test_minimize_non_float_objective():
    with pytest.raises(TypeError, match="floating-point"):
        optim.minimize(lambda x: 3, np.ones(3))


def test_minimize_non_finite_start():
    with pytest.raises(ValueError, match="finite"):
        optim.minimize(lambda x: xnp.sum(xnp.log(x)), -np.ones(2))


def test_minimize_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'lbfgs'"):
        optim.minimize(rosenbrock, np.zeros(2), method="lbfgs")


@pytest.mark.parametrize("lr", [0.0, -1.0])
def test_minimize_nonpositive_learning_rate(lr):
    with pytest.raises(ValueError, match="learning_rate must be a positive"):
        optim.minimize(rosenbrock, np.zeros(2), learning_rate=lr)


def test_minimize_learning_rate_with_line_search_method():
    with pytest.raises(ValueError, match="line search"):
        optim.minimize(rosenbrock, np.zeros(2), method="bfgs", learning_rate=0.1)


def test_minimize_learning_rate_with_optimiser_object():
    with pytest.raises(ValueError, match="building the optimiser"):
        optim.minimize(rosenbrock, np.zeros(2), method=optim.adam(0.1), learning_rate=0.1)


@pytest.mark.parametrize("kwargs,exc", [({"tol": -1.0}, ValueError),
                                        ({"maxiter": -1}, ValueError),
                                        ({"maxiter": 2.5}, ValueError),
                                        ({"jit": "gpu"}, ValueError)])
def test_minimize_bad_options(kwargs, exc):
    with pytest.raises(exc):
        optim.minimize(rosenbrock, np.zeros(2), **kwargs)


def test_minimize_bad_x0():
    with pytest.raises(ValueError, match="no leaves"):
        optim.minimize(lambda x: 0.0, {})
    with pytest.raises(TypeError, match="real numbers"):
        optim.minimize(lambda x: xnp.sum(x), np.array(["a"]))
