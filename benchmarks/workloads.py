"""The table of workloads × implementations that the suite measures.

A workload is data plus implementations. Implementations on the xform side become rows of the
ratio table, peers become its columns. Most implementations come from one recipe applied to
several kits (kits.py), so each workload's math is written once, in models.py.
"""
from __future__ import annotations

import functools
import importlib
import itertools
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import first_call, handwritten, kits, models


@dataclass(frozen=True)
class Options:
    """Run-wide choices: reduced sizes for a smoke run, and the backend handed to xf.jit."""
    quick: bool = False
    backend: str | None = None
    workdir: str = tempfile.gettempdir()  # where fresh-process runs keep their xform caches


@dataclass(frozen=True)
class Impl:
    """One implementation of a workload; `make(data, options)` returns what is timed.

    For steady-state workloads that is a thunk returning the result; for fresh-process ones a
    probe returning (seconds, result) per call.
    """
    name: str
    side: str            # "xform": a row of the ratio table; "peer": a column
    desc: str
    make: Callable[[dict, Options], Callable[[], Any]]
    check: bool = True   # compare its result with the workload's expected result


@dataclass(frozen=True)
class Workload:
    """Data (from `setup`) and the implementations that compute the same thing on it."""
    key: str
    row: str
    title: str           # a short name for the tables
    details: str         # sizes, dtypes and what the peer columns mean
    setup: Callable[[Options], dict]
    impls: tuple[Impl, ...]
    expected: Callable[[dict], Any]  # the right result, in closed form or plain numpy
    tol: float           # relative tolerance of a result (max abs error / max abs value)
    fresh: bool = False  # first-call latency in fresh processes instead of steady state
    note: Callable[[dict, dict], str] | None = None  # (data, cells) -> an extra report line


# ----------------------------------------------------------------------------- recipes

def _recipe(transform: Callable, model: Callable, *keys: str):
    """A recipe: `transform(kit, model bound to the kit's ops)` called on `data[keys]`."""
    def recipe(kit: kits.Kit, data: dict):
        fun = transform(kit, functools.partial(model, kit.ops))
        args = kit.inputs(*(data[k] for k in keys))
        return lambda: kit.sync(fun(*args))
    return recipe


def _per_example(kit, f):
    return kit.jit(kit.vmap(kit.grad(f), in_axes=(None, 0, 0)))


value_and_grad_recipe = _recipe(lambda k, f: k.jit(k.value_and_grad(f)),
                                models.mlp_loss, "params", "x", "y")


def _per_example_loop(kit: kits.Kit, data: dict):
    """A Python loop of grad over the batch, results stacked like vmap's."""
    g = kit.jit(kit.grad(functools.partial(models.example_loss, kit.ops)))
    params, xs, ys = kit.inputs(data["params"], data["x"], data["y"])

    def run():
        per = [g(params, x, y) for x, y in zip(xs, ys)]
        return [tuple(np.stack([p[i][j] for p in per]) for j in range(2))
                for i in range(len(params))]
    return run


STEP = 10  # the adam step number of the training-update workload


def _adam(kit: kits.Kit, data: dict):
    """The kit's adam(1e-3) triple and its state at data's params, with data's moments."""
    opt = importlib.import_module(kit.optimizers).adam(1e-3)
    params, moments = kit.inputs(data["params"], data["moments"])
    flat = [p for layer in params for p in layer]
    state = opt[0](params)
    # The containers of the library's own state, so that a loop carries the same pytree.
    outer, inner = type(state.packed_state), type(state.packed_state[0])
    packed = outer(inner([p, m, v])
                   for p, (m, v) in zip(flat, [mv for layer in moments for mv in layer]))
    return opt, state._replace(packed_state=packed)


def _mlp_update(kit: kits.Kit, data: dict):
    """The jitted step `state = update(step, state, x, y)` of models.mlp_update."""
    opt, state = _adam(kit, data)
    update = kit.jit(functools.partial(models.mlp_update, kit.ops, kit.grad, opt))
    x, y = kit.inputs(data["x"], data["y"])
    return lambda: kit.sync(update(STEP, state, x, y).packed_state)


def _autograd_update(data: dict, opts: Options):
    """autograd's gradient of the loss and the hand-written adam step."""
    kit = kits.load("autograd")
    g = kit.grad(functools.partial(models.mlp_loss, kit.ops))
    params, moments, x, y = (data[k] for k in ("params", "moments", "x", "y"))
    return lambda: handwritten.adam_step(STEP, g(params, x, y), params, moments)


def _vae_epoch(kit: kits.Kit, data: dict):
    """The jitted epoch `state = epoch(state, key, batches)` of models.vae_epoch."""
    opt, state = _adam(kit, data)
    epoch = kit.jit(functools.partial(models.vae_epoch, kit.ops, kit.grad, opt))
    key, batches = kit.inputs(data["key"], data["batches"])
    return lambda: kit.sync(epoch(state, key, batches).packed_state)


def _vae_noise(data: dict) -> list[np.ndarray]:
    """The standard normal noise of each step of models.vae_epoch, drawn by xform.random from
    the same chain of keys (JAX's values: bit for bit for the keys, to a few ulps for normal)."""
    import xform as xf
    key, noises = data["key"], []
    latent = data["params"][1][0].shape[1]
    for x in data["batches"]:
        key, sub = xf.random.split(key)
        noises.append(np.asarray(xf.random.normal(sub, (len(x), latent), x.dtype)))
    return noises


def _vae_numpy(data: dict, opts: Options):
    noises = _vae_noise(data)
    args = data["params"], data["moments"], noises, data["batches"]
    return lambda: handwritten.vae_epoch(*args)


def _vae_expected(data: dict):
    return handwritten.vae_epoch(data["params"], data["moments"], _vae_noise(data),
                                 data["batches"])


_LIB = {"xform-interp": "xf", "xform-jit": "xf", "jax-jit": "jax", "jax-eager": "jax",
        "autograd": "autograd", "torch": "torch.func"}
_OPS = {"xform-interp": "xnp", "xform-jit": "xnp", "jax-jit": "jnp", "jax-eager": "jnp",
        "autograd": "autograd.numpy", "torch": "torch"}
_JIT = {"xform-jit": "xf.jit({})", "jax-jit": "jax.jit({})"}


def _kit_impl(name: str, side: str, kit: str, recipe: Callable, template: str) -> Impl:
    """`recipe` run by `kit`; `template` describes it with {lib} for the library's transforms
    and {ops} for its numpy namespace."""
    desc = _JIT.get(kit, "{}").format(template.format(lib=_LIB[kit], ops=_OPS[kit]))
    # torch.func spells value_and_grad as grad_and_value (the kit swaps the pair back).
    desc = desc.replace("torch.func.value_and_grad", "torch.func.grad_and_value")
    return Impl(name, side, desc, lambda data, opts: recipe(kits.load(kit, opts.backend), data))


def _xform_impls(recipe: Callable, template: str) -> tuple[Impl, ...]:
    """The interpreted and the jitted xform implementations of a recipe."""
    return (_kit_impl("interp", "xform", "xform-interp", recipe, template),
            _kit_impl("jit", "xform", "xform-jit", recipe, template))


def _peer_impls(recipe: Callable, template: str, jax_kit: str = "jax-jit",
                autograd: bool = True) -> tuple[Impl, ...]:
    """The JAX, autograd (unless told otherwise) and torch implementations of a recipe."""
    return ((_kit_impl("JAX", "peer", jax_kit, recipe, template),)
            + ((_kit_impl("autograd", "peer", "autograd", recipe, template),) if autograd else ())
            + (_kit_impl("torch", "peer", "torch", recipe, template),))


def _on(fn: Callable, *keys: str) -> Callable[[dict], Any]:
    """`fn` as a function of the data, taking its arguments from `data[keys]`."""
    return lambda data: fn(*(data[k] for k in keys))


def _hand(name: str, fn: Callable, desc: str, *keys: str) -> Impl:
    def make(data, opts):
        args = [data[k] for k in keys]
        return lambda: fn(*args)
    return Impl(name, "peer", desc, make)


def _numba(kernel: str, desc: str, *keys: str) -> Impl:
    def make(data, opts):
        fn = handwritten.numba_kernels()[kernel]
        args = [data[k] for k in keys]
        return lambda: fn(*args)
    return Impl("numba", "peer", desc, make)


def _copy_floor(data: dict, opts: Options):
    """np.copyto of one x-sized chunk of a large array per call, a new chunk each time.

    A fused gradient kernel must read x and write the gradient, which is exactly the traffic of
    copying x; cycling through an array far larger than the caches times it at memory speed.
    """
    n = data["x"].size
    chunks = max(8, (1 << 25) // n)  # 256 MB per array, far beyond any cache
    src = np.full(n * chunks, 0.5)
    dst = np.full_like(src, 0.0)  # written now, so no page faults are timed
    order = itertools.cycle(range(chunks))

    def run():
        i = next(order) * n
        np.copyto(dst[i:i + n], src[i:i + n])
    return run


def _floor_note(data: dict, cells: dict) -> str:
    floor = cells.get("floor")
    if floor is None or floor.seconds is None:
        return ""
    moved = 2 * data["x"].nbytes
    return (f"memory-traffic floor: an ideal fused kernel reads x and writes the gradient, "
            f"{moved / 1e6:.0f} MB; at the measured copy bandwidth of "
            f"{moved / floor.seconds / 1e9:.1f} GB/s that takes {floor.seconds * 1e3:.2f} ms")


def _first_call(kit: str, warm: bool, calls: int = 1):
    """A probe of the time to the `calls`-th result in fresh processes, with cold or warm
    on-disk caches.

    Every call of the probe is a measurement, the first one included.
    """
    def make(data, opts):
        if not kit.startswith("xform"):
            return lambda: first_call.probe(kit, opts.backend, None, calls)
        if warm:  # an earlier process compiled the program (synchronously) into the cache
            cache = tempfile.mkdtemp(prefix="warm-cache-", dir=opts.workdir)
            first_call.probe("xform-jit", opts.backend, cache, calls)
            return lambda: first_call.probe(kit, opts.backend, cache, calls)

        def cold():
            cache = tempfile.mkdtemp(prefix="cold-cache-", dir=opts.workdir)
            try:
                return first_call.probe(kit, opts.backend, cache, calls)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        return cold
    return make


# ----------------------------------------------------------------------------- data

def _mlp_data(opts):
    return models.classification_data()


def _mlp_update_data(opts):
    data = models.classification_data()
    return {**data, "moments": models.adam_moments(data["params"])}


def _vae_data(opts):
    return models.vae_data(batches=4 if opts.quick else 20)


def _per_example_data(opts):
    return models.regression_data(batch=64 if opts.quick else 1024)


def _scalar_data(opts):
    return {"x": 1.5}


def _rosen_data(opts):
    return {"x": np.random.default_rng(4).uniform(-1.0, 1.5, 100)}


def _cnn_data(opts):
    return models.cnn_data(batch=8 if opts.quick else 32)


def _elementwise_data(opts):
    n = 10 ** 5 if opts.quick else 10 ** 6
    return {"x": np.random.default_rng(5).uniform(-3.0, 3.0, n)}


# ----------------------------------------------------------------------------- the table

_forward = _recipe(lambda k, f: k.jit(f), models.mlp_loss, "params", "x", "y")
_scalar_grad = _recipe(lambda k, f: k.jit(k.grad(f)), models.scalar_fun, "x")
_per_example_vmap = _recipe(_per_example, models.example_loss, "params", "x", "y")
_hessian = _recipe(lambda k, f: k.jit(k.hessian(f)), models.rosenbrock, "x")
_elementwise = _recipe(lambda k, f: k.jit(f), models.elementwise, "x")
_elementwise_grad = _recipe(lambda k, f: k.jit(k.grad(f)), models.elementwise, "x")
_cnn_value_and_grad = _recipe(lambda k, f: k.jit(k.value_and_grad(f)), models.cnn_loss,
                              "params", "x", "y")

_LOOP = "[{}(params, x[i], y[i]) for i in range(batch)]"

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "mlp_forward", "1", "MLP forward",
        "MLP 784-512-512-10, tanh, softmax cross-entropy, batch 128, float32; JAX is jax.jit",
        _mlp_data,
        _xform_impls(_forward, "{ops} loss")
        + (_hand("numpy", handwritten.mlp_loss, "hand-written numpy", "params", "x", "y"),)
        + _peer_impls(_forward, "{ops} loss"),
        expected=_on(handwritten.mlp_loss, "params", "x", "y"), tol=1e-4),
    Workload(
        "mlp_value_and_grad", "1", "MLP value_and_grad",
        "the same MLP; numpy is a hand-written forward + backward pass; JAX is jax.jit",
        _mlp_data,
        _xform_impls(value_and_grad_recipe, "{lib}.value_and_grad(loss)")
        + (_hand("numpy", handwritten.mlp_value_and_grad,
                 "hand-written numpy forward + backward", "params", "x", "y"),)
        + _peer_impls(value_and_grad_recipe, "{lib}.value_and_grad(loss)"),
        expected=_on(handwritten.mlp_value_and_grad, "params", "x", "y"), tol=1e-4),
    Workload(
        "mlp_update", "1b", "MLP training step",
        "the row-1 MLP's whole training step state = update(step, state, x, y), jitted: "
        "value_and_grad and adam(1e-3) of example_libraries.optimizers (xform's port, JAX's "
        "own); numpy is the hand-written backward pass and adam, autograd its grad and that "
        "adam",
        _mlp_update_data,
        (Impl("jit", "xform", "xf.jit(update)",
              lambda data, opts: _mlp_update(kits.load("xform-jit", opts.backend), data)),
         _hand("numpy", lambda *a: handwritten.mlp_update(STEP, *a),
               "hand-written numpy backward + adam", "params", "moments", "x", "y"),
         Impl("JAX", "peer", "jax.jit(update)",
              lambda data, opts: _mlp_update(kits.load("jax-jit"), data)),
         Impl("autograd", "peer", "autograd.grad(loss) + numpy adam", _autograd_update)),
        expected=lambda d: handwritten.mlp_update(STEP, d["params"], d["moments"], d["x"],
                                                  d["y"]), tol=1e-4),
    Workload(
        "vae_epoch", "1c", "VAE epoch, fori_loop",
        "a VAE 784-400-(20 mean, 20 log-variance), 20-400-784, relu, Bernoulli likelihood, "
        "float32: one jitted epoch of 20 minibatches of 128 (4 with --quick) in lax.fori_loop, "
        "each a random.split, a reparameterised random.normal sample, grad and adam(1e-3); "
        "numpy is a hand-written backward pass and adam, with the noise drawn beforehand",
        _vae_data,
        (Impl("jit", "xform", "xf.jit(epoch)",
              lambda data, opts: _vae_epoch(kits.load("xform-jit", opts.backend), data)),
         Impl("numpy", "peer", "hand-written numpy backward + adam, noise given", _vae_numpy),
         Impl("JAX", "peer", "jax.jit(epoch)",
              lambda data, opts: _vae_epoch(kits.load("jax-jit"), data))),
        expected=_vae_expected, tol=5e-4),  # 20 float32 adam steps
    Workload(
        "scalar_grad_eager", "2a", "eager grad, scalar",
        "grad of sin(x)·x + x² at a Python float, per call; JAX is jax.grad, not jitted",
        _scalar_data,
        (_kit_impl("interp", "xform", "xform-interp", _scalar_grad, "{lib}.grad(f)"),)
        + _peer_impls(_scalar_grad, "{lib}.grad(f)", jax_kit="jax-eager"),
        expected=_on(handwritten.scalar_grad_closed_form, "x"), tol=1e-12),
    Workload(
        "scalar_grad_jit", "2b", "jitted grad, scalar",
        "the same gradient compiled, per call: jax.jit(jax.grad), numba.njit of the closed form",
        _scalar_data,
        (_kit_impl("jit", "xform", "xform-jit", _scalar_grad, "{lib}.grad(f)"),
         _numba("scalar_grad", "numba.njit(closed-form derivative)", "x"),
         _kit_impl("JAX", "peer", "jax-jit", _scalar_grad, "{lib}.grad(f)")),
        expected=_on(handwritten.scalar_grad_closed_form, "x"), tol=1e-12),
    Workload(
        "per_example", "3", "per-example grads",
        "gradients per example, MLP 32-64-64-1, tanh, squared error, batch 1024 (64 with "
        "--quick), float32; JAX is jax.jit(jax.vmap(jax.grad)), torch is torch.func",
        _per_example_data,
        _xform_impls(_per_example_vmap, "{lib}.vmap({lib}.grad(loss))")
        + (Impl("interp loop", "xform", _LOOP.format("xf.grad(loss)"),
                lambda data, opts: _per_example_loop(kits.load("xform-interp"), data)),
           Impl("jit loop", "xform", _LOOP.format("xf.jit(xf.grad(loss))"),
                lambda data, opts: _per_example_loop(kits.load("xform-jit", opts.backend),
                                                     data)),
           _hand("numpy", handwritten.per_example_grads, "hand-written batched numpy backward",
                 "params", "x", "y"))
        + _peer_impls(_per_example_vmap, "{lib}.vmap({lib}.grad(loss))", autograd=False),
        expected=_on(handwritten.per_example_grads, "params", "x", "y"), tol=1e-4),
    Workload(
        "rosenbrock_hessian", "4", "Rosenbrock Hessian",
        "Hessian of the extended (chained) Rosenbrock function, n=100, float64; numpy is the "
        "closed form; JAX is jax.jit(jax.hessian)",
        _rosen_data,
        _xform_impls(_hessian, "{lib}.hessian(f)")
        + (_hand("numpy", handwritten.rosenbrock_hessian, "closed form in numpy", "x"),)
        + _peer_impls(_hessian, "{lib}.hessian(f)"),
        expected=_on(handwritten.rosenbrock_hessian, "x"), tol=1e-12),
    Workload(
        "elementwise_forward", "5", "fused elementwise sum",
        "sum(tanh(x)·sin(x) + exp(-x²)) itself (the forward pass of the gradient below), 10^6 "
        "float64 values (10^5 with --quick); numpy is one pass per operation and np.sum, numba "
        "a serial loop of libm calls; JAX is jax.jit",
        _elementwise_data,
        _xform_impls(_elementwise, "f")
        + (_hand("numpy", handwritten.elementwise, "numpy, one pass per operation", "x"),
           _numba("elementwise", "numba.njit(serial loop)", "x"))
        + _peer_impls(_elementwise, "f", autograd=False),
        expected=_on(handwritten.elementwise, "x"), tol=1e-12),
    Workload(
        "elementwise_grad", "5", "fused elementwise grad",
        "grad of sum(tanh(x)·sin(x) + exp(-x²)), 10^6 float64 values (10^5 with --quick); "
        "numpy and numba are the closed form; floor is the memory-traffic floor",
        _elementwise_data,
        _xform_impls(_elementwise_grad, "{lib}.grad(f)")
        + (_hand("numpy", handwritten.elementwise_grad, "closed form in numpy", "x"),
           _numba("elementwise_grad", "numba.njit(closed-form loop)", "x"),
           Impl("floor", "peer", "np.copyto of x-sized chunks cycling through a large array",
                _copy_floor, check=False))
        + _peer_impls(_elementwise_grad, "{lib}.grad(f)"),
        expected=_on(handwritten.elementwise_grad, "x"), tol=1e-12,
        note=_floor_note),
    Workload(
        "first_call", "6", "first call, fresh process",
        "import + trace + compile + run of jit(value_and_grad(loss)) for the row-1 MLP in a new "
        "process; cold: empty XFORM_CACHE_DIR and NUMBA_CACHE_DIR, warm: those of an earlier "
        "process; cold and warm compile before the first call returns (compile='sync'); "
        "background: the default, the first call interpreted while a worker process compiles "
        "(cold caches) or while the cached program loads (warm background)",
        _mlp_data,
        (Impl("background", "xform", "xf.jit(xf.value_and_grad(loss)), empty cache",
              _first_call("xform-jit-background", warm=False)),
         Impl("cold", "xform", "xf.jit(xf.value_and_grad(loss), compile='sync'), empty cache",
              _first_call("xform-jit", warm=False)),
         Impl("warm", "xform", "xf.jit(xf.value_and_grad(loss), compile='sync'), cache of an "
              "earlier run", _first_call("xform-jit", warm=True)),
         Impl("warm background", "xform", "xf.jit(xf.value_and_grad(loss)), cache of an "
              "earlier run", _first_call("xform-jit-background", warm=True)),
         Impl("JAX", "peer", "jax.jit(jax.value_and_grad(loss))", _first_call("jax-jit", False))),
        expected=lambda d: float(handwritten.mlp_loss(d["params"], d["x"], d["y"])), tol=1e-4,
        fresh=True),
    Workload(
        "hundred_calls", "6b", "100 calls, fresh process",
        "import + the first 100 calls of jit(value_and_grad(loss)) for the row-1 MLP in a new "
        "process with cold caches: background is the default compile mode, sync compiles first",
        _mlp_data,
        (Impl("background", "xform", "100 calls of xf.jit(xf.value_and_grad(loss)), empty cache",
              _first_call("xform-jit-background", warm=False, calls=100)),
         Impl("sync", "xform", "the same with compile='sync', empty cache",
              _first_call("xform-jit", warm=False, calls=100)),
         Impl("JAX", "peer", "100 calls of jax.jit(jax.value_and_grad(loss))",
              _first_call("jax-jit", False, calls=100))),
        expected=lambda d: float(handwritten.mlp_loss(d["params"], d["x"], d["y"])), tol=1e-4,
        fresh=True),
    Workload(
        "cnn_value_and_grad", "7", "CNN value_and_grad",
        "conv 3x3 (8 channels), relu, conv 3x3 (16), relu, 2x2 max pool, dense, softmax "
        "cross-entropy; batch 32 (8 with --quick) of 28x28x1 float32 NHWC images; numpy is a "
        "hand-written forward + backward pass (im2col by tensordot); JAX is jax.jit",
        _cnn_data,
        _xform_impls(_cnn_value_and_grad, "{lib}.value_and_grad(cnn_loss)")
        + (_hand("numpy", handwritten.cnn_value_and_grad,
                 "hand-written numpy forward + backward", "params", "x", "y"),
           _kit_impl("JAX", "peer", "jax-jit", _cnn_value_and_grad,
                     "{lib}.value_and_grad(cnn_loss)")),
        expected=_on(handwritten.cnn_value_and_grad, "params", "x", "y"), tol=1e-4),
)


@dataclass(frozen=True)
class Ratio:
    """A time ratio num / den of two (workload key, implementation) cells; `limit` the target."""
    label: str
    num: tuple[str, str]
    den: tuple[str, str]
    limit: float | None = None


# The targets of the issues, plus ratios worth seeing next to them (no limit).
RATIOS: tuple[Ratio, ...] = (
    Ratio("AD overhead, value_and_grad ÷ forward, interpreter",
          ("mlp_value_and_grad", "interp"), ("mlp_forward", "interp"), 3.0),
    Ratio("AD overhead, value_and_grad ÷ forward, jit",
          ("mlp_value_and_grad", "jit"), ("mlp_forward", "jit")),
    Ratio("AD overhead, value_and_grad ÷ forward, JAX jit",
          ("mlp_value_and_grad", "JAX"), ("mlp_forward", "JAX")),
    Ratio("AD overhead, value_and_grad ÷ forward, hand-written numpy",
          ("mlp_value_and_grad", "numpy"), ("mlp_forward", "numpy")),
    Ratio("eager grad ÷ autograd", ("scalar_grad_eager", "interp"),
          ("scalar_grad_eager", "autograd"), 1.0),
    Ratio("jitted small grad ÷ JAX jit", ("scalar_grad_jit", "jit"), ("scalar_grad_jit", "JAX"),
          0.2),
    Ratio("MLP value_and_grad, jit ÷ JAX jit", ("mlp_value_and_grad", "jit"),
          ("mlp_value_and_grad", "JAX"), 1.0),
    Ratio("MLP value_and_grad, jit ÷ hand-written numpy", ("mlp_value_and_grad", "jit"),
          ("mlp_value_and_grad", "numpy"), 1.1),
    Ratio("MLP training step (value_and_grad + adam), jit ÷ JAX jit", ("mlp_update", "jit"),
          ("mlp_update", "JAX"), 1.0),
    Ratio("VAE epoch in fori_loop, jit ÷ JAX jit", ("vae_epoch", "jit"), ("vae_epoch", "JAX"),
          1.0),
    Ratio("per-example grads, jit ÷ JAX jit", ("per_example", "jit"), ("per_example", "JAX"),
          1.0),
    Ratio("per-example grads, vmap ÷ loop, interpreter", ("per_example", "interp"),
          ("per_example", "interp loop")),
    Ratio("per-example grads, vmap ÷ loop, jit", ("per_example", "jit"),
          ("per_example", "jit loop")),
    Ratio("Rosenbrock Hessian, jit ÷ JAX jit", ("rosenbrock_hessian", "jit"),
          ("rosenbrock_hessian", "JAX"), 1.0),
    Ratio("fused elementwise sum, jit ÷ JAX jit", ("elementwise_forward", "jit"),
          ("elementwise_forward", "JAX"), 1.0),
    Ratio("fused elementwise, grad ÷ forward, jit", ("elementwise_grad", "jit"),
          ("elementwise_forward", "jit")),
    Ratio("fused elementwise grad, jit ÷ JAX jit", ("elementwise_grad", "jit"),
          ("elementwise_grad", "JAX"), 1.0),
    Ratio("fused elementwise grad, jit ÷ memory-traffic floor", ("elementwise_grad", "jit"),
          ("elementwise_grad", "floor")),
    Ratio("CNN value_and_grad, jit ÷ JAX jit", ("cnn_value_and_grad", "jit"),
          ("cnn_value_and_grad", "JAX"), 2.0),
    Ratio("CNN value_and_grad, jit ÷ hand-written numpy", ("cnn_value_and_grad", "jit"),
          ("cnn_value_and_grad", "numpy")),
    Ratio("first call, background compile (default) ÷ JAX", ("first_call", "background"),
          ("first_call", "JAX"), 1.0),
    Ratio("100 calls from a cold start, background ÷ JAX", ("hundred_calls", "background"),
          ("hundred_calls", "JAX"), 1.0),
    Ratio("first call, cold cache, sync compile ÷ JAX", ("first_call", "cold"),
          ("first_call", "JAX")),
    Ratio("first call, warm cache, background compile (default) ÷ JAX",
          ("first_call", "warm background"), ("first_call", "JAX"), 0.5),
    Ratio("first call, warm cache, sync compile ÷ JAX", ("first_call", "warm"),
          ("first_call", "JAX")),
    Ratio("first call, warm ÷ cold cache", ("first_call", "warm"), ("first_call", "cold")),
)
