#!/usr/bin/env python
"""Train a small MLP on scikit-learn's digits with JAX, optax and a losskit loss.

The loss goes into a ``jax.jit``-compiled optax step in the two usual ways: the labels passed
in as an argument of the step (one compiled step for every batch), and the labels closed over
(the loss written for one fixed dataset). Both train. Inside ``jit`` the value checks are
skipped: the data is validated once, eagerly, before training; with ``validate="checkify"``
they are recorded as ``checkify`` checks, and ``checkify.checkify`` shows one carried out of a
jitted function.

    python examples/train_jax.py            # ~5 s on one CPU core; exits 1 if it learned too little
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.experimental import checkify  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import losskit as lk  # noqa: E402

MIN_ACCURACY = 0.93  # held-out accuracy both training styles must reach
loss_fn = lk.get("sparse_categorical_cross_entropy", from_logits=True, label_smoothing=0.05)


def init(key, sizes=(64, 64, 10)):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (fan_in, fan_out)) * np.sqrt(2.0 / fan_in), jnp.zeros(fan_out)))
    return params


def logits(params, x):
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def train(x, y, closed_over, epochs=60, batch=128, seed=0):
    """Minibatch Adam; ``closed_over``: the step closes over the labels instead of taking them."""
    params = init(jax.random.PRNGKey(seed))
    opt = optax.adam(3e-3)
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        value, grads = jax.value_and_grad(lambda p: loss_fn(yb, logits(p, xb)))(params)
        updates, state = opt.update(grads, state)
        return optax.apply_updates(params, updates), state, value

    if closed_over:  # the whole training set as one batch, labels a constant of the trace
        labels = jnp.asarray(y)

        @jax.jit
        def step_closed(params, state, xb):
            value, grads = jax.value_and_grad(lambda p: loss_fn(labels, logits(p, xb)))(params)
            updates, state = opt.update(grads, state)
            return optax.apply_updates(params, updates), state, value

        xs = jnp.asarray(x)
        for _ in range(epochs * 4):
            params, state, value = step_closed(params, state, xs)
        return params, float(value)

    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i:i + batch]
            params, state, value = step(params, state, jnp.asarray(x[idx]), jnp.asarray(y[idx]))
    return params, float(value)


def main():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.3, random_state=0,
                                              stratify=digits.target)
    # validate once, eagerly (inside jit the checks are skipped): labels in [0, 10), finite inputs
    loss_fn(y_tr, np.zeros((len(y_tr), 10), np.float32))
    # or let checkify carry them out of a jitted function: a label 10 among 10 classes
    checked = jax.jit(lambda z, t: loss_fn(t, z, validate="checkify"))
    err, _ = checkify.checkify(checked)(jnp.zeros((2, 10)), jnp.asarray([3, 10]))
    print(f"checkify, a label 10: {err.get()}")
    ok = err.get() is not None and "class ids in [0, 10)" in err.get()
    for closed_over in (False, True):
        params, last = train(x_tr, y_tr, closed_over)
        acc = float(np.mean(np.argmax(np.asarray(logits(params, jnp.asarray(x_te))), axis=1) == y_te))
        test_loss = float(loss_fn(y_te, logits(params, jnp.asarray(x_te))))
        style = "labels closed over" if closed_over else "labels passed in"
        print(f"{style}: final train loss {last:.4f}, held-out loss {test_loss:.4f}, accuracy {acc:.3f}")
        ok = ok and acc >= MIN_ACCURACY
    if not ok:
        print(f"FAILED: held-out accuracy below {MIN_ACCURACY}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
