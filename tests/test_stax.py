"""xform.example_libraries: stax layers (shapes, values against numpy references, combinators),
optimizers (updates against their formulas, schedules, state packing), an mnist-classifier-style
training loop under xf.jit, and both against jax.example_libraries (peers)."""
from __future__ import annotations

import itertools
import pickle
import warnings

import numpy as np
import pytest

import xform as xf
import xform.numpy as xnp
from xform import random, tree
from xform.backends import numba as numba_backend
from xform.example_libraries import optimizers, stax

KEY = random.PRNGKey(0)


def _init_apply(layer, input_shape, seed=1, **kwargs):
    """(declared output shape, actual output, params, inputs) of a layer at `input_shape`
    (-1 in it stands for a batch of 2)."""
    init_fun, apply_fun = layer
    out_shape, params = init_fun(KEY, input_shape)
    concrete = tree.map(lambda n: 2 if n == -1 else n, input_shape)
    rng = np.random.default_rng(seed)
    inputs = (rng.standard_normal(concrete) if isinstance(concrete, tuple) and all(
        isinstance(n, int) for n in concrete) else [rng.standard_normal(s) for s in concrete])
    return out_shape, apply_fun(params, inputs, **kwargs), params, inputs


def _shape(s):
    return tuple(2 if n == -1 else n for n in s)


LAYERS = [
    (stax.Dense(5), (-1, 3)),
    (stax.Dense(4), (2, 3, 6)),
    (stax.Conv(4, (3, 3)), (2, 7, 6, 3)),
    (stax.Conv(4, (3, 2), strides=(2, 1), padding="SAME"), (-1, 7, 6, 3)),
    (stax.GeneralConv(("NCHW", "OIHW", "NCHW"), 5, (2, 3), (1, 2), "SAME"), (2, 3, 7, 9)),
    (stax.Conv(2, (2, 2), padding=((1, 0), (0, 2))), (2, 5, 5, 1)),
    (stax.ConvTranspose(3, (3, 3), (2, 2), "SAME"), (2, 4, 5, 2)),
    (stax.ConvTranspose(3, (3, 3), (2, 2)), (2, 4, 5, 2)),
    (stax.Conv1DTranspose(3, (2,), (3,)), (2, 4, 2)),
    (stax.MaxPool((2, 2)), (2, 5, 6, 3)),
    (stax.MaxPool((3, 2), (2, 2), "SAME"), (-1, 7, 6, 3)),
    (stax.AvgPool((2, 3), (1, 2), "SAME"), (2, 5, 7, 3)),
    (stax.SumPool((2, 2), (2, 2)), (2, 5, 6, 3)),
    (stax.MaxPool((2,), spec="NCW"), (2, 3, 6)),
    (stax.Flatten, (-1, 3, 4, 2)),
    (stax.BatchNorm(), (2, 3, 4, 5)),
    (stax.BatchNorm(axis=0, center=False), (6, 4)),
    (stax.Identity, (2, 3)),
    *[(getattr(stax, n), (2, 3)) for n in ("Relu", "Tanh", "Sigmoid", "Elu", "LeakyRelu",
                                            "Softplus", "Gelu", "LogSoftmax", "Softmax",
                                            "Selu", "Exp")],
    (stax.serial(stax.Dense(4), stax.Relu, stax.Dense(2)), (-1, 3)),
    (stax.parallel(stax.Dense(2), stax.Identity), [(2, 3), (2, 5)]),
    (stax.serial(stax.FanOut(3), stax.parallel(stax.Dense(3), stax.Tanh, stax.Identity),
                 stax.FanInSum), (2, 3)),
    (stax.serial(stax.FanOut(2), stax.FanInConcat()), (2, 3)),
    (stax.serial(stax.FanOut(2), stax.FanInConcat(0)), (2, 3)),
    (stax.shape_dependent(lambda s: stax.Dense(s[-1] + 1)), (2, 3)),
]


@pytest.mark.parametrize("k", range(len(LAYERS)))
def test_output_shapes_match_the_declared_ones(k):
    layer, input_shape = LAYERS[k]
    out_shape, out, _, _ = _init_apply(layer, input_shape)
    shapes = [np.shape(o) for o in out] if isinstance(out, list) else np.shape(out)
    declared = [_shape(s) for s in out_shape] if isinstance(out, list) else _shape(out_shape)
    assert shapes == declared


def _conv_nhwc(x, w, stride=(1, 1)):
    """A VALID convolution (cross-correlation, as lax) by loops: x NHWC, w HWIO."""
    kh, kw = w.shape[:2]
    oh, ow = (x.shape[1] - kh) // stride[0] + 1, (x.shape[2] - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i, j in itertools.product(range(oh), range(ow)):
        patch = x[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw, :]
        out[:, i, j, :] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def _pool(x, window, stride, reduce):
    oh, ow = (x.shape[1] - window[0]) // stride[0] + 1, (x.shape[2] - window[1]) // stride[1] + 1
    return np.stack([np.stack([reduce(x[:, i * stride[0]:i * stride[0] + window[0],
                                       j * stride[1]:j * stride[1] + window[1], :], (1, 2))
                               for j in range(ow)], 1) for i in range(oh)], 1)


def test_layer_values_against_numpy():
    _, out, (w, b), x = _init_apply(stax.Dense(5), (4, 3))
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-12)
    assert w.shape == (3, 5) and b.shape == (5,)
    _, out, (w, b), x = _init_apply(stax.Conv(4, (3, 2), strides=(2, 1)), (2, 7, 6, 3))
    assert w.shape == (3, 2, 3, 4) and b.shape == (1, 1, 1, 4)
    np.testing.assert_allclose(out, _conv_nhwc(x, w, (2, 1)) + b, rtol=1e-10, atol=1e-12)
    x = np.random.default_rng(2).standard_normal((2, 6, 7, 3))
    for layer, reduce in [(stax.MaxPool, np.max), (stax.SumPool, np.sum), (stax.AvgPool, np.mean)]:
        init_fun, apply_fun = layer((2, 3), (2, 2))
        np.testing.assert_allclose(apply_fun((), x), _pool(x, (2, 3), (2, 2), reduce),
                                   rtol=1e-12)
    # SAME average pooling divides by the number of elements inside the image.
    ones = np.ones((1, 3, 3, 1))
    _, avg = stax.AvgPool((2, 2), (1, 1), "SAME")
    np.testing.assert_allclose(avg((), ones), ones)
    _, out, (beta, gamma), x = _init_apply(stax.BatchNorm(), (4, 3, 2, 5))
    assert beta.shape == gamma.shape == (5,)
    z = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(out, z, rtol=1e-9, atol=1e-12)


def test_dropout_keeps_inputs_with_probability_rate():
    init_fun, apply_fun = stax.Dropout(0.8)
    x = np.ones((100, 100))
    out = apply_fun((), x, rng=random.PRNGKey(3))
    kept = out != 0
    assert abs(kept.mean() - 0.8) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.8)
    again = apply_fun((), x, rng=random.PRNGKey(3))
    np.testing.assert_array_equal(out, again)
    assert np.array_equal(stax.Dropout(0.5, mode="test")[1]((), x, rng=KEY), x)
    with pytest.raises(ValueError, match="rng"):
        apply_fun((), x)
    # serial hands each layer its own key.
    _, two = stax.serial(stax.Dropout(0.5), stax.Dropout(0.5))
    _, one = stax.Dropout(0.5)
    assert not np.array_equal(two(((), ()), x, rng=KEY), one((), x, rng=KEY))


def _resnet_blocks():
    """The blocks of JAX's resnet50 example, small."""
    def conv_block(kernel_size, filters, strides=(2, 2)):
        f1, f2, f3 = filters
        main = stax.serial(stax.Conv(f1, (1, 1), strides), stax.BatchNorm(), stax.Relu,
                           stax.Conv(f2, (kernel_size, kernel_size), padding="SAME"),
                           stax.BatchNorm(), stax.Relu, stax.Conv(f3, (1, 1)), stax.BatchNorm())
        shortcut = stax.serial(stax.Conv(f3, (1, 1), strides), stax.BatchNorm())
        return stax.serial(stax.FanOut(2), stax.parallel(main, shortcut), stax.FanInSum,
                           stax.Relu)

    def identity_block(kernel_size, filters):
        f1, f2 = filters

        def make_main(input_shape):
            return stax.serial(stax.Conv(f1, (1, 1)), stax.BatchNorm(), stax.Relu,
                               stax.Conv(f2, (kernel_size, kernel_size), padding="SAME"),
                               stax.BatchNorm(), stax.Relu, stax.Conv(input_shape[3], (1, 1)),
                               stax.BatchNorm())
        return stax.serial(stax.FanOut(2), stax.parallel(stax.shape_dependent(make_main),
                                                         stax.Identity), stax.FanInSum,
                           stax.Relu)
    return stax.serial(stax.Conv(4, (3, 3), (2, 2), "SAME"), stax.BatchNorm(), stax.Relu,
                       stax.MaxPool((3, 3), strides=(2, 2)), conv_block(3, [2, 2, 4]),
                       identity_block(3, [2, 2]), stax.AvgPool((2, 2)), stax.Flatten,
                       stax.Dense(3), stax.LogSoftmax)


def test_resnet_style_composition():
    init_fun, apply_fun = _resnet_blocks()
    out_shape, params = init_fun(KEY, (-1, 16, 16, 3))
    x = np.random.default_rng(4).standard_normal((2, 16, 16, 3))
    out = apply_fun(params, x)
    assert out_shape == (-1, 3) and out.shape == (2, 3)
    np.testing.assert_allclose(np.exp(out).sum(1), 1.0)
    g = xf.grad(lambda p: xnp.sum(apply_fun(p, x)[:, 0]))(params)
    assert tree.structure(g) == tree.structure(params)
    # FanOut + parallel(main, Identity) + FanInSum adds the input back.
    _, identity_sum = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity, stax.Identity),
                                  stax.FanInSum)
    np.testing.assert_allclose(identity_sum(((), ((), ()), ()), x), 2 * x)


# ----------------------------------------------------------------------------- optimizers

def _numpy_steps(name, x, grads, lr=0.1):
    """The optimizers' formulas, applied by hand for the gradients `grads`."""
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for i, g in enumerate(grads):
        if name == "sgd":
            x = x - lr * g
        elif name == "momentum":
            m = 0.9 * m + g
            x = x - lr * m
        elif name == "nesterov":
            m = 0.9 * m + g
            x = x - lr * (0.9 * m + g)
        elif name == "adagrad":
            v = v + g ** 2
            m = 0.1 * g / np.sqrt(v) + 0.9 * m
            x = x - lr * m
        elif name == "rmsprop":
            v = 0.9 * v + 0.1 * g ** 2
            x = x - lr * g / np.sqrt(v + 1e-8)
        elif name == "rmsprop_momentum":
            v = 0.9 * v + 0.1 * g ** 2
            m = 0.9 * m + lr * g / np.sqrt(v + 1e-8)
            x = x - m
        elif name == "adam":
            m = 0.1 * g + 0.9 * m
            v = 0.001 * g ** 2 + 0.999 * v
            x = x - lr * (m / (1 - 0.9 ** (i + 1))) / (np.sqrt(v / (1 - 0.999 ** (i + 1)))
                                                       + 1e-8)
        elif name == "adamax":
            m = 0.1 * g + 0.9 * m
            v = np.maximum(0.999 * v, np.abs(g))
            x = x - lr / (1 - 0.9 ** (i + 1)) * m / (v + 1e-8)
    return x


OPTIMIZERS = {"sgd": (), "momentum": (0.9,), "nesterov": (0.9,), "adagrad": (),
              "rmsprop": (), "rmsprop_momentum": (), "adam": (), "adamax": ()}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_updates_follow_their_formulas(name):
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((2, 3))
    grads = [rng.standard_normal((2, 3)) for _ in range(4)]
    init_fun, update_fun, get_params = getattr(optimizers, name)(0.1, *OPTIMIZERS[name])
    state = init_fun({"w": x0, "b": [x0[0]]})
    for i, g in enumerate(grads):
        state = update_fun(i, {"w": g, "b": [g[0]]}, state)
    params = get_params(state)
    want = _numpy_steps(name, x0, grads)
    np.testing.assert_allclose(params["w"], want, rtol=1e-10)
    np.testing.assert_allclose(params["b"][0], want[0], rtol=1e-10)


def test_sm3_and_float32_state():
    init_fun, update_fun, get_params = optimizers.sm3(0.1)
    params = {"m": np.ones((3, 4), np.float32), "s": np.float32(2.0), "v": np.ones(3, np.float32)}
    state = init_fun(params)
    step = xf.jit(backend="interpreter")(lambda i, s: update_fun(i, xf.grad(
        lambda p: xnp.sum(p["m"] ** 2) + p["s"] ** 2 + xnp.sum(p["v"] ** 2))(get_params(s)), s))
    for i in range(3):
        state = step(i, state)
    out = get_params(state)
    assert all(np.asarray(v).dtype == np.float32 for v in tree.leaves(state))
    # The first step of sm3 moves every entry by step_size * (1 - momentum) * sign(g).
    g0 = 2.0 * np.ones((3, 4))
    np.testing.assert_allclose(get_params(update_fun(0, {"m": g0, "s": np.float32(4.0),
                                                         "v": 2 * np.ones(3, np.float32)},
                                                     init_fun(params)))["m"],
                               1 - 0.1 * 0.1, rtol=1e-6)
    assert float(out["s"]) < 2.0


def test_schedules():
    assert float(optimizers.constant(0.3)(7)) == 0.3
    np.testing.assert_allclose(optimizers.exponential_decay(1.0, 10, 0.5)(15), 0.5 ** 1.5)
    np.testing.assert_allclose(optimizers.inverse_time_decay(1.0, 10, 2.0)(5), 0.5)
    np.testing.assert_allclose(optimizers.inverse_time_decay(1.0, 10, 2.0, True)(15), 1 / 3)
    poly = optimizers.polynomial_decay(1.0, 10, 0.1, power=2.0)
    np.testing.assert_allclose([poly(0), poly(5), poly(10), poly(20)],
                               [1.0, 0.1 + 0.9 * 0.25, 0.1, 0.1])
    pw = optimizers.piecewise_constant([10, 20], [1.0, 0.5, 0.1])
    assert [float(pw(i)) for i in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    # Schedules trace: a jitted step gets its step size from a traced step number.
    for schedule in (pw, poly, optimizers.exponential_decay(1.0, 10, 0.5)):
        jitted = xf.jit(schedule, backend="interpreter")
        np.testing.assert_allclose([jitted(i) for i in (3, 12, 25)],
                                   [schedule(i) for i in (3, 12, 25)])
    assert optimizers.make_schedule(0.1)(5) == 0.1
    with pytest.raises(TypeError, match="schedule"):
        optimizers.make_schedule(np.ones(2))
    with pytest.raises(ValueError, match="one more"):
        optimizers.piecewise_constant([1, 2], [1.0, 2.0])


def test_utilities_and_state_packing():
    grads = {"a": np.array([3.0, 0.0]), "b": [np.array(4.0)]}
    np.testing.assert_allclose(optimizers.l2_norm(grads), 5.0)
    clipped = optimizers.clip_grads(grads, 1.0)
    np.testing.assert_allclose(optimizers.l2_norm(clipped), 1.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    assert optimizers.clip_grads(grads, 10.0)["a"].tolist() == [3.0, 0.0]
    init_fun, update_fun, get_params = optimizers.adam(0.1)
    state = update_fun(0, grads, init_fun(grads))
    unpacked = optimizers.unpack_optimizer_state(state)
    restored = optimizers.pack_optimizer_state(pickle.loads(pickle.dumps(unpacked)))
    assert isinstance(unpacked["a"], optimizers.JoinPoint)
    assert tree.structure(restored) == tree.structure(state)
    for a, b in zip(tree.leaves(restored), tree.leaves(state)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="structure"):
        update_fun(1, {"a": grads["a"]}, state)


# ----------------------------------------------------------------------------- training

def _blobs(n, classes=3, dim=8, seed=0):
    centers = np.random.default_rng(100).standard_normal((classes, dim)) * 2
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.standard_normal((n, dim))
    return x.astype(np.float32), np.eye(classes, dtype=np.float32)[labels]


def test_mnist_classifier_style_training_under_jit():
    """JAX's mnist_classifier loop (stax.serial MLP, momentum, jitted update) on blobs."""
    init_random_params, predict = stax.serial(stax.Dense(32), stax.Relu,
                                              stax.Dense(32), stax.Relu,
                                              stax.Dense(3), stax.LogSoftmax)

    def loss(params, batch):
        inputs, targets = batch
        return -xnp.mean(xnp.sum(predict(params, inputs) * targets, axis=1))

    opt_init, opt_update, get_params = optimizers.momentum(0.05, mass=0.9)

    @xf.jit
    def update(i, opt_state, batch):
        params = get_params(opt_state)
        return opt_update(i, xf.grad(loss)(params, batch), opt_state)

    _, params = init_random_params(KEY, (-1, 8))
    params = tree.map(lambda p: p.astype(np.float32), params)
    opt_state = opt_init(params)
    train = _blobs(256)
    first = float(loss(params, train))
    numba_backend._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # compiled, no interpreter fallback
        for i in range(40):
            batch = tuple(a[(i % 4) * 64:(i % 4 + 1) * 64] for a in train)
            opt_state = update(i, opt_state, batch)
    params = get_params(opt_state)
    assert all(p.dtype == np.float32 for p in tree.leaves(params))
    last = float(loss(params, train))
    assert last < 0.2 * first and last < 0.2
    test_x, test_y = _blobs(256, seed=1)
    accuracy = np.mean(np.argmax(predict(params, test_x), 1) == np.argmax(test_y, 1))
    assert accuracy > 0.9


# ----------------------------------------------------------------------------- peers

@pytest.mark.peers
def test_against_jax_example_libraries():
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp
    from jax.example_libraries import optimizers as joptimizers
    from jax.example_libraries import stax as jstax
    jax.config.update("jax_enable_x64", True)

    rng = np.random.default_rng(6)
    x0 = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    grads = [tree.map(lambda v: rng.standard_normal(np.shape(v)), x0) for _ in range(4)]
    for name, args in {**OPTIMIZERS, "sm3": ()}.items():
        decays = (optimizers.exponential_decay(0.1, 2, 0.5),) if name == "adam" else ()
        for schedule in (0.1, *decays):
            ours = getattr(optimizers, name)(schedule, *args)
            theirs = getattr(joptimizers, name)(schedule if not callable(schedule) else
                                                joptimizers.exponential_decay(0.1, 2, 0.5),
                                                *args)
            s, t = ours.init_fn(x0), theirs.init_fn(x0)
            for i, g in enumerate(grads):
                s, t = ours.update_fn(i, g, s), theirs.update_fn(i, g, t)
            for a, b in zip(tree.leaves(ours.params_fn(s)),
                            jax.tree_util.tree_leaves(theirs.params_fn(t))):
                np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=name)

    # The same parameters give the same outputs (layouts and formulas agree).
    x = rng.standard_normal((2, 9, 8, 3))
    pairs = [
        (stax.serial(stax.Conv(4, (3, 3), (2, 1), "SAME"), stax.Relu, stax.MaxPool((2, 2)),
                     stax.BatchNorm(), stax.AvgPool((2, 2), padding="SAME"), stax.Flatten,
                     stax.Dense(5), stax.Gelu, stax.LogSoftmax),
         jstax.serial(jstax.Conv(4, (3, 3), (2, 1), "SAME"), jstax.Relu, jstax.MaxPool((2, 2)),
                      jstax.BatchNorm(), jstax.AvgPool((2, 2), padding="SAME"), jstax.Flatten,
                      jstax.Dense(5), jstax.Gelu, jstax.LogSoftmax)),
        (stax.ConvTranspose(2, (3, 3), (2, 2), "SAME"),
         jstax.ConvTranspose(2, (3, 3), (2, 2), "SAME")),
        (stax.ConvTranspose(2, (3, 2), (2, 3)), jstax.ConvTranspose(2, (3, 2), (2, 3))),
        (stax.SumPool((2, 3), (1, 2), "SAME"), jstax.SumPool((2, 3), (1, 2), "SAME")),
    ]
    for ours, theirs in pairs:
        _, params = ours[0](KEY, x.shape)
        jparams = jax.tree_util.tree_map(jnp.asarray, params)
        np.testing.assert_allclose(ours[1](params, x), theirs[1](jparams, x), rtol=1e-9,
                                   atol=1e-12)
