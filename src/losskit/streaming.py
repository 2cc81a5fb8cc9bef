"""Streaming evaluation: accumulate a loss over chunks of data, merge partial results.

An :class:`Accumulator` keeps *sums*, never means: the total of ``w * l`` over every
per-sample loss ``l`` seen so far, the total weight ``sum(w)`` and the number of per-sample
values, each in float64 with a compensated (Neumaier) running sum. So the result of any
chunking, and of merging accumulators fed on different workers, equals the one-shot call
``loss(y_true, y_pred, sample_weight=w)`` to about 1e-15 relative.

Losses that reduce the batch axis itself into one value (Dice with ``axis=None``: one
global score over every element) cannot be split into per-sample values; when their record
provides additive sufficient statistics (``stats`` / ``from_stats``, e.g. the global
intersection and sums of Dice) the accumulator sums those instead. A loss that has neither
(Lovasz: it sorts all errors globally) raises :class:`losskit.LossInputError` saying so.

>>> import numpy as np, losskit as lk
>>> acc = lk.Accumulator("mse")
>>> acc.update(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
>>> acc.update(np.array([3.0]), np.array([5.0]))
>>> acc.result(), float(lk.mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 5.0])))
(1.4166666666666667, 1.4166666666666667)
"""

from __future__ import annotations

import json
import numbers
from typing import Any

import numpy as np

from . import reductions as _red
from ._array.validate import LossInputError
from ._array.xp import is_lazy, namespace
from .api import BoundCall, LossFunction
from .spec import COMMON_OPTIONS

__all__ = ["Accumulator"]

_STATE_VERSION = 1
_RESULT_REDUCTIONS = ("mean", "sum", "sum_over_batch_size")


# -- float64 compensated sums -----------------------------------------------------------
class _Sum:
    """A float64 running sum (scalar or array) with Neumaier compensation."""

    __slots__ = ("s", "c")

    def __init__(self, s=0.0, c=0.0):
        self.s = np.asarray(s, dtype=np.float64)
        self.c = np.asarray(c, dtype=np.float64)

    def add(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self.s.shape != x.shape and self.s.ndim and x.ndim:
            raise LossInputError(f"statistics of shape {x.shape} cannot be added to running ones of shape {self.s.shape}")
        s = self.s
        t = s + x
        with np.errstate(invalid="ignore", over="ignore"):
            comp = np.where(np.abs(s) >= np.abs(x), (s - t) + x, (x - t) + s)
        # keep inf/nan totals honest: compensation only for finite sums
        self.c = self.c + np.where(np.isfinite(t), comp, 0.0)
        self.s = t

    def merge(self, other: _Sum):
        self.add(other.s)
        self.c = self.c + other.c

    @property
    def value(self):
        return self.s + self.c

    def to_json(self):
        return [self.s.tolist(), self.c.tolist()]

    @classmethod
    def from_json(cls, data):
        s, c = data
        return cls(np.asarray(s, dtype=np.float64), np.asarray(c, dtype=np.float64))


def _host64(x) -> np.ndarray:
    """``x`` (an array of any supported library) as a float64 NumPy array on the host."""
    if isinstance(x, np.ndarray) or isinstance(x, numbers.Real):
        return np.asarray(x, dtype=np.float64)
    if is_lazy(x):
        x = x.compute()
    if hasattr(x, "detach"):  # torch
        x = x.detach()
        if x.dtype.is_floating_point and x.element_size() < 4:
            x = x.float()
        return x.cpu().numpy().astype(np.float64, copy=False)
    if hasattr(x, "__cuda_array_interface__") and hasattr(x, "get"):  # cupy
        return np.asarray(x.get(), dtype=np.float64)
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        return np.asarray(np.from_dlpack(x), dtype=np.float64)


def _jsonable(value, name):
    """An option value as plain JSON data (arrays become lists)."""
    if isinstance(value, np.ndarray) or hasattr(value, "__array_namespace__") or hasattr(value, "detach"):
        value = _host64(value).tolist()
    elif isinstance(value, tuple):
        value = [_jsonable(v, name) for v in value]
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        raise LossInputError(
            f"option {name}={value!r} cannot be stored in an accumulator's JSON state; use to_dict() only "
            "with plain (number, string, list) options, or pickle the accumulator"
        ) from None
    return value


class Accumulator:
    """The streaming form of a loss: ``update()`` it chunk by chunk, ``result()`` at the end.

    ``Accumulator(loss, **options)``: ``loss`` is a name or alias (``"bce"``), or a
    :class:`losskit.LossFunction` (``lk.get(...)``, ``lk.binary_cross_entropy``); ``options``
    are the loss's keyword options (``from_logits=True``, ``validate=False``, ...). Chunks are
    slices along axis 0 (rows) of the arrays you would pass to the loss in one call.

    - ``update(y_true, y_pred, sample_weight=None)``: add a chunk; ``sample_weight`` takes the
      forms the loss accepts (per row, or broadcasting with the loss's shape).
    - ``merge(other)``: add another accumulator of the same loss and options (in place).
    - ``result(reduction="mean")``: the value the one-shot call would return, as a float:
      ``"mean"`` is ``sum(w l) / sum(w)`` (0 when the total weight is 0), ``"sum"`` is
      ``sum(w l)``, ``"sum_over_batch_size"`` is ``sum(w l) / n``.
    - ``to_dict()`` / ``Accumulator.from_dict(d)``: the state as JSON data; accumulators also
      pickle.

    >>> import numpy as np, losskit as lk
    >>> y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.9, 0.2, 0.6, 0.1])
    >>> a, b = lk.Accumulator("bce"), lk.Accumulator("bce")
    >>> a.update(y[:3], p[:3]); b.update(y[3:], p[3:])
    >>> a.merge(b).result() == float(lk.bce(y, p))
    True
    """

    def __init__(self, loss, **options):
        if isinstance(loss, LossFunction):
            fn = loss
        else:
            from .registry import get

            fn = get(loss)
        if options:
            fn = fn.configured(**options)
        rec = fn.record
        if not rec.streamable:
            raise LossInputError(
                f"{rec.name} cannot be evaluated in a stream: its value is not a sum of per-sample losses and has "
                "no additive statistics (it ranks or sorts all errors of the whole input at once), so chunks cannot "
                f"be combined; call losskit.{rec.name}(y_true, y_pred) on the whole arrays instead"
            )
        bound = dict(fn.bound)
        if "sample_weight" in bound:
            raise LossInputError("an Accumulator takes sample_weight in update(), not as a bound option")
        reduction = bound.pop("reduction", "mean")
        self._check_reduction(reduction)
        self._fn = LossFunction(rec, bound)
        self._reduction = reduction
        self._mode = None  # None until the first update, then "samples" or "stats"
        self._ndim = None
        self._sum_wl = _Sum()
        self._sum_w = _Sum()
        self._count = 0
        self._rows = 0
        self._stats: list[_Sum] | None = None  # list of _Sum in "stats" mode
        self._stats_weight: np.ndarray | None = None  # implicit per-score weights in "stats" mode
        self._shapes: list[list[int]] | None = None  # trailing shapes of (y_true, y_pred) in "stats" mode

    # -- introspection -----------------------------------------------------------------
    @property
    def loss(self) -> LossFunction:
        return self._fn

    @property
    def name(self) -> str:
        return self._fn.record.name

    @property
    def options(self) -> dict:
        return dict(self._fn.bound)

    @property
    def rows(self) -> int:
        """Rows (entries along axis 0) seen so far."""
        return self._rows

    @property
    def count(self) -> int:
        """Per-sample loss values seen so far (the ``n`` of ``sum_over_batch_size``)."""
        return self._count

    @property
    def total_weight(self) -> float:
        return float(self._sum_w.value)

    @property
    def mode(self):
        """``"samples"`` (sums of per-sample values), ``"stats"`` (global statistics) or None (no data yet)."""
        return self._mode

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self._fn.bound.items())
        return f"<losskit Accumulator {self.name}({opts}) rows={self._rows}>"

    # -- accumulation ------------------------------------------------------------------
    @staticmethod
    def _check_reduction(reduction):
        if reduction not in _RESULT_REDUCTIONS:
            raise LossInputError(
                f"an Accumulator's reduction must be one of {', '.join(map(repr, _RESULT_REDUCTIONS))}; got "
                f"{reduction!r} (per-sample values are not kept when streaming)"
            )

    def update(self, y_true, y_pred, sample_weight=None, **chunk_options):
        """Add one chunk (rows of ``y_true``/``y_pred`` along axis 0).

        ``chunk_options`` are data-shaped options sliced with the chunk (e.g. gaussian_nll's
        per-element ``var=var[lo:hi]``); options that hold for every chunk belong in the
        constructor."""
        rec = self._fn.record
        for k in chunk_options:
            if k in COMMON_OPTIONS:
                raise LossInputError(f"update() takes sample_weight as its own argument; {k!r} is not a per-chunk option")
        ndim = len(getattr(y_pred, "shape", np.shape(y_pred)))
        if self._ndim is not None and ndim != self._ndim:
            raise LossInputError(
                f"every chunk must have the same number of dimensions; got y_pred with {ndim} after {self._ndim}"
            )
        early = self._axes_hint(ndim, chunk_options)
        if early is not None and 0 in early:
            self._check_global(early, sample_weight)
        kwargs = dict(chunk_options)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        call = self._fn.bind(y_true, y_pred, **kwargs)
        ndim = call.y_pred.ndim
        axes = tuple(int(a) % ndim for a in rec.reduced_axes(ndim, call.opts)) if ndim else ()
        if 0 in axes:
            self._check_global(axes, sample_weight)
            self._update_stats(call)
            mode = "stats"
        else:
            vals = _host64(call.values)
            w = None if call.weight is None else np.broadcast_to(_host64(call.weight), vals.shape)
            norm = None if call.norm is None else np.broadcast_to(_host64(call.norm), vals.shape)
            totals = _red.Totals.of(vals, w, norm=norm)
            self._sum_wl.add(totals.sum_wl)
            self._sum_w.add(totals.total_weight)
            self._count += totals.n
            mode = "samples"
        self._mode = mode
        self._ndim = ndim
        self._rows += int(call.y_pred.shape[0]) if ndim else 1

    def _axes_hint(self, ndim, chunk_options):
        """The reduced axes from the raw options (before preparing the data), or None when the
        record needs prepared options to tell."""
        if not ndim:
            return ()
        rec = self._fn.record
        opts = {**rec.options, **{k: v for k, v in self._fn.bound.items() if k not in COMMON_OPTIONS},
                **chunk_options}
        try:
            return tuple(int(a) % ndim for a in rec.reduced_axes(ndim, opts))
        except Exception:  # noqa: BLE001 - raw options may not be in the form the record expects
            return None

    def _check_global(self, axes, weight):
        rec = self._fn.record
        if rec.stats is None or rec.from_stats is None:
            raise LossInputError(
                f"{rec.name} with these options reduces axis 0 (axes {axes} of y_pred) into each value, so rows "
                "are not independent samples and chunks along axis 0 cannot be combined; move the class/summed "
                "axes off axis 0 (e.g. axis=-1), or evaluate the whole arrays in one call"
            )
        if weight is not None:
            raise LossInputError(
                f"{rec.name} with these options is one global value over all rows; sample_weight does not apply "
                "(pass an axis that keeps axis 0 to weight samples)"
            )

    def _update_stats(self, call: BoundCall) -> None:
        rec = self._fn.record
        # (rec.stats is set: _check_global said so)
        stats = tuple(_host64(s) for s in rec.stats(call.xp, call.y_true, call.y_pred, **call.opts))  # type: ignore[misc]
        shapes = [list(call.y_true.shape[1:]), list(call.y_pred.shape[1:])]
        # implicit per-score weights (class_weight, include_background): the same for every chunk
        weight = None if call.weight is None else np.broadcast_to(_host64(call.weight), call.values.shape)
        if self._stats is None:
            self._stats = [_Sum(np.zeros_like(s)) for s in stats]
            self._shapes = shapes
            self._stats_weight = weight
        else:
            if len(stats) != len(self._stats) or shapes != self._shapes:
                raise LossInputError(
                    f"every chunk must have the same shape after axis 0; got y_true {tuple(shapes[0])}, y_pred "
                    f"{tuple(shapes[1])} after y_true {tuple(self._shapes[0])}, y_pred {tuple(self._shapes[1])}"  # type: ignore[index]
                )
            if not _same_weight(weight, self._stats_weight):
                raise LossInputError(
                    f"{rec.name}: the per-score weights (class weights) differ between chunks, so their global "
                    "statistics cannot be combined"
                )
        for acc, s in zip(self._stats, stats):
            acc.add(s)
        self._count = 1

    def merge(self, other: Accumulator) -> Accumulator:
        """Add ``other``'s totals into this accumulator (same loss and options); returns ``self``."""
        if not isinstance(other, Accumulator):
            raise LossInputError(f"merge() takes an Accumulator; got {type(other).__name__}")
        if other.name != self.name or _canon(other._fn.bound) != _canon(self._fn.bound):
            raise LossInputError(
                f"cannot merge an accumulator of {other.name}({_canon(other._fn.bound)}) into one of "
                f"{self.name}({_canon(self._fn.bound)}): loss and options must match"
            )
        if other._mode is None:
            return self
        if self._mode is None:
            self._mode, self._ndim, self._shapes = other._mode, other._ndim, other._shapes
        elif other._mode != self._mode or other._ndim != self._ndim or other._shapes != self._shapes:
            raise LossInputError("cannot merge accumulators fed with arrays of different dimensions or shapes")
        self._sum_wl.merge(other._sum_wl)
        self._sum_w.merge(other._sum_w)
        if other._stats is not None:
            if self._stats is None:
                self._stats = [_Sum(np.zeros_like(s.s)) for s in other._stats]
                self._stats_weight = other._stats_weight
            elif not _same_weight(self._stats_weight, other._stats_weight):
                raise LossInputError("cannot merge accumulators whose per-score (class) weights differ")
            for mine, theirs in zip(self._stats, other._stats):
                mine.merge(theirs)
        self._count = 1 if self._mode == "stats" else self._count + other._count
        self._rows += other._rows
        return self

    def __iadd__(self, other):
        return self.merge(other)

    # -- result ------------------------------------------------------------------------
    def result(self, reduction: str | None = None) -> float:
        """The reduced loss over everything seen (0.0 before any data, as the one-shot call on empty input)."""
        reduction = self._reduction if reduction is None else reduction
        self._check_reduction(reduction)
        if self._mode is None:
            return 0.0
        if self._mode == "stats":
            return self._stats_value(reduction)
        return float(self._totals().finish(reduction))

    def _totals(self) -> _red.Totals:
        """Everything seen in "samples" mode as totals (the total weight counts 1 per unweighted value)."""
        return _red.Totals(float(self._sum_wl.value), float(self._sum_w.value), self._count)

    def _stats_value(self, reduction) -> float:
        """The scores from the summed statistics, reduced as the one-shot call reduces them
        (one global score, or one per class when only the batch and spatial axes are summed)."""
        rec = self._fn.record
        xp = namespace(np.empty(0))
        opts = self._numpy_opts(xp)
        totals = tuple(s.value for s in self._stats)  # type: ignore[union-attr]
        values = np.asarray(_host64(rec.from_stats(xp, totals, **opts)))  # type: ignore[misc]
        weight = self._stats_weight
        if weight is not None:
            weight = np.broadcast_to(weight, values.shape)
        return float(_red.reduce(xp, values, weight, reduction))

    def _numpy_opts(self, xp):
        """The loss's prepared options for NumPy, rebuilt from the bound options and the
        recorded trailing shapes (so a state restored from JSON needs no data)."""
        rec = self._fn.record
        opts = {**rec.options, **{k: v for k, v in self._fn.bound.items() if k not in COMMON_OPTIONS}}
        yt = np.zeros([1, *self._shapes[0]])  # type: ignore[index]
        yp = np.zeros([1, *self._shapes[1]])  # type: ignore[index]
        _, _, prepared = rec.prepare(xp, yt, yp, opts, False)
        return prepared

    # -- state -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The accumulator's state as JSON-able data; :meth:`from_dict` restores it."""
        return {
            "version": _STATE_VERSION,
            "loss": self.name,
            "options": {k: _jsonable(v, k) for k, v in self._fn.bound.items()},
            "reduction": self._reduction,
            "mode": self._mode,
            "ndim": self._ndim,
            "sum_wl": self._sum_wl.to_json(),
            "sum_w": self._sum_w.to_json(),
            "count": self._count,
            "rows": self._rows,
            "stats": None if self._stats is None else [s.to_json() for s in self._stats],
            "shapes": self._shapes,
            "stats_weight": None if self._stats_weight is None else self._stats_weight.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Accumulator:
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise LossInputError(f"not an Accumulator state (version {_STATE_VERSION}); got {str(state)[:80]!r}")
        opts = dict(state.get("options") or {})
        if state.get("reduction", "mean") != "mean":
            opts["reduction"] = state["reduction"]
        acc = cls(state["loss"], **opts)
        acc._mode = state["mode"]
        acc._ndim = state["ndim"]
        acc._sum_wl = _Sum.from_json(state["sum_wl"])
        acc._sum_w = _Sum.from_json(state["sum_w"])
        acc._count = int(state["count"])
        acc._rows = int(state["rows"])
        acc._stats = None if state["stats"] is None else [_Sum.from_json(s) for s in state["stats"]]
        acc._shapes = state["shapes"]
        sw = state.get("stats_weight")
        acc._stats_weight = None if sw is None else np.asarray(sw, dtype=np.float64)
        return acc

    def __getstate__(self):
        return {"fn": self._fn, "reduction": self._reduction, "state": self._raw_state()}

    def _raw_state(self):
        return {
            "mode": self._mode, "ndim": self._ndim, "sum_wl": self._sum_wl, "sum_w": self._sum_w,
            "count": self._count, "rows": self._rows, "stats": self._stats, "shapes": self._shapes,
            "stats_weight": self._stats_weight,
        }

    def __setstate__(self, data):
        self._fn = data["fn"]
        self._reduction = data["reduction"]
        st = data["state"]
        self._mode, self._ndim = st["mode"], st["ndim"]
        self._sum_wl, self._sum_w = st["sum_wl"], st["sum_w"]
        self._count, self._rows = st["count"], st["rows"]
        self._stats, self._shapes = st["stats"], st["shapes"]
        self._stats_weight = st.get("stats_weight")


def _same_weight(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _canon(bound):
    """Options in a comparable form (arrays as lists)."""
    out = {}
    for k, v in sorted(bound.items()):
        if isinstance(v, np.ndarray) or hasattr(v, "__array_namespace__") or hasattr(v, "detach"):
            v = _host64(v).tolist()
        out[k] = v
    return out


def rows_fail(fn, y, p, w, lo, hi) -> bool:
    """True when rows ``lo:hi`` alone make ``fn`` raise LossInputError (rows ``0:0``: an
    option or the arrays' shapes, not a value). A slice the loss cannot take is no answer."""
    try:
        kw = {} if w is None else {"sample_weight": w[lo:hi]}
        fn.per_sample(y[lo:hi], p[lo:hi], **kw)
    except LossInputError:
        return True
    except Exception:  # noqa: BLE001 - a slice the loss cannot take is not a location
        return False
    return False


def first_bad_row(fn, y, p, w=None):
    """The first row whose values make ``fn`` raise on their own, by bisection, or None (a
    check that spans rows, a shape or option problem, or fewer than two rows)."""
    n = len(p)
    if n <= 1 or rows_fail(fn, y, p, w, 0, 0) or not rows_fail(fn, y, p, w, 0, n):
        return None
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        if rows_fail(fn, y, p, w, 0, mid):
            hi = mid
        else:
            lo = mid + 1
    return lo - 1 if rows_fail(fn, y, p, w, lo - 1, lo) else None
