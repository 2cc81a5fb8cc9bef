"""losskit.keras: Keras ``Loss`` classes whose per-sample values Keras weights and reduces.

Oracles are Keras's own losses (``keras.losses.*``) on the same float32 inputs, called
directly and through ``model.evaluate`` / ``model.fit``; every case maps Keras's convention
to losskit options as README's "Coming from Keras" table does. The JAX backend is tested in
this process (conftest sets ``KERAS_BACKEND=jax``); the torch and NumPy backends in
subprocesses (the backend is fixed when Keras is imported), which also load a model saved
here without custom_objects.
"""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
lkk = pytest.importorskip("losskit.keras")

import losskit as lk  # noqa: E402
from losskit.spec import option_type  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
TOL = {"rtol": 3e-5, "atol": 3e-6}  # float32 on both sides
N = 12


# --- data (float32; Keras converts y_true and y_pred to the Loss's float32 anyway) -------------
def _f32(*arrays):
    return tuple(np.asarray(a, dtype=np.float32) for a in arrays)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def g_reg(rng):
    return _f32(rng.normal(size=(N, 3)), rng.normal(size=(N, 3)))


def g_pos(rng):  # non-negative targets and predictions (MSLE, Poisson, MAPE)
    return _f32(rng.uniform(0.2, 3.0, (N, 3)), rng.uniform(0.05, 3.0, (N, 3)))


def g_bin_probs(rng):  # labels {0, 1}; probabilities with exact 0 and 1 (both sides: -log(1e-7))
    y = (rng.uniform(size=(N, 3)) < 0.5).astype(float)
    p = rng.uniform(0.01, 0.99, (N, 3))
    p[0, 0], p[1, 1], y[0, 0], y[1, 1] = 0.0, 1.0, 1.0, 1.0
    return _f32(y, p)


def g_bin_logits(rng):
    return _f32((rng.uniform(size=(N, 3)) < 0.5), 3 * rng.normal(size=(N, 3)))


def g_bin_column(rng):  # (N,) labels against (N, 1) predictions: Keras's rank rule
    return _f32((rng.uniform(size=N) < 0.5), 2 * rng.normal(size=(N, 1)))


def g_margin(rng):  # labels {-1, 1}, real scores
    return _f32(np.where(rng.uniform(size=(N, 3)) < 0.5, -1.0, 1.0), 1.5 * rng.normal(size=(N, 3)))


def g_onehot_probs(rng, c=4):
    return _f32(np.eye(c)[rng.integers(0, c, N)], _softmax(2 * rng.normal(size=(N, c))))


def g_onehot_scores(rng, c=4):  # unnormalised positive scores: Keras renormalises the rows
    return _f32(np.eye(c)[rng.integers(0, c, N)], rng.uniform(0.1, 1.0, (N, c)))


def g_soft_logits(rng, c=4):
    return _f32(_softmax(rng.normal(size=(N, c))), 2 * rng.normal(size=(N, c)))


def g_sparse_probs(rng, c=4):
    return _f32(rng.integers(0, c, N), _softmax(2 * rng.normal(size=(N, c))))


def g_sparse_logits(rng, c=4):
    return _f32(rng.integers(0, c, N), 2 * rng.normal(size=(N, c)))


def g_sequence_logits(rng, c=4):  # (N, T, C): per-sample values (N, T)
    return _f32(np.eye(c)[rng.integers(0, c, (N, 5))], rng.normal(size=(N, 5, c)))


def g_dist(rng, c=4):  # target rows with zeros, prediction rows
    t = _softmax(2 * rng.normal(size=(N, c)))
    t[:, 0] = 0.0
    return _f32(t / t.sum(-1, keepdims=True), _softmax(rng.normal(size=(N, c))))


def g_vectors(rng):
    return _f32(rng.normal(size=(N, 5)), rng.normal(size=(N, 5)))


def g_masks(rng):  # (N, 4, 4) binary masks and probabilities
    return _f32(rng.uniform(size=(N, 4, 4)) < 0.4, rng.uniform(size=(N, 4, 4)))


K = keras.losses
# id: (Keras's loss, losskit.keras's loss with the options of README's table, data)
CASES = {
    "mse": (lambda **kw: K.MeanSquaredError(**kw), lambda **kw: lkk.MeanSquaredError(**kw), g_reg),
    "mae": (lambda **kw: K.MeanAbsoluteError(**kw), lambda **kw: lkk.MeanAbsoluteError(**kw), g_reg),
    "mape": (lambda **kw: K.MeanAbsolutePercentageError(**kw), lambda **kw: lkk.MeanAbsolutePercentageError(**kw, epsilon=1e-7), g_pos),
    "msle": (lambda **kw: K.MeanSquaredLogarithmicError(**kw), lambda **kw: lkk.MeanSquaredLogarithmicError(**kw, epsilon=1e-7), g_pos),
    "huber": (lambda **kw: K.Huber(**kw, delta=0.7), lambda **kw: lkk.Huber(**kw, delta=0.7), g_reg),
    "log_cosh": (lambda **kw: K.LogCosh(**kw), lambda **kw: lkk.LogCosh(**kw), g_reg),
    "poisson": (lambda **kw: K.Poisson(**kw), lambda **kw: lkk.Poisson(**kw, epsilon=1e-7), g_pos),
    "bce": (lambda **kw: K.BinaryCrossentropy(**kw), lambda **kw: lkk.BinaryCrossEntropy(**kw, epsilon=1e-7), g_bin_probs),
    "bce_smooth": (lambda **kw: K.BinaryCrossentropy(**kw, label_smoothing=0.2),
                   lambda **kw: lkk.BinaryCrossEntropy(**kw, epsilon=1e-7, label_smoothing=0.2), g_bin_probs),
    "bce_logits": (lambda **kw: K.BinaryCrossentropy(**kw, from_logits=True, label_smoothing=0.1),
                   lambda **kw: lkk.BinaryCrossEntropy(**kw, from_logits=True, label_smoothing=0.1), g_bin_logits),
    "bce_column": (lambda **kw: K.BinaryCrossentropy(**kw, from_logits=True),
                   lambda **kw: lkk.BinaryCrossEntropy(**kw, from_logits=True), g_bin_column),
    "mse_column": (lambda **kw: K.MeanSquaredError(**kw), lambda **kw: lkk.MeanSquaredError(**kw), g_bin_column),
    "focal": (lambda **kw: K.BinaryFocalCrossentropy(**kw, gamma=2.0),
              lambda **kw: lkk.BinaryFocalCrossEntropy(**kw, gamma=2.0, epsilon=1e-7), g_bin_probs),
    "focal_logits": (lambda **kw: K.BinaryFocalCrossentropy(**kw, apply_class_balancing=True, alpha=0.3, gamma=1.5,
                                                       from_logits=True, label_smoothing=0.1),
                     lambda **kw: lkk.BinaryFocalCrossEntropy(**kw, alpha=0.3, gamma=1.5, from_logits=True, label_smoothing=0.1),
                     g_bin_logits),
    "cce": (lambda **kw: K.CategoricalCrossentropy(**kw),
            lambda **kw: lkk.CategoricalCrossEntropy(**kw, renormalize=True, epsilon=1e-7), g_onehot_scores),
    "cce_logits": (lambda **kw: K.CategoricalCrossentropy(**kw, from_logits=True, label_smoothing=0.1),
                   lambda **kw: lkk.CategoricalCrossEntropy(**kw, from_logits=True, label_smoothing=0.1), g_soft_logits),
    "cce_sequence": (lambda **kw: K.CategoricalCrossentropy(**kw, from_logits=True),
                     lambda **kw: lkk.CategoricalCrossEntropy(**kw, from_logits=True), g_sequence_logits),
    "scce": (lambda **kw: K.SparseCategoricalCrossentropy(**kw),
             lambda **kw: lkk.SparseCategoricalCrossEntropy(**kw, renormalize=True, epsilon=1e-7), g_sparse_probs),
    "scce_logits": (lambda **kw: K.SparseCategoricalCrossentropy(**kw, from_logits=True),
                    lambda **kw: lkk.SparseCategoricalCrossEntropy(**kw, from_logits=True), g_sparse_logits),
    "scce_ignore": (lambda **kw: K.SparseCategoricalCrossentropy(**kw, from_logits=True, ignore_class=2),
                    lambda **kw: lkk.SparseCategoricalCrossEntropy(**kw, from_logits=True, ignore_index=2), g_sparse_logits),
    "cfce": (lambda **kw: K.CategoricalFocalCrossentropy(**kw, alpha=0.4, gamma=2.5),
             lambda **kw: lkk.CategoricalFocalCrossEntropy(**kw, alpha=0.4, gamma=2.5, renormalize=True, epsilon=1e-7),
             g_onehot_probs),
    "cfce_logits": (lambda **kw: K.CategoricalFocalCrossentropy(**kw, from_logits=True, label_smoothing=0.1),
                    lambda **kw: lkk.CategoricalFocalCrossEntropy(**kw, from_logits=True, label_smoothing=0.1), g_soft_logits),
    "gce": (lambda **kw: K.CategoricalGeneralizedCrossEntropy(**kw, q=0.7), lambda **kw: lkk.GeneralizedCrossEntropy(**kw, q=0.7),
            g_sparse_probs),
    "kld": (lambda **kw: K.KLDivergence(**kw),
            lambda **kw: lkk.KLDivergence(**kw, normalized=False, epsilon=1e-7, clip_target=True), g_dist),
    "hinge": (lambda **kw: K.Hinge(**kw), lambda **kw: lkk.Hinge(**kw), g_margin),
    "hinge01": (lambda **kw: K.Hinge(**kw), lambda **kw: lkk.Hinge(**kw), g_bin_logits),
    "squared_hinge": (lambda **kw: K.SquaredHinge(**kw), lambda **kw: lkk.SquaredHinge(**kw), g_margin),
    "categorical_hinge": (lambda **kw: K.CategoricalHinge(**kw), lambda **kw: lkk.CategoricalHinge(**kw, convention="keras"),
                          g_soft_logits),
    "cosine": (lambda **kw: K.CosineSimilarity(**kw), lambda **kw: lkk.CosineSimilarity(**kw, epsilon=1e-7), g_vectors),
    "dice": (lambda **kw: K.Dice(**kw, axis=(1, 2)), lambda **kw: lkk.Dice(**kw, axis=(1, 2), smooth_nr=0.0, smooth_dr=1e-7), g_masks),
    "tversky": (lambda **kw: K.Tversky(**kw, alpha=0.3, beta=0.7, axis=(1, 2)),
                lambda **kw: lkk.Tversky(**kw, alpha=0.7, beta=0.3, axis=(1, 2), smooth_nr=0.0, smooth_dr=1e-7), g_masks),
}
# Fit (gradients through Keras's training step) for these: smooth losses, no clip active.
# model.evaluate on the torch backend (the first four on NumPy): one or more of each kind.
OTHER_EVALUATE = ("bce_logits", "scce_ignore", "dice", "mse_column", "cce_sequence", "focal", "cce", "cosine",
                  "categorical_hinge", "huber", "kld", "poisson")
FIT_CASES = ("mse", "bce_logits", "scce_logits", "focal_logits", "huber")


def case_data(case):
    rng = np.random.default_rng(sorted(CASES).index(case))
    y, p = CASES[case][2](rng)
    w = rng.uniform(0.0, 2.0, N).astype(np.float32)
    w[3] = 0.0
    if p.ndim == 3 and case != "dice" and case != "tversky":  # (N, T) values: Keras broadcasts (N, 1) weights only
        w = w[:, None]
    return y, p, w


def _identity_model(shape):
    model = keras.Sequential([keras.Input(shape=shape), keras.layers.Identity()])
    return model


def evaluate(loss, y, p, w, batch_size=5):
    """``model.evaluate`` of an identity model (its output is ``p``) with ``loss``."""
    model = _identity_model(p.shape[1:])
    model.compile(loss=loss)
    return float(model.evaluate(p, y, sample_weight=w, batch_size=batch_size, verbose=0))


def _mlp(n_in, n_out, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(shape=(n_in,)), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(n_out)])


def fit_weights(loss, case):
    """The weights after two epochs of SGD on a tiny MLP from a fixed start."""
    y, p, w = case_data(case)
    x = np.random.default_rng(1).normal(size=(N, 4)).astype(np.float32)
    model = _mlp(4, p.shape[-1])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    model.fit(x, y, sample_weight=w, batch_size=6, epochs=2, shuffle=False, verbose=0)
    return [np.asarray(v) for v in model.get_weights()]


def backend_report(backend):
    """Every number the backend tests compare, from this process's backend (JSON-able)."""
    out = {"backend": keras.backend.backend(), "call": {}, "evaluate": {}, "fit": {}}
    for case, (theirs, ours, _) in CASES.items():
        y, p, w = case_data(case)
        out["call"][case] = [float(f()(y, p, sample_weight=s)) for s in (None, w) for f in (ours, theirs)]
        if case in (OTHER_EVALUATE if backend != "numpy" else OTHER_EVALUATE[:4]):
            out["evaluate"][case] = [evaluate(f(), y, p, w) for f in (ours, theirs)]
    if backend != "numpy":  # the NumPy backend cannot train
        for case in FIT_CASES[:2]:
            theirs, ours, _ = CASES[case]
            out["fit"][case] = max(float(np.abs(a - b).max()) for a, b in
                                   zip(fit_weights(ours(), case), fit_weights(theirs(), case)))
    return out


# --- the JAX backend, in this process --------------------------------------------------------
jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="in-process tests run on Keras's JAX backend")


@jax_only
@pytest.mark.parametrize("case", sorted(CASES))
def test_call_equals_keras(case):
    """The per-sample values (reduction=None) and the default reduction, unweighted and with
    (N,) and (N, 1) sample weights."""
    theirs, ours, _ = CASES[case]
    y, p, w = case_data(case)
    np.testing.assert_allclose(np.asarray(ours(reduction=None)(y, p)), np.asarray(theirs(reduction=None)(y, p)), **TOL)
    for sw in (None, w, w[:, None]):
        np.testing.assert_allclose(float(ours()(y, p, sample_weight=sw)), float(theirs()(y, p, sample_weight=sw)),
                                   **TOL)


@jax_only
@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight", "none"])
@pytest.mark.parametrize("case", ["mse", "scce_ignore", "dice"])
def test_keras_reductions(case, reduction):
    theirs, ours, _ = CASES[case]
    y, p, w = case_data(case)
    np.testing.assert_allclose(np.asarray(ours(reduction=reduction)(y, p, sample_weight=w)),
                               np.asarray(theirs(reduction=reduction)(y, p, sample_weight=w)), **TOL)


@jax_only
@pytest.mark.parametrize("case", sorted(CASES))
def test_evaluate_with_sample_weight_equals_keras(case):
    theirs, ours, _ = CASES[case]
    y, p, w = case_data(case)
    np.testing.assert_allclose(evaluate(ours(), y, p, w), evaluate(theirs(), y, p, w), **TOL)


@jax_only
@pytest.mark.parametrize("case", FIT_CASES)
def test_fit_equals_keras(case):
    """Two epochs of SGD with sample weights: the same weights as with Keras's loss (so the
    closed-form gradients under jax.jit equal Keras's autodiff)."""
    theirs, ours, _ = CASES[case]
    for a, b in zip(fit_weights(ours(), case), fit_weights(theirs(), case)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_issue_15_weighted_evaluate():
    """The issue: losskit's BCE in model.evaluate with sample weights equals Keras's."""
    rng = np.random.default_rng(15)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (rng.uniform(size=40) < 0.5).astype(np.float32)
    sw = rng.uniform(0.1, 5.0, 40).astype(np.float32)
    results = []
    for loss in (lkk.BinaryCrossEntropy(from_logits=True), keras.losses.BinaryCrossentropy(from_logits=True)):
        model = _mlp(3, 1, seed=15)
        model.compile(loss=loss)
        results.append(model.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0))
    np.testing.assert_allclose(results[0], results[1], **TOL)
    # the oracle written out: sum(w * l) / n of the per-row BCE on logits, in float64
    logits = np.asarray(model.predict(x, verbose=0), dtype=np.float64)[:, 0]
    per_row = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(results[1], np.sum(sw * per_row) / 40, rtol=1e-5)


def test_per_sample_values():
    """call() gives Keras's per-sample values: elementwise losses averaged over the last axis,
    distribution losses without the class axis, overlap losses what remains of their axis."""
    y, p = g_reg(np.random.default_rng(0))
    values = np.asarray(lkk.MeanSquaredError().call(y, p))
    np.testing.assert_allclose(values, ((y.astype(float) - p) ** 2).mean(axis=-1), rtol=1e-6)
    assert np.asarray(lkk.CategoricalCrossEntropy(from_logits=True).call(*g_sequence_logits(np.random.default_rng(0)))
                      ).shape == (N, 5)
    assert np.asarray(lkk.Dice(axis=(1, 2)).call(*g_masks(np.random.default_rng(0)))).shape == (N,)
    assert np.asarray(lkk.Dice().call(*g_masks(np.random.default_rng(0)))).shape == ()


def test_class_weight_is_a_per_sample_weight():
    """class_weight multiplies the per-sample values; Keras then divides by the batch size."""
    y, p, w = case_data("scce_logits")
    cw = np.array([1.0, 2.0, 0.5, 3.0])
    ours = lkk.SparseCategoricalCrossEntropy(from_logits=True, class_weight=cw)(y, p, sample_weight=w)
    base = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(y, p)
    expected = np.sum(np.asarray(base) * cw[y.astype(int)] * w) / N
    np.testing.assert_allclose(float(ours), expected, **TOL)


@jax_only
def test_masked_timesteps_equal_keras():
    """A Masking layer's mask reaches the per-timestep values ((N, T) for a sequence CCE) as
    with Keras's loss: masked timesteps leave the mean."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 5, 3)).astype(np.float32)
    x[:, 3:] = 0.0  # the last two timesteps masked
    x[0, 1:] = 0.0
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (N, 5))]
    w = rng.uniform(0.5, 2.0, (N, 1)).astype(np.float32)
    results = []
    for loss in (lkk.CategoricalCrossEntropy(from_logits=True), keras.losses.CategoricalCrossentropy(from_logits=True)):
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(0.0), keras.layers.Dense(4)])
        model.compile(loss=loss)
        results.append(model.evaluate(x, y, sample_weight=w, batch_size=N, verbose=0))
    np.testing.assert_allclose(results[0], results[1], **TOL)


@jax_only
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_dtype_equals_keras(dtype):
    y, p, w = case_data("bce_logits")
    ours = lkk.BinaryCrossEntropy(from_logits=True, dtype=dtype)(y, p, sample_weight=w)
    theirs = keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)(y, p, sample_weight=w)
    assert str(ours.dtype) == str(theirs.dtype)  # float64 is float32 where JAX runs without x64
    tol = {"float16": 2e-3, "bfloat16": 1e-2, "float64": 1e-12 if str(ours.dtype) == "float64" else 3e-5}[dtype]
    np.testing.assert_allclose(float(ours), float(theirs), rtol=tol)


# --- classes, signatures, configuration --------------------------------------------------------
def test_one_generated_class_per_loss():
    assert set(lkk.CLASSES) == set(lk.LOSSES)
    for name, cls in lkk.CLASSES.items():
        assert cls.__name__ == lkk.class_name(name) and getattr(lkk, cls.__name__) is cls
        assert issubclass(cls, keras.losses.Loss) and cls.__module__ == "losskit.keras"
        assert keras.saving.get_registered_object(f"losskit>{cls.__name__}") is cls
        params = inspect.signature(cls).parameters
        record = lk.LOSSES[name].record
        assert list(params) == [*record.options, "reduction", "name", "dtype", "validate"]
        for key, default in record.options.items():
            assert params[key].default == default or (params[key].default is None and default is None)
            assert params[key].annotation == option_type(key, default)
        assert params["reduction"].default == "sum_over_batch_size"
        loss = cls()
        assert loss.name == name and loss.reduction == "sum_over_batch_size" and loss.dtype == "float32"
    assert lkk.BinaryFocalCrossEntropy.__name__ == "BinaryFocalCrossEntropy"
    assert {"KLDivergence", "ReverseKLDivergence", "GaussianNLL", "MeanSquaredError"} <= set(lkk.__all__)
    assert keras.saving.get_registered_object("losskit>Loss") is lkk.Loss


def test_loss_by_name_alias_or_function():
    a = lkk.Loss("bce", from_logits=True)
    b = lkk.Loss(lk.get("binary_crossentropy", from_logits=True), name="b")
    c = lkk.BinaryCrossEntropy(from_logits=True)
    y, p, w = case_data("bce_logits")
    values = [float(f(y, p, sample_weight=w)) for f in (a, b, c)]
    assert values[0] == values[1] == values[2]
    assert (a.loss, a.name, b.name, repr(c)) == ("binary_cross_entropy", "binary_cross_entropy", "b",
                                                 "BinaryCrossEntropy(from_logits=True)")
    assert repr(a) == "Loss('binary_cross_entropy', from_logits=True)"


def test_bad_arguments():
    with pytest.raises(lk.LossInputError, match="unknown option 'gama'"):
        lkk.BinaryFocalCrossEntropy(gama=2.0)
    with pytest.raises(lk.LossInputError, match="unknown loss"):
        lkk.Loss("not_a_loss")
    with pytest.raises(lk.LossInputError, match="sample_weight"):
        lkk.Loss("mse", sample_weight=[1.0])
    with pytest.raises(lk.LossInputError, match="reduction"):
        lkk.Loss(lk.get("mse", reduction="sum"))
    with pytest.raises(ValueError, match="reduction"):
        lkk.MeanSquaredError(reduction="batchmean")
    with pytest.raises(lk.LossInputError):
        lkk.BinaryCrossEntropy()(np.array([[0.0, 1.0]]), np.array([[0.5, 1.5]]))  # p > 1, validated


def test_config_round_trip():
    cw = np.array([1.0, 2.0, 0.5, 3.0], dtype=np.float32)
    losses = [lkk.SparseCategoricalCrossEntropy(from_logits=True, class_weight=cw, name="weighted", reduction="sum"),
              lkk.Loss("focal", alpha=0.3, gamma=np.float32(1.5), dtype="float32"),
              lkk.Dice(axis=(1, 2), smooth_nr=0.0, validate=False),
              lkk.Loss(lk.get("bce", from_logits=True)),
              lkk.MeanSquaredError(dtype=keras.DTypePolicy("mixed_float16"))]
    for loss in losses:
        config = loss.get_config()
        assert json.loads(json.dumps(config)) == config  # plain JSON: arrays as lists, tuples as lists
        again = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(loss))))
        assert type(again) is type(loss) and again.get_config() == config and repr(again) == repr(loss)
    assert losses[0].get_config()["class_weight"] == [1.0, 2.0, 0.5, 3.0]
    assert losses[2].get_config()["axis"] == [1, 2] and keras.losses.deserialize(
        keras.losses.serialize(losses[2])).options["axis"] == (1, 2)
    assert "loss" in losses[1].get_config() and "loss" not in losses[0].get_config()


# --- save and load; the torch and NumPy backends in subprocesses ------------------------------
def _saved_model(directory):
    """A model with an array option in its loss, saved to ``directory/m.keras``: (path, x, y, w)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30).astype(np.float32)
    w = rng.uniform(0.1, 2.0, 30).astype(np.float32)
    model = _mlp(4, 3, seed=5)
    model.compile(optimizer="adam", loss=lkk.SparseCategoricalCrossEntropy(
        from_logits=True, class_weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1))
    model.fit(x, y, sample_weight=w, epochs=2, batch_size=10, verbose=0)
    path = directory / "m.keras"
    model.save(path)
    return path, x, y, w, model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path, x, y, w, model = _saved_model(tmp_path_factory.mktemp("keras"))
    np.savez(path.with_suffix(".npz"), x=x, y=y, w=w)
    return path, float(model.evaluate(x, y, sample_weight=w, verbose=0))


_CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
import keras, losskit.keras  # losskit.keras registers its classes: nothing else is passed to load_model
import test_keras_loss as T
out = T.backend_report({backend!r})
data = np.load({data!r})
model = keras.models.load_model({path!r})
model.jit_compile = False  # the JAX model saved jit_compile=True: torch.compile here would take ~15 s
out["loaded"] = float(model.evaluate(data["x"], data["y"], sample_weight=data["w"], verbose=0))
out["loaded_loss"] = type(model.loss).__name__
print("REPORT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def reports(saved):
    """Run the torch and NumPy backend reports at the same time, in two subprocesses."""
    path, _ = saved
    procs = {}
    for backend in ("torch", "numpy"):
        if backend == "torch":
            pytest.importorskip("torch")
        env = {**os.environ, "KERAS_BACKEND": backend, "OMP_NUM_THREADS": "1", "JAX_PLATFORMS": "cpu"}
        code = _CHILD.format(tests=str(HERE), backend=backend, data=str(path.with_suffix(".npz")), path=str(path))
        procs[backend] = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, env=env, cwd=ROOT)
    out = {}
    for backend, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stdout + stderr
        out[backend] = json.loads(stdout.split("REPORT", 1)[1])
    return out


@jax_only
def test_save_and_load_model(saved, tmp_path):
    path, expected = saved
    data = np.load(path.with_suffix(".npz"))
    loaded = keras.models.load_model(path)  # no custom_objects
    assert type(loaded.loss) is lkk.SparseCategoricalCrossEntropy
    assert loaded.loss.get_config()["class_weight"] == [1.0, 2.0, 0.5]
    assert float(loaded.evaluate(data["x"], data["y"], sample_weight=data["w"], verbose=0)) == pytest.approx(
        expected, rel=1e-6)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_other_backends(reports, saved, backend):
    report = reports[backend]
    assert report["backend"] == backend
    for case, (ours, theirs, ours_w, theirs_w) in report["call"].items():
        np.testing.assert_allclose([ours, ours_w], [theirs, theirs_w], **TOL, err_msg=f"{backend} {case}")
    for case, (ours, theirs) in report["evaluate"].items():
        np.testing.assert_allclose(ours, theirs, **TOL, err_msg=f"{backend} evaluate {case}")
    for case, diff in report["fit"].items():
        assert diff < 1e-5, (backend, case, diff)
    assert report["loaded_loss"] == "SparseCategoricalCrossEntropy"
    assert report["loaded"] == pytest.approx(saved[1], rel=1e-5)  # the model saved on JAX, evaluated here
    if keras.backend.backend() == "jax":  # the same numbers as on JAX
        for case in ("mse", "bce_logits", "scce_ignore", "dice"):
            y, p, w = case_data(case)
            theirs, ours, _ = CASES[case]
            jax_values = [float(ours()(y, p, sample_weight=s)) for s in (None, w)]
            np.testing.assert_allclose(jax_values, report["call"][case][0::2], **TOL)


# --- imports, the example ------------------------------------------------------------------
def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, **env})


def test_import_losskit_never_imports_keras_and_missing_keras_names_the_extra():
    out = _run("import sys; import losskit, losskit.torch\n"
               "assert 'keras' not in sys.modules, 'import losskit imported keras'\n"
               "sys.modules['keras'] = None\n"
               "try:\n    import losskit.keras\nexcept ImportError as e:\n    print('ERR', e)\n")
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and "pip install 'losskit[keras]'" in out.stdout


def test_keras_without_a_backend_says_how_to_choose_one():
    out = _run("try:\n    import losskit.keras\nexcept ImportError as e:\n    print('ERR', e)\n",
               KERAS_BACKEND="tensorflow")
    if "ERR" not in out.stdout:
        pytest.skip("TensorFlow is installed")
    assert "KERAS_BACKEND=jax" in out.stdout and "losskit[keras]" in out.stdout
