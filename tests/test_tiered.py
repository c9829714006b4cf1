"""Background compilation: the interpreter serves a jitted function's first calls while a worker
process compiles it; the compiled program takes over; faults cost a warning, never a result."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform.backends import numba as nb
from xform.backends import tiered
from xform.backends.tiered import SERVICE, TieredProgram

WAIT = 300  # seconds: a cold worker imports Numba and compiles the helper kernels first
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _loss(w, x):
    return xnp.sum(xnp.tanh(x @ w) ** 2) + xnp.sum(xnp.sin(w))


def _program(jitted, *args) -> TieredProgram:
    """The executable a jitted function made for these arguments."""
    ir = jitted.lower(*args).ir
    return next(v for k, v in ir.derived.items() if k[0] == "executable")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XFORM_CACHE_DIR", str(tmp_path / "cache"))
    nb._warned.clear()
    return tmp_path / "cache"


def test_first_calls_interpret_then_the_compiled_program_takes_over(cache):
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(4), rng.standard_normal((16, 4))
    f = xf.jit(xf.value_and_grad(_loss), compile="background")
    interpreted = xf.jit(xf.value_and_grad(_loss), backend="interpreter")(w, x)
    compiled = xf.jit(xf.value_and_grad(_loss), compile="sync")(w, x)
    first = f(w, x)
    program = _program(f, w, x)
    assert isinstance(program, TieredProgram)
    if not program.compiled:  # the first call was served by the interpreter, bit for bit
        assert first[0] == interpreted[0] and np.array_equal(first[1], interpreted[1])
    assert program.wait(WAIT), "the background compile did not finish"
    for _ in range(3):  # now the compiled program serves, bit for bit as compile="sync"
        later = f(w, x)
        assert later[0] == compiled[0] and np.array_equal(later[1], compiled[1])
    np.testing.assert_allclose(later[1], interpreted[1], rtol=1e-12)


def test_sync_mode_compiles_before_the_first_call_returns(cache):
    f = xf.jit(lambda x: xnp.exp(x) * 2.0, compile="sync")
    x = np.linspace(0, 1, 5)
    assert np.array_equal(f(x), f(x))
    assert not isinstance(_program(f, x), TieredProgram)
    never = xf.jit(lambda x: xnp.exp(x) * 2.0, compile="never")
    np.testing.assert_allclose(never(x), np.exp(x) * 2.0, rtol=1e-15)
    with pytest.raises(ValueError, match="compile must be one of"):
        xf.jit(lambda x: x, compile="later")


def test_lower_compile_waits_for_the_compiled_program(cache):
    f = xf.jit(lambda x: xnp.cos(x) + 1.0, compile="background")
    x = np.arange(3.0)
    run = f.lower(x).compile()
    assert _program(f, x).compiled
    np.testing.assert_allclose(run(x), np.cos(x) + 1.0, rtol=1e-15)


def test_a_killed_worker_costs_one_warning_and_the_interpreter_keeps_serving(cache):
    f = xf.jit(lambda x: xnp.sum(xnp.log1p(x * x)), compile="background")
    x = np.linspace(0, 2, 7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(x)
        deadline = time.monotonic() + WAIT
        while SERVICE.worker_pid() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        pid = SERVICE.worker_pid()
        if pid is not None:  # the worker is compiling (or importing Numba): kill it
            os.kill(pid, signal.SIGKILL)
        program = _program(f, x)
        program.wait(WAIT)
        for _ in range(3):
            np.testing.assert_allclose(f(x), np.sum(np.log1p(x * x)), rtol=1e-14)
    died = [w for w in caught if "compile worker died" in str(w.message)]
    if pid is not None and not program.compiled:
        assert len(died) == 1
    # The next program gets a new worker.
    g = xf.jit(lambda x: xnp.sum(xnp.expm1(x)), compile="background")
    g(x)
    assert _program(g, x).wait(WAIT)
    np.testing.assert_allclose(g(x), np.sum(np.expm1(x)), rtol=1e-14)


def test_a_compile_error_in_the_worker_leaves_the_program_interpreted(cache, monkeypatch):
    real = tiered.generate

    def broken(ir):
        source, consts, buffers = real(ir)
        # A name the kernel cannot type: Numba's compile fails in the worker.
        return source.replace("    return (", "    return (undefined_name, "), consts, buffers
    monkeypatch.setattr(tiered, "generate", broken)
    f = xf.jit(lambda x: xnp.tanh(x) * 3.0, compile="background")
    x = np.linspace(-1, 1, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f(x)
        program = _program(f, x)
        assert not program.wait(WAIT)
        np.testing.assert_allclose(f(x), np.tanh(x) * 3.0, rtol=1e-15)
    assert sum("failed" in str(w.message) for w in caught) == 1


def test_a_damaged_cached_source_is_rewritten(cache):
    x = np.linspace(0, 1, 6)

    def fun(x):
        return xnp.sqrt(x + 1.0) * 4.0
    xf.jit(fun, compile="sync")(x)
    files = list(cache.glob("xform_gen_*.py"))
    assert files
    for path in files:  # truncate every generated source (a crash mid-write, a full disk)
        path.write_text(path.read_text()[:40])
    nb._modules.clear()
    for mode in ("sync", "background"):
        f = xf.jit(fun, compile=mode)
        f(x)
        _program(f, x).wait(WAIT) if mode == "background" else None
        np.testing.assert_allclose(f(x), np.sqrt(x + 1.0) * 4.0, rtol=1e-15)


@pytest.mark.parametrize("kind", ["read-only directory", "a regular file"])
def test_an_unwritable_cache_costs_one_warning(tmp_path, monkeypatch, kind):
    target = tmp_path / "cache"
    if kind == "a regular file":
        target.write_text("not a directory")
    else:
        target.mkdir()
        target.chmod(0o500)
        if os.access(target, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
    monkeypatch.setenv("XFORM_CACHE_DIR", str(target))
    nb._warned.clear()
    x = np.linspace(0, 1, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for mode in ("sync", "background"):
            f = xf.jit(lambda x: xnp.sinh(x) - 0.5, compile=mode)
            f(x)
            if mode == "background":
                assert _program(f, x).wait(WAIT)  # compiled in this process instead
            np.testing.assert_allclose(f(x), np.sinh(x) - 0.5, rtol=1e-14)
    assert sum("cannot be written" in str(w.message) for w in caught) <= 1


def test_threads_racing_on_first_calls_agree_with_one_thread(cache):
    """8 threads x 1,000 calls on 8 functions whose first calls race: every result is bit for
    bit the interpreter's or the compiled program's, with no exception and no hang."""
    def make(k, **options):
        return xf.jit(lambda x: xnp.sum(xnp.sin(x * k) ** 2) + xnp.max(x) * k, **options)
    x = np.linspace(0, 3, 50)
    funs = [make(k, compile="background") for k in range(1, 9)]
    allowed = [{float(make(k, backend="interpreter")(x)), float(make(k, compile="sync")(x))}
               for k in range(1, 9)]
    errors = []

    def work(seed):
        try:
            for i in range(1000):
                j = (seed + i) % len(funs)
                assert float(funs[j](x)) in allowed[j]
        except Exception as exc:  # reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads) and not errors


def test_two_processes_compiling_into_one_cold_cache_agree(tmp_path):
    script = """
        import numpy as np, xform as xf, xform.numpy as xnp
        f = xf.jit(lambda x: xnp.sum(xnp.tanh(x) * xnp.cos(x * 3.0)), compile="sync")
        print(float(f(np.linspace(-2, 2, 101))).hex())
    """
    env = dict(os.environ, XFORM_CACHE_DIR=str(tmp_path / "cache"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=WAIT) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert outs[0][0] == outs[1][0] and outs[0][0].strip()


def _run_script(body: str, cache_dir, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, XFORM_CACHE_DIR=str(cache_dir), XFORM_COMPILE="background",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], env=env, timeout=timeout,
                          capture_output=True, text=True, check=False)


def test_exit_with_a_compile_pending_neither_hangs_nor_leaves_a_process(tmp_path):
    proc = _run_script("""
        import numpy as np, xform as xf, xform.numpy as xnp
        from xform.backends.tiered import SERVICE
        f = xf.jit(xf.hessian(lambda x: xnp.sum(xnp.tanh(x) ** 3 * xnp.cos(x))))
        print(float(f(np.linspace(0, 1, 8)).sum()))
        while SERVICE.worker_pid() is None:
            pass
        print(SERVICE.worker_pid())
    """, tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    value, pid = proc.stdout.split()
    assert np.isfinite(float(value))
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # the worker was killed at exit
        os.kill(int(pid), 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_compiles_on_its_own(tmp_path):
    proc = _run_script("""
        import os, numpy as np, xform as xf, xform.numpy as xnp
        f = xf.jit(lambda x: xnp.sum(xnp.exp(-x * x)))
        x = np.linspace(-1, 1, 9)
        want = float(np.sum(np.exp(-x * x)))
        assert abs(f(x) - want) < 1e-12
        pid = os.fork()
        if pid == 0:
            ir = f.lower(x).ir
            program = next(v for k, v in ir.derived.items() if k[0] == "executable")
            # It compiles, or (forked while the parent loaded compiled code) interprets.
            ok = abs(f(x) - want) < 1e-12 and (program.wait(300) or True)
            g = xf.jit(lambda x: xnp.sum(xnp.cos(x)))
            ok = ok and abs(f(x) - want) < 1e-12 and abs(g(x) - np.cos(x).sum()) < 1e-12
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, tmp_path / "cache", timeout=400)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "0"
