"""Value and gradient curves of losses against the prediction (needs matplotlib).

For each loss the curve is chosen from its record (``structure``, ``input_kind`` and its logit
options): binary losses against the probability (or the logit with ``from_logits=True``, or
the raw score for margin losses) for targets 0 and 1 (or -1 and 1); regression losses
against the prediction around a target; categorical losses against the true class's
probability (or logit/score) with the other classes sharing the rest; overlap losses (Dice,
...) against one foreground and one background pixel's probability. Every point is a real
call of the loss and of its ``.grad``, so the curves show exactly what losskit computes,
clamps included. Several losses share one figure; losses whose x axes mean different things
get one row each. A loss can appear several times with different options: an entry is a name,
``"NAME:KEY=VALUE[:KEY=VALUE...]"`` (``"huber:delta=3"``) or ``(NAME, {KEY: VALUE})``; options
given are shown in the legend. Curves that coincide stay visible (dashes
and markers, and "= same as ..." in the legend), and a gradient too large for a linear axis is
drawn on an asinh axis, which is smooth everywhere (symlog bends at its threshold).

>>> from losskit.plot import curves
>>> c = curves(["mse"])[0]
>>> c.label, c.kind, float(c.value[c.x.size // 2]), float(c.grad[-1])
('mean_squared_error (y=0)', 'prediction', 0.0, 6.0)
>>> [c.label for c in curves("huber:delta=0.5,huber:delta=2")]
['huber (delta=0.5; y=0)', 'huber (delta=2; y=0)']
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import warnings
from collections.abc import Callable

import numpy as np

from ._array.validate import LossInputError
from .spec import option_from_text

__all__ = ["Curve", "curves", "figure", "plot", "parse_targets", "parse_range", "parse_entry", "split_entries",
           "MissingMatplotlib"]


class MissingMatplotlib(ImportError):
    """matplotlib is not installed (the ``losskit[plot]`` extra)."""

_KIND_LABELS = {
    "probability": "predicted probability p",
    "logit": "logit x (from_logits=True)",
    "score": "score / decision value",
    "prediction": "prediction y_pred",
    "class-probability": "probability of the true class (others share the rest)",
    "class-logit": "logit of the true class (others 0)",
    "class-score": "score of the true class (others 1 and 0)",
    "pixel-probability": "probability of one pixel (the other is right)",
    "pixel-logit": "logit of one pixel (the other is right)",
}
_DEFAULT_RANGES = {
    "probability": (0.001, 0.999),
    "class-probability": (0.001, 0.999),
    "pixel-probability": (0.0, 1.0),
    "logit": (-6.0, 6.0),
    "class-logit": (-6.0, 6.0),
    "pixel-logit": (-6.0, 6.0),
    "score": (-3.0, 3.0),
    "class-score": (-3.0, 3.0),
}


@dataclasses.dataclass
class Curve:
    """One drawn line: ``value`` and ``grad`` (d loss / d the varied prediction) at ``x``."""

    loss: str
    label: str
    kind: str
    target: object
    x: np.ndarray
    value: np.ndarray
    grad: np.ndarray
    options: dict = dataclasses.field(default_factory=dict)  # the options given (shown in the label)
    entry: str = ""  # the loss as listed: "huber" or "huber (delta=3)"


def parse_targets(text):
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise LossInputError(f"--target must be comma-separated numbers; got {text!r}") from None


def parse_range(text):
    if text is None:
        return None
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        raise LossInputError(f"--range must be LO,HI (two numbers); got {text!r}") from None
    if not lo < hi:
        raise LossInputError(f"--range needs LO < HI; got {text!r}")
    return lo, hi


# -- entries: a loss and its options ---------------------------------------------------------
_MAX_ENTRY_CHARS = 10_000  # a plot entry longer than this is not typed by hand


def split_entries(text):
    """The entries of ``"NAME[:KEY=VALUE...][,NAME...]"``: split at the commas outside brackets
    and quotes, so list values (``class_weight=[1,2]``) stay whole."""
    if len(text) > _MAX_ENTRY_CHARS:
        raise LossInputError(f"loss list is longer than {_MAX_ENTRY_CHARS:,} characters")
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text + ","):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth <= 0:
            token = text[start:i].strip()
            if not token:
                raise LossInputError(f"empty loss name in {text!r}")
            out.append(token)
            start = i + 1
    if quote or depth:
        raise LossInputError(f"unbalanced brackets or quotes in {text!r}")
    return out


def parse_entry(entry):
    """``(canonical name, options)`` of one entry: ``"NAME"``, ``"NAME:KEY=VALUE[:KEY=VALUE...]"``
    or ``(NAME, {KEY: VALUE})``. Unknown names and option keys raise :class:`LossInputError`."""
    from .registry import LOSSES, resolve

    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], dict):
        name, opts = entry
    elif isinstance(entry, str):
        if len(entry) > _MAX_ENTRY_CHARS:
            raise LossInputError(f"loss entry is longer than {_MAX_ENTRY_CHARS:,} characters")
        name, *items = entry.split(":")
        opts = {}
        for item in items:
            key, eq, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or not key.isidentifier():
                raise LossInputError(f"loss entry {entry!r}: expected NAME:KEY=VALUE[:KEY=VALUE...] (e.g. huber:delta=3)")
            opts[key] = option_from_text(value.strip())
    else:
        raise LossInputError(f"a plot entry is a name, 'NAME:KEY=VALUE' or (NAME, {{options}}); got {entry!r}")
    if not isinstance(name, str):
        raise LossInputError(f"a loss name must be a string; got {name!r}")
    canon = resolve(name.strip())
    LOSSES[canon].configured(**opts)  # unknown keys: the library's message
    return canon, dict(opts)


def _fmt(value):
    text = format(value, "g") if isinstance(value, float) else value if isinstance(value, str) else repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _options_text(opts):
    return ", ".join(f"{k}={_fmt(v)}" for k, v in opts.items())


# -- curve builders -------------------------------------------------------------------------
# A builder maps (x, target) to (y_true, y_pred, index of the varied entry of y_pred).
def _elementwise(x, t):
    return np.array([t], dtype=float), np.array([x], dtype=float), (0,)


def _scores_builder(dense):
    def build(x, _target):
        return _class_target(dense, 0, None), np.array([[x, 1.0, 0.0]]), (0, 0)
    return build


def _class_target(dense, cls, soft):
    if soft is not None:
        return np.array([soft])
    if dense:
        y = np.zeros((1, 3))
        y[0, int(cls)] = 1.0
        return y
    return np.array([int(cls)])


def _pixels(lo, hi):
    """A two-pixel mask [1, 0]: vary the foreground pixel (target 1) or the background one (target 0),
    the other pixel predicted right (``hi`` for foreground, ``lo`` for background)."""
    def build(x, t):
        y = np.array([[[1.0, 0.0]]])
        p = np.array([[[x, lo]]]) if t == 1 else np.array([[[hi, x]]])
        return y, p, (0, 0, 0) if t == 1 else (0, 0, 1)
    return build


def _pixels_softmax(lo, hi):
    """Two pixels, two classes (softmax over axis 1), class ids [1, 0]: vary the class-1 logit of
    the foreground pixel (t=1) or of the background pixel (t=0); class 0's logits are 0."""
    def build(x, t):
        y = np.array([[1, 0]])
        p = np.zeros((1, 2, 2))
        p[0, 1] = [x, lo] if t == 1 else [hi, x]
        return y, p, (0, 1, 0) if t == 1 else (0, 1, 1)
    return build


def _candidates(fn, targets):
    """(kind, builder, targets, label function) candidates for one loss, best first, chosen by
    its structure, what its y_pred holds (``input_kind``) and its logit options."""
    rec = fn.record
    opts = {**rec.options, **fn.bound}
    kind_of_input = rec.input_kind
    # y_pred read as logits: the option that says so is set
    logits = bool(opts.get("from_logits")) or bool(opts.get("log_input")) or opts.get("activation") not in (None,)
    out: list[tuple[str, Callable, list, Callable]] = []
    if rec.structure == "elementwise":
        if kind_of_input in ("probability", "logit"):
            kind = "logit" if logits or kind_of_input == "logit" else "probability"
            out.append((kind, _elementwise, targets or [0.0, 1.0], lambda t: f"y={t:g}"))
        elif kind_of_input == "prediction":
            for t0 in ([*targets] if targets else [0.0, 1.0, 2.0]):
                out.append(("prediction", _elementwise, [t0], lambda t: f"y={t:g}"))
        else:
            out.append(("score", _elementwise, targets or [-1.0, 1.0], lambda t: f"y={t:g}"))
            out.append(("score", _elementwise, targets or [0.0, 1.0], lambda t: f"y={t:g}"))
            out.append(("prediction", _elementwise, targets or [0.0], lambda t: f"y={t:g}"))
    elif rec.structure == "distribution":
        wants_logits = logits or kind_of_input == "logit"
        real_kind = "class-logit" if wants_logits else ("class-score" if kind_of_input == "score" else None)
        # losses fit to a target distribution per row (as their boosting refusal says) get a soft target too
        refused = rec.boosting.refused
        soft_target = refused is not None and refused.reason == "target_distribution"
        for dense in (True, False):
            one = "y=one-hot class 0" if dense else "y=class 0"
            if real_kind is not None:
                out.append((real_kind, _scores_builder(dense), ["c0"], lambda c, one=one: one))
                continue
            multi: dict[str, list[float] | None] = {"c0": None}
            if dense and soft_target:
                multi["soft"] = [0.6, 0.3, 0.1]
            out.append(("class-probability", _multi_target(dense, multi), list(multi),
                        lambda c, one=one: one if c == "c0" else "y=[0.6, 0.3, 0.1]"))
        if real_kind is None:  # e.g. a loss without from_logits that takes logits
            out.append(("class-logit", _scores_builder(True), ["c0"], lambda c: "y=one-hot class 0"))
    else:  # overlap and anything else
        if opts.get("activation") == "softmax":
            out.append(("pixel-logit", _pixels_softmax(-8.0, 8.0), [1, 0], _pixel_label))
        if logits or kind_of_input in ("logit", "score"):
            out.append(("pixel-logit", _pixels(-8.0, 8.0), [1, 0], _pixel_label))
        else:
            out.append(("pixel-probability", _pixels(0.0, 1.0), [1, 0], _pixel_label))
            out.append(("pixel-logit", _pixels(-8.0, 8.0), [1, 0], _pixel_label))
        out.append(("prediction", _elementwise, targets or [0.0, 1.0], lambda t: f"y={t:g}"))
    return out


def _pixel_label(t):
    return "foreground pixel (y=1)" if t == 1 else "background pixel (y=0)"


def _multi_target(dense, soft_by_key):
    def build(x, key):
        p = np.array([[x, (1.0 - x) / 2.0, (1.0 - x) / 2.0]])
        return _class_target(dense, 0, soft_by_key[key]), p, (0, 0)
    return build


def _evaluate(fn, builder, target, xs):
    """Values and gradients at ``xs`` (NaN where the loss refuses), and the first refusal's message."""
    vals = np.full(xs.shape, np.nan)
    grads = np.full(xs.shape, np.nan)
    first_error = None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i, x in enumerate(xs):
            try:
                y, p, idx = builder(float(x), target)
                v = float(np.asarray(fn(y, p)))
                g = np.asarray(fn.grad(y, p))[idx]
            except (LossInputError, ValueError, TypeError, ZeroDivisionError, FloatingPointError, IndexError) as e:
                first_error = first_error or str(e)
                continue
            vals[i], grads[i] = v, float(g)
    return vals, grads, first_error


def _entries(names, options):
    """``(canonical name, options)`` per entry, options merged (the entry's own win over ``options``),
    identical entries once."""
    if isinstance(names, str):
        names = split_entries(names)
    options = options or {}
    out: list[tuple[str, dict]] = []
    for entry in names:
        canon, own = parse_entry(entry)
        given = entry if isinstance(entry, str) else entry[0]
        given = given.split(":")[0].strip()
        merged = {**options.get(canon, options.get(given, {})), **own}
        if (canon, merged) not in out:
            out.append((canon, merged))
    return out


# options the x axis already states (its label says "from_logits=True")
_AXIS_OPTIONS = ("from_logits", "log_input")


def curves(names, *, options=None, targets=None, x_range=None, points=201):
    """The curves :func:`figure` draws: a list of :class:`Curve` (no matplotlib needed).

    ``names``: entries (``"huber"``, ``"huber:delta=3"``, ``("huber", {"delta": 3})``) or one
    string of comma-separated entries; ``options``: ``{name: {key: value}}`` for every entry of
    that loss (an entry's own options win)."""
    from .registry import get

    out = []
    for canon, opts in _entries(names, options):
        fn = get(canon, **opts)
        changed = dict(fn.bound)  # what was asked for is shown, even a default (huber:delta=1 beside delta=3)
        entry = f"{canon} ({_options_text(changed)})" if changed else canon
        chosen, best, error = None, 0.49, None  # a curve must be defined on at least half of its range
        for kind, builder, tgts, label in _candidates(fn, targets):
            lo, hi = x_range or _DEFAULT_RANGES.get(kind) or (tgts[0] - 3.0, tgts[0] + 3.0)
            xs = np.linspace(lo, hi, points)
            shown = _options_text({k: v for k, v in changed.items()
                                   if not (k in _AXIS_OPTIONS and kind.endswith("logit"))})
            drawn = []
            for t in tgts:
                v, g, err = _evaluate(fn, builder, t, xs)
                error = error or err
                text = f"{shown}; {label(t)}" if shown else label(t)
                drawn.append(Curve(canon, f"{canon} ({text})", kind, t, xs, v, g, dict(changed), entry))
            score = min(float(np.isfinite(c.value).mean()) for c in drawn)
            if max(float(np.nanmax(np.abs(c.value), initial=0.0)) for c in drawn) > 1e6:
                score -= 0.5  # e.g. a percentage error at y=0: defined but off the scale
            if score > best:
                chosen, best = drawn, score
            if score >= 1.0:
                break
        if chosen is None:
            why = f": {error}" if error else ""
            raise LossInputError(f"cannot plot {entry}: none of the standard inputs (binary, regression, class, "
                                 f"pixel) is valid for it with these options{why}")
        out.extend(chosen)
    return out


# -- drawing ----------------------------------------------------------------------------------
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")
_LEGEND_CHARS = 44  # legend lines wrap here, so the legend beside the plots stays narrow


def _same(a, b, xa, xb):
    """Two curves that would be drawn on top of each other (same x, same values where defined)."""
    if xa.shape != xb.shape or not np.allclose(xa, xb):
        return False
    ok = np.isfinite(a)
    if not ok.any() or not np.array_equal(ok, np.isfinite(b)):
        return False
    scale = float(np.max(np.abs(a[ok]))) or 1.0
    return bool(np.allclose(a[ok], b[ok], rtol=1e-6, atol=1e-6 * scale))


def _groups(row, attr):
    """For each curve of a row: (index of the first curve it coincides with or None, its rank
    among those coinciding: 0 for the first)."""
    out: list[tuple[int | None, int]] = []
    for i, c in enumerate(row):
        first = next((j for j in range(i) if out[j][0] is None
                      and _same(getattr(row[j], attr), getattr(c, attr), row[j].x, c.x)), None)
        rank = 0 if first is None else 1 + sum(1 for j in range(i) if out[j][0] == first)
        out.append((first, rank))
    return out


def _line_style(base, rank, has_twins, points):
    """A curve's style: its own dash (per target), and when it lies on an earlier curve, a
    dash pattern offset by rank and markers at shifted places, so every coinciding curve shows."""
    if rank == 0:
        return {"linestyle": base, "linewidth": 3.0 if has_twins else 1.5, "zorder": 2}
    step = max(points // 10, 1)
    return {"linestyle": (3.0 * (rank - 1), (3.0, 6.0)), "linewidth": 1.8, "zorder": 2 + rank,
            "marker": _MARKERS[(rank - 1) % len(_MARKERS)], "markersize": 5,
            "markevery": ((rank * step) // 4 % step, step)}


def _note(row, i, value_group, grad_group):
    """The legend's "= same as ..." for curve i, from the value and gradient coincidences."""
    def name(j):  # the loss as listed, or the full label when that loss has several curves here
        return row[j].entry if sum(c.entry == row[j].entry for c in row) == 1 else row[j].label

    v, g = value_group[i][0], grad_group[i][0]
    if v is not None and v == g:
        return f" = same as {name(v)}"
    parts = [f"value same as {name(v)}"] if v is not None else []
    parts += [f"gradient same as {name(g)}"] if g is not None else []
    return f" ({'; '.join(parts)})" if parts else ""


def _wrap(text, chars):
    """``text`` wrapped at ``chars``, short parenthesised groups ("(y=class 0)") kept whole."""
    lines: list[str] = []
    for word in re.findall(r"\([^()]{1,24}\)\S*|\S+", text):
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(("  " if lines else "") + word)
    return "\n".join(lines)


def _asinh_axis(ax, grads):
    """An asinh y axis (linear near 0, logarithmic beyond, smooth throughout) with ticks at 0
    and the powers of ten the data reach, written plainly."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    finite = np.concatenate([g[np.isfinite(g)] for g in grads])
    lo, hi = float(finite.min(initial=0.0)), float(finite.max(initial=0.0))
    top = int(np.ceil(np.log10(max(-lo, hi, 1.0))))
    first = 0 if top <= 2 else 1  # +-1 sits close to 0 on a long axis: its labels would collide
    ticks = [0.0] + [s * 10.0**k for k in range(first, top + 1) for s in (-1.0, 1.0)
                     if (s < 0 and lo <= -0.5 * 10.0**k) or (s > 0 and hi >= 0.5 * 10.0**k)]
    ax.set_yscale("asinh", linear_width=1.0)
    ax.yaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_ylabel("d loss / d prediction (asinh scale)")


def figure(names, *, options=None, targets=None, x_range=None, points=201):
    """``(matplotlib Figure, curves)``: value (left) and gradient (right) of each loss, one row
    per kind of x axis. matplotlib is imported here, lazily."""
    try:
        from matplotlib import rcParams
        from matplotlib.figure import Figure
        from matplotlib.font_manager import FontProperties
    except ImportError:
        raise MissingMatplotlib("losskit plot needs matplotlib; install it with pip install 'losskit[plot]'") from None
    drawn = curves(names, options=options, targets=targets, x_range=x_range, points=points)
    if not drawn:
        raise LossInputError("nothing to plot: give at least one loss")
    kinds = list(dict.fromkeys(c.kind for c in drawn))
    fig = Figure(figsize=(11, 3.8 * len(kinds)), layout="constrained")
    axes = fig.subplots(len(kinds), 2, squeeze=False)
    colors: dict[str, str] = {}
    for row_index, kind in enumerate(kinds):
        lv, lg = axes[row_index]
        row = [c for c in drawn if c.kind == kind]
        value_group, grad_group = _groups(row, "value"), _groups(row, "grad")
        per_entry: dict[str, int] = {}
        labels = []
        for i, c in enumerate(row):
            color = colors.setdefault(c.entry, f"C{len(colors) % 10}")
            k = per_entry[c.entry] = per_entry.get(c.entry, -1) + 1
            base = _STYLES[k % len(_STYLES)]
            for ax, y, group in ((lv, c.value, value_group), (lg, c.grad, grad_group)):
                has_twins = any(first == i for first, _ in group)
                ax.plot(c.x, y, color=color, label=c.label, **_line_style(base, group[i][1], has_twins, c.x.size))
            labels.append(_wrap(c.label + _note(row, i, value_group, grad_group), _LEGEND_CHARS))
        xlabel = _KIND_LABELS.get(kind, kind)
        lv.set(xlabel=xlabel, ylabel="loss", title="value")
        lg.set(xlabel=xlabel, ylabel="d loss / d prediction", title="gradient")
        for ax in (lv, lg):
            ax.grid(True, alpha=0.3)
            ax.axhline(0.0, color="0.6", linewidth=0.6)
        # beside the plots, never over a curve
        lg.legend(lv.get_lines()[:len(row)], labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
        big = max((float(np.nanmax(np.abs(c.grad), initial=0.0)) for c in row), default=0.0)
        if big > 100.0:  # 1/p near 0 or 1: a scale that compresses the tails and, unlike symlog, has no bend
            _asinh_axis(lg, [c.grad for c in row])
    # the title wraps at the figure's width (about 0.6 em per character, a margin kept)
    size = FontProperties(size=rcParams["figure.titlesize"]).get_size_in_points()
    chars = int(0.9 * fig.get_figwidth() * 72 / (0.62 * size))
    fig.suptitle(_wrap("losskit: " + ", ".join(dict.fromkeys(c.entry for c in drawn)), chars))
    return fig, drawn


def plot(names, *, output="losskit-plot.png", options=None, targets=None, x_range=None, points=201, dpi=100):
    """Draw :func:`figure` and write it to ``output`` (.png or .svg, atomically); returns the path."""
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext not in ("png", "svg"):
        raise LossInputError(f"--output must end in .png or .svg; got {output!r}")
    fig, _ = figure(names, options=options, targets=targets, x_range=x_range, points=points)
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise LossInputError(f"--output {output}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".losskit-", suffix=f".{ext}", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, format=ext, dpi=dpi)
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return output
