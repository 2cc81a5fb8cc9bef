"""losskit.plot: curve data against independent formulas, entries with options, coinciding curves,
the gradient scale, legends and titles that fit, and errors (library and CLI)."""

import re

import numpy as np
import pytest

import losskit as lk
from losskit import LossInputError
from losskit.cli import main
from losskit.plot import curves, figure, plot

mpl = pytest.importorskip("matplotlib")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def by_label(drawn):
    return {c.label: c for c in drawn}


def value_lines(fig):
    return [ln for ax in fig.axes if ax.get_title() == "value" for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def legend_texts(fig):
    return [t.get_text().replace("\n  ", " ") for ax in fig.axes
            if ax.get_legend() for t in ax.get_legend().get_texts()]


def drawn_figure(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


# -- curve data -------------------------------------------------------------------------------
def test_same_loss_twice_with_different_options():
    drawn = curves("huber:delta=1,huber:delta=3")
    assert [c.label for c in drawn] == ["huber (delta=1; y=0)", "huber (delta=3; y=0)"]
    for c, delta in zip(drawn, (1.0, 3.0)):
        x = c.x
        quad = np.abs(x) <= delta
        np.testing.assert_allclose(c.value, np.where(quad, 0.5 * x**2, delta * (np.abs(x) - 0.5 * delta)), rtol=1e-12)
        np.testing.assert_allclose(c.grad, np.clip(x, -delta, delta), rtol=1e-12, atol=1e-15)
        assert c.options == {"delta": delta} and c.entry == f"huber (delta={delta:g})"
    assert not np.allclose(drawn[0].value, drawn[1].value)
    # the other spellings give the same curves; identical entries are drawn once
    same = curves([("huber", {"delta": 1}), "huber_loss:delta=3", "huber : delta = 3"])
    assert [c.label for c in same] == [c.label for c in drawn]
    assert len(curves("huber,huber_loss")) == 1
    # an entry's own options win over options=, which the other entries of that loss take
    opts = {"huber": {"delta": 2.0}}
    mixed = curves(["huber", "huber:delta=0.5"], options=opts)
    assert [c.options for c in mixed] == [{"delta": 2.0}, {"delta": 0.5}]
    assert opts == {"huber": {"delta": 2.0}}  # not modified


def test_curve_values_match_reference_formulas():
    q = 0.9
    (c,) = curves(["quantile:quantile=0.9"], points=200)  # even count: no point on the kink
    r = 0.0 - c.x  # y - y_pred
    np.testing.assert_allclose(c.value, np.maximum(q * r, (q - 1) * r), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c.grad, np.where(r > 0, -q, 1 - q), rtol=1e-12)
    f = by_label(curves(["binary_focal_cross_entropy"]))  # gamma=2, no alpha
    p = f["binary_focal_cross_entropy (y=1)"].x
    np.testing.assert_allclose(f["binary_focal_cross_entropy (y=1)"].value, -((1 - p) ** 2) * np.log(p), rtol=1e-10)
    np.testing.assert_allclose(f["binary_focal_cross_entropy (y=1)"].grad,
                               2 * (1 - p) * np.log(p) - (1 - p) ** 2 / p, rtol=1e-9)
    np.testing.assert_allclose(f["binary_focal_cross_entropy (y=0)"].value, -(p**2) * np.log1p(-p), rtol=1e-10)


# -- coinciding curves ------------------------------------------------------------------------
def test_coinciding_curves_get_distinct_styles_and_a_note():
    fig, drawn = figure(["cce", "scce", "kld"])
    lines = {ln.get_label(): ln for ln in value_lines(fig)}
    x = drawn[0].x
    # which lines coincide, from the formula: -log p for a one-hot / class-0 target
    same = [lab for lab, ln in lines.items() if np.allclose(ln.get_ydata(), -np.log(x), rtol=1e-9)]
    assert same == ["categorical_cross_entropy (y=one-hot class 0)", "sparse_categorical_cross_entropy (y=class 0)",
                    "kl_divergence (y=one-hot class 0)"]
    looks = {(str(lines[lab].get_linestyle()), str(lines[lab].get_dashes() if hasattr(lines[lab], "get_dashes") else ""),
              lines[lab].get_marker(), str(lines[lab].get_markevery()), lines[lab].get_linewidth()) for lab in same}
    assert len(looks) == 3  # three different looks
    markers = [lines[lab].get_marker() for lab in same]
    assert markers[0] in (None, "None", "") and len({m for m in markers[1:]}) == 2  # the twins carry markers
    starts = [lines[lab].get_markevery()[0] for lab in same[1:]]
    assert starts[0] != starts[1]  # at different places along the curve
    texts = legend_texts(fig)
    assert any(t.startswith("sparse_categorical_cross_entropy (y=class 0) = same as categorical_cross_entropy")
               for t in texts), texts
    assert any(t.startswith("kl_divergence (y=one-hot class 0) = same as categorical_cross_entropy") for t in texts)
    assert not any("same as" in t for t in texts if t.startswith(("categorical", "kl_divergence (y=[")))
    # curves that only touch get no note
    fig, _ = figure("huber:delta=1,huber:delta=3")
    assert not any("same as" in t for t in legend_texts(fig))


def test_two_settings_that_agree_are_noted():
    fig, _ = figure("mse,mse:reduction=sum")  # on one element the sum is the mean
    texts = legend_texts(fig)
    assert texts == ["mean_squared_error (y=0)", "mean_squared_error (reduction=sum; y=0) = same as mean_squared_error"]


# -- the gradient's scale -----------------------------------------------------------------------
def spikes(y, ratio=5.0):
    """Indices where the second difference jumps above its neighbours (a bend drawn into a smooth curve)."""
    d2 = np.abs(np.diff(y, 2))
    out = []
    for i in range(8, d2.size - 8):
        near = max(d2[i - 7:i - 2].max(), d2[i + 3:i + 8].max())
        if d2[i] > ratio * near + 1e-12:
            out.append(i)
    return out


def test_gradient_scale_adds_no_kink():
    from matplotlib.scale import SymmetricalLogTransform

    fig, drawn = figure(["focal"])
    (grad_ax,) = [ax for ax in fig.axes if ax.get_title() == "gradient"]
    assert grad_ax.get_yscale() == "asinh"  # |g| reaches 1000 near p = 1: not a linear axis
    transform = grad_ax.yaxis.get_transform()
    for c in drawn:
        assert spikes(c.grad) == [], c.label  # the raw gradient is smooth ...
        assert spikes(transform.transform(c.grad)) == [], c.label  # ... and stays smooth as drawn
    # the detector sees the bends symlog(linthresh=1) put where |g| crosses 1 (p near 0.47 and 0.53)
    symlog = SymmetricalLogTransform(10, 1.0, 1.0)
    bends = [float(c.x[i + 1]) for c in drawn for i in spikes(symlog.transform(c.grad))]
    assert bends and all(0.4 < b < 0.6 for b in bends), bends
    # small gradients stay on a linear axis
    fig, _ = figure(["huber"])
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "linear"]


# -- legends and titles -----------------------------------------------------------------------
def test_legend_shows_options(capsys, tmp_path):
    fig, _ = figure(["quantile"], options={"quantile": {"quantile": 0.9}})
    assert legend_texts(fig) == ["quantile (quantile=0.9; y=0)"]
    fig, _ = figure(["quantile"])
    assert legend_texts(fig) == ["quantile (y=0)"]
    svg = tmp_path / "q.svg"
    assert run(capsys, "plot", "quantile", "-O", "quantile.quantile=0.9", "-o", svg)[0] == 0
    assert "quantile (quantile=0.9; y=0)" in svg.read_text()
    # from_logits is said by the x axis, not repeated in the legend
    fig, _ = figure("bce:from_logits=true:label_smoothing=0.1")
    assert legend_texts(fig) == ["binary_cross_entropy (label_smoothing=0.1; y=0)",
                                 "binary_cross_entropy (label_smoothing=0.1; y=1)"]


EIGHT = ("binary_focal_cross_entropy,categorical_focal_cross_entropy,sparse_categorical_focal_cross_entropy,"
         "generalized_kl_divergence,jensen_shannon_divergence,mean_squared_logarithmic_error,"
         "mean_absolute_percentage_error,dice_cross_entropy")


@pytest.mark.parametrize("names", [EIGHT, "mse", "huber:delta=1,huber:delta=3,quantile:quantile=0.9,mae,log_cosh"])
def test_title_and_legends_fit_in_the_figure(names):
    fig, drawn = figure(names, points=41)
    renderer = drawn_figure(fig)
    box = fig.bbox
    title = [t for t in fig.findobj(mpl.text.Text) if t.get_text().startswith("losskit:")]
    texts = title + [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]
    texts += [t for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert len(title) == 1
    for name in dict.fromkeys(c.loss for c in drawn):
        assert name in title[0].get_text().replace("\n", " ")
    for t in texts:
        ext = t.get_window_extent(renderer)
        assert box.x0 - 0.5 <= ext.x0 and ext.x1 <= box.x1 + 0.5, t.get_text()
        assert box.y0 - 0.5 <= ext.y0 and ext.y1 <= box.y1 + 0.5, t.get_text()


def test_every_registered_loss_plots(tmp_path):
    for name in lk.available(aliases=False):
        fig, drawn = figure([name], points=21)
        assert drawn and all(c.loss == name for c in drawn)
        assert all(np.isfinite(c.value).mean() >= 0.5 for c in drawn), name
    path = plot(lk.available(aliases=False)[:3], output=str(tmp_path / "three.png"), points=21, dpi=30)
    assert (tmp_path / "three.png").stat().st_size > 0 and path.endswith("three.png")


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry, match", [
    ("huber:delta", r"expected NAME:KEY=VALUE"),
    ("huber:=3", r"expected NAME:KEY=VALUE"),
    ("huber:nope=1", r"unknown option 'nope'"),
    ("huber:delta=-1", r"cannot plot huber \(delta=-1\).*delta must be > 0"),
    ("nope:delta=1", r"unknown loss 'nope'"),
    ("huber,,mse", r"empty loss name"),
    ("huber:delta=[[[[", r"unbalanced brackets"),
    ("quantile:quantile=2", r"quantile must be < 1"),
])
def test_bad_entries_raise_and_exit_2(capsys, tmp_path, entry, match):
    with pytest.raises(LossInputError, match=match):
        curves(entry)
    code, out, err = run(capsys, "plot", entry, "-o", tmp_path / "x.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(match, err), err
    assert not list(tmp_path.iterdir())


def test_bad_entry_objects():
    for bad in ([("huber", 3)], [3], [("huber", {"delta": 1}, 2)]):
        with pytest.raises(LossInputError):
            curves(bad)
    with pytest.raises(LossInputError, match="nothing to plot"):
        figure([])


def test_cli_two_settings_of_one_loss(capsys, tmp_path):
    svg = tmp_path / "h.svg"
    code, out, err = run(capsys, "plot", "huber:delta=1,huber:delta=3,mse", "-O", "huber.delta=2", "-o", svg)
    assert code == 0, err
    text = svg.read_text()
    assert "huber (delta=1; y=0)" in text and "huber (delta=3; y=0)" in text
    assert "huber (delta=2" not in text  # each entry's own option wins over -O
    code, out, err = run(capsys, "plot", "--help")
    assert "huber:delta=1,huber:delta=3" in out.replace("\n", " ").replace("  ", " ")
