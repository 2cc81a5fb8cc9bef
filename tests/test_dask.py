"""Dask: lazy arrays through every loss, and data frames over many files on a real cluster.

- Every registered loss takes Dask arrays chunked along axis 0 and returns lazy Dask arrays
  for the value, ``.grad`` and ``.grad_hess``; building them computes nothing (checked with a
  scheduler that raises); computing them gives the NumPy result to 1e-12.
- Class axes and summed axes split over several chunks give the same numbers.
- ``losskit.distributed.accumulate`` over multi-file Parquet and CSV datasets equals the
  one-shot NumPy call on the concatenated data (read here with pandas) to 1e-12 relative, on
  threads and on a ``distributed.LocalCluster`` of two worker processes (loopback only), also
  when one worker process is killed in the middle of the computation.
- ``losskit eval`` on datasets: ``--local-cluster 2``, ``--scheduler ADDRESS`` and threads,
  and one-line errors with exit status 2.
"""

import glob
import logging
import math
import os
import signal
import time
import warnings

import numpy as np
import pytest
from refs import CASES
from refs.spec import rng_for

import losskit as lk
from losskit.cli import main
from losskit.io import DataError

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

TIMEOUT = 120  # seconds any one cluster computation may take before the test fails


# -- lazy arrays ---------------------------------------------------------------------------------
def _no_compute(*args, **kwargs):
    raise AssertionError("a Dask graph was computed while the loss was only being built")


def _lazy(a, *, every_axis=False):
    """``a`` as a Dask array: two chunks along axis 0 (or along every axis)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return da.from_array(a)
    half = tuple(max(1, math.ceil(s / 2)) for s in a.shape)
    return da.from_array(a, chunks=half if every_axis else half[:1] + a.shape[1:])


def _close(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale)


def _one_case_per_loss():
    seen, out = set(), []
    for c in CASES:
        if c.loss not in seen:
            seen.add(c.loss)
            out.append(c)
    return out


# Losses that sort each sample's errors need take_along_axis, which array-api-compat's Dask
# namespace lacks: they may refuse Dask arrays, but only with a LossInputError saying so, raised
# while the graph is built (before anything is computed).
SORTING = {"lovasz_hinge", "lovasz_softmax"}


def _build(case, build):
    """``build()`` under a scheduler that refuses to compute; None when a sorting loss refuses
    Dask arrays (with the message checked)."""
    try:
        with dask.config.set(scheduler=_no_compute):
            return build()
    except lk.LossInputError as e:
        if case.loss not in SORTING:
            raise
        assert "take_along_axis" in str(e) and "Dask" in str(e) and case.loss in str(e)
        return None


PER_LOSS = [pytest.param(c, id=c.id) for c in _one_case_per_loss()]


def test_the_raising_scheduler_does_raise():
    """The laziness checks below mean something: computing under this config fails."""
    with dask.config.set(scheduler=_no_compute), pytest.raises(AssertionError, match="computed"):
        da.ones(3, chunks=1).sum().compute()


@pytest.mark.parametrize("case", PER_LOSS)
def test_every_loss_is_lazy_on_dask_and_equals_numpy(case):
    y, p = case.make(rng_for(case))
    fn = lk.get(case.loss, **case.options)
    n = np.shape(p)[0]
    per_sample = fn(y, p, reduction="none")
    # per-row weights where samples are rows (not for one global score, e.g. Dice with axis=None)
    w = rng_for(case, 7).uniform(0.2, 2.0, size=n) if np.ndim(per_sample) and np.shape(per_sample)[0] == n else None
    kw_lazy = {} if w is None else {"sample_weight": _lazy(w)}
    kw = {} if w is None else {"sample_weight": w}

    def build():
        value = fn(_lazy(y), _lazy(p), **kw_lazy)
        grad = fn.grad(_lazy(y), _lazy(p), reduction="none")
        return (value, grad, *fn.grad_hess(_lazy(y), _lazy(p)))

    outs = _build(case, build)
    if outs is None:
        return
    for out in outs:
        assert isinstance(out, da.Array), type(out)
    got = dask.compute(*outs, scheduler="sync")
    want = (fn(y, p, **kw), fn.grad(y, p, reduction="none"), *fn.grad_hess(y, p))
    for a, b in zip(got, want):
        _close(a, b)


def _structural_cases():
    """Cases whose class or summed axes matter: every distribution/overlap loss with a
    non-default axis, and the global (axis=None) overlap cases."""
    out = []
    for c in CASES:
        rec = lk.get(c.loss).record
        if rec.structure == "elementwise":
            continue
        axis = c.options.get("axis", "default")
        if (isinstance(axis, int) and axis != -1) or "global" in c.name or c.name in ("course", "channels_last,softmax"):
            out.append(pytest.param(c, id=c.id))
    return out


@pytest.mark.parametrize("case", _structural_cases())
def test_class_and_summed_axes_may_span_several_chunks(case):
    """Two chunks along every axis: reductions over the class axis (log-sum-exp,
    sums) and over the summed axes of overlap losses run across chunks; same numbers."""
    y, p = case.make(rng_for(case))
    fn = lk.get(case.loss, **case.options)
    yl, pl = _lazy(y, every_axis=True), _lazy(p, every_axis=True)
    assert all(len(c) == min(2, s) for c, s in zip(pl.chunks, pl.shape))  # every axis split
    outs = _build(case, lambda: (fn(yl, pl, reduction="none"), *fn.grad_hess(yl, pl)))
    if outs is None:
        return
    got = dask.compute(*outs, scheduler="sync")
    want = (fn(y, p, reduction="none"), *fn.grad_hess(y, p))
    for a, b in zip(got, want):
        _close(a, b)


def test_unknown_chunk_sizes_raise_loss_input_error():
    """Arrays from a data frame without lengths have NaN shapes: refused, not a NaN mean."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = dd.from_pandas(pd.DataFrame({"y": [0.0, 1.0, 1.0], "p": [0.2, 0.7, 0.9]}), npartitions=2)
    with pytest.raises(lk.LossInputError):
        lk.bce(frame["y"].to_dask_array(), frame["p"].to_dask_array())
    y, p = frame["y"].to_dask_array(lengths=True), frame["p"].to_dask_array(lengths=True)
    _close(lk.bce(y, p).compute(scheduler="sync"), lk.bce(np.array([0.0, 1.0, 1.0]), np.array([0.2, 0.7, 0.9])))


# -- datasets ------------------------------------------------------------------------------------
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

SIZES = (37, 0, 52, 61, 29, 44)  # rows per file; one file holds only a header/schema


def _frame(rng, n):
    z = rng.normal(size=(n, 3)) * 2.0
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    return pd.DataFrame({
        "y": rng.integers(0, 2, n).astype(np.int64),
        "p": rng.uniform(0.02, 0.98, n),
        "logit": rng.normal(size=n) * 3.0,
        "w": rng.uniform(0.1, 3.0, n),
        "c": rng.integers(0, 3, n).astype(np.int64),
        "q0": q[:, 0], "q1": q[:, 1], "q2": q[:, 2],
        "r": rng.normal(size=n), "f": rng.normal(size=n),
    })


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same rows as six Parquet files and six CSV files (one file empty), plus the
    concatenated frame read back with pandas alone."""
    root = tmp_path_factory.mktemp("dask-data")
    rng = np.random.default_rng(20240611)
    pq_dir, csv_dir = root / "pq", root / "csv"
    pq_dir.mkdir()
    csv_dir.mkdir()
    for k, n in enumerate(SIZES):
        df = _frame(rng, n)
        df.to_parquet(pq_dir / f"part-{k}.parquet", index=False)
        df.to_csv(csv_dir / f"part-{k}.csv", index=False, float_format="%.17g")
    (pq_dir / "_SUCCESS").write_text("")  # skipped, as Spark's marker files are
    pq_files = sorted(glob.glob(str(pq_dir / "*.parquet")))
    csv_files = sorted(glob.glob(str(csv_dir / "*.csv")))
    whole = pd.concat([pd.read_parquet(f) for f in pq_files], ignore_index=True)
    whole_csv = pd.concat([pd.read_csv(f, dtype="float64") for f in csv_files], ignore_index=True)
    assert len(whole) == sum(SIZES) == len(whole_csv)
    return {"root": root, "pq": str(pq_dir), "csv": str(csv_dir), "whole": whole, "whole_csv": whole_csv}


def _col(df, names):
    return df[names].to_numpy()  # a vector for one name, (rows, k) for a list


# (loss options, labels, pred, weight): evaluated through accumulate and one-shot on NumPy
SPECS = [
    ({"loss": "bce"}, "y", "p", "w"),
    ({"loss": "bce", "from_logits": True, "label_smoothing": 0.1}, "y", "logit", None),
    ({"loss": "sparse_categorical_cross_entropy"}, "c", ["q0", "q1", "q2"], "w"),
    ({"loss": "huber", "delta": 0.5, "reduction": "sum"}, "r", "f", None),
    ({"loss": "dice"}, "y", "p", None),  # axis=None: one global score, merged through its statistics
]


def _accumulators():
    out = []
    for opts, *_ in SPECS:
        opts = dict(opts)
        out.append(lk.Accumulator(opts.pop("loss"), **opts))
    return out


def _expected(whole):
    out = []
    for opts, lab, pred, wcol in SPECS:
        opts = dict(opts)
        fn = lk.get(opts.pop("loss"))
        kw = {} if wcol is None else {"sample_weight": whole[wcol].to_numpy()}
        out.append(float(fn(_col(whole, lab), _col(whole, pred), **opts, **kw)))
    return out


def _check_all(accs, whole):
    want = _expected(whole)
    assert len(accs) == len(want)
    for acc, w in zip(accs, want):
        np.testing.assert_allclose(acc.result(), w, rtol=1e-12, atol=0)
        assert acc.rows == len(whole)


def _accumulate_specs(frame, compute=True, scheduler="sync"):
    from losskit.distributed import accumulate

    # one call per (labels, pred, weight) combination, as a caller with several column sets would
    groups = {}
    for k, (_opts, lab, pred, wcol) in enumerate(SPECS):
        groups.setdefault((str(lab), str(pred), str(wcol)), []).append(k)
    templates = _accumulators()
    results = [None] * len(SPECS)
    for idx in groups.values():
        _opts, lab, pred, wcol = SPECS[idx[0]]
        merged = accumulate(frame, [templates[i] for i in idx], labels=lab, pred=pred, weight=wcol,
                            split_every=2, compute=compute, scheduler=scheduler)
        if compute:
            for i, acc in zip(idx, merged):
                results[i] = acc
        else:
            for j, i in enumerate(idx):
                results[i] = (merged, j)
    return results


@pytest.mark.parametrize("kind", ["pq", "csv"])
def test_accumulate_over_files_on_threads_equals_numpy(datasets, kind):
    from losskit.distributed import read_dataset

    ds = read_dataset(datasets[kind])
    assert ds.npartitions >= len(SIZES) - 1
    accs = _accumulate_specs(ds, scheduler="threads")
    _check_all(accs, datasets["whole" if kind == "pq" else "whole_csv"])


def test_accumulate_leaves_templates_empty_and_rejects_bad_arguments(datasets):
    from losskit.distributed import accumulate, read_dataset

    ds = read_dataset(datasets["pq"] + "/*.parquet")
    template = lk.Accumulator("mse")
    (merged,) = accumulate(ds, [template], labels="r", pred="f", scheduler="sync")
    assert template.mode is None and template.rows == 0
    assert merged.rows == sum(SIZES)
    with pytest.raises(lk.LossInputError, match="no column 'nope'"):
        accumulate(ds, ["mse"], labels="nope", pred="f")
    with pytest.raises(lk.LossInputError, match="already holds data"):
        accumulate(ds, [merged], labels="r", pred="f")
    with pytest.raises(lk.LossInputError, match="split_every"):
        accumulate(ds, ["mse"], labels="r", pred="f", split_every=1)
    with pytest.raises(lk.LossInputError, match="cannot be evaluated in a stream"):
        accumulate(ds, ["lovasz_hinge"], labels="y", pred="logit")


def test_bad_values_name_the_file_row_and_column(tmp_path):
    from losskit.distributed import accumulate, read_dataset

    good = pd.DataFrame({"y": [0.0, 1.0, 1.0], "p": [0.2, 0.6, 0.9]})
    good.to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"y": [1.0, 0.0, 1.0], "p": [0.3, float("nan"), 0.5]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"b\.csv data row 2 \(line 3\), column 'p': empty cell \(missing value\)"):
        accumulate(read_dataset(str(tmp_path / "*.csv")), ["bce"], labels="y", pred="p", scheduler="sync")
    (tmp_path / "b.csv").unlink()
    pd.DataFrame({"y": [1.0, 0.0, 1.0], "p": [0.3, 1.5, 0.5]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(lk.LossInputError, match=r"binary_cross_entropy: .*c\.csv data row 2 \(line 3\): y_pred must hold"):
        accumulate(read_dataset(str(tmp_path)), ["bce"], labels="y", pred="p", scheduler="sync")


def test_only_the_columns_used_are_parsed_and_must_be_numbers(tmp_path):
    from losskit.distributed import accumulate, read_dataset

    for k in range(3):
        pd.DataFrame({"id": [f"r{k}a", f"r{k}b"], "y": [0.0, 1.0], "p": [0.25, 0.5 + 0.1 * k]}).to_csv(
            tmp_path / f"part{k}.csv", index=False)
    (acc,) = accumulate(read_dataset(str(tmp_path / "*.csv")), ["bce"], labels="y", pred="p", scheduler="sync")
    y, p = np.array([0.0, 1.0] * 3), np.array([0.25, 0.5, 0.25, 0.6, 0.25, 0.7])
    np.testing.assert_allclose(acc.result(), float(lk.bce(y, p)), rtol=1e-12)
    frame = dd.from_pandas(pd.DataFrame({"y": [0.0, 1.0], "p": ["a", "b"]}), npartitions=1)
    with pytest.raises(DataError, match="column 'p' has type"):
        accumulate(frame, ["bce"], labels="y", pred="p")


def test_dataset_files_and_their_errors(tmp_path):
    from losskit.io import dataset_files

    for k in (10, 2, 1):
        pd.DataFrame({"y": [1.0]}).to_csv(tmp_path / f"part{k}.csv", index=False)
    kind, files = dataset_files(str(tmp_path))
    assert kind == "csv" and [os.path.basename(f) for f in files] == ["part1.csv", "part2.csv", "part10.csv"]
    with pytest.raises(DataError, match="no files match"):
        dataset_files(str(tmp_path / "*.parquet"))
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(DataError, match="mixes file formats"):
        dataset_files(str(tmp_path))
    with pytest.raises(DataError, match="CSV or Parquet"):
        dataset_files(str(tmp_path / "*.npy"))
    pd.DataFrame({"z": [1.0]}).to_csv(tmp_path / "part3.csv", index=False)
    from losskit.distributed import read_dataset

    with pytest.raises(DataError, match="header differs"):
        read_dataset(str(tmp_path / "*.csv"))


# -- a real cluster --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():  # another cluster (an xdist neighbour) may hold 127.0.0.1:8787
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    c = distributed.Client(cluster, set_as_default=False)
    try:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c
    finally:
        c.close()
        cluster.close(timeout=30)


def _on_cluster(client, frame):
    """The SPECS accumulated with every task on the cluster's worker processes."""
    pending = _accumulate_specs(frame, compute=False)
    roots = {id(root): root for root, _ in pending}
    futures = {key: client.compute(root) for key, root in roots.items()}
    done = {key: fut.result(timeout=TIMEOUT) for key, fut in futures.items()}
    return [done[id(root)][j] for root, j in pending]


@pytest.mark.parametrize("kind", ["pq", "csv"])
def test_local_cluster_equals_numpy(client, datasets, kind):
    from losskit.distributed import read_dataset

    ds = read_dataset(datasets[kind])
    accs = _on_cluster(client, ds)
    _check_all(accs, datasets["whole" if kind == "pq" else "whole_csv"])
    workers = set(client.run(os.getpid).values())
    assert len(workers) == 2 and os.getpid() not in workers


def test_the_cluster_listens_on_loopback_only(client):
    psutil = pytest.importorskip("psutil")
    pids = set(client.run(os.getpid).values()) | {os.getpid()}  # workers; nannies and scheduler run here
    listening = []
    for pid in pids:
        proc = psutil.Process(pid)
        conns = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections(kind="inet")
        listening += [c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN]
    assert listening and all(ip in ("127.0.0.1", "::1") for ip in listening), listening


def test_cli_on_a_running_scheduler(client, datasets, capsys):
    code = main(["eval", datasets["pq"] + "/*.parquet", "-l", "c", "-p", "q0..q2", "-L", "scce", "-w", "w",
                 "--scheduler", client.scheduler.address, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    res = json.loads(out)
    whole = datasets["whole"]
    want = float(lk.scce(whole["c"].to_numpy(), whole[["q0", "q1", "q2"]].to_numpy(), sample_weight=whole["w"].to_numpy()))
    np.testing.assert_allclose(res["results"][0]["value"], want, rtol=1e-12)
    assert res["rows"] == sum(SIZES) and res["partitions"] >= len(SIZES) - 1


def test_a_worker_killed_mid_computation_does_not_change_the_result(client, datasets, tmp_path):
    """Each partition's task leaves a marker (named by its process id) and sleeps; the worker
    process running the first one is killed (SIGKILL) during that sleep. The scheduler reruns
    the lost work on the surviving worker and on the one the nanny restarts: the result is
    unchanged, and the markers show that a partition ran again."""
    from losskit.distributed import accumulate, read_dataset

    marks = str(tmp_path)

    def slow(df):
        import os as _os
        import time as _time
        import uuid as _uuid

        if len(df):
            open(_os.path.join(marks, f"{_os.getpid()}-{_uuid.uuid4().hex}.mark"), "w").close()
            _time.sleep(0.5)
        return df

    ds = read_dataset(datasets["pq"])
    frame = ds.frame.map_partitions(slow, meta=ds.frame._meta)
    root = accumulate(frame, ["bce", "mse"], labels="y", pred="p", weight="w", split_every=2, compute=False)
    ours = set(client.run(os.getpid).values())
    future = client.compute(root)

    deadline = time.monotonic() + TIMEOUT
    victim = None
    while victim is None and time.monotonic() < deadline:
        pids = [int(n.split("-", 1)[0]) for n in os.listdir(marks)]
        victim = next((pid for pid in pids if pid in ours), None)  # a worker of this cluster, inside a task
        time.sleep(0.02)
    assert victim is not None, "no partition task started"
    os.kill(victim, signal.SIGKILL)

    bce, mse = future.result(timeout=TIMEOUT)
    whole = datasets["whole"]
    y, p, w = whole["y"].to_numpy(), whole["p"].to_numpy(), whole["w"].to_numpy()
    np.testing.assert_allclose(bce.result(), float(lk.bce(y, p, sample_weight=w)), rtol=1e-12, atol=0)
    np.testing.assert_allclose(mse.result(), float(lk.mse(y, p, sample_weight=w)), rtol=1e-12, atol=0)
    assert bce.rows == mse.rows == len(whole)

    starts = [int(n.split("-", 1)[0]) for n in os.listdir(marks)]
    assert len(starts) > sum(1 for n in SIZES if n), "no partition was computed again after the kill"
    assert victim in starts and any(pid != victim for pid in starts)
    client.wait_for_workers(2, timeout=TIMEOUT)  # the nanny restarted the killed worker
    assert victim not in set(client.run(os.getpid).values())


# -- the command line --------------------------------------------------------------------------
def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_local_cluster_end_to_end(datasets, capsys):
    import json

    code, out, err = _run(capsys, "eval", datasets["pq"] + "/*.parquet", "-l", "y", "-p", "p", "-L", "bce,mse,huber",
                          "-w", "w", "--local-cluster", 2, "--format", "json")
    assert code == 0, err
    res = json.loads(out)
    whole = datasets["whole"]
    y, p, w = whole["y"].to_numpy(), whole["p"].to_numpy(), whole["w"].to_numpy()
    got = {r["loss"]: r["value"] for r in res["results"]}
    np.testing.assert_allclose(got["binary_cross_entropy"], float(lk.bce(y, p, sample_weight=w)), rtol=1e-12)
    np.testing.assert_allclose(got["mean_squared_error"], float(lk.mse(y, p, sample_weight=w)), rtol=1e-12)
    np.testing.assert_allclose(got["huber"], float(lk.huber(y, p, sample_weight=w)), rtol=1e-12)
    assert res["rows"] == sum(SIZES)
    assert err == ""
    assert "local cluster of 2" in res["scheduler"]


def test_cli_dataset_on_threads_csv_directory(datasets, capsys):
    code, out, err = _run(capsys, "eval", datasets["csv"], "-l", "r", "-p", "f", "-L", "huber", "-O", "delta=0.5",
                          "--reduction", "sum", "--format", "csv")
    assert code == 0, err
    whole = datasets["whole_csv"]
    value = float(out.splitlines()[1].split(",")[3])
    np.testing.assert_allclose(value, float(lk.huber(whole["r"].to_numpy(), whole["f"].to_numpy(), delta=0.5,
                                                     reduction="sum")), rtol=1e-12)


def _one_line_error(code, out, err):
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("losskit: error: "), err
    return lines[0]


def test_cli_unreachable_scheduler_fails_fast_in_one_line(datasets, capsys):
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    msg = _one_line_error(*_run(capsys, "eval", datasets["pq"], "-l", "y", "-p", "p", "-L", "bce",
                                "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "1"))
    assert time.monotonic() - t0 < 30
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 1 s" in msg
    msg = _one_line_error(*_run(capsys, "eval", datasets["pq"], "-l", "y", "-p", "p", "-L", "bce",
                                "--scheduler", "no-port-here", "--scheduler-timeout", "1"))
    assert "no-port-here" in msg


@pytest.mark.parametrize("argv, expect", [
    (["-l", "{pq}/part-0.parquet:y", "-p", "p"], "give COLUMNS of DATA"),
    (["-l", "y", "-p", "nope"], "column 'nope' not found"),
    (["-l", "y", "-p", "p", "-w", "q*"], "--weight must name one column"),
], ids=["file-source", "missing-column", "two-weight-columns"])
def test_cli_dataset_usage_errors(datasets, capsys, argv, expect):
    argv = [a.format(pq=datasets["pq"]) for a in argv]
    msg = _one_line_error(*_run(capsys, "eval", datasets["pq"] + "/*.parquet", *argv, "-L", "bce"))
    assert expect in msg


def test_cli_cluster_flags_need_a_dataset(tmp_path, capsys):
    f = tmp_path / "a.csv"
    pd.DataFrame({"y": [0.0, 1.0], "p": [0.5, 0.25]}).to_csv(f, index=False)
    msg = _one_line_error(*_run(capsys, "eval", "-l", f"{f}:y", "-p", f"{f}:p", "-L", "bce", "--local-cluster", 1))
    assert "give DATA" in msg
    msg = _one_line_error(*_run(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", "--local-cluster", 1,
                                "--chunk-rows", 10))
    assert "--chunk-rows does not apply" in msg
    code, out, err = _run(capsys, "eval", f, "-l", "y", "-p", "p", "-L", "bce", "--scheduler", "tcp://127.0.0.1:1",
                          "--local-cluster", 1)
    assert code == 2 and "not allowed with argument" in err


def test_cli_dataset_data_errors(tmp_path, capsys):
    msg = _one_line_error(*_run(capsys, "eval", str(tmp_path / "*.parquet"), "-l", "y", "-p", "p", "-L", "bce"))
    assert "no files match" in msg
    pd.DataFrame({"y": [0.0, 1.0], "p": [0.5, "oops"]}).to_csv(tmp_path / "a.csv", index=False)
    msg = _one_line_error(*_run(capsys, "eval", str(tmp_path / "*.csv"), "-l", "y", "-p", "p", "-L", "bce"))
    assert "a.csv" in msg or "*.csv" in msg
    (tmp_path / "a.csv").unlink()
    pd.DataFrame({"y": [0.0, 2.0], "p": [0.5, 0.25]}).to_csv(tmp_path / "b.csv", index=False)
    msg = _one_line_error(*_run(capsys, "eval", str(tmp_path), "-l", "y", "-p", "p", "-L", "bce"))
    assert "b.csv data row 2 (line 3)" in msg and "y_true" in msg


# -- hostile datasets: rows of the file, the first bad row, ragged rows (issue 16) ----------------
def _write_csv(path, header, rows):
    """A CSV file written line by line (no pandas), so the test knows every line's number."""
    with open(path, "w") as f:
        if header is not None:
            f.write(header + "\n")
        f.writelines(r + "\n" for r in rows)


def _good_rows(n):
    return [f"{i % 2},{0.25 + 0.5 * (i % 3 == 0)}" for i in range(n)]


def _accumulate_error(path, loss="bce", scheduler="threads", blocksize=4000):
    from losskit.distributed import accumulate, read_dataset

    ds = read_dataset(str(path), blocksize=blocksize)
    with pytest.raises((DataError, lk.LossInputError)) as info:
        accumulate(ds, [loss], labels="y", pred="p", scheduler=scheduler)
    return ds, str(info.value)


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_bad_row_in_a_later_partition_is_counted_from_the_start_of_its_file(tmp_path, scheduler):
    rows = _good_rows(3000)
    rows[2345] = "1,1.5"  # data row 2346, line 2347 (after the header)
    rows[2900] = "0,-2"
    _write_csv(tmp_path / "a.csv", "y,p", _good_rows(10))
    _write_csv(tmp_path / "b.csv", "y,p", rows)
    ds, msg = _accumulate_error(tmp_path, scheduler=scheduler)
    assert ds.project(["y", "p"]).npartitions >= 3  # b.csv spans several partitions
    assert "b.csv data row 2346 (line 2347): y_pred must hold probabilities" in msg
    assert "got 2 outside in the whole file" in msg  # both bad rows, in different partitions


def test_the_first_bad_file_in_order_is_reported_whichever_task_fails_first(tmp_path):
    for k in range(1, 6):
        rows = _good_rows(500)
        if k >= 3:
            rows[10 * k] = f"0,{k}"  # files 3, 4 and 5 are bad; file 3 comes first
        _write_csv(tmp_path / f"part{k}.csv", "y,p", rows)
    for scheduler in ("sync", "threads"):
        _, msg = _accumulate_error(tmp_path, scheduler=scheduler, blocksize=1500)
        assert "part3.csv data row 31 (line 32)" in msg, msg


@pytest.mark.parametrize("bad, expect", [
    ("1,0.5,7", "data row 41 (line 42): the line has 3 fields, more than the 2 column(s) of the header"),
    ("1", "data row 41 (line 42)"),
    ('1,"0.5', "data row 41 (line 42)"),
    ("1,abc", "data row 41 (line 42), column 'p': 'abc' is not a number"),
])
def test_ragged_and_malformed_rows_in_a_dataset_are_refused_with_the_file_row(tmp_path, capsys, bad, expect):
    rows = _good_rows(60)
    rows[40] = bad
    _write_csv(tmp_path / "a.csv", "y,p", _good_rows(5))
    _write_csv(tmp_path / "b.csv", "y,p", rows)
    _, msg = _accumulate_error(tmp_path, blocksize=300)
    assert "b.csv " + expect in msg, msg
    line = _one_line_error(*_run(capsys, "eval", str(tmp_path), "-l", "y", "-p", "p", "-L", "bce"))
    assert "b.csv " + expect in line, line


def test_a_dataset_without_header_and_one_with_spaced_names(tmp_path):
    from losskit.distributed import accumulate, read_dataset

    rows = _good_rows(50)
    _write_csv(tmp_path / "a.csv", None, rows)
    ys = np.array([float(r.split(",")[0]) for r in rows])
    ps = np.array([float(r.split(",")[1]) for r in rows])
    acc, = accumulate(read_dataset(str(tmp_path / "*.csv"), header=False), ["bce"], labels="0", pred="1",
                      scheduler="sync")
    assert acc.result() == pytest.approx(float(lk.bce(ys, ps)), rel=1e-14)
    rows[7] = "1,0.5,3"
    _write_csv(tmp_path / "a.csv", None, rows)
    with pytest.raises(DataError, match=r"a\.csv data row 8 \(line 8\)"):
        accumulate(read_dataset(str(tmp_path / "*.csv"), header=False), ["bce"], labels="0", pred="1",
                   scheduler="sync")
    (tmp_path / "a.csv").unlink()
    _write_csv(tmp_path / "b.csv", " y , p", _good_rows(50))
    acc, = accumulate(read_dataset(str(tmp_path / "*.csv")), ["bce"], labels="y", pred="p", scheduler="sync")
    assert acc.result() == pytest.approx(float(lk.bce(ys, ps)), rel=1e-14)


def test_a_plain_frame_names_its_partition_and_row_from_1():
    import dask.dataframe as dd
    import pandas as pd

    from losskit.distributed import accumulate

    p = np.full(9, 0.5)
    p[7] = 3.0  # partition 3 of 3 holds rows 6-8; row 7 is its 2nd
    frame = dd.from_pandas(pd.DataFrame({"y": np.ones(9), "p": p}), npartitions=3)
    with pytest.raises(lk.LossInputError, match=r"partition 3 of 3, data row 2: y_pred must hold"):
        accumulate(frame, ["bce"], labels="y", pred="p", scheduler="sync")
