"""How entries form samples: the ``axis`` option, the axes summed into a sample, sums over them,
and per-sample cotangents and weights laid back over the entries.
"""

from __future__ import annotations

import numbers

from ..._array.lean import torch_of, torch_sum_kept
from ..._array.validate import LossInputError, check_axis
from ..._array.xp import is_numpy

__all__ = [
    "axes_option", "values_axis", "squeeze_reduced", "sum_kept", "expand_cotangent", "summed_axes",
    "softmax_class_axis", "summed_axes_with_classes", "implicit_sample_weight",
]


def axes_option(axis, ndim):
    """``axis`` (None, an int or a sequence of ints) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        axis = (axis,)
    if not isinstance(axis, (tuple, list)):
        raise LossInputError(f"axis must be None, an integer or a tuple of integers; got {axis!r}")
    out = tuple(check_axis(a, ndim, name="axis") for a in axis)
    if len(set(out)) != len(out):
        raise LossInputError(f"axis must not repeat an axis; got {tuple(axis)!r}")
    return tuple(sorted(out))


def values_axis(axis, reduced):
    """Position of ``axis`` of y_pred in the per-sample values (after removing ``reduced``)."""
    return axis - sum(1 for a in reduced if a < axis)


def squeeze_reduced(xp, x, axes):
    return xp.squeeze(x, axis=tuple(axes)) if axes and x.ndim else x


def sum_kept(xp, x, axes):
    """Sum over ``axes`` keeping them (size 1); float64 accumulation on the NumPy float32 path, run
    by run on torch (:func:`~losskit._array.lean.torch_sum_kept`)."""
    if not axes:
        return x
    if is_numpy(xp) and x.dtype == xp.float32:
        return xp.astype(xp.sum(x, axis=tuple(axes), dtype=xp.float64, keepdims=True), xp.float32)
    torch = torch_of(x)
    if torch is not None:
        return torch_sum_kept(torch, x, axes)
    return xp.sum(x, axis=tuple(axes), keepdims=True)


def expand_cotangent(xp, cotangent, reduced):
    """The per-sample cotangent (values' shape) with the reduced axes re-inserted."""
    if cotangent is None or isinstance(cotangent, numbers.Real) or cotangent.ndim == 0:
        return cotangent
    for a in sorted(reduced):
        cotangent = xp.expand_dims(cotangent, axis=a)
    return cotangent


def summed_axes(ndim, opts):
    """Axes summed into a sample: from prepared options, or from the raw ones (the engine and
    the streaming accumulator ask before preparing)."""
    if "reduced" in opts:
        return opts["reduced"]
    return axes_option(opts["axis"], ndim)


def softmax_class_axis(ndim, opts):
    """The class axis when a softmax runs over it: the classes of a pixel share its logits."""
    if opts.get("activation") == "softmax" and ndim:
        return (check_axis(opts.get("class_axis", 1), ndim, name="class_axis"),)
    return ()


def summed_axes_with_classes(ndim, opts):
    if "reduced" in opts:
        return opts["reduced"]
    ca = check_axis(opts["class_axis"], ndim, name="class_axis")
    return tuple(sorted(set(axes_option(opts["axis"], ndim)) | {ca}))


def implicit_sample_weight(xp, y_true, y_pred, **o):
    return o.get("sample_w")
