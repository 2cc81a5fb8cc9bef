"""Regression losses of a point prediction: elementwise functions of the error ``y_pred - y_true``,
on the plain scale (MSE, MAE, Huber, smooth L1, log-cosh, pseudo-Huber), the logarithmic
scale (MSLE) or relative to the target (MAPE).

Losses of the residual alone (MAE, Huber, smooth L1, log-cosh, pseudo-Huber) accept
``y_true=None`` as targets of zeros, as optax's ``targets=None``.
"""

from __future__ import annotations

import math

from .._array.lean import torch_untracked, torch_untracked_pair
from .._array.stable import sign, softplus
from .._array.validate import check_flag, check_number
from ..spec import Boosting, Loss, Refusal
from ._common import check_lower_bound, float_pair


def _prepare_plain(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    return y_true, y_pred, opts


def _residual_pair(xp, y_true, y_pred, validate):
    """``float_pair`` where ``y_true=None`` means targets of zeros (optax's ``targets=None``)."""
    if y_true is None:
        y_true = xp.zeros_like(y_pred)
    return float_pair(xp, y_true, y_pred, validate)


def _prepare_residual(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = _residual_pair(xp, y_true, y_pred, validate)
    return y_true, y_pred, opts


def _abs(d, *, xp):
    """|d| written as d * sign(d): autodiff then gives sign(d), i.e. the subgradient 0 at 0,
    under both torch and jax (jax differentiates ``abs`` at 0 as 1, torch as 0). Untracked torch
    (no autodiff): ``abs`` itself, in place (every caller passes a fresh residual)."""
    if torch_untracked(d) is not None:
        return d.abs_()
    return d * sign(d, xp=xp)



# -- mean squared error ----------------------------------------------------------------
# torch, untracked (the closed-form route): the residual's fresh buffer is squared or doubled in
# place, the same bits with one full-size array instead of two (native mse_loss makes one).
def _mse_value(xp, y_true, y_pred):
    d = y_pred - y_true
    if torch_untracked_pair(y_true, y_pred) is not None:
        return d.mul_(d)
    return d * d


def _mse_grad(xp, y_true, y_pred):
    if torch_untracked_pair(y_true, y_pred) is not None:
        return (y_pred - y_true).mul_(2.0)
    return 2.0 * (y_pred - y_true)


def _mse_hess(xp, y_true, y_pred):
    return xp.full_like(y_pred, 2.0)


MEAN_SQUARED_ERROR = Loss(
    name="mean_squared_error",
    input_kind="prediction",
    boosting=Boosting(start="mean"),
    fused="mean_squared_error",
    fused_at_scale=True,
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

# -- mean absolute error ---------------------------------------------------------------
def _mae_value(xp, y_true, y_pred):
    return _abs(y_pred - y_true, xp=xp)


def _mae_grad(xp, y_true, y_pred):
    return sign(y_pred - y_true, xp=xp)


def _mae_hess(xp, y_true, y_pred):
    return xp.zeros_like(y_pred)


MEAN_ABSOLUTE_ERROR = Loss(
    name="mean_absolute_error",
    input_kind="prediction",
    boosting=Boosting(
        refused=Refusal(
            "piecewise_linear",
            "use huber, pseudo_huber or log_cosh, or the built-in reg:absoluteerror (XGBoost) / objective='l1' "
            "(LightGBM), which line-search the leaf values",
        ),
    ),
    aliases=("mae", "l1", "absolute_error", "l1_loss"),
    value=_mae_value,
    grad=_mae_grad,
    hess=_mae_hess,
    prepare=_prepare_residual,
    options={},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets (None: zeros); y_pred: real predictions of the same shape",
    summary="Mean of absolute residuals (L1); robust to outliers, estimates the median.",
    doc="""Mean absolute error (L1 loss).

    Per element ``l = |y_pred - y_true|``; gradient ``sign(y_pred - y_true)``; Hessian ``0``.

    At a zero residual the subgradient is ``0`` (``sign(0) = 0``), and the value is written
    so that ``torch.autograd`` and ``jax.grad`` of it give that same 0 (``jax.grad(jnp.abs)``
    alone gives 1 at 0). XGBoost's ``reg:absoluteerror`` and LightGBM's ``l1`` use the same sign.
    ``y_true=None`` means targets of zeros.

    Peers (no options needed): ``torch.nn.functional.l1_loss``, ``keras.losses.MeanAbsoluteError``
    (mean over the last axis, then ``reduction="sum_over_batch_size"``),
    ``sklearn.metrics.mean_absolute_error``.

    Reference: Laplace (1774); Hastie, Tibshirani & Friedman, *Elements of Statistical
    Learning*, 2nd ed., sec. 10.6.

    >>> import numpy as np, losskit as lk
    >>> float(lk.mean_absolute_error(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 1.0])))
    0.8333333333333334
    """,
)


# -- Huber -----------------------------------------------------------------------------
def _prepare_huber(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = _residual_pair(xp, y_true, y_pred, validate)
    delta = float(check_number(opts["delta"], name="delta", lo=0.0, lo_open=True))
    return y_true, y_pred, {"delta": delta}


# Huber and smooth L1 from the residual clipped to the quadratic zone, c = clip(d, -delta, delta):
# the value c (d - c/2) is d^2/2 inside and delta (|d| - delta/2) outside, the same roundings as
# each piece on its own (so the same bits), a huge residual is never squared, NaN stays NaN, and
# c is the gradient. No ``where``: torch's is a scalar loop on CPU (~10x an arithmetic pass), and
# autodiff of the clip is exact to second order (the value is C1 at the kinks).
def _huber_value(xp, y_true, y_pred, *, delta):
    return _clip_pair(xp, y_true, y_pred, 1.0, delta)[0]


def _huber_grad(xp, y_true, y_pred, *, delta):
    return xp.clip(y_pred - y_true, min=-delta, max=delta)


def _huber_value_grad(xp, y_true, y_pred, *, delta):
    """Values and gradient from one residual on an untracked torch pair (two fresh arrays)."""
    return _clip_pair(xp, y_true, y_pred, 1.0, delta) if torch_untracked_pair(y_true, y_pred) is not None else None


def _clip_pair(xp, y_true, y_pred, scale, bound):
    """``((c / scale) (d - c/2), c / scale)`` with ``c = clip(d, -bound, bound)``: Huber's values and
    gradient for ``scale = 1``, smooth L1's for ``scale = bound = beta`` (``c / beta`` is ``d / beta``
    inside and exactly +-1 outside, so the value there is ``|d| - beta/2``). On an untracked torch
    pair in place, in the residual's and the clip's buffers."""
    d = y_pred - y_true
    c = xp.clip(d, min=-bound, max=bound)
    if torch_untracked_pair(y_true, y_pred) is None:
        g = c / scale if scale != 1.0 else c
        return g * (d - 0.5 * c), g
    d.sub_(c, alpha=0.5)
    g = c.div_(scale) if scale != 1.0 else c
    return d.mul_(g), g


def _huber_hess(xp, y_true, y_pred, *, delta):
    d = y_pred - y_true
    return xp.astype(xp.abs(d) <= delta, d.dtype)


HUBER = Loss(
    name="huber",
    input_kind="prediction",
    aliases=("huber_loss",),
    value=_huber_value,
    grad=_huber_grad,
    value_grad=_huber_value_grad,
    hess=_huber_hess,
    prepare=_prepare_huber,
    options={"delta": 1.0},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets (None: zeros); y_pred: real predictions of the same shape",
    summary="Quadratic for small residuals, linear beyond delta (robust regression).",
    doc="""Huber loss.

    Per element, with ``d = y_pred - y_true``::

        l = 0.5 d^2                    if |d| <= delta
            delta (|d| - 0.5 delta)    otherwise

    Gradient ``clip(d, -delta, delta)``; Hessian ``1`` for ``|d| <= delta`` and ``0`` beyond.
    The Hessian jumps at ``|d| = delta``; there it is 1 (the quadratic side), which is what
    autodiff of the value (a ``where`` on ``|d| <= delta``) gives. Option ``delta=1.0``
    (> 0). ``y_true=None`` means targets of zeros.

    Peers, all with the same formula: ``keras.losses.Huber(delta=...)`` (mean over the last
    axis, then ``reduction="sum_over_batch_size"``), ``torch.nn.functional.huber_loss(delta=...)``,
    ``optax.huber_loss(predictions, targets, delta)`` (``reduction="none"``). PyTorch's
    ``smooth_l1_loss`` is ``huber / beta``: see :func:`smooth_l1`.

    Reference: P. J. Huber, "Robust Estimation of a Location Parameter", Ann. Math.
    Statist. 35 (1964).

    >>> import numpy as np, losskit as lk
    >>> lk.huber(np.zeros(3), np.array([0.5, -2.0, 3.0]), reduction="none").tolist()
    [0.125, 1.5, 2.5]
    """,
)


# -- smooth L1 (PyTorch) ---------------------------------------------------------------
def _prepare_smooth_l1(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = _residual_pair(xp, y_true, y_pred, validate)
    beta = float(check_number(opts["beta"], name="beta", lo=0.0))
    return y_true, y_pred, {"beta": beta}


def _smooth_l1_value(xp, y_true, y_pred, *, beta):
    if beta == 0.0:
        return _abs(y_pred - y_true, xp=xp)
    return _clip_pair(xp, y_true, y_pred, beta, beta)[0]


def _smooth_l1_grad(xp, y_true, y_pred, *, beta):
    d = y_pred - y_true
    if beta == 0.0:
        return sign(d, xp=xp)
    return xp.clip(d, min=-beta, max=beta) / beta


def _smooth_l1_value_grad(xp, y_true, y_pred, *, beta):
    """Values and gradient from one residual on an untracked torch pair (``beta > 0``)."""
    if beta == 0.0 or torch_untracked_pair(y_true, y_pred) is None:
        return None
    return _clip_pair(xp, y_true, y_pred, beta, beta)


def _smooth_l1_hess(xp, y_true, y_pred, *, beta):
    d = y_pred - y_true
    if beta == 0.0:
        return xp.zeros_like(d)
    return xp.astype(xp.abs(d) < beta, d.dtype) / beta


SMOOTH_L1 = Loss(
    name="smooth_l1",
    input_kind="prediction",
    aliases=("smooth_l1_loss",),
    value=_smooth_l1_value,
    grad=_smooth_l1_grad,
    value_grad=_smooth_l1_value_grad,
    hess=_smooth_l1_hess,
    prepare=_prepare_smooth_l1,
    options={"beta": 1.0},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets (None: zeros); y_pred: real predictions of the same shape",
    summary="PyTorch's SmoothL1Loss: Huber divided by beta, so the linear part has slope 1.",
    doc="""Smooth L1 loss (PyTorch's ``SmoothL1Loss``).

    Per element, with ``d = y_pred - y_true``::

        l = 0.5 d^2 / beta     if |d| < beta
            |d| - 0.5 beta     otherwise

    Gradient ``d / beta`` inside, ``sign(d)`` outside; Hessian ``1 / beta`` inside, ``0``
    outside. At ``|d| = beta`` the linear side is taken (Hessian 0), as PyTorch's strict
    ``<`` and autodiff of the value's ``where`` do. ``beta=0`` is exactly the L1 loss
    (subgradient 0 at ``d = 0``, as :func:`mean_absolute_error`). Option ``beta=1.0`` (>= 0).
    ``smooth_l1(beta=b) = huber(delta=b) / b``. ``y_true=None`` means targets of zeros.

    Peers: ``torch.nn.functional.smooth_l1_loss(beta=...)`` (same name and default).

    Reference: R. Girshick, "Fast R-CNN", ICCV 2015 (eq. 3).

    >>> import numpy as np, losskit as lk
    >>> lk.smooth_l1(np.zeros(3), np.array([0.5, -2.0, 3.0]), beta=2.0, reduction="none").tolist()
    [0.0625, 1.0, 2.0]
    """,
)


# -- log-cosh --------------------------------------------------------------------------
_LOG2 = math.log(2.0)


# log cosh d as log cosh c + (log cosh |d| - log cosh 1) with c = clip(d, -1, 1): for t = |d| - 1 > 0
# the second part is t + log1p(K expm1(-2t)), K = 1/(e^2 + 1) (from |d| + log1p(e^-2|d|) - log 2),
# exactly 0 for |d| <= 1; every piece bounded (no overflow, inf stays inf, NaN NaN). The untracked
# torch form (the closed-form route), in place and without a ``where`` (a scalar loop on CPU).
_LOG_COSH_K = 1.0 / (math.exp(2.0) + 1.0)


def _log_cosh_torch(y_true, y_pred):
    d = y_pred - y_true
    s = d.clamp(-1.0, 1.0).mul_(0.5).sinh_()
    near = s.mul_(s).mul_(2.0).log1p_()  # log cosh c = log1p(2 sinh(c/2)^2)
    t = d.abs_().clamp_min_(1.0).sub_(1.0)
    return near.add_(t).add_(t.mul(-2.0).expm1_().mul_(_LOG_COSH_K).log1p_())


def _log_cosh_value(xp, y_true, y_pred):
    if torch_untracked_pair(y_true, y_pred) is not None:
        return _log_cosh_torch(y_true, y_pred)
    d = y_pred - y_true
    a = xp.abs(d)
    small = a < 1.0
    # |d| < 1: log1p(cosh d - 1) with cosh d - 1 = 2 sinh(d/2)^2 (no cancellation near 0,
    # where log cosh d ~ d^2/2); elsewhere |d| + log1p(e^-2|d|) - log 2 (no overflow).
    ds = xp.where(small, d, xp.zeros_like(d))
    s = xp.sinh(0.5 * ds)
    near = xp.log1p(2.0 * s * s)
    far = a + softplus(-2.0 * a, xp=xp) - _LOG2
    return xp.where(small, near, far)


def _log_cosh_grad(xp, y_true, y_pred):
    if torch_untracked_pair(y_true, y_pred) is not None:
        return (y_pred - y_true).tanh_()
    return xp.tanh(y_pred - y_true)


def _log_cosh_hess(xp, y_true, y_pred):
    # 1 - tanh^2 d = 4 e / (1 + e)^2 with e = e^-2|d|: accurate (not 0) in the tails.
    e = xp.exp(-2.0 * xp.abs(y_pred - y_true))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


LOG_COSH = Loss(
    name="log_cosh",
    input_kind="prediction",
    aliases=("logcosh",),
    value=_log_cosh_value,
    grad=_log_cosh_grad,
    hess=_log_cosh_hess,
    prepare=_prepare_residual,
    options={},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets (None: zeros); y_pred: real predictions of the same shape",
    summary="log(cosh(residual)): quadratic near 0, linear in the tails, twice differentiable.",
    doc="""Log-cosh loss.

    Per element ``l = log(cosh(d))`` with ``d = y_pred - y_true``; gradient ``tanh(d)``;
    Hessian ``1 - tanh(d)^2 = sech(d)^2``, evaluated as ``4 e / (1 + e)^2`` with
    ``e = exp(-2|d|)`` so it stays accurate in the tails. The value is computed as
    ``log1p(2 sinh(d/2)^2)`` for ``|d| < 1`` (full relative accuracy for tiny ``d``, where
    ``log cosh d ~ d^2/2``) and as ``|d| + softplus(-2|d|) - log 2`` otherwise (finite for
    every finite ``d``; ``cosh`` itself overflows beyond ``|d| ~ 710``).
    ``y_true=None`` means targets of zeros (optax's ``targets=None``).

    Peers (no options needed): ``keras.losses.LogCosh`` (mean over the last axis, then
    ``reduction="sum_over_batch_size"``), ``optax.log_cosh(predictions, targets=None)``
    (``reduction="none"``).

    Reference: P. Chen, G. Chen, S. Zhang, "Log Hyperbolic Cosine Loss Improves Variational
    Auto-Encoder", 2019; optax ``log_cosh``.

    >>> import numpy as np, losskit as lk
    >>> v = lk.log_cosh(None, np.array([0.0, 1e-10, 800.0]), reduction="none")  # y_true=None: zeros
    >>> [float(v[0]), float(v[1] / 5e-21), float(v[2] - (800 - np.log(2)))]  # ~d^2/2 near 0, |d| - log 2 far out
    [0.0, 1.0000000000000002, 0.0]
    """,
)


# -- pseudo-Huber ----------------------------------------------------------------------
def _sqrt1p_sq(r, *, xp):
    """sqrt(1 + r^2) as ``hypot(r, 1)``: no overflow, within an ulp, no ``where`` (torch's is a
    scalar loop on CPU) and exact derivatives (``r / hypot``) under autodiff."""
    return xp.hypot(r, xp.ones_like(r))


def _pseudo_huber_value(xp, y_true, y_pred, *, delta):
    d = y_pred - y_true
    h = _sqrt1p_sq(d / delta, xp=xp)
    # delta^2 (h - 1) = d^2 / (h + 1): no cancellation for small d, and d / (h + 1) < delta
    # keeps the product from overflowing for huge d.
    return d * (d / (h + 1.0))


def _pseudo_huber_grad(xp, y_true, y_pred, *, delta):
    d = y_pred - y_true
    return d / _sqrt1p_sq(d / delta, xp=xp)


def _pseudo_huber_hess(xp, y_true, y_pred, *, delta):
    inv = 1.0 / _sqrt1p_sq((y_pred - y_true) / delta, xp=xp)
    return inv * inv * inv


PSEUDO_HUBER = Loss(
    name="pseudo_huber",
    input_kind="prediction",
    aliases=("pseudo_huber_loss", "charbonnier"),
    value=_pseudo_huber_value,
    grad=_pseudo_huber_grad,
    hess=_pseudo_huber_hess,
    prepare=_prepare_huber,
    options={"delta": 1.0},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets (None: zeros); y_pred: real predictions of the same shape",
    summary="Smooth Huber: delta^2 (sqrt(1 + (d/delta)^2) - 1), twice differentiable.",
    doc="""Pseudo-Huber loss.

    Per element, with ``d = y_pred - y_true`` and ``h = sqrt(1 + (d/delta)^2)``::

        l = delta^2 (h - 1)  (computed as d^2 / (h + 1))

    Gradient ``d / h``; Hessian ``1 / h^3``. Quadratic (``d^2/2``) for small ``d``, linear
    with slope ``delta`` for large ``d``; smooth everywhere. The value is written without
    the cancellation of ``h - 1`` (tiny ``d`` keeps full relative accuracy) and without
    overflow of ``(d/delta)^2`` for huge ``d``. Option ``delta=1.0`` (> 0). ``y_true=None``
    means targets of zeros.

    Peers: XGBoost's ``reg:pseudohubererror`` (``huber_slope`` = ``delta``) uses this
    formula; Keras, PyTorch and optax have no pseudo-Huber loss.

    Reference: P. Charbonnier et al., "Two deterministic half-quadratic regularization
    algorithms for computed imaging", ICIP 1994; Hartley & Zisserman, *Multiple View
    Geometry*, 2nd ed., A6.8.

    >>> import numpy as np, losskit as lk
    >>> lk.pseudo_huber(np.zeros(3), np.array([0.0, 1e-9, 3.0]), delta=4.0, reduction="none").tolist()
    [0.0, 5e-19, 4.0]
    """,
)


# -- mean squared logarithmic error --------------------------------------------------------
def _prepare_msle(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    eps = opts["epsilon"]
    if eps is None:
        if validate:
            what = "values > -1 (log1p is undefined at and below -1; pass epsilon=1e-7 for Keras's clipping)"
            check_lower_bound(y_true, -1.0, xp=xp, name="y_true", what=what, strict=True)
            check_lower_bound(y_pred, -1.0, xp=xp, name="y_pred", what=what, strict=True)
    else:
        eps = float(check_number(eps, name="epsilon", lo=0.0))
        y_true = xp.where(y_true > eps, y_true, xp.zeros_like(y_true) + eps)
    return y_true, y_pred, {"epsilon": eps}


def _log1p_diff(p, y, *, xp):
    """log1p(p) - log1p(y) for p, y > -1 without cancellation.

    Close together (|p - y| <= (1 + y)/2; p - y is then exact by Sterbenz) it is
    log1p((p - y) / (1 + y)). Otherwise it is log((1 + p) / (1 + y)), of magnitude >= log 1.5,
    so rounding the ratio costs a few ulp; and where that ratio would overflow or underflow,
    the plain difference of logs, accurate there because the result is so large. No
    intermediate overflows (no warnings from NumPy)."""
    one = xp.ones_like(p)
    a, b = 1.0 + p, 1.0 + y
    diff = p - y
    near = xp.abs(diff) <= 0.5 * b
    close = xp.log1p(xp.where(near, diff, xp.zeros_like(diff)) / b)
    la, lb = xp.log(a), xp.log(b)
    in_range = xp.abs(la - lb) < math.log(float(xp.finfo(p.dtype).max)) - 1.0
    ratio = xp.where(in_range, a, one) / xp.where(in_range, b, one)
    far = xp.where(in_range, xp.log(ratio), la - lb)
    return xp.where(near, close, far)


def _log1p_diff_torch(torch, p, y):
    """:func:`_log1p_diff` on an untracked torch pair without a ``where`` (a scalar loop on CPU):
    each form on bounded inputs (the close one's ratio clamped to +-1/2, the far one's log clamped
    to +-log(max), which only an overflowed or underflowed ratio reaches), then exact blends
    (``lerp`` with weight 0 or 1 returns an end point) by float masks. The close/far switch is
    ``|(p - y) / (1 + y)| <= 1/2``: the rounded ratio, where the reference compares ``|p - y|``
    with ``(1 + y) / 2``; both forms are accurate at the switch."""
    big = math.log(torch.finfo(p.dtype).max)
    b = y + 1.0
    close = (p - y).div_(b)
    near = close.abs().le_(0.5)  # 1.0 / 0.0 in p's dtype
    close.clamp_(-0.5, 0.5).log1p_()
    a = p + 1.0
    far = torch.div(a, b).log_().clamp_(-big, big)
    ok = far.abs().lt_(big - 1.0)  # the ratio in range: else log a - log b, accurate when so large
    return a.log_().sub_(b.log_()).lerp_(far, ok).lerp_(close, near)


def _msle_parts(xp, y_true, y_pred, epsilon):
    """(log1p(p') - log1p(y), 1 / (1 + p'), d p'/d p) with p' = y_pred floored at epsilon."""
    if epsilon is None:
        p, dp = y_pred, 1.0
    else:  # clip keeps NaN NaN, as Keras's maximum does
        p, dp = xp.clip(y_pred, min=epsilon), xp.astype(y_pred > epsilon, y_pred.dtype)
    torch = torch_untracked_pair(y_true, p)
    r = _log1p_diff(p, y_true, xp=xp) if torch is None else _log1p_diff_torch(torch, p, y_true)
    return r, 1.0 / (1.0 + p), dp


def _msle_value(xp, y_true, y_pred, *, epsilon):
    r, _, _ = _msle_parts(xp, y_true, y_pred, epsilon)
    return r * r


def _msle_grad(xp, y_true, y_pred, *, epsilon):
    r, inv, dp = _msle_parts(xp, y_true, y_pred, epsilon)
    return 2.0 * r * inv * dp


def _msle_value_grad(xp, y_true, y_pred, *, epsilon):
    """Values and gradient from one ``r`` on an untracked torch pair."""
    if torch_untracked_pair(y_true, y_pred) is None:
        return None
    r, inv, dp = _msle_parts(xp, y_true, y_pred, epsilon)
    value = r * r
    g = r.mul_(inv).mul_(2.0)
    return value, (g if epsilon is None else g.mul_(dp))


def _msle_hess(xp, y_true, y_pred, *, epsilon):
    r, inv, dp = _msle_parts(xp, y_true, y_pred, epsilon)
    return 2.0 * (1.0 - r) * inv * inv * dp


MEAN_SQUARED_LOGARITHMIC_ERROR = Loss(
    name="mean_squared_logarithmic_error",
    input_kind="prediction",
    boosting=Boosting(refused=Refusal("bounded_prediction", "boost mean_squared_error on log1p(y) instead")),
    aliases=("msle", "mean_squared_log_error"),
    value=_msle_value,
    grad=_msle_grad,
    value_grad=_msle_value_grad,
    hess=_msle_hess,
    prepare=_prepare_msle,
    options={"epsilon": None},
    structure="elementwise",
    task="regression",
    inputs="y_true, y_pred: real values > -1 (typically non-negative), same shape",
    summary="Squared error of log1p-transformed values: relative errors for positive targets.",
    doc="""Mean squared logarithmic error.

    Per element ``l = r^2`` with ``r = log1p(y_pred) - log1p(y_true)``; gradient
    ``2 r / (1 + y_pred)``; Hessian ``2 (1 - r) / (1 + y_pred)^2`` (negative where
    ``r > 1``: the loss is not convex in ``y_pred``).

    Default ``epsilon=None``: no clipping; ``y_true`` and ``y_pred`` must be ``> -1``
    (else :class:`losskit.LossInputError`), as scikit-learn requires.

    ``epsilon=e`` (>= 0) reproduces Keras: both arguments are floored at ``e`` first,
    ``log1p(max(x, e))``, so any real input is accepted and negatives count as ``e``. Below
    the floor the gradient and Hessian are 0; at ``y_pred == e`` exactly they are 0 too (the
    value is a ``where(y_pred > e, y_pred, e)``, which autodiff differentiates the same way).

    Peers: ``keras.losses.MeanSquaredLogarithmicError`` -> ``epsilon=1e-7`` (Keras's
    ``backend.epsilon()``; Keras also averages the last axis, then
    ``reduction="sum_over_batch_size"``); ``sklearn.metrics.mean_squared_log_error`` -> the
    default. PyTorch and optax have none.

    Reference: scikit-learn User Guide, "Mean squared logarithmic error".

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.msle(np.array([0.0, 1.0]), np.array([np.e - 1, 1.0]))), 12)
    0.5
    >>> float(lk.msle(np.array([-5.0]), np.array([0.0]), epsilon=1e-7)) < 1e-13   # Keras clips -5 to 1e-7
    True
    """,
)


# -- mean absolute percentage error --------------------------------------------------------
def _prepare_mape(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    eps = opts["epsilon"]
    if eps is None:
        eps = float(xp.finfo(y_pred.dtype).eps)
    eps = float(check_number(eps, name="epsilon", lo=0.0, lo_open=True))
    percent = check_flag(opts["percent"], "percent")
    return y_true, y_pred, {"percent": percent, "epsilon": eps}


def _mape_scale(xp, y_true, percent, epsilon):
    """c / max(|y_true|, epsilon): depends on the targets only."""
    den = xp.abs(y_true)
    den = xp.clip(den, min=epsilon)
    return (100.0 if percent else 1.0) / den


def _mape_value(xp, y_true, y_pred, *, percent, epsilon):
    return _abs(y_pred - y_true, xp=xp) * _mape_scale(xp, y_true, percent, epsilon)


def _mape_grad(xp, y_true, y_pred, *, percent, epsilon):
    return sign(y_pred - y_true, xp=xp) * _mape_scale(xp, y_true, percent, epsilon)


def _mape_hess(xp, y_true, y_pred, *, percent, epsilon):
    return xp.zeros_like(y_pred)


MEAN_ABSOLUTE_PERCENTAGE_ERROR = Loss(
    name="mean_absolute_percentage_error",
    input_kind="prediction",
    boosting=Boosting(refused=Refusal("piecewise_linear", "boost a weighted pseudo_huber instead")),
    aliases=("mape",),
    value=_mape_value,
    grad=_mape_grad,
    hess=_mape_hess,
    prepare=_prepare_mape,
    options={"percent": True, "epsilon": None},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets; y_pred: real predictions of the same shape",
    summary="Absolute error relative to |y_true|, in percent by default.",
    doc="""Mean absolute percentage error.

    Per element ``l = c |y_pred - y_true| / max(|y_true|, epsilon)`` with ``c = 100``
    (``percent=True``, default) or ``c = 1`` (``percent=False``: a fraction); gradient
    ``c sign(y_pred - y_true) / max(|y_true|, epsilon)``; Hessian ``0``. At
    ``y_pred == y_true`` the subgradient is 0 (as :func:`mean_absolute_error`; autodiff of
    the value gives the same on torch and jax).

    ``epsilon=None`` (default) is the machine epsilon of the computation dtype:
    ``2.22e-16`` in float64 (scikit-learn's constant), ``1.19e-7`` in float32.

    Peers: ``keras.losses.MeanAbsolutePercentageError`` -> ``epsilon=1e-7`` (percent; Keras
    also averages the last axis, then ``reduction="sum_over_batch_size"``);
    ``sklearn.metrics.mean_absolute_percentage_error`` -> ``percent=False`` (a fraction,
    float64 machine epsilon). PyTorch and optax have none.

    Reference: R. J. Hyndman, A. B. Koehler, "Another look at measures of forecast
    accuracy", Int. J. Forecasting 22 (2006).

    >>> import numpy as np, losskit as lk
    >>> float(lk.mape(np.array([2.0, -4.0]), np.array([1.0, -5.0])))
    37.5
    >>> float(lk.mape(np.array([2.0, -4.0]), np.array([1.0, -5.0]), percent=False))
    0.375
    """,
)

LOSSES = (
    MEAN_SQUARED_ERROR,
    MEAN_ABSOLUTE_ERROR,
    HUBER,
    SMOOTH_L1,
    LOG_COSH,
    PSEUDO_HUBER,
    MEAN_SQUARED_LOGARITHMIC_ERROR,
    MEAN_ABSOLUTE_PERCENTAGE_ERROR,
)
