"""Property tests (hypothesis): valid inputs give finite results; invalid inputs give
LossInputError, never another exception, a NaN or a silent broadcast."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from refs import CASES

import losskit as lk

IDS = [c.id for c in CASES]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _all_finite(*arrays):
    return all(np.all(np.isfinite(np.asarray(a))) for a in arrays)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(["float32", "float64"]),
       reduction=st.sampled_from(["mean", "sum", "none", "sum_over_batch_size"]))
def test_valid_inputs_give_finite_results(case, seed, dtype, reduction):
    y, p = case.make(np.random.default_rng(seed))
    y = y.astype(dtype) if y.dtype.kind == "f" else y
    f = lk.get(case.loss, **case.options)
    value = f(y, p.astype(dtype), reduction=reduction)
    g, h = f.grad_hess(y, p.astype(dtype), reduction=reduction)
    assert _all_finite(value, g, h)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), where=st.floats(0, 1), bad=st.sampled_from([np.nan, np.inf, -np.inf]),
       target=st.sampled_from(["y_true", "y_pred"]))
def test_non_finite_inputs_are_rejected(case, seed, where, bad, target):
    y, p = case.make(np.random.default_rng(seed))
    arr = p if target == "y_pred" or y.dtype.kind != "f" else y
    flat = arr.reshape(-1)
    flat[int(where * (flat.size - 1))] = bad
    with pytest.raises(lk.LossInputError, match="must be finite"):
        lk.get(case.loss, **case.options)(y, p)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shape_mismatch_is_rejected_not_broadcast(case):
    y, p = case.make(np.random.default_rng(0))
    f = lk.get(case.loss, **case.options)
    with pytest.raises(lk.LossInputError, match="y_true|y_pred|shape"):
        f(y[:-1], p)
    with pytest.raises(lk.LossInputError):
        f(y[..., None, None], p)  # two new axes: (N, 1) labels are Keras's accepted sparse layout


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_options_and_weights_are_rejected(case):
    y, p = case.make(np.random.default_rng(0))
    f = lk.get(case.loss, **case.options)
    with pytest.raises(lk.LossInputError, match="unknown option 'no_such_option'"):
        f(y, p, no_such_option=1)
    with pytest.raises(lk.LossInputError, match="reduction"):
        f(y, p, reduction="average")
    values = f(y, p, reduction="none")
    if values.ndim:
        with pytest.raises(lk.LossInputError, match="sample_weight"):
            f(y, p, sample_weight=np.ones(values.shape[0] + 1))
        with pytest.raises(lk.LossInputError, match="sample_weight"):
            f(y, p, sample_weight=-np.ones(values.shape[0]))
        with pytest.raises(lk.LossInputError, match="sample_weight"):
            f(y, p, sample_weight=np.full(values.shape[0], np.nan))


@pytest.mark.parametrize("case", [c for c in CASES if c.invalid], ids=[c.id for c in CASES if c.invalid])
def test_domain_violations_are_rejected(case):
    f = lk.get(case.loss, **case.options)
    for y, p in case.invalid():
        with pytest.raises(lk.LossInputError):
            f(y, p)


def test_two_non_numpy_array_libraries_raise_type_error():
    """NumPy arguments join a torch/JAX call (tests/test_mixed_inputs.py); two other libraries do not."""
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match="one array library"):
        lk.mean_squared_error(jnp.zeros(3), torch.zeros(3))


_LOSS_NAMES = lk.available(aliases=False)
_FLOAT_DTYPES = [np.float64, np.float32, np.float16]
_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0, 0.5, 2.0])


def _elements(dtype):
    # Magnitudes up to 1e4 (logits of +-1e4 are in the contract); beyond ~1e154 a squared
    # loss's true value exceeds the float range, so inf there is not a defect.
    if dtype in _FLOAT_DTYPES:
        return st.one_of(st.floats(-1e4, 1e4, width=16 if dtype == np.float16 else 64), _SPECIAL)
    if dtype == np.bool_:
        return st.booleans()
    return st.integers(0 if dtype == np.uint8 else -3, 5)


_ANY_ARRAY = st.sampled_from([*_FLOAT_DTYPES, np.int64, np.int32, np.bool_, np.uint8]).flatmap(
    lambda dt: hnp.arrays(dtype=dt, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                          elements=_elements(dt))
)


@pytest.mark.parametrize("name", _LOSS_NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(y=_ANY_ARRAY, p=_ANY_ARRAY, reduction=st.sampled_from(["mean", "none"]))
def test_arbitrary_arrays_raise_loss_input_error_or_give_finite_values(name, y, p, reduction):
    """Fuzz: whatever arrays come in, the answer is finite or a LossInputError; never a
    crash from deep inside, never a NaN."""
    f = lk.get(name)
    try:
        value = f(y, p, reduction=reduction)
        g, h = f.grad_hess(y, p, reduction=reduction)
    except lk.LossInputError:
        return
    assert _all_finite(value, g, h), (name, y, p, value)


def test_empty_class_axis_is_an_input_error():
    """Found by the fuzz test above: generalised Dice over a zero-length class axis crashed in max()."""
    with pytest.raises(lk.LossInputError, match="at least one class"):
        lk.generalized_dice(np.array([]), np.zeros((0, 0)))


def test_boolean_options_reject_strings():
    """bool("False") is True: a string flag must be an error, not silently the opposite."""
    with pytest.raises(lk.LossInputError, match="from_logits must be True or False"):
        lk.binary_cross_entropy(np.array([1.0]), np.array([0.3]), from_logits="False")
    assert lk.binary_cross_entropy(np.array([1.0]), np.array([0.3]), from_logits=np.bool_(False)) > 0
