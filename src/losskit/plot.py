"""Value and gradient curves of losses against the prediction (needs matplotlib).

For each loss the curve is chosen from its record (``structure``, ``input_kind`` and its logit
options): binary losses against the probability (or the logit with ``from_logits=True``, or
the raw score for margin losses) for targets 0 and 1 (or -1 and 1); regression losses
against the prediction around a target; categorical losses against the true class's
probability (or logit/score) with the other classes sharing the rest; overlap losses (Dice,
...) against one foreground and one background pixel's probability. Every point is a real
call of the loss and of its ``.grad``, so the curves show exactly what losskit computes,
clamps included. Several losses share one figure; losses whose x axes mean different things
get one row each.

>>> from losskit.plot import curves
>>> c = curves(["mse"])[0]
>>> c.label, c.kind, float(c.value[c.x.size // 2]), float(c.grad[-1])
('mean_squared_error (y=0)', 'prediction', 0.0, 6.0)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from collections.abc import Callable

import numpy as np

from ._array.validate import LossInputError

__all__ = ["Curve", "curves", "figure", "plot", "parse_targets", "parse_range", "MissingMatplotlib"]


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
    vals = np.full(xs.shape, np.nan)
    grads = np.full(xs.shape, np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i, x in enumerate(xs):
            try:
                y, p, idx = builder(float(x), target)
                v = float(np.asarray(fn(y, p)))
                g = np.asarray(fn.grad(y, p))[idx]
            except (LossInputError, ValueError, TypeError, ZeroDivisionError, FloatingPointError, IndexError):
                continue
            vals[i], grads[i] = v, float(g)
    return vals, grads


def curves(names, *, options=None, targets=None, x_range=None, points=201):
    """The curves :func:`figure` draws: a list of :class:`Curve` (no matplotlib needed)."""
    from .registry import get, resolve

    out = []
    options = options or {}
    for name in names:
        canon = resolve(name)
        fn = get(canon, **options.get(canon, options.get(name, {})))
        chosen, best = None, 0.49  # a curve must be defined on at least half of its range
        for kind, builder, tgts, label in _candidates(fn, targets):
            lo, hi = x_range or _DEFAULT_RANGES.get(kind) or (tgts[0] - 3.0, tgts[0] + 3.0)
            xs = np.linspace(lo, hi, points)
            drawn = []
            for t in tgts:
                v, g = _evaluate(fn, builder, t, xs)
                drawn.append(Curve(canon, f"{canon} ({label(t)})", kind, t, xs, v, g))
            score = min(float(np.isfinite(c.value).mean()) for c in drawn)
            if max(float(np.nanmax(np.abs(c.value), initial=0.0)) for c in drawn) > 1e6:
                score -= 0.5  # e.g. a percentage error at y=0: defined but off the scale
            if score > best:
                chosen, best = drawn, score
            if score >= 1.0:
                break
        if chosen is None:
            raise LossInputError(f"cannot plot {canon}: none of the standard inputs (binary, regression, class, "
                                 "pixel) is valid for it with these options")
        out.extend(chosen)
    return out


def figure(names, *, options=None, targets=None, x_range=None, points=201):
    """``(matplotlib Figure, curves)``: value (left) and gradient (right) of each loss, one row
    per kind of x axis. matplotlib is imported here, lazily."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingMatplotlib("losskit plot needs matplotlib; install it with pip install 'losskit[plot]'") from None
    drawn = curves(names, options=options, targets=targets, x_range=x_range, points=points)
    kinds = list(dict.fromkeys(c.kind for c in drawn))
    fig = Figure(figsize=(11, 3.8 * len(kinds)), layout="constrained")
    axes = fig.subplots(len(kinds), 2, squeeze=False)
    colors: dict[str, str] = {}
    styles = ("-", "--", ":", "-.")
    per_loss_count: dict[tuple[int, str], int] = {}
    for c in drawn:
        row = kinds.index(c.kind)
        color = colors.setdefault(c.loss, f"C{len(colors) % 10}")
        k = per_loss_count.get((row, c.loss), 0)
        per_loss_count[(row, c.loss)] = k + 1
        style = styles[k % len(styles)]
        axes[row][0].plot(c.x, c.value, style, color=color, label=c.label)
        axes[row][1].plot(c.x, c.grad, style, color=color, label=c.label)
    for row, kind in enumerate(kinds):
        lv, lg = axes[row]
        xlabel = _KIND_LABELS.get(kind, kind)
        lv.set(xlabel=xlabel, ylabel="loss", title="value")
        lg.set(xlabel=xlabel, ylabel="d loss / d prediction", title="gradient")
        for ax in (lv, lg):
            ax.grid(True, alpha=0.3)
            ax.axhline(0.0, color="0.6", linewidth=0.6)
        lv.legend(fontsize="small")
        big = [np.nanmax(np.abs(c.grad), initial=0.0) for c in drawn if c.kind == kind]
        if big and max(big) > 100.0:  # 1/p near 0 or 1: keep the bulk of the curve visible
            lg.set_yscale("symlog", linthresh=1.0)
            lg.set_ylabel("d loss / d prediction (symlog)")
    fig.suptitle("losskit: " + ", ".join(dict.fromkeys(c.loss for c in drawn)))
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
