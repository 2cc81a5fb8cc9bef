"""The activations of segmentation logits (sigmoid, softmax, tanh): probabilities, their accurate
complements, first two derivatives, and the chain rule back to the logits.
"""

from __future__ import annotations

from ..._array.stable import sigmoid, sigmoid_slope, softmax, softmax_pair

__all__ = ["activate", "complement", "probs", "chain", "project", "softmax_activated"]


def softmax_activated(opts):
    """A softmax activation: torch's fused softmax beats the NumPy kernels' exact one on small
    tensors (the record trait ``stays_on_torch``)."""
    return opts.get("activation") == "softmax"


def activate(xp, x, activation, class_axis, derivs=False):
    """``(q, q', q'')`` for elementwise activations; for the softmax ``(q, None, None)``
    (its Jacobian couples the classes and is applied by the callers)."""
    if activation is None:
        return x, None, None
    if activation == "softmax":
        return softmax(x, axis=class_axis, xp=xp), None, None
    if activation == "sigmoid":
        q = sigmoid(x, xp=xp)
        if not derivs:
            return q, None, None
        d1 = sigmoid_slope(x, xp=xp)
        return q, d1, d1 * (1.0 - 2.0 * q)
    q = xp.tanh(x)
    if not derivs:
        return q, None, None
    e = xp.exp(-2.0 * xp.abs(x))
    d1 = 4.0 * e / ((1.0 + e) * (1.0 + e))  # 1 - tanh^2 without cancellation
    return q, d1, -2.0 * q * d1


def complement(xp, x, q, activation, class_axis):
    """1 - q to full relative accuracy: sigmoid(-x), 2 sigmoid(-2x) for tanh, the sum of the other
    classes' probabilities for the softmax (``1 - q`` would lose every digit of a confident
    prediction)."""
    if activation is None:
        return 1.0 - q  # exact for q >= 1/2 (Sterbenz)
    if activation == "sigmoid":
        return sigmoid(-x, xp=xp)
    if activation == "tanh":
        return 2.0 * sigmoid(-2.0 * x, xp=xp)
    return softmax_pair(x, axis=class_axis, xp=xp)[1]


def probs(xp, x, activation, class_axis):
    """``(q, 1 - q)`` for the value paths (one exponential for both)."""
    if activation == "softmax":
        return softmax_pair(x, axis=class_axis, xp=xp)
    q = activate(xp, x, activation, class_axis)[0]
    return q, complement(xp, x, q, activation, class_axis)


def chain(xp, q, dq, d2q, G, hq_diag, activation, class_axis, extra=None):
    """Gradient and Hessian diagonal with respect to the logits.

    ``G``: d(weighted sum of values)/dq per element; ``hq_diag``: the part of the q-Hessian
    that is diagonal per element (already weighted by the cotangent). For the softmax,
    ``extra`` is the contribution of the off-diagonal q-Hessian within a pixel, when the
    classes of a pixel share one sample.
    """
    if activation is None:
        return G, hq_diag
    if activation != "softmax":
        h = G * d2q
        return G * dq, h if hq_diag is None else h + hq_diag * dq * dq
    gx = project(xp, q, G, class_axis)
    # sum_j G_j d^2 q_j / dx_i^2 = (1 - 2 q_i) * gx_i for the softmax
    h = (1.0 - 2.0 * q) * gx
    if hq_diag is not None:
        c = hq_diag
        v = q * (1.0 - q)
        h = h + c * v * v + q * q * (xp.sum(c * q * q, axis=class_axis, keepdims=True) - c * q * q)
    if extra is not None:
        h = h + extra
    return gx, h


def project(xp, q, v, axis):
    """The softmax Jacobian applied to ``v`` along the class axis: ``q (v - sum(q v))``, written
    ``q ((v - w) + sum(q (w - v)))`` with ``w`` the ``v`` of the row's largest ``q`` (their mean at
    ties). Both are equal for any ``w`` (``sum(q) = 1``); this one has no cancellation at a
    confident class, where ``v - sum(q v)`` is a difference of nearly equal terms (the gradient
    of a nearly perfect score at its true class: 1e-13 with every digit, not 3)."""
    v = xp.broadcast_to(v, q.shape)
    top = xp.astype(q == xp.max(q, axis=axis, keepdims=True), q.dtype)
    w = xp.sum(top * v, axis=axis, keepdims=True) / xp.sum(top, axis=axis, keepdims=True)
    return q * ((v - w) + xp.sum(q * (w - v), axis=axis, keepdims=True))
