"""``losskit explain``: plain terminal text, Korean pages, and taught numbers that cannot drift.

Every number in a course lesson's prose is either an input or a constant of a formula (listed per
lesson in ``GIVEN``) or a claim (``CLAIMS``) checked here by an independent computation (mpmath,
a plain formula, or the peer library the text names). A number changed to a wrong value, or a
new number nobody checks, fails ``test_every_taught_number_is_given_or_checked``.
"""

from __future__ import annotations

import inspect
import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest

import losskit as lk
from losskit.explain import explain, rest_to_text
from losskit.lessons import LESSONS
from losskit.lessons.korean import INPUTS_KO, KO_PAGES, NOT_TRANSLATED_KO

NAMES = lk.available(aliases=False)
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?!\w)")


def numbers(text: str) -> set[str]:
    return {t.rstrip(".") for t in NUMBER.findall(text)}


# -- plain text ----------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_no_rest_markup_in_the_terminal_text(lang):
    for name in NAMES:
        out = explain(name, lang=lang)
        assert "``" not in out and not re.search(r":\w+:`", out), name
        assert "`" not in out, (name, out[out.index("`") - 60:out.index("`") + 60])
        assert not re.search(r"\S::$", out, flags=re.M), name


def test_structured_text_keeps_the_markup_for_the_docs_site():
    raw = explain("focal", plain=False)
    assert ":func:`binary_cross_entropy`" in raw and "``alpha_t``" in raw
    assert explain("focal") == explain("focal", plain=True)
    assert "binary_cross_entropy (times alpha_t)" in explain("focal")


def test_rest_to_text():
    assert rest_to_text(":func:`~losskit.dice`, :class:`LossFunction`, :mod:`losskit.explain`") == (
        "dice, LossFunction, losskit.explain")
    assert rest_to_text("``q**gamma`` and *all* of **mean**, 2 * x * y") == "q**gamma and all of mean, 2 * x * y"
    assert rest_to_text("see `the site <https://example.org>`_") == "see the site (https://example.org)"
    block = "Per element::\n\n    l = ``x`` * *y*\n\nAfter ``z``.\n>>> f(``a``)"
    assert rest_to_text(block) == "Per element:\n\n    l = ``x`` * *y*\n\nAfter z.\n>>> f(``a``)"
    assert rest_to_text("Text ::\n\n    code") == "Text\n\n    code"
    assert rest_to_text(".. math::\n\n   a^2\n\nb") == "\n   a^2\n\nb"


# -- Korean ----------------------------------------------------------------------------------
def test_korean_inputs_line_is_translated():
    for name in NAMES:
        rec = lk.LOSSES[name].record
        if rec.inputs:
            assert rec.inputs in INPUTS_KO, name
            line = next(li for li in explain(name, lang="ko").splitlines() if li.startswith("입력: "))
            assert "targets" not in line and "probabilities" not in line and "real " not in line, line


def test_korean_terms():
    text = "\n".join(str(v) for d in LESSONS.values() for v in d["ko"].values())
    text += "\n".join(str(v) for d in KO_PAGES.values() for v in d.values())
    for bad in ("바닥을 깔", "부드러운 레이블", "부드러운)", "원점수", "상한"):
        assert bad not in text, bad
    assert "소프트 레이블" in text and "원시 점수" in text and "하한" in text


def test_korean_pages_and_untranslated_ones():
    assert set(KO_PAGES) == {"mean_absolute_error", "huber", "binary_focal_cross_entropy", "jaccard", "tversky",
                             "jensen_shannon_divergence"}
    for name in NAMES:
        out = explain(name, lang="ko")
        if name in KO_PAGES:
            assert out.startswith(KO_PAGES[name]["title"]) and NOT_TRANSLATED_KO not in out
            assert "{" not in out.split("호출 형식")[0], name  # every field filled in
            hangul = sum("\uac00" <= ch <= "\ud7a3" for ch in out.split("호출 형식")[0])
            assert hangul > 150, (name, hangul)  # Korean prose, not English under Korean headings
        elif name not in LESSONS:
            assert NOT_TRANSLATED_KO in out, name


def test_korean_pages_quote_the_defaults_of_the_records():
    """The defaults a Korean page quotes are the loss's, and the peers' (delta=1 as PyTorch's, gamma=2 as
    torchvision's and Keras's, MONAI's Tversky alpha=beta=0.5)."""
    torch = pytest.importorskip("torch")
    assert "(delta 기본값 1)" in explain("huber", lang="ko")
    assert inspect.signature(torch.nn.functional.huber_loss).parameters["delta"].default == 1.0
    assert "gamma 기본값 2," in explain("focal", lang="ko")
    monai = pytest.importorskip("monai.losses")
    sig = inspect.signature(monai.TverskyLoss).parameters
    assert f"alpha = {sig['alpha'].default:g}, beta = {sig['beta'].default:g}" in explain("tversky", lang="ko")


# -- taught numbers ----------------------------------------------------------------------------
def _mp():
    return pytest.importorskip("mpmath")


def _close(shown: str, exact: float, digits: int) -> bool:
    return float(shown) == float(f"{exact:.{digits - 1}e}")


def _keras_epsilon():
    keras = pytest.importorskip("keras")
    return keras.config.epsilon()


def _torch_bce_floor():
    torch = pytest.importorskip("torch")
    f = torch.nn.functional.binary_cross_entropy
    return float(f(torch.tensor([0.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)))


def _monai_dice_smoothing():
    monai = pytest.importorskip("monai.losses")
    sig = inspect.signature(monai.DiceLoss).parameters
    return sig["smooth_nr"].default, sig["smooth_dr"].default


def _naive_bce(y, p):
    with np.errstate(all="ignore"):
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _cce_40():
    mp = _mp()
    with mp.workdps(50):
        exact = float(mp.log1p(2 * mp.exp(-40)))
    ours = float(lk.cce(np.array([[1.0, 0, 0]]), np.array([[40.0, 0, 0]]), from_logits=True))
    return _close("8.5e-18", exact, 2) and abs(ours - exact) <= 1e-15 * exact


def _bce_floor(dtype, shown):
    mp = _mp()
    got = float(lk.bce(np.array([1.0], dtype), np.array([0.0], dtype)))
    return got == pytest.approx(float(shown), rel=1e-6) and float(-mp.log(mp.exp(-int(shown)))) == int(shown)


# token -> check, per lesson; a check returns True when the text's number is right
CLAIMS = {
    "mean_squared_error": {
        # one error of 10 costs as much as 100 errors of 1
        "10": lambda: float(lk.mse(np.zeros(1), np.array([10.0]), reduction="sum"))
        == float(lk.mse(np.zeros(100), np.ones(100), reduction="sum")) == 10.0**2,
        "100": lambda: 10.0**2 == 100 * 1.0**2,
    },
    "binary_cross_entropy": {
        "1e-7": lambda: _keras_epsilon() == 1e-7,
        "-100": lambda: _torch_bce_floor() == 100.0,
        "100": lambda: _bce_floor(np.float64, "100"),
        "40": lambda: _bce_floor(np.float32, "40") and 1.0 / (1.0 + np.exp(-40.0)) == 1.0,
        "-1e4": lambda: lk.bce(np.array([0.0, 1.0]), np.array([1e4, -1e4]), from_logits=True,
                               reduction="none").tolist() == [1e4, 1e4],
        # y = [1, 0, 1, 0], p = [1, 0, 0.9, 0.1] gives nan with the one-liner
        "0.9": lambda: np.isnan(_naive_bce(np.array([1.0, 0, 1, 0]), np.array([1.0, 0, 0.9, 0.1]))),
    },
    "categorical_cross_entropy": {
        "8.5e-18": _cce_40,
        "1e-7": lambda: _keras_epsilon() == 1e-7,
        # y = [1, 0, 0], p = [0.9, 0.1, 0.0] gives nan with the one-liner
        "0.0": lambda: np.isnan(-np.sum(np.array([1.0, 0, 0]) * np.log(np.array([0.9, 0.1, 0.0])))),
    },
    "hinge": {
        # y = [0, 1], s = [-2, 2]: the one-liner says 0.5, losskit 0
        "0.5": lambda: np.mean(np.maximum(0, 1 - np.array([0.0, 1]) * np.array([-2.0, 2]))) == 0.5
        and float(lk.hinge(np.array([0.0, 1]), np.array([-2.0, 2]))) == 0.0,
    },
    "kl_divergence": {
        "1e-7": lambda: _keras_epsilon() == 1e-7,
        "0.8": lambda: float(lk.kld(np.array([[1.0, 0, 0]]), np.array([[0.8, 0.1, 0.1]])))
        == pytest.approx(-np.log(0.8), rel=1e-14),
    },
    "dice": {
        "1e-7": lambda: _keras_epsilon() == 1e-7,
        "1e-5": lambda: _monai_dice_smoothing() == (1e-5, 1e-5),
    },
}

# inputs of the examples, shapes and constants of the formulas (not results)
GIVEN = {
    "mean_squared_error": {"1", "2", "3"},
    "binary_cross_entropy": {"0", "1", "1.0", "0.1"},
    "categorical_cross_entropy": {"0", "1", "2", "0.9", "0.1", "40", "-40", "-1"},
    "hinge": {"0", "1", "-1", "+1", "2", "-2"},
    "kl_divergence": {"0", "1", "2", "-1", "0.1"},
    "dice": {"0", "1", "2", "3", "-1"},
}


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_every_taught_number_is_given_or_checked(name):
    assert set(CLAIMS) == set(LESSONS) == set(GIVEN)
    for lang in ("en", "ko"):
        prose = "\n".join(v for k, v in LESSONS[name][lang].items() if k != "title")
        unknown = numbers(prose) - GIVEN[name] - set(CLAIMS[name])
        assert not unknown, f"{name} ({lang}): numbers no test checks: {sorted(unknown)}"
    with np.errstate(all="ignore"):
        for token, check in CLAIMS[name].items():
            assert check(), f"{name}: the taught {token} is wrong"


def test_the_cce_lesson_teaches_the_exact_tiny_loss():
    """The issue's case: [40, 0, 0] gives log(1 + 2 e^-40) = 8.5e-18 (the lesson said 2e-18)."""
    for lang in ("en", "ko"):
        out = explain("cce", lang=lang)
        assert "8.5e-18" in out and "2e-18" not in out.replace("8.5e-18", "")
    assert _cce_40()


def test_demo_numbers_are_computed_when_shown(monkeypatch):
    """The live demo's results come from the library at call time: a wrong library would show."""
    from losskit import registry

    real = registry.LOSSES["hinge"]

    class Wrong:
        def __call__(self, *a, **k):
            return 0.25

        def __getattr__(self, item):
            return getattr(real, item)

    monkeypatch.setitem(registry.LOSSES, "hinge", Wrong())
    assert re.search(r"lk.hinge\(y, s\)\s+->\s+0.25$", explain("hinge"), flags=re.M)


def test_korean_page_numbers_are_defaults_constants_or_checked():
    """The Korean pages' numbers: formula constants, the record's defaults (filled in when shown), or
    claims checked here (the peers' constants; torchvision is not installed, so its alpha=0.25 is
    checked against the English docstring that documents the same mapping)."""
    claims = {
        "1e-7": lambda: _keras_epsilon() == 1e-7,
        "1e-5": lambda: _tversky_smoothing() == (1e-5, 1e-5),
        "0.25": lambda: "torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha=0.25" in lk.focal.record.doc,
        "3": lambda: "Keras 3.15" in lk.tversky.record.doc,  # "Keras 3.15" (its alpha on the false negatives)
    }
    for name in KO_PAGES:
        rec = lk.LOSSES[name].record
        defaults = {f"{v:g}" for v in rec.options.values() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        page = explain(name, lang="ko").split("호출 형식")[0]
        unknown = numbers(page) - {"0", "1", "2", "-1"} - defaults - set(claims)
        assert not unknown, f"{name}: numbers no test checks: {sorted(unknown)}"
        for token in numbers(page) & set(claims):
            assert claims[token](), f"{name}: the taught {token} is wrong"


def _tversky_smoothing():
    monai = pytest.importorskip("monai.losses")
    sig = inspect.signature(monai.TverskyLoss).parameters
    return sig["smooth_nr"].default, sig["smooth_dr"].default
