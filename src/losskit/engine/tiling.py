"""Cutting a call into boxes: which axes of ``y_pred`` a box may cut, the boxes themselves
(:class:`Tiling`), the wider boxes of a fused plan and the normal-sized pieces the reference
kernels take them in, and how ``y_true`` and the sample weights follow a box of ``y_pred``.
:class:`Decline` says the layout does not fit boxes."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import reductions as _red
from .._memo import remembered
from .config import chunked_route

__all__ = [
    "Decline", "Tiling", "FUSED_WIDTH", "widened", "tiled", "pieces", "free_axes", "axes", "reduced_axes", "drop",
    "values_shape", "true_slicer", "weight_slicer",
]

Box = tuple[slice, ...]

# Boxes of a fused plan are this many times wider: its kernels hold no box-sized temporaries
# (the reference runs a box the plan declines in normal-sized pieces), so wider boxes only
# save per-box costs (MSE at 1e7 float32 on 2 threads: 1.78 -> 1.66 ms, value and gradient
# 7.0 -> 5.7 ms measured).
FUSED_WIDTH = 4


class Decline(Exception):
    """The layout does not fit boxes: take the plain path."""


class Tiling:
    """Boxes (tuples of slices) that tile an array of ``shape``, splitting only the ``free`` axes.

    Free axes are split outermost first: the free axes before the split axis take one index
    per box, the split axis a range of ``step`` indices, and every other axis (reduced or not
    splittable) is whole, so a box holds ``step * inner <= chunk`` elements (or one row when a
    single row is larger).
    """

    def __init__(self, shape: Sequence[int], free: Sequence[int], chunk: int) -> None:
        self.shape = shape = tuple(shape)
        self.count = 0
        if not free:
            return
        pos = len(free) - 1
        for k in range(len(free)):
            if math.prod(shape[a] for a in range(len(shape)) if a not in free[: k + 1]) <= chunk:
                pos = k
                break
        self.axis = free[pos]
        self.outer = free[:pos]
        inner = math.prod(shape[a] for a in range(len(shape)) if a not in free[: pos + 1])
        n = shape[self.axis]
        pieces = -(-n // max(1, chunk // max(inner, 1))) if n else 1
        self.step = -(-n // pieces) if n else 1  # balanced: box sizes differ by at most one index
        self.per_row = -(-n // self.step) if n else 0
        self.count = math.prod(shape[a] for a in self.outer) * self.per_row

    @functools.cached_property
    def one_box_route(self) -> str:
        """The route text of a call in this tiling's one box, all through a fused plan."""
        return chunked_route(1, self.step, self.axis, 1, ", compiled")

    def box(self, i: int) -> Box:
        q, r = divmod(i, self.per_row)
        idx = np.unravel_index(q, tuple(self.shape[a] for a in self.outer)) if self.outer else ()
        sl = [slice(None)] * len(self.shape)
        for a, j in zip(self.outer, idx):
            sl[a] = slice(int(j), int(j) + 1)
        start = r * self.step
        sl[self.axis] = slice(start, min(start + self.step, self.shape[self.axis]))
        return tuple(sl)


def widened(tiling: Tiling, free: Sequence[int], chunk: int, fused: Any) -> tuple[Tiling, int | None]:
    """``(tiling, ref_step)``: for a fused plan, boxes ``FUSED_WIDTH`` times wider, with the
    normal step the reference kernels take a declined one in (when both tilings cut the same
    axis); otherwise ``tiling`` unchanged and ``None``."""
    if fused is None:
        return tiling, None
    wide = Tiling(tiling.shape, free, chunk * FUSED_WIDTH)
    if wide.axis != tiling.axis or wide.outer != tiling.outer:
        return tiling, None
    return wide, tiling.step


def tiled(shape: tuple[int, ...], free: Sequence[int], chunk: int, fused: bool) -> tuple[int, Tiling, int | None]:
    """``(count, tiling, ref_step)``: the boxes of a call, memoised by its layout (a Tiling
    costs ~2 us, worth keeping for small calls): ``count`` boxes of the normal tiling, and the
    tiling and reference step :func:`widened` gives for a fused plan (``fused``)."""
    return remembered(_tiled, (shape, tuple(free), chunk, fused), _tilings, shape, free, chunk, fused)


def _tilings(shape: tuple[int, ...], free: Sequence[int], chunk: int, fused: bool) -> tuple[int, Tiling, int | None]:
    tiling = Tiling(shape, free, chunk)
    wide, ref_step = widened(tiling, free, chunk, True if fused and tiling.count else None)
    return tiling.count, wide, ref_step


_tiled: dict = {}


def pieces(sl: Box, axis: int, shape: Sequence[int], step: int | None) -> list[Box]:
    """Box ``sl``'s slices as the reference kernels take them: the box itself, or a wide fused
    box cut along ``axis`` into pieces of ``step`` indices (the reference's temporaries are
    box-sized)."""
    if step is None:
        return [sl]
    start, stop, _ = sl[axis].indices(shape[axis])
    return [sl[:axis] + (slice(j, min(j + step, stop)),) + sl[axis + 1:] for j in range(start, stop, step)]


def free_axes(rec: Any, ndim: int, reduced: Sequence[int], opts: Any) -> list[int]:
    """Axes a box may cut. Elementwise and distribution losses couple elements only along
    their reduced axes, so every other axis may be cut; any other loss (overlap) only along
    the leading sample axis, and not even there when the record says that axis couples
    samples (a softmax over a class axis 0 that is not summed)."""
    if rec.structure in ("elementwise", "distribution"):
        return [a for a in range(ndim) if a not in reduced]
    coupled = {int(a) % ndim for a in rec.coupled_axes(ndim, opts)} if ndim else set()
    return [0] if ndim and 0 not in reduced and 0 not in coupled else []


def axes(rec: Any, ndim: int, opts: Any) -> tuple[int, ...]:
    """The record's reduced axes as a sorted tuple of non-negative ints."""
    return tuple(sorted({int(a) % ndim for a in rec.reduced_axes(ndim, opts)})) if ndim else ()


def reduced_axes(rec: Any, xp: Any, y_true: Any, y_pred: Any, opts: Any) -> tuple[int, ...]:
    """Reduced axes from the raw options, or, where the record reads them from prepared
    options, from ``prepare`` (without validation) on the first leading index only."""
    try:
        return axes(rec, y_pred.ndim, opts)
    except Exception:  # noqa: BLE001 - the record needs prepared options
        if y_true is not None and (y_true.ndim == 0 or y_true.shape[0] != y_pred.shape[0]):
            raise Decline("y_true's leading axis differs from y_pred's") from None
        _, yp, o = rec.prepare(xp, None if y_true is None else y_true[:1], y_pred[:1], dict(opts), False)
        return axes(rec, yp.ndim, o)


def drop(sl: Box, axes: Sequence[int]) -> Box:
    """``sl`` without the entries of ``axes``."""
    return tuple(s for a, s in enumerate(sl) if a not in axes)


def values_shape(shape: Sequence[int], reduced: Sequence[int]) -> tuple[int, ...]:
    """The per-sample values' shape: ``shape`` less the reduced axes."""
    return tuple(n for a, n in enumerate(shape) if a not in reduced)


def true_slicer(y_true: Any, shape: tuple[int, ...], reduced: Sequence[int], tiling: Tiling) -> Callable[[Box], Any]:
    """How to cut y_true for a box of y_pred: by its leading axis when only that axis is cut;
    else with y_pred's axes (reduced ones may have size 1) or without the reduced axes
    (integer labels for class probabilities)."""
    if y_true is None:
        return lambda sl: None
    ts = tuple(y_true.shape)
    if tiling.axis == 0 and not tiling.outer and ts and ts[0] == shape[0]:
        return lambda sl: y_true[sl[:1]]
    if len(ts) == len(shape) and all(t == s or (a in reduced and t == 1) for a, (t, s) in enumerate(zip(ts, shape))):
        return lambda sl: y_true[sl]
    if reduced and ts == values_shape(shape, reduced):
        return lambda sl: y_true[drop(sl, reduced)]
    raise Decline("y_true's shape does not follow y_pred's boxes")


def weight_slicer(sample_weight: Any, vshape: tuple[int, ...]) -> Callable[[Box], Any]:
    """How to cut the raw sample_weight for a box of values (the slices of the values' axes);
    the shape rules are :func:`losskit.reductions.weight_shape`'s (prepare_weight's), and
    prepare_weight still checks every box."""
    w = sample_weight
    if w is None or np.ndim(w) == 0:
        return lambda vsl: w
    w = np.asarray(w)
    target = _red.weight_shape(w.shape, vshape)
    if target is None:
        raise Decline("sample_weight's shape does not follow the boxes")
    w = w.reshape(target)
    return lambda vsl: w[tuple(s if n != 1 else slice(None) for s, n in zip(vsl, w.shape))]
