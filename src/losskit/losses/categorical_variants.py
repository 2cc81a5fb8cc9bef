"""Reweighted relatives of the categorical cross-entropy: focal cross-entropy (dense and sparse
targets), Poly-1 cross-entropy and generalised cross-entropy.

Inputs, options and numerics follow the conventions of :mod:`losskit.losses.categorical`.
"""

from __future__ import annotations

from .._array.lean import torch_untracked
from .._array.stable import log_softmax, sparse_softmax_xent_value_grad
from .._array.validate import check_number
from ..spec import Boosting, Loss
from ._ce_math import clamped_log, log_probs, nan_of_rows, prob_chain, probs, safe_inv, softmax_chain
from ._common import along, gather, label_smoothing_option, prob_epsilon, take, wrapped_axis
from ._crossentropy import (
    class_vector,
    label_weight,
    mask_rows,
    prepare_rows,
    smoothed,
    sparse_target,
    valid_and_safe,
    values_read,
)

# ---------------------------------------------------------------------------------------
# focal cross-entropy (Keras's categorical convention)
# ---------------------------------------------------------------------------------------


def _pow(xp, u, g):
    """u^g for u >= 0 with 0^g = 0 (g > 0), 0^0 = 1, written so that autodiff at u = 0 sees no inf
    (untracked torch, which no autodiff follows: ``pow`` itself, the same numbers without a
    ``where``, a scalar loop on CPU)."""
    if g == 0:
        return xp.ones_like(u)
    if torch_untracked(u) is not None:
        return u**g
    pos = u > 0
    return xp.where(pos, xp.where(pos, u, xp.ones_like(u)) ** g, xp.zeros_like(u))


def _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma, x=None):
    """(1 - q)^gamma (-log q) per class (or at the gathered ``x``)."""
    if from_logits:
        logp = log_probs(xp, y_pred, axis, x)
        return _pow(xp, -xp.expm1(logp), gamma) * (-logp)
    q = probs(xp, y_pred, axis, renormalize, x)
    u = xp.clip(1.0 - q, min=epsilon)
    return u**gamma * (-clamped_log(xp, q, epsilon)) if gamma else -clamped_log(xp, q, epsilon)


def _focal_grad_hess(xp, tau, y_pred, *, axis, from_logits, renormalize, epsilon, gamma, hess=True):
    """Derivatives of sum_c tau_c (1 - q_c)^gamma (-log q_c) (``hess`` False: the gradient alone,
    the Hessian None)."""
    g0 = gamma
    if from_logits:
        return _focal_logit_derivs(xp, tau, log_softmax(y_pred, axis, xp=xp), axis, g0, hess)
    a, b = _focal_prob_ab(xp, tau, probs(xp, y_pred, axis, renormalize), epsilon, g0, hess)
    return prob_chain(xp, a, b, y_pred, axis, renormalize)


def _focal_logit_derivs(xp, tau, logp, axis, g0, hess, u=None, ug=None):
    """:func:`_focal_grad_hess` from the log-probabilities (``u = 1 - p`` and ``u^g0`` when the
    caller has them)."""
    p, ell = xp.exp(logp), -logp
    u = -xp.expm1(logp) if u is None else u
    lam = _log_ratio(xp, ell, u)
    ug = _pow(xp, u, g0) if ug is None else ug
    r = -tau * ug * (g0 * p * lam + 1.0)  # tau f'(p) p
    big_r = xp.sum(r, axis=axis, keepdims=True)
    g = r * u - p * (big_r - r)
    if not hess:
        return g, None
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


def _focal_prob_ab(xp, tau, q, epsilon, g0, hess):
    """``(a, b)``: first and second derivatives in ``q`` of ``tau (1 - q)^g0 (-log q)`` with ``q`` and
    ``1 - q`` floored at ``epsilon`` (``b`` None unless ``hess``)."""
    ok_p, ok_u = q > epsilon, (1.0 - q) > epsilon
    u = xp.clip(1.0 - q, min=epsilon)
    ell = -clamped_log(xp, q, epsilon)
    inv = safe_inv(xp, q, ok_p)
    zero = xp.zeros_like(q)
    if not g0:
        return -tau * inv, (tau * inv * inv if hess else None)
    ug, ug1 = u**g0, u ** (g0 - 1.0)
    a = tau * (-g0 * xp.where(ok_u, ug1 * ell, zero) - ug * inv)
    b = None if not hess else tau * (g0 * (g0 - 1.0) * xp.where(ok_u, u ** (g0 - 2.0) * ell, zero)
                                     + 2.0 * g0 * xp.where(ok_u, ug1 * inv, zero) + ug * inv * inv)
    return a, b


def _log_ratio(xp, ell, u):
    """``-log p / (1 - p)`` from ``ell = -log p`` and ``u = 1 - p``, 1 (its limit) where ``u = 0``.
    Untracked torch: ``nan_to_num`` of the quotient, the same numbers without a ``where`` (only
    ``0 / 0`` is NaN there: ``u = 0`` means ``ell = 0``; NaN logits stay NaN in ``p`` and ``u``)."""
    if torch_untracked(u) is not None:
        return (ell / u).nan_to_num_(nan=1.0)
    pos = u > 0
    return xp.where(pos, ell / xp.where(pos, u, xp.ones_like(u)), xp.ones_like(u))


def _alpha_and_gamma(xp, opts, n, like, validate):
    gamma = float(check_number(opts["gamma"], name="gamma", lo=0.0))
    alpha = class_vector(xp, opts["alpha"], name="alpha", n=n, like=like, validate=validate, scalar_ok=True)
    return alpha, gamma


def _cfce_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred, n, base, _ = prepare_rows(xp, y_true, y_pred, opts, validate, sparse=False)
    t = smoothed(y_true, opts, n)
    alpha, gamma = _alpha_and_gamma(xp, opts, n, y_pred, validate)
    if alpha is not None:
        t = along(xp, alpha, base["axis"], y_pred.ndim) * t
    return t, y_pred, {**base, "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "gamma": gamma}


def _cfce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma):
    terms = _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma)
    return xp.sum(y_true * terms, axis=axis)


def _cfce_grad(xp, y_true, y_pred, **opts):
    return _focal_grad_hess(xp, y_true, y_pred, **opts, hess=False)[0]


def _cfce_value_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma):
    """Values and gradient from logits on untracked torch from one log-softmax, ``1 - p`` and
    ``(1 - p)^gamma`` (the value's factors are the gradient's); None elsewhere."""
    if not from_logits or torch_untracked(y_pred) is None:
        return None
    logp = log_softmax(y_pred, axis, xp=xp)
    u = -xp.expm1(logp)
    ug = _pow(xp, u, gamma)
    value = xp.sum(y_true * (ug * (-logp)), axis=axis)
    return value, _focal_logit_derivs(xp, y_true, logp, axis, gamma, False, u, ug)[0]


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
    input_kind="probability",
    boosting=Boosting(labels="onehot", softmax=True),
    aliases=("categorical_focal_crossentropy", "cfce"),
    value=_cfce_value,
    grad=_cfce_grad,
    value_grad=_cfce_value_grad,
    hess=_cfce_hess,
    prepare=_cfce_prepare,
    options=_FOCAL_OPTIONS,
    structure="distribution",
    task="multiclass classification",
    inputs="y_true: one-hot or probability rows (y_pred's shape); y_pred: probabilities, or logits with "
           "from_logits=True; classes on `axis`",
    summary="Cross-entropy with each class term down-weighted by (1 - p)^gamma (Keras's categorical focal loss).",
    reduced_axes=wrapped_axis,
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
    labels, y_pred, n, base, ignore_index = prepare_rows(xp, y_true, y_pred, opts, validate, sparse=True)
    alpha, gamma = _alpha_and_gamma(xp, opts, n, y_pred, validate)
    return labels, y_pred, {
        **base, "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "gamma": gamma, "alpha": alpha,
        "label_smoothing": label_smoothing_option(opts["label_smoothing"]), "ignore_index": ignore_index,
        "checked": values_read(xp, y_pred, validate),
    }


def _scfce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma, alpha,
                 label_smoothing, ignore_index, checked=False):
    valid, safe = valid_and_safe(xp, y_true, ignore_index)
    x_y = gather(xp, y_pred, safe, axis)
    if not (checked or from_logits or renormalize or label_smoothing):  # else the row is read (or checked)
        x_y = nan_of_rows(xp, x_y, y_pred, axis)
    out = _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma, x_y)
    vec = alpha is not None and hasattr(alpha, "ndim") and alpha.ndim == 1
    if vec:
        out = out * xp.expand_dims(take(xp, alpha, safe), axis=axis)
    ls = label_smoothing
    if ls:
        terms = _focal_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, gamma)
        if vec:
            terms = along(xp, alpha, axis, y_pred.ndim) * terms
        out = (1.0 - ls) * out + (ls / y_pred.shape[axis]) * xp.sum(terms, axis=axis, keepdims=True)
    if alpha is not None and not vec:
        out = alpha * out
    return mask_rows(xp, xp.squeeze(out, axis=axis), valid)


def _scfce_grad_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma, alpha,
                     label_smoothing, ignore_index, checked=False, hess=True):
    tau = sparse_target(xp, y_true, y_pred, axis, label_smoothing, None, ignore_index)
    if alpha is not None:
        tau = along(xp, alpha, axis, y_pred.ndim) * tau
    return _focal_grad_hess(xp, tau, y_pred, axis=axis, from_logits=from_logits, renormalize=renormalize,
                            epsilon=epsilon, gamma=gamma, hess=hess)


def _scfce_grad(xp, y_true, y_pred, **opts):
    g = _sparse_focal_grad(xp, y_true, y_pred, **opts)
    return _scfce_grad_hess(xp, y_true, y_pred, **opts, hess=False)[0] if g is None else g


def _sparse_focal_grad(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, gamma, alpha, label_smoothing,
                       ignore_index, **_):
    """Without smoothing: :func:`_label_ce_grad` (logits) or :func:`_label_prob_grad` (probabilities
    as given) with the focal term's derivative at the label."""
    if label_smoothing or (renormalize and not from_logits):
        return None

    def weight(safe):
        if alpha is None or getattr(alpha, "ndim", 0) != 1:
            return 1.0 if alpha is None else alpha
        return xp.expand_dims(take(xp, alpha, safe), axis=axis)

    if not from_logits:
        return _label_prob_grad(xp, y_true, y_pred, axis, ignore_index,
                                lambda q_y, safe: _focal_prob_ab(xp, weight(safe), q_y, epsilon, gamma, False)[0])

    def scale(ell, safe):
        p, u = xp.exp(-ell), -xp.expm1(-ell)
        return _pow(xp, u, gamma) * (gamma * p * _log_ratio(xp, ell, u) + 1.0) * weight(safe)

    return _label_ce_grad(xp, y_true, y_pred, axis, ignore_index, scale)


def _label_prob_grad(xp, labels, y_pred, axis, ignore_index, deriv):
    """The gradient of a sparse loss ``f(q_y)`` on probabilities as given: ``deriv(q_y, labels) =
    f'(q_y)`` at the label (the gathered entries, the axis kept) and 0 elsewhere, from row-sized
    work and one scatter into zeros. Untracked torch; None elsewhere."""
    torch = torch_untracked(y_pred)
    if torch is None:
        return None
    valid, safe = valid_and_safe(xp, labels, ignore_index)
    a = mask_rows(xp, deriv(gather(xp, y_pred, safe, axis), safe), valid, axis)
    idx = torch.unsqueeze(safe, axis).clamp(0, y_pred.shape[axis] - 1)
    return torch.zeros_like(y_pred, memory_format=torch.contiguous_format).scatter_(axis, idx, a)


def _label_ce_grad(xp, labels, y_pred, axis, ignore_index, scale):
    """The gradient from logits of a sparse loss ``f(p_y)``: its derivative lives at the label alone,
    so it is ``scale = -f'(p_y) p_y`` (one number per row, from ``ell = -log p_y`` with the axis
    kept, and the labels) times the cross-entropy's ``p - onehot(y)``, accurate at the label
    (``-(1 - p_y)`` summed from the other classes): one softmax and row-sized work, where the
    dense form makes every class's terms. Untracked torch; None elsewhere."""
    if torch_untracked(y_pred) is None:
        return None
    valid, safe = valid_and_safe(xp, labels, ignore_index)
    ell, ce_grad = sparse_softmax_xent_value_grad(safe, y_pred, axis, xp=xp)
    return ce_grad.mul_(mask_rows(xp, scale(ell, safe), valid, axis))


def _scfce_hess(xp, y_true, y_pred, **opts):
    return _scfce_grad_hess(xp, y_true, y_pred, **opts)[1]


SPARSE_CATEGORICAL_FOCAL_CROSS_ENTROPY = Loss(
    name="sparse_categorical_focal_cross_entropy",
    input_kind="probability",
    boosting=Boosting(labels="ids", softmax=True),
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
    reduced_axes=wrapped_axis,
    implicit_weight=label_weight,
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
    y_true, y_pred, n, base, _ = prepare_rows(xp, y_true, y_pred, opts, validate, sparse=False, flags=False)
    t = smoothed(y_true, opts, n)
    eps = float(check_number(opts["epsilon"], name="epsilon", lo=-1.0))
    return t, y_pred, {**base, "epsilon": eps}


def _poly_value(xp, y_true, y_pred, *, axis, epsilon):
    logp = log_softmax(y_pred, axis, xp=xp)
    return xp.sum(y_true * (-logp) + epsilon * (y_true * -xp.expm1(logp)), axis=axis)


def _poly_grad_hess(xp, y_true, y_pred, *, axis, epsilon, hess=True):
    t = y_true
    logp = log_softmax(y_pred, axis, xp=xp)
    p, u = xp.exp(logp), -xp.expm1(logp)
    s = xp.sum(t, axis=axis, keepdims=True)
    tp = t * p
    big_t = xp.sum(tp, axis=axis, keepdims=True)
    dt = t * u - (big_t - tp)  # t_j - sum_c t_c p_c, without cancellation for the dominant class
    g = (s - t) * p - t * u - epsilon * p * dt
    return g, (s * p * u - epsilon * p * dt * (1.0 - 2.0 * p) if hess else None)


def _poly_grad(xp, y_true, y_pred, **opts):
    return _poly_grad_hess(xp, y_true, y_pred, **opts, hess=False)[0]


def _poly_hess(xp, y_true, y_pred, **opts):
    return _poly_grad_hess(xp, y_true, y_pred, **opts)[1]


POLY1_CROSS_ENTROPY = Loss(
    name="poly1_cross_entropy",
    input_kind="logit",
    boosting=Boosting(labels="onehot", softmax=True),
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
    reduced_axes=wrapped_axis,
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
    labels, y_pred, _, base, ignore_index = prepare_rows(xp, y_true, y_pred, opts, validate, sparse=True)
    q = float(check_number(opts["q"], name="q", lo=0.0, hi=1.0, lo_open=True))
    return labels, y_pred, {**base, "epsilon": prob_epsilon(xp, y_pred.dtype, opts["epsilon"]), "q": q,
                            "ignore_index": ignore_index, "checked": values_read(xp, y_pred, validate)}


def _gce_value(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, q, ignore_index, checked=False):
    valid, safe = valid_and_safe(xp, y_true, ignore_index)
    x_y = gather(xp, y_pred, safe, axis)
    if not (checked or from_logits or renormalize):  # else the row is read (or checked)
        x_y = nan_of_rows(xp, x_y, y_pred, axis)
    if from_logits:
        logp = log_probs(xp, y_pred, axis, x_y)
    else:
        logp = clamped_log(xp, probs(xp, y_pred, axis, renormalize, x_y), epsilon)
    out = -xp.expm1(q * logp) / q  # (1 - p^q) / q without cancellation for small q or p near 1
    return mask_rows(xp, xp.squeeze(out, axis=axis), valid)


def _gce_grad_hess(xp, y_true, y_pred, *, axis, from_logits, renormalize, epsilon, q, ignore_index, checked=False,
                   hess=True):
    t = sparse_target(xp, y_true, y_pred, axis, 0.0, None, ignore_index)
    if from_logits:
        logp = log_softmax(y_pred, axis, xp=xp)
        pq = xp.exp(q * logp)
        return softmax_chain(xp, -t * pq, t * (1.0 - q) * pq if hess else None, logp, axis)
    qq = probs(xp, y_pred, axis, renormalize)
    ok = qq > epsilon
    b = xp.where(ok, t * (1.0 - q) * xp.where(ok, qq, xp.ones_like(qq)) ** (q - 2.0), xp.zeros_like(qq)) if hess else None
    return prob_chain(xp, _gce_prob_a(xp, t, qq, epsilon, q), b, y_pred, axis, renormalize)


def _gce_prob_a(xp, t, qq, epsilon, q):
    """d/dq of ``t (1 - q^q) / q`` (the exponent ``q``) above the floor ``epsilon``, 0 at or below it."""
    ok = qq > epsilon
    return xp.where(ok, -t * xp.where(ok, qq, xp.ones_like(qq)) ** (q - 1.0), xp.zeros_like(qq))


def _gce_grad(xp, y_true, y_pred, **opts):
    q, axis, ignore_index, g = opts["q"], opts["axis"], opts["ignore_index"], None
    if opts["from_logits"]:  # d/dx (1 - p_y^q) / q = p_y^q (p - onehot(y))
        g = _label_ce_grad(xp, y_true, y_pred, axis, ignore_index, lambda ell, _: xp.exp(-q * ell))
    elif not opts["renormalize"]:  # d/dq_y = -q_y^(q - 1) above the floor, 0 below
        g = _label_prob_grad(xp, y_true, y_pred, axis, ignore_index,
                             lambda q_y, _: _gce_prob_a(xp, xp.ones_like(q_y), q_y, opts["epsilon"], q))
    return _gce_grad_hess(xp, y_true, y_pred, **opts, hess=False)[0] if g is None else g


def _gce_hess(xp, y_true, y_pred, **opts):
    return _gce_grad_hess(xp, y_true, y_pred, **opts)[1]


GENERALIZED_CROSS_ENTROPY = Loss(
    name="generalized_cross_entropy",
    input_kind="probability",
    boosting=Boosting(labels="ids", softmax=True),
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
    reduced_axes=wrapped_axis,
    implicit_weight=label_weight,
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
    CATEGORICAL_FOCAL_CROSS_ENTROPY,
    SPARSE_CATEGORICAL_FOCAL_CROSS_ENTROPY,
    POLY1_CROSS_ENTROPY,
    GENERALIZED_CROSS_ENTROPY,
)
