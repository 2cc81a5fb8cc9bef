#!/usr/bin/env python
"""Train a small Keras model on scikit-learn's breast-cancer data with a ``losskit.keras`` loss.

The loss is a ``keras.losses.Loss`` like Keras's own: its ``call`` gives per-sample values, so
``fit`` and ``evaluate`` apply ``sample_weight`` (here scikit-learn's "balanced" class
weights, one per row) and Keras's reduction themselves. The model is saved to a ``.keras``
file and loaded back with ``keras.models.load_model`` and no ``custom_objects``: importing
``losskit.keras`` registers every loss class.

    python examples/train_keras.py                  # ~10 s on one CPU core (JAX backend)
    KERAS_BACKEND=torch python examples/train_keras.py

Exits 1 if the held-out accuracy is below MIN_ACCURACY or the loaded model evaluates
differently from the trained one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is imported (TensorFlow is not needed)
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402  (shipped with scikit-learn: no download)
from sklearn.model_selection import train_test_split  # noqa: E402

import losskit.keras as lkk  # noqa: E402

MIN_ACCURACY = 0.94  # held-out accuracy the trained model must reach


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)  # Python, NumPy and the backend's generators

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.25,
                                                        random_state=args.seed, stratify=data.target)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_test = ((x - mean) / std for x in (x_train, x_test))
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    y_train, y_test = y_train.astype(np.float32), y_test.astype(np.float32)
    counts = np.bincount(y_train.astype(int), minlength=2)
    weight = (len(y_train) / (2 * counts))[y_train.astype(int)].astype(np.float32)  # "balanced", one per row

    model = keras.Sequential([keras.Input(shape=(x_train.shape[1],)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])  # logits
    loss = lkk.BinaryCrossEntropy(from_logits=True, label_smoothing=0.05)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss, weighted_metrics=[])
    print(f"backend: {keras.backend.backend()}, loss: {loss}")
    model.fit(x_train, y_train, sample_weight=weight, epochs=args.epochs, batch_size=32, shuffle=True, verbose=0)

    test_weight = (len(y_train) / (2 * counts))[y_test.astype(int)].astype(np.float32)
    trained = model.evaluate(x_test, y_test, sample_weight=test_weight, verbose=0)
    accuracy = float(np.mean((model.predict(x_test, verbose=0)[:, 0] > 0) == (y_test == 1)))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "breast_cancer.keras")
        model.save(path)
        loaded = keras.models.load_model(path)  # no custom_objects
    again = loaded.evaluate(x_test, y_test, sample_weight=test_weight, verbose=0)
    same = type(loaded.loss) is lkk.BinaryCrossEntropy and bool(np.isclose(again, trained, rtol=1e-6, atol=0))

    print(f"held-out weighted loss {trained:.6f}; loaded model {again:.6f}: "
          f"{'loaded model evaluates equal' if same else 'LOADED MODEL DIFFERS'}")
    print(f"held-out accuracy {accuracy:.3f} (threshold {MIN_ACCURACY}) in {time.perf_counter() - start:.1f} s")
    return 0 if accuracy >= MIN_ACCURACY and same else 1


if __name__ == "__main__":
    sys.exit(main())
