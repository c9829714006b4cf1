"""JAX's classic mnist_classifier.py, ported to xform by changing its imports.

A stax MLP (Dense-Relu-Dense-Relu-Dense-LogSoftmax) trained with the momentum optimizer of
`example_libraries.optimizers`, one jitted update per minibatch. Instead of downloading MNIST,
the images are synthetic: each of ten classes is a random 8x8 prototype image, and each example
is its class's prototype plus noise (pass `--conv` to train a small convolutional net instead).
"""
import itertools
import sys
import time

import numpy as np

import xform as xf
import xform.numpy as jnp
from xform import grad, jit, random
from xform.example_libraries import optimizers, stax
from xform.example_libraries.stax import (Conv, Dense, Flatten, LogSoftmax, MaxPool, Relu,
                                          Softplus)


def synthetic_digits(n, classes=10, side=8, noise=1.5, seed=0):
    """(images of shape (n, side * side), one-hot labels of shape (n, classes)); the class
    prototypes are the same for every seed, the draws differ."""
    prototypes = np.random.default_rng(12345).standard_normal((classes, side * side))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = prototypes[labels] + noise * rng.standard_normal((n, side * side))
    return images.astype(np.float32), np.eye(classes, dtype=np.float32)[labels]


def loss(params, batch):
    inputs, targets = batch
    preds = predict(params, inputs)
    return -jnp.mean(jnp.sum(preds * targets, axis=1))


def accuracy(params, batch):
    inputs, targets = batch
    target_class = jnp.argmax(targets, axis=1)
    predicted_class = jnp.argmax(predict(params, inputs), axis=1)
    return jnp.mean(predicted_class == target_class)


def Reshape(shape):
    """A layer reshaping each example (a layer is just an (init_fun, apply_fun) pair)."""
    return (lambda rng, input_shape: ((input_shape[0], *shape), ()),
            lambda params, inputs, **kwargs: jnp.reshape(inputs, (-1, *shape)))


if "--conv" in sys.argv:
    init_random_params, predict = stax.serial(
        Reshape((8, 8, 1)), Conv(8, (3, 3), padding="SAME"), Relu, MaxPool((2, 2), (2, 2)),
        Flatten, Dense(32), Softplus, Dense(10), LogSoftmax)
else:
    init_random_params, predict = stax.serial(
        Dense(64), Relu,
        Dense(64), Relu,
        Dense(10), LogSoftmax)

if __name__ == "__main__":
    rng = random.PRNGKey(0)

    step_size = 0.01
    num_epochs = 4
    batch_size = 64
    momentum_mass = 0.9

    train_images, train_labels = synthetic_digits(2048, seed=0)
    test_images, test_labels = synthetic_digits(512, seed=1)
    num_train = train_images.shape[0]
    num_complete_batches, leftover = divmod(num_train, batch_size)
    num_batches = num_complete_batches + bool(leftover)

    def data_stream():
        rng = np.random.RandomState(0)
        while True:
            perm = rng.permutation(num_train)
            for i in range(num_batches):
                batch_idx = perm[i * batch_size:(i + 1) * batch_size]
                yield train_images[batch_idx], train_labels[batch_idx]
    batches = data_stream()

    opt_init, opt_update, get_params = optimizers.momentum(step_size, mass=momentum_mass)

    @jit
    def update(i, opt_state, batch):
        params = get_params(opt_state)
        return opt_update(i, grad(loss)(params, batch), opt_state)

    _, init_params = init_random_params(rng, (-1, 64))
    # The initializers draw float64, xform's default; the data are float32, so are the params.
    init_params = xf.tree_util.tree_map(lambda p: p.astype(np.float32), init_params)
    opt_state = opt_init(init_params)
    itercount = itertools.count()

    print("\nStarting training...")
    for epoch in range(num_epochs):
        start_time = time.time()
        for _ in range(num_batches):
            opt_state = update(next(itercount), opt_state, next(batches))
        epoch_time = time.time() - start_time

        params = get_params(opt_state)
        train_acc = accuracy(params, (train_images, train_labels))
        test_acc = accuracy(params, (test_images, test_labels))
        print(f"Epoch {epoch} in {epoch_time:0.2f} sec")
        print(f"Training set accuracy {train_acc}")
        print(f"Test set accuracy {test_acc}")
    print(f"train loss: {float(loss(params, (train_images, train_labels))):.4f}")
    print(f"params dtype: {xf.tree_util.tree_leaves(params)[0].dtype}")
