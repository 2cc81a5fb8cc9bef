"""Chunked, threaded evaluation of any loss on NumPy arrays.

:class:`losskit.api.LossFunction` hands every call whose arrays are NumPy arrays with at least
``threshold`` elements in ``y_pred`` to :func:`run`; every other namespace, and smaller inputs,
take the plain array-API path. The engine knows no loss: it drives the record's own
``prepare``/``value``/``grad``/``hess`` kernels (and ``stats``/``from_stats``) on views of the
inputs, so every loss gets it through one code path.

How a call is evaluated
-----------------------
- **Boxes.** ``y_pred`` is tiled into boxes of about ``chunk`` elements (``configure``). A box
  keeps the loss's reduced axes (``Loss.reduced_axes``: the class axis of a distribution loss,
  the summed axes of an overlap loss) whole, so every box holds whole samples and a per-sample
  value never straddles two boxes. Elementwise and distribution losses are cut along any other
  axis, leading axes first; other losses (overlap: a softmax may couple the classes of a
  sample) only along the leading axis. ``y_true``, the sample weights and the outputs are cut
  the same way (basic slicing: views, no copies).
- **Per box.** ``prepare`` (with the caller's ``validate``: finiteness, ranges and label checks
  run box by box, so validation never allocates a full-size temporary either), then the value
  kernel, or the gradient/Hessian kernels. Values are summed in float64 per box; derivatives
  are multiplied by their reduction scale straight into one preallocated output array, each box
  writing its own slice. Only box-sized temporaries exist, a few per thread.
- **Threads.** Boxes are shared out to ``threads`` workers (the calling thread plus a
  persistent pool; NumPy releases the GIL inside its loops). Box boundaries depend only on
  the shape and ``chunk``, and the box totals are added with :func:`math.fsum` (exactly rounded,
  so order-free), so results do not depend on the thread count.
- **Reductions** follow :mod:`losskit.reductions` exactly (weighted mean ``sum(w l) / sum(w)``,
  class weights and ``ignore_index`` as implicit per-sample weights, ``"none"``, ``"sum"``,
  ``"sum_over_batch_size"``). For a weighted mean the derivative needs the total weight: a
  first pass over the boxes sums it (prepare and weights only), then the derivatives follow.
- **Global overlap losses** (``axis=None``: one value from sums over every element) stream their
  values through the record's ``stats``/``from_stats`` (additive sufficient statistics summed
  in float64). Their derivatives take a second pass when the record has ``stats_grad`` (its
  kernels take the totals as ``stats=``); others, and losses without ``stats``, take the
  plain path.

The engine declines (returns ``None``, and the plain path runs) when the layout does not fit
boxes: a loss marked ``streamable=False``, no axis left to slice, ``y_true``/``sample_weight``
shapes that would need broadcasting (the plain path then raises its usual error), or a box
whose prepared shapes differ from the raw ones. If any box raises, the whole call is re-run on
the plain path, so error messages (counts of NaNs, offending ranges) are exactly the plain
path's, computed over the whole input.

Contract for loss authors: ``prepare`` and the kernels must treat samples independently
(per-element or per-sample checks and transforms, no statistic over the whole batch); a loss
that cannot must set ``streamable=False``.

The kernels receive the namespace the plain path uses (``_xp.namespace``: NumPy's, with a
faster ``where`` and float32 ``log1p``), so per-sample values, gradients and Hessians are the
plain path's own numbers; only the final sums differ, by rounding (float64 box totals
instead of one float64 sum).

Configuration: :func:`configure` (also a context manager) and the environment variables
``LOSSKIT_ENGINE`` (``0`` turns it off), ``LOSSKIT_THREADS``, ``LOSSKIT_CHUNK`` and
``LOSSKIT_THRESHOLD`` read at import. :func:`last_route` says how the calling thread's last
call was evaluated.

Modules: :mod:`.config` (settings, environment, :func:`configure`, the route text),
:mod:`.pool` (threads, allocator tuning), :mod:`.tiling` (boxes and how the inputs follow
them), :mod:`.boxes` (the box route: fused or reference box kernels), :mod:`.stats` (the
statistics route of global losses). Reductions, weights and derivative scales are
:mod:`losskit.reductions`' (:class:`~losskit.reductions.Totals` for box totals).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import fused as _fused
from .._array.xp import is_numpy
from .boxes import DECLINED, one_box, run_boxes, small_call, small_layout
from .config import configure, current, effective, last_route, raw_settings, set_route, settings
from .pool import tune_malloc
from .stats import run_stats
from .tiling import Decline, reduced_axes

__all__ = ["configure", "settings", "raw_settings", "last_route", "run", "accepts", "fuses", "one_box_of", "one_box",
           "DECLINED"]


def accepts(xp: Any, y_pred: Any, rec: Any = None) -> bool:
    """Cheap test: NumPy namespace, engine on, and y_pred at least ``threshold`` elements, or
    any non-empty size when ``rec`` has fused kernels (one compiled box beats the NumPy calls
    of the plain path at every size)."""
    s = current
    if not s["enabled"] or not isinstance(y_pred, np.ndarray) or not is_numpy(xp):
        return False
    if rec is not None and y_pred.size > 0 and s["compiled"] and _fused.covers(rec):
        return True
    threshold = s["threshold"] if s["threshold"] is not None else effective(y_pred.itemsize)["threshold"]
    return y_pred.size >= max(threshold, 1)


def fuses(rec: Any, y_true: Any, y_pred: Any, opts: dict) -> bool:
    """Whether a call on these NumPy arrays with these raw options would take ``rec``'s fused
    kernels (engine and compiled kernels on, a plan for the arrays and options)."""
    s = current
    return bool(s["enabled"] and s["compiled"] and isinstance(y_pred, np.ndarray)
                and _fused.plan(rec, y_true, y_pred, opts) is not None)


def one_box_of(rec: Any, xp: Any, y_true: Any, y_pred: Any, opts: dict, sample_weight: Any,
               reduction: str) -> tuple | None:
    """The layout of the one fused box :func:`run` evaluates this call in (a value, or a value
    with its gradient: :func:`~losskit.engine.boxes.one_box` with the layout's plan, sample count
    and route), or None where ``run`` would take another way. For a memo of small calls' routes
    (``LossFunction._small_call``), which keys it by :func:`raw_settings` too."""
    if not accepts(xp, y_pred, rec) or _declined(rec, opts) is not None:
        return None
    cfg = effective(max(y_pred.itemsize, 4))
    if not _one_box_route(sample_weight, reduction, cfg):
        return None
    tune_malloc()
    return small_layout(rec, xp, y_true, y_pred, opts, cfg)


def _declined(rec: Any, opts: dict) -> str | None:
    """Why :func:`run` declines ``rec`` with these options whatever the inputs, or None."""
    if not rec.streamable:
        return "loss is not streamable"
    if rec.weights_in_values is not None and rec.weights_in_values(opts):
        return "values that hold their own class weights"  # the plain path keeps the two weights apart
    return None


def _one_box_route(sample_weight: Any, reduction: str, cfg: dict) -> bool:
    """Whether :func:`run` tries one fused box first for a value or gradient call
    (:func:`~losskit.engine.boxes.small_call`)."""
    return sample_weight is None and reduction != "none" and cfg["compiled"]


def run(rec: Any, xp: Any, y_true: Any, y_pred: Any, opts: dict, sample_weight: Any, reduction: str,
        validate: bool | str, order: int, with_value: bool = False, threads: int | None = None) -> Any:
    """Evaluate ``rec`` chunk-wise: the reduced value (order 0), the gradient (1) or
    ``(gradient, Hessian)`` (2), exactly as ``LossFunction`` would; ``with_value`` returns
    ``(value, derivatives)`` from the same boxes (one pass, one validation). ``threads``: at most
    that many workers (a torch call's: torch's own setting). ``None`` to decline."""
    try:
        tune_malloc()
        reason = _declined(rec, opts)
        if reason is not None:
            raise Decline(reason)
        cfg = effective(max(y_pred.itemsize, 4))
        if threads is not None and threads < cfg["threads"]:
            cfg = {**cfg, "threads": max(threads, 1)}  # (effective's dict is shared: a copy)
        if order < 2 and _one_box_route(sample_weight, reduction, cfg):
            out = small_call(rec, xp, y_true, y_pred, opts, reduction, order, with_value, cfg)
            if out is not DECLINED:
                return out
        if y_pred.ndim == 0:
            raise Decline("a 0-d y_pred")
        reduced = reduced_axes(rec, xp, y_true, y_pred, opts)
        if len(reduced) == y_pred.ndim:
            if rec.stats is None or rec.from_stats is None:
                raise Decline("one sample spans every axis and the loss has no stats")
            if order and not (rec.stats_grad and rec.vjp):
                raise Decline("derivatives of a global loss without stats_grad need the whole array")
            return run_stats(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, cfg, order, with_value)
        return run_boxes(rec, xp, y_true, y_pred, opts, sample_weight, reduction, validate, order, with_value,
                         reduced, cfg)
    except Decline as e:
        set_route(f"plain: {e}")
        return None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - the plain path raises its own (whole-array) error
        set_route(f"plain: a box raised {type(e).__name__}")
        return None
