"""The :class:`Loss` record: everything losskit knows about one loss, and nothing that runs it.

A loss is small pure kernels on per-sample values plus traits:

- ``prepare(xp, y_true, y_pred, opts, validate)`` checks and canonicalises the inputs and
  options (dtype, label conventions, label smoothing, ...) and returns them;
- ``value(xp, y_true, y_pred, **opts)`` the per-sample losses;
- ``grad`` / ``hess`` the derivative / Hessian diagonal of ``sum(per-sample losses)``
  with respect to ``y_pred``, shaped like ``y_pred``.

The traits tell the rest of the package what it needs without a table of names: how samples
are formed (``structure``, ``reduced_axes``), what the prediction is (``input_kind``), how
the loss serves gradient boosting (``gbdt``), which compiled kernel may run it (``fused``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Loss", "COMMON_OPTIONS"]

COMMON_OPTIONS = ("reduction", "sample_weight", "validate")


def _no_axes(ndim, opts):
    return ()


@dataclasses.dataclass(frozen=True)
class Loss:
    """Everything losskit knows about one loss."""

    name: str
    aliases: tuple = ()
    value: Callable = None
    grad: Callable = None
    hess: Callable = None
    prepare: Callable = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    structure: str = "elementwise"  # "elementwise" | "distribution" | "overlap"
    task: str = "regression"
    inputs: str = ""
    summary: str = ""
    reduced_axes: Callable = _no_axes  # (y_pred.ndim, opts) -> axes of y_pred summed into a sample
    implicit_weight: Callable | None = None  # (xp, y_true, y_pred, **opts) -> per-sample weights or None
    doc: str = ""
    # Global (axis=None) overlap losses stream through additive sufficient statistics:
    # stats(xp, y_true, y_pred, **opts) -> tuple of arrays whose sums over chunks are exact,
    # from_stats(xp, stats, **opts) -> the loss value from those totals.
    stats: Callable | None = None
    from_stats: Callable | None = None
    # True: grad/hess accept ``stats=`` (those totals over the whole input) and then use them
    # instead of their own inputs' sums, so a global loss is differentiated box by box.
    stats_grad: bool = False
    streamable: bool = True  # False: the loss cannot be evaluated chunk by chunk (says why in docs)
    # True: grad/hess take ``cotangent=`` (d reduced value / d per-sample value, shaped like the
    # values) and return the vector-Jacobian product. Needed where per-sample values share
    # y_pred entries (a softmax over a class axis that is not summed couples the classes of a
    # pixel), so scaling each sample's own derivative by its weight would be wrong.
    vjp: bool = False
    # (y_pred.ndim, raw opts) -> axes, not summed, along which one sample's value reads other
    # samples' entries (a softmax's class axis); the chunked engine never cuts them.
    coupled_axes: Callable = _no_axes
