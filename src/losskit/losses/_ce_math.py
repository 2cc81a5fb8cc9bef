"""Cross-entropy arithmetic on a class axis: log-probabilities of logit or probability rows, the
dense cross-entropy kernels, and the chain rules through the softmax and the renormalisation.

The kernels take a dense target row ``t`` whose sum ``S = sum_c t_c`` need not be 1 (label
smoothing, class weights); conventions in :mod:`losskit.losses.categorical`.
"""

from __future__ import annotations

from .._array.stable import (
    inv_above,
    log_softmax,
    max_and_log1p_rest,
    neg_log_softmax_dot,
    softmax_xent_grad,
    softmax_xent_value_grad,
)

__all__ = [
    "log_probs", "probs", "nan_of_rows", "safe_inv", "clamped_log", "prob_chain", "softmax_chain", "ce_terms",
    "ce_dense_value", "ce_dense_grad", "ce_dense_grad_hess", "ce_dense_value_grad",
]


def log_probs(xp, y_pred, axis, x=None):
    """log softmax(y_pred) along ``axis``, evaluated at ``x`` (y_pred itself, or a gathered slice)."""
    m, l1p = max_and_log1p_rest(y_pred, axis, xp=xp)
    return ((y_pred if x is None else x) - m) - l1p


def _row_sum(xp, y_pred, axis):
    s = xp.sum(y_pred, axis=axis, keepdims=True)
    return xp.where(s <= 0, xp.ones_like(s), s)  # 1 for an all-zero row; a NaN sum stays NaN


def probs(xp, y_pred, axis, renormalize, x=None):
    """Probabilities (divided by the row sum when ``renormalize``), at ``x`` or everywhere."""
    x = y_pred if x is None else x
    if not renormalize:
        return x
    return x / _row_sum(xp, y_pred, axis)


def nan_of_rows(xp, x, y_pred, axis):
    """``x``, entries gathered from ``y_pred``'s rows (class axis kept), NaN where the row holds a
    NaN: a value that reads ``p_y`` alone must still show a diverged prediction elsewhere in its
    row, as the peers' row sums and one-hot products do. For unchecked inputs (one row sum);
    infinities are kept."""
    s = xp.sum(y_pred, axis=axis, keepdims=True)
    return xp.where(s == s, x, s)


def safe_inv(xp, x, ok):
    """``1 / x`` where ``ok``, else 0 (the division never sees the excluded entries)."""
    one = xp.ones_like(x)
    return xp.where(ok, 1.0 / xp.where(ok, x, one), 0.0 * one)


def clamped_log(xp, q, eps):
    return xp.log(xp.clip(q, min=eps))


def prob_chain(xp, a, b, y_pred, axis, renormalize):
    """Gradient and Hessian diagonal w.r.t. y_pred of ``sum_c phi_c(q_c)`` given
    ``a = phi'(q)`` and ``b = phi''(q)``; ``q = y_pred`` or ``y_pred / sum(y_pred)``. ``b``
    None: the gradient alone (the Hessian None).

    With q = p / s: g_j = (a_j - A) / s and H_jj = (b_j (1 - 2 q_j) - 2 a_j + B + 2 A) / s^2,
    A = sum_c a_c q_c, B = sum_c b_c q_c^2.
    """
    if not renormalize:
        return a, b
    s = _row_sum(xp, y_pred, axis)
    q = y_pred / s
    big_a = xp.sum(a * q, axis=axis, keepdims=True)
    g = (a - big_a) / s
    if b is None:
        return g, None
    big_b = xp.sum(b * q * q, axis=axis, keepdims=True)
    h = (b * (1.0 - 2.0 * q) - 2.0 * a + big_b + 2.0 * big_a) / (s * s)
    return g, h


def softmax_chain(xp, phi1p, phi2p2, logp, axis):
    """Gradient and Hessian diagonal w.r.t. logits x of ``sum_c phi_c(p_c)``, p = softmax(x),
    given ``phi1p = phi'(p) p`` and ``phi2p2 = phi''(p) p^2`` (each bounded; None: the gradient
    alone, the Hessian None).

    g_j = r_j u_j - p_j (R - r_j) (= r_j - p_j R with r = phi' p, R = sum r, u = 1 - p)
    H_jj = (1 - 2 p_j) (phi''_j p_j^2 + g_j) + p_j^2 B,  B = sum_c phi''_c p_c^2.
    """
    p = xp.exp(logp)
    u = -xp.expm1(logp)
    big_r = xp.sum(phi1p, axis=axis, keepdims=True)
    g = phi1p * u - p * (big_r - phi1p)
    if phi2p2 is None:  # the gradient alone
        return g, None
    big_b = xp.sum(phi2p2, axis=axis, keepdims=True)
    h = (1.0 - 2.0 * p) * (phi2p2 + g) + p * p * big_b
    return g, h


# ---------------------------------------------------------------------------------------
# cross-entropy kernels on a dense target t (sum S = sum_c t_c need not be 1)
# ---------------------------------------------------------------------------------------


def ce_terms(xp, y_pred, axis, from_logits, renormalize, epsilon, x=None):
    """-log q_c (non-negative) for every class, or at the gathered ``x``."""
    if from_logits:
        return -log_probs(xp, y_pred, axis, x)
    return -clamped_log(xp, probs(xp, y_pred, axis, renormalize, x), epsilon)


def ce_dense_value(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    if from_logits:  # sum t * ce_terms(...), with a lean torch form
        return neg_log_softmax_dot(t, y_pred, axis, xp=xp)
    # -sum t log q: the sign flips once per row, not per element (exact either way; 0 - x gives +0)
    return 0.0 - xp.sum(t * clamped_log(xp, probs(xp, y_pred, axis, renormalize), epsilon), axis=axis)


def ce_dense_grad_hess(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    if from_logits:
        logp = log_softmax(y_pred, axis, xp=xp)
        p, u = xp.exp(logp), -xp.expm1(logp)
        s = xp.sum(t, axis=axis, keepdims=True)
        return (s - t) * p - t * u, s * p * u
    q = probs(xp, y_pred, axis, renormalize)
    inv = inv_above(q, epsilon, xp=xp)
    return prob_chain(xp, -t * inv, t * inv * inv, y_pred, axis, renormalize)


def ce_dense_grad(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    """The gradient of :func:`ce_dense_grad_hess` alone (the same expressions, no Hessian)."""
    if from_logits:
        return softmax_xent_grad(t, y_pred, axis, xp=xp)
    a = -t * inv_above(probs(xp, y_pred, axis, renormalize), epsilon, xp=xp)
    return prob_chain(xp, a, None, y_pred, axis, renormalize)[0]


def ce_dense_value_grad(xp, t, y_pred, *, axis, from_logits, renormalize, epsilon):
    """``(ce_dense_value, ce_dense_grad)`` from one shifted exponential for logits on untracked
    torch; None otherwise (the two kernels then run)."""
    if not from_logits:
        return None
    pair = softmax_xent_value_grad(t, y_pred, axis, xp=xp)
    return None if pair is None else (xp.squeeze(pair[0], axis=axis), pair[1])
