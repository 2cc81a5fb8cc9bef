"""Classification losses on binary targets (elementwise): cross-entropy and its relatives."""

from __future__ import annotations

from .._math import sigmoid, softplus
from .._validate import check_number
from ..core import Loss
from ._common import check_unit_interval, complement_floor, float_pair, option_array, prob_epsilon


def _sigmoid_pair(x, *, xp):
    """(sigmoid(x), sigmoid(x) * (1 - sigmoid(x))), the latter as e/(1+e)^2 with e = exp(-|x|)
    so it stays accurate (not 0) in both tails."""
    e = xp.exp(-xp.abs(x))
    return sigmoid(x, xp=xp), e / ((1.0 + e) * (1.0 + e))


# -- binary cross-entropy ----------------------------------------------------------------
def _bce_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    check_unit_interval(y_true, xp=xp, name="y_true", validate=validate, what="targets in [0, 1]")
    if not opts["from_logits"]:
        check_unit_interval(y_pred, xp=xp, name="y_pred", validate=validate,
                            what="probabilities in [0, 1] (pass from_logits=True for logits)")
    ls = check_number(opts["label_smoothing"], name="label_smoothing", lo=0.0, hi=1.0)
    if ls:
        y_true = y_true * (1.0 - ls) + 0.5 * ls
    pw = option_array(xp, opts["pos_weight"], name="pos_weight", like=y_pred, validate=validate, lo=0.0)
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    floors = (eps, complement_floor(xp, y_pred.dtype, eps))  # floors for p and for 1 - p
    return y_true, y_pred, {"from_logits": bool(opts["from_logits"]), "pos_weight": pw, "epsilon": floors}


def _pos(y, pw):
    return y if pw is None else pw * y


def _bce_value(xp, y_true, y_pred, *, from_logits, pos_weight, epsilon):
    a, b = _pos(y_true, pos_weight), 1.0 - y_true
    if from_logits:
        return a * softplus(-y_pred, xp=xp) + b * softplus(y_pred, xp=xp)
    p_floor, q_floor = epsilon
    log_p = xp.log(xp.clip(y_pred, min=p_floor))
    # 1 - p is exact for p > 1/2 (Sterbenz); below that log1p(-p) keeps tiny p accurate.
    q = 1.0 - y_pred
    log_q = xp.where(y_pred > 0.5, xp.log(xp.clip(q, min=q_floor)), xp.log1p(-xp.clip(y_pred, max=0.5)))
    return -(a * log_p + b * log_q)


def _bce_grad(xp, y_true, y_pred, *, from_logits, pos_weight, epsilon):
    a, b = _pos(y_true, pos_weight), 1.0 - y_true
    if from_logits:
        s = sigmoid(y_pred, xp=xp)
        return b * s - a * sigmoid(-y_pred, xp=xp)
    one = xp.ones_like(y_pred)
    p_ok, q_ok = y_pred > epsilon[0], (1.0 - y_pred) > epsilon[1]
    inv_p = xp.where(p_ok, 1.0 / xp.where(p_ok, y_pred, one), 0.0 * one)
    inv_q = xp.where(q_ok, 1.0 / xp.where(q_ok, 1.0 - y_pred, one), 0.0 * one)
    return b * inv_q - a * inv_p


def _bce_hess(xp, y_true, y_pred, *, from_logits, pos_weight, epsilon):
    a, b = _pos(y_true, pos_weight), 1.0 - y_true
    if from_logits:
        _, s1s = _sigmoid_pair(y_pred, xp=xp)
        return (a + b) * s1s
    one = xp.ones_like(y_pred)
    p_ok, q_ok = y_pred > epsilon[0], (1.0 - y_pred) > epsilon[1]
    inv_p = xp.where(p_ok, 1.0 / xp.where(p_ok, y_pred, one), 0.0 * one)
    inv_q = xp.where(q_ok, 1.0 / xp.where(q_ok, 1.0 - y_pred, one), 0.0 * one)
    return a * inv_p * inv_p + b * inv_q * inv_q


BINARY_CROSS_ENTROPY = Loss(
    name="binary_cross_entropy",
    aliases=("binary_crossentropy", "bce", "sigmoid_binary_cross_entropy"),
    value=_bce_value,
    grad=_bce_grad,
    hess=_bce_hess,
    prepare=_bce_prepare,
    options={"from_logits": False, "label_smoothing": 0.0, "pos_weight": None, "epsilon": None},
    structure="elementwise",
    task="binary classification",
    inputs="y_true: targets in [0, 1] (hard or soft labels); y_pred: probabilities, or logits with from_logits=True",
    summary="Log loss of independent binary (multi-label) predictions.",
    doc="""Binary cross-entropy (log loss), elementwise.

    Per element, with target ``y`` (after label smoothing ``y (1 - s) + s/2``) and ``w+ = pos_weight``:

    - probabilities: ``l = -(w+ y log p + (1 - y) log(1 - p))``,
      gradient ``-w+ y / p + (1 - y) / (1 - p)``, Hessian ``w+ y / p^2 + (1 - y) / (1 - p)^2``.
      ``p`` and ``1 - p`` are floored at ``epsilon`` inside the logs only, so ``0 log 0 = 0``
      and a confident wrong prediction costs ``-log(epsilon)``: 100 in float64 (PyTorch's
      ``BCELoss`` clamp) and 40 in float32 by default (the largest caps at which the
      Hessian ``1/p^2`` stays finite). ``1 - p`` is floored at ``max(eps, 1 - fl(1 - eps))``,
      i.e. exactly "p clipped to [eps, 1 - eps] in the compute dtype". Below a floor the
      gradient is 0, as autodiff of the clamp gives. Keras clips at ``epsilon=1e-7`` in
      float32; pass ``epsilon=1e-7`` with float32 inputs to reproduce Keras to the bit.
    - ``from_logits=True``: ``l = w+ y softplus(-x) + (1 - y) softplus(x)``, exact for every
      finite logit (no clipping); gradient ``(1 - y) sigmoid(x) - w+ y sigmoid(-x)``, Hessian
      ``(w+ y + 1 - y) sigmoid(x) sigmoid(-x)``.

    Options: ``from_logits=False``, ``label_smoothing=0.0`` (Keras/optax convention),
    ``pos_weight=None`` (PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: a scalar or an
    array broadcasting against ``y_pred``, e.g. one weight per class on the last axis),
    ``epsilon=None``.

    Peers: ``torch.nn.functional.binary_cross_entropy(_with_logits)``,
    ``keras.losses.BinaryCrossentropy`` (mean over the last axis, then
    ``reduction="sum_over_batch_size"``), ``optax.sigmoid_binary_cross_entropy`` (logits,
    ``reduction="none"``), ``sklearn.metrics.log_loss``.

    >>> import numpy as np, losskit as lk
    >>> y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.9, 0.1])
    >>> round(float(lk.binary_cross_entropy(y, p)), 6)   # the course formula gives nan here
    0.05268
    """,
)

LOSSES = (BINARY_CROSS_ENTROPY,)
