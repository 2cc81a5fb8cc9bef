"""losskit losses as XGBoost / LightGBM objectives: real models trained against the built-ins.

The built-in objectives are the oracles: with the same hyperparameters and start, losskit's
logistic loss must grow the same trees as ``binary:logistic`` / ``binary``, softmax
cross-entropy those of ``multi:softprob`` / ``multiclass`` (with the matching Hessian
convention) and squared error those of ``reg:squarederror`` / ``regression``.
"""

import inspect
import math

import numpy as np
import pytest

import losskit as lk
from losskit import gbdt

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

ROUNDS = 15
XGB_PARAMS = {"max_depth": 3, "eta": 0.3, "tree_method": "hist", "nthread": 1, "seed": 0}
LGB_PARAMS = {"num_leaves": 7, "learning_rate": 0.3, "num_threads": 1, "deterministic": True,
              "force_row_wise": True, "seed": 0, "verbose": -1}


def _data(kind, n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    z = X[:, 0] - 0.7 * X[:, 1] + 0.5 * X[:, 2] * X[:, 3]
    w = rng.uniform(0.2, 2.0, size=n)
    if kind == "binary":
        y = (z + rng.normal(scale=0.7, size=n) > 0.3).astype(float)
    elif kind == "multiclass":
        y = np.digitize(z + rng.normal(scale=0.5, size=n), [-0.6, 0.5]).astype(float)
    elif kind == "imbalanced":
        y = (z + rng.normal(scale=0.5, size=n) > 1.9).astype(float)  # about 7% positives
    else:
        y = 3.0 * z + rng.normal(size=n) + 10.0
    return X, y, w


def _lgb_eval(X, y):
    """``fit`` arguments evaluating on (X, y): ``eval_X``/``eval_y`` since LightGBM 4.7, ``eval_set`` before."""
    if "eval_X" in inspect.signature(lgb.LGBMModel.fit).parameters:
        return {"eval_X": (X,), "eval_y": (y,)}
    return {"eval_set": [(X, y)]}


def _sigmoid(m):
    return 1.0 / (1.0 + np.exp(-m))


def _softmax(m):
    e = np.exp(m - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- XGBoost, native API ------------------------------------------------------------------------
def test_xgboost_logistic_reproduces_binary_logistic():
    X, y, w = _data("binary")
    obj = gbdt.xgboost_objective("binary_cross_entropy")
    p0 = float(np.sum(w * y) / np.sum(w))
    builtin = xgb.train({**XGB_PARAMS, "objective": "binary:logistic", "base_score": p0},
                        xgb.DMatrix(X, label=y, weight=w), ROUNDS)
    init = obj.initial_score(y, w)
    assert init == pytest.approx(math.log(p0 / (1 - p0)), rel=1e-12)
    custom = xgb.train({**XGB_PARAMS, "base_score": init}, xgb.DMatrix(X, label=y, weight=w), ROUNDS, obj=obj)
    dtest = xgb.DMatrix(X)
    expected = builtin.predict(dtest)
    got = obj.transform(custom.predict(dtest, output_margin=True))
    assert np.ptp(expected) > 0.5  # the model learned something
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_xgboost_softmax_reproduces_multi_softprob():
    X, y, w = _data("multiclass")
    obj = gbdt.xgboost_objective("sparse_categorical_cross_entropy")  # multiclass_hessian="xgboost"
    margin0 = obj.initial_score(y, w, n=len(y))
    assert margin0.shape == (len(y), 3)
    params = {**XGB_PARAMS, "num_class": 3}
    builtin = xgb.train({**params, "objective": "multi:softprob"},
                        xgb.DMatrix(X, label=y, weight=w, base_margin=margin0), ROUNDS)
    custom = xgb.train(params, xgb.DMatrix(X, label=y, weight=w, base_margin=margin0), ROUNDS, obj=obj)
    dtest = xgb.DMatrix(X, base_margin=margin0)
    expected = builtin.predict(dtest)
    got = obj.transform(custom.predict(dtest, output_margin=True))
    assert got.shape == expected.shape == (len(y), 3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    # the exact Hessian is a different (valid) Newton step: the models differ
    exact = xgb.train(params, xgb.DMatrix(X, label=y, weight=w, base_margin=margin0), ROUNDS,
                      obj=gbdt.xgboost_objective("sparse_categorical_cross_entropy", multiclass_hessian="exact"))
    assert np.abs(obj.transform(exact.predict(dtest, output_margin=True)) - expected).max() > 1e-3


def test_xgboost_squared_error_reproduces_reg_squarederror():
    X, y, w = _data("regression")
    obj = gbdt.xgboost_objective("mse", scale=0.5)  # XGBoost's loss is (y - f)^2 / 2
    init = obj.initial_score(y, w)
    assert init == pytest.approx(np.sum(w * y) / np.sum(w), rel=1e-12)
    builtin = xgb.train({**XGB_PARAMS, "objective": "reg:squarederror", "base_score": init},
                        xgb.DMatrix(X, label=y, weight=w), ROUNDS)
    custom = xgb.train({**XGB_PARAMS, "base_score": init}, xgb.DMatrix(X, label=y, weight=w), ROUNDS, obj=obj)
    dtest = xgb.DMatrix(X)
    np.testing.assert_allclose(custom.predict(dtest), builtin.predict(dtest), rtol=0, atol=1e-6)


def test_xgboost_metric_is_the_weighted_mean_loss_on_margins():
    X, y, w = _data("binary")
    obj = gbdt.xgboost_objective("bce")
    history = {}
    dtrain = xgb.DMatrix(X, label=y, weight=w)
    booster = xgb.train({**XGB_PARAMS, "base_score": obj.initial_score(y, w), "disable_default_eval_metric": 1},
                        dtrain, 5, obj=obj, custom_metric=obj.metric, evals=[(dtrain, "train")],
                        evals_result=history, verbose_eval=False)
    m = booster.predict(dtrain, output_margin=True).astype(np.float64)
    w = dtrain.get_weight().astype(np.float64)  # the DMatrix holds float32 weights
    expected = np.sum(w * (np.logaddexp(0, m) - y * m)) / np.sum(w)  # weighted log loss from logits
    assert obj.metric(m, dtrain) == ("binary_cross_entropy", pytest.approx(expected, rel=1e-12))
    assert obj.metric(y, m, sample_weight=w) == pytest.approx(expected, rel=1e-12)  # scikit-learn form
    assert history["train"]["binary_cross_entropy"][-1] == pytest.approx(expected, abs=1e-6)  # logged to 6 decimals


# -- XGBoost, scikit-learn API ------------------------------------------------------------------
def test_xgbclassifier_with_losskit_objective_matches_builtin():
    X, y, w = _data("binary")
    kw = {"n_estimators": ROUNDS, "max_depth": 3, "learning_rate": 0.3, "tree_method": "hist", "n_jobs": 1,
          "random_state": 0, "base_score": float(np.sum(w * y) / np.sum(w))}  # a probability here
    builtin = xgb.XGBClassifier(objective="binary:logistic", **kw).fit(X, y, sample_weight=w)
    obj = gbdt.xgboost_objective("binary_cross_entropy")
    custom = xgb.XGBClassifier(objective=obj, eval_metric=obj.metric, **kw)
    custom.fit(X, y, sample_weight=w, eval_set=[(X, y)], sample_weight_eval_set=[w], verbose=False)
    np.testing.assert_allclose(custom.predict_proba(X), builtin.predict_proba(X), rtol=0, atol=1e-6)
    curve = custom.evals_result()["validation_0"]["binary_cross_entropy"]
    assert curve[-1] < curve[0]


def test_xgbregressor_with_losskit_objective_matches_builtin():
    X, y, w = _data("regression")
    kw = {"n_estimators": ROUNDS, "max_depth": 3, "learning_rate": 0.3, "tree_method": "hist", "n_jobs": 1,
          "random_state": 0, "base_score": float(np.sum(w * y) / np.sum(w))}
    builtin = xgb.XGBRegressor(objective="reg:squarederror", **kw).fit(X, y, sample_weight=w)
    custom = xgb.XGBRegressor(objective=gbdt.xgboost_objective("mse", scale=0.5), **kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(custom.predict(X), builtin.predict(X), rtol=0, atol=1e-6)


def test_xgbclassifier_multiclass_with_losskit_objective():
    X, y, w = _data("multiclass")
    obj = gbdt.xgboost_objective("sparse_categorical_cross_entropy")
    kw = {"n_estimators": ROUNDS, "max_depth": 3, "learning_rate": 0.3, "tree_method": "hist", "n_jobs": 1,
          "random_state": 0}
    margin0 = obj.initial_score(y, w, n=len(y))
    builtin = xgb.XGBClassifier(objective="multi:softprob", **kw).fit(X, y, sample_weight=w, base_margin=margin0)
    custom = xgb.XGBClassifier(objective=obj, **kw).fit(X, y, sample_weight=w, base_margin=margin0)
    np.testing.assert_allclose(custom.predict_proba(X, base_margin=margin0),
                               builtin.predict_proba(X, base_margin=margin0), rtol=0, atol=1e-6)


# -- LightGBM, native API -----------------------------------------------------------------------
def test_lightgbm_logistic_reproduces_binary():
    X, y, w = _data("binary")
    builtin = lgb.train({**LGB_PARAMS, "objective": "binary"}, lgb.Dataset(X, label=y, weight=w), ROUNDS)
    obj = gbdt.lightgbm_objective("binary_cross_entropy")
    init = obj.initial_score(y, w)
    custom = lgb.train({**LGB_PARAMS, "objective": obj},
                       lgb.Dataset(X, label=y, weight=w, init_score=np.full(len(y), init)), ROUNDS)
    expected = builtin.predict(X, raw_score=True)  # boost_from_average put logit(weighted mean) in the trees
    got = custom.predict(X, raw_score=True) + init  # LightGBM does not add init_score back
    assert np.ptp(expected) > 1.0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_lightgbm_softmax_reproduces_multiclass():
    X, y, w = _data("multiclass")
    params = {**LGB_PARAMS, "num_class": 3}
    builtin = lgb.train({**params, "objective": "multiclass"}, lgb.Dataset(X, label=y, weight=w), ROUNDS)
    obj = gbdt.lightgbm_objective("sparse_categorical_cross_entropy")  # multiclass_hessian="lightgbm"
    init = obj.initial_score(y, w, n=len(y))
    custom = lgb.train({**params, "objective": obj}, lgb.Dataset(X, label=y, weight=w, init_score=init), ROUNDS)
    expected = builtin.predict(X)
    got = obj.transform(custom.predict(X, raw_score=True) + init)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_lightgbm_squared_error_reproduces_regression():
    X, y, w = _data("regression")
    builtin = lgb.train({**LGB_PARAMS, "objective": "regression"}, lgb.Dataset(X, label=y, weight=w), ROUNDS)
    obj = gbdt.lightgbm_objective("mean_squared_error", scale=0.5)
    init = obj.initial_score(y, w)
    custom = lgb.train({**LGB_PARAMS, "objective": obj},
                       lgb.Dataset(X, label=y, weight=w, init_score=np.full(len(y), init)), ROUNDS)
    np.testing.assert_allclose(custom.predict(X) + init, builtin.predict(X), rtol=0, atol=1e-6)


def test_lightgbm_feval_is_the_weighted_mean_loss():
    X, y, w = _data("multiclass")
    obj = gbdt.lightgbm_objective("sparse_categorical_cross_entropy")
    init = obj.initial_score(y, w, n=len(y))
    history = {}
    ds = lgb.Dataset(X, label=y, weight=w, init_score=init)
    booster = lgb.train({**LGB_PARAMS, "num_class": 3, "objective": obj, "metric": "None"}, ds, 5, valid_sets=[ds],
                        valid_names=["train"], feval=obj.metric, callbacks=[lgb.record_evaluation(history)])
    p = _softmax(booster.predict(X, raw_score=True) + init)
    expected = -np.sum(w * np.log(p[np.arange(len(y)), y.astype(int)])) / np.sum(w)
    assert history["train"]["sparse_categorical_cross_entropy"][-1] == pytest.approx(expected, rel=1e-9)


# -- LightGBM, scikit-learn API -----------------------------------------------------------------
def test_lgbmclassifier_with_losskit_objective_matches_builtin():
    X, y, w = _data("binary")
    kw = {"n_estimators": ROUNDS, "num_leaves": 7, "learning_rate": 0.3, "n_jobs": 1, "deterministic": True,
          "force_row_wise": True, "random_state": 0, "verbose": -1}
    builtin = lgb.LGBMClassifier(**kw).fit(X, y, sample_weight=w)
    obj = gbdt.lightgbm_objective("bce")
    init = obj.initial_score(y, w, n=len(y))
    custom = lgb.LGBMClassifier(objective=obj, **kw).fit(X, y, sample_weight=w, init_score=init, **_lgb_eval(X, y),
                                                         eval_sample_weight=[w], eval_init_score=[init],
                                                         eval_metric=obj.metric)
    got = obj.transform(custom.predict(X, raw_score=True) + init)
    np.testing.assert_allclose(got, builtin.predict_proba(X)[:, 1], rtol=0, atol=1e-6)
    curve = next(iter(custom.evals_result_.values()))["binary_cross_entropy"]
    assert curve[-1] < curve[0]


def test_lgbmclassifier_multiclass_with_losskit_objective_matches_builtin():
    X, y, w = _data("multiclass")
    kw = {"n_estimators": ROUNDS, "num_leaves": 7, "learning_rate": 0.3, "n_jobs": 1, "deterministic": True,
          "force_row_wise": True, "random_state": 0, "verbose": -1}
    builtin = lgb.LGBMClassifier(**kw).fit(X, y.astype(int), sample_weight=w)
    obj = gbdt.lightgbm_objective("sparse_categorical_cross_entropy")
    init = obj.initial_score(y, w, n=len(y))
    custom = lgb.LGBMClassifier(objective=obj, **kw).fit(X, y.astype(int), sample_weight=w, init_score=init)
    raw = custom.predict(X, raw_score=True)
    assert raw.shape == (len(y), 3)
    np.testing.assert_allclose(obj.transform(raw + init), builtin.predict_proba(X), rtol=0, atol=1e-6)


def test_lgbmregressor_with_losskit_objective_matches_builtin():
    X, y, w = _data("regression")
    kw = {"n_estimators": ROUNDS, "num_leaves": 7, "learning_rate": 0.3, "n_jobs": 1, "deterministic": True,
          "force_row_wise": True, "random_state": 0, "verbose": -1}
    builtin = lgb.LGBMRegressor(**kw).fit(X, y, sample_weight=w)
    obj = gbdt.lightgbm_objective("mse", scale=0.5)
    init = obj.initial_score(y, w, n=len(y))
    custom = lgb.LGBMRegressor(objective=obj, **kw).fit(X, y, sample_weight=w, init_score=init)
    np.testing.assert_allclose(custom.predict(X) + init, builtin.predict(X), rtol=0, atol=1e-6)


# -- focal loss on an imbalanced problem ---------------------------------------------------------
def _focal_ref(y, m, gamma):
    p = _sigmoid(m)
    return -(y * (1 - p) ** gamma * np.log(p) + (1 - y) * p ** gamma * np.log(1 - p))


def test_focal_objective_trains_on_imbalanced_data_xgboost():
    X, y, _ = _data("imbalanced", n=600)
    assert 0.03 < y.mean() < 0.15
    obj = gbdt.xgboost_objective("binary_focal_cross_entropy", gamma=2.0)  # default floor and min_child_weight
    init = obj.initial_score(y)
    dtrain = xgb.DMatrix(X, label=y)
    history = {}
    booster = xgb.train({**XGB_PARAMS, "base_score": init, "disable_default_eval_metric": 1},
                        dtrain, 30, obj=obj, custom_metric=obj.metric, evals=[(dtrain, "train")],
                        evals_result=history, verbose_eval=False)
    curve = np.array(history["train"]["binary_focal_cross_entropy"])
    assert np.all(np.diff(curve) <= 1e-12), curve
    assert curve[-1] < 0.5 * curve[0]
    m = booster.predict(dtrain, output_margin=True).astype(np.float64)
    assert obj.metric(m, dtrain) == ("binary_focal_cross_entropy", pytest.approx(_focal_ref(y, m, 2.0).mean(), rel=1e-9))
    assert curve[-1] == pytest.approx(_focal_ref(y, m, 2.0).mean(), abs=1e-6)  # XGBoost logs 6 decimals
    p = obj.transform(m)
    assert p[y == 1].mean() > p[y == 0].mean() + 0.3  # it separates the rare class


def test_focal_objective_trains_on_imbalanced_data_lightgbm_sklearn():
    X, y, _ = _data("imbalanced", n=600)
    obj = gbdt.lightgbm_objective("focal", gamma=2.0, alpha=0.75, hessian_floor=1e-6)
    init = obj.initial_score(y, n=len(y))
    model = lgb.LGBMClassifier(objective=obj, n_estimators=30, num_leaves=7, learning_rate=0.3, n_jobs=1,
                               min_child_samples=5, min_sum_hessian_in_leaf=0.0, verbose=-1, random_state=0)
    model.fit(X, y, init_score=init, **_lgb_eval(X, y), eval_init_score=[init], eval_metric=obj.metric)
    curve = np.array(next(iter(model.evals_result_.values()))["binary_focal_cross_entropy"])
    assert np.all(np.diff(curve) <= 1e-12), curve
    assert curve[-1] < 0.5 * curve[0]


# -- the objective's arithmetic without a model ----------------------------------------------------
def test_weights_floor_scale_and_multiclass_conventions():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(6, 4))
    y = np.array([0, 3, 1, 2, 2, 0], dtype=float)
    w = rng.uniform(0.5, 2.0, size=6)
    p = _softmax(m)
    onehot = np.eye(4)[y.astype(int)]
    for convention, factor in (("exact", 1.0), ("xgboost", 2.0), ("lightgbm", 4 / 3), (1.5, 1.5)):
        obj = gbdt.xgboost_objective("sparse_categorical_cross_entropy", multiclass_hessian=convention,
                                     hessian_floor=None, scale=0.5)
        g, h = obj(y, m, sample_weight=w)
        np.testing.assert_allclose(g, 0.5 * w[:, None] * (p - onehot), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(h, 0.5 * factor * w[:, None] * p * (1 - p), rtol=1e-12)
    # one-hot losses get one-hot rows built from the ids; same derivatives
    g1, h1 = gbdt.lightgbm_objective("categorical_cross_entropy", multiclass_hessian="exact")(y, m, w)
    np.testing.assert_allclose(g1, w[:, None] * (p - onehot), rtol=1e-12, atol=1e-15)
    # the floor applies to the unweighted Hessian, then the weights: max(h, floor) * w
    big = np.array([40.0, -40.0])
    _, h = gbdt.xgboost_objective("bce", hessian_floor=1e-6)(np.array([1.0, 0.0]), big, sample_weight=[2.0, 3.0])
    np.testing.assert_allclose(h, [2e-6, 3e-6])
    # focal's negative curvature is floored too
    _, h = gbdt.lightgbm_objective("focal", gamma=2.0, hessian_floor=1e-9)(np.array([0.0]), np.array([3.0]))
    assert lk.binary_focal_cross_entropy.grad_hess(np.array([0.0]), np.array([3.0]), from_logits=True)[1][0] < 0
    assert h[0] == 1e-9


def test_legacy_flat_multiclass_layouts():
    rng = np.random.default_rng(4)
    m = rng.normal(size=(5, 3))
    y = np.array([0, 1, 2, 1, 0], dtype=float)
    xo = gbdt.xgboost_objective("sparse_categorical_cross_entropy")
    lo = gbdt.lightgbm_objective("sparse_categorical_cross_entropy")
    g2, h2 = xo(y, m)
    g, h = xo(y, m.reshape(-1))  # XGBoost < 2: row-major
    np.testing.assert_array_equal(g, g2.reshape(-1))
    g2, h2 = lo(y, m)
    g, h = lo(y, m.T.reshape(-1))  # LightGBM < 4: class-major
    np.testing.assert_array_equal(g, g2.T.reshape(-1))
    np.testing.assert_array_equal(h, h2.T.reshape(-1))


def test_margin_options_are_forced_and_conflicts_refused():
    obj = gbdt.xgboost_objective("poisson")
    assert obj.plan.options["log_input"] is True
    y, m = np.array([0.0, 3.0]), np.array([0.1, 1.0])
    g, h = obj(y, m)
    np.testing.assert_allclose(g, np.exp(m) - y)  # count:poisson's gradient on log-rates
    np.testing.assert_allclose(obj.transform(m), np.exp(m))
    with pytest.raises(lk.LossInputError, match="raw margin"):
        gbdt.xgboost_objective("bce", from_logits=False)
    with pytest.raises(lk.LossInputError, match="reduction"):
        gbdt.lightgbm_objective("mse", reduction="mean")
    with pytest.raises(lk.LossInputError, match="unknown option"):
        gbdt.lightgbm_objective("mse", gamma=2.0)


@pytest.mark.parametrize("name, why", [
    ("dice", "not row-separable"),
    ("lovasz_hinge", "not row-separable"),
    ("tversky", "not row-separable"),
    ("hinge", "piecewise linear"),
    ("mae", "piecewise linear"),
    ("quantile", "piecewise linear"),
    ("categorical_hinge", "piecewise linear"),
    ("kl_divergence", "target distribution"),
    ("mean_squared_logarithmic_error", "above -1"),
])
def test_unsuitable_losses_are_refused_with_the_reason(name, why):
    for make in (gbdt.xgboost_objective, gbdt.lightgbm_objective):
        with pytest.raises(lk.LossInputError, match=why):
            make(name)


def test_multi_margin_needs_p2():
    with pytest.raises(lk.LossInputError, match="p=2"):
        gbdt.xgboost_objective("multi_margin")
    gbdt.xgboost_objective("multi_margin", p=2)


def test_initial_score_minimises_the_weighted_loss():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(5)
    y = (rng.uniform(size=50) < 0.2).astype(float)
    yr = rng.normal(size=50) * 3 + 1
    w = rng.uniform(0.1, 3.0, size=50)
    cases = [("binary_focal_cross_entropy", y, {"gamma": 2.0}), ("focal", y, {"gamma": 0.5, "alpha": 0.25}),
             ("huber", yr, {"delta": 0.5}), ("log_cosh", yr, {}), ("poisson", np.abs(yr), {}),
             ("binary_cross_entropy", y, {"label_smoothing": 0.2})]
    for name, target, opts in cases:
        c = gbdt.initial_score(name, target, w, **opts)
        fn = gbdt.xgboost_objective(name, **opts)
        best = minimize_scalar(lambda t, fn=fn, target=target: fn.value(target, np.full(50, t), w),
                               bracket=(-5, 5), tol=1e-12)
        assert c == pytest.approx(best.x, abs=1e-5), name
    # closed forms
    assert gbdt.initial_score("mse", yr, w) == pytest.approx(np.sum(w * yr) / np.sum(w), rel=1e-14)
    ids = rng.integers(0, 4, size=50).astype(float)
    priors = np.bincount(ids.astype(int), weights=w, minlength=5) / w.sum()
    np.testing.assert_allclose(gbdt.initial_score("sparse_categorical_cross_entropy", ids, w, n_classes=5),
                               np.log(np.maximum(priors, 1e-15)), rtol=1e-14)
    # a softmax loss without a closed form: the constant is a stationary point
    c = gbdt.initial_score("sparse_categorical_focal_cross_entropy", ids, w, gamma=2.0)
    g, _ = lk.sparse_categorical_focal_cross_entropy.grad_hess(ids.astype(int), np.tile(c, (50, 1)), gamma=2.0,
                                                               from_logits=True, reduction="sum", sample_weight=w)
    assert np.abs(g.sum(axis=0)).max() < 1e-8
    # all-positive labels: logistic optimum at infinity, clamped as LightGBM does
    c = gbdt.initial_score("bce", np.ones(4))
    assert 1.0 / (1.0 + math.exp(c)) == pytest.approx(1e-15, rel=1e-3)
    assert 1.0 / (1.0 + math.exp(gbdt.initial_score("focal", np.zeros(4)))) == pytest.approx(1 - 1e-15)
    assert gbdt.initial_score("mse", yr, n=3).shape == (3,)
