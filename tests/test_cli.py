"""The losskit command line: every subcommand, every input format and every error class.

Results are checked against the library called on the same arrays, read here independently
of the CLI's readers (csv module / NumPy / pyarrow).
"""

import csv
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import losskit as lk
from losskit.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "data")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def value_of(result, name):
    return next(r["value"] for r in result["results"] if r["loss"] == name)


def write_csv(path, header, columns, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        if header:
            w.writerow(header)
        for row in zip(*columns):
            w.writerow([repr(float(v)) for v in row])
    return str(path)


def read_csv_columns(path, names):
    """Independent reader: the csv module and float()."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [np.array([float(r[n]) for r in rows]) for n in names]


@pytest.fixture
def binary(tmp_path):
    rng = np.random.default_rng(0)
    n = 1000
    y = (rng.random(n) > 0.4).astype(float)
    p = rng.uniform(0.01, 0.99, size=n)
    x = rng.normal(scale=3.0, size=n)
    w = rng.uniform(0.1, 2.0, size=n)
    path = write_csv(tmp_path / "bin.csv", ["y", "p", "logit", "w"], [y, p, x, w])
    return path, y, p, x, w


@pytest.fixture
def multiclass(tmp_path):
    rng = np.random.default_rng(1)
    n, c = 301, 4
    labels = rng.integers(0, c, size=n)
    logits = rng.normal(size=(n, c))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cols = [labels.astype(float), *proba.T, *logits.T]
    header = ["label", *[f"p{k}" for k in range(c)], *[f"z{k}" for k in range(c)]]
    path = write_csv(tmp_path / "multi.csv", header, cols)
    return path, labels, proba, logits


# -- eval: results equal the library on the same arrays ----------------------------------------
def test_eval_table_matches_library(capsys, binary):
    path, y, p, _, _ = binary
    code, out, err = run(capsys, "eval", path, "--labels", "y", "--pred", "p", "--loss", "bce,mse", "--chunk-rows", "97")
    assert code == 0, err
    values = dict(re.findall(r"^(\w+)\s+(-?[\d.e+-]+)$", out, flags=re.M))
    assert float(values["binary_cross_entropy"]) == pytest.approx(float(lk.bce(y, p)), rel=1e-9)
    assert float(values["mean_squared_error"]) == pytest.approx(float(lk.mse(y, p)), rel=1e-9)
    assert "1,000 rows" in out


def test_eval_json_weights_options_and_reductions(capsys, binary):
    path, y, p, x, w = binary
    res = run_json(capsys, "eval", path, "-l", "y", "-p", "logit", "-L", "bce,hinge", "--from-logits",
                   "-O", "bce.label_smoothing=0.1", "-w", "w", "--chunk-rows", "64")
    assert res["rows"] == 1000 and res["weight"].endswith(":w")
    assert value_of(res, "binary_cross_entropy") == pytest.approx(
        float(lk.bce(y, x, from_logits=True, label_smoothing=0.1, sample_weight=w)), rel=1e-12)
    assert value_of(res, "hinge") == pytest.approx(float(lk.hinge(y, x, sample_weight=w)), rel=1e-12)
    for red in ("sum", "sum_over_batch_size"):
        res = run_json(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "mse", "-w", "w", "-r", red)
        assert value_of(res, "mean_squared_error") == pytest.approx(
            float(lk.mse(y, p, sample_weight=w, reduction=red)), rel=1e-12)


def test_eval_unscoped_option_goes_to_every_loss_that_takes_it(capsys, binary):
    path, y, p, _, _ = binary
    res = run_json(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce,mse", "--option", "label_smoothing=0.2")
    assert res["results"][0]["options"] == {"label_smoothing": 0.2}
    assert res["results"][1]["options"] == {}
    assert value_of(res, "binary_cross_entropy") == pytest.approx(float(lk.bce(y, p, label_smoothing=0.2)), rel=1e-12)


def test_eval_csv_output_file_is_written_atomically(capsys, binary, tmp_path):
    path, y, p, _, _ = binary
    out_file = tmp_path / "out" / "result.csv"
    out_file.parent.mkdir()
    code, out, err = run(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce", "--output", out_file)
    assert code == 0 and out == "" and err == ""
    rows = list(csv.DictReader(open(out_file)))
    assert rows[0]["loss"] == "binary_cross_entropy" and rows[0]["rows"] == "1000"
    same = run_json(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce")
    assert float(rows[0]["value"]) == value_of(same, "binary_cross_entropy")  # repr round-trips exactly
    assert float(rows[0]["value"]) == pytest.approx(float(lk.bce(y, p)), rel=1e-14)
    assert os.listdir(out_file.parent) == ["result.csv"]  # no temporary file left behind
    js = tmp_path / "out" / "r.json"
    assert run(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce", "--output", js)[0] == 0
    assert json.load(open(js))["results"][0]["value"] == float(rows[0]["value"])


def test_eval_class_probability_block_glob_and_range(capsys, multiclass):
    path, labels, proba, logits = multiclass
    res = run_json(capsys, "eval", path, "-l", "label", "-p", "p*", "-L", "scce", "--chunk-rows", "50")
    assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(
        float(lk.sparse_categorical_cross_entropy(labels, proba)), rel=1e-12)
    res = run_json(capsys, "eval", path, "-l", "label", "-p", "z0..z3", "-L", "scce,multi_margin", "--from-logits")
    assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(
        float(lk.sparse_categorical_cross_entropy(labels, logits, from_logits=True)), rel=1e-12)
    assert value_of(res, "multi_margin") == pytest.approx(float(lk.multi_margin(labels, logits)), rel=1e-12)
    res = run_json(capsys, "eval", path, "-l", "label", "-p", "p0,p1,p2,p3", "-L", "scce", "-O", "label_smoothing=0.1")
    assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(
        float(lk.sparse_categorical_cross_entropy(labels, proba, label_smoothing=0.1)), rel=1e-12)


def test_eval_formats_npy_npz_parquet_tsv_gz_headerless(capsys, tmp_path, multiclass):
    path, labels, proba, logits = multiclass
    ref = float(lk.sparse_categorical_cross_entropy(labels, proba))
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "proba.npy", proba)
    np.savez(tmp_path / "both.npz", labels=labels, proba=proba)
    np.savez_compressed(tmp_path / "packed.npz", labels=labels, proba=proba.astype(np.float32))
    sources = [
        ("--labels", tmp_path / "labels.npy", "--pred", tmp_path / "proba.npy"),
        ("--labels", f"{tmp_path / 'both.npz'}:labels", "--pred", f"{tmp_path / 'both.npz'}:proba"),
        ("--labels", tmp_path / "labels.npy", "--pred", f"{tmp_path / 'proba.npy'}:0..3"),
        ("--labels", f"{path}:label", "--pred", tmp_path / "proba.npy"),  # two files of different formats
    ]
    for src in sources:
        res = run_json(capsys, "eval", *src, "-L", "scce", "--chunk-rows", "64")
        assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(ref, rel=1e-12), src
    res = run_json(capsys, "eval", "--labels", f"{tmp_path / 'packed.npz'}:labels",
                   "--pred", f"{tmp_path / 'packed.npz'}:proba", "-L", "scce", "--chunk-rows", "64")
    assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(
        float(lk.sparse_categorical_cross_entropy(labels, proba.astype(np.float32))), rel=1e-6)

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"label": labels, **{f"p{k}": proba[:, k] for k in range(4)}})
    pq.write_table(table, tmp_path / "m.parquet", row_group_size=37)
    res = run_json(capsys, "eval", tmp_path / "m.parquet", "-l", "label", "-p", "p*", "-L", "scce", "--chunk-rows", "50")
    assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(ref, rel=1e-12)

    y, p = labels.astype(float) / 3.0, proba[:, 0]
    tsv = write_csv(tmp_path / "d.tsv", ["y", "p"], [y, p], delimiter="\t")
    semi = write_csv(tmp_path / "d.txt", ["y", "p"], [y, p], delimiter=";")
    bare = write_csv(tmp_path / "bare.csv", None, [y, p])
    with open(tsv, "rb") as f:
        data = f.read()
    with gzip.open(tmp_path / "d.tsv.gz", "wb") as f:
        f.write(data)
    ref = float(lk.bce(y, p))
    for args in ((tsv, "-l", "y", "-p", "p"), (semi, "-l", "y", "-p", "p", "--delimiter", ";"),
                 (bare, "-l", "0", "-p", "1"), (bare, "-l", "0", "-p", "1", "--no-header"),
                 (tmp_path / "d.tsv.gz", "-l", "y", "-p", "p")):
        res = run_json(capsys, "eval", *args, "-L", "bce", "--chunk-rows", "33")
        assert value_of(res, "binary_cross_entropy") == pytest.approx(ref, rel=1e-12), args


def test_eval_blank_lines_and_quoted_cells(capsys, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('y,p,name\n1,0.9,"a, b"\n\n0,"0.2",c\n1,0.6,d\n\n')
    res = run_json(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", "--chunk-rows", "2")
    assert res["rows"] == 3
    assert value_of(res, "binary_cross_entropy") == pytest.approx(
        float(lk.bce(np.array([1.0, 0, 1]), np.array([0.9, 0.2, 0.6]))), rel=1e-12)


def test_eval_global_dice_streams_its_statistics(capsys, tmp_path):
    rng = np.random.default_rng(3)
    y = (rng.random((200, 5)) > 0.7).astype(float)
    p = rng.random((200, 5))
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    res = run_json(capsys, "eval", "-l", tmp_path / "y.npy", "-p", tmp_path / "p.npy", "-L", "dice,jaccard",
                   "--chunk-rows", "7")
    assert value_of(res, "dice") == pytest.approx(float(lk.dice(y, p)), rel=1e-12)
    expect = 1 - (2 * np.sum(y * p) + 1) / (np.sum(y) + np.sum(p) + 1)  # the course's formula
    assert value_of(res, "dice") == pytest.approx(expect, rel=1e-12)
    assert value_of(res, "jaccard") == pytest.approx(float(lk.jaccard(y, p)), rel=1e-12)
    # 3-D arrays (image rows) with a per-image axis
    y3, p3 = y.reshape(40, 5, 5), p.reshape(40, 5, 5)
    np.save(tmp_path / "y3.npy", y3)
    np.save(tmp_path / "p3.npy", p3)
    res = run_json(capsys, "eval", "-l", tmp_path / "y3.npy", "-p", tmp_path / "p3.npy", "-L", "dice",
                   "-O", "axis=[1,2]", "--chunk-rows", "6")
    assert value_of(res, "dice") == pytest.approx(float(lk.dice(y3, p3, axis=(1, 2))), rel=1e-12)


def test_eval_progress_bar_only_on_a_terminal(capsys, binary, monkeypatch):
    path = binary[0]

    class Tty(io.StringIO):
        def isatty(self):
            return True

    fake = Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    assert main(["eval", path, "-l", "y", "-p", "p", "-L", "bce", "--chunk-rows", "100"]) == 0
    text = fake.getvalue()
    assert "\r" in text and "%" in text and "rows" in text and text.endswith("\r\033[K")
    fake2 = Tty()
    monkeypatch.setattr(sys, "stderr", fake2)
    assert main(["eval", path, "-l", "y", "-p", "p", "-L", "bce", "-q"]) == 0
    assert fake2.getvalue() == ""
    monkeypatch.undo()
    code, _, err = run(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce")  # pytest's stderr: not a tty
    assert code == 0 and err == ""


def test_readme_main_command_on_the_example_data(capsys):
    """The README's main command, on the committed example (checked with an independent reader)."""
    path = os.path.join(EXAMPLES, "breast_cancer.csv")
    if not os.path.exists(path):
        pytest.skip("examples/data not generated")
    code, out, err = run(capsys, "eval", path, "--labels", "label", "--pred", "prob", "--loss", "bce,mse")
    assert code == 0, err
    y, p = read_csv_columns(path, ["label", "prob"])
    assert len(y) == 569 and set(np.unique(y)) == {0.0, 1.0}
    values = dict(re.findall(r"^(\w+)\s+(-?[\d.e+-]+)$", out, flags=re.M))
    assert float(values["binary_cross_entropy"]) == pytest.approx(float(lk.bce(y, p)), rel=1e-9)
    assert float(values["mean_squared_error"]) == pytest.approx(float(np.mean((y - p) ** 2)), rel=1e-9)
    # the multiclass and regression examples too
    lab, *pr = read_csv_columns(os.path.join(EXAMPLES, "iris.csv"), ["label", "p0", "p1", "p2"])
    res = run_json(capsys, "eval", os.path.join(EXAMPLES, "iris.csv"), "-l", "label", "-p", "p*", "-L", "scce")
    proba = np.stack(pr, axis=1)
    assert value_of(res, "sparse_categorical_cross_entropy") == pytest.approx(
        float(np.mean(-np.log(proba[np.arange(len(lab)), lab.astype(int)]))), rel=1e-12)
    t, pd = read_csv_columns(os.path.join(EXAMPLES, "diabetes.csv"), ["target", "pred"])
    res = run_json(capsys, "eval", os.path.join(EXAMPLES, "diabetes.csv"), "-l", "target", "-p", "pred", "-L", "mse")
    assert value_of(res, "mean_squared_error") == pytest.approx(float(np.mean((t - pd) ** 2)), rel=1e-12)


# -- list / explain ------------------------------------------------------------------------------
def test_list_text_and_json(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in lk.available(aliases=False):
        assert re.search(rf"^{name}\s", out, flags=re.M), name
    assert "aliases: bce, binary_crossentropy" in out
    code, out, _ = run(capsys, "list", "--json")
    cat = json.loads(out)
    assert [c["name"] for c in cat] == lk.available(aliases=False)
    by = {c["name"]: c for c in cat}
    assert set(by["binary_cross_entropy"]["aliases"]) == {a for a, n in lk.ALIASES.items() if n == "binary_cross_entropy"}
    assert by["binary_cross_entropy"]["task"] == "binary classification"
    assert by["binary_cross_entropy"]["options"]["from_logits"] is False
    assert all(isinstance(c["streamable"], bool) for c in cat)


COURSE = ["mean_squared_error", "binary_cross_entropy", "categorical_cross_entropy", "hinge", "kl_divergence", "dice"]


@pytest.mark.parametrize("name", COURSE)
def test_explain_course_losses_in_both_languages(capsys, name):
    code, en, _ = run(capsys, "explain", name)
    assert code == 0
    for section in ("In the course", "Formula", "Gradient", "When to use it", "Pitfalls", "What losskit does",
                    "Checked now", "Coming from another library"):
        assert section in en, section
    code, ko, _ = run(capsys, "explain", name, "--lang", "ko")
    assert code == 0
    for section in ("강의에서는", "수식", "기울기", "언제 쓰나", "주의할 점", "losskit은 이렇게 합니다", "다른 라이브러리"):
        assert section in ko, section


def test_explain_live_checks_show_the_course_failures(capsys):
    """The lessons compute the naive formula and losskit now; check against values computed here."""
    _, out, _ = run(capsys, "explain", "bce")
    assert re.search(r"naive formula\s+->\s+nan", out)
    assert f"->  {float(lk.bce(np.array([1.0, 0, 1, 0]), np.array([1.0, 0, 0.9, 0.1]))):.6g}" in out
    _, out, _ = run(capsys, "explain", "categorical_crossentropy")
    assert re.search(r"naive formula\s+->\s+nan", out) and f"{-np.log(0.9):.6g}" in out
    _, out, _ = run(capsys, "explain", "kld")
    assert re.search(r"naive -np.sum.*->\s+nan", out) and f"{-np.log(0.8):.6g}" in out
    _, out, _ = run(capsys, "explain", "hinge")
    assert re.search(r"naive np.mean.*->\s+0.5$", out, flags=re.M) and re.search(r"lk.hinge\(y, s\)\s+->\s+0$", out, flags=re.M)
    _, out, _ = run(capsys, "explain", "mse")
    assert re.search(r"naive np.mean.*->\s+4$", out, flags=re.M) and "LossInputError: y_true and y_pred must have the same shape" in out
    _, out, _ = run(capsys, "explain", "dice_loss", "--lang", "ko")
    assert "[0, 0.5]" in out and re.search(r"s = 0인 단순 공식\s+->\s+nan", out)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_explain_works_for_every_name_and_alias(capsys, lang):
    for name in lk.available():
        code, out, err = run(capsys, "explain", name, "--lang", lang)
        assert code == 0 and err == "", (name, err)
        canon = lk.get(name).name
        assert canon in out and len(out) > 200
        if canon not in COURSE:
            assert lk.LOSSES[canon].record.summary.split()[0] in out
            if lang == "ko":
                assert "요약" in out and "상세 설명" in out


# -- plot -------------------------------------------------------------------------------------
def test_plot_curves_are_the_losses(tmp_path):
    pytest.importorskip("matplotlib")
    from losskit.plot import figure

    fig, curves = figure(["mse", "bce", "hinge"], points=101)
    lines = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    by = {}
    for ln in lines.values():
        by.setdefault(ln.get_label(), []).append(ln)
    value_axes = [ax for ax in fig.axes if ax.get_title() == "value"]
    grad_axes = [ax for ax in fig.axes if ax.get_title() == "gradient"]
    assert len(value_axes) == len(grad_axes) == 3  # prediction, probability and score rows

    def data(axes, label):
        (ln,) = [ln for ax in axes for ln in ax.get_lines() if ln.get_label() == label]
        return np.asarray(ln.get_xdata()), np.asarray(ln.get_ydata())

    x, v = data(value_axes, "mean_squared_error (y=0)")
    np.testing.assert_allclose(v, x**2, rtol=1e-12)
    np.testing.assert_allclose(data(grad_axes, "mean_squared_error (y=0)")[1], 2 * x, rtol=1e-12)
    x, v = data(value_axes, "binary_cross_entropy (y=1)")
    np.testing.assert_allclose(v, -np.log(x), rtol=1e-12)
    np.testing.assert_allclose(data(grad_axes, "binary_cross_entropy (y=1)")[1], -1 / x, rtol=1e-12)
    x, v = data(value_axes, "binary_cross_entropy (y=0)")
    np.testing.assert_allclose(v, -np.log1p(-x), rtol=1e-12)
    x, v = data(value_axes, "hinge (y=-1)")
    np.testing.assert_allclose(v, np.maximum(0, 1 + x), rtol=1e-12)
    assert min(x) == -3 and max(x) == 3


def test_plot_png_and_svg_files(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    png = tmp_path / "curves.png"
    code, out, err = run(capsys, "plot", "mse,huber,bce,cce,dice", "--output", png, "--dpi", "50")
    assert code == 0, err
    assert out.strip() == f"wrote {png}"
    img = mpimg.imread(png)
    # 11 x (3.8 per kind) inches at 50 dpi: four kinds (prediction, probability, class, pixel)
    assert img.shape[:2] == (round(3.8 * 4 * 50), 11 * 50)
    assert img.shape[2] in (3, 4) and float(img[..., :3].std()) > 0.01  # not a blank canvas
    svg = tmp_path / "c.svg"
    assert run(capsys, "plot", "bce", "--from-logits", "--target", "0,0.5,1", "--output", svg)[0] == 0
    import xml.etree.ElementTree as ET

    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "binary_cross_entropy (y=0.5)" in svg.read_text()
    assert sorted(os.listdir(tmp_path)) == ["c.svg", "curves.png"]


def test_plot_every_registered_loss_has_curves():
    from losskit.plot import curves

    for name in lk.available(aliases=False):
        drawn = curves([name], points=21)
        assert drawn, name
        for c in drawn:
            assert np.isfinite(c.value).mean() >= 0.5, (name, c.label)


def test_plot_without_matplotlib_names_the_extra(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, out, err = run(capsys, "plot", "mse", "--output", tmp_path / "x.png")
    assert code == 2 and "losskit[plot]" in err and err.count("\n") == 1


# -- help and entry points ---------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["list", "--help"], ["explain", "-h"], ["plot", "--help"]])
def test_help_everywhere(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0 and out.startswith("usage: losskit")


def test_version_and_usage_errors(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"losskit {lk.__version__}"
    code, _, err = run(capsys)
    assert code == 2 and "error" in err
    code, _, err = run(capsys, "eval", "x.csv")
    assert code == 2 and "--labels" in err and err.count("\n") == 1


def test_python_dash_m_and_console_script(binary):
    path, y, p, _, _ = binary
    cmd = ["eval", path, "-l", "y", "-p", "p", "-L", "bce", "-f", "json"]
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "losskit", *cmd], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["value"] == pytest.approx(float(lk.bce(y, p)), rel=1e-12)
    proc = subprocess.run([sys.executable, "-m", "losskit", "eval", path, "-l", "nope", "-p", "p", "-L", "bce"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    script = shutil.which("losskit")
    if script is None:
        pytest.skip("the console script is not installed (pip install -e . to create it)")
    proc = subprocess.run([script, *cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["value"] == pytest.approx(float(lk.bce(y, p)), rel=1e-12)


def test_pyproject_declares_the_console_script():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert re.search(r'^\[project\.scripts\]\s*\nlosskit = "losskit\.cli:main"', text, flags=re.M)


# -- errors: one line naming the file/line/column, exit 2, no traceback ----------------------------------
def fails(capsys, *argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, err)
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("losskit: error: "), err
    assert "Traceback" not in err
    assert re.search(match, err), err
    return err


def test_error_missing_file_and_directory(capsys, tmp_path):
    fails(capsys, "eval", tmp_path / "none.csv", "-l", "y", "-p", "p", "-L", "bce", match=r"no such file.*none\.csv")
    fails(capsys, "eval", "-l", tmp_path / "none.npy", "-p", tmp_path / "none.npy", "-L", "bce", match=r"--labels: no such file")
    fails(capsys, "eval", tmp_path, "-l", "y", "-p", "p", "-L", "bce", match="is a directory")


def test_error_malformed_files(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"y,p\n1,0.5\n\xff\xfe\x00garbage\n")
    fails(capsys, "eval", bad, "-l", "y", "-p", "p", "-L", "bce", match=r"bad\.csv.*line 3.*UTF-8")
    pq = tmp_path / "x.parquet"
    pq.write_bytes(b"this is not parquet")
    fails(capsys, "eval", pq, "-l", "y", "-p", "p", "-L", "bce", match=r"x\.parquet: not a readable Parquet file")
    npy = tmp_path / "t.npy"
    np.save(npy, np.arange(1000.0))
    npy.write_bytes(npy.read_bytes()[:300])
    fails(capsys, "eval", "-l", npy, "-p", npy, "-L", "mse", match=r"t\.npy: not a valid \.npy file")
    npz = tmp_path / "z.npz"
    npz.write_bytes(b"PK\x03\x04 broken")
    fails(capsys, "eval", "-l", f"{npz}:a", "-p", f"{npz}:b", "-L", "mse", match=r"z\.npz: not a valid \.npz file")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    fails(capsys, "eval", empty, "-l", "y", "-p", "p", "-L", "mse", match=r"empty\.csv: the file is empty")
    header_only = tmp_path / "h.csv"
    header_only.write_text("y,p\n")
    fails(capsys, "eval", header_only, "-l", "y", "-p", "p", "-L", "mse", match=r"no data rows in .*h\.csv")
    odd = tmp_path / "d.xlsx"
    odd.write_text("x")
    fails(capsys, "eval", odd, "-l", "y", "-p", "p", "-L", "mse", match=r"d\.xlsx: cannot tell the file format")
    short = tmp_path / "short.csv"
    short.write_text("y,p\n1,0.5\n0\n")
    fails(capsys, "eval", short, "-l", "y", "-p", "p", "-L", "bce", match=r"short\.csv data row 2 \(line 3\): column 'p' is missing")


def test_error_missing_columns(capsys, binary, tmp_path):
    path = binary[0]
    fails(capsys, "eval", path, "-l", "label", "-p", "p", "-L", "bce",
          match=r"--labels: column 'label' not found in .*bin\.csv.*columns are: y, p, logit, w")
    fails(capsys, "eval", path, "-l", "y", "-p", "q*", "-L", "bce", match=r"--pred: no column .* matches 'q\*'")
    fails(capsys, "eval", path, "-l", "y", "-p", "pp", "-L", "bce", match=r"did you mean p\?")
    fails(capsys, "eval", path, "-l", "y", "-p", "p", "-w", "w,p", "-L", "bce", match=r"--weight must name one column")
    np.savez(tmp_path / "a.npz", x=np.ones(3), z=np.ones(3))
    fails(capsys, "eval", "-l", tmp_path / "a.npz", "-p", f"{tmp_path / 'a.npz'}:x", "-L", "mse",
          match=r"a\.npz holds 2 arrays \(x, z\); name one")
    fails(capsys, "eval", "-l", f"{tmp_path / 'a.npz'}:y", "-p", f"{tmp_path / 'a.npz'}:x", "-L", "mse",
          match=r"a\.npz: no array named 'y'")
    np.save(tmp_path / "v.npy", np.ones(3))
    fails(capsys, "eval", "-l", f"{tmp_path / 'v.npy'}:0", "-p", tmp_path / "v.npy", "-L", "mse",
          match=r"v\.npy is an array without named columns")


def test_error_length_mismatch(capsys, tmp_path):
    a = write_csv(tmp_path / "a.csv", ["y"], [np.zeros(10)])
    b = write_csv(tmp_path / "b.csv", ["p"], [np.full(12, 0.5)])
    fails(capsys, "eval", "-l", f"{a}:y", "-p", f"{b}:p", "-L", "bce", "--chunk-rows", "4",
          match=r"length mismatch: --labels .*a\.csv has 10 rows, --pred .*b\.csv has at least 12 rows")
    fails(capsys, "eval", "-l", f"{b}:p", "-p", f"{a}:y", "-L", "mse", "--chunk-rows", "100",
          match=r"length mismatch: --labels .*b\.csv has 12 rows, --pred .*a\.csv has 10 rows")
    np.save(tmp_path / "y.npy", np.zeros(10))
    np.save(tmp_path / "p.npy", np.zeros(11))
    fails(capsys, "eval", "-l", tmp_path / "y.npy", "-p", tmp_path / "p.npy", "-L", "mse",
          match=r"length mismatch: --labels .*y\.npy has 10 rows, --pred .*p\.npy has 11 rows")


def test_error_non_numeric_empty_and_nan_cells(capsys, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("y,p\n1,0.5\n0,0.25\n1,abc\n")
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", match=r"c\.csv data row 3 \(line 4\), column 'p': 'abc' is not a number")
    f.write_text("y,p\n1,0.5\n,0.25\n")
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", match=r"c\.csv data row 2 \(line 3\), column 'y': empty cell")
    f.write_text("y,p\n1,0.5\n0,0.25\n0,0.25\n1,nan\n")
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", "--chunk-rows", "2",
          match=r"c\.csv data row 4 \(line 5\), column 'p': NaN")
    f.write_text("y,p\n1,0.5\n0,inf\n")
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "mse", match=r"c\.csv data row 2 \(line 3\), column 'p': inf")
    arr = np.ones((5, 2))
    arr[3, 1] = np.nan
    np.save(tmp_path / "n.npy", arr)
    fails(capsys, "eval", "-l", tmp_path / "n.npy", "-p", tmp_path / "n.npy", "-L", "mse", match=r"n\.npy data row 4, index \(1,\): NaN")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"y": [1.0, 0.0, None], "p": [0.5, 0.5, 0.5]}), tmp_path / "n.parquet")
    fails(capsys, "eval", tmp_path / "n.parquet", "-l", "y", "-p", "p", "-L", "bce",
          match=r"n\.parquet data row 3, column 'y': missing value")
    pq.write_table(pa.table({"y": ["a", "b"], "p": [0.5, 0.5]}), tmp_path / "s.parquet")
    fails(capsys, "eval", tmp_path / "s.parquet", "-l", "y", "-p", "p", "-L", "bce",
          match=r"s\.parquet: column 'y' has type string; expected numbers")


def test_error_pickled_object_arrays(capsys, tmp_path):
    obj = np.array([{"a": 1}, None, 3], dtype=object)
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    fails(capsys, "eval", "-l", tmp_path / "o.npy", "-p", tmp_path / "o.npy", "-L", "mse",
          match=r"o\.npy holds Python objects .*allow_pickle=False")
    np.savez(tmp_path / "o.npz", labels=obj, pred=np.ones(3))
    fails(capsys, "eval", "-l", f"{tmp_path / 'o.npz'}:labels", "-p", f"{tmp_path / 'o.npz'}:pred", "-L", "mse",
          match=r"o\.npz:labels holds Python objects")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    fails(capsys, "eval", "-l", tmp_path / "s.npy", "-p", tmp_path / "s.npy", "-L", "mse", match=r"s\.npy has dtype <U1")


def test_error_unknown_losses_and_options(capsys, binary):
    path = binary[0]
    base = ("eval", path, "-l", "y", "-p", "p")
    fails(capsys, *base, "-L", "bcee", match=r"unknown loss 'bcee'; did you mean")
    fails(capsys, *base, "-L", "bce,", match=r"empty loss name")
    fails(capsys, *base, "-L", "mse", "--option", "delta=2", match=r"option 'delta' does not apply to mean_squared_error")
    fails(capsys, *base, "-L", "mse", "--from-logits", match=r"--from-logits does not apply to mean_squared_error")
    fails(capsys, *base, "-L", "bce", "--option", "bce.nope=1", match=r"binary_cross_entropy got an unknown option 'nope'")
    fails(capsys, *base, "-L", "bce", "--option", "huber.delta=1", match=r"huber is not among the losses")
    fails(capsys, *base, "-L", "bce", "--option", "label_smoothing", match=r"expected KEY=VALUE")
    fails(capsys, *base, "-L", "bce", "--option", "label_smoothing=2", match=r"label_smoothing must be <= 1")
    fails(capsys, *base, "-L", "bce", "--option", "reduction=sum", match=r"--reduction")
    fails(capsys, *base, "-L", "bce", "--option", "sample_weight=1", match=r"--weight")


def test_error_invalid_values_are_located(capsys, tmp_path):
    y = np.array([1.0, 0, 1, 0, 1, 0, 1])
    p = np.array([0.5, 0.5, 0.5, 0.5, 1.5, 0.5, 0.5])
    f = write_csv(tmp_path / "v.csv", ["y", "p"], [y, p])
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", "--chunk-rows", "3",
          match=r"binary_cross_entropy: .*v\.csv data row 5 \(line 6\): y_pred must hold probabilities in \[0, 1\]")
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    fails(capsys, "eval", "-l", tmp_path / "y.npy", "-p", tmp_path / "p.npy", "-L", "bce",
          match=r"y\.npy data row 5, .*p\.npy data row 5: y_pred must hold probabilities")


def test_error_loss_that_cannot_stream(capsys, tmp_path):
    np.save(tmp_path / "y.npy", np.ones((4, 3)))
    np.save(tmp_path / "p.npy", np.zeros((4, 3)))
    non = [n for n in lk.available(aliases=False) if not lk.LOSSES[n].record.streamable]
    if not non:
        pytest.skip("every registered loss streams")
    fails(capsys, "eval", "-l", tmp_path / "y.npy", "-p", tmp_path / "p.npy", "-L", non[0],
          match=rf"{non[0]} cannot be evaluated in a stream")
    fails(capsys, "eval", "-l", tmp_path / "y.npy", "-p", tmp_path / "p.npy", "-L", "cce", "-O", "axis=0",
          match=r"chunks along axis 0 cannot be combined")


def test_error_output_and_plot_arguments(capsys, binary, tmp_path):
    path = binary[0]
    fails(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce", "--output", tmp_path / "no" / "r.json",
          match=r"folder .* does not exist")
    fails(capsys, "plot", "nope", match="unknown loss 'nope'")
    fails(capsys, "plot", "mse", "--output", tmp_path / "x.jpg", match=r"must end in \.png or \.svg")
    fails(capsys, "plot", "mse", "--range", "1", match=r"--range must be LO,HI")
    fails(capsys, "plot", "mse", "--target", "a", match=r"--target must be comma-separated numbers")
    fails(capsys, "explain", "nope", match="unknown loss 'nope'")


# -- hostile input (issue 16): each kind of damage named in one line ------------------------------
def test_output_mode_follows_umask_and_symlinks_are_written_through(capsys, binary, tmp_path):
    path = binary[0]
    old = os.umask(0o027)
    try:
        out = tmp_path / "r.json"
        assert run(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce", "-o", out)[0] == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640  # what open() gives a new file under this umask, not 0600
    target = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)  # dangling: the target is created
    assert run(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce", "-o", link)[0] == 0
    assert link.is_symlink() and json.load(open(target))["rows"] == 1000
    assert sorted(os.listdir(tmp_path)) == sorted(["bin.csv", "r.json", "real.json", "link.json"])
    fails(capsys, "eval", path, "-l", "y", "-p", "p", "-L", "bce", "-o", "", match=r"--output: empty file name")


def test_error_damaged_and_lying_files(capsys, tmp_path):
    good = "y,p,id\n1,0.5,a\n0,0.25,b\n1,0.75,c\n"
    base = ["-l", "y", "-p", "p", "-L", "bce"]

    def csv_file(name, text):
        f = tmp_path / name
        f.write_text(text)
        return f

    fails(capsys, "eval", csv_file("x.csv", good.replace("0,0.25,b", "0,0.25,b,9")), *base,
          match=r"x\.csv data row 2 \(line 3\): the line has 4 fields, more than the 3 column\(s\) of the header")
    fails(capsys, "eval", csv_file("q.csv", good.replace("0,0.25,b", '0,0.25,"b')), *base,
          match=r"q\.csv data row 2 \(line 3\): a quoted field is not closed")
    fails(capsys, "eval", csv_file("h.csv", good.replace("id", "i" * 200_000)), *base,
          match=r"h\.csv line 1: a field is longer than 131,072 characters")
    long_unused = csv_file("u.csv", good.replace(",b\n", "," + "b" * 200_000 + "\n"))  # a long cell nobody reads
    assert run_json(capsys, "eval", long_unused, *base)["rows"] == 3
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(b"y,p\n" + b"1" * (20 << 20)))  # one 20 MB line
    fails(capsys, "eval", tmp_path / "b.csv.gz", *base, match=r"b\.csv\.gz line 2: longer than 16,777,216 characters")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(good.encode())[:-12] + b"\x00" * 40)
    fails(capsys, "eval", tmp_path / "c.csv.gz", *base, match=r"c\.csv\.gz: damaged gzip data")
    buf = io.BytesIO()
    np.save(buf, np.zeros(4))
    raw = buf.getvalue()
    (tmp_path / "l.npy").write_bytes(raw.replace(b"'shape': (4,), ", b"'shape': (9999,),"))  # same header length
    fails(capsys, "eval", "-l", tmp_path / "l.npy", "-p", tmp_path / "l.npy", "-L", "mse",
          match=r"l\.npy: not a valid \.npy file \(truncated or damaged: its header claims shape \(9999,\)")
    np.savez(tmp_path / "z.npz", y=np.zeros(4), p=np.zeros(4))
    data = bytearray((tmp_path / "z.npz").read_bytes())
    at = data.find(b"PK\x01\x02")
    data[at + 8] |= 1  # the first member claims to be encrypted
    (tmp_path / "e.npz").write_bytes(bytes(data))
    fails(capsys, "eval", "-l", f"{tmp_path / 'e.npz'}:y", "-p", f"{tmp_path / 'e.npz'}:y", "-L", "mse",
          match=r"e\.npz:y: cannot read \(.*encrypted")
    ok = csv_file("ok.csv", good)
    for flags in (["--chunk-rows", "1e30"], ["--chunk-rows", "1" + "0" * 30], ["-f", "json\nxml"]):
        code, out, err = run(capsys, "eval", ok, *base, *flags)
        assert code == 2 and err.count("\n") == 1 and err.startswith("losskit eval: error: argument"), err
    fails(capsys, "eval", ok, "-l", "y", "-p", "p", "-L", "huber", "-O", "delta=" + "[" * 100_000,
          match=r"nested too deeply")
    fails(capsys, "eval", ok, "-l", "y", "-p", "p", "-L", "huber", "-O", "delta=" + "-" * 50_000 + "1",
          match=r"nested too deeply")
    fails(capsys, "eval", ok, "-l", "y", "-p", "p", "-L", "bce\nmse", match=r"unknown loss 'bce\\nmse'")


def test_error_wide_rows_and_fortran_members(capsys, tmp_path):
    np.savez_compressed(tmp_path / "w.npz", y=np.zeros((2, 5_000_000), bool), p=np.zeros((2, 5_000_000), bool))
    fails(capsys, "eval", "-l", f"{tmp_path / 'w.npz'}:y", "-p", f"{tmp_path / 'w.npz'}:p", "-L", "mse",
          match=r"one row holds 5,000,000 numbers, more than the 4,194,304")
    y = np.eye(3)[[0, 1, 2, 1, 0]]
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25]])
    np.savez(tmp_path / "f.npz", y=np.asfortranarray(y), p=np.asfortranarray(p))
    res = run_json(capsys, "eval", "-l", f"{tmp_path / 'f.npz'}:y", "-p", f"{tmp_path / 'f.npz'}:p", "-L", "cce",
                   "--chunk-rows", "2")
    assert value_of(res, "categorical_cross_entropy") == pytest.approx(float(np.mean(-np.log(p[y == 1]))), rel=1e-12)
    rng = np.random.default_rng(3)  # a column-major 3-d NPY is read a column's run of rows at a time
    a, b = rng.random((37, 4, 5)), rng.random((37, 4, 5))
    np.save(tmp_path / "fa.npy", np.asfortranarray(a))
    np.save(tmp_path / "fb.npy", np.asfortranarray(b))
    res = run_json(capsys, "eval", "-l", tmp_path / "fa.npy", "-p", tmp_path / "fb.npy", "-L", "mse", "--chunk-rows", "5")
    assert value_of(res, "mean_squared_error") == pytest.approx(float(np.mean((a - b) ** 2)), rel=1e-12)


def test_error_rows_are_counted_over_the_whole_file_and_shapes_are_per_row(capsys, tmp_path):
    n = 3000
    y = np.eye(3)[np.arange(n) % 3]
    p = np.full((n, 3), 1 / 3)
    bad = [100, 1500, 2500, 2999]
    p[bad] = 0.5
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    fails(capsys, "eval", "-l", tmp_path / "y.npy", "-p", tmp_path / "p.npy", "-L", "cce", "--chunk-rows", "1000",
          match=r"p\.npy data row 101: y_pred must sum to 1 along axis 1; 4 row\(s\) of the whole file do not")
    f = tmp_path / "order.csv"  # a value the loss refuses (row 2) before a NaN (row 4), in one chunk
    f.write_text("y,p\n1,0.5\n0,1.5\n1,0.5\n0,nan\n")
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", match=r"order\.csv data row 2 \(line 3\): y_pred must")
    f.write_text("y,p\n1,0.5\n0,nan\n1,0.5\n0,1.5\n")
    fails(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", match=r"order\.csv data row 2 \(line 3\), column 'p': NaN")
    np.save(tmp_path / "y1.npy", np.zeros(n))
    code, out, err = run(capsys, "eval", "-l", tmp_path / "y1.npy", "-p", tmp_path / "p.npy", "-L", "bce")
    assert code == 2 and "--labels gives one number per row, --pred 3 numbers" in err
    assert str(n) not in err and f"{n:,}" not in err  # no chunk shapes


def test_error_duplicate_parquet_columns_and_dataset_files(capsys, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([0.0, 1.0]), pa.array([0.5, 0.5]), pa.array([0.1, 0.2])], names=["y", "p", "p"])
    pq.write_table(table, tmp_path / "d.parquet")
    fails(capsys, "eval", tmp_path / "d.parquet", "-l", "y", "-p", "p", "-L", "bce",
          match=r"d\.parquet: column name 'p' appears more than once")
    pytest.importorskip("dask.dataframe")
    ds = tmp_path / "ds"
    ds.mkdir()
    pq.write_table(pa.table({"y": [0.0, 1.0], "p": [0.5, 0.25]}), ds / "a.parquet")
    pq.write_table(pa.table({"y": [0.0, 1.0], "p": ["0.5", "0.25"]}), ds / "b.parquet")
    fails(capsys, "eval", ds, "-l", "y", "-p", "p", "-L", "bce", match=r"column 'p' has type .*; expected numbers")
    cs = tmp_path / "cs"
    cs.mkdir()
    (cs / "a.csv").write_text("y,p\n0,0.5\n")
    (cs / "z.csv").symlink_to("/dev/zero")
    fails(capsys, "eval", cs, "-l", "y", "-p", "p", "-L", "bce", match=r"z\.csv: not a regular file")
