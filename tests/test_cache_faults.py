"""Fault injection into the on-disk caches: whatever happens to the files of a compiled program
(truncated, zeroed, garbage, flipped bits, deleted, swapped with another program's), a later
process computes the right result, at most with a warning."""
import os
import random
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
    import sys, warnings
    import numpy as np, xform as xf, xform.numpy as xnp
    x = np.linspace(-2.0, 2.0, 101)
    programs = {
        "A": xf.jit(lambda x: xnp.sum(xnp.sin(x) * 2.0), compile="sync"),
        "B": xf.jit(lambda x: xnp.sum(xnp.cos(x) * 3.0), compile="sync"),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in sys.argv[1:]:
            print(name, float(programs[name](x)).hex())
    print("warnings", len([w for w in caught if "jit" in str(w.message)]))
    from xform.backends import numba as nb
    print("loaded", nb.stats["loaded"])
"""
EXPECTED = {"A": float(np.sum(np.sin(np.linspace(-2.0, 2.0, 101)) * 2.0)),
            "B": float(np.sum(np.cos(np.linspace(-2.0, 2.0, 101)) * 3.0))}


def _run(cache, *names):
    env = dict(os.environ, XFORM_CACHE_DIR=str(cache / "xform"),
               NUMBA_CACHE_DIR=str(cache / "numba"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), *names], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    values = dict(line.split() for line in lines if line[:2] in ("A ", "B "))
    for name, value in values.items():
        assert float.fromhex(value) == pytest.approx(EXPECTED[name], rel=1e-12), name
    counts = dict(line.split() for line in lines if line.startswith(("warnings", "loaded")))
    return int(counts["warnings"]), int(counts["loaded"])


def _kernel_files(cache, name_of_source):
    """The Numba cache files of the generated module holding `name_of_source`."""
    return sorted(p for p in (cache / "numba").rglob("xform_gen_*") if name_of_source in p.name)


def _sources(cache):
    return {p.stem: p.read_text() for p in (cache / "xform").glob("xform_gen_*.py")}


def _warm(tmp_path):
    """A cache holding compiled programs A and B; the generated module names of each."""
    cache = tmp_path
    _run(cache, "A", "B")
    stems = _sources(cache)
    a = next(s for s, text in stems.items() if "sin" in text.split("def kernel")[-1])
    b = next(s for s, text in stems.items() if "cos" in text.split("def kernel")[-1])
    assert _run(cache, "A", "B") == (0, 2)  # both loaded from the cache, nothing compiled
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


def _check_damages(tmp_path, damages):
    cache, a, _ = _warm(tmp_path)
    rng = random.Random(0)
    for damage in damages:
        files = _kernel_files(cache, a)
        assert files, "the cache holds no compiled files of program A"
        for k, path in enumerate(files):
            if damage != "delete half" or k % 2 == 0:
                _damage(path, damage, rng)
        warnings, _ = _run(cache, "A")  # the right value (checked), at most one warning
        assert warnings <= 1, damage


def test_flipped_bits_in_compiled_files_are_recompiled(tmp_path):
    _check_damages(tmp_path, ["flip"])


@pytest.mark.slow
def test_every_kind_of_damage_to_compiled_files_is_recompiled(tmp_path):
    _check_damages(tmp_path, ["truncate", "zero", "garbage", "flip", "delete half"])


def test_compiled_files_swapped_between_programs_are_not_run(tmp_path):
    cache, a, b = _warm(tmp_path)
    for src in _kernel_files(cache, a):  # program A's compiled code under B's names
        shutil.copyfile(src, src.with_name(src.name.replace(a, b)))
    # ... and B's source with A's time stamp (the sources have the same size), as when files
    # are copied with their times: Numba's own staleness check then cannot tell them apart.
    source_a, source_b = (cache / "xform" / f"{stem}.py" for stem in (a, b))
    assert source_a.stat().st_size == source_b.stat().st_size
    stamp = source_a.stat().st_mtime_ns
    os.utime(source_b, ns=(stamp, stamp))
    _run(cache, "B", "A")  # checks the values


def test_a_damaged_generated_source_is_rewritten(tmp_path):
    cache, a, b = _warm(tmp_path)
    for stem in (a, b):
        path = cache / "xform" / f"{stem}.py"
        path.write_text(path.read_text()[:50])
    assert _run(cache, "A", "B")[0] == 0
