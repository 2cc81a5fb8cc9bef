"""Regression losses: elementwise functions of the residual ``y_pred - y_true``."""

from __future__ import annotations

from ..core import Loss
from ._common import float_pair


def _prepare_plain(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    return y_true, y_pred, opts


# -- mean squared error ----------------------------------------------------------------
def _mse_value(xp, y_true, y_pred):
    d = y_pred - y_true
    return d * d


def _mse_grad(xp, y_true, y_pred):
    return 2.0 * (y_pred - y_true)


def _mse_hess(xp, y_true, y_pred):
    return xp.full_like(y_pred, 2.0)


MEAN_SQUARED_ERROR = Loss(
    name="mean_squared_error",
    aliases=("mse", "squared_error", "l2"),
    value=_mse_value,
    grad=_mse_grad,
    hess=_mse_hess,
    prepare=_prepare_plain,
    options={},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets; y_pred: real predictions of the same shape",
    summary="Mean of squared residuals (L2); the default regression loss.",
    doc="""Mean squared error.

    Per element ``l = (y_pred - y_true)^2``; gradient ``2 (y_pred - y_true)``; Hessian ``2``.

    Shapes must match exactly: the course's ``(3, 1)`` vs ``(3,)`` pair, which NumPy would
    broadcast to ``(3, 3)``, raises :class:`losskit.LossInputError`.

    Peers: ``torch.nn.functional.mse_loss``, ``keras.losses.MeanSquaredError`` (which averages
    the last axis and divides weighted sums by the sample count: ``reduction="sum_over_batch_size"``),
    ``optax.squared_error`` (no 1/2 factor, no reduction: ``reduction="none"``),
    ``sklearn.metrics.mean_squared_error``.

    >>> import numpy as np, losskit as lk
    >>> float(lk.mean_squared_error(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])))
    1.3333333333333333
    """,
)

LOSSES = (MEAN_SQUARED_ERROR,)
