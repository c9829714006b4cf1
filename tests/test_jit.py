"""jit: both backends against numpy and the interpreter, caching per signature, composition.

The numba backend is checked on the whole xform.numpy table (values, shapes and dtypes against
numpy) with a few examples per case — every compile costs time, so the default run samples the
table and `-m slow` runs all of it.
"""
from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_numpy import PARAMS, assert_same, examples

import xform as xf
import xform.numpy as xnp

BACKENDS = ["numba", "interpreter"]


def _run_case(case, data, backend):
    for args, kw, expected in examples(case, data):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no silent fallback
            got = xf.jit(lambda *a: case.fn(*a, **kw), backend=backend)(*args)
        assert_same(got, expected, case.rtol)


# A sample of the table runs by default; the whole table with `-m slow`.
SAMPLE = PARAMS[::10]


@pytest.mark.parametrize("case", SAMPLE)
@settings(max_examples=2)
@given(data=st.data())
def test_numba_backend_agrees_with_numpy_sample(case, data):
    _run_case(case, data, "numba")


@pytest.mark.slow
@pytest.mark.parametrize("case", PARAMS)
@settings(max_examples=3)
@given(data=st.data())
def test_numba_backend_agrees_with_numpy_everywhere(case, data):
    _run_case(case, data, "numba")


# ----------------------------------------------------------------------------- AD and vmap


from test_ad import BINARY as AD_BINARY  # noqa: E402
from test_ad import STRUCTURAL as AD_STRUCTURAL  # noqa: E402
from test_ad import UNARY as AD_UNARY  # noqa: E402

# (A boolean mask on a traced value has a data-dependent size, so "mask" cannot be jitted.)
AD_CASES = ([(n, f, (s,)) for n, f, s, _ in AD_UNARY]
            + [(n, f, (sx, sy)) for n, f, sx, sy in AD_BINARY]
            + [(n, f, ("grid",)) for n, f in AD_STRUCTURAL if n != "mask"])
# Every case runs under both backends with `-m slow`; by default numba compiles a sample.
AD_PARAMS = [pytest.param(*c, b, id=f"{c[0]}-{b}",
                          marks=[pytest.mark.slow] if b == "numba" and k % 6 else [])
             for k, c in enumerate(AD_CASES) for b in BACKENDS]


def _ad_args(samplers, rng):
    if samplers == ("grid",):
        return (rng.uniform(-2, 2, (3, 4)),)
    args = tuple(s(rng, (2, 3)) for s in samplers)
    return args if len(args) == 1 else (args[0], args[1] + 3.0 * (args[1] > 0))


def _scalar_loss(fn):
    return lambda *a: xnp.sum(xnp.sin(fn(*a)))


def _close(a, b, rtol=1e-10):
    for x, y in zip(xf.tree.leaves(a), xf.tree.leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name,fn,samplers,backend", AD_PARAMS)
def test_derivatives_under_jit_agree(name, fn, samplers, backend):
    args = _ad_args(samplers, np.random.default_rng(0))
    loss = _scalar_loss(fn)
    argnums = tuple(range(len(args)))
    eager = xf.value_and_grad(loss, argnums=argnums)(*args)
    _close(xf.jit(xf.value_and_grad(loss, argnums=argnums), backend=backend)(*args), eager)
    _close(xf.grad(xf.jit(loss, backend=backend), argnums=argnums)(*args), eager[1])
    batched = tuple(np.stack([a, a * 0.5 + 0.1]) for a in args)
    looped = [xf.grad(loss, argnums=argnums)(*[b[i] for b in batched]) for i in range(2)]
    got = xf.jit(xf.vmap(xf.grad(loss, argnums=argnums)), backend=backend)(*batched)
    _close(got, tuple(np.stack(g) for g in zip(*looped)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_compositions_under_jit(backend):
    def f(x, y):
        return xnp.sum(xnp.tanh(x @ y) ** 2) + xnp.max(x)

    x = np.random.default_rng(1).normal(size=(3, 4))
    y = np.random.default_rng(2).normal(size=(4, 2))
    jit = lambda g: xf.jit(g, backend=backend)  # noqa: E731
    _close(jit(xf.hessian(lambda v: f(v, y)))(x), xf.hessian(lambda v: f(v, y))(x))
    _close(xf.jacfwd(jit(xf.grad(lambda v: f(v, y))))(x),
           xf.jacfwd(xf.grad(lambda v: f(v, y)))(x))
    inner = jit(lambda v: xnp.sin(v) * 2.0)
    _close(jit(lambda v: inner(v) + inner(v * v))(x), np.sin(x) * 2 + np.sin(x * x) * 2)
    _close(xf.vmap(jit(lambda r: f(r.reshape(1, 4), y)))(x),
           np.array([f(r.reshape(1, 4), y) for r in x]))
    _close(xf.grad(lambda a: jit(lambda b: a * b)(3.0))(2.0), 3.0)
    _close(xf.jvp(jit(xnp.sin), (0.5,), (2.0,)), (np.sin(0.5), 2 * np.cos(0.5)))


# ----------------------------------------------------------------------------- the front end


def test_traces_once_per_signature_and_again_for_a_new_shape():
    traces = []

    def f(x, y):
        traces.append(x.shape)
        return xnp.sum(x * y)

    g = xf.jit(f, backend="interpreter")
    for _ in range(3):
        assert g(np.ones(3), 2.0) == pytest.approx(6.0)
    assert g(np.ones(4), 2.0) == pytest.approx(8.0)
    assert g(np.ones(3, np.float32), np.float32(2.0)).dtype == np.float32
    assert traces == [(3,), (4,), (3,)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_static_arguments(backend):
    def f(x, n, *, mode="sum"):
        out = x
        for _ in range(n):  # Python control flow on static values
            out = xnp.sin(out)
        return xnp.sum(out) if mode == "sum" else xnp.max(out)

    g = xf.jit(f, static_argnums=1, static_argnames="mode", backend=backend)
    x = np.linspace(0, 1, 5)
    assert g(x, 2) == pytest.approx(np.sum(np.sin(np.sin(x))))
    assert g(x, 3, mode="max") == pytest.approx(np.max(np.sin(np.sin(np.sin(x)))))
    with pytest.raises(TypeError, match="hashable"):
        xf.jit(f, static_argnums=1)(x, [1])


def test_static_arguments_by_name_or_position():
    """static_argnames covers the parameter passed positionally and static_argnums the
    parameter passed by keyword (names and positions are one parameter, as in JAX)."""
    traces = []

    def f(x, n=1):
        traces.append(n)
        return x * n if n > 2 else x  # Python control flow: n must be static

    for kw in [{"static_argnames": "n"}, {"static_argnums": 1}, {"static_argnums": (1,)}]:
        g = xf.jit(f, backend="interpreter", **kw)
        assert g(1.0, 3) == 3.0 and g(1.0, n=3) == 3.0 and g(1.0, n=1) == 1.0
    # Equal but differently typed static values trace separately: 3 and 3.0 are not one key.
    g = xf.jit(f, backend="interpreter", static_argnums=1)
    traces.clear()
    assert np.asarray(g(np.int64(2), 3)).dtype == np.int64
    assert np.asarray(g(np.int64(2), 3.0)).dtype == np.float64
    assert traces == [3, 3.0]


def test_jit_as_a_decorator_factory():
    @xf.jit(static_argnums=(1,), backend="interpreter")
    def power(x, k):
        return x ** k if k > 0 else 1.0 / x

    assert power(2.0, 3) == 8.0 and power(2.0, -1) == 0.5
    assert xf.grad(power)(2.0, 3) == 12.0


def test_float32_stays_float32_under_jit():
    f = xf.jit(xf.value_and_grad(lambda w, x: xnp.mean(xnp.tanh(x @ w) ** 2)))
    w, x = np.ones(3, np.float32), np.ones((4, 3), np.float32)
    value, g = f(w, x)
    assert np.asarray(value).dtype == np.float32 and g.dtype == np.float32


def test_branching_on_a_traced_value_names_the_fixes():
    with pytest.raises(xf.core.ConcretizationError, match="lax.cond.*static_argnums"):
        xf.jit(lambda x: x if x > 0 else -x)(1.0)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        xf.jit(xnp.sin, backend="gpu")


def test_a_primitive_without_a_lowering_falls_back_with_a_warning():
    from xform.core import Primitive, ShapedArray
    twice_p = Primitive("test_twice")
    twice_p.impl = lambda x: [2 * np.asarray(x)]
    twice_p.abstract_eval = lambda x: [ShapedArray(x.shape, x.dtype)]
    f = xf.jit(lambda x: twice_p.bind1(xnp.sin(x)) + 1.0)
    with pytest.warns(RuntimeWarning, match="test_twice.*interpreter"):
        out = f(np.ones(3))
    np.testing.assert_allclose(out, 2 * np.sin(np.ones(3)) + 1.0)


def test_generated_source_shows_fusion():
    from xform.backends.codegen import generate
    ir = xf.make_ir(lambda x: xnp.sum(xnp.exp(xnp.sin(x) * 2.0), axis=1))(np.ones((3, 4)))
    source, _, buffers = generate(ir)
    # One loop nest, no intermediate arrays; it runs again with libm's sine only if an argument
    # is past the fast sine's range.
    assert source.count("\n    for i0 in range(3)") == 1
    assert source.count("\n        for i0 in range(3)") == 1
    assert "V.sin_f64" in source and "V.exp_f64" in source and "math.sin" in source
    assert buffers == [((3,), np.dtype(np.float64))]  # only the reduction's accumulator
    assert "# " in source


# ----------------------------------------------------------------------------- on-disk cache

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import xform as xf, xform.numpy as xnp
    assert "numba" not in sys.modules, "import xform must not import numba"
    from xform.backends import numba as nb
    f = xf.jit(xf.grad(lambda x: xnp.sum(xnp.tanh(x) * xnp.cos(x))))
    x = np.linspace(-1.0, 1.0, 7)
    np.testing.assert_allclose(f(x), np.cos(x) / np.cosh(x) ** 2 - np.tanh(x) * np.sin(x),
                               rtol=1e-12)
    print(nb.stats["compiled"], nb.stats["loaded"])
""")


def _run_fresh(cache_dir):
    env = dict(os.environ, XFORM_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_CACHE_DIR", None)  # keep Numba's files beside the generated modules
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return tuple(int(v) for v in out.stdout.split())


def test_a_second_process_reuses_the_disk_cache(tmp_path):
    assert _run_fresh(tmp_path) == (1, 0)
    assert _run_fresh(tmp_path) == (0, 1)


def test_a_corrupt_cache_entry_is_recompiled(tmp_path):
    assert _run_fresh(tmp_path) == (1, 0)
    for path in (tmp_path / "__pycache__").iterdir():
        path.write_bytes(path.read_bytes()[:40])  # truncated entries
    assert _run_fresh(tmp_path) == (1, 0)
    for path in (tmp_path / "__pycache__").iterdir():
        path.write_bytes(b"not a cache file")
    assert _run_fresh(tmp_path) == (1, 0)
    assert _run_fresh(tmp_path) == (0, 1)


def test_the_cache_can_be_disabled(tmp_path):
    assert _run_fresh("off") == (1, 0)


from test_vmap import VMAPPED, check_vmap_against_loop  # noqa: E402

VMAP_PARAMS = [pytest.param(n, b, id=f"{n}-{b}",
                            marks=[pytest.mark.slow] if b == "numba" and k % 5 else [])
               for k, n in enumerate(VMAPPED) for b in BACKENDS]


@pytest.mark.parametrize("name,backend", VMAP_PARAMS)
@settings(max_examples=2)
@given(data=st.data())
def test_vmap_of_every_primitive_under_jit(name, backend, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no silent fallback
        check_vmap_against_loop(name, data, lambda f: xf.jit(f, backend=backend))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
@pytest.mark.parametrize("closed", [np.ones(4), np.arange(4.0)], ids=["uniform", "varied"])
def test_closed_over_arrays_are_captured_when_traced(backend, closed):
    """Mutating an array after the first call changes nothing, whether or not its values are
    all equal (uniform arrays used to be folded, others read at every call)."""
    c = closed.copy()
    f = xf.jit(lambda x: xnp.sum(x * c), backend=backend)
    x = np.arange(4.0) + 1
    before, grad_before = f(x), xf.grad(f)(x)
    c *= 10
    assert f(x) == before == float(np.sum(x * closed))
    np.testing.assert_array_equal(xf.grad(f)(x), grad_before)


def test_a_function_called_with_ever_new_shapes_keeps_a_bounded_number_of_programs(
        monkeypatch):
    import gc
    import weakref

    from xform import api
    monkeypatch.setattr(api, "JIT_SIGNATURES", 4)
    f = xf.jit(lambda x: xnp.sum(xnp.cos(x) * 3.0), backend="interpreter")
    f(np.ones(1))
    first = weakref.ref(f.lower(np.ones(1)).ir.derived[("executable", "interpreter")])
    for n in range(1, 12):
        assert f(np.ones(n)) == pytest.approx(3 * n * np.cos(1.0))
    assert f._cache_size() == 4
    gc.collect()
    assert first() is None  # the oldest signature's program was released
    assert f(np.ones(1)) == pytest.approx(3 * np.cos(1.0))  # and is traced again when needed


def test_a_long_program_compiles_as_parts_that_agree_with_the_interpreter(monkeypatch):
    """Long bodies are cut into functions the kernel calls in turn (Numba's compile time grows
    faster than a function's size); values flow between the parts by name. The steps of an
    unrolled loop are cut alike, and parts that differ only in names and subscripts (`xs[3]`
    against `xs[4]`) are one function, compiled once for all its calls."""
    from xform.backends import codegen, parts
    monkeypatch.setattr(codegen, "SPLIT_LINES", 30)
    monkeypatch.setattr(parts, "PART_LINES", 12)

    def loss(w, xs):
        h = xnp.zeros(3)
        for x in xs:  # an unrolled recurrence: a long program with many live values
            h = xnp.tanh(w @ h + x) * 0.5 + h
        return xnp.sum(h ** 2) + xnp.max(h)
    rng = np.random.default_rng(0)
    w, xs = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((12, 3))
    f = xf.jit(xf.value_and_grad(loss), compile="sync")
    program = f.lower(w, xs)
    defined = len(re.findall(r"^part\d+ = load_module\(", program.source, re.M))
    called = len(re.findall(r"\) = part\d+\(", program.source))
    assert 3 <= defined < called
    got = f(w, xs)
    want = xf.jit(xf.value_and_grad(loss), backend="interpreter")(w, xs)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-15)
    from xform.backends import executable
    module = executable(program.ir, program.backend).module
    assert all(len(getattr(module, f"part{k}").signatures) == 1 for k in range(defined))


def test_parts_share_one_function_per_structure_and_keep_the_meaning(monkeypatch):
    """The cut of a periodic body: steps that differ only in their names and subscript
    integers share one part (a module of its own), whose differing integers are passed in; the
    kernel calling the parts computes what the whole body does."""
    from xform.backends import parts
    monkeypatch.setattr(parts, "PART_LINES", 6)
    monkeypatch.setattr(parts, "CUT_EVERY", 1)
    lines = ["h0 = a1 * L0"]
    for t in range(8):
        lines += [f"x{t} = a0[{t}:{t + 1}:1].sum()", f"y{t} = np.tanh(h{t} + x{t})",
                  f"h{t + 1} = y{t} * L0 + a0[{t}, 1]"]
    params, ret = ["a0", "a1"], "return (h8, x7, )"
    header = "import numba\nimport numpy as np\n"
    source, calls = parts.split_into_parts(lines, params, ret, header, {"L0": "0.5"})
    assert source.count("= load_module(") <= 4 < 8 <= len(calls)
    assert "n[0]" in source and "a0[0:1:1]" not in source  # the step is an argument

    def run(text):
        namespace = {"np": np, "L0": 0.5}
        exec(text, namespace)
        return namespace["kernel"](np.arange(16.0).reshape(8, 2) / 10, 0.3)
    whole = run("def kernel(a0, a1):\n" + "".join(f"    {s}\n" for s in lines + [ret]))
    cut = run(source + "def kernel(a0, a1):\n" + "".join(f"    {s}\n" for s in calls + [ret]))
    np.testing.assert_allclose(cut, whole, rtol=1e-15)


def test_a_cut_never_separates_an_if_from_its_else(monkeypatch):
    """An `else:` clause at the body's top level belongs to the `if` above it: a part holds
    both (a cut between them left a part starting with `else:`, a syntax error)."""
    from xform.backends import parts
    monkeypatch.setattr(parts, "PART_LINES", 2)
    monkeypatch.setattr(parts, "CUT_EVERY", 1)
    lines = ["x0 = a0 * 2.0", "if a1 > 0:", "    x1 = x0 + 1.0", "    x2 = x1 * x1",
             "else:", "    x1 = x0 - 1.0", "    x2 = x1 * 3.0", "x3 = x2 + x0", "x4 = x3 * x1"]
    ret = "return (x4, )"
    source, calls = parts.split_into_parts(lines, ["a0", "a1"], ret, "import numba\n", {})
    kernel = source + "def kernel(a0, a1):\n" + "".join(f"    {s}\n" for s in calls + [ret])
    namespace = {}
    exec(kernel, namespace)
    for a1 in (1.0, -1.0):
        x0 = 0.7 * 2.0
        x1 = x0 + 1.0 if a1 > 0 else x0 - 1.0
        x2 = x1 * x1 if a1 > 0 else x1 * 3.0
        assert namespace["kernel"](0.7, a1) == ((x2 + x0) * x1, )


def test_programs_share_the_parts_they_have_in_common(monkeypatch):
    """A part is a module named by its content: the gradient and the value-and-gradient of one
    unrolled loop, or the loop over more steps, reuse the compiled parts they share."""
    from xform.backends import codegen, executable, parts
    monkeypatch.setattr(codegen, "SPLIT_LINES", 30)
    monkeypatch.setattr(parts, "PART_LINES", 12)

    def loss(w, xs):
        h = xnp.zeros(3)
        for x in xs:
            h = xnp.tanh(w @ h + x) * 0.5 + h
        return xnp.sum(h ** 2)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3)) * 0.5

    def part_modules(transform, *args):
        f = xf.jit(transform(loss), compile="sync")
        got, want = f(*args), xf.jit(transform(loss), backend="interpreter")(*args)
        for a, b in zip(xf.tree_util.tree_leaves(got), xf.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-13)
        program = f.lower(*args)
        module = executable(program.ir, program.backend).module
        return {v.py_func.__module__ for k, v in vars(module).items() if k.startswith("part")}
    xs = rng.standard_normal((12, 3))
    grad_parts = part_modules(xf.grad, w, xs)
    both_parts = part_modules(xf.value_and_grad, w, xs)
    longer_parts = part_modules(xf.grad, w, rng.standard_normal((20, 3)))
    assert grad_parts & both_parts and grad_parts & longer_parts


def test_parts_serve_other_shapes(monkeypatch):
    """Sizes (loop bounds, slices, reshapes) and float constants (the mean's one over the batch
    size) are passed to a part, so a program over another batch size reuses every compiled
    part; an exponent stays a constant (LLVM makes products of `x ** 2.0` only then)."""
    from xform.backends import codegen, executable, parts
    monkeypatch.setattr(codegen, "SPLIT_LINES", 30)
    monkeypatch.setattr(parts, "PART_LINES", 12)
    monkeypatch.setattr(parts, "SIZE_ARGUMENT", 4)

    def loss(w, xs):
        h = xnp.zeros((xs.shape[1], 3))
        for x in xs:
            h = xnp.tanh(x @ w + h) * 0.5 + h
        return xnp.mean(h ** 2.0)
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3)) * 0.5

    def parts_of(xs):
        f = xf.jit(xf.value_and_grad(loss), compile="sync")
        got, want = f(w, xs), xf.jit(xf.value_and_grad(loss), backend="interpreter")(w, xs)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        program = f.lower(w, xs)
        module = executable(program.ir, program.backend).module
        return {k: v for k, v in vars(module).items() if re.fullmatch(r"part\d+", k)}
    small = parts_of(rng.standard_normal((10, 5, 3)))
    large = parts_of(rng.standard_normal((10, 7, 3)))
    assert {p.py_func.__module__ for p in small.values()} == \
        {p.py_func.__module__ for p in large.values()}
    assert all(len(p.signatures) == 1 for p in large.values())  # compiled once, for both
    texts = [inspect.getsource(p.py_func) for p in large.values()]
    assert any("** L" in t for t in texts) and any("range(z" in t for t in texts)


def test_a_short_program_is_one_function_for_every_shape():
    """A short program's sizes (of 8 or more) and float constants are read from two consts,
    and the comments that show its shapes are not in its module: a new batch size runs the
    code compiled for the first, in float32 as in float64. Without such sizes, a program
    keeps its constants in its code."""
    from xform.backends import executable
    from xform.backends import numba as nb

    def loss(w, x):
        h = xnp.tanh(x @ w[:, :12] * 0.5)
        return xnp.mean(h ** 2.5) + xnp.sum(w) / 3.0
    rng = np.random.default_rng(4)
    modules = set()
    for dtype in (np.float64, np.float32):
        w = rng.standard_normal((10, 16)).astype(dtype)
        reused = nb.stats["reused"]
        for batch in (9, 24, 40):
            x = rng.standard_normal((batch, 10)).astype(dtype)
            f = xf.jit(xf.value_and_grad(loss), compile="sync")
            got = f(w, x)
            want = xf.jit(xf.value_and_grad(loss), backend="interpreter")(w, x)
            for a, b in zip(got, want):
                assert a.dtype == b.dtype == dtype
                np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12)
            program = f.lower(w, x)
            assert "# " in program.source and "z0 = c" in program.source
            modules.add(executable(program.ir, program.backend).module.__name__)
        assert nb.stats["reused"] == reused + 2
    assert len(modules) == 2  # one per dtype
    small = xf.jit(xf.grad(lambda x: xnp.sum(xnp.sin(x) * 3.0))).lower(np.ones(5))
    assert "z0" not in small.source and "np.float64(3.0)" in small.source


def test_a_cut_program_compiles_ahead_of_its_first_call(tmp_path):
    """`lower().compile()` (and the background worker) compile a cut program's parts for the
    argument types without running it: Numba's type inference of the plain kernel. In a fresh
    process, where that is the first thing Numba compiles, it must install the typing of array
    subscripts before typing `N0[0]`, the row of sizes of the first part."""
    script = textwrap.dedent("""
        import numpy as np, xform as xf, xform.numpy as xnp
        from xform.backends import codegen, executable, parts
        codegen.SPLIT_LINES, parts.PART_LINES, parts.SIZE_ARGUMENT = 30, 12, 2
        def loss(w, xs):
            h = xnp.ones(3)
            for x in xs:
                h = xnp.sin(w @ h - x) + h * 0.25
            return xnp.sum(h)
        rng = np.random.default_rng(2)
        w, xs = rng.standard_normal((3, 3)), rng.standard_normal((9, 3))
        lowered = xf.jit(xf.grad(loss), compile="sync").lower(w, xs)
        assert "N0[0]" in lowered.source
        run = lowered.compile()
        module = executable(lowered.ir, lowered.backend).module
        assert not hasattr(module.kernel, "signatures")  # a plain function
        compiled = [v for k, v in vars(module).items() if k.startswith("part")]
        assert compiled and all(len(f.signatures) == 1 for f in compiled)
        np.testing.assert_allclose(run(w, xs), xf.grad(loss)(w, xs), rtol=1e-12, atol=1e-14)
    """)
    env = {**os.environ, "XFORM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
