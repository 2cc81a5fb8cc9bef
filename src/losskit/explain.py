"""``losskit explain NAME``: what a loss computes, its gradient, when to use it, pitfalls and
the peers' equivalents, in English or Korean.

The six losses of the course get a hand-written lesson (:mod:`losskit.lessons`) with a
live check: the course's naive NumPy one-liner and losskit are both evaluated on the
course's example when the text is shown. Every other registered loss gets a text generated
from its record (summary, task, inputs, options and docstring), with a Korean template.

>>> from losskit.explain import explain
>>> text = explain("bce")
>>> "nan" in text and "0.0526803" in text   # the naive formula vs losskit, computed now
True
>>> "주의할 점" in explain("bce", lang="ko")
True
"""

from __future__ import annotations

import inspect
import re
import textwrap
import types
import unicodedata

import numpy as np

from ._array.validate import LossInputError
from .lessons import LESSONS, SECTION_TITLES, STRUCTURE_TEXT, TASK_KO
from .lessons.korean import INPUTS_KO, KO_PAGES, NOT_TRANSLATED_KO

__all__ = ["explain", "rest_to_text", "LANGS"]

LANGS = ("en", "ko")
_RULE = "=" * 78


# -- reST (the docstrings' markup) to terminal text ---------------------------------------------
# One pass, left to right, so a literal's content (``q**gamma``) is never read as emphasis.
_INLINE = re.compile(
    r"``(?P<lit>(?:[^`]|`(?!`))+?)``"
    r"|:[\w:-]+:`(?P<role>[^`]+)`"
    r"|`(?P<link>[^`<]+?)\s*<(?P<url>[^`>]+)>`__?"
    r"|`(?P<ref>[^`]+)`_{0,2}"
    r"|(?<![\w*\\])\*\*(?P<strong>\S(?:[^*\n]*?\S)?)\*\*(?![\w*])"
    r"|(?<![\w*\\])\*(?P<em>\S(?:[^*\n]*?\S)?)\*(?![\w*])"
)


def _inline(match):
    g = match.groupdict()
    if g["role"] is not None:  # :func:`~losskit.dice` -> dice, :ref:`text <target>` -> text
        text = re.sub(r"\s*<[^>]*>$", "", g["role"]) if g["role"].endswith(">") else g["role"]
        return text.rsplit(".", 1)[-1] if text.startswith("~") else text
    if g["link"] is not None:
        return f"{g['link']} ({g['url']})"
    return next(v for k, v in g.items() if v is not None and k != "url")


def rest_to_text(text: str) -> str:
    """reST as plain terminal text: inline markup (````code````, roles, emphasis, links) reduced to
    its words, ``::`` to ``:``, literal blocks and doctests kept verbatim, directive lines dropped.

    >>> rest_to_text("As :func:`~losskit.dice` with ``axis=None``, *not* per image::")
    'As dice with axis=None, not per image:'
    """
    out: list[str] = []
    para: list[str] = []  # prose lines: inline markup may span them, never a blank line

    def flush():
        if para:
            out.extend(_INLINE.sub(_inline, "\n".join(para).replace("\\ ", "")).split("\n"))
            para.clear()

    literal_indent = None  # the indent of the paragraph that opened a literal block
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not line.strip() or indent > literal_indent:
                out.append(line)
                continue
            literal_indent = None
        stripped = line.strip()
        if not stripped or stripped.startswith(">>>") or stripped.startswith("..."):
            flush()
            out.append(line)
            continue
        if re.match(r"\.\. [\w-]+::", stripped):  # .. math:: / .. code-block:: python: keep the body
            flush()
            literal_indent = indent
            continue
        if stripped.endswith("::"):
            line = line.rstrip()[:-2].rstrip() + (":" if stripped != "::" and not line.rstrip().endswith(" ::") else "")
            if line.strip():
                para.append(line)
            flush()
            literal_indent = indent
            continue
        para.append(line)
    flush()
    return "\n".join(out)


def _fmt(v):
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return "[" + ", ".join(_fmt(x) for x in a) + "]"


def _width(text):
    """Display width: East Asian wide characters (Hangul) take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _ljust(text, width):
    return text + " " * max(0, width - _width(text))


def _naive(f):
    with np.errstate(all="ignore"):
        return _fmt(f())


def _lk(f):
    try:
        return _fmt(f())
    except LossInputError as e:
        return f"LossInputError: {e}"


# -- live demos: (what, naive result, losskit result) rows, computed when shown ----------------
def _demo_mse(lk):
    y, p = np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 2.0, 5.0])
    return {
        "en": "y_true of shape (3, 1) = [[1], [2], [3]], y_pred of shape (3,) = [1, 2, 5]",
        "ko": "모양 (3, 1)의 y_true = [[1], [2], [3]], 모양 (3,)의 y_pred = [1, 2, 5]",
        "rows": [
            ("naive np.mean((y_true - y_pred) ** 2)", "단순 공식 np.mean((y_true - y_pred) ** 2)",
             _naive(lambda: np.mean((y - p) ** 2))),
            ("lk.mse(y_true, y_pred)", "lk.mse(y_true, y_pred)", _lk(lambda: lk.mse(y, p))),
            ("lk.mse(y_true[:, 0], y_pred)  (the intended value)", "lk.mse(y_true[:, 0], y_pred)  (의도한 값)",
             _lk(lambda: lk.mse(y[:, 0], p))),
        ],
    }


def _demo_bce(lk):
    y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.9, 0.1])
    x = np.array([40.0, -40.0])
    return {
        "en": "y = [1, 0, 1, 0], p = [1, 0, 0.9, 0.1] (two perfect, two good predictions)",
        "ko": "y = [1, 0, 1, 0], p = [1, 0, 0.9, 0.1] (완벽한 예측 둘, 좋은 예측 둘)",
        "rows": [
            ("naive formula", "단순 공식", _naive(lambda: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))),
            ("lk.binary_crossentropy(y, p)", "lk.binary_crossentropy(y, p)", _lk(lambda: lk.binary_crossentropy(y, p))),
            ("naive on sigmoid of logits [40, -40], y = [0, 1]", "로짓 [40, -40]의 시그모이드에 단순 공식, y = [0, 1]",
             _naive(lambda: _naive_bce_logits(np.array([0.0, 1.0]), x))),
            ("lk.bce([0, 1], [40, -40], from_logits=True)", "lk.bce([0, 1], [40, -40], from_logits=True)",
             _lk(lambda: lk.bce(np.array([0.0, 1.0]), x, from_logits=True))),
        ],
    }


def _naive_bce_logits(y, x):
    p = 1.0 / (1.0 + np.exp(-x))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _demo_cce(lk):
    y, p = np.array([[1.0, 0.0, 0.0]]), np.array([[0.9, 0.1, 0.0]])
    return {
        "en": "y = [[1, 0, 0]], p = [[0.9, 0.1, 0.0]] (a zero probability on a wrong class)",
        "ko": "y = [[1, 0, 0]], p = [[0.9, 0.1, 0.0]] (오답 클래스의 확률이 0)",
        "rows": [
            ("naive formula", "단순 공식", _naive(lambda: -np.mean(np.sum(y * np.log(p), axis=1)))),
            ("lk.categorical_crossentropy(y, p)  (= -log 0.9)", "lk.categorical_crossentropy(y, p)  (= -log 0.9)",
             _lk(lambda: lk.categorical_crossentropy(y, p))),
        ],
    }


def _demo_hinge(lk):
    y, s = np.array([0.0, 1.0]), np.array([-2.0, 2.0])
    return {
        "en": "y = [0, 1] (0 = negative class), scores s = [-2, 2]: both right, with margin",
        "ko": "y = [0, 1] (0은 음성 클래스), 점수 s = [-2, 2]: 둘 다 마진을 두고 맞힘",
        "rows": [
            ("naive np.mean(np.maximum(0, 1 - y * s))", "단순 공식 np.mean(np.maximum(0, 1 - y * s))",
             _naive(lambda: np.mean(np.maximum(0.0, 1.0 - y * s)))),
            ("lk.hinge(y, s)", "lk.hinge(y, s)", _lk(lambda: lk.hinge(y, s))),
        ],
    }


def _demo_kl(lk):
    y, p = np.array([[1.0, 0.0, 0.0]]), np.array([[0.8, 0.1, 0.1]])
    return {
        "en": "one-hot target y = [[1, 0, 0]], prediction p = [[0.8, 0.1, 0.1]]",
        "ko": "원-핫 정답 y = [[1, 0, 0]], 예측 p = [[0.8, 0.1, 0.1]]",
        "rows": [
            ("naive -np.sum(y * np.log(p / y))", "단순 공식 -np.sum(y * np.log(p / y))",
             _naive(lambda: -np.sum(y * np.log(p / y)))),
            ("lk.kld(y, p)  (= -log 0.8)", "lk.kld(y, p)  (= -log 0.8)", _lk(lambda: lk.kld(y, p))),
        ],
    }


def _demo_dice(lk):
    y = np.array([[1.0, 1, 1, 1, 1, 1, 0, 0], [1.0, 0, 0, 0, 0, 0, 0, 0]])
    p = np.array([[1.0, 1, 1, 1, 1, 1, 0, 0], [0.0, 0, 0, 0, 0, 0, 0, 0]])

    def naive(y, p, s=1.0):
        return 1 - (2 * np.sum(y * p) + s) / (np.sum(y) + np.sum(p) + s)

    return {
        "en": "two images: the first segmented perfectly, the second's one-pixel object missed",
        "ko": "이미지 두 장: 첫째는 완벽히 분할, 둘째의 한 픽셀짜리 물체는 놓침",
        "rows": [
            ("naive global formula (s = 1)", "단순 전역 공식 (s = 1)", _naive(lambda: naive(y, p))),
            ("lk.dice(y, p)  (the same global score)", "lk.dice(y, p)  (같은 전역 점수)", _lk(lambda: lk.dice(y, p))),
            ("lk.dice(y, p, axis=1, reduction='none')  (per image)",
             "lk.dice(y, p, axis=1, reduction='none')  (이미지별)",
             _lk(lambda: lk.dice(y, p, axis=1, reduction="none"))),
            ("naive with s = 0 on an empty mask and prediction", "빈 마스크와 빈 예측에 s = 0인 단순 공식",
             _naive(lambda: naive(np.zeros(4), np.zeros(4), 0.0))),
            ("lk.dice(zeros, zeros, smooth=0)", "lk.dice(zeros, zeros, smooth=0)",
             _lk(lambda: lk.dice(np.zeros(4), np.zeros(4), smooth=0))),
        ],
    }


DEMOS = {
    "mean_squared_error": _demo_mse,
    "binary_cross_entropy": _demo_bce,
    "categorical_cross_entropy": _demo_cce,
    "hinge": _demo_hinge,
    "kl_divergence": _demo_kl,
    "dice": _demo_dice,
}


# -- rendering -------------------------------------------------------------------------------
def _section(title, body):
    return f"{title}\n{'-' * _width(title)}\n{body.rstrip()}\n"


def _signature(record):
    from .api import signature_doc

    text = signature_doc(record)
    return "\n".join(textwrap.wrap(text, 88, subsequent_indent="    ", break_on_hyphens=False))


def _header(record, lang, title, plain=True):
    from .registry import aliases_of

    t = SECTION_TITLES[lang]
    aliases = ", ".join(aliases_of(record.name)) or "-"
    task = record.task or "-"
    if lang == "ko":
        task = f"{TASK_KO.get(record.task, record.task)} [{record.task}]" if record.task else "-"
    lines = [title, _RULE, f"{record.name}    {t['aliases']}: {aliases}", f"{t['task']}: {task}"]
    if record.inputs:
        inputs = INPUTS_KO.get(record.inputs, record.inputs) if lang == "ko" else record.inputs
        inputs = rest_to_text(inputs) if plain else inputs
        lines.append(f"{t['inputs']}: {inputs}")
    return "\n".join(lines) + "\n"


def _demo_block(name, lang):
    from .registry import ALIASES, LOSSES

    # the package's flat names (lk.mse, lk.bce, ...), from the registry they come from
    lk = types.SimpleNamespace(**LOSSES, **{alias: LOSSES[canon] for alias, canon in ALIASES.items()})
    demo = DEMOS[name](lk)
    width = max(_width(r[0 if lang == "en" else 1]) for r in demo["rows"])
    lines = [demo[lang]]
    for en, ko, value in demo["rows"]:
        label = en if lang == "en" else ko
        lines.append(f"  {_ljust(label, width)}  ->  {value}")
    return "\n".join(lines)


def _stream_note(record, lang):
    if record.streamable:
        return None
    if lang == "ko":
        return ("이 손실은 전체 입력의 오차를 한꺼번에 정렬하므로 청크 단위로 나눠 계산할 수 없습니다 "
                "(losskit eval / lk.Accumulator가 그 이유를 알려 줍니다).")
    return ("this loss sorts the errors of the whole input at once, so it cannot be evaluated chunk by chunk "
            "(losskit eval and lk.Accumulator say so).")


def _lesson(record, lang):
    entry = LESSONS[record.name][lang]
    t = SECTION_TITLES[lang]
    parts = [_header(record, lang, entry["title"])]
    for key in ("course", "formula", "gradient", "when", "pitfalls", "losskit"):
        parts.append(_section(t[key], entry[key]))
    parts.append(_section(t["demo"], _demo_block(record.name, lang)))
    parts.append(_section(t["peers"], entry["peers"]))
    parts.append(_section(t["signature"], _signature(record)))
    more = (f"help(losskit.{record.name})  ·  losskit plot {record.name}  ·  losskit list"
            if lang == "en" else
            f"help(losskit.{record.name})  ·  losskit plot {record.name} (그래프)  ·  losskit list (전체 목록)")
    parts.append(_section(t["more"], more))
    return "\n".join(parts)


def _generated(record, lang, plain):
    t = SECTION_TITLES[lang]
    markup = rest_to_text if plain else str
    page = KO_PAGES.get(record.name) if lang == "ko" else None
    if page:
        # the option defaults quoted in the Korean text come from the record, so they cannot drift
        fields = {k: _fmt(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                  for k, v in record.options.items()}
        parts = [_header(record, lang, page["title"], plain)]
        for key, title in (("summary", t["summary"]), ("formula", t["formula"]), ("gradient", t["gradient"]),
                           ("when", t["when"]), ("pitfalls", t["caveats"]), ("peers", t["peers"])):
            body = page[key].format(**fields)
            if key == "summary":  # the English one-liner too, the words users will search for
                body += f"\n(원문: {markup(record.summary or '-')})"
            parts.append(_section(title, body))
    else:
        title = record.name.replace("_", " ").capitalize()
        structure = STRUCTURE_TEXT[lang].get(record.structure, record.structure)
        summary = markup(record.summary or "-")
        if lang == "ko":
            title += " (자동 생성 설명)"
            summary = f"{summary}\n(위 요약은 영어 원문입니다. {structure}.)"
        else:
            summary = f"{summary}\n({structure}.)"
        parts = [_header(record, lang, title, plain)]
        if lang == "ko":
            parts.append(_section(t["translation"], NOT_TRANSLATED_KO))
        parts.append(_section(t["summary"], summary))
    parts.append(_section(t["signature"], _signature(record)))
    note = _stream_note(record, lang)
    if note:
        parts.append(_section(t["stream"], note))
    doc = markup(inspect.cleandoc(record.doc or "")) or "-"
    parts.append(_section(t["details"], doc))
    more = (f"losskit plot {record.name}  ·  losskit list"
            if lang == "en" else f"losskit plot {record.name} (그래프)  ·  losskit list (전체 목록)")
    parts.append(_section(t["more"], more))
    return "\n".join(parts)


def explain(name: str, lang: str = "en", *, plain: bool = True) -> str:
    """The explanation of loss ``name`` (any registered name or alias) in ``lang`` ("en" or "ko").

    ``plain=True`` (the terminal's form) renders the docstrings' reST as plain text;
    ``plain=False`` keeps their markup as written, for a reST renderer (the docs site).
    """
    from .registry import LOSSES, resolve

    if lang not in LANGS:
        raise LossInputError(f"lang must be one of {', '.join(map(repr, LANGS))}; got {lang!r}")
    record = LOSSES[resolve(name)].record
    if record.name in LESSONS:
        return _lesson(record, lang)
    return _generated(record, lang, plain)
