"""The box route (elementwise and distribution losses, and overlap losses cut along their
leading axis): every box holds whole samples; its value total, gradient and Hessian come from
a box kernel, and the box totals are reduced by :class:`losskit.reductions.Totals`.

A box kernel's ``run(i) -> Part | None`` evaluates box ``i`` of the job's tiling,
where a ``Part`` is ``(sum_wl, sum_w, n, dtype)``: the box's float64 totals (the fields of a
:class:`~losskit.reductions.Totals`, which :meth:`~losskit.reductions.Totals.combine` adds up)
and the dtype of its values. (A plain tuple: a compiled box costs only a few microseconds of
Python, so it gets no object of its own.)

- :class:`FusedKernel`, a compiled plan of :mod:`losskit.fused`: evaluates the box in one
  loop, writes its gradient straight into the output, and returns its part; ``None``
  declines the box (an element outside the plan's domain).
- :class:`ReferenceKernel`, the record's own kernels: ``prepare`` (with validation), the
  value kernel and the gradient/Hessian kernels on views of the box (a wide fused box in
  normal-sized pieces); it returns the box's part, or ``None`` when there is none to report
  (reduction ``"none"``, or derivatives alone). It never declines: an error raises.

:class:`Job` runs every box through the fused kernel when there is one, and through the
reference kernel where that declines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import fused as _fused
from .. import reductions as _red
from .._memo import remembered
from . import tiling as _tiling
from .config import chunked_route, compiled_note, set_route
from .pool import for_each
from .stats import OneBox, one_box_layout
from .tiling import Decline, axes, drop, free_axes, tiled, true_slicer, values_shape, weight_slicer

__all__ = ["run_boxes", "small_call", "one_box", "DECLINED", "Job", "FusedKernel", "ReferenceKernel"]

Part = tuple[float, "float | None", int, Any]  # a box's Totals fields, then the dtype of its values


def run_boxes(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, with_value, reduced, cfg):
    """The call through boxes of whole samples (a fused plan's where it has one): the reduced
    value, the derivatives, or both, as ``LossFunction`` computes them. Raises :class:`Decline`
    when the layout does not fit boxes."""
    plan = None
    if cfg["compiled"] and order < 2 and sample_weight is None and reduction != "none":
        plan = _fused.plan(rec, y_true, y_pred, opts)
    if plan is None and y_pred.size < max(cfg["threshold"], 1):
        raise Decline("below the threshold, and no fused kernel for this call")
    free = free_axes(rec, y_pred.ndim, reduced, opts)
    count, tiling, ref_step = tiled(y_pred.shape, free, cfg["chunk"], plan is not None)
    if count < (1 if plan is not None else 2):
        raise Decline("fewer than two boxes along the axes that may be cut")
    if plan is not None and tiling.count == 1:
        out = one_box(plan, xp, y_true, y_pred, reduction, order, with_value, *_one_box_layout(y_true, y_pred, reduced, tiling))
        if out is not DECLINED:
            return out
    job = Job(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, reduced, tiling, with_value)
    out, handled = job.execute(cfg["threads"], plan, ref_step)
    set_route(chunked_route(tiling.count, tiling.step, tiling.axis, cfg["threads"],
                            compiled_note(plan, handled, tiling.count)))
    return out


# ---------------------------------------------------------------------------------------
# one box: a small call without the job, box kernels and thread pool
# ---------------------------------------------------------------------------------------
DECLINED: Any = object()  # what one_box returns when the plan declines the box


def one_box(plan, xp, y_true, y_pred, reduction, order, with_value, n, route):
    """A call (order 0 or 1, unweighted, reduced) whose ``n`` samples fit one box of a fused
    plan: what :class:`Job` computes for that box, bit for bit (the box is the whole array and
    its part the only one: ``math.fsum`` of one total is that total), without the job, box
    kernels and thread pool around it (~15 us of a 1e3-element MSE); or, ``plan`` a
    :class:`~losskit.engine.stats.OneBox`, the statistics route's one box. ``DECLINED`` when the
    plan declines the box (an element outside its domain): the job then runs it through the
    reference kernels."""
    if isinstance(plan, OneBox):
        out = plan.run(xp, y_true, y_pred, reduction, order, with_value, route)
        return DECLINED if out is None else out
    dtype = y_pred.dtype
    if order == 0:
        total = plan.value(y_true, y_pred)
        if total is None:
            return DECLINED
        set_route(route)
        return _red.finish_unweighted(total, n, reduction, dtype)
    unit = _red.unit_scale(reduction, n)
    g = np.empty(y_pred.shape, dtype=dtype)
    total = plan.value_grad(y_true, y_pred, g, unit)
    if total is None:
        return DECLINED
    set_route(route)
    return (_red.finish_unweighted(total, n, reduction, dtype), g) if with_value else g


def _one_box_layout(y_true, y_pred, reduced, tiling):
    """``(n, route)`` of a call in the one box of ``tiling``: its sample count and route text.
    Raises :class:`Decline` where the job would (y_true does not follow the box); the job's
    view of y_true in a box of every index holds y_true's elements, so y_true goes as it is."""
    true_slicer(y_true, y_pred.shape, reduced, tiling)
    return math.prod(values_shape(y_pred.shape, reduced)), tiling.one_box_route


def small_call(rec, xp, y_true, y_pred, opts, reduction, order, with_value, cfg):
    """:func:`one_box` for a call (order 0 or 1, unweighted, reduced, compiled kernels on)
    whose layout (:func:`small_layout`) is one box of a fused plan; ``DECLINED`` for any other,
    which then takes :func:`run_boxes`' way."""
    layout = small_layout(rec, xp, y_true, y_pred, opts, cfg)
    if layout is None:
        return DECLINED
    return one_box(layout[1], xp, y_true, y_pred, reduction, order, with_value, layout[2], layout[3])


def small_layout(rec, xp, y_true, y_pred, opts, cfg):
    """``(record, plan, n, route)`` of a call whose samples fit one box of a fused plan (a global
    loss's: a :class:`~losskit.engine.stats.OneBox` as the plan), or None: worked out as ``run``
    and :func:`run_boxes` (or :func:`~losskit.engine.stats.run_stats`) would, once per signature
    (the record, the arrays' types, dtypes and shapes, the options by type and value, and the
    box size)."""
    yt = y_true
    key = (id(rec), type(y_pred), y_pred.dtype, y_pred.shape,
           None if yt is None else (type(yt), yt.dtype, yt.shape),
           tuple(opts.items()), tuple(map(type, opts.values())), cfg["chunk"])
    return remembered(_layouts, key, _small_layout, rec, xp, y_true, y_pred, opts, cfg["chunk"])


_layouts: dict = {}  # small_call's layouts: (record, plan, n, route), or None


def _small_layout(rec, xp, y_true, y_pred, opts, chunk):
    if not rec.streamable or y_pred.ndim == 0:
        return None
    try:
        reduced = axes(rec, y_pred.ndim, opts)
    except Exception:  # noqa: BLE001 - axes from prepared options: run's way
        return None
    if len(reduced) == y_pred.ndim:  # one sample: the statistics route
        layout = one_box_layout(rec, xp, y_true, y_pred, opts, chunk)
        return None if layout is None else (rec, layout[0], 1, layout[1])
    plan = _fused.plan(rec, y_true, y_pred, opts)
    if plan is None:
        return None
    count, tiling, _ = tiled(y_pred.shape, free_axes(rec, y_pred.ndim, reduced, opts), chunk, True)
    if count < 1 or tiling.count != 1:
        return None
    try:
        n, route = _one_box_layout(y_true, y_pred, reduced, tiling)
    except Decline:
        return None
    return rec, plan, n, route  # (the record kept alive: its id stays its own)


class Job:
    """One chunked evaluation over the boxes of a tiling: the inputs cut per box, the outputs
    the boxes write into, and the reduction of their totals. Its box kernels refer to it, not
    it to them (no reference cycle keeps a call's outputs alive after it returns)."""

    def __init__(self, rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, reduced,
                 tiling, with_value=False):
        self.rec, self.xp, self.y_pred, self.opts = rec, xp, y_pred, opts
        self.reduction, self.validate, self.order = reduction, validate, order
        self.reduced, self.tiling = reduced, tiling
        self.vshape = values_shape(y_pred.shape, reduced)
        self.cut_true = true_slicer(y_true, y_pred.shape, reduced, tiling)
        self.cut_weight = weight_slicer(sample_weight, self.vshape)
        self.has_sw = sample_weight is not None
        # the reduction divides by the total weight: box totals keep it, weighted derivatives need it first
        self.weight_sum = _red.needs_total_weight(reduction)
        self.out: list[Any] | None = None  # derivative outputs
        self.vout: np.ndarray | None = None  # per-sample values (reduction "none")
        self.with_value = bool(with_value and order)  # derivative boxes also return their value part
        self.scale: Any = None  # derivatives: d(reduced)/d(per-sample value) of a box's weights

    def output(self, k: int, dtype: Any, shape: tuple[int, ...]) -> None:
        """Allocate output ``k`` on the first box (run before the others, in the caller), or
        check the dtype of one allocated before the boxes."""
        if self.out is None:
            self.out = [None, None]
        if self.out[k] is None:
            self.out[k] = np.empty(shape, dtype=dtype)
        elif self.out[k].dtype != dtype:
            raise Decline("a box's gradient dtype differs from the output's")

    def execute(self, threads: int, plan: _fused.Plan | None = None, ref_step: int | None = None) -> tuple[Any, list]:
        """``(result, boxes the fused plan took)``: every box through the plan's kernel, when
        there is a plan, and through the reference kernel (in pieces of ``ref_step`` indices)
        where that declines."""
        count = self.tiling.count
        reference = ReferenceKernel(self, ref_step)
        if self.order:
            totals, dtype = _red.Totals(n=math.prod(self.vshape)), self.y_pred.dtype
            # (a fused plan implies no weights: its planner accepts only options without implicit ones)
            if (self.weight_sum and plan is None
                    and (self.has_sw or self.rec.implicit_weight is not None)):
                weights = for_each(count, reference.weight_total, threads)
                if weights[0] is not None:  # weighted: the total weight, in the values' dtype
                    totals, dtype = _red.Totals.combine(weights), weights[0][3]
            self.scale = totals.derivative_scale(self.reduction, dtype)
        handled: list[int] = []
        if plan is None:
            parts = for_each(count, reference.run, threads, first_alone=True)
        else:  # fused kernels write gradients in y_pred's dtype: allocated now, no box need run first
            if self.order:
                self.output(0, self.y_pred.dtype, self.y_pred.shape)
            fused = FusedKernel(self, plan)
            parts = for_each(count, _fused_first(fused.run, reference.run), threads)
            handled = fused.handled
        value = None
        if self.order == 0 or self.with_value:
            if self.reduction == "none":
                value = self.vout
            else:
                value = _red.Totals.combine(parts).finish(self.reduction, parts[0][3], self.xp)
        if self.order == 0:
            return value, handled
        derivs = self.out[0] if self.order == 1 else (self.out[0], self.out[1])  # type: ignore[index]
        return ((value, derivs) if self.with_value else derivs), handled


def _fused_first(fused: Callable[[int], Part | None], reference: Callable[[int], Part | None]):
    """What runs box ``i`` through ``fused``, or through ``reference`` where that declines."""
    def box(i: int) -> Part | None:
        part = fused(i)
        return part if part is not None else reference(i)

    return box


class FusedKernel:
    """A fused plan's box kernel: the box's part (its gradient, scaled, written into the
    output), or None when the plan declines the box."""

    def __init__(self, job: Job, plan: _fused.Plan) -> None:
        self.job, self.plan = job, plan
        self.handled: list[int] = []  # the boxes it took
        self.slices, self.cut_true, self.y_pred, self.order = job.tiling.box, job.cut_true, job.y_pred, job.order
        self.dtype = job.y_pred.dtype
        # elements of y_pred per value
        self.per_sample = math.prod([job.y_pred.shape[a] for a in job.reduced]) if job.reduced else 1
        self.unit = job.scale(None) if job.order else None  # (the plans take no weights)

    def run(self, i: int) -> Part | None:
        sl = self.slices(i)
        yt, yp = self.cut_true(sl), self.y_pred[sl]
        if self.order == 0:
            total = self.plan.value(yt, yp)  # type: ignore[misc]
        else:
            job = self.job
            job.output(0, yp.dtype, self.y_pred.shape)
            total = self.plan.value_grad(yt, yp, job.out[0][sl], self.unit)  # type: ignore[index, misc]
        if total is None:
            return None
        self.handled.append(i)
        return total, None, yp.size // self.per_sample, self.dtype


class ReferenceKernel:
    """The record's own kernels on box ``i``: its part, or None when there is none to report."""

    def __init__(self, job: Job, step: int | None) -> None:
        self.job, self.y_pred = job, job.y_pred
        self.step = step  # wide fused boxes: a declined one is run in pieces of this many indices

    def run(self, i: int) -> Part | None:
        parts = self.value_parts(i) if self.job.order == 0 else self.derivative_parts(i)
        if len(parts) == 1 or parts[0] is None:
            return parts[0]
        return (*_red.Totals.combine(parts), parts[0][3])  # type: ignore[arg-type]

    def value_parts(self, i: int) -> list[Part | None]:
        return [self._value_part(*self._prepared(sl, i == 0 and k == 0)[1:]) for k, sl in enumerate(self._pieces(i))]

    def derivative_parts(self, i: int) -> list[Part | None]:
        return [self._deriv_part(sl, i == 0 and k == 0) for k, sl in enumerate(self._pieces(i))]

    def weight_total(self, i: int) -> Part | None:
        """The box's total sample weight (None when unweighted): the first pass of a weighted mean."""
        _, _, vshape, _, yp, _, w = self._prepared(self.job.tiling.box(i), i == 0)
        return None if w is None else (*_red.Totals.of_weight(w, vshape), yp.dtype)

    def _pieces(self, i: int) -> list:
        job = self.job
        return _tiling.pieces(job.tiling.box(i), job.tiling.axis, self.y_pred.shape, self.step)

    def _prepared(self, sl, first=False):
        job = self.job
        rec, xp = job.rec, job.xp
        yp = self.y_pred[sl]
        yt, yp2, o = rec.prepare(xp, job.cut_true(sl), yp, dict(job.opts), job.validate)
        if tuple(yp2.shape) != tuple(yp.shape):
            raise Decline("prepare changed y_pred's shape")
        if first and axes(rec, yp2.ndim, o) != job.reduced:
            raise Decline("the reduced axes depend on prepared options")
        vsl = drop(sl, job.reduced)
        vshape = tuple(len(range(*s.indices(n))) for s, n in zip(vsl, job.vshape))
        w = job.cut_weight(vsl)
        if job.has_sw:
            w = _red.prepare_weight(xp, w, vshape, dtype=yp2.dtype, like=yp2, validate=job.validate)
        if rec.implicit_weight is not None:
            w = _red.combine_weights(w, rec.implicit_weight(xp, yt, yp2, **o))
        return sl, vsl, vshape, yt, yp2, o, w

    def _value_part(self, vsl, vshape, yt, yp, o, w) -> Part | None:
        """The box's values: written into the output (``"none"``) or summed in float64."""
        job = self.job
        vals = job.rec.value(job.xp, yt, yp, **o)
        if tuple(vals.shape) != vshape:
            raise Decline("the value kernel's shape differs from y_pred's less the reduced axes")
        if job.reduction == "none":
            if job.vout is None:
                job.vout = np.empty(job.vshape, dtype=vals.dtype)
            _red.weighted_into(vals, w, job.vout[vsl])
            return None
        return (*_red.Totals.of(vals, w, weight_sum=job.weight_sum), vals.dtype)

    def _deriv_part(self, sl, first) -> Part | None:
        job = self.job
        sl, vsl, vshape, yt, yp, o, w = self._prepared(sl, first)
        scale = job.scale(w)
        xp, rec = job.xp, job.rec
        if getattr(rec, "vjp", False):
            # the kernels take the per-sample cotangent and return the vector-Jacobian product
            ct = xp.broadcast_to(xp.asarray(scale, dtype=yp.dtype), vshape)
            derivs = [rec.grad(xp, yt, yp, cotangent=ct, **o)]
            if job.order == 2:
                derivs.append(rec.hess(xp, yt, yp, cotangent=ct, **o))
            scale = 1.0
        else:
            derivs = [rec.grad(xp, yt, yp, **o)]
            if job.order == 2:
                derivs.append(rec.hess(xp, yt, yp, **o))
            scale = _red.expand_axes(xp, scale, job.reduced, yp.ndim)
        for k, d in enumerate(derivs):
            job.output(k, d.dtype, self.y_pred.shape)
            np.multiply(d, scale, out=job.out[k][sl])  # type: ignore[index]
        return self._value_part(vsl, vshape, yt, yp, o, w) if job.with_value else None
