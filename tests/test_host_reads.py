"""Host reads in a torch training step, counted by the torch profiler.

A host read (``aten::_local_scalar_dense``: a tensor's ``.item()``, ``bool()`` or ``float()``)
is a device synchronisation on a GPU. On CPU tensors a loss's forward + backward may read at
most once with ``validate=True`` (all value checks settled together; most losses not at all:
their checks read zero-copy NumPy views) and never with ``validate=False``. On an accelerator the checks become device-side assertions instead
(``losskit._array.xp.value_check_mode``); that route is exercised here by forcing it on CPU
tensors, where ``torch._assert_async`` raises at once.
"""

import numpy as np
import pytest
from conftest import load_backend
from refs import CASES
from refs.spec import rng_for

import losskit as lk
from losskit._array import validate as validate_module

FIRST = list({c.loss: c for c in reversed(CASES)}.values())  # one case per loss, the first listed
IDS = [c.id for c in FIRST]
READS = ("aten::_local_scalar_dense", "aten::item", "aten::is_nonzero")
# Losses with a check that still reads through torch on CPU tensors (one read, shared by all checks)
STILL_READ_ON_CPU = {"lovasz_hinge", "poisson", "mean_squared_logarithmic_error"}


def _step_reads(torch, f, ty, tp, **kwargs):
    """Host-read events (the innermost one of each read) in one forward + backward."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        f(ty, tp, **kwargs).backward()
    names = [e.name for e in prof.events()]
    return names.count("aten::_local_scalar_dense") or sum(names.count(r) for r in READS)


def _inputs(torch, case):
    y, p = case.make(rng_for(case))
    return torch.as_tensor(y), torch.as_tensor(p).requires_grad_()


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_at_most_one_host_read_per_step(case):
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    ty, tp = _inputs(torch, case)
    f(ty, tp).backward()  # warm: lazy imports and caches
    reads = _step_reads(torch, f, ty, tp)
    assert reads <= 1
    if lk.get(case.loss).name not in STILL_READ_ON_CPU:  # checks of CPU tensors read NumPy views instead
        assert reads == 0
    assert _step_reads(torch, f, ty, tp, validate=False) == 0


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_sample_weight_checks_share_the_read(case):
    torch = load_backend("torch")
    f = lk.get(case.loss, **case.options)
    ty, tp = _inputs(torch, case)
    n = tp.shape[0] if tp.ndim else 1
    w = torch.ones(n, dtype=tp.dtype) if tp.ndim else torch.ones((), dtype=tp.dtype)
    try:
        f(ty, tp, sample_weight=w).backward()
    except lk.LossInputError:
        pytest.skip("this configuration takes no per-row weight")
    assert _step_reads(torch, f, ty, tp, sample_weight=w) <= 1


def test_bad_input_messages_equal_numpy_after_one_read():
    """Checks collected into one read still raise the message of the first failing check,
    the same as NumPy's eager checks."""
    torch = load_backend("torch")
    cases = [
        ("binary_cross_entropy", np.array([0.0, 1.0, 2.0]), np.array([0.2, 0.5, 0.7]), {}),
        ("binary_cross_entropy", np.array([0.0, 1.0, 1.0]), np.array([0.2, np.nan, 1.7]), {}),
        ("mse", np.array([0.0, np.inf]), np.array([0.0, 1.0]), {}),
        ("sparse_categorical_cross_entropy", np.array([0, 3]), np.zeros((2, 3)), {"from_logits": True}),
        ("sparse_categorical_cross_entropy", np.array([0.5, 1]), np.zeros((2, 3)), {"from_logits": True}),
        ("categorical_cross_entropy", np.array([[0.5, 0.6]]), np.array([[0.5, 0.5]]), {}),
        ("hinge", np.array([1.0, 2.0]), np.array([0.1, 0.2]), {}),
        ("hinge", np.array([1.0, -1.0]), np.array([0.1, np.nan]), {}),
        ("mse", np.array([1.0, 2.0]), np.array([0.1, 0.2]), {"sample_weight": np.array([1.0, -1.0])}),
    ]
    for name, y, p, kw in cases:
        f = lk.get(name)
        with pytest.raises(lk.LossInputError) as want:
            f(y, p, **kw)
        kw_t = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        with pytest.raises(lk.LossInputError) as got:
            f(torch.as_tensor(y), torch.as_tensor(p).requires_grad_(), **kw_t)
        assert str(got.value) == str(want.value), name


def test_device_assertions_carry_the_message(monkeypatch):
    """On an accelerator a check is ``torch._assert_async`` with losskit's message and no
    read; forced on CPU tensors here, where the assertion raises at once."""
    torch = load_backend("torch")
    monkeypatch.setattr(validate_module, "value_check_mode", lambda x: "assert")
    y, p = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.2, 0.5, 0.7], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"losskit: y_true must hold"):
        lk.binary_cross_entropy(y, p)
    good = torch.tensor([0.0, 1.0, 1.0])
    value = lk.binary_cross_entropy(good, p)
    expected = -np.mean(np.log([0.8, 0.5, 0.7]))
    np.testing.assert_allclose(value.item(), expected, rtol=1e-6)
