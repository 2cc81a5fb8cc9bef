"""Input handling shared by the loss families: dtype, shape and value checks, option parsing,
probability floors and class-id tools."""

from __future__ import annotations

import math

import numpy as np

from .._array.lean import compiled_take, torch_of
from .._array.validate import (
    LossInputError,
    check_axis,
    check_finite,
    check_mode,
    check_number,
    check_range,
    check_real,
    check_same_shape,
    count_true,
    numeric,
    require,
)
from .._array.xp import as_array, compute_dtype, device_of, namespace, torch_compiling

__all__ = [
    "float_pair", "prob_epsilon", "complement_floor", "option_array", "check_unit_interval", "row_sum_tolerance",
    "along", "count_true", "check_lower_bound", "bool_as_float", "ignore_index_option", "label_smoothing_option",
    "nonempty_axis", "checked_axis", "wrapped_axis", "class_mask", "gather", "take",
]


def float_pair(xp, y_true, y_pred, validate, *, same_shape=True, true_range=None, pred_range=None):
    """Cast ``y_pred`` to its compute dtype and ``y_true`` to the same; check shapes and finiteness.
    ``true_range`` / ``pred_range``: ``(lo, hi, what)``, a bounded range the values must lie in,
    checked in place of finiteness (one min and one max settle both; a non-finite entry still
    gets the finiteness message)."""
    if y_true is None:
        raise LossInputError("y_true is required")
    check_real(y_pred, xp=xp, name="y_pred")
    check_real(y_true, xp=xp, name="y_true")
    dtype = compute_dtype(xp, y_pred)
    y_pred = as_array(xp, y_pred, dtype=dtype)
    y_true = as_array(xp, y_true, dtype=dtype)
    if same_shape:
        check_same_shape(y_true, y_pred)
    if validate:
        for x, name, bounds in ((y_true, "y_true", true_range), (y_pred, "y_pred", pred_range)):
            if bounds is None:
                check_finite(x, xp=xp, name=name)
            else:
                check_range(x, bounds[0], bounds[1], xp=xp, name=name, what=bounds[2], finite=True)
    return y_true, y_pred


def check_unit_interval(x, *, xp, name, validate, what="probabilities in [0, 1]"):
    if validate:
        check_range(x, 0.0, 1.0, xp=xp, name=name, what=what)


# Default probability floor: the largest round cap on -log(p) at which the loss, gradient
# (1/p) and Hessian (1/p^2) all stay finite in the dtype. float64: -log p <= 100, exactly
# PyTorch's BCELoss clamp; float32 (and upcast float16/bfloat16): -log p <= 40.
_DEFAULT_LOG_CAP = {64: 100.0, 32: 40.0}


def prob_epsilon(xp, dtype, epsilon):
    """The probability floor for ``epsilon`` (None = the dtype's default, see above)."""
    if epsilon is None:
        bits = xp.finfo(dtype).bits
        return math.exp(-_DEFAULT_LOG_CAP.get(bits, 40.0))
    return check_number(epsilon, name="epsilon", lo=0.0, hi=0.5, lo_open=True)


def complement_floor(xp, dtype, eps):
    """Floor for ``1 - p`` matching "clip p to [eps, 1 - eps] in the compute dtype".

    Where ``1 - eps`` rounds to 1 (every default) this is ``eps`` itself; for Keras's
    ``eps = 1e-7`` in float32, ``1 - eps`` rounds to 0.99999988, so the floor is 1.19e-7,
    exactly what Keras computes.
    """
    np_dtype = np.float32 if xp.finfo(dtype).bits == 32 else np.float64
    return max(eps, 1.0 - float(np_dtype(1.0) - np_dtype(eps)))


def row_sum_tolerance(xp, n_classes, *dtypes, fallback=None):
    """How far a probability row may sum from 1: sqrt(eps) of the least precise floating
    dtype among ``dtypes`` (the arrays as given, before upcasting; as scikit-learn), at
    least the rounding of ``n_classes`` float32 probabilities (n 2^-24), so float32 data
    stored as float64 passes. ``fallback`` is used when no dtype is floating."""
    floating = [d for d in dtypes if d is not None and xp.isdtype(d, "real floating")]
    if not floating and fallback is not None:
        floating = [fallback]
    eps = max([_machine_eps(xp, d) for d in floating] or [2.0**-52])  # no default=: torch.compile lacks it
    return max(math.sqrt(eps), n_classes * 2.0**-24)


def _machine_eps(xp, dtype):
    try:
        return float(xp.finfo(dtype).eps)
    except (TypeError, ValueError):  # bfloat16 in namespaces without its finfo
        return 2.0**-7


def option_array(xp, value, *, name, like, validate, lo=None):
    """An array-valued option (class weights, pos_weight) in ``like``'s namespace, dtype and device."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, int, float)):  # straight to the compute dtype: no float32 detour
        numeric(value, name=name, what="a number or an array of numbers")  # strings, ragged lists: refused here
        arr = xp.asarray(value, dtype=like.dtype, device=device_of(like))
    else:
        if namespace(value) is not xp:  # e.g. a NumPy weight vector with torch inputs: copy it over
            value = xp.asarray(np.asarray(value), device=device_of(like))
        arr = as_array(xp, value, like=like)
        check_real(arr, xp=xp, name=name)
        arr = as_array(xp, arr, dtype=like.dtype)
    if name == "pos_weight" and arr.ndim and not _broadcasts(arr.shape, tuple(like.shape)):
        n = like.shape[-1] if like.ndim else 1
        raise LossInputError(f"{name} must hold one entry per column of y_pred's last axis ({n}) or broadcast "
                             f"against y_pred's shape {tuple(like.shape)}; got shape {tuple(arr.shape)}")
    if validate:
        check_finite(arr, xp=xp, name=name)
        if lo is not None:
            check_range(arr, lo, None, xp=xp, name=name, what=f"values >= {lo:g}")
    return arr


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def along(xp, vec, axis, ndim):
    """A 1-D per-class vector shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    if not hasattr(vec, "ndim") or vec.ndim == 0:
        return vec
    shape = [1] * ndim
    shape[axis] = vec.shape[0]
    return xp.reshape(vec, tuple(shape))


def check_lower_bound(x, lo, *, xp, name, what, strict):
    """``x > lo`` elementwise (``strict``: an open bound, which ``check_range`` does not express;
    the message counts the entries "outside") or ``x >= 0`` (``lo=0``; it counts them as
    "negative"), on concrete arrays."""
    mode = check_mode(x)
    if mode is None or math.prod(x.shape) == 0:
        return

    def explain():
        bad = x <= lo if strict else x < lo
        if bool(xp.any(bad)):
            outside = "outside" if strict else "negative"
            raise LossInputError(
                f"{name} must hold {what}; got {count_true(xp, bad)} {outside} (min {float(xp.min(x)):g})")

    low = xp.min(x)
    require(low > lo if strict else low >= lo, explain, f"{name} must hold {what}", mode=mode)


def bool_as_float(xp, y, like):
    """Boolean labels (masks, one-hot rows) as 0/1 in ``like``'s compute dtype; others unchanged."""
    if y is not None and y.dtype == xp.bool and like.dtype != xp.bool:
        return xp.astype(y, compute_dtype(xp, like))
    return y


def ignore_index_option(value):
    """The ``ignore_index`` option: None, or the integer label to leave out."""
    if value is None:
        return None
    return int(check_number(value, name="ignore_index", integer=True))


def label_smoothing_option(value):
    """The ``label_smoothing`` option of the multiclass losses, a float in [0, 1]."""
    return float(check_number(value, name="label_smoothing", lo=0.0, hi=1.0))


def nonempty_axis(y_pred, axis):
    """``axis`` normalised for ``y_pred``, which must have at least one entry along it."""
    axis = check_axis(axis, y_pred.ndim)
    if y_pred.shape[axis] == 0:
        raise LossInputError(f"y_pred must have at least one entry along axis {axis}; got shape {tuple(y_pred.shape)}")
    return axis


def checked_axis(ndim, opts):
    """``reduced_axes`` of a loss that sums ``opts["axis"]`` (default -1), checked against ``ndim``."""
    return (check_axis(opts.get("axis", -1), ndim),)


def wrapped_axis(ndim, opts):
    """``reduced_axes`` of a loss that sums the class axis ``opts["axis"]``, taken modulo ``ndim``."""
    return (opts["axis"] % ndim,)


def class_mask(xp, ids, axis, n, *, like):
    """``ids == c`` for the classes ``c = 0 .. n-1`` laid along ``axis``: the boolean one-hot form
    of class ids ``ids`` that hold ``axis`` at size 1 (``arange`` on ``like``'s device)."""
    classes = xp.astype(xp.arange(n, device=device_of(like)), ids.dtype)
    return ids == along(xp, classes, axis, ids.ndim)


def gather(xp, a, labels, axis):
    """``a[..., labels, ...]`` along ``axis`` with the axis kept (size 1).

    ``take_along_axis`` (array API 2024.12) where the namespace has it; otherwise (Dask) a
    masked sum over the class axis, evaluated chunk by chunk. While ``torch.compile`` traces:
    :func:`~losskit._array.lean.compiled_take` (a gather whose backward is a ``where``)."""
    # out-of-range ids reach here only with validate=False (a NaN id cast to int): a garbage
    # value then, never an IndexError from inside take_along_axis
    idx = xp.clip(xp.expand_dims(labels, axis=axis), 0, max(a.shape[axis] - 1, 0))
    if torch_of(a) is not None and torch_compiling():
        return compiled_take(a, idx, axis)
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(a, idx, axis=axis)
    mask = class_mask(xp, idx, axis, a.shape[axis], like=a)
    return xp.sum(xp.where(mask, a, xp.zeros_like(a)), axis=axis, keepdims=True)


def take(xp, vec, labels):
    """``vec[labels]`` for a 1-D ``vec`` and labels of any shape."""
    flat = xp.take(vec, xp.clip(xp.reshape(labels, (-1,)), 0, max(vec.shape[0] - 1, 0)), axis=0)  # as gather
    return xp.reshape(flat, tuple(labels.shape))
