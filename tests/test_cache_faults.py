"""Fault injection into the on-disk caches: whatever happens to the files of a compiled program
(truncated, zeroed, garbage, flipped bits, deleted, swapped with another program's), a later
process computes the right result, at most with a warning."""
import os
import random
import shutil
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
    import sys, warnings
    import numpy as np, xform as xf, xform.numpy as xnp
    x = np.linspace(-2.0, 2.0, 7)  # no size of 8 or more: constants stay in the code
    programs = {
        "A": xf.jit(lambda x: xnp.sum(xnp.sin(x) * 2.0), compile="sync"),
        "B": xf.jit(lambda x: xnp.sum(xnp.cos(x) * 3.0), compile="sync"),
        "C": xf.jit(lambda x: xnp.sum(xnp.sin(x) * 2.5), compile="background"),
        "D": xf.jit(lambda x: xnp.sum(xnp.sin(x + 0.5) * 5.0), compile="sync"),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in sys.argv[1:]:
            if name == "C":  # the compile worker compiles it; the first calls interpret
                programs[name](x)
                lowered = programs[name].lower(x)
                next(v for k, v in lowered.ir.derived.items() if k[0] == "executable").wait()
            else:
                programs[name].lower(x).compile()
            print(name, float(programs[name](x)).hex())
    print("warnings", len([w for w in caught if "jit" in str(w.message)]))
    from xform.backends import numba as nb
    print("loaded", nb.stats["loaded"])
"""
X = np.linspace(-2.0, 2.0, 7)
EXPECTED = {"A": float(np.sum(np.sin(X) * 2.0)), "B": float(np.sum(np.cos(X) * 3.0)),
            "C": float(np.sum(np.sin(X) * 2.5)), "D": float(np.sum(np.sin(X + 0.5) * 5.0))}


def _run(cache, *names):
    """Run programs `names` in a fresh process on the cache in `cache`; check their values;
    the number of warnings about jit, and of programs loaded from the cache."""
    env = dict(os.environ, XFORM_CACHE_DIR=str(cache / "xform"),
               NUMBA_CACHE_DIR=str(cache / "numba"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), *names], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    values = dict(line.split() for line in lines if line[:2] in ("A ", "B ", "C ", "D "))
    assert sorted(values) == sorted(names)
    for name, value in values.items():
        assert float.fromhex(value) == pytest.approx(EXPECTED[name], rel=1e-12), name
    counts = dict(line.split() for line in lines if line.startswith(("warnings", "loaded")))
    return int(counts["warnings"]), int(counts["loaded"])


def _kernel_files(cache, stem, suffix=""):
    """The Numba cache files (and records) of the generated module `stem`, or those ending in
    `suffix`."""
    return sorted(p for p in (cache / "numba").rglob(f"{stem}.*{suffix}")
                  if p.suffix != ".lock")


def _sources(cache):
    return {p.stem: p.read_text() for p in (cache / "xform").glob("xform_gen_*.py")}


@pytest.fixture(scope="module")
def _warm_cache(tmp_path_factory):
    """A cache holding compiled programs A and B, its pristine copy, and the generated module
    names of A and B."""
    cache = tmp_path_factory.mktemp("cache")
    _run(cache, "A", "B")
    stems = _sources(cache)
    a = next(s for s, text in stems.items() if "sin" in text.split("def kernel")[-1])
    b = next(s for s, text in stems.items() if "cos" in text.split("def kernel")[-1])
    assert _run(cache, "A", "B") == (0, 2)  # both loaded from the cache, nothing compiled
    pristine = tmp_path_factory.mktemp("pristine")
    shutil.copytree(cache, pristine, dirs_exist_ok=True)
    return cache, pristine, a, b


@pytest.fixture
def warm(_warm_cache):
    """The warm cache, restored to its pristine state (in place: Numba's cache directory is
    named after the sources' directory), and the module names of A and B."""
    cache, pristine, a, b = _warm_cache
    shutil.rmtree(cache)
    shutil.copytree(pristine, cache, symlinks=True)
    return cache, a, b


def _damage(path, damage, rng):
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:len(data) // 3])
    elif damage == "zero":
        path.write_bytes(bytes(len(data)))
    elif damage == "garbage":
        path.write_bytes(rng.randbytes(len(data)))
    elif damage == "flip":  # one bit in the middle of the file
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1:])
    else:
        path.unlink()


def _check_damages(warm, damages):
    cache, a, _ = warm
    rng = random.Random(0)
    for damage in damages:
        files = _kernel_files(cache, a)
        assert files, "the cache holds no compiled files of program A"
        for k, path in enumerate(files):
            if damage != "delete half" or k % 2 == 0:
                _damage(path, damage, rng)
        warnings, _ = _run(cache, "A")  # the right value (checked), at most one warning
        assert warnings <= 1, damage


def test_flipped_bits_in_compiled_files_are_recompiled(warm):
    _check_damages(warm, ["flip"])


@pytest.mark.slow
def test_every_kind_of_damage_to_compiled_files_is_recompiled(warm):
    _check_damages(warm, ["truncate", "zero", "garbage", "flip", "delete half"])


def test_a_flipped_bit_in_compiled_machine_code_is_not_run(warm):
    """One bit turns the constant 3.0 in program B's machine code into 2.0: Numba's cache
    would load it without noticing."""
    cache, _, b = warm
    (path,) = _kernel_files(cache, b, ".nbc")
    data = bytearray(path.read_bytes())
    at = data.find(struct.pack("<d", 3.0))
    assert at > 0 and data.count(struct.pack("<d", 3.0)) == 1
    data[at + 6] ^= 0x08
    path.write_bytes(bytes(data))
    assert _run(cache, "B")[0] <= 1
    assert _run(cache, "B") == (0, 1)  # repaired: loaded again, silently


@pytest.mark.parametrize("suffixes", [(".nbc",), (".nbc", ".nbi")], ids=["data", "all"])
def test_compiled_files_copied_from_another_program_are_not_run(warm, suffixes):
    """Program B's compiled files under A's names, in a process that has loaded B (as Numba
    finds B's code then, it would run it for A)."""
    cache, a, b = warm
    for suffix in suffixes:
        for src in _kernel_files(cache, b, suffix):
            shutil.copyfile(src, src.with_name(src.name.replace(b, a)))
    assert _run(cache, "B", "A")[0] <= 1
    if suffixes == (".nbc",):
        assert _run(cache, "B", "A") == (0, 2)  # repaired: both loaded again, silently


def test_a_damaged_helper_kernel_is_recompiled(warm):
    """A flipped bit in a helper kernel's cached code, which each new program calling it
    links in (it failed every such program's compilation, or crashed LLVM)."""
    cache, _, _ = warm
    (path,) = (cache / "numba").rglob("vecmath.sin_f64-*.nbc")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x40
    path.write_bytes(bytes(data))
    assert _run(cache, "D")[0] <= 1


def test_compiled_files_swapped_between_programs_are_not_run(warm):
    cache, a, b = warm
    for src in _kernel_files(cache, a):  # program A's compiled code under B's names
        shutil.copyfile(src, src.with_name(src.name.replace(a, b)))
    # ... and B's source with A's time stamp (the sources have the same size), as when files
    # are copied with their times: Numba's own staleness check then cannot tell them apart.
    source_a, source_b = (cache / "xform" / f"{stem}.py" for stem in (a, b))
    assert source_a.stat().st_size == source_b.stat().st_size
    stamp = source_a.stat().st_mtime_ns
    os.utime(source_b, ns=(stamp, stamp))
    _run(cache, "B", "A")  # checks the values


def test_a_damaged_generated_source_is_rewritten(warm):
    cache, a, b = warm
    for stem in (a, b):
        path = cache / "xform" / f"{stem}.py"
        path.write_text(path.read_text()[:50])
    assert _run(cache, "A", "B")[0] == 0




# ----------------------------------------------------------------------------- records

class _Codegen:
    def __init__(self, cpu="cpu-a"):
        self.cpu = cpu

    def magic_tuple(self):
        return ("x86_64-unknown-linux-gnu", self.cpu, "")


def _files(tmp_path):
    """A function's cache files (index and data) and their record, as Numba would leave them."""
    from xform.backends.cached_code import CodeFiles
    files = CodeFiles(str(tmp_path), "xform_gen_0.kernel-9.py311", "xform_gen_0")
    (tmp_path / "xform_gen_0.kernel-9.py311.nbi").write_bytes(b"index")
    (tmp_path / "xform_gen_0.kernel-9.py311.1.nbc").write_bytes(b"machine code")
    files.record(_Codegen(), _no_warning)
    return files


def _no_warning(message):
    raise AssertionError(message)


def test_a_record_vouches_for_exactly_the_files_it_saw(tmp_path):
    files = _files(tmp_path)
    assert files.trusted(_Codegen(), _no_warning)
    (tmp_path / "xform_gen_0.kernel-9.py311.1.nbc").write_bytes(b"machine codf")
    warned = []
    files.trusted(_Codegen(), warned.append)
    assert len(warned) == 1 and "does not match its record" in warned[0]
    assert not list(tmp_path.glob("xform_gen_0.*.nb?"))  # deleted, to be compiled afresh


def test_records_of_another_environment_or_no_record(tmp_path):
    files = _files(tmp_path)
    files.trusted(_Codegen("cpu-b"), _no_warning)  # to be recompiled, silently
    assert not list(tmp_path.glob("xform_gen_0.*"))
    assert files.trusted(_Codegen(), _no_warning)  # nothing to load, nothing to say
    (tmp_path / "xform_gen_0.kernel-9.py311.nbi").write_bytes(b"index")  # files, no record
    warned = []
    files.trusted(_Codegen(), warned.append)
    assert len(warned) == 1 and not list(tmp_path.glob("xform_gen_0.*"))


def test_a_record_that_cannot_be_written_costs_one_warning(tmp_path, monkeypatch):
    from xform.backends import cached_code

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    files = _files(tmp_path)
    monkeypatch.setattr(cached_code.tempfile, "mkstemp", full)
    warned = []
    files.record(_Codegen(), warned.append)
    assert len(warned) == 1 and "No space left" in warned[0]
    assert files.trusted(_Codegen(), _no_warning)  # the previous record still holds


def test_processes_compiling_one_program_at_once_leave_a_consistent_record(warm):
    """Two processes whose compile workers compile program C at once: no warning in either
    (the worker's output is as trusted as the process's own), and C loads silently later."""
    cache, _, _ = warm
    env = dict(os.environ, XFORM_CACHE_DIR=str(cache / "xform"),
               NUMBA_CACHE_DIR=str(cache / "numba"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(SCRIPT), "C"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert all("warnings 0" in out for out, _ in outs), outs
    assert _run(cache, "C") == (0, 1)
