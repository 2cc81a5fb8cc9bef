#!/usr/bin/env python
"""Logistic regression by gradient descent in plain NumPy, the course's own setting.

``value_and_grad`` gives the mean binary cross-entropy and its gradient with respect to the
logits from one pass; the chain rule to the weights is one matrix product. Data: scikit-learn's
breast cancer set (shipped with the package), standardised.

    python examples/train_numpy.py          # < 1 s; exits 1 if it learned too little
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import losskit as lk

MIN_ACCURACY = 0.95  # held-out accuracy after training
MAX_LOSS = 0.15  # held-out mean binary cross-entropy after training


def main(steps=500, lr=0.5):
    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y.astype(np.float64), test_size=0.3, random_state=0, stratify=y)
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd

    w, b = np.zeros(x.shape[1]), 0.0
    for step in range(steps):
        z = x_tr @ w + b
        value, dz = lk.binary_cross_entropy.value_and_grad(y_tr, z, from_logits=True)
        w -= lr * (x_tr.T @ dz)  # dz is d(mean loss)/dz: the 1/n is already in it
        b -= lr * float(dz.sum())
        if step % 100 == 0:
            print(f"step {step:4d}: train loss {float(value):.4f}")

    z_te = x_te @ w + b
    test_loss = float(lk.binary_cross_entropy(y_te, z_te, from_logits=True))
    acc = float(np.mean((z_te > 0) == (y_te == 1)))
    print(f"held-out loss {test_loss:.4f}, accuracy {acc:.3f}")
    if acc < MIN_ACCURACY or test_loss > MAX_LOSS:
        print(f"FAILED: wanted accuracy >= {MIN_ACCURACY} and loss <= {MAX_LOSS}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
