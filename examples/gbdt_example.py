"""losskit losses as XGBoost and LightGBM objectives.

Run from the repository root (needs numpy, xgboost and lightgbm: ``pip install -e .[gbdt]``)::

    python examples/gbdt_example.py

Three uses, each a few seconds on a laptop:

1. XGBoost, native API: a focal-loss objective on an imbalanced binary problem, with the
   matching evaluation metric and the optimal starting margin.
2. LightGBM, scikit-learn API: softmax cross-entropy as a custom objective reproduces the
   built-in ``multiclass`` objective (same Hessian convention, same start).
3. XGBoost, scikit-learn API: a Huber regressor from losskit, and squared error reproducing
   ``reg:squarederror`` (``scale=0.5``: XGBoost's loss is half the squared residual).
"""

from __future__ import annotations

import numpy as np

from losskit import gbdt


def make_data(kind, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    z = X[:, 0] - 0.8 * X[:, 1] + 0.6 * X[:, 2] * X[:, 3] + 0.3 * np.sin(3 * X[:, 4])
    if kind == "imbalanced":
        return X, (z + rng.normal(scale=0.5, size=n) > 1.9).astype(float)  # about 5% positives
    if kind == "multiclass":
        return X, np.digitize(z + rng.normal(scale=0.5, size=n), [-0.6, 0.5])
    y = 3.0 * z + rng.standard_t(df=2, size=n)  # heavy-tailed noise (Student t, 2 degrees of freedom)
    return X, y


def xgboost_focal():
    import xgboost as xgb

    X, y = make_data("imbalanced")
    Xtr, ytr, Xte, yte = X[:1500], y[:1500], X[1500:], y[1500:]
    obj = gbdt.xgboost_objective("binary_focal_cross_entropy", gamma=2.0, alpha=0.75)
    dtrain, dtest = xgb.DMatrix(Xtr, label=ytr), xgb.DMatrix(Xte, label=yte)
    history = {}
    booster = xgb.train(
        {"max_depth": 3, "eta": 0.2, "base_score": obj.initial_score(ytr), "disable_default_eval_metric": 1},
        dtrain, 100, obj=obj, custom_metric=obj.metric,
        evals=[(dtrain, "train"), (dtest, "test")], evals_result=history, verbose_eval=False,
    )
    proba = obj.transform(booster.predict(dtest, output_margin=True))  # custom objective: raw margins out
    curve = history["test"]["binary_focal_cross_entropy"]
    print(f"[xgboost, focal] positives: {ytr.mean():.1%} of the training rows")
    print(f"  test focal loss: {curve[0]:.4f} after 1 round -> {curve[-1]:.4f} after {len(curve)}")
    print(f"  mean predicted probability: {proba[yte == 1].mean():.3f} on positives, "
          f"{proba[yte == 0].mean():.3f} on negatives")


def lightgbm_softmax():
    import lightgbm as lgb

    X, y = make_data("multiclass")
    kw = {"n_estimators": 50, "num_leaves": 15, "learning_rate": 0.1, "verbose": -1, "random_state": 0,
          "deterministic": True, "force_row_wise": True}
    builtin = lgb.LGBMClassifier(**kw).fit(X, y)
    obj = gbdt.lightgbm_objective("sparse_categorical_cross_entropy")  # K/(K-1) p(1-p), like "multiclass"
    init = obj.initial_score(y, n=len(y))  # log class priors: LightGBM's boost_from_average for multiclass
    custom = lgb.LGBMClassifier(objective=obj, **kw).fit(X, y, init_score=init)
    # With a custom objective LightGBM returns raw scores without the init_score: add it back.
    proba = obj.transform(custom.predict(X, raw_score=True) + init)
    diff = np.abs(proba - builtin.predict_proba(X)).max()
    print(f"[lightgbm, softmax] largest probability difference to objective='multiclass': {diff:.1e}")


def xgboost_regression():
    import xgboost as xgb

    X, y = make_data("regression")
    Xtr, ytr, Xte, yte = X[:1500], y[:1500], X[1500:], y[1500:]
    kw = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1}
    huber = gbdt.xgboost_objective("huber", delta=1.0)
    m_huber = xgb.XGBRegressor(objective=huber, base_score=huber.initial_score(ytr), **kw).fit(Xtr, ytr)
    mse = gbdt.xgboost_objective("mean_squared_error", scale=0.5)
    m_mse = xgb.XGBRegressor(objective=mse, base_score=mse.initial_score(ytr), **kw).fit(Xtr, ytr)
    m_ref = xgb.XGBRegressor(objective="reg:squarederror", base_score=float(ytr.mean()), **kw).fit(Xtr, ytr)
    for name, model in (("huber", m_huber), ("squared error", m_mse), ("reg:squarederror", m_ref)):
        err = np.abs(model.predict(Xte) - yte)
        print(f"[xgboost, {name:>16}] test MAE {err.mean():.3f}, median abs error {np.median(err):.3f}")
    print(f"  losskit squared error vs reg:squarederror: max difference "
          f"{np.abs(m_mse.predict(Xte) - m_ref.predict(Xte)).max():.1e}")


if __name__ == "__main__":
    xgboost_focal()
    lightgbm_softmax()
    xgboost_regression()
