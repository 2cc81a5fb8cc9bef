"""Inputs of the cross-entropy losses: the checks and canonical forms of predictions, dense
targets, class ids and per-class options that every ``prepare`` of the family shares, and the
targets' per-sample weights (conventions in :mod:`losskit.losses.categorical`).
"""

from __future__ import annotations

import numbers

from .._array.validate import (
    LossInputError,
    check_axis,
    check_finite,
    check_flag,
    check_integer_labels,
    check_mode,
    check_number,
    check_range,
    check_real,
    check_rows_sum_to_one,
    check_same_shape,
    enforced,
    require,
)
from .._array.xp import as_array, compute_dtype, device_of
from ._common import (
    along,
    bool_as_float,
    class_mask,
    count_true,
    ignore_index_option,
    label_smoothing_option,
    option_array,
    row_sum_tolerance,
    take,
)

__all__ = [
    "prepare_rows", "smoothed", "class_vector", "valid_and_safe", "mask_rows", "sparse_target", "smoothed_class_weight",
    "label_weight", "values_read",
]


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
        mode = check_mode(y_pred)
        if mode is None:
            return
        sums = xp.sum(y_pred, axis=axis)

        def explain():
            zero = count_true(xp, sums <= 0)
            if zero:
                raise LossInputError(
                    f"y_pred rows must have a positive sum along axis {axis} to be renormalised; "
                    f"got {zero} all-zero row(s)"
                )

        require(xp.all(sums > 0), explain, f"y_pred rows must have a positive sum along axis {axis}", mode=mode)
        return
    check_range(y_pred, 0.0, 1.0, xp=xp, name="y_pred",
                what="probabilities in [0, 1] (pass from_logits=True for logits)")
    check_rows_sum_to_one(
        y_pred, axis, xp=xp, name="y_pred", tol=row_sum_tolerance(xp, n, orig),
        hint="Pass renormalize=True to divide each row by its sum first (Keras's behaviour), "
             "or from_logits=True if y_pred holds logits.",
    )


def _dense_target(xp, y_true, y_pred, axis, n, validate, *, name="y_true"):
    """Dense targets: same shape, non-negative rows summing to 1."""
    if y_true is None:
        raise LossInputError("y_true is required")
    y_true = bool_as_float(xp, y_true, y_pred)
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


def prepare_rows(xp, y_true, y_pred, opts, validate, *, sparse, flags=True):
    """The opening every prepare of the family shares, in this order: ``y_pred`` (compute dtype,
    class axis), the targets (dense rows, or class ids with ``ignore_index`` when ``sparse``),
    the ``from_logits`` and ``renormalize`` flags and the probability rows' checks.

    Returns ``(target, y_pred, n, opts, ignore_index)``: ``opts`` holds ``axis``, and
    ``from_logits`` and ``renormalize`` unless ``flags=False`` (losses on logits only);
    ``ignore_index`` is None for dense targets.
    """
    y_pred, axis, n, orig = _pred(xp, y_pred, opts, validate)
    if sparse:
        ignore_index = ignore_index_option(opts["ignore_index"])
        target = _prepare_labels(xp, y_true, y_pred, axis, n, ignore_index, validate)
    else:
        ignore_index = None
        target = _dense_target(xp, y_true, y_pred, axis, n, validate)
    if not flags:
        return target, y_pred, n, {"axis": axis}, None
    from_logits, renormalize = check_flag(opts["from_logits"], "from_logits"), check_flag(opts["renormalize"], "renormalize")
    if not from_logits:
        _check_probabilities(xp, y_pred, axis, n, orig, renormalize, validate)
    return target, y_pred, n, {"axis": axis, "from_logits": from_logits, "renormalize": renormalize}, ignore_index


def values_read(xp, y_pred, validate):
    """Whether validation reads ``y_pred``'s values in this call (finite, probability rows checked):
    a value that gathers ``p_y`` alone then needs no pass over its rows to show a NaN
    (``_ce_math.nan_of_rows``); validate=False, tracing and lazy arrays do not read them (nor
    do the ``checkify.debug_check``s of a staged JAX program: they stop nothing unchecked)."""
    return bool(validate) and enforced(check_mode(y_pred))


def smoothed(y_true, opts, n):
    """Dense target rows after label smoothing ``y (1 - s) + s / n``."""
    ls = label_smoothing_option(opts["label_smoothing"])
    return y_true * (1.0 - ls) + ls / n if ls else y_true


def class_vector(xp, value, *, name, n, like, validate, scalar_ok=False):
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


def valid_and_safe(xp, labels, ignore_index):
    """(mask of counted samples or None, labels with ignored ids replaced by 0)."""
    if ignore_index is None:
        return None, labels
    valid = labels != ignore_index
    return valid, xp.where(valid, labels, xp.zeros_like(labels))


def mask_rows(xp, x, valid, axis=None):
    """Zero where ``valid`` is False (``axis``: re-insert the class axis into ``valid``)."""
    if valid is None:
        return x
    if axis is not None:
        valid = xp.expand_dims(valid, axis=axis)
    return xp.where(valid, x, xp.zeros_like(x))


def sparse_target(xp, labels, y_pred, axis, label_smoothing, class_weight, ignore_index):
    """The dense target row the sparse value is the cross-entropy against (for derivatives):
    ``(1 - s) onehot(y) + s / C``; with class weights and smoothing the class-weighted row
    ``(1 - s) w[y] onehot(y) + (s / C) w`` (PyTorch's: the values then hold the class weights,
    ``smoothed_class_weight``)."""
    valid, safe = valid_and_safe(xp, labels, ignore_index)
    n = y_pred.shape[axis]
    t = xp.astype(class_mask(xp, xp.expand_dims(safe, axis=axis), axis, n, like=safe), y_pred.dtype)
    ls = label_smoothing
    if ls:
        if class_weight is None:
            t = (1.0 - ls) * t + (ls / n) * xp.ones_like(t)
        else:
            wy = xp.expand_dims(take(xp, class_weight, safe), axis=axis)
            t = (1.0 - ls) * wy * t + (ls / n) * along(xp, class_weight, axis, y_pred.ndim) * xp.ones_like(t)
    return mask_rows(xp, t, valid, axis)


def smoothed_class_weight(opts):
    """Whether the sparse CE values hold their class weights: with ``class_weight`` and label
    smoothing a sample of a weight-0 class still pays the smoothing term (PyTorch's formula)."""
    return opts.get("class_weight") is not None and bool(opts.get("label_smoothing"))


def label_weight(xp, y_true, y_pred, **opts):
    """w[y_i] for class weights, times 0 for ignored samples; None when neither applies."""
    cw, ii = opts.get("class_weight"), opts.get("ignore_index")
    if cw is None and ii is None:
        return None
    valid, safe = valid_and_safe(xp, y_true, ii)
    w = take(xp, cw, safe) if cw is not None else xp.ones(tuple(safe.shape), dtype=y_pred.dtype,
                                                          device=device_of(y_pred))
    return mask_rows(xp, w, valid)
