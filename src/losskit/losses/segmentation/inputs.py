"""Inputs of the segmentation losses: predictions, targets (masks or class-id maps one-hot
encoded, ``ignore_index`` masks), per-class weights with ``include_background``, and the
``activation`` and smoothing options.
"""

from __future__ import annotations

from ..._array.validate import (
    LossInputError,
    check_axis,
    check_finite,
    check_integer_labels,
    check_mode,
    check_number,
    check_range,
    check_real,
    require,
)
from ..._array.xp import as_array, compute_dtype, device_of
from .._common import bool_as_float, class_mask, count_true, option_array

__all__ = ["ACTIVATIONS", "prepare_pred", "targets", "class_weights", "smoothing"]

ACTIVATIONS = (None, "sigmoid", "softmax", "tanh")


def prepare_pred(xp, y_pred, validate):
    check_real(y_pred, xp=xp, name="y_pred")
    y_pred = as_array(xp, y_pred, dtype=compute_dtype(xp, y_pred))
    if validate:
        check_finite(y_pred, xp=xp, name="y_pred")
    return y_pred


def _check_binary(xp, y, valid, *, validate):
    mode = check_mode(y) if validate else None
    if mode is None:
        return
    bad = (y != 0.0) & (y != 1.0)
    if valid is not None:
        bad = bad & (valid > 0)

    def explain():
        if bool(xp.any(bad)):
            raise LossInputError(
                f"y_true must hold binary labels 0 or 1 for a Lovasz loss; got {count_true(xp, bad)} other value(s)"
            )

    require(~xp.any(bad), explain, "y_true must hold binary labels 0 or 1 for a Lovasz loss", mode=mode)


def targets(xp, y_true, y_pred, *, class_axis, ignore_index, validate, binary=False, ids_allowed=True):
    """``y_true`` as a float array of ``y_pred``'s shape, plus the ``ignore_index`` mask.

    Returns ``(y, valid, ca)``: ``valid`` is None or a 0/1 float array broadcasting to
    ``y_pred``; ``ca`` is the normalised class axis when ``y_true`` held class ids, else None.
    """
    if y_true is None:
        raise LossInputError("y_true is required")
    dtype, ndim = y_pred.dtype, y_pred.ndim
    y_true = bool_as_float(xp, y_true, y_pred)
    check_real(y_true, xp=xp, name="y_true")
    pshape, tshape = tuple(y_pred.shape), tuple(y_true.shape)
    if tshape == pshape:
        valid = None
        y = as_array(xp, y_true, dtype=dtype)
        if ignore_index is not None:
            keep = y_true != ignore_index
            valid = xp.astype(keep, dtype)
            y = xp.where(keep, y, xp.zeros_like(y))
        if validate and binary:
            check_finite(y, xp=xp, name="y_true")
            _check_binary(xp, y, valid, validate=validate)
        elif validate:  # (one min and max settle finiteness too, with its own message)
            check_range(y, 0.0, 1.0, xp=xp, name="y_true", finite=True,
                        what="targets in [0, 1] (masks or probabilities; pass validate=False to skip)")
        return y, valid, None
    if not ids_allowed or ndim == 0:
        raise LossInputError(f"y_true must have y_pred's shape {pshape}; got {tshape}")
    ca = check_axis(class_axis, ndim, name="class_axis")
    n = pshape[ca]
    without = pshape[:ca] + pshape[ca + 1:]
    with_one = pshape[:ca] + (1,) + pshape[ca + 1:]
    if tshape == without:
        ids = xp.expand_dims(y_true, axis=ca)
    elif tshape == with_one and n > 1:
        ids = y_true
    else:
        raise LossInputError(
            f"y_true must have y_pred's shape {pshape} (masks or probabilities), or hold class ids "
            f"with shape {without} or {with_one} (class_axis={class_axis}); got {tshape}"
        )
    if validate:
        check_integer_labels(ids, n, xp=xp, name="y_true", ignore_index=ignore_index)
    valid = None
    if ignore_index is not None:
        keep = ids != ignore_index
        valid = xp.astype(keep, dtype)
        ids = xp.where(keep, ids, xp.zeros_like(ids))
    y = xp.astype(class_mask(xp, ids, ca, n, like=y_pred), dtype)
    return y, valid, ca


def class_weights(xp, cw_opt, n, include_bg, ca, like, validate):
    """Per-class weights (1-D, length ``n``) with class 0 zeroed when the background is dropped."""
    dev = device_of(like)
    w = xp.ones(n, dtype=like.dtype, device=dev)
    if cw_opt is not None:
        arr = option_array(xp, cw_opt, name="class_weight", like=like, validate=validate, lo=0.0)
        if arr.ndim == 0:
            w = w * arr
        elif arr.ndim == 1 and arr.shape[0] == n:
            w = arr
        elif arr.ndim == 1 and not include_bg and arr.shape[0] == n - 1:
            w = xp.concat([xp.zeros(1, dtype=like.dtype, device=dev), arr])
        else:
            alt = "" if include_bg else f" or ({n - 1},) for the classes after the background"
            raise LossInputError(
                f"class_weight must be a scalar or hold one weight per class ({n},) along "
                f"class_axis={ca}{alt}; got shape {tuple(arr.shape)}"
            )
    if not include_bg:
        w = w * xp.astype(xp.arange(n, device=dev) != 0, like.dtype)
    return w


def smoothing(opts):
    s = check_number(opts["smooth"], name="smooth", lo=0.0)
    nr = s if opts["smooth_nr"] is None else check_number(opts["smooth_nr"], name="smooth_nr", lo=0.0)
    dr = s if opts["smooth_dr"] is None else check_number(opts["smooth_dr"], name="smooth_dr", lo=0.0)
    return float(nr), float(dr)
