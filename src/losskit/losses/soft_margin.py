"""The soft-margin (logistic) loss on {-1, 1} scores: the smooth relative of the hinge.

It shares the margin family's label rule (``margin.prepare_binary``: ``{-1, 1}`` or ``{0, 1}``
labels, a 0 read as -1) and is written with the stable softplus and sigmoid of ``_array``.
"""

from __future__ import annotations

from .._array.stable import sigmoid, sigmoid_slope, softplus
from ..spec import Loss
from .margin import BINARY_INPUTS, prepare_binary


def _prepare(xp, y_true, y_pred, opts, validate):
    return prepare_binary(xp, y_true, y_pred, opts, validate, with_margin=False)


def _value(xp, y_true, y_pred, *, checked=False):
    return softplus(-(y_true * y_pred), xp=xp)


def _grad(xp, y_true, y_pred, *, checked=False):
    return -y_true * sigmoid(-(y_true * y_pred), xp=xp)


def _hess(xp, y_true, y_pred, *, checked=False):
    return sigmoid_slope(y_true * y_pred, xp=xp)  # y^2 = 1


SOFT_MARGIN = Loss(
    name="soft_margin",
    input_kind="score",
    aliases=("soft_margin_loss", "logistic_loss"),
    value=_value,
    grad=_grad,
    hess=_hess,
    prepare=_prepare,
    options={},
    structure="elementwise",
    task="binary classification",
    inputs=BINARY_INPUTS,
    summary="Soft-margin (logistic) loss log(1 + exp(-y s)): a smooth hinge, logistic regression on {-1, 1} labels.",
    doc="""Soft-margin (logistic) loss, elementwise.

    Per element, with label ``y`` in ``{-1, 1}`` (a 0 label is read as -1, element by element)
    and score ``s``: ``l = log(1 + exp(-y s)) = softplus(-y s)``, computed without overflow
    for any finite score. Gradient ``-y sigmoid(-y s)``; Hessian ``sigmoid(y s) sigmoid(-y s)``,
    positive everywhere, so it is a smooth stand-in for the hinge and a gradient-boosting
    objective. It is binary cross-entropy on logits with the labels ``(y + 1) / 2``.

    Labels other than -1, 0, 1 raise :class:`losskit.LossInputError`.

    Peers: ``torch.nn.SoftMarginLoss`` / ``F.soft_margin_loss(input, target)`` (scores first,
    ``{-1, 1}`` targets; its reductions are losskit's); ``optax.losses.sigmoid_binary_cross_entropy
    (scores, (y + 1) / 2)``; scikit-learn's ``SGDClassifier(loss="log_loss")`` minimises it.

    >>> import numpy as np, losskit as lk
    >>> lk.soft_margin(np.array([1.0, -1.0, 0.0]), np.array([0.0, 2.0, -40.0]), reduction="none")
    array([6.93147181e-01, 2.12692801e+00, 4.24835426e-18])
    >>> lk.soft_margin.grad(np.array([1.0, -1.0]), np.array([0.0, 0.0]), reduction="sum")
    array([-0.5,  0.5])
    """,
)

LOSSES = (SOFT_MARGIN,)
