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
from typing import Any, Literal

__all__ = ["Loss", "Boosting", "COMMON_OPTIONS", "Structure", "InputKind"]

COMMON_OPTIONS = ("reduction", "sample_weight", "validate")

Kernel = Callable[..., Any]
Structure = Literal["elementwise", "distribution", "overlap"]
# What y_pred holds: a regression "prediction"; a "probability" (a logit when the loss's
# from_logits / log_input option is set); always a "logit" (a softmax inside the loss); a real
# "score" (margin losses, embeddings).
InputKind = Literal["prediction", "probability", "logit", "score"]


def _no_axes(ndim: int, opts: Mapping[str, Any]) -> tuple[int, ...]:
    return ()


def _unset(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("this Loss record has no such kernel")


@dataclasses.dataclass(frozen=True)
class Boosting:
    """How a loss serves as a gradient-boosting objective (:mod:`losskit.gbdt`)."""

    refused: str = ""  # non-empty: why it cannot be one (the error message says it, with advice)
    labels: Literal["value", "ids", "onehot"] = "value"  # one number per row, or multiclass labels
    softmax: bool = False  # multiclass: the margins enter through a softmax
    start: Literal["newton", "log_odds", "mean", "priors"] = "newton"  # initial score
    requires: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # options it needs (e.g. p=2)


@dataclasses.dataclass(frozen=True)
class Loss:
    """Everything losskit knows about one loss."""

    name: str
    aliases: tuple[str, ...] = ()
    value: Kernel = _unset
    grad: Kernel = _unset
    hess: Kernel = _unset
    prepare: Kernel = _unset
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    structure: Structure = "elementwise"
    task: str = "regression"
    inputs: str = ""  # prose for help texts; code reads input_kind
    summary: str = ""
    # (y_pred.ndim, opts) -> axes of y_pred summed into a sample
    reduced_axes: Callable[[int, Mapping[str, Any]], tuple[int, ...]] = _no_axes
    implicit_weight: Kernel | None = None  # (xp, y_true, y_pred, **opts) -> per-sample weights or None
    doc: str = ""
    input_kind: InputKind = "prediction"
    boosting: Boosting = Boosting()
    # key of this loss's compiled box kernels in losskit.fused (the [fast] extra), if any
    fused: str | None = None
    # Global (axis=None) overlap losses stream through additive sufficient statistics:
    # stats(xp, y_true, y_pred, **opts) -> tuple of arrays whose sums over chunks are exact,
    # from_stats(xp, stats, **opts) -> the loss value from those totals.
    stats: Kernel | None = None
    from_stats: Kernel | None = None
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
    coupled_axes: Callable[[int, Mapping[str, Any]], tuple[int, ...]] = _no_axes
