"""Divergences between distributions over a class axis: Kullback-Leibler (forward, reverse and
generalised to unnormalised measures) and Jensen-Shannon.

Every loss here reduces a class axis ``axis`` (default -1) into one value per sample
(``structure="distribution"``). Probability inputs are floored at a documented ``epsilon``
only where a logarithm would otherwise be infinite; logits are used exactly.

Accuracy: the textbook ``sum t log(t/q)`` cancels when ``t`` and ``q`` nearly agree (the
terms have both signs and sum to a tiny value). Here every divergence is written as a sum
of non-negative Bregman terms ``t log(t/q) - t + q`` (series near ``t = q``) plus the
exactly summed differences ``sum (t - q)``, which vanish for normalised rows.
"""

from __future__ import annotations

import math

from .._array.lean import torch_row_blocks, torch_untracked_pair
from .._array.stable import (
    bregman_kl,
    bregman_kl_sums,
    inv_above,
    kl_logits_sums,
    kl_logits_value_grad,
    log_softmax,
    scaled_softmax_minus,
)
from .._array.validate import check_flag, check_range, check_rows_sum_to_one
from ..spec import Boosting, Loss, Refusal
from ._common import check_unit_interval, checked_axis, float_pair, nonempty_axis, prob_epsilon, row_sum_tolerance

_LN2 = math.log(2.0)


# -- option and input helpers ---------------------------------------------------------------
_NORM_HINT = "Pass normalized=False for rows that need not sum to 1 (Keras's convention)."


def _rows_input(xp, y_true, y_pred, opts, validate):
    """``(y_true, y_pred, axis, tol)``: the pair in the compute dtype, the class axis and the
    tolerance of a row sum, from the dtypes as given (before ``float_pair`` upcasts them)."""
    given_dtypes = (getattr(y_true, "dtype", None), y_pred.dtype)
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    axis = nonempty_axis(y_pred, opts["axis"])
    return y_true, y_pred, axis, row_sum_tolerance(xp, y_pred.shape[axis], *given_dtypes, fallback=y_pred.dtype)


def _check_rows(xp, x, axis, *, name, tol, validate, hint):
    if validate:
        check_rows_sum_to_one(x, axis, xp=xp, name=name, tol=tol, hint=hint)


def _check_pred(xp, y_pred, axis, *, tol, validate, normalized, logits):
    """Probability rows of ``y_pred`` in [0, 1] (summing to 1 when ``normalized``); ``logits``
    names what ``from_logits=True`` reads instead."""
    check_unit_interval(y_pred, xp=xp, name="y_pred", validate=validate,
                        what=f"probabilities in [0, 1] (pass from_logits=True for {logits})")
    if normalized:
        _check_rows(xp, y_pred, axis, name="y_pred", tol=tol, validate=validate,
                    hint=_NORM_HINT + f" Pass from_logits=True for {logits}.")


# -- accurate building blocks ---------------------------------------------------------------
def _sum_hi_lo(d, axis, *, xp):
    """Sum of ``d`` along ``axis`` as ``(hi, lo)``: ``hi`` exact, ``lo`` a tiny remainder.

    Error-free extraction (Rump, Ogita and Oishi 2008): with ``sigma >= 4 n max|d|`` each
    ``(sigma + d) - sigma`` is ``d`` rounded to a multiple of one power of two, so those
    parts add up exactly; ``d - part`` is exact too and its sum is second order.
    """
    n = d.shape[axis]
    m = xp.max(xp.abs(d), axis=axis, keepdims=True)
    sigma = m * (4.0 * n)
    hi = (sigma + d) - sigma
    lo = d - hi
    return xp.sum(hi, axis=axis), xp.sum(lo, axis=axis)


def _sum_diff(a, b, axis, *, xp):
    """``sum(a - b)`` along ``axis`` to nearly full relative accuracy, even when the sum is
    far smaller than its terms (normalised rows: it is 0 up to the rows' rounding)."""
    torch = torch_untracked_pair(a, b)
    if torch is not None:  # the same numbers block by block, in place
        return torch.squeeze(torch_row_blocks(torch, _sum_diff_rows, axis, a, b, reduced=True), dim=axis)
    s = a - b
    bb = s - a  # TwoSum (Knuth): s + err == a - b exactly, err = (a - (s - bb)) + (-b - bb)
    n = s.shape[axis]
    m = xp.max(xp.abs(s), axis=axis, keepdims=True)
    sigma = m * (4.0 * n)
    hi = (sigma + s) - sigma  # as _sum_hi_lo; its remainder s - hi joins err (both second order)
    rest = (s - hi) + ((a - (s - bb)) - (b + bb))
    return xp.sum(hi, axis=axis) + xp.sum(rest, axis=axis)


def _sum_diff_rows(torch, a, b, axis):
    """:func:`_sum_diff` of untracked torch rows (kept axis), its operations one for one in three
    buffers."""
    s = torch.sub(a, b)
    bb = torch.sub(s, a)
    sigma = torch.amax(torch.abs(s), dim=axis, keepdim=True).mul_(4.0 * s.shape[axis])
    hi = torch.add(sigma, s).sub_(sigma)
    err = torch.sub(s, bb).neg_().add_(a).sub_(bb.add_(b))  # (a - (s - bb)) - (b + bb)
    rest = s.sub_(hi).add_(err)
    return torch.sum(hi, dim=axis, keepdim=True) + torch.sum(rest, dim=axis, keepdim=True)


def _sum_minus_one(t, axis, *, xp):
    """``sum(t) - 1`` along ``axis`` without losing the low digits of the sum."""
    torch = torch_untracked_pair(t, t)
    if torch is not None:  # _sum_hi_lo's numbers from one fresh array: sum(lo) = -sum(hi - t) exactly
        n = t.shape[axis]
        m = torch.maximum(torch.amax(t, dim=axis, keepdim=True), torch.amin(t, dim=axis, keepdim=True).neg_())
        sigma = m.mul_(4.0 * n)
        hi = torch.add(t, sigma).sub_(sigma)
        return (torch.sum(hi, dim=axis) - 1.0) - torch.sum(hi.sub_(t), dim=axis)
    hi, lo = _sum_hi_lo(t, axis, xp=xp)
    return (hi - 1.0) + lo


def _softmax_chain(xp, q, qg, w, axis):
    """Gradient and Hessian diagonal w.r.t. logits ``x`` of ``sum_j l_j(q_j)``, ``q = softmax(x)``.

    Inputs: ``qg = q * dl/dq`` and ``w = q^2 d2l/dq2``. With ``G = sum qg`` and ``W = sum w``:
    gradient ``gamma = qg - q G``, Hessian diagonal ``(1 - 2q)(gamma + w) + q^2 W``.
    """
    gamma = qg - q * xp.sum(qg, axis=axis, keepdims=True)
    hess = (1.0 - 2.0 * q) * (gamma + w) + q * q * xp.sum(w, axis=axis, keepdims=True)
    return gamma, hess



# -- Kullback-Leibler: KL(y_true || y_pred) -----------------------------------------------------
def _kl_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred, axis, tol = _rows_input(xp, y_true, y_pred, opts, validate)
    from_logits = check_flag(opts["from_logits"], "from_logits")
    log_target = check_flag(opts["log_target"], "log_target")
    normalized = check_flag(opts["normalized"], "normalized")
    clip_target = check_flag(opts["clip_target"], "clip_target")
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    if log_target:
        if validate:
            check_range(y_true, None, 0.0, xp=xp, name="y_true",
                        what="log-probabilities <= 0 (log_target=True)")
        y_true = xp.exp(y_true)
    else:
        check_unit_interval(y_true, xp=xp, name="y_true", validate=validate,
                            what="probabilities in [0, 1] (pass log_target=True for log-probabilities)")
    if normalized:
        _check_rows(xp, y_true, axis, name="y_true" + (" (as exp(y_true))" if log_target else ""),
                    tol=tol, validate=validate, hint=_NORM_HINT)
    if not from_logits:
        _check_pred(xp, y_pred, axis, tol=tol, validate=validate, normalized=normalized,
                    logits="logits or log-probabilities")
    if clip_target:
        y_true = xp.clip(y_true, min=eps)
    return y_true, y_pred, {"axis": axis, "from_logits": from_logits, "epsilon": eps}



def _kl_value(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true
    if from_logits:
        return kl_logits_sums(t, y_pred, axis, xp=xp) + _sum_minus_one(t, axis, xp=xp)
    q = xp.clip(y_pred, min=epsilon)
    return bregman_kl_sums(t, q, axis, xp=xp) + _sum_diff(t, q, axis, xp=xp)


def _kl_grad(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true
    if from_logits:
        return scaled_softmax_minus(t, y_pred, axis, xp=xp)
    return -t * inv_above(y_pred, epsilon, xp=xp)


def _kl_value_grad(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    """``(_kl_value, _kl_grad)`` from one shifted exponential, for logits on an untracked torch
    pair; None otherwise."""
    pair = kl_logits_value_grad(y_true, y_pred, axis, xp=xp) if from_logits else None
    if pair is None:
        return None
    return xp.squeeze(pair[0], axis=axis) + _sum_minus_one(y_true, axis, xp=xp), pair[1]


def _kl_hess(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true
    if from_logits:
        q = xp.exp(log_softmax(y_pred, axis, xp=xp))
        return xp.sum(t, axis=axis, keepdims=True) * q * (1.0 - q)
    inv = inv_above(y_pred, epsilon, xp=xp)
    return t * inv * inv


KL_DIVERGENCE = Loss(
    name="kl_divergence",
    input_kind="probability",
    boosting=Boosting(refused=Refusal("target_distribution")),
    fused="kl_divergence",
    fused_at_scale=True,
    aliases=("kld", "kl_div", "kullback_leibler_divergence"),
    value=_kl_value,
    grad=_kl_grad,
    value_grad=_kl_value_grad,
    hess=_kl_hess,
    prepare=_kl_prepare,
    options={"from_logits": False, "log_target": False, "normalized": True, "epsilon": None,
             "clip_target": False, "axis": -1},
    structure="distribution",
    reduced_axes=checked_axis,
    task="distribution matching",
    inputs="y_true: target distribution (probabilities, or log-probabilities with log_target=True); "
           "y_pred: predicted probabilities, or logits / log-probabilities with from_logits=True",
    summary="Kullback-Leibler divergence KL(y_true || y_pred) over the class axis.",
    doc="""Kullback-Leibler divergence ``KL(t || q)`` of the prediction from the target.

    Per sample (over ``axis``): ``l = sum_c t_c log(t_c / q_c)`` with ``0 log 0 = 0`` exactly,
    so one-hot targets are fine: ``KL([1, 0, 0] || [0.8, 0.1, 0.1]) = -log 0.8`` (the
    textbook ``sum(t * log(t / q))`` gives NaN there). ``"mean"`` is the mean over samples.

    - probabilities (default): ``q`` is floored at ``epsilon`` inside the logarithm
      (``None``: e^-100 in float64, e^-40 in float32, as for cross-entropy), so ``q = 0``
      where ``t > 0`` costs ``t log(t / epsilon)``. Gradient ``-t / q`` and Hessian
      ``t / q^2`` (0 where ``q <= epsilon``: the clamp's derivative).
    - ``from_logits=True``: ``q = softmax(y_pred)`` through ``log_softmax``, exact for every
      finite logit. Log-probabilities are accepted as they are (``log_softmax`` leaves a
      normalised row unchanged), which is PyTorch's ``F.kl_div`` and optax's input form.
      Gradient ``S softmax(x) - t`` with ``S = sum_c t_c``; Hessian ``S p (1 - p)``.
    - ``log_target=True``: ``y_true`` holds log-probabilities (``t = exp(y_true)``), as
      PyTorch's ``log_target=True`` and optax's ``kl_divergence_with_log_targets``.

    Accuracy: evaluated as ``sum_c [t log(t/q) - t + q] + sum_c (t - q)``; the bracket is a
    non-negative Bregman term (a series near ``t = q``) and the differences are summed
    exactly, so nearly equal distributions keep full relative accuracy (the direct sum of
    ``t log(t/q)`` cancels to a few correct digits there).

    Options: ``from_logits=False``, ``log_target=False``, ``normalized=True`` (rows of
    ``y_true``, and of ``y_pred`` unless ``from_logits``, must sum to 1 within
    ``max(sqrt(eps), C 2^-24)`` for the input dtype and ``C`` classes, as for
    categorical cross-entropy; ``False`` skips that check and evaluates the same formula
    on unnormalised rows), ``epsilon=None``,
    ``clip_target=False`` (also floor ``y_true`` at ``epsilon``, as Keras does),
    ``axis=-1`` (the class axis).

    Peers and the options that reproduce them:

    - Keras ``KLDivergence`` / ``keras.losses.kl_divergence`` (clips both to ``[1e-7, 1]``,
      no row check): ``kl_divergence(t, q, normalized=False, epsilon=1e-7,
      clip_target=True, reduction="sum_over_batch_size")``.
    - PyTorch ``F.kl_div(input, target)`` (``input`` = log-probabilities):
      ``kl_divergence(target, input, from_logits=True)``; ``log_target=True`` maps to
      ``log_target=True``; ``reduction="batchmean"`` is losskit's ``"mean"`` for 2-D input
      (for more dimensions: ``"sum"`` divided by ``input.shape[0]``); ``"sum"`` is
      ``"sum"``; PyTorch's ``"mean"`` is losskit's ``"mean"`` divided by the class count;
      PyTorch's ``"none"`` is elementwise (no class sum). The gradient here is w.r.t. the
      logits (``S softmax - t``), not w.r.t. log-probabilities (``-t``).
    - optax ``kl_divergence(log_predictions, targets)``: ``kl_divergence(targets,
      log_predictions, from_logits=True, reduction="none")``;
      ``kl_divergence_with_log_targets``: add ``log_target=True``. optax does not reduce.
    - Neither PyTorch nor optax checks that rows sum to 1: add ``normalized=False`` for
      targets that do not. Log-probabilities that are not normalised are renormalised by
      ``from_logits=True`` (PyTorch and optax use them as they are); for the normalised
      log-probabilities they expect, the two agree to rounding.
    - ``scipy.special.rel_entr(t, q).sum(-1)`` / ``scipy.stats.entropy(t, q)``: the default
      (scipy's ``entropy`` renormalises its inputs first).

    Reference: S. Kullback and R. A. Leibler, "On information and sufficiency", Ann. Math.
    Statist. 22 (1951) 79-86.

    >>> import numpy as np, losskit as lk
    >>> y, p = np.array([[1.0, 0.0, 0.0]]), np.array([[0.8, 0.1, 0.1]])
    >>> bool(lk.kl_divergence(y, p) == -np.log(0.8))   # the course formula gives nan here
    True
    >>> round(float(lk.kld(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]), from_logits=True)), 12)
    0.120114506958
    """,
)



# -- reverse KL: KL(y_pred || y_true) ---------------------------------------------------------
def _target_pred_prepare(xp, y_true, y_pred, opts, validate):
    """Checks shared by reverse KL and Jensen-Shannon: target probabilities, predictions as
    probabilities or logits, rows summing to 1 unless normalized=False."""
    y_true, y_pred, axis, tol = _rows_input(xp, y_true, y_pred, opts, validate)
    from_logits = check_flag(opts["from_logits"], "from_logits")
    normalized = check_flag(opts["normalized"], "normalized")
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    check_unit_interval(y_true, xp=xp, name="y_true", validate=validate)
    if normalized:
        _check_rows(xp, y_true, axis, name="y_true", tol=tol, validate=validate, hint=_NORM_HINT)
    if not from_logits:
        _check_pred(xp, y_pred, axis, tol=tol, validate=validate, normalized=normalized, logits="logits")
    return y_true, y_pred, {"axis": axis, "from_logits": from_logits, "epsilon": eps}


def _rkl_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred, o = _target_pred_prepare(xp, y_true, y_pred, opts, validate)
    y_true = xp.clip(y_true, min=o["epsilon"])  # the target sits in the denominator: floor it once here
    return y_true, y_pred, o


def _rkl_value(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true  # already floored at epsilon
    if from_logits:
        lq = log_softmax(y_pred, axis, xp=xp)
        terms = bregman_kl(xp.exp(lq), t, log_a=lq, xp=xp)
        return xp.sum(terms, axis=axis) - _sum_minus_one(t, axis, xp=xp)
    q = y_pred
    qc = xp.clip(q, min=epsilon)
    below = (q - qc) * xp.log(qc / t)  # q log(eps/t) - eps log(eps/t) where q < eps, else 0
    return xp.sum(bregman_kl(qc, t, xp=xp) + below, axis=axis) + _sum_diff(qc, t, axis, xp=xp)


def _rkl_parts(xp, y_true, y_pred, axis):
    lq = log_softmax(y_pred, axis, xp=xp)
    q = xp.exp(lq)
    a = lq - xp.log(y_true)
    f = xp.sum(q * a, axis=axis, keepdims=True)
    return q, a - f


def _rkl_grad(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    if from_logits:
        q, af = _rkl_parts(xp, y_true, y_pred, axis)
        return q * af
    qc = xp.clip(y_pred, min=epsilon)
    return xp.log(qc / y_true) + xp.where(y_pred > epsilon, xp.ones_like(qc), xp.zeros_like(qc))


def _rkl_hess(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    if from_logits:
        q, af = _rkl_parts(xp, y_true, y_pred, axis)
        return q * (1.0 - 2.0 * q) * af + q * (1.0 - q)
    return inv_above(y_pred, epsilon, xp=xp)


REVERSE_KL_DIVERGENCE = Loss(
    name="reverse_kl_divergence",
    input_kind="probability",
    boosting=Boosting(refused=Refusal("target_distribution")),
    aliases=("reverse_kl", "reverse_kld", "exclusive_kl_divergence"),
    value=_rkl_value,
    grad=_rkl_grad,
    hess=_rkl_hess,
    prepare=_rkl_prepare,
    options={"from_logits": False, "normalized": True, "epsilon": None, "axis": -1},
    structure="distribution",
    reduced_axes=checked_axis,
    task="distribution matching",
    inputs="y_true: target probabilities; y_pred: predicted probabilities, or logits with from_logits=True",
    summary="Reverse (exclusive, mode-seeking) KL divergence KL(y_pred || y_true).",
    doc="""Reverse Kullback-Leibler divergence ``KL(q || t)`` (exclusive, mode-seeking).

    Per sample: ``l = sum_c q_c log(q_c / t_c)`` with ``0 log 0 = 0``. The target sits in
    the denominator and is floored at ``epsilon`` (``None``: e^-100 in float64, e^-40 in
    float32), so mass the prediction puts where the target has none costs
    ``q log(q / epsilon)`` instead of infinity.

    - probabilities: ``q`` is also floored at ``epsilon`` inside the logarithm (so ``q = 0``
      gives exactly 0). Gradient ``log(q / t) + 1``, Hessian ``1 / q`` for ``q > epsilon``;
      below the floor the gradient is ``log(epsilon / t)`` and the Hessian 0 (the clamp's
      derivative), so both stay finite at ``q = 0``.
    - ``from_logits=True``: ``q = softmax(x)``, exact. With ``a = log q - log t`` and
      ``F = sum q a`` (the loss): gradient ``q (a - F)``, Hessian
      ``q (1 - 2q)(a - F) + q (1 - q)``.

    Evaluated, like :func:`kl_divergence`, as non-negative Bregman terms plus an exactly
    summed ``sum (q - t)``. Options: ``from_logits=False``, ``normalized=True`` (rows must
    sum to 1; see :func:`kl_divergence`), ``epsilon=None``, ``axis=-1``.

    Peers: none ship it as a loss; ``torch.nn.functional.kl_div(log_t, q, reduction="sum")``
    with the arguments swapped (``input = log t``, ``target = q``) gives the same value, as
    does ``optax.kl_divergence(log t, q)`` and ``scipy.special.rel_entr(q, t).sum(-1)``.

    Reference: T. Minka, "Divergence measures and message passing", MSR-TR-2005-173.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.reverse_kl_divergence(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))), 12)
    0.69314718056
    """,
)


# -- generalized KL (I-divergence) between unnormalised measures -------------------------------
def _gkl_prepare(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    axis = nonempty_axis(y_pred, opts["axis"])
    log_input = check_flag(opts["log_input"], "log_input")
    eps = prob_epsilon(xp, y_pred.dtype, opts["epsilon"])
    if validate:
        check_range(y_true, 0.0, None, xp=xp, name="y_true", what="non-negative values")
        if not log_input:
            check_range(y_pred, 0.0, None, xp=xp, name="y_pred",
                        what="non-negative values (pass log_input=True for log-intensities)")
    return y_true, y_pred, {"axis": axis, "log_input": log_input, "epsilon": eps}


def _gkl_value(xp, y_true, y_pred, *, axis, log_input, epsilon):
    t = y_true
    if log_input:
        terms = bregman_kl(t, xp.exp(y_pred), log_b=y_pred, xp=xp)
    else:
        q = y_pred
        zero_t = t == 0
        # t = 0: the term is q itself (no log), kept exact and unclamped
        terms = xp.where(zero_t, q, bregman_kl(t, xp.clip(q, min=epsilon), xp=xp))
    return xp.sum(terms, axis=axis)


def _gkl_grad(xp, y_true, y_pred, *, axis, log_input, epsilon):
    t = y_true
    if log_input:
        return xp.exp(y_pred) - t
    one = xp.ones_like(y_pred)
    return xp.where(t == 0, one, xp.where(y_pred > epsilon, one, 0.0 * one) - t * inv_above(y_pred, epsilon, xp=xp))


def _gkl_hess(xp, y_true, y_pred, *, axis, log_input, epsilon):
    t = y_true
    if log_input:
        return xp.exp(y_pred) + 0.0 * t
    inv = inv_above(y_pred, epsilon, xp=xp)
    return t * inv * inv


GENERALIZED_KL_DIVERGENCE = Loss(
    name="generalized_kl_divergence",
    input_kind="prediction",
    boosting=Boosting(refused=Refusal("target_vector")),
    aliases=("generalized_kld", "i_divergence", "generalized_kullback_leibler_divergence"),
    value=_gkl_value,
    grad=_gkl_grad,
    hess=_gkl_hess,
    prepare=_gkl_prepare,
    options={"log_input": False, "epsilon": None, "axis": -1},
    structure="distribution",
    reduced_axes=checked_axis,
    task="non-negative regression / matching unnormalised measures",
    inputs="y_true: non-negative values; y_pred: non-negative values, or log-values with log_input=True",
    summary="Generalized KL (I-divergence) sum t log(t/q) - t + q between unnormalised measures.",
    doc="""Generalized Kullback-Leibler divergence (Csiszar's I-divergence).

    Per sample (over ``axis``): ``l = sum_c [t log(t / q) - t + q]``, each term ``>= 0``;
    ``t = 0`` gives ``q`` exactly. It is the Bregman divergence of ``x log x - x`` and, for
    normalised rows, equals :func:`kl_divergence`.

    - values (default): ``q`` is floored at ``epsilon`` inside the logarithm where ``t > 0``
      (``None``: e^-100 in float64, e^-40 in float32). Gradient ``1 - t / q``, Hessian
      ``t / q^2`` (below the floor: gradient ``1`` if ``t = 0`` else 0, Hessian 0).
    - ``log_input=True``: ``y_pred = log q``, no clamping; gradient ``exp(x) - t``, Hessian
      ``exp(x)``. Overflows to inf where ``exp(x)`` does (x > 709 in float64), as the value
      itself does.

    Options: ``log_input=False``, ``epsilon=None``, ``axis=-1``.

    Peers: ``optax.generalized_kl_divergence(log_predictions, targets)`` is
    ``generalized_kl_divergence(targets, log_predictions, log_input=True, reduction="none")``.
    ``torch.nn.PoissonNLLLoss`` is the same up to a term free of ``y_pred``:
    ``PoissonNLLLoss(log_input=True, full=False)(x, t)`` equals ``(exp(x) - t x)`` elementwise,
    and ``t log t - t + exp(x) - t x`` is this loss's term, so gradients agree (per element,
    ``reduction="sum"``). With ``log_input=False`` PyTorch adds its own ``eps=1e-8`` inside
    the log instead of a floor. Keras's ``Poisson`` likewise (``q - t log(q + 1e-7)``,
    averaged over the last axis).

    Reference: I. Csiszar, "Why least squares and maximum entropy?", Ann. Statist. 19 (1991).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.generalized_kl_divergence(np.array([[2.0, 0.0]]), np.array([[1.0, 3.0]]))), 10)
    3.3862943611
    """,
)


# -- Jensen-Shannon divergence ------------------------------------------------------------------
# phi(r) = (1 + r) log(1 + r) + (1 - r) log(1 - r) = sum_k r^(2k) / (k (2k - 1)), k >= 1;
# 24 terms reach double precision for |r| <= 1/2.
_JS_COEFFS = tuple(1.0 / (k * (2 * k - 1)) for k in range(1, 25))


def _js_phi(r, *, xp):
    """phi(r) for r in [-1, 1]: the series in r^2 near 0 (no cancellation), the direct form
    elsewhere, and 2 log 2 at |r| = 1 (one of the two masses is 0)."""
    one = xp.ones_like(r)
    ar = xp.abs(r)
    near = ar <= 0.5
    edge = ar >= 1.0
    rs = xp.where(near, r, 0.0 * one)
    z = rs * rs
    p = xp.zeros_like(z) + _JS_COEFFS[-1]
    for c in reversed(_JS_COEFFS[:-1]):
        p = p * z + c
    rd = xp.where(near | edge, 0.75 * one, r)
    direct = (1.0 + rd) * xp.log1p(rd) + (1.0 - rd) * xp.log1p(-rd)
    return xp.where(near, z * p, xp.where(edge, (2.0 * _LN2) * one, direct))


def _js_terms(xp, t, q):
    """Per-class JS terms ``(t + q)/4 phi((t - q)/(t + q))`` (= 1/2 t log(t/m) + 1/2 q log(q/m)
    with m = (t + q)/2, since sum(t - m) + sum(q - m) = 0 term by term)."""
    s = t + q
    pos = t > 0
    r = xp.where(pos, (t - q) / xp.where(pos, s, xp.ones_like(s)), xp.zeros_like(s))
    # t = 0: the term is q log(2) / 2, written linearly so autodiff gives log(2)/2 at q = 0 too
    return xp.where(pos, 0.25 * s * _js_phi(r, xp=xp), (0.5 * _LN2) * q)


def _js_floor(xp, t, q, epsilon):
    """Probabilities: q floored at epsilon where t > 0 (where d/dq = log(2q/(t+q))/2 would be -inf)."""
    return xp.where(t > 0, xp.clip(q, min=epsilon), q)


def _js_value(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true
    q = xp.exp(log_softmax(y_pred, axis, xp=xp)) if from_logits else _js_floor(xp, t, y_pred, epsilon)
    return xp.sum(_js_terms(xp, t, q), axis=axis)


def _js_dq(xp, t, q, lq=None):
    """(g, w): dJS/dq = log(2q/(t+q))/2 = log1p(-r)/2, and w = q^2 d2JS/dq2 = t q / (2(t+q))."""
    one = xp.ones_like(q)
    s = t + q
    pos = s > 0
    s_safe = xp.where(pos, s, one)
    r = xp.where(pos, (t - q) / s_safe, -one)
    inner = r > -1.0
    g = 0.5 * xp.log1p(-xp.where(inner & (r < 1.0), r, 0.0 * one))
    if lq is not None:  # q underflowed to 0 while t > 0: log(2q/(t+q)) from the log-probability
        g = xp.where(r < 1.0, g, 0.5 * (_LN2 + lq - xp.log(s_safe)))
    g = xp.where(inner, g, 0.5 * _LN2 * one)  # t == 0: log(2q/q)/2
    w = xp.where(pos, 0.5 * t * q / s_safe, 0.0 * one)
    return g, w


def _js_grad(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true
    if from_logits:
        lq = log_softmax(y_pred, axis, xp=xp)
        q = xp.exp(lq)
        g, w = _js_dq(xp, t, q, lq)
        return _softmax_chain(xp, q, q * g, w, axis)[0]
    q = y_pred
    g, _ = _js_dq(xp, t, _js_floor(xp, t, q, epsilon))
    return xp.where((t > 0) & (q <= epsilon), xp.zeros_like(g), g)


def _js_hess(xp, y_true, y_pred, *, axis, from_logits, epsilon):
    t = y_true
    if from_logits:
        lq = log_softmax(y_pred, axis, xp=xp)
        q = xp.exp(lq)
        g, w = _js_dq(xp, t, q, lq)
        return _softmax_chain(xp, q, q * g, w, axis)[1]
    q = y_pred
    ok = q > epsilon
    q_s = xp.where(ok, q, xp.ones_like(q))
    return xp.where(ok, 0.5 * t / (q_s * (t + q_s)), xp.zeros_like(q))


JENSEN_SHANNON = Loss(
    name="jensen_shannon_divergence",
    input_kind="probability",
    boosting=Boosting(refused=Refusal("target_distribution")),
    aliases=("jensen_shannon", "js_divergence", "jsd"),
    value=_js_value,
    grad=_js_grad,
    hess=_js_hess,
    prepare=_target_pred_prepare,
    options={"from_logits": False, "normalized": True, "epsilon": None, "axis": -1},
    structure="distribution",
    reduced_axes=checked_axis,
    task="distribution matching",
    inputs="y_true: target probabilities; y_pred: predicted probabilities, or logits with from_logits=True",
    summary="Jensen-Shannon divergence: symmetric, bounded by log 2, finite for disjoint supports.",
    doc="""Jensen-Shannon divergence ``JS(t, q) = KL(t || m)/2 + KL(q || m)/2``, ``m = (t + q)/2``.

    Symmetric, in ``[0, log 2]`` (natural log; divide by ``log 2`` for bits), finite even
    where one distribution is 0 and the other is not. Per class it is evaluated as
    ``(t + q)/4 phi(r)`` with ``r = (t - q)/(t + q)`` and
    ``phi(r) = (1 + r) log(1 + r) + (1 - r) log(1 - r)`` (a series in ``r^2`` near 0), so
    nearly equal distributions keep full relative accuracy and ``0 log 0 = 0`` exactly.

    Derivative w.r.t. ``q`` (the dependence of ``m`` included): ``dJS/dq = log(2q/(t+q))/2``,
    ``d2JS/dq2 = t / (2 q (t + q))``.

    - probabilities: ``q`` is floored at ``epsilon`` where ``t > 0`` (``None``: e^-100 in
      float64, e^-40 in float32), where the derivative ``log(2q/(t+q))/2`` is otherwise
      -inf at ``q = 0``; below the floor gradient and Hessian are 0. Where ``t = 0`` the
      term is ``q log(2)/2`` with gradient ``log(2)/2``.
    - ``from_logits=True``: ``q = softmax(x)``, no clamp; with ``g = dJS/dq``,
      ``w = q^2 d2JS/dq2``, ``G = sum q g``, ``W = sum w``: gradient ``gamma = q (g - G)``,
      Hessian ``(1 - 2q)(gamma + w) + q^2 W``.

    Options: ``from_logits=False``, ``normalized=True`` (rows must sum to 1; see
    :func:`kl_divergence`), ``epsilon=None``, ``axis=-1``.

    Peers: ``scipy.spatial.distance.jensenshannon(t, q, axis=-1) ** 2`` (scipy returns the
    square root, the JS distance, and renormalises its inputs); no deep-learning framework
    ships it as a loss.

    Reference: J. Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf.
    Theory 37 (1991) 145-151.

    >>> import numpy as np, losskit as lk
    >>> bool(lk.jensen_shannon(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == np.log(2))
    True
    """,
)

LOSSES = (
    KL_DIVERGENCE,
    REVERSE_KL_DIVERGENCE,
    GENERALIZED_KL_DIVERGENCE,
    JENSEN_SHANNON,
)
