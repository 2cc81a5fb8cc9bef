"""Regression losses of a predicted distribution: the Poisson and Gaussian negative
log-likelihoods and the quantile (pinball) loss.
"""

from __future__ import annotations

import math
import numbers

from .._array.stable import xlogy
from .._array.validate import LossInputError, check_flag, check_number
from .._array.xp import as_array
from ..spec import Boosting, Loss, Refusal
from ._common import check_lower_bound, float_pair, option_array

# -- Poisson -------------------------------------------------------------------------------
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _prepare_poisson(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    log_input, full = check_flag(opts["log_input"], "log_input"), check_flag(opts["full"], "full")
    eps = float(check_number(opts["epsilon"], name="epsilon", lo=0.0, lo_open=True))
    if validate:
        check_lower_bound(y_true, 0, xp=xp, name="y_true", what="counts >= 0", strict=False)
        if not log_input:
            check_lower_bound(y_pred, 0, xp=xp, name="y_pred",
                              what="rates >= 0 (pass log_input=True for log-rates)", strict=False)
    return y_true, y_pred, {"log_input": log_input, "full": full, "epsilon": eps}


def _stirling(xp, y):
    """y log y - y + 0.5 log(2 pi y) for y > 1, else 0 (PyTorch's ``full=True`` term)."""
    big = y > 1.0
    ys = xp.where(big, y, xp.ones_like(y))
    term = ys * xp.log(ys) - ys + 0.5 * xp.log(ys) + _HALF_LOG_2PI
    return xp.where(big, term, xp.zeros_like(y))


def _poisson_value(xp, y_true, y_pred, *, log_input, full, epsilon):
    if log_input:
        out = xp.exp(y_pred) - y_true * y_pred
    else:
        out = y_pred - xlogy(y_true, y_pred + epsilon, xp=xp)
    return out + _stirling(xp, y_true) if full else out


def _poisson_grad(xp, y_true, y_pred, *, log_input, full, epsilon):
    if log_input:
        return xp.exp(y_pred) - y_true
    return 1.0 - y_true / (y_pred + epsilon)


def _poisson_hess(xp, y_true, y_pred, *, log_input, full, epsilon):
    if log_input:
        return xp.exp(y_pred)
    inv = 1.0 / (y_pred + epsilon)
    return y_true * inv * inv


POISSON = Loss(
    name="poisson",
    input_kind="prediction",
    aliases=("poisson_nll", "poisson_nll_loss"),
    value=_poisson_value,
    grad=_poisson_grad,
    hess=_poisson_hess,
    prepare=_prepare_poisson,
    options={"log_input": False, "full": False, "epsilon": 1e-8},
    structure="elementwise",
    task="count regression",
    inputs="y_true: counts >= 0 (need not be integers); y_pred: rates >= 0, or log-rates with log_input=True",
    summary="Poisson negative log-likelihood of counts given a predicted rate.",
    doc="""Poisson negative log-likelihood (without the ``log(y!)`` constant).

    Per element, with counts ``y``:

    - rates ``lambda = y_pred`` (default ``log_input=False``): ``l = lambda - y log(lambda + epsilon)``,
      gradient ``1 - y / (lambda + epsilon)``, Hessian ``y / (lambda + epsilon)^2``.
      ``0 log(.) = 0``, so a zero count at a zero rate costs 0. ``y_pred`` must be >= 0.
    - log-rates ``x = y_pred`` (``log_input=True``): ``l = exp(x) - y x``, gradient
      ``exp(x) - y``, Hessian ``exp(x)`` (no epsilon; ``exp`` overflows above ``x ~ 709``,
      as the rate itself does).

    ``full=True`` adds PyTorch's Stirling term ``y log y - y + 0.5 log(2 pi y)`` for
    ``y > 1`` (0 otherwise); it depends on ``y`` only, so derivatives are unchanged.
    Options: ``log_input=False``, ``full=False``, ``epsilon=1e-8`` (> 0). ``y_true`` must be
    >= 0.

    Peers: ``keras.losses.Poisson`` -> ``epsilon=1e-7`` (Keras's ``y_pred - y log(y_pred + 1e-7)``;
    mean over the last axis, then ``reduction="sum_over_batch_size"``);
    ``torch.nn.functional.poisson_nll_loss(log_input=True, full=False, eps=1e-8)`` ->
    ``log_input=True`` (PyTorch's default is log-rates; its ``eps`` is ``epsilon`` and only
    acts with ``log_input=False``; ``full`` is the same).

    Reference: P. McCullagh, J. A. Nelder, *Generalized Linear Models*, 2nd ed. (1989), ch. 6.

    >>> import numpy as np, losskit as lk
    >>> np.round(lk.poisson(np.array([0.0, 2.0]), np.array([0.0, 1.0]), reduction="none"), 12).tolist()
    [0.0, 0.99999998]
    >>> lk.poisson(np.array([0.0, 2.0]), np.array([0.0, 0.0]), log_input=True, reduction="none").tolist()
    [1.0, 1.0]
    """,
)


# -- Gaussian negative log-likelihood ------------------------------------------------------
def _prepare_gaussian_nll(xp, y_true, y_pred, opts, validate):
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
    full = check_flag(opts["full"], "full")
    eps = float(check_number(opts["epsilon"], name="epsilon", lo=0.0, lo_open=True))
    var = opts["var"]
    if var is None:
        raise LossInputError("var is required: a variance >= 0 (a scalar or an array); got None")
    if isinstance(var, numbers.Real) and not isinstance(var, bool):
        check_number(var, name="var", lo=0.0)
        var = as_array(xp, max(float(var), eps), like=y_pred, dtype=y_pred.dtype)
    else:
        if isinstance(var, (list, tuple)):  # nested numbers: straight to y_pred's dtype (not via float32)
            var = as_array(xp, var, like=y_pred, dtype=y_pred.dtype)
        var = option_array(xp, var, name="var", like=y_pred, validate=validate)
        if validate:
            check_lower_bound(var, 0, xp=xp, name="var", what="variances >= 0", strict=False)
        shape, vshape = tuple(y_pred.shape), tuple(var.shape)
        if vshape == shape or len(vshape) == 0:
            pass
        elif len(shape) >= 1 and vshape == shape[:-1]:  # PyTorch: one variance per row of the last axis
            var = xp.expand_dims(var, axis=-1)
        elif len(vshape) == len(shape) and all(v in (1, s) for v, s in zip(vshape, shape)):
            pass
        else:
            raise LossInputError(
                f"var must be a scalar, have y_pred's shape {shape}, that shape without its last axis "
                f"{shape[:-1]}, or that shape with axes of size 1; got shape {vshape}"
            )
        var = xp.clip(var, min=eps)
    return y_true, y_pred, {"var": var, "full": full}


def _gaussian_nll_value(xp, y_true, y_pred, *, var, full):
    d = y_pred - y_true
    # (d/2) (d/v) rather than d^2 / (2v): no overflow of d^2 where the value itself is finite
    out = 0.5 * xp.log(var) + (0.5 * d) * (d / var)
    return out + _HALF_LOG_2PI if full else out


def _gaussian_nll_grad(xp, y_true, y_pred, *, var, full):
    return (y_pred - y_true) / var


def _gaussian_nll_hess(xp, y_true, y_pred, *, var, full):
    return xp.zeros_like(y_pred) + 1.0 / var


GAUSSIAN_NLL = Loss(
    name="gaussian_nll",
    input_kind="prediction",
    aliases=("gaussian_nll_loss",),
    value=_gaussian_nll_value,
    grad=_gaussian_nll_grad,
    hess=_gaussian_nll_hess,
    prepare=_prepare_gaussian_nll,
    options={"var": 1.0, "full": False, "epsilon": 1e-6},
    structure="elementwise",
    task="regression",
    inputs="y_true: real targets; y_pred: predicted means of the same shape; var: variances (option)",
    summary="Gaussian negative log-likelihood with a given variance (PyTorch's GaussianNLLLoss).",
    doc="""Gaussian negative log-likelihood (PyTorch's ``GaussianNLLLoss``).

    Per element, with mean ``mu = y_pred`` and ``v = max(var, epsilon)``::

        l = 0.5 (log v + (y_true - mu)^2 / v)   [+ 0.5 log(2 pi) with full=True]

    Gradient ``(mu - y_true) / v``; Hessian ``1 / v``. Derivatives are with respect to the
    mean ``y_pred`` only; ``var`` is an option (a scalar or an array) and is not
    differentiated by ``.grad`` (under autodiff it is clamped as in PyTorch).

    ``var`` shapes (PyTorch's rules): a scalar, ``y_pred``'s shape, that shape without the
    last axis (one variance per row, broadcast over the last axis), or ``y_pred``'s number
    of dimensions with axes of size 1. Variances must be >= 0 and are clamped at
    ``epsilon`` (default ``1e-6``, > 0). Options: ``var=1.0``, ``full=False``, ``epsilon=1e-6``.

    Peers: ``torch.nn.functional.gaussian_nll_loss(input, target, var, full, eps)`` ->
    ``gaussian_nll(target, input, var=var, full=full, epsilon=eps)`` (PyTorch clamps ``var``
    without gradient; its ``"mean"`` is losskit's ``"mean"``). Keras and optax have none.

    Reference: D. A. Nix, A. S. Weigend, "Estimating the mean and variance of the target
    probability distribution", ICNN 1994.

    >>> import numpy as np, losskit as lk
    >>> lk.gaussian_nll(np.array([0.0, 1.0]), np.array([2.0, 1.0]), var=[4.0, 1.0], reduction="none").tolist()
    [1.1931471805599454, 0.0]
    """,
)


# -- quantile (pinball) ----------------------------------------------------------------------
def _is_multi(q):
    return not isinstance(q, numbers.Real) and getattr(q, "ndim", 1) != 0


def _prepare_quantile(xp, y_true, y_pred, opts, validate):
    q = opts["quantile"]
    if not _is_multi(q):
        q = float(check_number(q, name="quantile", lo=0.0, hi=1.0, lo_open=True, hi_open=True))
        y_true, y_pred = float_pair(xp, y_true, y_pred, validate)
        return y_true, y_pred, {"quantile": q}
    try:
        if isinstance(q, (str, bytes)):
            raise TypeError
        qs = [float(v) for v in q]
    except (TypeError, ValueError):
        raise LossInputError(f"quantile must be a number or a 1-D sequence of numbers; got {q!r}") from None
    if not qs:
        raise LossInputError("quantile must hold at least one level; got an empty sequence")
    for v in qs:
        check_number(v, name="quantile", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    y_true, y_pred = float_pair(xp, y_true, y_pred, validate, same_shape=False)
    shape = tuple(y_pred.shape)
    if len(shape) == 0 or shape[-1] != len(qs) or tuple(y_true.shape) != shape[:-1]:
        raise LossInputError(
            f"with {len(qs)} quantile levels, y_pred must have a trailing axis of {len(qs)} and y_true "
            f"y_pred's shape without it; got y_true {tuple(y_true.shape)} and y_pred {shape}"
        )
    qa = as_array(xp, qs, like=y_pred, dtype=y_pred.dtype)
    return xp.expand_dims(y_true, axis=-1), y_pred, {"quantile": qa}


def _quantile_axes(ndim, opts):
    return (ndim - 1,) if _is_multi(opts["quantile"]) else ()


def _pinball(xp, d, q):
    # d = y_pred - y_true: over-prediction costs (1 - q) d, under-prediction q |d|.
    return xp.where(d >= 0, (1.0 - q) * d, -q * d)


def _quantile_value(xp, y_true, y_pred, *, quantile):
    out = _pinball(xp, y_pred - y_true, quantile)
    if _is_multi(quantile):
        return xp.mean(out, axis=-1)
    return out


def _quantile_grad(xp, y_true, y_pred, *, quantile):
    d = y_pred - y_true
    g = xp.where(d >= 0, 1.0 - quantile + xp.zeros_like(d), -quantile + xp.zeros_like(d))
    return g / y_pred.shape[-1] if _is_multi(quantile) else g


def _quantile_hess(xp, y_true, y_pred, *, quantile):
    return xp.zeros_like(y_pred)


QUANTILE = Loss(
    name="quantile",
    input_kind="prediction",
    boosting=Boosting(
        refused=Refusal(
            "piecewise_linear",
            "use the built-in reg:quantileerror (XGBoost) / objective='quantile' (LightGBM), which line-search "
            "the leaf values",
        ),
    ),
    aliases=("pinball", "pinball_loss", "quantile_loss", "mean_pinball_loss"),
    value=_quantile_value,
    grad=_quantile_grad,
    hess=_quantile_hess,
    prepare=_prepare_quantile,
    options={"quantile": 0.5},
    structure="elementwise",
    reduced_axes=_quantile_axes,
    task="quantile regression",
    inputs="y_true: real targets; y_pred: predicted quantiles (trailing axis of levels with several quantiles)",
    summary="Pinball loss: its minimiser is the quantile-q of the target distribution.",
    doc="""Quantile (pinball) loss.

    Per element, with ``d = y_pred - y_true`` and level ``q``::

        l = (1 - q) d    if d >= 0   (over-prediction)
            -q d         if d < 0    (under-prediction)

    Gradient ``1 - q`` for ``d >= 0`` and ``-q`` for ``d < 0``; Hessian 0. At ``d = 0`` the
    subgradient is ``1 - q``, as XGBoost's ``reg:quantileerror`` and LightGBM's ``quantile``
    objectives use and as autodiff of the value (a ``where`` on ``d >= 0``) gives.
    ``q = 0.5`` is half the absolute error.

    ``quantile=0.5`` (default) is one level in (0, 1): elementwise, ``y_true`` and
    ``y_pred`` of one shape. Several levels ``quantile=[q_1, ..., q_K]``: ``y_pred`` carries
    a trailing axis of length ``K`` (one prediction per level) and ``y_true`` has
    ``y_pred``'s shape without it; a sample is one target and its value is the **mean**
    over the ``K`` levels of the pinball losses, so ``reduction="none"`` returns ``y_true``'s
    shape and the default ``"mean"`` is the mean over all targets and levels.

    Peers: ``sklearn.metrics.mean_pinball_loss(y_true, y_pred, alpha=q)`` ->
    ``quantile=q``; with several levels, sklearn's losses per level averaged equal
    ``quantile=[...]`` with ``"mean"``. Keras, PyTorch and optax have none.

    Reference: R. Koenker, G. Bassett, "Regression Quantiles", Econometrica 46 (1978).

    >>> import numpy as np, losskit as lk
    >>> lk.quantile(np.array([1.0, 1.0]), np.array([0.0, 3.0]), quantile=0.9, reduction="none").tolist()
    [0.9, 0.19999999999999996]
    >>> lk.quantile(np.array([1.0]), np.array([[0.0, 3.0]]), quantile=[0.1, 0.9], reduction="none").round(12).tolist()
    [0.15]
    """,
)

LOSSES = (
    POISSON,
    GAUSSIAN_NLL,
    QUANTILE,
)
