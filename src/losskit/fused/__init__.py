"""Compiled box kernels for the engine (the optional ``[fast]`` extra: numba).

The engine (:mod:`losskit.engine`) evaluates large NumPy inputs box by box with the losses'
own array-API kernels: one NumPy pass per operation, each with its box-sized temporary. For
the course losses with their common options this package has a fused kernel instead: one
compiled loop per box that reads each input once, checks it, and writes the gradient straight
into the output. Without numba (or with ``LOSSKIT_COMPILED=0`` /
``engine.configure(compiled=False)``) nothing changes: the array-API kernels run. Kernels are
compiled on first use (about a second each) and cached on disk by numba.

The array-API kernels stay the reference. A plan only takes a box it can reproduce, and a
fused kernel only answers for a box whose every element lies in its *domain*: finite values
in the loss's valid range, away from the edge cases the reference handles by clamping (a
probability under its floor, say). Anything else returns ``None`` and the engine runs the
reference kernels on that box, with their validation and their error messages. So the fused
kernels never decide what is an error, and for inputs in their domain they agree with the
reference to rounding (tests/test_fused.py: 1e-6 relative in float32, 1e-12 in float64).

Interface: a record's ``fused`` trait is the key of its planner in the family modules'
``PLANNERS`` (:func:`planners` gathers them): ``planner(y_true, y_pred, opts) -> Plan | None``
(:mod:`.plan`) with the raw options (the record's defaults updated with the caller's, not yet
prepared). It returns ``None`` unless the dtypes, shapes and options are ones its kernels
reproduce exactly. The plan's callables take the box views the engine cuts (``y_true`` as the
engine cuts it for that box):

- ``value(yt, yp) -> float | None``: the float64 sum of the box's per-sample values;
- ``value_grad(yt, yp, g, scale) -> float | None``: also writes ``scale`` times the gradient
  of that sum into ``g`` (a view shaped like ``yp``; partial writes are fine on ``None``);
- global overlap losses: ``stats(yt, yp) -> tuple | None`` (float64 sums, the record's
  ``stats`` order) and ``stats_grad(totals, cotangent) -> write | None``, where
  ``write(yt, yp, g) -> bool`` writes one box's gradient; ``stats_value(totals)``: the loss of
  one sample from its totals (the record's ``from_stats``, bit for bit, in NumPy scalars). With
  ``keeps``, a gradient's first pass is ``stats(yt, yp, g)`` with the box's gradient array
  ``g``: ``stats`` writes work into it (a softmax's exponentials) that ``write`` then reads
  there instead of doing it again, and overwrites.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .plan import Plan, flag, flat

__all__ = ["Plan", "available", "covers", "flag", "flat", "plan", "planners"]


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """numba is importable (the ``[fast]`` extra)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def planners() -> dict:
    """Every planner by kernel key (the records' ``fused`` values); needs numba: the family
    modules are imported here, on first use, not with this package."""
    from . import distribution, elementwise, overlap

    out: dict = {}
    for family in (elementwise, distribution, overlap):
        assert not set(out) & set(family.PLANNERS), "a kernel key used twice"
        out.update(family.PLANNERS)
    return out


def covers(rec) -> bool:
    """Whether ``rec``'s loss has fused kernels (for some options) and numba is installed."""
    return rec.fused is not None and available() and rec.fused in planners()


def plan(rec, y_true, y_pred, opts) -> Plan | None:
    """The fused plan for this call, or None (no numba, no kernel for this loss, or inputs and
    options its kernels do not cover).

    Planners read only the types, dtypes and shapes of the arrays and the options, so their
    answers are memoised by those (options compared by type and value; a call with an
    unhashable option, an array say, asks the planner): a planner costs 2-4 us, a tenth of a
    1e3-element loss, the lookup under 1."""
    if rec.fused is None or not available() or y_pred.dtype not in (np.float32, np.float64):
        return None
    yt = y_true
    key: Any = (rec.fused, type(y_pred), y_pred.dtype, y_pred.shape,
           None if yt is None else (type(yt), getattr(yt, "dtype", None), getattr(yt, "shape", None)),
           tuple(opts.items()), tuple(map(type, opts.values())))
    try:
        return _plans[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable option
        key = None
    planner = planners().get(rec.fused)
    out = None if planner is None else planner(y_true, y_pred, opts)
    if key is not None:
        if len(_plans) >= _PLANS_KEPT:
            _plans.clear()
        _plans[key] = out
    return out


_plans: dict = {}  # plan()'s answers by call signature
_PLANS_KEPT = 256
