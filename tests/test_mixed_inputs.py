"""NumPy arrays, lists and numbers next to a torch or JAX prediction are converted to the
prediction's library, device and (floats) dtype: labels usually come from a NumPy or pandas
pipeline. The oracle is the same call with every argument converted by hand."""

import numpy as np
import pytest
from conftest import load_backend, to_numpy

import losskit as lk

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 4))
LABELS = np.array([0, 3, 1, 2, 2, 0])
BITS = (RNG.uniform(size=(6, 4)) > 0.5).astype(np.float64)
WEIGHTS = RNG.uniform(0.5, 2.0, size=6)
CALLS = [
    ("binary_cross_entropy", BITS, {"from_logits": True}),
    ("sparse_categorical_cross_entropy", LABELS, {"from_logits": True, "class_weight": np.array([1.0, 2.0, 0.5, 1.0])}),
    ("mean_squared_error", BITS, {}),
    ("dice", BITS, {"activation": "sigmoid", "axis": 1}),
]


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
@pytest.mark.parametrize(("name", "y", "options"), CALLS, ids=[c[0] for c in CALLS])
def test_numpy_labels_and_weights_join_the_predictions_library(backend_name, name, y, options):
    xp = load_backend(backend_name)
    f = lk.get(name, **options)
    pred = xp.asarray(LOGITS.astype(np.float32))
    mixed = f(y, pred, sample_weight=WEIGHTS)
    by_hand = f(xp.asarray(y if y.dtype.kind != "f" else y.astype(np.float32)), pred,
                sample_weight=xp.asarray(WEIGHTS.astype(np.float32)))
    assert type(mixed) is type(by_hand) and mixed.dtype == pred.dtype
    np.testing.assert_allclose(to_numpy(mixed), to_numpy(by_hand), rtol=1e-6)


def test_numpy_labels_with_torch_logits_give_a_tensor_with_gradient():
    torch = load_backend("torch")
    x = torch.tensor(LOGITS, dtype=torch.float32, requires_grad=True)
    v = lk.binary_cross_entropy(BITS, x, from_logits=True)
    assert isinstance(v, torch.Tensor) and v.dtype == torch.float32
    v.backward()
    np.testing.assert_allclose(x.grad.numpy(), lk.binary_cross_entropy.grad(BITS, LOGITS, from_logits=True),
                               rtol=1e-5, atol=1e-8)


def test_the_prediction_device_is_kept():
    torch = load_backend("torch")
    x = torch.empty(6, 4, device="meta", requires_grad=True)
    v = lk.binary_cross_entropy(BITS, x, from_logits=True, sample_weight=WEIGHTS)
    assert v.device.type == "meta"
    v.backward()
    assert x.grad.device.type == "meta"


def test_lists_and_numbers_join_too():
    torch = load_backend("torch")
    x = torch.tensor([0.2, 0.7, 0.4], dtype=torch.float64)
    v = lk.mean_squared_error([0.0, 1.0, 0.5], x, sample_weight=[1, 2, 3])
    assert v.dtype == torch.float64
    expected = np.average((np.array([0.2, 0.7, 0.4]) - [0.0, 1.0, 0.5]) ** 2, weights=[1, 2, 3])
    np.testing.assert_allclose(v.item(), expected, rtol=1e-15)


def test_numpy_with_dask_keeps_the_one_library_rule():
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="one array library"):
        lk.mean_squared_error(np.zeros(4), da.zeros(4, chunks=2))


def test_bad_numpy_labels_still_raise_the_library_error():
    torch = load_backend("torch")
    with pytest.raises(lk.LossInputError, match="y_true must hold"):
        lk.binary_cross_entropy(np.array([0.0, 2.0]), torch.tensor([0.1, 0.2]), from_logits=True)


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "jax"])
def test_non_arrays_get_loss_input_error_on_every_backend(backend_name):
    """None, strings and ragged lists beside an array of any library are refused by losskit,
    in its words, never passed on to the library's asarray."""
    xp = load_backend(backend_name)
    arr = xp.asarray(np.ones(3))
    bad = [
        (lambda: lk.mean_squared_error(arr, None), "y_pred is required"),
        (lambda: lk.mean_squared_error(arr, "abc"), "y_pred must be a real"),
        (lambda: lk.mean_squared_error([[1.0, 2.0], [3.0]], arr), "equal-length rows"),
        (lambda: lk.mean_squared_error(arr, arr, sample_weight="1.0"), "sample_weight must be a real array"),
        (lambda: lk.mean_squared_error(arr, arr, sample_weight=[1.0, "x", 2.0]), "sample_weight must be a real array"),
    ]
    for call, message in bad:
        with pytest.raises(lk.LossInputError, match=message):
            call()
