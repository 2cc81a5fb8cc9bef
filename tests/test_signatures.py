"""Real signatures: ``inspect.signature`` of every loss lists its options with their defaults
and types, and what it says is what the call does."""

import inspect
import pydoc
import types
import typing

import numpy as np
import pytest
from refs import CASES
from refs.spec import rng_for

import losskit as lk

FIRST = list({c.loss: c for c in reversed(CASES)}.values())  # one case per loss, the first listed
IDS = [c.id for c in FIRST]
COMMON = ("reduction", "sample_weight", "validate")


def _options(sig):
    return {k: p for k, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_signature_defaults_are_the_call_defaults(case):
    """Passing every option at its signature default changes nothing: the signature states
    the defaults the call really uses."""
    f = getattr(lk, case.loss)
    sig = inspect.signature(f)
    assert list(sig.parameters)[:2] == ["y_true", "y_pred"]
    opts = _options(sig)
    assert set(COMMON) <= set(opts)
    y, p = case.make(rng_for(case))
    given = {k: v for k, v in case.options.items()}
    plain = f(y, p, reduction="none", **given)
    explicit = {k: prm.default for k, prm in opts.items() if k not in given and k != "reduction"}
    np.testing.assert_array_equal(f(y, p, reduction="none", **given, **explicit), plain)
    assert opts["reduction"].default == "mean" and opts["validate"].default is True


@pytest.mark.parametrize("case", FIRST, ids=IDS)
def test_every_option_has_a_type_its_default_satisfies(case):
    for name, prm in _options(inspect.signature(getattr(lk, case.loss))).items():
        assert prm.annotation is not inspect.Parameter.empty, name
        assert _satisfies(prm.default, prm.annotation), (name, prm.default, prm.annotation)


def _satisfies(value, hint):
    if hint is typing.Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_satisfies(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        return isinstance(value, tuple)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _literal_options():
    for case in FIRST:
        for name, prm in _options(inspect.signature(getattr(lk, case.loss))).items():
            choices = [a for h in [prm.annotation] + list(typing.get_args(prm.annotation))
                       if typing.get_origin(h) is typing.Literal for a in typing.get_args(h)]
            if choices and name != "reduction":
                yield pytest.param(case, name, choices, id=f"{case.loss}-{name}")


@pytest.mark.parametrize(("case", "name", "choices"), list(_literal_options()))
def test_literal_choices_are_exactly_what_the_loss_accepts(case, name, choices):
    """Every choice the signature lists is accepted as a choice (the call may still refuse
    the combination for other reasons), and a value outside them is refused."""
    f = getattr(lk, case.loss)
    y, p = case.make(rng_for(case))
    refused = f"{name} must be one of"
    for choice in choices:
        try:
            f(y, p, **{**case.options, name: choice})
        except lk.LossInputError as e:
            assert refused not in str(e), (choice, str(e))
    with pytest.raises(lk.LossInputError, match=name):
        f(y, p, **{**case.options, name: "not-a-choice"})


def test_get_shows_bound_options_as_defaults():
    sig = inspect.signature(lk.get("binary_cross_entropy", from_logits=True))
    assert sig.parameters["from_logits"].default is True
    assert sig.parameters["from_logits"].annotation is bool


def test_help_shows_the_call():
    text = pydoc.render_doc(lk.dice, renderer=pydoc.plaintext)
    assert "dice(y_true, y_pred, *, axis=None" in text
    assert "reduction='mean', sample_weight=None, validate=True)" in text
