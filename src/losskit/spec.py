"""The :class:`Loss` record: everything losskit knows about one loss, and nothing that runs it.

A loss is small pure kernels on per-sample values plus traits:

- ``prepare(xp, y_true, y_pred, opts, validate)`` checks and canonicalises the inputs and
  options (dtype, label conventions, label smoothing, ...) and returns them;
- ``value(xp, y_true, y_pred, **opts)`` the per-sample losses;
- ``grad`` / ``hess`` the derivative / Hessian diagonal of ``sum(per-sample losses)``
  with respect to ``y_pred``, shaped like ``y_pred``.

The traits tell the rest of the package what it needs without a table of names: how samples
are formed (``structure``, ``reduced_axes``), what the prediction is (``input_kind``), how
the loss serves gradient boosting (``boosting``), which compiled kernel may run it (``fused``).
tests/test_traits.py checks every registered record's traits against what its kernels do.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ._array.validate import LossInputError

__all__ = ["Loss", "Boosting", "Refusal", "RefusalReason", "COMMON_OPTIONS", "Structure", "InputKind",
           "ArrayLike", "OPTION_TYPES", "ARRAY_OPTIONS", "option_type",
           "option_kind", "SQUARED_OPTIONS"]

COMMON_OPTIONS = ("reduction", "sample_weight", "validate")

ArrayLike = Any  # an array of any supported library, a nested list or a number

# The type of each option, by name, for every loss that takes it: one table for the signatures
# (``inspect.signature``, ``help()``, IDE completion) of the loss functions and the classes
# built from them. Options not listed take the type of their default.
OPTION_TYPES: dict[str, Any] = {
    "activation": Literal["sigmoid", "softmax", "tanh"] | None,
    "alpha": float | ArrayLike | None,  # a float, or one weight per class (categorical focal)
    "axis": int | tuple[int, ...] | None,
    "class_axis": int,
    "class_weight": ArrayLike | None,
    "classes": Literal["present", "all"],
    "convention": Literal["crammer_singer", "keras"],
    "epsilon": float | None,
    "form": Literal["negative", "similarity", "distance"],
    "ignore_index": int | None,
    "p": Literal[1, 2],
    "pos_weight": ArrayLike | None,
    "quantile": float | ArrayLike,
    "reduction": Literal["mean", "sum", "none", "sum_over_batch_size"],
    "sample_weight": ArrayLike | None,
    "smooth_dr": float | None,
    "smooth_nr": float | None,
    "validate": bool | Literal["checkify"],  # (the torch and Keras objects take a bool)
    "var": float | ArrayLike,
    "w_type": Literal["square", "simple", "uniform"],
    "weight": ArrayLike | None,
}
# Options that may hold an array (per class, per output): what losskit.torch keeps as buffers.
ARRAY_OPTIONS = frozenset({"alpha", "class_weight", "pos_weight", "quantile", "var", "weight"})


def option_type(name: str, default: Any) -> Any:
    """The annotation of option ``name`` (its default's type when the table has no entry)."""
    if name in OPTION_TYPES:
        return OPTION_TYPES[name]
    return Any if default is None else type(default)

# Options the kernels square (focal's gamma * (gamma - 1) in its Hessian, a squared hinge's
# margin, Dice's smoothing terms in its gradient's denominator): the boundary keeps them below
# the square root of the computation dtype's largest number.
SQUARED_OPTIONS = frozenset({"gamma", "margin", "smooth", "smooth_nr", "smooth_dr"})


MAX_OPTION_CHARS = 100_000  # an option value longer than this is not typed by hand


def option_from_text(text: str) -> Any:
    """An option value written as text (``losskit eval -O``, ``losskit plot NAME:KEY=VALUE``):
    JSON (numbers, true/false/null, lists), else a Python literal (True, None, (1, 2)), else the
    string itself. Text too long or nested too deeply for the parsers raises LossInputError."""
    shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
    if len(text) > MAX_OPTION_CHARS:
        raise LossInputError(f"option value {shown} is longer than {MAX_OPTION_CHARS:,} characters")
    try:
        try:
            return json.loads(text)
        except ValueError:
            pass
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError):
            return text
    except (RecursionError, MemoryError):  # deep nesting ([[[[..., ------1) exhausts the parsers
        raise LossInputError(f"option value {shown} is nested too deeply") from None


def option_kind(name: str, default: Any) -> Literal["int", "float"] | None:
    """``"float"`` / ``"int"`` where option ``name`` means a number (a scalar given for it is
    converted and checked at the boundary, :func:`losskit._array.validate.scalar_option`),
    else None (flags, choices)."""
    t = option_type(name, default)
    args = set(typing.get_args(t)) or {t}
    if float in args or name in ARRAY_OPTIONS:
        return "float"
    if int in args or (typing.get_origin(t) is Literal and all(type(a) is int for a in args)):
        return "int"
    return None


Kernel = Callable[..., Any]
Structure = Literal["elementwise", "distribution", "overlap"]
# What y_pred holds:
# - "prediction": an estimate of y_true itself (regression; rates and non-negative measures
#   too, read as logs when the loss's log_input option is set);
# - "probability": probabilities in [0, 1] (rows summing to 1 along a class axis), read as
#   logits when the loss's from_logits option is set or its activation option names one;
# - "logit": always logits (the loss applies the sigmoid / softmax itself);
# - "score": real scores with no probability behind them (margin losses, embeddings).
InputKind = Literal["prediction", "probability", "logit", "score"]
# Why a loss cannot be a gradient-boosting objective (losskit.gbdt words each one):
# - "coupled": not row-separable (sums over the whole batch couple the rows; structure "overlap");
# - "piecewise_linear": its Hessian is 0 wherever it exists;
# - "bounded_prediction": it needs predictions above -1 (a log1p of y_pred), margins are any real;
# - "target_distribution" / "target_vector": y_true is a distribution / vector per row, while
#   boosting labels are one value per row.
RefusalReason = Literal["coupled", "piecewise_linear", "bounded_prediction", "target_distribution", "target_vector"]


def _no_axes(ndim: int, opts: Mapping[str, Any]) -> tuple[int, ...]:
    return ()


def _unset(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("this Loss record has no such kernel")


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a loss is refused as a boosting objective, and what to use instead."""

    reason: RefusalReason
    advice: str = ""  # appended to the reason's text after "; " (e.g. a smooth surrogate)


@dataclasses.dataclass(frozen=True)
class Boosting:
    """How a loss serves as a gradient-boosting objective (:mod:`losskit.gbdt`).

    ``labels`` is how one row's label reaches the loss: ``"value"`` (one number per row:
    binary or regression, elementwise losses) or, for multiclass (distribution) losses, class
    ``"ids"`` or ``"onehot"`` rows built from them. ``softmax``: multiclass margins enter
    through a softmax (probabilities come back through one). ``start`` is the initial score's
    closed form: ``"log_odds"`` (logit of the weighted mean label, after the loss's
    ``label_smoothing``), ``"mean"`` (the weighted mean label), ``"priors"`` (log of the
    weighted class priors), or ``"newton"`` (none: a safeguarded Newton search for the
    minimising constant); the closed form holds only while the options in
    ``start_if_default`` keep their defaults or are None (else the Newton search runs). ``requires``:
    options the loss needs as an objective (``{"p": 2}``); other values are refused for
    ``refused``'s reason. ``refused`` without ``requires``: never an objective.
    """

    refused: Refusal | None = None
    labels: Literal["value", "ids", "onehot"] = "value"
    softmax: bool = False
    start: Literal["newton", "log_odds", "mean", "priors"] = "newton"
    start_if_default: tuple[str, ...] = ()
    requires: Mapping[str, Any] = dataclasses.field(default_factory=dict)


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
    # (opts) -> True where the value and derivative kernels already hold the implicit weights (a
    # weight-0 sample can still cost something, as PyTorch's smoothed CE with class weights): the
    # implicit weights then only form the weighted mean's denominator
    weights_in_values: Callable[[Mapping[str, Any]], bool] | None = None
    doc: str = ""
    input_kind: InputKind = "prediction"  # what y_pred holds (see InputKind)
    boosting: Boosting = Boosting()  # how it serves gradient boosting (see Boosting)
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
    # (raw opts) -> True where this loss's torch kernels have a lean form that its NumPy kernels
    # lack (a softmax activation, fused by torch): small CPU tensors then stay on torch
    # instead of taking the host route (losskit._array.host), unless a fused kernel takes the
    # call; None: the host route always may.
    stays_on_torch: Callable[[Mapping[str, Any]], bool] | None = None
    # True where this loss's fused kernels (the [fast] extra, numba) beat its torch kernels on
    # large CPU tensors too (forward + backward at 4096 x 1000, one thread each: bench_training):
    # a reduced, unweighted call they take then takes the host route whatever its size. Or
    # (y_pred's NumPy view, raw opts) -> that answer, where it depends on the shape.
    fused_at_scale: bool | Callable[[Any, Mapping[str, Any]], bool] = False
    # (xp, y_true, y_pred, **opts) -> (values, grad) of the value and grad kernels from one pass,
    # or None where these inputs have no such form: the torch closed-form forward then holds
    # the gradient for its backward instead of recomputing the work they share (a softmax).
    # Not for VJP kernels.
    value_grad: Kernel | None = None
