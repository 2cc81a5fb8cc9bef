"""Distribution losses over a class axis: categorical and sparse categorical cross-entropy and
their relatives (focal cross-entropy, Poly-1, generalised cross-entropy).

Conventions shared by the family:

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
  ``_math._max_and_log1p_rest``), so every term of the loss is non-negative and a confident
  correct row keeps its tiny loss (``[40, 0, 0]`` -> ``2 e^-40``, not 0); ``1 - p`` is
  ``-expm1(log p)``, accurate for the dominant class too.
- Gradients and Hessian diagonals are with respect to ``y_pred`` (logits or probabilities,
  including the renormalisation when ``renormalize=True``).
- Class weights and ``ignore_index`` act as per-sample weights (``implicit_weight``), so the
  default ``"mean"`` divides by their total, PyTorch's rule.
"""

from __future__ import annotations

import numbers

from .._array.stable import _max_and_log1p_rest, inv_above, log_softmax
from .._array.validate import (
    LossInputError,
    check_axis,
    check_finite,
    check_flag,
    check_integer_labels,
    check_number,
    check_range,
    check_real,
    check_rows_sum_to_one,
    check_same_shape,
)
from .._array.xp import as_array, compute_dtype, device_of, is_concrete
from ..spec import Loss
from ._common import along, option_array, prob_epsilon, row_sum_tolerance

# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------


def _as_bool_target(xp, y, like):
    if y is not None and y.dtype == xp.bool:
        return xp.astype(y, compute_dtype(xp, like))
    return y


def _pred(xp, y_pred, opts, validate):
    """y_pred in its compute dtype, the normalised class axis and the number of classes."""
    check_real(y_pred, xp=xp, name="y_pred")
    orig = y_pred.dtype
    if y_pred.ndim == 0:
        raise LossInputError("y_pred must have a class axis (at least 1 dimension); got a 0-d array")
    axis = check_axis(opts["axis"], y_pred.ndim)
    n = y_pred.shape[axis]
    if n is not None and n == 0:
        raise LossInputError(f"y_pred must have at least one class along axis {axis}; got shape {tuple(y_pred.shape)}")
    y_pred = as_array(xp, y_pred, dtype=compute_dtype(xp, y_pred))
    if validate:
        check_finite(y_pred, xp=xp, name="y_pred")
    return y_pred, axis, n, orig


def _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate):
    if not validate:
        return
    if renormalize:
        check_range(y_pred, 0.0, None, xp=xp, name="y_pred",
                    what="non-negative scores (renormalize=True divides each row by its sum)")
        if is_concrete(y_pred):
            zero = xp.sum(xp.astype(xp.sum(y_pred, axis=axis) <= 0, xp.int32))
            if int(zero):
                raise LossInputError(
                    f"y_pred rows must have a positive sum along axis {axis} to be renormalised; "
                    f"got {int(zero)} all-zero row(s)"
                )
        return
    check_range(y_pred, 0.0, 1.0, xp=xp, name="y_pred",
                what="probabilities in [0, 1] (pass from_logits=True for logits)")
    check_rows_sum_to_one(
        y_pred, axis, xp=xp, name="y_pred", tol=row_sum_tolerance(xp, n, orig),
        hint="Pass renormalize=True to divide each row by its sum first (Keras's behaviour), "
             "or from_logits=True if y_pred holds logits.",
    )


def _class_vector(xp, value, *, name, n, like, validate, scalar_ok=False):
    """A per-class option (class_weight, alpha) as a 1-D array of length n, or a Python float."""
    if value is None:
        return None
    if scalar_ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(check_number(value, name=name, lo=0.0))
    if isinstance(value, (list, tuple)):  # built in the compute dtype: torch would round a list to float32 first
        try:
            value = xp.asarray(value, dtype=like.dtype, device=device_of(like))
        except (TypeError, ValueError) as err:
            raise LossInputError(f"{name} must be a list or array of non-negative numbers; got {value!r}") from err
    arr = option_array(xp, value, name=name, like=like, validate=validate, lo=0.0)
    if arr.ndim == 0 and scalar_ok:
        return arr
    if tuple(arr.shape) != (n,):
        raise LossInputError(f"{name} must have one entry per class, shape ({n},); got shape {tuple(arr.shape)}")
    return arr


def _label_smoothing(opts):
    return float(check_number(opts["label_smoothing"], name="label_smoothing", lo=0.0, hi=1.0))


def _index_dtype(xp, like):
    return xp.asarray(0, device=device_of(like)).dtype


def _prepare_labels(xp, y_true, y_pred, axis, n, ignore_index, validate):
    """Integer class ids with y_pred's shape less the class axis (or that axis kept at size 1)."""
    if y_true is None:
        raise LossInputError("y_true is required")
    shape = tuple(y_pred.shape)
    want = shape[:axis] + shape[axis + 1:]
    keep = shape[:axis] + (1,) + shape[axis + 1:]
    got = tuple(y_true.shape)
    if got == want:
        pass
    elif got == keep:
        y_true = xp.squeeze(y_true, axis=axis)
    else:
        hint = (" (for one-hot or probability targets use categorical_cross_entropy)"
                if got == shape else "")
        raise LossInputError(
            f"y_true must hold one integer class id per sample: shape {want} (or {keep}) for y_pred of "
            f"shape {shape} with classes on axis {axis}; got shape {got}{hint}"
        )
    dt = y_true.dtype
    if dt == xp.bool or not (xp.isdtype(dt, "integral") or xp.isdtype(dt, "real floating")):
        raise LossInputError(f"y_true must hold integer class ids; got dtype {dt}")
    if validate:
        check_finite(y_true, xp=xp, name="y_true")
        check_integer_labels(y_true, n, xp=xp, name="y_true", ignore_index=ignore_index)
    return xp.astype(y_true, _index_dtype(xp, y_pred))


def _ignore_index(opts):
    ii = opts["ignore_index"]
    if ii is None:
        return None
    return int(check_number(ii, name="ignore_index", integer=True))


def _valid_and_safe(xp, labels, ignore_index):
    """(mask of counted samples or None, labels with ignored ids replaced by 0)."""
    if ignore_index is None:
        return None, labels
    valid = labels != ignore_index
    return valid, xp.where(valid, labels, xp.zeros_like(labels))


def _gather(xp, a, labels, axis):
    """a[..., labels, ...] along ``axis`` with the axis kept (size 1).

    ``take_along_axis`` (array API 2024.12) where the namespace has it; otherwise (Dask) a
    masked sum over the class axis, evaluated chunk by chunk."""
    idx = xp.expand_dims(labels, axis=axis)
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(a, idx, axis=axis)
    shape = [1] * a.ndim
    shape[axis] = a.shape[axis]
    classes = xp.reshape(xp.arange(a.shape[axis], device=device_of(a)), tuple(shape))
    return xp.sum(xp.where(idx == classes, a, xp.zeros_like(a)), axis=axis, keepdims=True)


def _take(xp, vec, labels):
    """vec[labels] for a 1-D ``vec`` and labels of any shape."""
    flat = xp.take(vec, xp.reshape(labels, (-1,)), axis=0)
    return xp.reshape(flat, tuple(labels.shape))


def _one_hot(xp, labels, axis, n, dtype):
    shape = [1] * (labels.ndim + 1)
    shape[axis] = n
    classes = xp.reshape(xp.arange(n, device=device_of(labels)), tuple(shape))
    return xp.astype(xp.expand_dims(labels, axis=axis) == classes, dtype)


def _mask_rows(xp, x, valid, axis=None):
    """Zero where ``valid`` is False (``axis``: re-insert the class axis into ``valid``)."""
    if valid is None:
        return x
    if axis is not None:
        valid = xp.expand_dims(valid, axis=axis)
    return xp.where(valid, x, xp.zeros_like(x))


def _log_probs(xp, y_pred, axis, x=None):
    """log softmax(y_pred) along ``axis``, evaluated at ``x`` (y_pred itself, or a gathered slice)."""
    m, l1p = _max_and_log1p_rest(y_pred, axis, xp=xp)
    return ((y_pred if x is None else x) - m) - l1p


def _probs(xp, y_pred, axis, renormalize, x=None):
    """Probabilities (divided by the row sum when ``renormalize``), at ``x`` or everywhere."""
    x = y_pred if x is None else x
    if not renormalize:
        return x
    s = xp.sum(y_pred, axis=axis, keepdims=True)
    return x / xp.where(s > 0, s, xp.ones_like(s))


def _row_sum(xp, y_pred, axis):
    s = xp.sum(y_pred, axis=axis, keepdims=True)
    return xp.where(s > 0, s, xp.ones_like(s))


def _safe_inv(xp, x, ok):
    one = xp.ones_like(x)
    return xp.where(ok, 1.0 / xp.where(ok, x, one), 0.0 * one)


def _clamped_log(xp, q, eps):
    return xp.log(xp.clip(q, min=eps))


def _prob_chain(xp, a, b, y_pred, axis, renormalize):
    """Gradient and Hessian diagonal w.r.t. y_pred of ``sum_c phi_c(q_c)`` given
    ``a = phi'(q)`` and ``b = phi''(q)``; ``q = y_pred`` or ``y_pred / sum(y_pred)``.

    With q = p / s: g_j = (a_j - A) / s and H_jj = (b_j (1 - 2 q_j) - 2 a_j + B + 2 A) / s^2,
    A = sum_c a_c q_c, B = sum_c b_c q_c^2.
    """
    if not renormalize:
        return a, b
    s, q, big_a = _renorm_parts(xp, a, y_pred, axis)
    big_b = xp.sum(b * q * q, axis=axis, keepdims=True)
    g = (a - big_a) / s
    h = (b * (1.0 - 2.0 * q) - 2.0 * a + big_b + 2.0 * big_a) / (s * s)
    return g, h


def _renorm_parts(xp, a, y_pred, axis):
    """``(s, q, A)`` of :func:`_prob_chain`: row sums, ``q = y_pred / s``, ``A = sum a q``."""
    s = _row_sum(xp, y_pred, axis)
    q = y_pred / s
    return s, q, xp.sum(a * q, axis=axis, keepdims=True)


def _softmax_chain(xp, phi1p, phi2p2, logp, axis):
    """Gradient and Hessian diagonal w.r.t. logits x of ``sum_c phi_c(p_c)``, p = softmax(x),
    given ``phi1p = phi'(p) p`` and ``phi2p2 = phi''(p) p^2`` (each bounded).

    g_j = r_j u_j - p_j (R - r_j) (= r_j - p_j R with r = phi' p, R = sum r, u = 1 - p)
    H_jj = (1 - 2 p_j) (phi''_j p_j^2 + g_j) + p_j^2 B,  B = sum_c phi''_c p_c^2.
    """
    p = xp.exp(logp)
    u = -xp.expm1(logp)
    big_r = xp.sum(phi1p, axis=axis, keepdims=True)
    g = phi1p * u - p * (big_r - phi1p)
    big_b = xp.sum(phi2p2, axis=axis, keepdims=True)
    h = (1.0 - 2.0 * p) * (phi2p2 + g) + p * p * big_b
    return g, h


# ---------------------------------------------------------------------------------------
# cross-entropy kernels on a dense target t (sum S = sum_c t_c need not be 1)
# ---------------------------------------------------------------------------------------


def _ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, x=None):
    """-log q_c (non-negative) for every class, or at the gathered ``x``."""
    if from_logits:
        return -_log_probs(xp, y_pred, axis, x)
    return -_clamped_log(xp, _probs(xp, y_pred, axis, renormalize, x), epsilon)


def ce_dense_value(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    if from_logits:
        return xp.sum(t * _ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon), axis=axis)
    # -sum t log q: the sign flips once per row, not per element (exact either way; 0 - x gives +0)
    return 0.0 - xp.sum(t * _clamped_log(xp, _probs(xp, y_pred, axis, renormalize), epsilon), axis=axis)


def ce_dense_grad_hess(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    if from_logits:
        logp = log_softmax(y_pred, axis, xp=xp)
        p, u = xp.exp(logp), -xp.expm1(logp)
        s = xp.sum(t, axis=axis, keepdims=True)
        return (s - t) * p - t * u, s * p * u
    q = _probs(xp, y_pred, axis, renormalize)
    inv = inv_above(q, epsilon, xp=xp)
    return _prob_chain(xp, -t * inv, t * inv * inv, y_pred, axis, renormalize)


def _ce_dense_grad(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    """The gradient of :func:`ce_dense_grad_hess` alone (the same expressions, no Hessian)."""
    if from_logits:
        logp = log_softmax(y_pred, axis, xp=xp)
        p, u = xp.exp(logp), -xp.expm1(logp)
        return (xp.sum(t, axis=axis, keepdims=True) - t) * p - t * u
    a = -t * inv_above(_probs(xp, y_pred, axis, renormalize), epsilon, xp=xp)
    if not renormalize:
        return a
    s, _, big_a = _renorm_parts(xp, a, y_pred, axis)
    return (a - big_a) / s


# ---------------------------------------------------------------------------------------
# categorical cross-entropy
# ---------------------------------------------------------------------------------------


def _dense_target(xp, y_true, y_pred, axis, n, validate, *, name="y_true"):
    """Dense targets: same shape, non-negative rows summing to 1."""
    if y_true is None:
        raise LossInputError("y_true is required")
    y_true = _as_bool_target(xp, y_true, y_pred)
    check_real(y_true, xp=xp, name=name)
    orig = y_true.dtype
    y_true = as_array(xp, y_true, dtype=y_pred.dtype)
    if y_true.ndim == y_pred.ndim - 1 and tuple(y_true.shape) == tuple(
            d for i, d in enumerate(y_pred.shape) if i != axis):
        raise LossInputError(
            f"y_true must have y_pred's shape {tuple(y_pred.shape)} (one-hot or probability rows); got "
            f"{tuple(y_true.shape)}, the shape of class ids: use sparse_categorical_cross_entropy for those"
        )
    check_same_shape(y_true, y_pred)
    if validate:
        check_finite(y_true, xp=xp, name=name)
        check_range(y_true, 0.0, None, xp=xp, name=name, what="non-negative target probabilities")
        check_rows_sum_to_one(
            y_true, axis, xp=xp, name=name, tol=row_sum_tolerance(xp, n, orig),
            hint="Targets must be one-hot or probability rows; for integer class ids use "
                 "sparse_categorical_cross_entropy.",
        )
    return y_true


def _cce_prepare(xp, y_true, y_pred, opts, validate):
    y_pred, axis, n, orig = _pred(xp, y_pred, opts, validate)
    y_true = _dense_target(xp, y_true, y_pred, axis, n, validate)
    from_logits, renormalize = check_flag(opts["from_logits"], "from_logits"), check_flag(opts["renormalize"], "renormalize")
    if not from_logits:
        _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate)
    ls = _label_smoothing(opts)
    t = y_true * (1.0 - ls) + ls / n if ls else y_true
    cw = _class_vector(xp, opts["class_weight"], name="class_weight", n=n, like=y_pred, validate=validate)
    row_weight = None
    if cw is not None:
        w = along(xp, cw, axis, y_pred.ndim)
        row_weight = xp.sum(w * y_true, axis=axis, keepdims=True)
        ok = row_weight > 0
        t = xp.where(ok, w * t / xp.where(ok, row_weight, xp.ones_like(row_weight)), xp.zeros_like(t))
        row_weight = xp.squeeze(row_weight, axis=axis)
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    return t, y_pred, {"axis": axis, "from_logits": from_logits, "renormalize": renormalize,
                       "epsilon": eps, "row_weight": row_weight}


def _cce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return ce_dense_value(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                           renormalize=renormalize, epsilon=epsilon)


def _cce_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return _ce_dense_grad(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                          renormalize=renormalize, epsilon=epsilon)


def _cce_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, row_weight):
    return ce_dense_grad_hess(xp, y_true, y_pred, axis=axis, from_logits=from_logits,
                               renormalize=renormalize, epsilon=epsilon)[1]


def _row_weight(xp, y_true, y_pred, **opts):
    return opts["row_weight"]


def _class_axis(ndim, opts):
    return (opts["axis"] % ndim,)


_CCE_OPTIONS = {"axis": -1, "from_logits": False, "label_smoothing": 0.0, "class_weight": None,
                "renormalize": False, "epsilon": None}

CATEGORICAL_CROSS_ENTROPY = Loss(
    name="categorical_cross_entropy",
    aliases=("categorical_crossentropy", "cce", "softmax_cross_entropy"),
    value=_cce_value,
    grad=_cce_grad,
    hess=_cce_hess,
    prepare=_cce_prepare,
    options=_CCE_OPTIONS,
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: one-hot or probability rows (y_pred's shape); y_pred: probabilities, or logits with "
           "from_logits=True; classes on `axis`",
    summary="Cross-entropy between target and predicted class distributions (softmax log loss).",
    reduced_axes=_class_axis,
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
    y_pred, axis, n, orig = _pred(xp, y_pred, opts, validate)
    ignore_index = _ignore_index(opts)
    labels = _prepare_labels(xp, y_true, y_pred, axis, n, ignore_index, validate)
    from_logits, renormalize = check_flag(opts["from_logits"], "from_logits"), check_flag(opts["renormalize"], "renormalize")
    if not from_logits:
        _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate)
    cw = _class_vector(xp, opts["class_weight"], name="class_weight", n=n, like=y_pred, validate=validate)
    return labels, y_pred, {
        "axis": axis, "from_logits": from_logits, "renormalize": renormalize,
        "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "label_smoothing": _label_smoothing(opts),
        "class_weight": cw, "ignore_index": ignore_index,
    }


def _class_ratio(xp, class_weight, safe, axis, ndim):
    """v_c = w_c / w[y] (0 where w[y] = 0), shaped along the class axis, and w[y]."""
    wy = _take(xp, class_weight, safe)
    ok = wy > 0
    inv = xp.where(ok, 1.0 / xp.where(ok, wy, xp.ones_like(wy)), xp.zeros_like(wy))
    return along(xp, class_weight, axis, ndim) * xp.expand_dims(inv, axis=axis), wy


def _scce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
                class_weight, ignore_index):
    valid, safe = _valid_and_safe(xp, y_true, ignore_index)
    x_y = _gather(xp, y_pred, safe, axis)
    out = _ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, x_y)  # -log q_y, keepdims
    ls = label_smoothing
    if ls:
        terms = _ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon)
        if class_weight is not None:
            v, _ = _class_ratio(xp, class_weight, safe, axis, y_pred.ndim)
            terms = v * terms
        out = (1.0 - ls) * out + (ls / y_pred.shape[axis]) * xp.sum(terms, axis=axis, keepdims=True)
    out = xp.squeeze(out, axis=axis)
    return _mask_rows(xp, out, valid)


def _sparse_target(xp, labels, y_pred, axis, label_smoothing, class_weight, ignore_index):
    """The dense target row the sparse value is the cross-entropy against (for derivatives)."""
    valid, safe = _valid_and_safe(xp, labels, ignore_index)
    n = y_pred.shape[axis]
    t = _one_hot(xp, safe, axis, n, y_pred.dtype)
    ls = label_smoothing
    if ls:
        v = 1.0
        if class_weight is not None:
            v, _ = _class_ratio(xp, class_weight, safe, axis, y_pred.ndim)
        t = (1.0 - ls) * t + (ls / n) * v * xp.ones_like(t)
    return _mask_rows(xp, t, valid, axis)


def _scce_grad_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
                    class_weight, ignore_index):
    t = _sparse_target(xp, y_true, y_pred, axis, label_smoothing, class_weight, ignore_index)
    return ce_dense_grad_hess(xp, t, y_pred, axis=axis, from_logits=from_logits, renormalize=renormalize,
                               epsilon=epsilon)


def _scce_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, label_smoothing,
               class_weight, ignore_index):
    t = _sparse_target(xp, y_true, y_pred, axis, label_smoothing, class_weight, ignore_index)
    return _ce_dense_grad(xp, t, y_pred, axis=axis, from_logits=from_logits, renormalize=renormalize,
                          epsilon=epsilon)


def _scce_hess(xp, y_true, y_pred, **opts):
    return _scce_grad_hess(xp, y_true, y_pred, **opts)[1]


def _label_weight(xp, y_true, y_pred, **opts):
    """w[y_i] for class weights, times 0 for ignored samples; None when neither applies."""
    cw, ii = opts.get("class_weight"), opts.get("ignore_index")
    if cw is None and ii is None:
        return None
    valid, safe = _valid_and_safe(xp, y_true, ii)
    w = _take(xp, cw, safe) if cw is not None else xp.ones(tuple(safe.shape), dtype=y_pred.dtype,
                                                           device=device_of(y_pred))
    return _mask_rows(xp, w, valid)


SPARSE_CATEGORICAL_CROSS_ENTROPY = Loss(
    name="sparse_categorical_cross_entropy",
    aliases=("sparse_categorical_crossentropy", "scce", "sparse_cce", "softmax_cross_entropy_with_integer_labels"),
    value=_scce_value,
    grad=_scce_grad,
    hess=_scce_hess,
    prepare=_scce_prepare,
    options={**_CCE_OPTIONS, "ignore_index": None},
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: integer class ids (y_pred's shape without the class axis, or with it kept at size 1); "
           "y_pred: probabilities, or logits with from_logits=True; classes on `axis`",
    summary="Cross-entropy with integer class labels (negative log-likelihood of the true class).",
    reduced_axes=_class_axis,
    implicit_weight=_label_weight,
    doc="""Sparse categorical cross-entropy: integer class ids instead of one-hot rows.

    Per sample with label ``y`` (no one-hot matrix is built for the value: the true class is
    gathered): ``l = -(1 - s) log q_y - (s / C) sum_c v_c log q_c`` where ``s`` is the label
    smoothing and ``v_c = w_c / w_y`` with class weights (else 1); ``log q`` as in
    :func:`categorical_cross_entropy` (``log_softmax`` of logits, or the floored, optionally
    renormalised probability). Gradient: that of the dense loss against the target row
    ``(1 - s) onehot(y) + (s / C) v``: ``S softmax(x) - t`` for logits, ``-t / p`` for
    probabilities; Hessian ``S p (1 - p)`` or ``t / p^2``.

    ``y_true`` has ``y_pred``'s shape without the class axis; Keras's layout with that axis
    kept at size 1 (``(N, 1)`` labels for ``(N, C)`` predictions) is accepted and squeezed.
    Float arrays holding whole numbers are accepted; ids outside ``[0, C)`` (other than
    ``ignore_index``) raise :class:`losskit.LossInputError`.

    Options: those of :func:`categorical_cross_entropy` (``axis=-1, from_logits=False,
    label_smoothing=0.0, class_weight=None, renormalize=False, epsilon=None``) and
    ``ignore_index=None``.

    - ``class_weight=w`` acts as the per-sample weight ``w[y_i]``: ``"none"`` returns
      ``w[y_i] l_i``, the mean divides by ``sum_i w[y_i]`` (PyTorch's
      ``CrossEntropyLoss(weight=w)``, label smoothing included: its smoothing term is weighted
      by ``w_c``). A sample of a zero-weight class counts 0.
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


# ---------------------------------------------------------------------------------------
# focal cross-entropy (Keras's categorical convention)
# ---------------------------------------------------------------------------------------


def _pow(xp, u, g):
    """u^g for u >= 0 with 0^g = 0 (g > 0), 0^0 = 1, written so that autodiff at u = 0 sees no inf."""
    if g == 0:
        return xp.ones_like(u)
    pos = u > 0
    return xp.where(pos, xp.where(pos, u, xp.ones_like(u)) ** g, xp.zeros_like(u))


def _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma, x=None):
    """(1 - q)^gamma (-log q) per class (or at the gathered ``x``)."""
    if from_logits:
        logp = _log_probs(xp, y_pred, axis, x)
        return _pow(xp, -xp.expm1(logp), gamma) * (-logp)
    q = _probs(xp, y_pred, axis, renormalize, x)
    u = xp.clip(1.0 - q, min=epsilon)
    return u**gamma * (-_clamped_log(xp, q, epsilon)) if gamma else -_clamped_log(xp, q, epsilon)


def _focal_grad_hess(xp, tau, y_pred, *, axis, from_logits, renormalize, epsilon, gamma):
    """Derivatives of sum_c tau_c (1 - q_c)^gamma (-log q_c)."""
    g0 = gamma
    if from_logits:
        logp = log_softmax(y_pred, axis, xp=xp)
        p, u, ell = xp.exp(logp), -xp.expm1(logp), -logp
        pos = u > 0
        lam = xp.where(pos, ell / xp.where(pos, u, xp.ones_like(u)), xp.ones_like(u))  # -log p / (1 - p)
        ug = _pow(xp, u, g0)
        r = -tau * ug * (g0 * p * lam + 1.0)  # tau f'(p) p
        big_r = xp.sum(r, axis=axis, keepdims=True)
        g = r * u - p * (big_r - r)
        # E = tau f''(p) p^2 (1 - p)^2, bounded for every gamma >= 0
        e = tau * ug * u * (g0 * (g0 - 1.0) * p * p * lam + 2.0 * g0 * p + u)
        small = p <= 0.5  # 1 - p >= 1/2: tau f''(p) p^2 = E / u^2 is bounded
        d = xp.where(small, e / xp.where(small, u * u, xp.ones_like(u)), xp.zeros_like(u))
        s_small = xp.sum(d, axis=axis, keepdims=True)
        big = ~small  # at most one class per row
        e_big = xp.sum(xp.where(big, e, xp.zeros_like(e)), axis=axis, keepdims=True)
        any_big = xp.sum(xp.astype(big, u.dtype), axis=axis, keepdims=True) > 0
        u_big = xp.where(any_big, xp.sum(xp.where(big, u, xp.zeros_like(u)), axis=axis, keepdims=True),
                         xp.ones_like(e_big))
        okb = u_big > 0
        ratio = xp.where(okb, p / xp.where(okb, u_big, xp.ones_like(u_big)), xp.zeros_like(p))  # <= 1 off the big class
        h = e + (1.0 - 2.0 * p) * g + p * p * (s_small - d) + xp.where(small, e_big * ratio * ratio, xp.zeros_like(e))
        return g, h
    q = _probs(xp, y_pred, axis, renormalize)
    ok_p, ok_u = q > epsilon, (1.0 - q) > epsilon
    u = xp.clip(1.0 - q, min=epsilon)
    ell = -_clamped_log(xp, q, epsilon)
    inv = _safe_inv(xp, q, ok_p)
    zero = xp.zeros_like(q)
    if g0:
        ug, ug1, ug2 = u**g0, u ** (g0 - 1.0), u ** (g0 - 2.0)
        a = tau * (-g0 * xp.where(ok_u, ug1 * ell, zero) - ug * inv)
        b = tau * (g0 * (g0 - 1.0) * xp.where(ok_u, ug2 * ell, zero)
                   + 2.0 * g0 * xp.where(ok_u, ug1 * inv, zero) + ug * inv * inv)
    else:
        a, b = -tau * inv, tau * inv * inv
    return _prob_chain(xp, a, b, y_pred, axis, renormalize)


def _alpha_and_gamma(xp, opts, n, like, validate):
    gamma = float(check_number(opts["gamma"], name="gamma", lo=0.0))
    alpha = _class_vector(xp, opts["alpha"], name="alpha", n=n, like=like, validate=validate, scalar_ok=True)
    return alpha, gamma


def _cfce_prepare(xp, y_true, y_pred, opts, validate):
    y_pred, axis, n, orig = _pred(xp, y_pred, opts, validate)
    y_true = _dense_target(xp, y_true, y_pred, axis, n, validate)
    from_logits, renormalize = check_flag(opts["from_logits"], "from_logits"), check_flag(opts["renormalize"], "renormalize")
    if not from_logits:
        _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate)
    ls = _label_smoothing(opts)
    t = y_true * (1.0 - ls) + ls / n if ls else y_true
    alpha, gamma = _alpha_and_gamma(xp, opts, n, y_pred, validate)
    if alpha is not None:
        t = along(xp, alpha, axis, y_pred.ndim) * t
    return t, y_pred, {"axis": axis, "from_logits": from_logits, "renormalize": renormalize,
                       "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "gamma": gamma}


def _cfce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma):
    terms = _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma)
    return xp.sum(y_true * terms, axis=axis)


def _cfce_grad(xp, y_true, y_pred, **opts):
    return _focal_grad_hess(xp, y_true, y_pred, **opts)[0]


def _cfce_hess(xp, y_true, y_pred, **opts):
    return _focal_grad_hess(xp, y_true, y_pred, **opts)[1]


_FOCAL_OPTIONS = {"axis": -1, "gamma": 2.0, "alpha": 0.25, "from_logits": False, "label_smoothing": 0.0,
                  "renormalize": False, "epsilon": None}

_FOCAL_DOC_COMMON = """
    Options: ``gamma=2.0`` (>= 0; 0 gives cross-entropy), ``alpha=0.25`` (a scalar, as Keras,
    or one weight per class; ``None`` means 1), ``axis=-1``, ``from_logits=False``,
    ``label_smoothing=0.0`` (``y (1 - s) + s / C``), ``renormalize=False``, ``epsilon=None``.

    On probabilities ``1 - q`` is floored at ``epsilon`` too, so the Hessian stays finite at
    ``q = 1`` for ``gamma < 1`` (the exact one is infinite there); from logits no floor is
    needed and every derivative is finite and accurate for logits up to +-1e4.

    Keras ``CategoricalFocalCrossentropy(alpha, gamma)``: ``renormalize=True, epsilon=1e-7,
    reduction="sum_over_batch_size"`` on float32 inputs (its upper clip at ``1 - 1e-7`` changes
    a value by less than 1e-7). MONAI's ``FocalLoss`` is a per-class sigmoid/softmax focal loss
    of the segmentation family, not this one.

    Reference: Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection",
    ICCV 2017 (arXiv:1708.02002).
"""

CATEGORICAL_FOCAL_CROSS_ENTROPY = Loss(
    name="categorical_focal_cross_entropy",
    aliases=("categorical_focal_crossentropy", "cfce"),
    value=_cfce_value,
    grad=_cfce_grad,
    hess=_cfce_hess,
    prepare=_cfce_prepare,
    options=_FOCAL_OPTIONS,
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: one-hot or probability rows (y_pred's shape); y_pred: probabilities, or logits with "
           "from_logits=True; classes on `axis`",
    summary="Cross-entropy with each class term down-weighted by (1 - p)^gamma (Keras's categorical focal loss).",
    reduced_axes=_class_axis,
    doc="""Categorical focal cross-entropy (Keras's convention: the focal factor per class).

    Per sample ``l = sum_c alpha_c t_c (1 - q_c)^gamma (-log q_c)`` with ``t`` the (smoothed)
    target row and ``q`` the softmax of logits or the (optionally renormalised) probabilities,
    floored at ``epsilon`` inside the log. With ``f(q) = (1 - q)^gamma (-log q)``:
    ``f'(q) = -gamma (1 - q)^(gamma - 1) (-log q) - (1 - q)^gamma / q``; from logits the
    gradient is ``r_j - p_j sum_c r_c`` with ``r_c = alpha_c t_c f'(p_c) p_c``, and the
    Hessian diagonal is assembled from bounded pieces (``f''(p) p^2 (1 - p)^2`` and
    ``p_j / (1 - p_max)``) so it stays finite for every ``gamma >= 0``.
    """ + _FOCAL_DOC_COMMON + """
    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> p = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2]])
    >>> np.round(lk.categorical_focal_cross_entropy(y, p, reduction="none"), 6)   # 0.25 (1 - p)^2 (-log p)
    array([0.000263, 0.147487])
    """,
)


def _scfce_prepare(xp, y_true, y_pred, opts, validate):
    y_pred, axis, n, orig = _pred(xp, y_pred, opts, validate)
    ignore_index = _ignore_index(opts)
    labels = _prepare_labels(xp, y_true, y_pred, axis, n, ignore_index, validate)
    from_logits, renormalize = check_flag(opts["from_logits"], "from_logits"), check_flag(opts["renormalize"], "renormalize")
    if not from_logits:
        _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate)
    alpha, gamma = _alpha_and_gamma(xp, opts, n, y_pred, validate)
    return labels, y_pred, {
        "axis": axis, "from_logits": from_logits, "renormalize": renormalize,
        "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "gamma": gamma, "alpha": alpha,
        "label_smoothing": _label_smoothing(opts), "ignore_index": ignore_index,
    }


def _scfce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma, alpha,
                 label_smoothing, ignore_index):
    valid, safe = _valid_and_safe(xp, y_true, ignore_index)
    x_y = _gather(xp, y_pred, safe, axis)
    out = _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma, x_y)
    vec = alpha is not None and hasattr(alpha, "ndim") and alpha.ndim == 1
    if vec:
        out = out * xp.expand_dims(_take(xp, alpha, safe), axis=axis)
    ls = label_smoothing
    if ls:
        terms = _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma)
        if vec:
            terms = along(xp, alpha, axis, y_pred.ndim) * terms
        out = (1.0 - ls) * out + (ls / y_pred.shape[axis]) * xp.sum(terms, axis=axis, keepdims=True)
    if alpha is not None and not vec:
        out = alpha * out
    return _mask_rows(xp, xp.squeeze(out, axis=axis), valid)


def _scfce_grad_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma, alpha,
                     label_smoothing, ignore_index):
    tau = _sparse_target(xp, y_true, y_pred, axis, label_smoothing, None, ignore_index)
    if alpha is not None:
        tau = along(xp, alpha, axis, y_pred.ndim) * tau
    return _focal_grad_hess(xp, tau, y_pred, axis=axis, from_logits=from_logits, renormalize=renormalize,
                            epsilon=epsilon, gamma=gamma)


def _scfce_grad(xp, y_true, y_pred, **opts):
    return _scfce_grad_hess(xp, y_true, y_pred, **opts)[0]


def _scfce_hess(xp, y_true, y_pred, **opts):
    return _scfce_grad_hess(xp, y_true, y_pred, **opts)[1]


SPARSE_CATEGORICAL_FOCAL_CROSS_ENTROPY = Loss(
    name="sparse_categorical_focal_cross_entropy",
    aliases=("sparse_categorical_focal_crossentropy",),
    value=_scfce_value,
    grad=_scfce_grad,
    hess=_scfce_hess,
    prepare=_scfce_prepare,
    options={**_FOCAL_OPTIONS, "ignore_index": None},
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: integer class ids (y_pred's shape without the class axis, or with it kept at size 1); "
           "y_pred: probabilities, or logits with from_logits=True; classes on `axis`",
    summary="Focal cross-entropy with integer class labels.",
    reduced_axes=_class_axis,
    implicit_weight=_label_weight,
    doc="""Sparse categorical focal cross-entropy: :func:`categorical_focal_cross_entropy` with
    integer class ids (label conventions of :func:`sparse_categorical_cross_entropy`).

    Per sample with label ``y``: ``l = alpha_y (1 - q_y)^gamma (-log q_y)`` (the true class is
    gathered, no one-hot matrix), with label smoothing ``s``:
    ``(1 - s) alpha_y f(q_y) + (s / C) sum_c alpha_c f(q_c)``. ``ignore_index=k``: samples
    labelled ``k`` weigh 0 and leave the mean's denominator. Derivatives as for the dense loss
    against the target row ``(1 - s) onehot(y) + s / C``.
    """ + _FOCAL_DOC_COMMON + """
    >>> import numpy as np, losskit as lk
    >>> p = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2]])
    >>> np.round(lk.sparse_categorical_focal_cross_entropy(np.array([0, 1]), p, reduction="none"), 6)
    array([0.000263, 0.147487])
    """,
)


# ---------------------------------------------------------------------------------------
# Poly-1 cross-entropy (optax poly_loss_cross_entropy)
# ---------------------------------------------------------------------------------------


def _poly_prepare(xp, y_true, y_pred, opts, validate):
    y_pred, axis, n, _ = _pred(xp, y_pred, opts, validate)
    y_true = _dense_target(xp, y_true, y_pred, axis, n, validate)
    ls = _label_smoothing(opts)
    t = y_true * (1.0 - ls) + ls / n if ls else y_true
    eps = float(check_number(opts["epsilon"], name="epsilon", lo=-1.0))
    return t, y_pred, {"axis": axis, "epsilon": eps}


def _poly_value(xp, y_true, y_pred, *, axis, epsilon):
    logp = log_softmax(y_pred, axis, xp=xp)
    return xp.sum(y_true * (-logp) + epsilon * (y_true * -xp.expm1(logp)), axis=axis)


def _poly_grad_hess(xp, y_true, y_pred, *, axis, epsilon):
    t = y_true
    logp = log_softmax(y_pred, axis, xp=xp)
    p, u = xp.exp(logp), -xp.expm1(logp)
    s = xp.sum(t, axis=axis, keepdims=True)
    tp = t * p
    big_t = xp.sum(tp, axis=axis, keepdims=True)
    dt = t * u - (big_t - tp)  # t_j - sum_c t_c p_c, without cancellation for the dominant class
    g = (s - t) * p - t * u - epsilon * p * dt
    h = s * p * u - epsilon * p * dt * (1.0 - 2.0 * p)
    return g, h


def _poly_grad(xp, y_true, y_pred, **opts):
    return _poly_grad_hess(xp, y_true, y_pred, **opts)[0]


def _poly_hess(xp, y_true, y_pred, **opts):
    return _poly_grad_hess(xp, y_true, y_pred, **opts)[1]


POLY1_CROSS_ENTROPY = Loss(
    name="poly1_cross_entropy",
    aliases=("poly_loss_cross_entropy", "poly1", "poly_loss"),
    value=_poly_value,
    grad=_poly_grad,
    hess=_poly_hess,
    prepare=_poly_prepare,
    options={"axis": -1, "epsilon": 2.0, "label_smoothing": 0.0},
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: one-hot or probability rows (y_pred's shape); y_pred: logits; classes on `axis`",
    summary="Poly-1 loss: softmax cross-entropy plus epsilon times the target mass of 1 - p.",
    reduced_axes=_class_axis,
    doc="""Poly-1 cross-entropy on logits.

    Per sample ``l = CE(t, softmax(x)) + epsilon sum_c t_c (1 - p_c)`` with ``p = softmax(x)``
    and ``t`` the (smoothed) target row; ``1 - p`` is ``-expm1(log p)``, exact for the dominant
    class. Gradient ``S p - t - epsilon p (t - T)`` with ``S = sum t`` and
    ``T = sum_c t_c p_c``; Hessian ``S p (1 - p) - epsilon p (t - T)(1 - 2 p)``.

    Options: ``epsilon=2.0`` (optax's default; >= -1 keeps the leading polynomial coefficient
    non-negative), ``axis=-1``, ``label_smoothing=0.0``. ``y_pred`` always holds logits.

    optax ``poly_loss_cross_entropy(logits, labels, epsilon)``: ``reduction="none"`` (optax
    takes predictions first). Label rows must sum to 1 here (optax does not check).

    Reference: Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification
    Loss Functions", ICLR 2022 (arXiv:2204.12511).

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]])
    >>> x = np.array([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
    >>> np.round(lk.poly1_cross_entropy(y, x, epsilon=1.15, reduction="none"), 4)   # optax's test values
    array([0.3495, 1.0731])
    """,
)


# ---------------------------------------------------------------------------------------
# generalised cross-entropy (Zhang and Sabuncu; Keras CategoricalGeneralizedCrossEntropy)
# ---------------------------------------------------------------------------------------


def _gce_prepare(xp, y_true, y_pred, opts, validate):
    y_pred, axis, n, orig = _pred(xp, y_pred, opts, validate)
    ignore_index = _ignore_index(opts)
    labels = _prepare_labels(xp, y_true, y_pred, axis, n, ignore_index, validate)
    from_logits, renormalize = check_flag(opts["from_logits"], "from_logits"), check_flag(opts["renormalize"], "renormalize")
    if not from_logits:
        _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate)
    q = float(check_number(opts["q"], name="q", lo=0.0, hi=1.0, lo_open=True))
    return labels, y_pred, {"axis": axis, "from_logits": from_logits, "renormalize": renormalize,
                            "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "q": q,
                            "ignore_index": ignore_index}


def _gce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, q, ignore_index):
    valid, safe = _valid_and_safe(xp, y_true, ignore_index)
    x_y = _gather(xp, y_pred, safe, axis)
    if from_logits:
        logp = _log_probs(xp, y_pred, axis, x_y)
    else:
        logp = _clamped_log(xp, _probs(xp, y_pred, axis, renormalize, x_y), epsilon)
    out = -xp.expm1(q * logp) / q  # (1 - p^q) / q without cancellation for small q or p near 1
    return _mask_rows(xp, xp.squeeze(out, axis=axis), valid)


def _gce_grad_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, q, ignore_index):
    t = _sparse_target(xp, y_true, y_pred, axis, 0.0, None, ignore_index)
    if from_logits:
        logp = log_softmax(y_pred, axis, xp=xp)
        pq = xp.exp(q * logp)
        return _softmax_chain(xp, -t * pq, t * (1.0 - q) * pq, logp, axis)
    qq = _probs(xp, y_pred, axis, renormalize)
    ok = qq > epsilon
    safe = xp.where(ok, qq, xp.ones_like(qq))
    zero = xp.zeros_like(qq)
    a = xp.where(ok, -t * safe ** (q - 1.0), zero)
    b = xp.where(ok, t * (1.0 - q) * safe ** (q - 2.0), zero)
    return _prob_chain(xp, a, b, y_pred, axis, renormalize)


def _gce_grad(xp, y_true, y_pred, **opts):
    return _gce_grad_hess(xp, y_true, y_pred, **opts)[0]


def _gce_hess(xp, y_true, y_pred, **opts):
    return _gce_grad_hess(xp, y_true, y_pred, **opts)[1]


GENERALIZED_CROSS_ENTROPY = Loss(
    name="generalized_cross_entropy",
    aliases=("categorical_generalized_cross_entropy", "gce"),
    value=_gce_value,
    grad=_gce_grad,
    hess=_gce_hess,
    prepare=_gce_prepare,
    options={"axis": -1, "q": 0.5, "from_logits": False, "renormalize": False, "epsilon": None,
             "ignore_index": None},
    structure="distribution",
    task="multiclass classification (noisy labels)",
    inputs="y_true: integer class ids (y_pred's shape without the class axis, or with it kept at size 1); "
           "y_pred: probabilities, or logits with from_logits=True; classes on `axis`",
    summary="Generalised cross-entropy (1 - p_y^q) / q: between cross-entropy (q -> 0) and MAE (q = 1).",
    reduced_axes=_class_axis,
    implicit_weight=_label_weight,
    doc="""Generalised cross-entropy (the L_q loss), robust to label noise.

    Per sample with label ``y``: ``l = (1 - p_y^q) / q``, computed as ``-expm1(q log p_y) / q``;
    ``p_y`` is the probability of the true class (floored at ``epsilon``; renormalised with
    ``renormalize=True``), or its softmax with ``from_logits=True``. ``q -> 0`` recovers
    cross-entropy, ``q = 1`` is ``1 - p_y`` (MAE on the one-hot target, up to a factor 2).
    Gradient w.r.t. probabilities ``-p_y^(q - 1)`` on the true class (0 elsewhere, and 0 below
    the floor, where the exact one is infinite for ``q < 1``); w.r.t. logits
    ``-p_y^q (onehot(y) - p)``.

    Options: ``q=0.5`` (Keras's default; in (0, 1]), ``axis=-1``, ``from_logits=False``,
    ``renormalize=False``, ``epsilon=None``, ``ignore_index=None`` (as in
    :func:`sparse_categorical_cross_entropy`). Labels follow the sparse conventions.

    Keras ``CategoricalGeneralizedCrossEntropy(q)`` (integer labels, ``p_y`` taken from
    ``y_pred`` as given): the defaults, ``reduction="sum_over_batch_size"``; Keras does not
    check that rows sum to 1 (``validate=False`` to pass such rows unchanged).

    Reference: Zhang and Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
    Networks with Noisy Labels", NeurIPS 2018 (arXiv:1805.07836).

    >>> import numpy as np, losskit as lk
    >>> p = np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6]])
    >>> np.round(lk.generalized_cross_entropy(np.array([0, 1]), p, q=0.8, reduction="none"), 6)
    array([0.310302, 0.905068])
    """,
)

LOSSES = (
    CATEGORICAL_CROSS_ENTROPY,
    SPARSE_CATEGORICAL_CROSS_ENTROPY,
    CATEGORICAL_FOCAL_CROSS_ENTROPY,
    SPARSE_CATEGORICAL_FOCAL_CROSS_ENTROPY,
    POLY1_CROSS_ENTROPY,
    GENERALIZED_CROSS_ENTROPY,
)
