"""Every registered loss's traits (losskit.spec: ``input_kind``, ``boosting``, ``fused``) against
what the loss and the modules that read them actually do.

Generic: a new loss is checked by registering it, with no per-loss code here. The oracles are
the losses' own kernels on small generic data (which inputs they accept, where their Hessian
vanishes, which rows their gradient couples), the gradient-boosting objectives built from the
traits (their gradients, Hessians and initial scores), the fused kernels (their values against
the reference's) and the plotted curves (each falls towards the right answer).
"""

import dataclasses
import typing
import zlib

import numpy as np
import pytest

import losskit as lk
from losskit import fused, gbdt
from losskit.spec import Boosting, InputKind, Refusal, RefusalReason

NAMES = lk.available(aliases=False)
RECORDS = {name: lk.LOSSES[name].record for name in NAMES}
N, K = 12, 3
LOGIT_OPTIONS = ("from_logits", "log_input", "activation")  # options that make y_pred logits / logs
# a non-default value for every option a closed-form initial score may depend on
PERTURBED = {"label_smoothing": 0.2, "pos_weight": 3.0, "class_weight": [1.0, 2.0, 0.5], "ignore_index": 2}


def _rng(name, salt=""):
    return np.random.default_rng(zlib.crc32((name + salt).encode()))


def _values(fn, y, p, /, **opts):
    """Per-sample values, or None where the loss refuses the input or returns non-finite values."""
    try:
        with np.errstate(all="ignore"):
            v = np.asarray(fn(y, p, reduction="none", **opts), dtype=float)
    except lk.LossInputError:
        return None
    return v if np.all(np.isfinite(v)) else None


def _class_axis(rec):
    return 1 if rec.structure == "overlap" else -1


def _shape(rec):
    return {"elementwise": (N,), "distribution": (N, K), "overlap": (2, 2, 5)}[rec.structure]


def _rows(rec, rng, shape):
    """Positive rows summing to 1 along the class axis."""
    e = rng.uniform(0.2, 1.0, size=shape)
    return e / e.sum(axis=_class_axis(rec), keepdims=True)


def _predictions(rec, kind, rng):
    """y_pred that is valid for ``kind``: probabilities (rows of them for class axes), reals, or
    positive predictions."""
    shape = _shape(rec)
    if kind == "probability":
        return rng.uniform(0.05, 0.95, size=shape) if rec.structure == "elementwise" else _rows(rec, rng, shape)
    if kind in ("logit", "score"):
        return rng.normal(scale=2.0, size=shape)
    return rng.uniform(0.5, 3.0, size=shape)


def _targets(rec, rng):
    """Every form of y_true a loss of this structure may take, as (form, array)."""
    shape = _shape(rec)
    if rec.structure == "elementwise":
        return [("real", rng.uniform(0.5, 3.0, size=shape)), ("binary", rng.integers(0, 2, size=shape) * 1.0),
                ("signs", rng.integers(0, 2, size=shape) * 2.0 - 1.0)]
    ax = _class_axis(rec)
    ids = rng.permutation(np.arange(shape[0] * np.prod(shape[2:], dtype=int)) % shape[1])
    ids = ids.reshape((shape[0],) + shape[2:]) if rec.structure == "overlap" else ids
    onehot = np.moveaxis(np.eye(shape[1])[ids], -1, ax)
    return [("real", rng.uniform(0.5, 3.0, size=shape)), ("onehot", onehot), ("ids", ids),
            ("soft", _rows(rec, rng, shape)), ("mask", rng.integers(0, 2, size=shape) * 1.0)]


def _valid(name, kind=None, rng=None, **opts):
    """(y_true, y_pred) the loss accepts with ``opts``, y_pred valid for ``kind`` (default: the
    record's input_kind); fails the test when no form of y_true works."""
    rec = RECORDS[name]
    rng = rng or _rng(name)
    p = _predictions(rec, kind or rec.input_kind, rng)
    fn = lk.LOSSES[name]
    for _, y in _targets(rec, rng):
        if _values(fn, y, p, **opts) is not None:
            return y, p
    pytest.fail(f"{name}: no generic y_true is accepted with a {kind or rec.input_kind} y_pred")


# -- the traits' values -------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_trait_values_are_valid_and_consistent(name):
    rec = RECORDS[name]
    b = rec.boosting
    assert rec.input_kind in typing.get_args(InputKind)
    assert isinstance(b, Boosting)
    assert b.labels in ("value", "ids", "onehot") and isinstance(b.softmax, bool)
    assert b.start in ("newton", "log_odds", "mean", "priors")
    assert set(b.start_if_default) <= set(rec.options), "start_if_default names options the loss has"
    assert set(b.requires) <= set(rec.options), "requires names options the loss has"
    assert all(rec.options[k] != v for k, v in b.requires.items()), "a required value is not already the default"
    assert b.refused is None or (isinstance(b.refused, Refusal) and b.refused.reason in typing.get_args(RefusalReason))
    if b.requires:
        assert b.refused is not None, "requires says why other values are refused (refused=Refusal(...))"
    if b.labels != "value":
        assert rec.structure == "distribution", "multiclass label forms only for distribution losses"
    if b.softmax:
        assert b.labels != "value", "softmax only for multiclass roles"
    assert (rec.structure == "overlap") == (b.refused is not None and b.refused.reason == "coupled")
    if rec.structure == "distribution" and (b.refused is None or b.requires):
        assert b.labels != "value", "a distribution loss that can be an objective is multiclass"
    if b.start == "priors":
        assert b.labels != "value" and b.softmax
    if b.start == "log_odds":
        assert rec.structure == "elementwise" and "from_logits" in rec.options
    if b.start == "mean":
        assert rec.structure == "elementwise" and rec.input_kind == "prediction"
    assert rec.fused is None or (isinstance(rec.fused, str) and rec.fused)


# -- input_kind ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_input_kind_matches_what_the_loss_accepts(name):
    rec = RECORDS[name]
    fn = lk.LOSSES[name]
    kind = rec.input_kind
    logit_options = [k for k in LOGIT_OPTIONS if k in rec.options]
    y, p = _valid(name)
    if kind == "probability":
        assert logit_options, "a probability input has an option that reads it as logits"
        bad = p.copy()
        bad.flat[0] = 1.5
        assert _values(fn, y, bad) is None, "probabilities outside [0, 1] are refused"
        turned = [{k: v} for k in logit_options for v in ((True,) if k != "activation" else ("sigmoid", "softmax"))]
        assert any(_values(fn, y, bad, **o) is not None for o in turned), "the logit option takes any real"
    elif kind in ("logit", "score"):
        assert "from_logits" not in rec.options and "log_input" not in rec.options
        wide = _rng(name, "wide").normal(scale=6.0, size=p.shape)
        assert _values(fn, y, wide) is not None, "logits and scores are any real numbers"
        if kind == "logit" and rec.structure == "distribution":  # a softmax inside: shifts cancel
            np.testing.assert_allclose(_values(fn, y, wide + 3.0), _values(fn, y, wide), rtol=1e-9, atol=1e-12)
    else:  # a prediction of y_true: the loss is smallest where the prediction is the target
        assert "from_logits" not in rec.options and "activation" not in rec.options
        y = _targets(rec, _rng(name))[0][1]  # positive reals
        at = _values(fn, y, y)
        assert at is not None, "a perfect prediction is valid"
        for off in (0.7, 1.3):
            other = _values(fn, y, y * off)
            assert other is not None and np.all(at <= other + 1e-12), "a prediction is best at the target"
    if rec.structure == "elementwise":  # one value per row: a target (prediction) or a binary label
        label = _values(fn, np.full(p.shape, 2.5), _predictions(rec, kind, _rng(name)))
        assert (label is not None) == (kind == "prediction"), "only regression losses take y = 2.5"


# -- boosting -----------------------------------------------------------------------------------
def _gradient_couples(fn, y, p):
    """Whether moving one row's entry of y_pred moves the gradient of another row (a row: one
    entry of an elementwise or overlap loss, a leading-axis row of a distribution loss)."""
    base = np.asarray(fn.grad(y, p, reduction="sum"))
    per_row = p.size // p.shape[0] if fn.record.structure == "distribution" else 1
    for j in range(p.size):
        for change in (lambda v: 1.0 - v, lambda v: -3.0 * v - 1.0):
            q = p.copy()
            q.flat[j] = change(q.flat[j])
            if _values(fn, y, q) is None:
                continue
            moved = np.asarray(fn.grad(y, q, reduction="sum")).reshape(-1) != base.reshape(-1)
            moved[(j // per_row) * per_row:(j // per_row + 1) * per_row] = False  # its own row
            if moved.any():
                return True
    return False


def _check_reason(name, reason, **opts):
    """The refusal's reason is true of the loss (with ``opts``)."""
    rec = RECORDS[name]
    fn = lk.get(name, **opts)
    y, p = _valid(name, **opts)
    if reason == "piecewise_linear":
        g, h = (np.asarray(a) for a in fn.grad_hess(y, p, reduction="sum"))
        assert np.all(h == 0) and np.any(g != 0), "piecewise linear: Hessian 0, gradient not"
    elif reason == "bounded_prediction":
        assert _values(fn, y, p - 3.0) is None, "predictions far below 0 are refused"
    elif reason in ("target_distribution", "target_vector"):
        assert rec.structure == "distribution"
        assert (rec.input_kind == "probability") == (reason == "target_distribution")
        ids = dict(_targets(rec, _rng(name)))["ids"]
        assert _values(fn, ids, p) is None, "class ids are not a target of this loss"
    else:
        assert reason == "coupled" and rec.structure == "overlap"
        assert _gradient_couples(fn, y, p), "the gradient of one entry depends on the others"


def _labels(obj, rng):
    if obj.kind == "multiclass":
        return rng.permutation(np.arange(N) % K).astype(float)
    if obj.kind == "binary":
        return rng.integers(0, 2, size=N).astype(float)
    return rng.uniform(0.5, 3.0, size=N)


def _margins(obj, rng):
    return rng.normal(size=(N, K) if obj.kind == "multiclass" else N)


def _stationary(obj, y, w):
    """The initial score is where the weighted gradient sum vanishes."""
    c = obj.initial_score(y, w)
    m = np.tile(c, (N, 1)) if obj.kind == "multiclass" else np.full(N, c)
    g, _ = obj.grad_hess(y, m, w)
    total = np.sum(g, axis=0)
    assert np.all(np.abs(total) <= 1e-6 * np.sum(w)), (obj, c, total)


@pytest.mark.parametrize("name", NAMES)
def test_boosting_role_matches_the_loss(name):
    rec = RECORDS[name]
    b = rec.boosting
    fn = lk.LOSSES[name]
    if b.refused is not None and not b.requires:  # never an objective
        for make in (gbdt.xgboost_objective, gbdt.lightgbm_objective):
            with pytest.raises(lk.LossInputError) as err:
                make(name)
            msg = str(err.value)
            assert msg.startswith(f"{name} cannot be a gradient-boosting objective: ")
            assert msg.endswith(b.refused.advice) and len(msg) > len(name) + 60
        _check_reason(name, b.refused.reason)
        y, p = _valid(name)
        assert rec.structure == "overlap" or not _gradient_couples(fn, y, p)
        return
    if b.requires:  # other values are refused for the reason given
        for key in b.requires:
            with pytest.raises(lk.LossInputError) as err:
                gbdt.xgboost_objective(name)
            assert f"{name} with {key}={rec.options[key]!r} cannot be" in str(err.value)
            assert str(err.value).endswith(b.refused.advice)
        _check_reason(name, b.refused.reason)
    rng = _rng(name, "gbdt")
    obj = gbdt.xgboost_objective(name, hessian_floor=None, **b.requires)
    assert (obj.kind == "multiclass") == (rec.structure == "distribution")
    y, m, w = _labels(obj, rng), None, rng.uniform(0.5, 2.0, size=N)
    m = _margins(obj, rng)
    g, h = obj(y, m, w)
    assert g.shape == h.shape == m.shape and np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    assert np.any(h > 0), "some curvature to size the leaves"
    assert not _gradient_couples(lk.get(name, **b.requires), *_valid(name, **b.requires)), "row-separable"
    margin_opts = {k: True for k in ("from_logits", "log_input") if k in rec.options}
    configured = lk.get(name, **margin_opts, **b.requires)
    if obj.kind == "binary":
        with pytest.raises(lk.LossInputError):
            obj(np.full(N, 2.5), m)  # binary labels only
    elif obj.kind == "regression":
        assert np.all(np.isfinite(obj(np.full(N, 2.5), m)[0]))
    else:
        ids = y.astype(np.int64)
        onehot = np.eye(K)[ids]
        assert (_values(configured, ids, m) is not None) == (b.labels == "ids"), "ids where the loss takes them"
        assert b.labels == "ids" or _values(configured, onehot, m) is not None
        separated = obj.value(y, 10.0 * onehot)  # the true class ahead by 10
        assert (separated > 0) == b.softmax, "a softmax never reaches 0; a margin loss does"
        if b.softmax and "from_logits" in rec.options:  # the margins are the softmax's logits
            target = ids if b.labels == "ids" else onehot
            z = np.exp(m - m.max(axis=1, keepdims=True))
            np.testing.assert_allclose(float(configured(target, m)),
                                       float(lk.get(name, **b.requires)(target, z / z.sum(axis=1, keepdims=True))),
                                       rtol=1e-9)
    _stationary(obj, y, w)
    missing = set(b.start_if_default) - set(PERTURBED)
    assert not missing, f"add a non-default value for options {missing} to PERTURBED"
    for key in set(PERTURBED) & set(rec.options):  # a closed-form start must step aside when needed
        _stationary(gbdt.xgboost_objective(name, **b.requires, **{key: PERTURBED[key]}), y, w)


def test_refused_and_multiclass_tables_match_the_objectives():
    refused, multiclass = {}, {}
    for name in NAMES:
        rec = RECORDS[name]
        try:
            obj = gbdt.xgboost_objective(name, **rec.boosting.requires)
        except lk.LossInputError as e:
            if rec.structure != "overlap":
                refused[name] = str(e)
            continue
        if obj.kind == "multiclass":
            multiclass[name] = "ids" if _values(lk.get(name, from_logits=True) if "from_logits" in rec.options
                                                else lk.get(name, **rec.boosting.requires),
                                                np.arange(N) % K, np.zeros((N, K))) is not None else "onehot"
    assert set(gbdt.REFUSED) == set(refused)
    for name, msg in refused.items():
        assert msg == f"{name} cannot be a gradient-boosting objective: {gbdt.REFUSED[name]}"
    assert gbdt.MULTICLASS == multiclass
    assert gbdt.MULTICLASS_HESSIAN == ("exact", "xgboost", "lightgbm")


@pytest.mark.parametrize("reason", typing.get_args(RefusalReason))
def test_every_refusal_reason_is_worded(reason):
    rec = dataclasses.replace(RECORDS["huber"], name="made_up", boosting=Boosting(refused=Refusal(reason, "try x")))
    with pytest.raises(lk.LossInputError) as err:
        gbdt.xgboost_objective(lk.LossFunction(rec))
    msg = str(err.value)
    prefix = "made_up cannot be a gradient-boosting objective: "
    assert msg.startswith(prefix) and msg.endswith("; try x") and len(msg) > len(prefix) + 40
    plain = dataclasses.replace(rec, boosting=Boosting(refused=Refusal(reason)))
    with pytest.raises(lk.LossInputError) as err:
        gbdt.xgboost_objective(lk.LossFunction(plain))
    assert msg == f"{err.value}; try x"


# -- fused --------------------------------------------------------------------------------------
def test_fused_keys_are_planners_and_every_planner_is_used():
    if not fused.available():
        pytest.skip("numba is not installed")
    used = {rec.fused for rec in RECORDS.values() if rec.fused is not None}
    assert used <= set(fused.planners()), "a record names kernels that do not exist"
    assert set(fused.planners()) <= used, "kernels no record uses"


@pytest.mark.parametrize("name", [n for n in NAMES if RECORDS[n].fused is not None])
def test_fused_kernels_compute_their_record(name):
    if not fused.available():
        pytest.skip("numba is not installed")
    rec = RECORDS[name]
    fn = lk.LOSSES[name]
    assert fused.covers(rec)
    y, p = _valid(name)
    y = np.ascontiguousarray(y if y.dtype.kind in "iu" else y.astype(np.float64))
    opts = dict(rec.options)
    plan = fused.plan(rec, y, p, opts)
    assert plan is not None, "the kernels cover the record's defaults on generic data"
    if plan.value is not None:
        np.testing.assert_allclose(plan.value(y, p), float(fn(y, p, reduction="sum")), rtol=1e-9)
    else:
        yt, yp, o = rec.prepare(np, y, p, dict(opts), True)
        value = rec.from_stats(np, plan.stats(y, p), **o)
        np.testing.assert_allclose(float(np.sum(value)), float(fn(y, p, reduction="sum")), rtol=1e-9)


def test_fused_plan_and_covers_read_the_record_key():
    """A record without a key has no kernels, whatever its name."""
    rec = dataclasses.replace(RECORDS["mean_squared_error"], fused=None)
    assert not fused.covers(rec)
    assert fused.plan(rec, np.zeros(4), np.zeros(4), {}) is None


# -- lessons and plots --------------------------------------------------------------------------
def test_lessons_are_registered_losses():
    from losskit.explain import DEMOS, explain
    from losskit.lessons import LESSONS

    assert LESSONS and set(LESSONS) <= set(NAMES), set(LESSONS) - set(NAMES)
    assert set(DEMOS) <= set(NAMES)
    for name in LESSONS:
        assert explain(name).count(name) >= 1


# the x axis a loss's curves use first, by structure and what y_pred holds
_AXIS = {
    ("elementwise", "probability"): "probability", ("elementwise", "logit"): "logit",
    ("elementwise", "score"): "score", ("elementwise", "prediction"): "prediction",
    ("distribution", "probability"): "class-probability", ("distribution", "prediction"): "class-probability",
    ("distribution", "logit"): "class-logit", ("distribution", "score"): "class-score",
    ("overlap", "probability"): "pixel-probability", ("overlap", "prediction"): "pixel-probability",
    ("overlap", "logit"): "pixel-logit", ("overlap", "score"): "pixel-logit",
}


def _falls_towards(c):
    """+1 when the loss should fall as x grows (the target is the positive/true one), -1 when
    it should rise, 0 when the curve's target is a point (predictions) or soft."""
    if c.kind == "prediction" or c.target == "soft":
        return 0
    if c.kind.startswith("pixel"):
        return 1 if c.target == 1 else -1
    if c.kind.startswith("class"):
        return 1
    return 1 if float(c.target) > 0 else -1


@pytest.mark.parametrize("name", NAMES)
def test_plot_curves_follow_the_input_kind(name):
    from losskit.plot import curves

    rec = RECORDS[name]
    drawn = curves([name], points=41)
    assert drawn and drawn[0].kind == _AXIS[(rec.structure, rec.input_kind)]
    for c in drawn:
        ok = np.isfinite(c.value)
        assert ok.mean() >= 0.5, c.label
        x, v = c.x[ok], c.value[ok]
        direction = _falls_towards(c)
        if direction == 0 and c.kind == "prediction":
            assert abs(x[np.argmin(v)] - float(c.target)) <= 0.16, f"{c.label}: smallest at the target"
        elif direction:
            steps = np.diff(v) * direction
            assert np.all(steps <= 1e-9 * np.max(np.abs(v))), f"{c.label}: falls towards the right answer"
    if "from_logits" in rec.options:
        assert curves([name], options={name: {"from_logits": True}}, points=11)[0].kind.endswith("logit")
