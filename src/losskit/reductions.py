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

The chunked engine (:mod:`losskit.engine`) and the streaming accumulators
(:mod:`losskit.streaming`) see a batch in pieces: they keep float64 :class:`Totals` of each
piece (``sum(w * l)``, ``sum(w)``, the sample count), add them up, and let the totals give
the reduced value (:meth:`Totals.finish`) and the per-sample derivative scale
(:meth:`Totals.derivative_scale`) by the same rules.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._array.lean import torch_of
from ._array.validate import LossInputError, check_choice, check_finite, check_range, numeric
from ._array.xp import as_array, device_of, host_view, is_numpy, torch_compiling, value_check_mode

REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")

__all__ = [
    "REDUCTIONS", "Totals", "check_reduction", "prepare_weight", "weight_array", "fit_weight", "check_weight_values",
    "weight_shape", "needs_total_weight",
    "combine_weights", "reduce", "weighted_into", "derivative_scale", "unit_scale", "finish_unweighted", "expand_axes",
]

Array = Any  # an array of any supported namespace


def check_reduction(reduction: Any) -> str:
    """``reduction`` when it is one of :data:`REDUCTIONS`; else LossInputError."""
    return check_choice(reduction, REDUCTIONS, name="reduction")


# ---------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------
def weight_shape(wshape: Sequence[int], shape: Sequence[int]) -> tuple[int, ...] | None:
    """The shape a sample weight of shape ``wshape`` takes to broadcast against per-sample
    values of ``shape`` with the same ndim, or None when it does not fit: a scalar stays one; a
    1-D weight with one entry per leading index (per row) gets trailing axes of size 1; a weight
    of the values' ndim whose every axis equals theirs or is 1 keeps its shape."""
    wshape, shape = tuple(wshape), tuple(shape)
    if len(wshape) == 0:
        return wshape
    if len(wshape) == 1 and len(shape) >= 1 and wshape[0] == shape[0]:
        return (shape[0],) + (1,) * (len(shape) - 1)
    if len(wshape) == len(shape) and all(a in (1, b) for a, b in zip(wshape, shape)):
        return wshape
    return None


def prepare_weight(xp: Any, sample_weight: Any, loss_shape: Sequence[int], *, dtype: Any, like: Array,
                   validate: bool = True) -> Array | None:
    """``sample_weight`` as an array that broadcasts to ``loss_shape`` with the same ndim.

    Accepted: a scalar; an array of the loss's ndim whose every axis equals the loss's or
    is 1; a 1-D array with one weight per leading index (per row). Anything else raises.
    """
    w = weight_array(xp, sample_weight, dtype=dtype, like=like)
    if w is None:
        return None
    w = fit_weight(xp, w, loss_shape)
    if validate:
        check_weight_values(xp, w)
    return w


def weight_array(xp: Any, sample_weight: Any, *, dtype: Any, like: Array) -> Array | None:
    """``sample_weight`` (None, a number or an array) as a real array of ``dtype`` on ``like``'s
    device, shape not yet checked (:func:`fit_weight`)."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        return xp.asarray(float(sample_weight), dtype=dtype, device=device_of(like))
    w = as_array(xp, numeric(sample_weight, name="sample_weight", what="a real array"), like=like)
    if not (xp.isdtype(w.dtype, "real floating") or xp.isdtype(w.dtype, "integral")) or w.dtype == xp.bool:
        raise LossInputError(f"sample_weight must be a real array; got dtype {w.dtype}")
    return xp.astype(w, dtype)


def fit_weight(xp: Any, w: Array, loss_shape: Sequence[int]) -> Array:
    """A weight array reshaped to broadcast to ``loss_shape`` (see :func:`prepare_weight`)."""
    shape = tuple(loss_shape)
    wshape = tuple(w.shape)
    target = weight_shape(wshape, shape)
    if target is None:
        raise LossInputError(
            f"sample_weight must be a scalar, have one weight per row ({shape[0] if shape else 0},), "
            f"or have the loss's shape {shape} (axes of size 1 allowed); got shape {wshape}"
        )
    return w if target == wshape else xp.reshape(w, target)


def check_weight_values(xp: Any, w: Array) -> None:
    """Weights must be finite and non-negative."""
    check_finite(w, xp=xp, name="sample_weight")
    check_range(w, 0.0, None, xp=xp, name="sample_weight", what="non-negative weights")


def needs_total_weight(reduction: str) -> bool:
    """Whether ``reduction`` divides by the total weight (only ``"mean"`` does): weighted
    derivatives then need it before any box, and totals must keep it."""
    return reduction == "mean"


def combine_weights(weight: Array | None, implicit: Array | None) -> Array | None:
    """The sample weights times a loss's implicit per-sample weights (class weights,
    ``ignore_index``); either may be None (unweighted)."""
    if implicit is None:
        return weight
    return implicit if weight is None else weight * implicit


# ---------------------------------------------------------------------------------------
# the rules, written once: a reduced value from totals, a per-sample derivative scale
# ---------------------------------------------------------------------------------------
def _count(shape: Iterable[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _finish(xp: Any, reduction: str, total: Any, denom: Any, n: int | tuple[int, ...]) -> Any:
    """The reduced value from the weighted total (the values' dtype), the total weight of a
    weighted mean (None: unweighted, or another reduction) and the sample count ``n`` (or the
    values' shape: counted only where needed). A zero total weight gives 0, not NaN."""
    if reduction == "sum":
        return total
    if reduction == "sum_over_batch_size" or denom is None:
        n = n if isinstance(n, int) else _count(n)
        return total / n if n else total * 0
    safe = xp.where(denom == 0, xp.ones_like(denom), denom)
    return xp.where(denom == 0, xp.zeros_like(total), total / safe)


def _refuse_overflowed_total(denom: Any) -> None:
    """Finite weights whose total passes the dtype's largest value: a weighted mean would divide
    by inf and give 0, and zero gradients (NumPy's ``average`` and scikit-learn's metrics do).
    Refused wherever the total is known on the host without a torch read (NumPy, a CPU tensor's
    NumPy view, a concrete JAX array); not checked on an accelerator (a synchronisation) nor
    while JAX or torch.compile trace (no value)."""
    if value_check_mode(denom) != "read":
        return
    view = host_view(denom)
    if float(np.asarray(denom if view is None else view)) == math.inf:
        dtype = str(getattr(denom, "dtype", "float64")).replace("torch.", "")
        raise LossInputError(
            f"sample_weight adds up past the largest {dtype}: a weighted mean divides by that total and "
            "would give 0. Scale the weights down (a common factor leaves the mean unchanged)"
        )


def unit_scale(reduction: str, n: int | tuple[int, ...]) -> float:
    """d(reduced value) / d(value) of an unweighted sample among ``n`` (or the values' shape):
    1 for ``"none"`` and ``"sum"``, ``1/n`` for the means (0 when there are no samples)."""
    if reduction in ("none", "sum"):
        return 1.0
    n = n if isinstance(n, int) else _count(n)
    return 1.0 / n if n else 0.0


def _weighted_scale(weight: Array, unit: float, reduction: str) -> Array:
    """The scale of weighted samples, for every reduction but a weighted mean."""
    return weight if reduction in ("none", "sum") else weight * unit


def _sum(xp: Any, x: Array) -> Array:
    """Total of ``x``; float64 accumulation on the NumPy path and in a CPU graph ``torch.compile``
    traces (Inductor's float32 reductions accumulate lane by lane: compiled means over 3e4 values
    were off by up to 5e-5, eager torch's by 1e-7)."""
    if is_numpy(xp) and x.dtype != xp.float64:
        return xp.astype(xp.sum(x, dtype=xp.float64), x.dtype)
    torch = torch_of(x)
    if torch is not None and x.dtype in (torch.float32, torch.float16, torch.bfloat16) and x.is_cpu and torch_compiling():
        return torch.sum(x, dtype=torch.float64).to(x.dtype)
    return xp.sum(x)


def _weight_total(xp: Any, weight: Array, shape: tuple[int, ...]) -> Array:
    full = xp.broadcast_to(weight, shape) if tuple(weight.shape) != tuple(shape) else weight
    if not is_numpy(xp):  # (no NumPy warning to silence; torch.compile cannot trace errstate)
        return _sum(xp, full)
    with np.errstate(over="ignore"):  # a total past the dtype's range is refused with its reason (see below)
        return _sum(xp, full)


def _sum64(x: np.ndarray) -> float:
    """Total of a NumPy array accumulated in float64, as a Python float."""
    return float(np.add.reduce(x, axis=None, dtype=np.float64))


def _as(total: float, dtype: Any) -> Any:
    """A float64 total as a NumPy scalar of the values' dtype, the way :func:`_sum` returns it
    on the NumPy path (its ``astype``: one rounding from float64, which the scalar type's
    constructor does without ``astype``'s dispatch)."""
    return np.dtype(dtype).type(total)


def finish_unweighted(total: float, n: int, reduction: str, dtype: Any) -> Any:
    """``Totals(total, None, n).finish(reduction, dtype)`` without the record: the reduced value
    of ``n`` unweighted samples summing to ``total`` (a small call's, where the record is most
    of the cost)."""
    return _finish(np, reduction, _as(total, dtype), None, n)


def reduce(xp: Any, values: Array, weight: Array | None, reduction: str, norm: Array | None = None) -> Array:
    """Apply ``weight`` (None or broadcastable to ``values``) and ``reduction`` to per-sample values.
    ``norm`` (None: ``weight``) is the weight whose total a weighted mean divides by, for values
    that already hold their implicit weights (``Loss.weights_in_values``)."""
    weighted = values if weight is None else values * weight
    if reduction == "none":
        return weighted
    denom = None
    norm = weight if norm is None else norm
    if norm is not None and needs_total_weight(reduction):
        denom = _weight_total(xp, norm, tuple(values.shape))
        _refuse_overflowed_total(denom)  # (before the weighted total, whose sum would overflow too)
    return _finish(xp, reduction, _sum(xp, weighted), denom, tuple(values.shape))


def weighted_into(values: np.ndarray, weight: np.ndarray | None, out: np.ndarray) -> None:
    """What :func:`reduce` returns for ``"none"`` (the weighted values), written into ``out``
    (NumPy arrays; a piece of the whole output)."""
    if weight is None:
        np.copyto(out, values)
    else:
        np.multiply(values, weight, out=out)


def derivative_scale(xp: Any, values: Array, weight: Array | None, reduction: str, norm: Array | None = None) -> Any:
    """d(reduced value) / d(per-sample value): broadcastable to ``values`` (``norm`` as in :func:`reduce`)."""
    unit = unit_scale(reduction, tuple(values.shape))
    if not needs_total_weight(reduction) or (weight is None and norm is None):
        return unit if weight is None else _weighted_scale(weight, unit, reduction)
    denom = _weight_total(xp, weight if norm is None else norm, tuple(values.shape))
    _refuse_overflowed_total(denom)
    safe = xp.where(denom == 0, xp.ones_like(denom), denom)
    if weight is None:
        return xp.where(denom == 0, xp.zeros_like(denom), 1.0 / safe)
    return xp.where(denom == 0, xp.zeros_like(weight), weight / safe)


class Totals(NamedTuple):
    """Float64 totals of per-sample values seen in pieces (boxes of the chunked engine, chunks
    of a stream): ``sum_wl`` the total of the weighted values, ``sum_w`` the total weight (None
    when unweighted, or when only a weighted mean would need it and the reduction is another),
    ``n`` the number of samples. Totals of pieces add up with :meth:`combine`.

    >>> import numpy as np
    >>> t = Totals.combine([Totals.of(np.array([1.0, 2.0])), Totals.of(np.array([6.0]))])
    >>> t, float(t.finish("mean", np.float64, np))
    (Totals(sum_wl=9.0, sum_w=None, n=3), 3.0)
    """

    sum_wl: float = 0.0
    sum_w: float | None = None
    n: int = 0

    @classmethod
    def of(cls, values: np.ndarray, weight: np.ndarray | None = None, *, weight_sum: bool = True,
           norm: np.ndarray | None = None) -> Totals:
        """The totals of a NumPy batch of per-sample ``values`` (with ``weight``, None or
        broadcastable to them): sums accumulated in float64. ``weight_sum=False`` leaves the
        total weight out (None): only a weighted mean needs it. ``norm`` (None: ``weight``) is
        the weight whose total is kept, as in :func:`reduce`."""
        norm = weight if norm is None else norm
        total = _sum64(values) if weight is None else _sum64(values * weight)
        if norm is None:
            return cls(total, None, values.size)
        with np.errstate(over="ignore"):  # a total weight past float64 is refused by finish(), with its reason
            wsum = _sum64(np.broadcast_to(norm, values.shape)) if weight_sum else None
        return cls(total, wsum, values.size)

    @classmethod
    def of_weight(cls, weight: np.ndarray, shape: tuple[int, ...]) -> Totals:
        """The total weight (and count) of a NumPy batch of ``shape`` whose values are not
        summed (``sum_wl`` 0): what a weighted mean's derivatives need before any value."""
        return cls(0.0, _sum64(np.broadcast_to(weight, shape)), _count(shape))

    @classmethod
    def combine(cls, parts: Sequence[Sequence[Any]]) -> Totals:
        """The totals of pieces added up, each sum exactly rounded (:func:`math.fsum`), so the
        result does not depend on their order. Unweighted when the first piece is. A piece is a
        Totals or any sequence that starts with a Totals' fields (the engine's box parts)."""
        sum_w = None if parts[0][1] is None else math.fsum([p[1] for p in parts])
        return cls(math.fsum([p[0] for p in parts]), sum_w, sum([p[2] for p in parts]))

    @property
    def total_weight(self) -> float:
        """``sum_w``, or the count when unweighted (every weight 1)."""
        return float(self.n) if self.sum_w is None else self.sum_w

    def finish(self, reduction: str, dtype: Any = np.float64, xp: Any = np) -> Any:
        """The reduced value (``reduction`` other than ``"none"``) as :func:`reduce` gives it,
        the totals cast to ``dtype`` (the values' dtype) first."""
        if reduction == "none":
            raise ValueError("totals have no per-sample values to return for reduction 'none'")
        total = _as(self.sum_wl, dtype)
        denom = None if self.sum_w is None or not needs_total_weight(reduction) else _as(self.sum_w, dtype)
        if denom is not None:
            _refuse_overflowed_total(denom)
        return _finish(xp, reduction, total, denom, self.n)

    def derivative_scale(self, reduction: str, dtype: Any = np.float64) -> Callable[[Any], Any]:
        """What :func:`derivative_scale` gives, for the samples of one piece: a function of the
        piece's weights (a NumPy array broadcastable to its values, or None when unweighted)
        returning d(reduced value) / d(per-sample value) of the whole batch. A weighted mean
        divides by ``sum_w`` cast to ``dtype``; ``sum_wl`` is not read."""
        unit = unit_scale(reduction, self.n)
        if not needs_total_weight(reduction):
            return lambda w: unit if w is None else _weighted_scale(w, unit, reduction)
        denom = None if self.sum_w is None else _as(self.sum_w, dtype)
        if denom is not None:
            _refuse_overflowed_total(denom)

        def scale(w):
            if w is None:
                return unit
            return w / denom if denom != 0 else np.zeros_like(w)

        return scale


def expand_axes(xp: Any, x: Any, axes: Iterable[int], ndim: int) -> Any:
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
