"""Categorical and sparse categorical cross-entropy over a class axis.

Conventions shared with their relatives (:mod:`losskit.losses.categorical_variants`: focal
cross-entropy, Poly-1, generalised cross-entropy):

- The class axis is ``axis`` (default -1); a sample is everything but that axis, so
  ``reduction="none"`` returns ``y_pred``'s shape without it.
- Dense losses take targets with ``y_pred``'s shape: one-hot rows or probability rows (boolean
  one-hot masks are read as 0/1). Sparse losses take integer class ids with ``y_pred``'s shape
  less the class axis; Keras's form with the class axis kept at size 1 (``(N, 1)`` labels for
  ``(N, C)`` predictions) is accepted too. Float arrays holding whole numbers are accepted as ids.
- ``y_pred`` holds probabilities (default) or logits (``from_logits=True``). Probability rows
  must sum to 1 within ``max(sqrt(eps), C * 2**-24)`` (``eps`` of y_pred's own dtype: float32
  data stored as float64 passes) unless ``renormalize=True``, which divides each row by its
  sum first, as Keras does.
- Probabilities are floored at ``epsilon`` inside logarithms only (``losses._common.prob_epsilon``:
  e^-100 in float64, e^-40 in float32); below the floor the derivative is 0, as autodiff of the
  clamp gives. ``0 log 0 = 0``: a zero probability on a class with zero target costs nothing.
- Logits never overflow: log-probabilities are ``(x - max) - log1p(rest)`` (see
  ``_array.stable.max_and_log1p_rest``), so every term of the loss is non-negative and a confident
  correct row keeps its tiny loss (``[40, 0, 0]`` -> ``2 e^-40``, not 0); ``1 - p`` is
  ``-expm1(log p)``, accurate for the dominant class too.
- Gradients and Hessian diagonals are with respect to ``y_pred`` (logits or probabilities,
  including the renormalisation when ``renormalize=True``).
- Class weights and ``ignore_index`` act as per-sample weights (``implicit_weight``), so the
  default ``"mean"`` divides by their total, PyTorch's rule.
"""

from __future__ import annotations

from .._array.stable import sparse_neg_log_softmax, sparse_softmax_xent_grad, sparse_softmax_xent_value_grad
from ..spec import Boosting, Loss
from ._ce_math import ce_dense_grad, ce_dense_grad_hess, ce_dense_value, ce_dense_value_grad, ce_terms, nan_of_rows
from ._common import along, gather, label_smoothing_option, prob_epsilon, take, wrapped_axis
from ._crossentropy import (
    class_vector,
    label_weight,
    mask_rows,
    prepare_rows,
    smoothed,
    smoothed_class_weight,
    sparse_target,
    valid_and_safe,
    values_read,
)

# ---------------------------------------------------------------------------------------
# categorical cross-entropy
# ---------------------------------------------------------------------------------------


def _cce_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred, n, base, _ = prepare_rows(xp, y_true, y_pred, opts, validate, sparse=False)
    t = smoothed(y_true, opts, n)
    cw = class_vector(xp, opts["class_weight"], name="class_weight", n=n, like=y_pred, validate=validate)
    axis = base["axis"]
    row_weight = None
    if cw is not None:
        w = along(xp, cw, axis, y_pred.ndim)
        row_weight = xp.sum(w * y_true, axis=axis, keepdims=True)
        ok = row_weight > 0
        t = xp.where(ok, w * t / xp.where(ok, row_weight, xp.ones_like(row_weight)), xp.zeros_like(t))
        row_weight = xp.squeeze(row_weight, axis=axis)
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    return t, y_pred, {**base, "epsilon": eps, "row_weight": row_weight}


def _cce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return ce_dense_value(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                          renormalize=renormalize, epsilon=epsilon)


def _cce_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return ce_dense_grad(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                         renormalize=renormalize, epsilon=epsilon)


def _cce_value_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return ce_dense_value_grad(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                               renormalize=renormalize, epsilon=epsilon)


def _cce_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return ce_dense_grad_hess(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                              renormalize=renormalize, epsilon=epsilon)[1]


def _row_weight(xp, y_true, y_pred, **opts):
    return opts["row_weight"]


_CCE_OPTIONS = {"axis": -1, "from_logits": False, "label_smoothing": 0.0, "class_weight": None,
               "renormalize": False, "epsilon": None}

CATEGORICAL_CROSS_ENTROPY = Loss(
    name="categorical_cross_entropy",
    input_kind="probability",
    boosting=Boosting(
        labels="onehot",
        softmax=True,
        start="priors",
        start_if_default=("label_smoothing", "class_weight"),
    ),
    fused="categorical_cross_entropy",
    fused_at_scale=True,
    aliases=("categorical_crossentropy", "cce", "softmax_cross_entropy"),
    value=_cce_value,
    grad=_cce_grad,
    value_grad=_cce_value_grad,
    hess=_cce_hess,
    prepare=_cce_prepare,
    options=_CCE_OPTIONS,
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: one-hot or probability rows (y_pred's shape); y_pred: probabilities, or logits with "
           "from_logits=True; classes on `axis`",
    summary="Cross-entropy between target and predicted class distributions (softmax log loss).",
    reduced_axes=wrapped_axis,
    implicit_weight=_row_weight,
    doc="""Categorical cross-entropy over the class axis ``axis``.

    Per sample, with target row ``t`` (after label smoothing ``t = y (1 - s) + s / C``) and
    ``S = sum_c t_c``:

    - probabilities: ``l = -sum_c t_c log(max(q_c, epsilon))`` with ``q = p`` (or ``p / sum(p)``
      with ``renormalize=True``); ``0 log 0 = 0``, so ``y=[1,0,0], p=[0.9,0.1,0.0]`` gives
      ``-log 0.9`` (the course's naive formula gives NaN). Gradient ``-t_c / p_c``, Hessian
      ``t_c / p_c^2`` (0 below the floor). With ``renormalize=True`` the derivatives go through
      the normalisation: ``g_j = -t_j / p_j + T / s``, ``H_jj = t_j / p_j^2 - T / s^2`` with
      ``s = sum p`` and ``T`` the target mass on unclamped classes.
    - ``from_logits=True``: ``l = sum_c t_c (m - x_c) + S log1p(rest)`` with ``m = max x`` and
      ``rest = sum_c e^(x_c - m) - 1`` summed without the leading 1: every term is
      non-negative, nothing overflows, and ``x = [40, 0, 0], y = [1, 0, 0]`` gives
      ``2 e^-40 = 8.5e-18``, not 0. Gradient ``S softmax(x) - t``, Hessian ``S p (1 - p)``.

    Options: ``axis=-1``; ``from_logits=False``; ``label_smoothing=0.0`` (Keras, PyTorch and
    optax convention ``y (1 - s) + s / C``); ``class_weight=None``; ``renormalize=False``;
    ``epsilon=None`` (the probability floor: e^-100 in float64, e^-40 in float32).

    Validation: ``y_true`` rows are non-negative and sum to 1; probability rows of ``y_pred``
    lie in [0, 1] and sum to 1 within ``max(sqrt(eps), C * 2**-24)`` of y_pred's dtype, else
    :class:`losskit.LossInputError` suggesting ``renormalize=True``.

    Class weights ``w`` (one per class): a sample weighs ``W = sum_c w_c y_c`` (``w[label]``
    for a one-hot row) and its value is the cross-entropy against the re-weighted target
    ``w_c t_c / W``, so ``W l = -sum_c w_c t_c log q_c``. Hence, as in PyTorch: one-hot targets
    give exactly ``CrossEntropyLoss(weight=w)`` with integer labels (the mean divides by
    ``sum_i w[y_i]``, also with label smoothing); soft-probability targets give PyTorch's
    ``reduction="none"`` values, and PyTorch's mean for probability targets (which divides by
    the number of samples) is ``reduction="sum_over_batch_size"``.

    Peers and the options that reproduce them:

    - Keras ``CategoricalCrossentropy``: renormalises probability rows and clips at 1e-7,
      computes in float32, divides by the sample count: ``renormalize=True, epsilon=1e-7,
      reduction="sum_over_batch_size"`` on float32 inputs (Keras also clips at ``1 - 1e-7``,
      a difference below 1e-7 per sample). Keras's ``(N, 1)`` sample weights are ``(N,)`` here.
    - PyTorch ``F.cross_entropy`` with probability targets (logits): ``from_logits=True``;
      ``weight=w`` -> ``class_weight=w`` with the mean rule above.
    - optax ``softmax_cross_entropy(logits, labels)``: ``from_logits=True, reduction="none"``.
    - scikit-learn ``log_loss`` with a label-indicator ``y_true``: the default (its clip at the
      dtype's eps only matters for probabilities below it); rows that do not sum to 1
      (accepted, with renormalisation, before scikit-learn 1.5) need ``renormalize=True``.

    Reference: Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 6.2.2.3.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> p = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    >>> lk.categorical_cross_entropy(y, p, reduction="none")   # the naive formula gives nan
    array([0.10536052, 0.35667494])
    >>> l = lk.categorical_cross_entropy(np.array([1.0, 0, 0]), np.array([40.0, 0, 0]), from_logits=True)
    >>> print(f"{float(l):.6e}")   # 2 e^-40; a log-sum-exp without log1p returns 0
    8.496709e-18
    """,
)



# ---------------------------------------------------------------------------------------
# sparse categorical cross-entropy
# ---------------------------------------------------------------------------------------


def _scce_prepare(xp, y_true, y_pred, opts, validate):
    labels, y_pred, n, base, ignore_index = prepare_rows(xp, y_true, y_pred, opts, validate, sparse=True)
    cw = class_vector(xp, opts["class_weight"], name="class_weight", n=n, like=y_pred, validate=validate)
    return labels, y_pred, {
        **base, "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]),
        "label_smoothing": label_smoothing_option(opts["label_smoothing"]),
        "class_weight": cw, "ignore_index": ignore_index, "checked": values_read(xp, y_pred, validate),
    }


def _scce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
                class_weight, ignore_index, checked=False):
    valid, safe = valid_and_safe(xp, y_true, ignore_index)
    out = sparse_neg_log_softmax(safe, y_pred, axis, xp=xp) if from_logits else None  # JAX, untracked torch
    ls = label_smoothing
    if out is None:
        x_y = gather(xp, y_pred, safe, axis)
        if not (checked or from_logits or renormalize or ls):  # else the row is read (or checked)
            x_y = nan_of_rows(xp, x_y, y_pred, axis)
        out = ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, x_y)  # -log q_y
    if ls:
        terms = ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon)
        if class_weight is not None:  # PyTorch's (1 - s) w[y] (-log q_y) + (s / C) sum_c w_c (-log q_c)
            out = xp.expand_dims(take(xp, class_weight, safe), axis=axis) * out
            terms = along(xp, class_weight, axis, y_pred.ndim) * terms
        out = (1.0 - ls) * out + (ls / y_pred.shape[axis]) * xp.sum(terms, axis=axis, keepdims=True)
    out = xp.squeeze(out, axis=axis)
    return mask_rows(xp, out, valid)


def _scce_grad_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
                    class_weight, ignore_index, checked=False):
    t = sparse_target(xp, y_true, y_pred, axis, label_smoothing, class_weight, ignore_index)
    return ce_dense_grad_hess(xp, t, y_pred, axis=axis, from_logits=from_logits, renormalize=renormalize,
                              epsilon=epsilon)


def _scce_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
               class_weight, ignore_index, checked=False):
    if from_logits and not label_smoothing:  # untracked torch, JAX: no one-hot target (None elsewhere)
        valid, safe = valid_and_safe(xp, y_true, ignore_index)
        g = sparse_softmax_xent_grad(safe, y_pred, axis, xp=xp)
        if g is not None:
            return g if valid is None else g * xp.expand_dims(xp.astype(valid, g.dtype), axis=axis)
    t = sparse_target(xp, y_true, y_pred, axis, label_smoothing, class_weight, ignore_index)
    return ce_dense_grad(xp, t, y_pred, axis=axis, from_logits=from_logits, renormalize=renormalize,
                         epsilon=epsilon)


def _scce_value_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
                     class_weight, ignore_index, checked=False):
    """``(_scce_value, _scce_grad)`` from one softmax, for logits without label smoothing on
    untracked torch; None otherwise."""
    if not from_logits or label_smoothing:
        return None
    valid, safe = valid_and_safe(xp, y_true, ignore_index)
    pair = sparse_softmax_xent_value_grad(safe, y_pred, axis, xp=xp)
    if pair is None:
        return None
    nll, g = pair
    if valid is not None:
        g = g * xp.expand_dims(xp.astype(valid, g.dtype), axis=axis)
    return mask_rows(xp, xp.squeeze(nll, axis=axis), valid), g


def _scce_hess(xp, y_true, y_pred, **opts):
    return _scce_grad_hess(xp, y_true, y_pred, **opts)[1]


SPARSE_CATEGORICAL_CROSS_ENTROPY = Loss(
    name="sparse_categorical_cross_entropy",
    input_kind="probability",
    boosting=Boosting(
        labels="ids",
        softmax=True,
        start="priors",
        start_if_default=("label_smoothing", "class_weight", "ignore_index"),
    ),
    fused="sparse_categorical_cross_entropy",
    fused_at_scale=True,
    aliases=("sparse_categorical_crossentropy", "scce", "sparse_cce", "softmax_cross_entropy_with_integer_labels"),
    value=_scce_value,
    grad=_scce_grad,
    hess=_scce_hess,
    value_grad=_scce_value_grad,
    prepare=_scce_prepare,
    options={**_CCE_OPTIONS, "ignore_index": None},
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: integer class ids (y_pred's shape without the class axis, or with it kept at size 1); "
           "y_pred: probabilities, or logits with from_logits=True; classes on `axis`",
    summary="Cross-entropy with integer class labels (negative log-likelihood of the true class).",
    reduced_axes=wrapped_axis,
    implicit_weight=label_weight,
    weights_in_values=smoothed_class_weight,
    doc="""Sparse categorical cross-entropy: integer class ids instead of one-hot rows.

    Per sample with label ``y`` (no one-hot matrix is built for the value: the true class is
    gathered): ``l = -(1 - s) log q_y - (s / C) sum_c log q_c`` where ``s`` is the label
    smoothing; ``log q`` as in :func:`categorical_cross_entropy` (``log_softmax`` of logits, or
    the floored, optionally renormalised probability). Gradient: that of the dense loss against
    the target row ``t = (1 - s) onehot(y) + s / C``: ``S softmax(x) - t`` (``S = sum_c t_c``) for
    logits, ``-t / p`` for probabilities; Hessian ``S p (1 - p)`` or ``t / p^2``.

    ``y_true`` has ``y_pred``'s shape without the class axis; Keras's layout with that axis
    kept at size 1 (``(N, 1)`` labels for ``(N, C)`` predictions) is accepted and squeezed.
    Float arrays holding whole numbers are accepted; ids outside ``[0, C)`` (other than
    ``ignore_index``) raise :class:`losskit.LossInputError`.

    Options: those of :func:`categorical_cross_entropy` (``axis=-1, from_logits=False,
    label_smoothing=0.0, class_weight=None, renormalize=False, epsilon=None``) and
    ``ignore_index=None``.

    - ``class_weight=w`` acts as the per-sample weight ``w[y_i]``: ``"none"`` returns
      ``w[y_i] l_i``, the mean divides by ``sum_i w[y_i]`` (PyTorch's
      ``CrossEntropyLoss(weight=w)``). With label smoothing the smoothing term is weighted by
      ``w_c`` as in PyTorch: the sample costs ``(1 - s) w_y (-log q_y) + (s / C) sum_c w_c
      (-log q_c)`` (target row ``(1 - s) w_y onehot(y) + (s / C) w``), so a sample of a
      zero-weight class still pays the smoothing term, while the mean still divides by
      ``sum_i w[y_i]``.
    - ``ignore_index=k``: samples labelled ``k`` have weight 0 (value 0, gradient 0) and leave
      the mean's denominator (PyTorch ``ignore_index``; Keras ``ignore_class``).

    Peers and the options that reproduce them:

    - PyTorch ``F.cross_entropy(logits, labels)``: ``from_logits=True``; ``weight``,
      ``ignore_index``, ``label_smoothing`` and ``reduction`` map one to one (PyTorch's default
      ``ignore_index=-100`` is ``ignore_index=-100`` here; the default here is None).
    - Keras ``SparseCategoricalCrossentropy``: ``renormalize=True, epsilon=1e-7,
      reduction="sum_over_batch_size"`` on float32 inputs; ``ignore_class=k`` is
      ``ignore_index=k`` (Keras then divides by the count of kept samples: ``reduction="mean"``
      without sample weights).
    - optax ``softmax_cross_entropy_with_integer_labels``: ``from_logits=True, reduction="none"``.
    - scikit-learn ``log_loss(y, P)``: the default with ``y`` mapped to column indices
      (``np.searchsorted(labels, y)``); ``normalize=False`` is ``reduction="sum"``.

    >>> import numpy as np, losskit as lk
    >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> np.round(lk.sparse_categorical_cross_entropy(np.array([0, 1]), logits, from_logits=True,
    ...                                              reduction="none"), 4)   # optax's docstring example
    array([0.2761, 2.9518])
    >>> round(float(lk.sparse_categorical_cross_entropy(np.array([0, -1]), logits, from_logits=True,
    ...                                                 ignore_index=-1)), 4)   # the mean of the kept sample
    0.2761
    """,
)

LOSSES = (
    CATEGORICAL_CROSS_ENTROPY,
    SPARSE_CATEGORICAL_CROSS_ENTROPY,
)
