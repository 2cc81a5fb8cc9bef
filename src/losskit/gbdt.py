"""losskit losses as XGBoost and LightGBM custom objectives and evaluation metrics.

Gradient boosting grows each tree from the per-row gradient and Hessian of the loss with
respect to the model's raw margin. Every row-separable, twice-differentiable losskit loss
supplies both in closed form, so it can drive either library::

    from losskit import gbdt
    obj = gbdt.xgboost_objective("binary_focal_cross_entropy", gamma=2.0)
    booster = xgboost.train({"base_score": obj.initial_score(y)}, dtrain, 100,
                            obj=obj, custom_metric=obj.metric)
    proba = obj.transform(booster.predict(dtest, output_margin=True))

    obj = gbdt.lightgbm_objective("sparse_categorical_cross_entropy")
    model = lightgbm.LGBMClassifier(objective=obj).fit(X, y, init_score=obj.initial_score(y, n=len(y)))

What the objects do
-------------------
- **Raw margins.** Both libraries hand a custom objective raw, untransformed scores. Losses
  with a ``from_logits`` option are configured with ``from_logits=True`` (and ``poisson``
  with ``log_input=True``: the margin is the log-rate, like XGBoost's ``count:poisson``);
  asking for probabilities instead raises :class:`losskit.LossInputError`. Margins are
  cast to float64 before the loss is evaluated (XGBoost passes float32).
- **Layouts.** Multiclass margins arrive as ``(n_rows, n_classes)`` in XGBoost >= 2 and
  LightGBM >= 4, and gradients go back in the same shape. The older flat layouts are
  reshaped too: XGBoost < 2 row-major ``(n * K,)``, LightGBM < 4 class-major ``(K * n,)``.
  Multiclass labels are class ids ``0 .. K-1``; losses that take one-hot rows
  (``categorical_cross_entropy``, ``categorical_focal_cross_entropy``,
  ``poly1_cross_entropy``) get them built from the ids.
- **Per-row derivatives.** The gradient and Hessian are ``loss.grad_hess(y, margin,
  reduction="sum")``: those of each row's own loss, not divided by the number of rows
  (built-in objectives do the same).
- **Sample weights** (``DMatrix(weight=...)``, ``Dataset(weight=...)``, ``fit(sample_weight=...)``)
  multiply each row's gradient and Hessian. Neither library applies them for you when the
  objective is custom.
- **Hessian floor.** ``hessian_floor`` (default ``1e-16``, XGBoost's own ``kRtEps``) is applied
  to the unweighted Hessian before the weights, as XGBoost's logistic objective does:
  ``h = max(h, floor) * w``. It also replaces the negative curvature of non-convex losses
  (focal losses, ``generalized_cross_entropy``) by the floor; raise it (say to ``1e-6``) when
  leaves collect only rows of tiny curvature. ``None`` or ``0`` keeps the exact Hessian.
- **Multiclass Hessian convention** (``multiclass_hessian``), a factor on the exact diagonal
  of the Hessian: ``"exact"`` (1: ``p (1 - p)`` for softmax cross-entropy), ``"xgboost"`` (2:
  ``multi:softprob``'s ``2 p (1 - p)``), ``"lightgbm"`` (``K / (K - 1)``: ``multiclass``'s
  ``K/(K-1) p (1 - p)``), or a positive number. The default is the library's own convention,
  so losskit's softmax cross-entropy behaves like the built-in objective under the same
  hyperparameters (``min_child_weight``, ``reg_lambda``, ... are on that Hessian's scale).
- **scale** multiplies gradient and Hessian (default 1). losskit's ``mean_squared_error`` is
  ``(y - f)^2``, twice the ``(y - f)^2 / 2`` of ``reg:squarederror`` / LightGBM's ``l2``; pass
  ``scale=0.5`` to reproduce those with identical hyperparameters.
- **Metrics.** ``objective.metric`` is the loss itself on raw margins as the weighted mean
  ``sum(w l) / sum(w)`` (lower is better), named after the loss. XGBoost passes raw margins to
  ``custom_metric`` only when the objective is custom too; with a built-in objective it passes
  transformed predictions, which these metrics do not expect.
- **Initial score.** LightGBM ignores ``boost_from_average`` with a custom objective, and
  XGBoost starts a custom objective at ``base_score=0.5`` (a margin there). ``initial_score(y,
  sample_weight)`` gives the constant margin minimising the weighted loss: ``logit`` of the
  weighted mean for binary cross-entropy, the log of the weighted class priors for softmax
  cross-entropy (as LightGBM's own ``multiclass`` start), the weighted mean for squared error,
  and a safeguarded Newton search for every other loss. Probabilities are kept in
  ``[1e-15, 1 - 1e-15]`` (LightGBM's ``kEpsilon``). Pass it as ``base_score`` to
  ``xgboost.train`` (a margin there: a custom objective runs under the identity link) or
  per row as ``base_margin`` / ``init_score`` (``n=len(y)`` tiles it). ``XGBClassifier`` runs
  a custom objective under ``binary:logistic``, so its ``base_score`` is a probability:
  ``obj.transform(obj.initial_score(y))``. Prediction with LightGBM does not add an
  ``init_score`` back: add ``initial_score`` to the raw scores yourself.

Which losses can be objectives
------------------------------
A loss qualifies when its value is a sum of per-row terms, each depending only on that row's
margin(s), and it has a Hessian that is not 0 almost everywhere. Refused, with the reason in
the :class:`losskit.LossInputError`:

- every loss of structure ``"overlap"`` (Dice, Jaccard, Tversky, focal Tversky, generalised
  Dice, Lovasz hinge/softmax): sums over all rows couple them, so no row has a gradient of its
  own (and Lovasz is piecewise linear);
- piecewise-linear losses, whose Hessian is 0 wherever it exists: ``hinge``, ``perceptron``,
  ``categorical_hinge``, ``multi_margin`` with ``p=1``, ``mean_absolute_error``, ``quantile``,
  ``mean_absolute_percentage_error`` (use a smooth surrogate: ``squared_hinge``,
  ``binary_cross_entropy``, ``huber``/``pseudo_huber``/``log_cosh``, or the libraries' built-in
  ``reg:absoluteerror`` / ``reg:quantileerror`` / ``objective="quantile"``, which line-search
  leaf values);
- ``mean_squared_logarithmic_error``: needs predictions above -1, while a margin is any real
  number (boost ``mean_squared_error`` on ``log1p(y)`` instead);
- distribution losses that need a target distribution or vector per row (KL, reverse KL,
  Jensen-Shannon, generalised KL, cosine similarity/distance): GBDT labels are one value per row.

Everything else is accepted: elementwise losses as binary (the record's ``input_kind`` a
probability, logit or score: margins are logits or scores) or regression objectives, and the
multiclass losses listed in ``MULTICLASS``. Each record's ``boosting`` trait
(:class:`losskit.spec.Boosting`) says which applies, how labels are passed and how the
initial score is found; ``REFUSED`` and ``MULTICLASS`` are read from the records. Huber and
smooth L1 have a zero Hessian beyond ``delta`` / ``beta``: they work, with the floor and the
library's L2 leaf regularisation carrying those rows.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from ._array import stable as _math
from ._array.validate import LossInputError, numeric, scalar_option
from ._array.xp import namespace
from .api import LossFunction
from .registry import LOSSES as _REGISTERED
from .registry import get as _get_loss
from .spec import Loss, Refusal

__all__ = [
    "xgboost_objective",
    "lightgbm_objective",
    "initial_score",
    "XGBoostObjective",
    "LightGBMObjective",
    "REFUSED",
    "MULTICLASS",
    "MULTICLASS_HESSIAN",
]

# Refusals, label forms, links and initial scores all come from the records' ``boosting``
# traits (losskit.spec.Boosting); the reasons are worded here.
_REASONS = {
    "coupled": (
        "it is not row-separable: its value couples all rows through sums over the whole batch, so "
        "no row has a gradient of its own"
    ),
    "piecewise_linear": (
        "piecewise linear: its Hessian is 0 wherever it exists, so Newton boosting has no curvature "
        "to size the leaves"
    ),
    "bounded_prediction": "it needs predictions above -1 while a boosting margin is any real number",
    "target_distribution": "it needs a target distribution per row, while GBDT labels are one value per row",
    "target_vector": "it needs a target vector per row, while GBDT labels are one value per row",
}


def _why(refusal: Refusal) -> str:
    text = _REASONS[refusal.reason]
    return f"{text}; {refusal.advice}" if refusal.advice else text


def _refusal(rec: Loss) -> Refusal | None:
    """Why ``rec`` can never be an objective, whatever its options; None when it can be one
    (perhaps only with the options its ``boosting.requires`` names)."""
    if rec.structure == "overlap":  # sums over the batch: never row-separable
        return rec.boosting.refused or Refusal("coupled")
    return None if rec.boosting.requires else rec.boosting.refused


# Why each loss that is never an objective is refused (the overlap losses, all refused as not
# row-separable, are left out), read from the records.
REFUSED = {
    name: _why(refusal)
    for name, fn in _REGISTERED.items()
    if fn.record.structure != "overlap" and (refusal := _refusal(fn.record)) is not None
}

# Multiclass (distribution) losses usable with class-id labels: how labels are passed.
MULTICLASS = {
    name: fn.record.boosting.labels
    for name, fn in _REGISTERED.items()
    if fn.record.structure == "distribution" and fn.record.boosting.labels != "value" and _refusal(fn.record) is None
}

MULTICLASS_HESSIAN = ("exact", "xgboost", "lightgbm")
_MARGIN_OPTIONS = {"from_logits": True, "log_input": True}
_P_EPS = 1e-15  # LightGBM's kEpsilon: initial probabilities are kept in [eps, 1 - eps]
_LOGIT_BOUND = math.log((1.0 - _P_EPS) / _P_EPS)


@dataclasses.dataclass(frozen=True)
class _Plan:
    name: str
    loss: LossFunction  # configured for raw margins
    options: dict  # the options as bound (margin options included)
    kind: str  # "binary" | "regression" | "multiclass"
    labels: str  # "value" | "ids" | "onehot"
    link: str  # "sigmoid" | "identity" | "exp" | "softmax"


def _plan(loss, options) -> _Plan:
    if isinstance(loss, LossFunction):
        fn, options = loss, {**loss.bound, **options}
    else:
        fn = _get_loss(loss)
    name = fn.record.name
    for bad in ("reduction", "sample_weight"):
        if bad in options:
            raise LossInputError(
                f"{bad} cannot be set for a boosting objective: rows are weighted by the library's "
                "sample weights and gradients are per row"
            )
    rec = fn.record
    boosting = rec.boosting
    refusal = _refusal(rec)
    if refusal is not None:
        raise LossInputError(f"{name} cannot be a gradient-boosting objective: {_why(refusal)}")
    if rec.structure == "distribution" and boosting.labels == "value":
        raise LossInputError(
            f"{name} cannot be a gradient-boosting objective: it is not a multiclass loss on class "
            f"labels (supported: {', '.join(sorted(MULTICLASS))})"
        )
    opts = dict(options)
    for key, want in _MARGIN_OPTIONS.items():
        if key in rec.options:
            if key in opts and bool(opts[key]) != want:
                raise LossInputError(
                    f"{key}={opts[key]!r} cannot be used for a boosting objective: the model's output is a raw "
                    f"margin, so {name} is evaluated with {key}={want}"
                )
            opts[key] = want
    for key, want in boosting.requires.items():
        got = opts.get(key, rec.options.get(key))
        if got != want:
            why = _why(boosting.refused) if boosting.refused is not None else f"it needs {key}={want!r}"
            raise LossInputError(f"{name} with {key}={got!r} cannot be a gradient-boosting objective: {why}")
    if "axis" in rec.options and opts.get("axis", rec.options["axis"]) not in (-1, 1):
        raise LossInputError("axis must be -1 (the class axis of the (n_rows, n_classes) margins)")
    configured = fn.configured(**opts)
    if rec.structure == "distribution":
        kind, labels = "multiclass", boosting.labels
        link = "softmax" if boosting.softmax else "identity"
    else:
        # one value per row: a probability, logit or score is a binary label's, a prediction a target's
        kind = "regression" if rec.input_kind == "prediction" else "binary"
        labels = "value"
        if opts.get("from_logits"):
            link = "sigmoid"
        elif opts.get("log_input"):
            link = "exp"
        else:
            link = "identity"
    return _Plan(name, configured, opts, kind, labels, link)


def _hessian_factor(convention, n_classes):
    if isinstance(convention, numbers.Real) and not isinstance(convention, bool):
        if not (math.isfinite(convention) and float(convention) > 0):
            raise LossInputError(f"multiclass_hessian must be positive; got {convention!r}")
        return float(convention)
    if convention == "exact":
        return 1.0
    if convention == "xgboost":
        return 2.0
    if convention == "lightgbm":
        return n_classes / (n_classes - 1.0) if n_classes > 1 else 1.0
    raise LossInputError(
        f"multiclass_hessian must be one of {', '.join(map(repr, MULTICLASS_HESSIAN))} or a positive number; "
        f"got {convention!r}"
    )


def _weights(sample_weight, n):
    if sample_weight is None:
        return None
    w = np.asarray(numeric(sample_weight, name="sample_weight"), dtype=np.float64)
    if w.size == 0:  # XGBoost's get_weight() without weights
        return None
    w = w.reshape(-1)
    if w.shape[0] != n:
        raise LossInputError(f"sample_weight must have one weight per row ({n},); got shape {w.shape}")
    return w


class _Objective:
    """A losskit loss as a boosting objective (shared by both libraries)."""

    library = ""
    _default_multiclass_hessian = "exact"
    _metric_class: type[_Metric]

    def __init__(self, loss, *, hessian_floor=1e-16, multiclass_hessian=None, scale=1.0, **options):
        self.plan = _plan(loss, options)
        if hessian_floor is not None:  # a number, not a bool (Fraction, Decimal, a huge int converted or refused)
            hessian_floor = scalar_option(hessian_floor, name="hessian_floor", kind="float")
        scale = scalar_option(scale, name="scale", kind="float")
        if hessian_floor is not None and not (
            isinstance(hessian_floor, numbers.Real) and math.isfinite(hessian_floor) and float(hessian_floor) >= 0
        ):
            raise LossInputError(f"hessian_floor must be None or a finite number >= 0; got {hessian_floor!r}")
        if not (isinstance(scale, numbers.Real) and math.isfinite(scale) and float(scale) > 0):
            raise LossInputError(f"scale must be a finite number > 0; got {scale!r}")
        self.hessian_floor = float(hessian_floor or 0.0)
        self.multiclass_hessian = self._default_multiclass_hessian if multiclass_hessian is None else multiclass_hessian
        _hessian_factor(self.multiclass_hessian, 3)  # reject a bad convention now
        self.scale = float(scale)
        self.metric = self._metric_class(self)
        self.__name__ = self.plan.name

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.plan.options.items())
        return f"<losskit {self.library} objective {self.plan.name}({opts})>"

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def kind(self) -> str:
        """``"binary"``, ``"regression"`` or ``"multiclass"``."""
        return self.plan.kind

    # -- layouts ---------------------------------------------------------------------------
    def _rows(self, margin, n):
        """``margin`` as float64 rows ((n,) or (n, K)) and a function putting arrays back in
        the caller's layout."""
        m = np.asarray(margin, dtype=np.float64)
        shape = m.shape
        if self.plan.kind != "multiclass":
            if m.size != n:
                raise LossInputError(f"margins must have one value per row ({n}); got shape {shape}")
            return m.reshape(n), lambda a: a.reshape(shape)
        if m.ndim == 2 and m.shape[0] == n:
            return m, lambda a: a
        if m.ndim == 1 and n and m.size % n == 0 and m.size // n > 1:
            k = m.size // n
            if self.library == "lightgbm":  # LightGBM < 4: class-major
                return m.reshape(k, n).T, lambda a: a.T.reshape(-1)
            return m.reshape(n, k), lambda a: a.reshape(-1)  # XGBoost < 2: row-major
        raise LossInputError(
            f"multiclass margins must have shape ({n}, n_classes) or ({n} * n_classes,); got {shape}"
        )

    def _targets(self, y_true, n_classes=None):
        y = np.asarray(y_true, dtype=np.float64).reshape(-1)
        if self.plan.labels == "value":
            return y
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or np.any(y < 0):
            raise LossInputError("multiclass labels must be class ids 0, 1, ..., n_classes - 1")
        ids = y.astype(np.int64)
        if n_classes is not None and ids.size and ids.max() >= n_classes:
            raise LossInputError(f"class id {int(ids.max())} is out of range for {n_classes} classes of margins")
        if self.plan.labels == "ids":
            return ids
        return np.eye(n_classes, dtype=np.float64)[ids]

    # -- the computation -------------------------------------------------------------------
    def grad_hess(self, y_true, margin, sample_weight=None):
        """Per-row ``(gradient, Hessian)`` of the loss at raw ``margin``, weighted, floored and
        scaled as configured, in ``margin``'s layout (float64 arrays)."""
        y = np.asarray(y_true).reshape(-1)
        n = y.shape[0]
        rows, back = self._rows(margin, n)
        w = _weights(sample_weight, n)
        k = rows.shape[1] if rows.ndim == 2 else None
        g, h = self.plan.loss.grad_hess(self._targets(y, k), rows, reduction="sum")
        g, h = np.asarray(g, dtype=np.float64), np.asarray(h, dtype=np.float64)
        if k is not None:
            h = h * _hessian_factor(self.multiclass_hessian, k)
        if self.hessian_floor:
            h = np.maximum(h, self.hessian_floor)
        if w is not None:
            wb = w[:, None] if k is not None else w
            g, h = g * wb, h * wb
        if self.scale != 1.0:
            g, h = g * self.scale, h * self.scale
        return back(g), back(h)

    def value(self, y_true, margin, sample_weight=None) -> float:
        """The weighted mean loss ``sum(w l) / sum(w)`` at raw ``margin`` (the metric's value)."""
        y = np.asarray(y_true).reshape(-1)
        n = y.shape[0]
        rows, _ = self._rows(margin, n)
        k = rows.shape[1] if rows.ndim == 2 else None
        w = _weights(sample_weight, n)
        return float(self.plan.loss(self._targets(y, k), rows, sample_weight=w))

    def transform(self, margin):
        """Predictions from raw margins: probabilities (sigmoid / softmax over the last axis),
        rates (``exp`` for ``poisson``) or the margins themselves."""
        m = np.asarray(margin, dtype=np.float64)
        xp = namespace(m)
        if self.plan.link == "sigmoid":
            return np.asarray(_math.sigmoid(m, xp=xp))
        if self.plan.link == "softmax":
            return np.asarray(_math.softmax(m, -1, xp=xp))
        if self.plan.link == "exp":
            return np.exp(m)
        return m

    def initial_score(self, y_true, sample_weight=None, *, n=None, n_classes=None):
        """The constant margin minimising the weighted loss on labels ``y_true`` (a float, or
        one value per class for multiclass: ``n_classes`` of them, default ``max(y) + 1``);
        with ``n``, tiled to ``n`` rows (an ``init_score`` / ``base_margin`` array)."""
        return _initial_score(self.plan, y_true, sample_weight, n=n, n_classes=n_classes)


class _Metric:
    def __init__(self, objective):
        self.objective = objective
        self.__name__ = objective.plan.name

    def __repr__(self):
        return f"<losskit {self.objective.library} metric {self.__name__}>"


class _XGBoostMetric(_Metric):
    """``custom_metric`` for ``xgboost.train`` (``(predt, dmatrix) -> (name, value)``) and
    ``eval_metric`` for the scikit-learn estimators (``(y_true, y_pred, sample_weight=None) ->
    value``); predictions are raw margins (XGBoost passes them when the objective is custom)."""

    def __call__(self, a, b, sample_weight=None):
        if hasattr(b, "get_label"):
            return self.__name__, self.objective.value(b.get_label(), a, b.get_weight())
        return self.objective.value(a, b, sample_weight)


class _LightGBMMetric(_Metric):
    """``feval`` for ``lightgbm.train`` (``(preds, dataset)``) and ``eval_metric`` for the
    scikit-learn estimators (``(y_true, y_pred, weight)``); both return ``(name, value,
    is_higher_better=False)`` on raw scores."""

    def __call__(self, a, b, weight=None):
        if hasattr(b, "get_label"):
            return self.__name__, self.objective.value(b.get_label(), a, b.get_weight()), False
        return self.__name__, self.objective.value(a, b, weight), False


class XGBoostObjective(_Objective):
    """An XGBoost custom objective built from a losskit loss.

    Call it either way: ``xgboost.train(params, dtrain, obj=objective)`` calls
    ``objective(predt, dtrain)`` (the native form, labels and weights read from the
    ``DMatrix``); ``XGBClassifier(objective=objective)`` / ``XGBRegressor(...)`` call
    ``objective(y_true, y_pred, sample_weight=...)`` (the scikit-learn form). Both return
    ``(grad, hess)`` in the margin's shape. ``objective.metric`` is the matching
    ``custom_metric`` / ``eval_metric``.
    """

    library = "xgboost"
    _default_multiclass_hessian = "xgboost"
    _metric_class = _XGBoostMetric

    def __call__(self, a, b, sample_weight=None):
        if hasattr(b, "get_label"):
            return self.native(a, b)
        return self.sklearn(a, b, sample_weight=sample_weight)

    def native(self, predt, dtrain):
        """``obj=`` of ``xgboost.train``: ``(predt, dtrain) -> (grad, hess)``."""
        return self.grad_hess(dtrain.get_label(), predt, dtrain.get_weight())

    def sklearn(self, y_true, y_pred, sample_weight=None):
        """``objective=`` of ``XGBClassifier``/``XGBRegressor``: ``(y_true, y_pred, sample_weight)``."""
        return self.grad_hess(y_true, y_pred, sample_weight)


class LightGBMObjective(_Objective):
    """A LightGBM custom objective built from a losskit loss.

    Call it either way: ``lightgbm.train({"objective": objective, ...}, dataset)`` calls
    ``objective(preds, dataset)`` (the native form of LightGBM >= 4, labels and weights read
    from the ``Dataset``); ``LGBMClassifier(objective=objective)`` / ``LGBMRegressor(...)`` call
    ``objective(y_true, y_pred, weight)`` (the scikit-learn form). Both return ``(grad, hess)``
    in the scores' shape. ``objective.metric`` is the matching ``feval`` / ``eval_metric``.
    """

    library = "lightgbm"
    _default_multiclass_hessian = "lightgbm"
    _metric_class = _LightGBMMetric

    def __call__(self, a, b, weight=None):
        if hasattr(b, "get_label"):
            return self.native(a, b)
        return self.sklearn(a, b, weight)

    def native(self, preds, train_data):
        """``params["objective"]`` of ``lightgbm.train``: ``(preds, train_data) -> (grad, hess)``."""
        return self.grad_hess(train_data.get_label(), preds, train_data.get_weight())

    def sklearn(self, y_true, y_pred, weight=None):
        """``objective=`` of ``LGBMClassifier``/``LGBMRegressor``: ``(y_true, y_pred, weight)``."""
        return self.grad_hess(y_true, y_pred, weight)


def xgboost_objective(loss, /, *, hessian_floor=1e-16, multiclass_hessian="xgboost", scale=1.0,
                      **options) -> XGBoostObjective:
    """The losskit loss ``loss`` (a name, alias or configured loss) as an XGBoost objective.

    ``options`` are the loss's own options (``gamma=``, ``label_smoothing=``, ...); see the
    module documentation for ``hessian_floor``, ``multiclass_hessian`` (default ``"xgboost"``:
    ``2 p (1 - p)`` for softmax, like ``multi:softprob``) and ``scale``.

    >>> import numpy as np
    >>> from losskit import gbdt
    >>> obj = gbdt.xgboost_objective("bce")
    >>> grad, hess = obj(np.array([1.0, 0.0]), np.array([0.0, 2.0]))   # scikit-learn form: (y, margin)
    >>> grad.round(4), hess.round(4)
    (array([-0.5   ,  0.8808]), array([0.25 , 0.105]))
    >>> round(obj.initial_score(np.array([1.0, 1.0, 0.0, 1.0])), 6)   # logit(3/4)
    1.098612
    """
    return XGBoostObjective(loss, hessian_floor=hessian_floor, multiclass_hessian=multiclass_hessian,
                            scale=scale, **options)


def lightgbm_objective(loss, /, *, hessian_floor=1e-16, multiclass_hessian="lightgbm", scale=1.0,
                       **options) -> LightGBMObjective:
    """The losskit loss ``loss`` (a name, alias or configured loss) as a LightGBM objective.

    ``options`` are the loss's own options; see the module documentation for
    ``hessian_floor``, ``multiclass_hessian`` (default ``"lightgbm"``: ``K/(K-1) p (1 - p)``
    for softmax, like ``objective="multiclass"``) and ``scale``.

    >>> import numpy as np
    >>> from losskit import gbdt
    >>> obj = gbdt.lightgbm_objective("sparse_categorical_cross_entropy", multiclass_hessian="exact")
    >>> g, h = obj(np.array([0, 2]), np.zeros((2, 3)))
    >>> g.round(4)
    array([[-0.6667,  0.3333,  0.3333],
           [ 0.3333,  0.3333, -0.6667]])
    >>> obj.initial_score(np.array([0, 0, 1, 2])).round(4)   # log class priors
    array([-0.6931, -1.3863, -1.3863])
    """
    return LightGBMObjective(loss, hessian_floor=hessian_floor, multiclass_hessian=multiclass_hessian,
                             scale=scale, **options)


def initial_score(loss, y_true, sample_weight=None, *, n=None, n_classes=None, **options):
    """The constant raw margin that minimises ``sum(w * loss(y, margin))``: what
    ``boost_from_average`` would start from. ``loss`` is a name, alias or configured loss
    (configured for raw margins as the objectives are); multiclass losses return one value
    per class (``n_classes`` of them, default ``max(y) + 1``); with ``n`` the result is tiled
    to ``n`` rows.

    >>> import numpy as np
    >>> from losskit import gbdt
    >>> float(gbdt.initial_score("mse", np.array([1.0, 2.0, 6.0]), sample_weight=np.array([1.0, 1.0, 2.0])))
    3.75
    """
    return _initial_score(_plan(loss, options), y_true, sample_weight, n=n, n_classes=n_classes)


# -- initial scores ------------------------------------------------------------------------------
def _initial_score(plan, y_true, sample_weight, *, n=None, n_classes=None):
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    if y.size == 0:
        raise LossInputError("initial_score needs at least one label")
    w = _weights(sample_weight, y.shape[0])
    w = np.ones_like(y) if w is None else w
    if not np.sum(w) > 0:
        raise LossInputError("initial_score needs a positive total sample weight")
    if plan.kind == "multiclass":
        score = _initial_multiclass(plan, y, w, n_classes)
    else:
        score = _initial_scalar(plan, y, w)
    if n is None:
        return score
    return np.tile(np.asarray(score, dtype=np.float64), (int(n),) + (1,) * np.ndim(score)).reshape(
        (int(n),) + np.shape(score)
    )


def _wmean(v, w):
    return float(np.sum(w * v) / np.sum(w))


def _is_default(value, default) -> bool:
    if value is None or value is default:
        return True
    return default is not None and bool(value == default)


def _start(plan) -> str:
    """The record's closed-form start when its conditions hold for these options, else "newton"."""
    rec = plan.loss.record
    b = rec.boosting
    if all(_is_default(plan.options.get(key), rec.options.get(key)) for key in b.start_if_default):
        return b.start
    return "newton"


def _initial_scalar(plan, y, w):
    opts = plan.options
    rule = _start(plan)
    if rule == "log_odds":  # logit of the weighted mean (smoothed) label
        ls = float(opts.get("label_smoothing", 0.0) or 0.0)
        m = min(max(_wmean(y * (1.0 - ls) + 0.5 * ls, w), _P_EPS), 1.0 - _P_EPS)
        return math.log(m / (1.0 - m))
    if rule == "mean":
        return _wmean(y, w)
    if plan.link == "sigmoid":
        m = min(max(_wmean(np.clip(y, 0.0, 1.0), w), _P_EPS), 1.0 - _P_EPS)
        start, bound = math.log(m / (1.0 - m)), _LOGIT_BOUND
    elif plan.link == "exp":
        start, bound = math.log(max(_wmean(y, w), _P_EPS)), None
    else:
        start, bound = _wmean(y, w), None
    return _newton_1d(plan, y, w, start, bound)


def _newton_1d(plan, y, w, start, bound):
    """Root of G(c) = sum(w g(y, c)) by Newton steps kept inside a sign-change bracket
    (bisection when a step leaves it or the curvature is not positive)."""
    loss = plan.loss

    def gh(c):
        g, h = loss.grad_hess(y, np.full_like(y, c), reduction="sum")
        return float(np.sum(w * g)), float(np.sum(w * h))

    def clamp(c):
        return c if bound is None else min(max(c, -bound), bound)

    c0 = clamp(start)
    g0, _ = gh(c0)
    if g0 == 0.0:
        return c0
    direction = -1.0 if g0 > 0 else 1.0
    step, inner, outer = 1.0, c0, None
    for _ in range(80):  # expand until the gradient changes sign (or the bound is reached)
        c = clamp(c0 + direction * step)
        gc, _ = gh(c)
        if gc == 0.0:
            return c
        if (gc > 0) != (g0 > 0):
            outer = c
            break
        inner = c
        if bound is not None and abs(c) >= bound:
            return c  # the loss keeps decreasing towards the bound: optimum at infinity
        step *= 2.0
    if outer is None:
        return inner
    lo, hi = (inner, outer) if inner < outer else (outer, inner)
    lo_positive = (g0 > 0) == (lo == inner)  # the sign of G at lo
    c = 0.5 * (lo + hi)
    for _ in range(200):
        g, h = gh(c)
        if g == 0.0:
            return c
        if (g > 0) == lo_positive:
            lo = c
        else:
            hi = c
        nxt = c - g / h if h > 0 else None
        if nxt is None or not (lo < nxt < hi):
            nxt = 0.5 * (lo + hi)
        if abs(nxt - c) <= 1e-15 * max(1.0, abs(c)):
            return nxt
        c = nxt
    return c


def _initial_multiclass(plan, y, w, n_classes):
    ids = y.astype(np.int64)
    if np.any(ids != y) or np.any(ids < 0):
        raise LossInputError("multiclass labels must be class ids 0, 1, ..., n_classes - 1")
    k = max(int(ids.max()) + 1, 2) if n_classes is None else int(n_classes)
    if ids.max() >= k:
        raise LossInputError(f"class id {int(ids.max())} is out of range for n_classes={k}")
    priors = np.bincount(ids, weights=w, minlength=k) / np.sum(w)
    start = np.log(np.maximum(priors, _P_EPS))
    if _start(plan) == "priors":  # e.g. softmax cross-entropy: softmax(c) = the weighted class frequencies
        return start
    # Other multiclass losses: damped diagonal Newton from the log priors, with backtracking.
    targets = ids if plan.labels == "ids" else np.eye(k)[ids]
    loss = plan.loss

    def total(c):
        return float(loss(targets, np.broadcast_to(c, (y.size, k)).copy(), reduction="sum", sample_weight=w))

    c, f = start.copy(), total(start)
    for _ in range(100):
        g, h = loss.grad_hess(targets, np.broadcast_to(c, (y.size, k)).copy(), reduction="sum", sample_weight=w)
        g, h = g.sum(axis=0), h.sum(axis=0)
        if np.max(np.abs(g)) <= 1e-12 * np.sum(w):
            break
        step = -g / np.maximum(h, 1e-12 * np.sum(w))
        t = 1.0
        while t > 1e-8:
            trial = c + t * step
            ft = total(trial)
            if ft <= f + 8 * np.finfo(np.float64).eps * abs(f):  # near the optimum, f is flat to rounding
                break
            t *= 0.5
        else:
            break
        c, f = trial, ft
    return c

