"""The one place where sample weights, implicit weights and reductions are applied.

A loss kernel returns per-sample values (and derivatives of those values); everything
that turns them into the number a user asked for lives here:

- ``"mean"`` (default): ``sum(w * l) / sum(w)``; with no weights, the plain mean. Class
  weights and ``ignore_index`` act as weights, so ignored samples leave the denominator
  (PyTorch's rule). A zero total weight gives 0, not NaN.
- ``"sum"``: ``sum(w * l)``.
- ``"none"``: ``w * l`` per sample (derivatives are then those of the sum).
- ``"sum_over_batch_size"``: ``sum(w * l) / n_samples`` (Keras's default reduction, which
  divides by the number of samples, not by the weights).
"""

from __future__ import annotations

import numbers

from ._array.validate import LossInputError, check_choice, check_finite, check_range
from ._array.xp import as_array, is_numpy

REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")

__all__ = ["REDUCTIONS", "check_reduction", "prepare_weight", "reduce", "derivative_scale", "expand_axes"]


def check_reduction(reduction):
    return check_choice(reduction, REDUCTIONS, name="reduction")


def prepare_weight(xp, sample_weight, loss_shape, *, dtype, like, validate=True):
    """``sample_weight`` as an array that broadcasts to ``loss_shape`` with the same ndim.

    Accepted: a scalar; an array of the loss's ndim whose every axis equals the loss's or
    is 1; a 1-D array with one weight per leading index (per row). Anything else raises.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        w = xp.asarray(float(sample_weight), dtype=dtype, device=_device(like))
    else:
        w = as_array(xp, sample_weight, like=like)
        if not (xp.isdtype(w.dtype, "real floating") or xp.isdtype(w.dtype, "integral")) or w.dtype == xp.bool:
            raise LossInputError(f"sample_weight must be a real array; got dtype {w.dtype}")
        w = xp.astype(w, dtype)
    shape = tuple(loss_shape)
    wshape = tuple(w.shape)
    if len(wshape) == 0:
        pass
    elif len(wshape) == 1 and len(shape) >= 1 and wshape[0] == shape[0]:
        w = xp.reshape(w, (shape[0],) + (1,) * (len(shape) - 1))
    elif len(wshape) == len(shape) and all(a in (1, b) for a, b in zip(wshape, shape)):
        pass
    else:
        raise LossInputError(
            f"sample_weight must be a scalar, have one weight per row ({shape[0] if shape else 0},), "
            f"or have the loss's shape {shape} (axes of size 1 allowed); got shape {wshape}"
        )
    if validate:
        check_finite(w, xp=xp, name="sample_weight")
        check_range(w, 0.0, None, xp=xp, name="sample_weight", what="non-negative weights")
    return w


def _device(like):
    from ._array.xp import device_of

    return device_of(like)


def _sum(xp, x):
    """Total of ``x``; float64 accumulation on the NumPy path."""
    if is_numpy(xp) and x.dtype != xp.float64:
        return xp.astype(xp.sum(x, dtype=xp.float64), x.dtype)
    return xp.sum(x)


def _total_weight(xp, weight, shape, dtype):
    if weight is None:
        n = 1
        for s in shape:
            n *= s
        return n
    return _sum(xp, xp.broadcast_to(weight, shape) if tuple(weight.shape) != tuple(shape) else weight)


def _count(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def reduce(xp, values, weight, reduction):
    """Apply ``weight`` (None or broadcastable to ``values``) and ``reduction`` to per-sample values."""
    weighted = values if weight is None else values * weight
    if reduction == "none":
        return weighted
    total = _sum(xp, weighted)
    if reduction == "sum":
        return total
    if reduction == "sum_over_batch_size":
        n = _count(values.shape)
        return total / n if n else total * 0
    denom = _total_weight(xp, weight, values.shape, values.dtype)
    if weight is None:
        return total / denom if denom else total * 0
    safe = xp.where(denom == 0, xp.ones_like(denom), denom)
    return xp.where(denom == 0, xp.zeros_like(total), total / safe)


def derivative_scale(xp, values, weight, reduction):
    """d(reduced value) / d(per-sample value): broadcastable to ``values``."""
    if reduction in ("none", "sum"):
        return 1.0 if weight is None else weight
    if reduction == "sum_over_batch_size":
        n = _count(values.shape)
        scale = 1.0 / n if n else 0.0
        return scale if weight is None else weight * scale
    denom = _total_weight(xp, weight, values.shape, values.dtype)
    if weight is None:
        return 1.0 / denom if denom else 0.0
    safe = xp.where(denom == 0, xp.ones_like(denom), denom)
    return xp.where(denom == 0, xp.zeros_like(weight), weight / safe)


def expand_axes(xp, x, axes, ndim):
    """Re-insert the reduced ``axes`` (non-negative, of a ``ndim``-d y_pred) into ``x`` so it
    broadcasts against y_pred. Python scalars pass through."""
    if isinstance(x, numbers.Real):
        return x
    if x.ndim == 0:
        return x
    for a in sorted(axes):
        x = xp.expand_dims(x, axis=a)
    if x.ndim != ndim:  # a weight of fewer dims than values was already broadcast-shaped
        raise AssertionError("internal: reduced axes do not match y_pred's dimensions")
    return x
