"""Hostile-input fuzzing of the library (issue 16): every registered loss, hostile option values,
NumPy / torch / JAX, value / .grad / .grad_hess / .value_and_grad.

The contract: a call either returns finite results or raises LossInputError (TypeError only for
two different array libraries); inputs are never modified; backends agree on acceptance and on the
value. CI runs a small derandomised sample; ``LOSSKIT_FUZZ_EXAMPLES=N`` runs N per test.
"""

from __future__ import annotations

import decimal
import fractions
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losskit as lk
from losskit import LossInputError

EXAMPLES = int(os.environ.get("LOSSKIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXAMPLES or 300, deadline=None, derandomize=not EXAMPLES, database=None,
                suppress_health_check=list(HealthCheck))
NAMES = lk.available(aliases=False)
HOSTILE_SCALARS = [True, False, 0, -1, 1e-300, 5e-324, 1e300, 1e30, 10**400, 2**70, -(2**70), float("nan"),
                   float("inf"), fractions.Fraction(1, 3), decimal.Decimal("0.25"), np.float32(0.5), "1.0", None,
                   [1.0], [1.0, 2.0, 3.0], ["a", "b"], -0.0, 0.5, 2]


def _example(name):
    """A valid (y_true, y_pred) for loss ``name``, or None: generated from its input kind."""
    rec = lk.get(name).record
    rng = np.random.default_rng(0)
    n, c = 4, 3
    if rec.structure == "distribution":
        logits = rng.normal(size=(n, c))
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        onehot = np.eye(c)[rng.integers(0, c, n)]
        cand = [(onehot, probs), (rng.integers(0, c, n), probs), (onehot, logits), (probs, probs)]
    elif rec.structure == "overlap":
        m = (rng.random((2, 1, 4, 4)) > 0.5).astype(float)
        cand = [(m, rng.random((2, 1, 4, 4))), (m[:, 0], rng.random((2, 4, 4)))]
    else:
        cand = [(rng.random(n), rng.random(n)), ((rng.random(n) > 0.5).astype(float), rng.random(n)),
                (np.sign(rng.normal(size=n)), rng.normal(size=n)), (rng.random((n, c)), rng.random((n, c)))]
    for yt, yp in cand:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if np.isfinite(lk.get(name)(yt, yp)):
                    return yt, yp
        except LossInputError:
            continue
    return None


EXAMPLES_BY_NAME = {n: ex for n in NAMES if (ex := _example(n)) is not None}


def _backends():
    out = [("numpy", np.asarray)]
    try:
        import torch
        out.append(("torch", lambda a: torch.as_tensor(np.asarray(a))))
    except ImportError:
        pass
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        out.append(("jax", lambda a: jnp.asarray(np.asarray(a))))
    except ImportError:
        pass
    return out


BACKENDS = _backends()
METHODS = ["value", "grad", "grad_hess", "value_and_grad"]


def _call(loss, method, yt, yp, opts):
    f = loss if method == "value" else getattr(loss, method)
    out = f(yt, yp, **opts)
    return out if isinstance(out, tuple) else (out,)


def _finite(outs):
    return all(np.all(np.isfinite(np.asarray(o, dtype=float))) for o in outs)


def _outcome(name, method, backend, yt, yp, opts):
    """("ok", first output as NumPy) or ("refused", message); anything else fails the test."""
    loss = lk.get(name)
    conv = dict(BACKENDS)[backend]
    yt_b, yp_b = conv(yt), conv(yp)
    before = (np.array(yt_b, copy=True), np.array(yp_b, copy=True))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs = _call(loss, method, yt_b, yp_b, opts)
    except LossInputError as e:
        return "refused", str(e)
    np.testing.assert_array_equal(np.asarray(yt_b), before[0])  # inputs unmodified
    np.testing.assert_array_equal(np.asarray(yp_b), before[1])
    if opts.get("validate", True) is not False:  # without validation garbage is allowed, a crash is not
        assert _finite(outs), f"{name}.{method} on {backend} with {opts!r}: non-finite {outs!r}"
    return "ok", np.asarray(outs[0], dtype=float)


option_values = st.sampled_from(HOSTILE_SCALARS) | st.floats(allow_nan=True, allow_infinity=True) \
    | st.integers(min_value=-(2**80), max_value=2**80)


@FUZZ
@given(name=st.sampled_from(sorted(EXAMPLES_BY_NAME)), method=st.sampled_from(METHODS), data=st.data())
def test_hostile_options_refused_or_finite(name, method, data):
    rec = lk.get(name).record
    names = sorted(rec.options) + ["sample_weight", "reduction", "validate"]
    key = data.draw(st.sampled_from(names))
    value = data.draw(option_values)
    yt, yp = EXAMPLES_BY_NAME[name]
    results = {b: _outcome(name, method, b, yt, yp, {key: value}) for b, _ in BACKENDS}
    kinds = {b: r[0] for b, r in results.items()}
    assert len(set(kinds.values())) == 1, f"{name}.{method}({key}={value!r}): backends disagree {kinds}"


GRID = [("beta", 1e-300), ("delta", 1e-300), ("epsilon", 1e-300), ("q", 5e-324), ("smooth", 1e300),
        ("label_smoothing", False), ("label_smoothing", True), ("ignore_index", 2**70), ("delta", 10**400),
        ("epsilon", fractions.Fraction(1, 3)), ("epsilon", decimal.Decimal("0.001")), ("gamma", True),
        ("margin", float("nan")), ("alpha", 10**400), ("smooth", -(10**400)), ("gamma", 1e30), ("margin", 1e30),
        ("class_weight", "1.0"), ("pos_weight", [1.0, 2.0]), ("var", None), ("label_smoothing", 1e-300)]


@pytest.mark.parametrize("key,value", GRID, ids=[f"{k}={v!r}"[:40] for k, v in GRID])
def test_paths_agree_on_hostile_grid(key, value):
    """The engine (compiled / chunked NumPy), the plain reference path and every backend accept and
    refuse exactly the same calls."""
    from losskit import engine
    for name in sorted(EXAMPLES_BY_NAME):
        if key not in lk.get(name).record.options:
            continue
        yt, yp = EXAMPLES_BY_NAME[name]
        yt32, yp32 = np.asarray(yt, np.float32), np.asarray(yp, np.float32)
        for method in METHODS:
            seen = {}
            for b, _ in BACKENDS:
                seen[b] = _outcome(name, method, b, yt32, yp32, {key: value})[0]
            accepts = engine.accepts
            try:  # the reference path: the engine switched off
                engine.accepts = lambda *a, **k: False
                seen["reference"] = _outcome(name, method, "numpy", yt32, yp32, {key: value})[0]
            finally:
                engine.accepts = accepts
            assert len(set(seen.values())) == 1, f"{name}.{method}({key}={value!r}): {seen}"


@FUZZ
@given(name=st.sampled_from(sorted(EXAMPLES_BY_NAME)), method=st.sampled_from(METHODS),
       what=st.sampled_from(["y_true", "y_pred", "sample_weight"]),
       bad=st.sampled_from([None, "abc", object(), [[1.0], [1.0, 2.0]], 10**400, True, "1.0"]))
def test_hostile_arrays(name, method, what, bad):
    yt, yp = EXAMPLES_BY_NAME[name]
    for b, conv in BACKENDS:
        args = {"y_true": conv(yt), "y_pred": conv(yp)}
        opts = {}
        if what == "sample_weight":
            opts["sample_weight"] = bad
        else:
            args[what] = bad
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outs = _call(lk.get(name), method, args["y_true"], args["y_pred"], opts)
        except LossInputError:
            continue
        assert _finite(outs), f"{name}.{method} {what}={bad!r} on {b}"
