"""The statistics route: global losses (one value from sums over every element, e.g. Dice
with ``axis=None``) from additive statistics over boxes of whole leading rows.

Pass one sums each box's ``stats`` (shape kept) in float64, then ``from_stats`` gives the
values once, reduced by :mod:`losskit.reductions`. Records with ``stats_grad`` are then
differentiated in a second pass: each box's gradient (and Hessian) from its own entries and
the totals, written into the preallocated outputs. In both passes a box goes through the
fused plan's kernel when there is one, and through the record's (reference) kernels where
that returns None (declines).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import fused as _fused
from .. import reductions as _red
from .._memo import remembered
from . import tiling as _tiling
from .config import compiled_note, set_route
from .pool import for_each
from .tiling import Decline, Tiling, widened

__all__ = ["run_stats", "StatsJob"]


def run_stats(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, cfg, order=0, with_value=False):
    """A global loss from additive statistics: the reduced value (order 0), the gradient (1) or
    ``(gradient, Hessian)`` (2), or ``(value, derivatives)`` with ``with_value``. Raises
    :class:`Decline` when the layout does not fit."""
    job = StatsJob(rec, xp, y_true, y_pred, opts, validate, cfg, order)
    totals, o, like = job.sum_stats(for_each(job.tiling.count, job.stats_box, cfg["threads"]))
    values = rec.from_stats(xp, totals, **o)
    weight = _red.prepare_weight(xp, sample_weight, values.shape, dtype=values.dtype, like=like, validate=validate)
    value = _red.reduce(xp, values, weight, reduction)
    route = _route(job.tiling.count, cfg["threads"], job.plan, job.handled)
    if not order:
        set_route(route)
        return value
    # d(reduced)/d(per-sample value), as LossFunction computes it; the kernels take it as the cotangent
    scale = _red.derivative_scale(xp, values, weight, reduction)
    ct = xp.broadcast_to(xp.asarray(scale, dtype=values.dtype), values.shape)
    derivs = job.differentiate(totals, ct, cfg["threads"])
    set_route(route + ", two passes")
    return (value, derivs) if with_value else derivs


def one_box_layout(rec, xp, y_true, y_pred, opts, chunk):
    """``(OneBox, route)`` for a call :func:`run_stats` evaluates in one box its fused plan takes
    (order 0 or 1, compiled kernels on), or None: worked out once per signature by
    :func:`~losskit.engine.boxes.small_layout`, so its prepared options must not hold arrays."""
    if rec.stats is None or rec.from_stats is None or not (rec.stats_grad and rec.vjp):
        return None
    if y_true is not None and (y_true.ndim == 0 or y_true.shape[0] != y_pred.shape[0]):
        return None
    plan = _fused.plan(rec, y_true, y_pred, opts)
    if plan is None or plan.stats is None or plan.stats_grad is None:
        return None
    tiling, _ = widened(Tiling(y_pred.shape, [0], chunk), [0], chunk, plan)
    if tiling.count != 1:
        return None
    try:
        o, _, dtypes = corner_prepared(rec, xp, y_true, y_pred, opts)
    except Exception:  # noqa: BLE001 - run's way: the plain path raises its own error
        return None
    if any(isinstance(v, (dict, list)) or hasattr(v, "shape") for v in o.values()):
        return None  # (prepared from this call's values: not the signature's)
    return OneBox(rec, plan, o, dtypes), _route(1, 1, plan, [0])


def _route(count, threads, plan, handled):
    """The statistics route's text (:func:`~losskit.engine.config.last_route`) before its second pass."""
    return f"stats: {count} boxes, {min(threads, count)} thread(s)" + compiled_note(plan, handled, count)


class OneBox:
    """A global loss's call in one box of its fused plan: :func:`run_stats` on that box, bit for
    bit (the same kernels, casts and reductions), without the job around it (a small Dice
    step's Python was twice its kernels)."""

    __slots__ = ("rec", "plan", "opts", "dtypes")

    def __init__(self, rec, plan, opts, dtypes):
        self.rec, self.plan, self.opts, self.dtypes = rec, plan, opts, dtypes

    def run(self, xp, y_true, y_pred, reduction, order, with_value, route):
        """The reduced value (order 0), the gradient (1) or both (``with_value``); ``DECLINED``
        (``None`` here) where the plan declines the box: run_stats then takes it to the reference."""
        plan = self.plan
        # work the two passes share (a softmax), kept in the gradient's array
        g = np.empty(y_pred.shape, dtype=y_pred.dtype) if order else None
        sums = plan.stats(y_true, y_pred, g) if plan.keeps and order else plan.stats(y_true, y_pred)
        if sums is None:
            return None
        totals = tuple(xp.astype(np.asarray(s), dt) for s, dt in zip(sums, self.dtypes))
        value = plan.stats_value(totals) if plan.stats_value is not None else None
        if value is None:
            values = self.rec.from_stats(xp, totals, **self.opts)
            value = _red.reduce(xp, values, None, reduction)
        # else one sample, unweighted: every reduction but "none" (not taken here) is its value
        if not order:
            set_route(route)
            return value
        # d(reduced)/d(value) of the one sample: 1, in the values' dtype (derivative_scale's)
        write = plan.stats_grad(totals, np.asarray(1.0, dtype=np.asarray(value).dtype))
        if write is None or not write(y_true, y_pred, g):
            return None
        set_route(route + ", two passes")
        return (value, g) if with_value else g


def _reference_stats(rec, xp, yt, yp, o):
    if rec.implicit_weight is not None and rec.implicit_weight(xp, yt, yp, **o) is not None:
        raise Decline("a global loss with implicit weights")
    return rec.stats(xp, yt, yp, **o)


def corner_prepared(rec, xp, y_true, y_pred, opts):
    """``(prepared options, prepared y_pred corner, statistics' dtypes)`` of a call whose every
    box the fused plan takes (its float64 sums carry no dtype): the record's ``prepare`` (no
    checks) on one sample, a softmax's coupled class axis whole."""
    coupled = {int(a) % y_pred.ndim for a in rec.coupled_axes(y_pred.ndim, opts)}

    def corner(a):
        return a[tuple(slice(None) if k in coupled else slice(0, 1) for k in range(a.ndim))]

    yt, like, o = rec.prepare(xp, None if y_true is None else corner(y_true), corner(y_pred), dict(opts), False)
    return o, like, _stats_dtypes(rec, xp, opts, yt, like, o)


def _stats_dtypes(rec, xp, opts, yt, yp, o):
    """The dtypes of the record's statistics for prepared inputs like ``yt, yp`` (a corner),
    memoised by the record, the inputs' dtypes and ranks and the options: the reference
    statistics on a corner cost more than a small fused call itself."""
    key: Any = (id(rec), getattr(yt, "dtype", None), yp.dtype, yp.ndim,
                tuple(opts.items()), tuple(map(type, opts.values())))
    return remembered(_dtypes, key, _reference_dtypes, rec, xp, yt, yp, o)


def _reference_dtypes(rec, xp, yt, yp, o):
    return [p.dtype for p in _reference_stats(rec, xp, yt, yp, o)]


_dtypes: dict = {}  # _stats_dtypes' answers


class StatsJob:
    """One global loss over boxes of whole leading rows (a fused plan's boxes are wider; the
    reference kernels take one it declines in normal-sized pieces). The prepared options and
    the statistics' dtypes come from the record's kernels, on box 0 or, when the plan took
    it, on a one-element corner."""

    def __init__(self, rec, xp, y_true, y_pred, opts, validate, cfg, order):
        self.rec, self.xp, self.y_true, self.y_pred, self.opts = rec, xp, y_true, y_pred, opts
        self.validate, self.order = validate, order
        tiling = Tiling(y_pred.shape, [0], cfg["chunk"])
        if y_true is not None and (y_true.ndim == 0 or y_true.shape[0] != y_pred.shape[0]):
            raise Decline("y_true's leading axis differs from y_pred's")
        self.plan = _fused.plan(rec, y_true, y_pred, opts) if cfg["compiled"] and order < 2 else None
        if tiling.count < (1 if self.plan is not None else 2):  # one compiled box beats the plain path too
            raise Decline("fewer than two boxes along the leading axis")
        self.tiling, self.ref_step = widened(tiling, [0], cfg["chunk"], self.plan)  # as the box route
        self.handled: list[int] = []  # boxes the plan took in the first pass
        self.first: tuple | None = None  # (prepared options, prepared y_pred, stats dtypes) of box 0
        # the second pass: the statistics' totals, the values' cotangent, the plan's gradient
        # writer for the boxes it took in the first pass (None: none), the outputs
        self.totals: tuple | None = None
        self.ct: Any = None
        self.write: Any = None
        self.domain: set[int] = set()
        self.out: list[Any] = [None, None]
        if self.plan is not None and self.plan.keeps and order:  # pass one keeps work in the gradient's array
            self.out[0] = np.empty(y_pred.shape, dtype=y_pred.dtype)

    # -- views of a box ---------------------------------------------------------------
    def _raw(self, sl):
        """The views of the inputs for the slices of a box."""
        return sl, None if self.y_true is None else self.y_true[sl[:1]], self.y_pred[sl]

    def _prepared(self, sl, check):
        sl, yt0, yp0 = self._raw(sl)
        yt, yp, o = self.rec.prepare(self.xp, yt0, yp0, dict(self.opts), check)
        if tuple(yp.shape) != tuple(yp0.shape):
            raise Decline("prepare changed y_pred's shape")
        return sl, yt, yp, o

    def _pieces(self, i):
        return _tiling.pieces(self.tiling.box(i), 0, self.y_pred.shape, self.ref_step)

    # -- pass one: statistics ---------------------------------------------------------
    def stats_box(self, i):
        """Box ``i``'s statistics, through the plan's kernel or the reference one where it declines."""
        if self.plan is not None:
            sl, yt, yp = self._raw(self.tiling.box(i))
            kept = self.out[0]
            sums = self.plan.stats(yt, yp) if kept is None else self.plan.stats(yt, yp, kept[sl])  # type: ignore[misc]
            if sums is not None:
                self.handled.append(i)
                return sums
        return self._reference_box_stats(i)

    def _reference_box_stats(self, i):
        parts = []
        for sl in self._pieces(i):
            _, yt, yp, o = self._prepared(sl, self.validate)
            parts.append(_reference_stats(self.rec, self.xp, yt, yp, o))
            if i == 0 and len(parts) == 1:
                self.first = o, yp, [s.dtype for s in parts[0]]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.sum([np.asarray(p[k], dtype=np.float64) for p in parts], axis=0) for k in range(len(parts[0])))

    def sum_stats(self, parts):
        """``(totals, prepared options, prepared y_pred)``: the boxes' statistics summed in
        float64 in box order, each cast to the dtype of the record's own statistics."""
        xp = self.xp
        if self.first is not None:
            o, like, dtypes = self.first
        else:  # every box fused (float64 sums): options and dtypes from the record on one element
            o, like, dtypes = corner_prepared(self.rec, xp, self.y_true, self.y_pred, self.opts)
        if len(parts) == 1:  # one box (a small call): its float64 sums as they are, cast
            return tuple(xp.astype(np.asarray(s), dt) for s, dt in zip(parts[0], dtypes)), o, like
        totals = tuple(
            xp.astype(np.sum(np.stack([np.asarray(p[k], dtype=np.float64) for p in parts]), axis=0), dtypes[k])
            for k in range(len(dtypes))
        )
        return totals, o, like

    # -- pass two: derivatives --------------------------------------------------------
    def differentiate(self, totals, ct, threads):
        """The gradient (or gradient and Hessian) of every box, given the statistics' totals
        and the cotangent ``ct`` of the values."""
        self.totals, self.ct = totals, ct
        if self.handled:  # fused boxes write the gradient in y_pred's dtype (the planners' only ones)
            if self.out[0] is None:
                self.out[0] = np.empty(self.y_pred.shape, dtype=self.y_pred.dtype)
            self.write = self.plan.stats_grad(totals, ct)  # type: ignore[union-attr, misc]
            self.domain = set(self.handled)  # boxes the fused stats took are in its domain
        # with the plan's writer the only output exists: no box need run first
        first_alone = not (self.write is not None and self.order == 1)
        for_each(self.tiling.count, self.grad_box, threads, first_alone=first_alone)
        return self.out[0] if self.order == 1 else (self.out[0], self.out[1])

    def grad_box(self, i):
        """Box ``i``'s derivatives, through the plan's writer or the reference kernels where it declines."""
        if self.write is not None and i in self.domain:
            sl, yt, yp = self._raw(self.tiling.box(i))
            if self.write(yt, yp, self.out[0][sl]):
                return
        self._reference_grad(i)

    def _reference_grad(self, i):
        rec, xp, out = self.rec, self.xp, self.out
        kernels = (rec.grad, rec.hess)[: self.order]
        for piece in self._pieces(i):
            sl, yt, yp, o = self._prepared(piece, False)  # the first pass validated every box
            for k, kernel in enumerate(kernels):
                d = kernel(xp, yt, yp, cotangent=self.ct, stats=self.totals, **o)
                if out[k] is None:  # box 0, alone
                    out[k] = np.empty(self.y_pred.shape, dtype=d.dtype)
                np.copyto(out[k][sl], d)
