"""Train a small MLP classifier with adam, xf.jit and xf.value_and_grad, and report accuracy.

Uses scikit-learn's bundled digits data set when scikit-learn is installed, and otherwise three
interleaved spirals generated here (a task no linear model can solve).
"""
import itertools
import time

import numpy as np

import xform as xf
import xform.numpy as xnp
from xform import optim
from xform.scipy.special import log_softmax


def spirals(n_per_class=200, classes=3, noise=0.5, seed=0):
    """Points on `classes` interleaved spiral arms in the plane, labelled by arm."""
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.1, 1.0, n_per_class), classes)
    label = np.repeat(np.arange(classes), n_per_class)
    angle = 4.0 * r + 2.0 * np.pi * label / classes + noise * rng.standard_normal(r.size)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return x, label


def load_data(seed=0):
    """(x_train, y_train, x_test, y_test, number of classes, name of the data set)."""
    try:
        from sklearn.datasets import load_digits
        digits = load_digits()
        x, y, name = digits.data / 16.0, digits.target, "scikit-learn digits"
    except ImportError:
        x, y = spirals(seed=seed)
        name = "three spirals (scikit-learn not installed)"
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    n_train = int(0.75 * len(y))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], int(y.max()) + 1, name


def init_params(sizes, seed=0):
    """Weights scaled by 1/sqrt(fan-in) and zero biases, one dict per layer."""
    rng = np.random.default_rng(seed)
    return [{"w": rng.standard_normal((m, n)) / np.sqrt(m), "b": np.zeros(n)}
            for m, n in itertools.pairwise(sizes)]


def predict(params, x):
    """Class scores (logits) of a tanh MLP."""
    for layer in params[:-1]:
        x = xnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss(params, x, onehot):
    """Mean softmax cross-entropy."""
    return -xnp.mean(xnp.sum(onehot * log_softmax(predict(params, x), axis=-1), axis=-1))


def accuracy(params, x, y):
    return float(np.mean(np.argmax(predict(params, x), axis=-1) == y))


def main():
    x_train, y_train, x_test, y_test, classes, name = load_data()
    onehot = np.eye(classes)[y_train]
    params = init_params([x_train.shape[1], 32, 32, classes])
    opt = optim.adam(optim.exponential_decay(0.02, transition_steps=100, decay_rate=0.7))
    state = opt.init(params)
    loss_and_grad = xf.jit(xf.value_and_grad(loss))
    update = xf.jit(opt.update)
    print(f"data: {name}, {len(y_train)} training and {len(y_test)} test points, "
          f"{classes} classes")
    steps, start = 400, time.perf_counter()
    for step in range(steps):
        value, grads = loss_and_grad(params, x_train, onehot)
        updates, state = update(grads, state, params)
        params = optim.apply_updates(params, updates)
        if step % 100 == 0:
            print(f"step {step:4d}  loss {float(value):.4f}")
    print(f"trained {steps} full-batch adam steps in {time.perf_counter() - start:.2f} s "
          "(including the first call's compilation)")
    print(f"train accuracy: {accuracy(params, x_train, y_train):.3f}")
    print(f"test accuracy: {accuracy(params, x_test, y_test):.3f}")


if __name__ == "__main__":
    main()
