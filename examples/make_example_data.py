"""Build the example prediction files in examples/data/ from datasets bundled with scikit-learn.

Run from the repository root (needs scikit-learn; no download: the datasets ship with it)::

    python examples/make_example_data.py

Every prediction is out-of-fold: ``cross_val_predict`` with 5 shuffled folds (seed 0), so
each row is predicted by a model that never saw it, as a held-out evaluation would. The
files are small (well under 1 MB in all) and deterministic for a given scikit-learn version;
examples/data/PROVENANCE.md records where each column comes from.

- breast_cancer.csv : binary (569 rows). label (0 = malignant, 1 = benign), prob
  (predicted P(label = 1)), logit (the decision function, log-odds).
- iris.csv          : multiclass (150 rows). label (0, 1, 2), p0..p2 (class probabilities),
  z0..z2 (class scores / logits), and y0..y2 (the one-hot label).
- iris.npz          : the same as arrays: labels (int64, (150,)), proba and logits ((150, 3)).
- iris_labels.npy, iris_proba.npy : the same labels and probabilities as plain .npy files.
- diabetes.csv      : regression (442 rows). target (disease progression after one year),
  pred (ridge regression prediction).
"""

from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data")
SEED = 0
FOLDS = 5


def _fmt(x):
    """Shortest text that reads back to the same float64 (so files round-trip exactly)."""
    return repr(float(x))


def write_csv(path, header, columns):
    n = len(columns[0])
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(header) + "\n")
        for i in range(n):
            f.write(",".join(str(int(c[i])) if np.issubdtype(np.asarray(c).dtype, np.integer) else _fmt(c[i])
                             for c in columns) + "\n")


def breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    cv = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    logit = cross_val_predict(model, X, y, cv=cv, method="decision_function")
    prob = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    write_csv(os.path.join(OUT, "breast_cancer.csv"), ["label", "prob", "logit"], [y.astype(np.int64), prob, logit])
    return len(y)


def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000))
    cv = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    proba = cross_val_predict(model, X, y, cv=cv, method="predict_proba")
    logits = cross_val_predict(model, X, y, cv=cv, method="decision_function")
    onehot = np.eye(3)[y]
    y = y.astype(np.int64)
    write_csv(
        os.path.join(OUT, "iris.csv"),
        ["label", "p0", "p1", "p2", "z0", "z1", "z2", "y0", "y1", "y2"],
        [y, *proba.T, *logits.T, *(onehot.T.astype(np.int64))],
    )
    np.savez_compressed(os.path.join(OUT, "iris.npz"), labels=y, proba=proba, logits=logits)
    np.save(os.path.join(OUT, "iris_labels.npy"), y)
    np.save(os.path.join(OUT, "iris_proba.npy"), proba)
    return len(y)


def diabetes():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_predict

    X, y = load_diabetes(return_X_y=True)
    pred = cross_val_predict(Ridge(alpha=0.1), X, y, cv=KFold(FOLDS, shuffle=True, random_state=SEED))
    write_csv(os.path.join(OUT, "diabetes.csv"), ["target", "pred"], [y, pred])
    return len(y)


PROVENANCE = """\
# Example data: provenance

Made by `python examples/make_example_data.py` with scikit-learn {sklearn} and NumPy {numpy}
(Python {python}). Nothing is downloaded: the three datasets ship inside scikit-learn
(`sklearn/datasets/data/`). Every prediction is out-of-fold (`cross_val_predict`, {folds}
shuffled folds, `random_state={seed}`), i.e. made by a model that did not see the row. Floats
are written with Python's shortest round-trip repr, so the files read back to the exact
float64 values the models produced.

| file | rows | task | source dataset | model | columns |
|---|---|---|---|---|---|
| breast_cancer.csv | {n_bc} | binary | Breast Cancer Wisconsin (Diagnostic), `load_breast_cancer` | `StandardScaler` + `LogisticRegression(C=0.1)` | `label` (0 malignant, 1 benign), `prob` = P(label=1), `logit` = decision function |
| iris.csv | {n_iris} | multiclass (3) | Fisher's Iris, `load_iris` | `StandardScaler` + `LogisticRegression(C=0.5)` (multinomial) | `label` (0, 1, 2), `p0..p2` probabilities, `z0..z2` decision scores (logits), `y0..y2` one-hot label |
| iris.npz | {n_iris} | multiclass (3) | as iris.csv | as iris.csv | arrays `labels` (int64), `proba`, `logits` (150, 3) |
| iris_labels.npy, iris_proba.npy | {n_iris} | multiclass (3) | as iris.csv | as iris.csv | the labels (int64) and probabilities (150, 3) |
| diabetes.csv | {n_diab} | regression | Diabetes (Efron et al. 2004), `load_diabetes` | `Ridge(alpha=0.1)` on the scaled features | `target` (disease progression one year after baseline), `pred` |

Dataset origins and licences (as documented by scikit-learn):

- Breast Cancer Wisconsin (Diagnostic): W. N. Street, W. H. Wolberg, O. L. Mangasarian,
  UCI Machine Learning Repository (1995), CC BY 4.0.
- Iris: R. A. Fisher (1936), UCI Machine Learning Repository, CC BY 4.0.
- Diabetes: B. Efron, T. Hastie, I. Johnstone, R. Tibshirani, "Least Angle Regression",
  Annals of Statistics 32 (2004); distributed with scikit-learn (BSD-3-Clause).

The predictions themselves are generated data under the project's licence.

Try them:

```
losskit eval examples/data/breast_cancer.csv --labels label --pred prob --loss bce,mse
losskit eval examples/data/breast_cancer.csv --labels label --pred logit --loss bce,hinge --from-logits
losskit eval examples/data/iris.csv --labels label --pred 'p*' --loss sparse_categorical_cross_entropy
losskit eval examples/data/iris.csv --labels y0..y2 --pred z0..z2 --loss cce --from-logits
losskit eval --labels examples/data/iris.npz:labels --pred examples/data/iris.npz:proba --loss scce
losskit eval examples/data/diabetes.csv --labels target --pred pred --loss mse,mae,huber --option delta=10
```
"""


def main():
    import sklearn

    os.makedirs(OUT, exist_ok=True)
    n_bc = breast_cancer()
    n_iris = iris()
    n_diab = diabetes()
    with open(os.path.join(OUT, "PROVENANCE.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(PROVENANCE.format(sklearn=sklearn.__version__, numpy=np.__version__,
                                  python=".".join(map(str, sys.version_info[:3])), folds=FOLDS, seed=SEED,
                                  n_bc=n_bc, n_iris=n_iris, n_diab=n_diab))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files to {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
