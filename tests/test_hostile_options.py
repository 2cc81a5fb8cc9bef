"""The hostile inputs of issue 16 (library half): each one gives LossInputError or a correct finite value."""

from __future__ import annotations

import decimal
import fractions
import math
import warnings

import numpy as np
import pytest

import losskit as lk
from losskit import LossInputError

Y = np.array([0.2, 0.5, 1.0, 0.0])
P = np.array([0.1, 0.6, 0.9, 0.3])
LABELS = np.array([0, 2, 1, 2])
PROBS = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])


def _huber(y, p, delta):  # independent reference
    d = np.abs(p - y)
    return float(np.mean(np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta))))


@pytest.mark.parametrize("delta", [fractions.Fraction(1, 3), decimal.Decimal("0.25"), np.float32(0.5), 1])
def test_exact_numbers_are_taken_as_floats(delta):
    want = _huber(Y, P, float(delta))
    assert float(lk.huber(Y, P, delta=delta)) == pytest.approx(want, rel=1e-12)
    torch = pytest.importorskip("torch")
    assert float(lk.huber(torch.tensor(Y), torch.tensor(P), delta=delta)) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("call", [
    lambda: lk.huber(Y, P, delta=10**400),
    lambda: lk.huber(Y, P, delta=True),
    lambda: lk.huber(Y, P, delta="1.0"),
    lambda: lk.mse(Y, P, sample_weight=10**400),
    lambda: lk.mse(Y, P, sample_weight=-5e-324),
    lambda: lk.get("sparse_categorical_cross_entropy")(LABELS, PROBS, ignore_index=2**70),
    lambda: lk.get("categorical_cross_entropy")(np.eye(3)[LABELS], PROBS, label_smoothing=False),
    lambda: lk.get("categorical_cross_entropy").grad_hess(np.eye(3)[LABELS], PROBS, label_smoothing=True),
    lambda: lk.get("gaussian_nll")(Y, P, var=None),
    lambda: lk.get("gaussian_nll")(Y, P, var=["a", "b", "c", "d"]),
    lambda: lk.get("sparse_categorical_cross_entropy")(LABELS, PROBS, class_weight=["a", "b", "c"]),
    lambda: lk.get("sparse_categorical_cross_entropy")(LABELS, PROBS, class_weight=[1.0, 2.0]),
    lambda: lk.get("binary_cross_entropy")(np.ones((4, 3)), np.full((4, 3), 0.5), pos_weight=[1.0, 2.0]),
    lambda: lk.get("binary_cross_entropy")(Y, P, pos_weight="1.0"),
    lambda: lk.get("huber", delta=10**400),
])
def test_refused(call):
    with pytest.raises(LossInputError):
        call()


@pytest.mark.parametrize("name,opts,y,p", [
    ("smooth_l1", {"beta": 1e-300}, Y, P),
    ("pseudo_huber", {"delta": 1e-300}, Y, P),
    ("mean_absolute_percentage_error", {"epsilon": 1e-300}, Y, P),
    ("dice", {"smooth": 1e300}, (np.arange(16).reshape(1, 1, 4, 4) % 2).astype(float), np.full((1, 1, 4, 4), .4)),
    ("binary_focal_cross_entropy", {"gamma": 1e30}, np.array([0, 1.0, 1, 0]), P),
    ("squared_hinge", {"margin": 1e30}, np.array([1.0, -1, 1, -1]), P),
])
def test_options_beyond_float32_are_refused_with_the_working_range(name, opts, y, p):
    loss = lk.get(name)
    y32, p32 = y.astype(np.float32), p.astype(np.float32)
    for f in (loss, loss.grad, loss.grad_hess):
        with pytest.raises(LossInputError, match="float32: use 0 or a magnitude in"):
            f(y32, p32, **opts)


def test_float64_keeps_options_float32_cannot_hold():
    g, h = lk.get("smooth_l1").grad_hess(Y, P, beta=1e-300)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    with pytest.raises(LossInputError, match="float64"):
        lk.get("generalized_cross_entropy")(LABELS, PROBS, q=5e-324)


@pytest.mark.parametrize("name", ["categorical_hinge", "generalized_cross_entropy"])
def test_nan_class_ids_without_validation_do_not_crash(name):
    ids = np.array([0, np.nan, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = lk.get(name)(ids, PROBS, validate=False)
    assert np.ndim(out) == 0  # garbage allowed, a crash is not
    with pytest.raises(LossInputError):
        lk.get(name)(ids, PROBS)


def test_bfloat16_numpy_arrays_are_computed_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    y16, p16 = Y.astype(ml_dtypes.bfloat16), P.astype(ml_dtypes.bfloat16)
    before = p16.copy()
    want = np.mean((y16.astype(np.float32) - p16.astype(np.float32)) ** 2)
    assert float(lk.mse(y16, p16)) == pytest.approx(float(want), rel=1e-6)
    assert np.array_equal(p16, before)


def test_lovasz_hinge_many_dimensions():
    y = (np.arange(2 ** 3).reshape((2,) * 3 + (1,) * 31) % 2).astype(float)
    out = lk.get("lovasz_hinge")(y, np.zeros_like(y))
    assert math.isfinite(float(out))


def test_framework_objects_and_accumulator_refuse_at_construction():
    from losskit.streaming import Accumulator
    with pytest.raises(LossInputError):
        Accumulator("huber", delta=10**400)
    torch_mod = pytest.importorskip("losskit.torch")
    with pytest.raises(LossInputError, match="boolean"):
        torch_mod.CategoricalCrossEntropy(label_smoothing=False)


def test_gbdt_scalars():
    from losskit import gbdt
    with pytest.raises(LossInputError):
        gbdt.xgboost_objective("mse", scale=10**400)
    with pytest.raises(LossInputError):
        gbdt.xgboost_objective("mse", hessian_floor=True)
    with pytest.raises(LossInputError):
        gbdt.xgboost_objective("mse")(np.zeros(3), np.ones(3), sample_weight=["a", "b", "c"])


def _huge_weight_calls():
    w = np.full(Y.shape, 1e308)  # each finite, the total past float64's largest value
    calls = [
        ("numpy value", lambda: lk.mse(Y, P, sample_weight=w)),
        ("numpy gradient", lambda: lk.mse.grad(Y, P, sample_weight=w)),
        ("float32", lambda: lk.mse(Y.astype(np.float32), P.astype(np.float32), sample_weight=np.full(4, 1e38, np.float32))),
        ("per-row weight of a 2-d loss", lambda: lk.bce(np.ones((4, 3)), np.full((4, 3), 0.5), sample_weight=np.full(4, 1e308))),
        ("chunked engine", lambda: lk.mse(np.zeros(400_000), np.ones(400_000), sample_weight=np.full(400_000, 1e304))),
    ]

    def stream():
        acc = lk.Accumulator("mse")
        acc.update(Y, P, sample_weight=w)
        return acc.result()

    calls.append(("streaming", stream))
    return calls


@pytest.mark.parametrize("name,call", _huge_weight_calls(), ids=[n for n, _ in _huge_weight_calls()])
def test_a_total_weight_past_the_dtype_is_refused_not_divided_to_zero(name, call):
    # np.average (and scikit-learn's weighted metrics) return 0.0 here: sum(w l) / inf
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow warning before the error
        with pytest.raises(LossInputError, match="sample_weight adds up past the largest float"):
            call()


def test_a_total_weight_past_the_dtype_is_refused_on_torch_without_a_torch_read():
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile
    p = torch.tensor(P, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with pytest.raises(LossInputError, match="sample_weight adds up past the largest float64"):
            lk.mse(torch.tensor(Y), p, sample_weight=torch.full((4,), 1e308, dtype=torch.float64), validate=False)
    assert not [e for e in prof.events() if e.name == "aten::_local_scalar_dense"]
    # a large finite total is still divided as usual (the mean does not depend on the scale)
    w = torch.full((4,), 1e300, dtype=torch.float64)
    want = float(np.average((Y - P) ** 2, weights=np.full(4, 1e300)))
    assert float(lk.mse(torch.tensor(Y), torch.tensor(P), sample_weight=w)) == pytest.approx(want, rel=1e-15)
