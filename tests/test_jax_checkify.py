"""Value checks under ``jax.jit``: skipped, or with ``validate="checkify"`` recorded as
``checkify.debug_check``s.

A staged JAX program (``jit``, ``scan``) has no values to read. By default losskit skips its
value checks there: the program then has no error effect, which would send every jitted call
down JAX's slower dispatch path. With ``validate="checkify"`` each check is recorded as a
``jax.experimental.checkify.debug_check`` with the check's summary: a plain ``jit`` compiles it
away (the same program as ``validate=False``), and a program wrapped in ``checkify.checkify``
returns losskit's message as its error. Eager JAX transforms (``grad`` without ``jit``) skip the
checks.

Oracles: a default call's jaxpr is the ``validate=False`` one's, with no effects; valid inputs
of every registered loss raise no check (each recorded check is exact); an invalid input's
checkify message is the start of the ``LossInputError`` NumPy raises for the same input; the
compiled program of a checked call equals the unchecked one's.
"""

import re

import numpy as np
import pytest
from conftest import load_backend
from refs import CASES
from refs.spec import rng_for

import losskit as lk

FIRST = list({c.loss: c for c in reversed(CASES)}.values())  # one case per loss, the first listed
IDS = [c.id for c in FIRST]


@pytest.fixture
def jax():
    load_backend("jax")
    import jax

    return jax


def _checkified(jax, fn, *args):
    from jax.experimental import checkify

    err, out = checkify.checkify(jax.jit(fn))(*args)
    return err.get(), out


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_default_jit_records_no_check(jax, case):
    """Every loss under jit with the default ``validate=True``: the jaxpr is effect-free (JAX's
    fast dispatch), with ``y_true`` passed (then it is ``validate=False``'s) or closed over (a
    concrete ``y_true`` may leave a dead constant behind)."""
    f = lk.get(case.loss, **case.options)
    y, p = (jax.numpy.asarray(a) for a in case.make(rng_for(case)))
    jaxpr = jax.make_jaxpr(lambda a, b: f(a, b))(y, p)
    assert not jaxpr.effects
    assert str(jaxpr) == str(jax.make_jaxpr(lambda a, b: f(a, b, validate=False))(y, p))
    assert not jax.make_jaxpr(lambda b: f(y, b))(p).effects


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_valid_inputs_raise_no_check(jax, case):
    """Every loss on its reference inputs with ``validate="checkify"``: no check fails (no false
    alarm from a recorded check), and the value is the unchecked jit's, with ``y_true`` passed or
    closed over."""
    f = lk.get(case.loss, **case.options, validate="checkify")
    y, p = (jax.numpy.asarray(a) for a in case.make(rng_for(case)))
    err, value = _checkified(jax, lambda a, b: f(a, b), y, p)
    assert err is None
    np.testing.assert_array_equal(np.asarray(value), np.asarray(jax.jit(lambda a, b: f(a, b, validate=False))(y, p)))
    err, _ = _checkified(jax, lambda b: f(y, b), p)
    assert err is None


_BAD = [  # (loss, y_true, y_pred, options): each fails one value check
    ("binary_cross_entropy", [0.0, 2.0, 1.0], [0.3, 0.6, 0.9], {}),
    ("binary_cross_entropy", [0.0, 1.0, 1.0], [0.3, 1.6, 0.9], {}),
    ("mean_squared_error", [1.0, 1.0, 1.0], [1.0, np.nan, 2.0], {}),
    ("sparse_categorical_cross_entropy", [0, 5], [[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], {"from_logits": True}),
    ("categorical_cross_entropy", [[0.5, 0.6]], [[0.5, 0.5]], {}),
    ("hinge", [1.0, 3.0], [0.5, 0.5], {}),
    ("kl_divergence", [[0.5, 0.6]], [[0.0, 1.0]], {"from_logits": True}),
    ("dice", [[0.0, 1.0], [1.0, 2.0]], [[0.2, 0.8], [0.9, 0.1]], {}),
]


@pytest.mark.parametrize("loss, y, p, options", _BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(_BAD)])
def test_checkify_reports_losskit_message(jax, loss, y, p, options):
    f = lk.get(loss, **options, validate="checkify")
    with pytest.raises(lk.LossInputError) as eager:  # NumPy: the full message
        f(np.asarray(y), np.asarray(p))
    jnp = jax.numpy
    y, p = jnp.asarray(y), jnp.asarray(p)
    calls = [(lambda a, b: f(a, b), (y, p)), (jax.grad(lambda a, b: f(a, b), argnums=1), (y, p)),
             (jax.vmap(lambda a, b: f(a, b)), (y[None], p[None]))]
    for fn, args in calls:
        err, _ = _checkified(jax, fn, *args)
        assert err is not None and err.startswith("losskit: ")
        summary = err[len("losskit: "):].split(" (`check` failed)")[0]
        assert str(eager.value).startswith(summary)
    assert np.shape(jax.jit(lambda a, b: f(a, b))(y, p)) == ()  # plain jit: no check runs, no error
    assert _checkified(jax, lambda a, b: f(a, b, validate=True), y, p)[0] is None  # the default: none recorded


def _program(jax, fn, *args):
    """The compiled program's instructions, sorted, without their metadata (source locations)
    and the numbers XLA gives their names."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    lines = [re.sub(r",? metadata=\{[^}]*\}", "", line) for line in text.splitlines() if " = " in line]
    return sorted(re.sub(r"\.\d+\b", "", line) for line in lines)


@pytest.mark.parametrize("loss, options", [("binary_cross_entropy", {}), ("sparse_categorical_cross_entropy",
                                                                          {"from_logits": True}),
                                           ("hinge", {}), ("kl_divergence", {"from_logits": True})])
def test_plain_jit_compiles_the_checks_away(jax, loss, options):
    case = next(c for c in FIRST if c.loss == loss)
    f = lk.get(loss, **options)
    y, p = (jax.numpy.asarray(a) for a in case.make(rng_for(case)))
    if loss == "kl_divergence":
        p = jax.numpy.log(p)
    checked = _program(jax, lambda a, b: f(a, b, validate="checkify"), y, p)
    unchecked = _program(jax, lambda a, b: f(a, b, validate=False), y, p)
    assert checked == unchecked
    assert "check" in str(jax.make_jaxpr(lambda a, b: f(a, b, validate="checkify"))(y, p))  # (recorded, then compiled away)


def test_eager_transforms_skip_the_checks(jax):
    """``grad`` without ``jit`` runs operation by operation: no check is recorded or run there."""
    jnp = jax.numpy
    y, p = jnp.asarray([0.0, 2.0, 1.0]), jnp.asarray([0.3, 0.6, 0.9])
    g = jax.grad(lambda b: lk.binary_cross_entropy(y, b, validate="checkify"))(p)
    assert np.all(np.isfinite(np.asarray(g)))
    assert "check" not in str(jax.make_jaxpr(lambda b: lk.binary_cross_entropy(y, b, validate=False))(p))


def test_validate_takes_true_false_or_checkify():
    y, p = np.array([0.0, 1.0]), np.array([0.25, 0.5])
    assert lk.binary_cross_entropy(y, p, validate="checkify") == lk.binary_cross_entropy(y, p)
    for bad in ("True", "check", 1, None):
        with pytest.raises(lk.LossInputError, match="validate must be True, False or 'checkify'"):
            lk.binary_cross_entropy(y, p, validate=bad)
    with pytest.raises(lk.LossInputError, match="y_true"):  # eager: checked as with True
        lk.binary_cross_entropy(np.array([0.0, 2.0]), p, validate="checkify")
