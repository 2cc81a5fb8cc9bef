"""Dask: losses over data that does not fit one machine.

Two ways in, both exact:

**Lazy arrays.** Every loss accepts Dask arrays (through ``array-api-compat``) and returns a
lazy Dask array: building the value, ``.grad`` or ``.grad_hess`` computes nothing; the
numbers appear at ``.compute()``. Chunks may split any axis, the class axis and the summed
axes of overlap losses included: their sums, maxima and log-sum-exps are Dask tree
reductions, so the result equals the NumPy one (to rounding) however the array is chunked;
keeping the class axis in one chunk is only faster (fewer tasks). Shapes, dtypes and
options are checked when the graph is built; value checks (ranges, label sets, finiteness)
need the values and are skipped on lazy arrays, as under ``jax.jit`` (README, "Dask").

**Data frames.** :func:`accumulate` evaluates losses over a ``dask.dataframe`` (e.g. many
Parquet or CSV files read by :func:`read_dataset`) with the streaming accumulators as the
reduction: each partition becomes a :class:`losskit.Accumulator` (float64 compensated sums
of ``w * l`` and ``w``, or the global statistics of an overlap loss), the partitions'
accumulators are merged pairwise up a tree, and ``result()`` of the root equals the
one-shot ``loss(y_true, y_pred, sample_weight=w)`` on the concatenated data to about 1e-15
relative. Partitions are checked like the command line's chunks (finite numbers, the
losses' full value checks), and a failure names the partition, row and column.

>>> import numpy as np, pandas as pd, dask.dataframe as dd, losskit as lk
>>> from losskit.distributed import accumulate
>>> df = pd.DataFrame({"y": [0.0, 1.0, 1.0, 0.0, 1.0], "p": [0.1, 0.8, 0.6, 0.3, 0.9]})
>>> frame = dd.from_pandas(df, npartitions=3)
>>> acc, = accumulate(frame, ["bce"], labels="y", pred="p", scheduler="sync")
>>> bool(np.isclose(acc.result(), float(lk.bce(df["y"].to_numpy(), df["p"].to_numpy())), rtol=1e-14))
True

Clusters: :func:`local_cluster` starts a loopback-only ``distributed.LocalCluster`` and
:func:`connect` joins a running scheduler with a bounded timeout; both return a
``distributed.Client`` and are context managers.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import os

import numpy as np

from ._array.validate import LossInputError
from .io import DataError, dataset_files, select_columns
from .streaming import Accumulator, first_bad_row

__all__ = ["accumulate", "read_dataset", "local_cluster", "connect", "Dataset", "DataError", "DaskUnavailable"]

PATH_COLUMN = "__losskit_path__"


class DaskUnavailable(ImportError):
    """dask (or dask.distributed) is not installed."""


def _require(what="dask.dataframe"):
    try:
        if what == "distributed":
            import distributed  # noqa: F401
        else:
            import dask.dataframe  # noqa: F401
    except ImportError:
        extra = "dask[distributed]" if what == "distributed" else "dask[dataframe]"
        raise DaskUnavailable(f"this needs {extra}; install it with pip install 'losskit[dask]'") from None


# -- reading ------------------------------------------------------------------------------------
class Dataset:
    """CSV or Parquet files read as one Dask data frame, with what error messages need.

    ``columns`` (the data column names, as strings), ``display`` (the pattern or path as
    given), ``kind`` (``"csv"`` or ``"parquet"``), ``files`` (the local files matched; empty for
    a URL), ``frame`` (a ``dask.dataframe.DataFrame`` of every column) and ``project(names)``
    (one of only those columns: CSV files then parse only them, Parquet reads only them)."""

    def __init__(self, display, kind, files, columns, reader):
        self.display, self.kind, self.files, self.columns = display, kind, list(files), list(columns)
        self.path = display
        self._reader = reader
        self._frame = None

    @property
    def frame(self):
        if self._frame is None:
            self._frame = self._reader(None)
        return self._frame

    def project(self, names):
        """A data frame of the columns ``names`` (plus, for local CSV files, the source path of each row)."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise DataError(f"{self.display}: no column {missing[0]!r}; columns are: {', '.join(self.columns[:12])}")
        return self._reader(list(dict.fromkeys(names)))

    @property
    def npartitions(self) -> int:
        """Partitions of the data frame (the same for any choice of columns)."""
        return int(self._reader(self.columns[:1]).npartitions)

    def select(self, spec, flag):
        """Column indices and names for a selector (names, ``p*`` globs, ``a..b`` ranges)."""
        return select_columns(self, spec, flag)

    def __repr__(self):
        return f"<losskit Dataset {self.display!r} ({self.kind}, {len(self.files) or '?'} file(s))>"


def read_dataset(path, *, delimiter=None, header=None, blocksize="64MiB") -> Dataset:
    """Open CSV or Parquet files as one table (a :class:`Dataset` over ``dask.dataframe``).

    ``path`` is a file, a glob (``"preds/*.parquet"``), a directory (every CSV or every Parquet
    file under it; names starting with ``.`` or ``_`` are skipped; Parquet directories keep
    hive partition columns) or a URL that fsspec reads (``s3://bucket/preds/*.parquet``). CSV
    files are split into blocks of ``blocksize`` bytes (gzip files are read whole); the header
    row is detected from the first file as the command line does (``header=True/False`` forces
    it) and every local file must start with the same header. The CSV columns used are parsed as
    float64 (as the streaming reader does); Parquet columns keep their types.
    """
    kind, files = dataset_files(path)  # file problems first: they need no Dask
    _require()
    import dask.dataframe as dd

    target = files if files else path
    if kind == "parquet":
        if os.path.isdir(path):  # pyarrow's discovery keeps hive partition columns (year=2024/...)
            target = path

        def read_parquet(names):
            try:
                return dd.read_parquet(target, columns=names)
            except Exception as e:  # noqa: BLE001 - pyarrow/fsspec raise many types; one line for the user
                raise DataError(f"{path}: not a readable Parquet dataset ({_short(e)})") from None

        columns = [str(c) for c in read_parquet(None).columns]
        return Dataset(path, kind, files, columns, read_parquet)

    columns, delim, has_header = _csv_layout(path, files, delimiter, header)
    gz = any(str(f).lower().endswith(".gz") for f in (files or [path]))

    def read_csv(names):
        used = columns if names is None else names
        kwargs = {
            "sep": delim,
            "header": 0 if has_header else None,
            "names": columns,
            "usecols": used,
            "dtype": dict.fromkeys(used, "float64"),
            "blocksize": None if gz else blocksize,
            "skip_blank_lines": True,
            "quotechar": '"',
        }
        if files:
            kwargs["include_path_column"] = PATH_COLUMN
        try:
            return dd.read_csv(target, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise DataError(f"{path}: not readable as CSV ({_short(e)})") from None

    return Dataset(path, kind, files, columns, read_csv)


def _csv_layout(path, files, delimiter, header):
    """``(columns, delimiter, has_header)`` from the first file (the command line's detection);
    local files must share the first one's header line."""
    from .io import CsvTable

    if not files:  # a URL: names from Dask's sample of the first file; a header row is required
        delim = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter) or ("\t" if path.lower().endswith((".tsv", ".tab")) else ",")
        if header is False:
            raise DataError(f"{path}: --no-header needs local files (the columns are counted in the first file)")
        import dask.dataframe as dd

        try:
            names = [str(c) for c in dd.read_csv(path, sep=delim, blocksize=None).columns]
        except Exception as e:  # noqa: BLE001
            raise DataError(f"{path}: not readable as CSV ({_short(e)})") from None
        return names, delim, True
    table = CsvTable(files[0], delimiter=delimiter, header=header)
    try:
        columns, delim = list(table.columns), table.delimiter
        has_header = table.has_header
        dups = sorted({c for c in columns if columns.count(c) > 1})
        if dups:
            raise DataError(f"{files[0]}: column name(s) {', '.join(map(repr, dups))} appear more than once in the header")
    finally:
        table.close()
    if has_header and len(files) > 1:
        first = _first_line(files[0])
        for f in files[1:]:
            line = _first_line(f)
            if line != first:
                raise DataError(f"{f}: its header differs from the one of {files[0]} "
                                f"({line[:60]!r} vs {first[:60]!r}); every file of a dataset must have the same columns")
    return columns, delim, has_header


def _first_line(path):
    import gzip

    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            for line in f:
                if line.strip():
                    return line.strip()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({_short(e)})") from None
    return ""


# -- per-partition evaluation ------------------------------------------------------------------------
def _as_templates(losses):
    """A list of empty Accumulators from names, LossFunctions or Accumulators."""
    if isinstance(losses, (str, Accumulator)) or not isinstance(losses, (list, tuple)):
        losses = [losses]
    out = []
    for item in losses:
        if isinstance(item, Accumulator):
            if item.mode is not None:
                raise LossInputError(f"accumulate() takes empty accumulators as templates; {item!r} already holds data")
            out.append(copy.deepcopy(item))
        else:
            out.append(Accumulator(item))
    if not out:
        raise LossInputError("accumulate() needs at least one loss")
    return out


def _names(spec, role):
    if spec is None:
        return None
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, numbers.Integral):
        return [spec]
    names = list(spec)
    if not names:
        raise LossInputError(f"{role}: no columns given")
    return names


def _column_block(df, names, where):
    """The selected columns of a pandas partition as one NumPy array: a vector for one column,
    ``(rows, k)`` for several; booleans as 0/1, integers kept, NaN/inf rejected."""
    cols = []
    for nm in names:
        s = df[nm]
        dt = s.dtype
        if getattr(dt, "kind", None) == "b" or str(dt) in ("boolean", "bool[pyarrow]"):
            if s.hasnans:
                r = int(np.flatnonzero(s.isna().to_numpy())[0])
                raise DataError(f"{where(r)}, column {nm!r}: missing value (null)")
            a = s.to_numpy(dtype=np.int64)
        elif getattr(dt, "kind", None) in "iu" and not s.hasnans:
            a = s.to_numpy(dtype=np.int64)
        else:
            try:
                a = s.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                raise DataError(f"{where(0)}, column {nm!r} has type {dt}; expected numbers") from None
        bad = ~np.isfinite(a) if a.dtype.kind == "f" else None
        if bad is not None and bad.any():
            r = int(np.flatnonzero(bad)[0])
            v = a[r]
            what = "missing value (NaN or empty cell)" if np.isnan(v) else f"{v} (not a finite number)"
            raise DataError(f"{where(r)}, column {nm!r}: {what}")
        cols.append(a)
    if len(cols) == 1:
        return cols[0]
    common = np.result_type(*[c.dtype for c in cols])
    return np.stack([c.astype(common, copy=False) for c in cols], axis=1)


def _numeric_dtype(dt):
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))


def _partition_states(df, templates, roles, index, npartitions, display):
    """One partition -> a list of Accumulators (one per loss), never mutating the templates."""
    accs = [copy.deepcopy(t) for t in templates]
    if len(df) == 0:
        return accs
    paths = df[PATH_COLUMN] if PATH_COLUMN in df.columns else None

    def where(r):
        if paths is not None:
            return f"{paths.iloc[r]} (partition {index} of {npartitions}) row {r}"
        return f"{display} partition {index} of {npartitions}, row {r}"

    y = _column_block(df, roles["labels"], where)
    p = _column_block(df, roles["pred"], where)
    w = None if roles.get("weight") is None else _column_block(df, roles["weight"], where)
    for acc in accs:
        try:
            acc.update(y, p, sample_weight=w)
        except LossInputError as e:
            r = None if acc.mode == "stats" or "shape" in str(e) else first_bad_row(acc.loss, y, p, w)
            place = where(r) if r is not None else (
                f"{paths.iloc[0]} (partition {index} of {npartitions})" if paths is not None
                else f"{display} partition {index} of {npartitions}")
            raise LossInputError(f"{acc.name}: {place}: {e}") from None
    return accs


def _merge_states(*groups):
    """Merge lists of Accumulators elementwise into new ones (inputs are left untouched: a
    retried task may see them again)."""
    out = [copy.deepcopy(a) for a in groups[0]]
    for g in groups[1:]:
        for mine, theirs in zip(out, g):
            mine.merge(theirs)
    return out


def accumulate(frame, losses, *, labels, pred, weight=None, split_every=8, compute=True, scheduler=None,
               display=None):
    """Evaluate losses over every row of a Dask data frame, partition by partition.

    - ``frame``: a ``dask.dataframe.DataFrame`` or a :class:`Dataset` (from :func:`read_dataset`;
      only the columns used are then read).
    - ``losses``: a loss name, a :class:`losskit.LossFunction` or an empty
      :class:`losskit.Accumulator` (carrying options and reduction: ``Accumulator("huber",
      delta=2.0)``), or a list of them.
    - ``labels``, ``pred``, ``weight``: a column name or a list of names; one column gives a
      vector per partition, several a ``(rows, k)`` block (class probabilities, one-hot targets).
      ``weight`` is one column of per-row sample weights.
    - ``split_every``: how many accumulators one merge task combines (the fan-in of the tree).
    - ``scheduler``: passed to ``dask.compute`` (None: the active client or Dask's default).

    Returns a list of merged Accumulators in the order of ``losses`` (``acc.result()`` is the
    reduced value, ``acc.rows`` the row count), or with ``compute=False`` a ``dask.delayed``
    object that computes to that list. Bad data (a missing or non-numeric value) raises
    :class:`DataError` and values a loss refuses raise :class:`losskit.LossInputError` (both
    ``ValueError``), naming the file or partition, the row and the column.
    """
    _require()
    import dask

    dataset = frame if isinstance(frame, Dataset) else None
    if dataset is not None:
        display = display or dataset.display
        frame = None
    display = display or "data frame"
    if dataset is None and (not hasattr(frame, "to_delayed") or not hasattr(frame, "npartitions")):
        raise LossInputError(f"accumulate() takes a dask.dataframe.DataFrame or a losskit Dataset; got {type(frame).__name__}")
    if not isinstance(split_every, numbers.Integral) or split_every < 2:
        raise LossInputError(f"split_every must be an integer >= 2; got {split_every!r}")
    templates = _as_templates(losses)
    roles = {"labels": _names(labels, "labels"), "pred": _names(pred, "pred"), "weight": _names(weight, "weight")}
    if roles["labels"] is None or roles["pred"] is None:
        raise LossInputError("accumulate() needs labels= and pred= columns")
    if roles["weight"] is not None and len(roles["weight"]) != 1:
        raise LossInputError(f"weight must be one column; got {len(roles['weight'])} ({', '.join(map(str, roles['weight']))})")
    present = dataset.columns if dataset is not None else [c for c in frame.columns if c != PATH_COLUMN]
    for role, names in roles.items():
        for nm in names or ():
            if nm not in present:
                raise LossInputError(f"{role}: no column {nm!r} in {display}; columns are: "
                                     f"{', '.join(str(c) for c in present)}")
    used = list(dict.fromkeys(n for names in roles.values() if names for n in names))
    if dataset is not None:
        frame = dataset.project(used)
    dtypes = frame.dtypes
    for nm in used:
        if not _numeric_dtype(dtypes[nm]):
            raise DataError(f"{display}: column {nm!r} has type {dtypes[nm]}; expected numbers (int, float or bool)")
    if PATH_COLUMN in frame.columns:
        used.append(PATH_COLUMN)
    frame = frame[used]
    parts = frame.to_delayed()
    n = len(parts)
    tasks = [
        dask.delayed(_partition_states, pure=True)(part, templates, roles, k, n, display)
        for k, part in enumerate(parts)
    ]
    if not tasks:
        tasks = [dask.delayed(_merge_states, pure=True)(templates)]
    while len(tasks) > 1:
        tasks = [dask.delayed(_merge_states, pure=True)(*tasks[i:i + split_every])
                 for i in range(0, len(tasks), split_every)]
    root = tasks[0]
    if not compute:
        return root
    kwargs = {} if scheduler is None else {"scheduler": scheduler}
    (result,) = dask.compute(root, **kwargs)
    return result


# -- clusters --------------------------------------------------------------------------------------
@contextlib.contextmanager
def local_cluster(n_workers=2, *, threads_per_worker=1, processes=True, memory_limit="auto", quiet=False):
    """A ``distributed.LocalCluster`` bound to the loopback interface (127.0.0.1) with no
    dashboard, and a client for it (set as the default for ``dask.compute`` inside the block);
    both are closed on exit. ``quiet=True`` silences distributed's log messages (worker errors
    are still raised to the caller).

    >>> from losskit.distributed import local_cluster
    >>> with local_cluster(1, processes=False) as client:  # doctest: +SKIP
    ...     accumulate(frame, ["bce"], labels="y", pred="p")
    """
    _require("distributed")
    import logging
    import warnings

    from distributed import Client, LocalCluster

    if not isinstance(n_workers, numbers.Integral) or isinstance(n_workers, bool) or n_workers < 1:
        raise LossInputError(f"n_workers must be a positive integer; got {n_workers!r}")
    logger = logging.getLogger("distributed")
    level = logger.level
    try:
        with warnings.catch_warnings():
            # with dashboard_address=None the scheduler still serves /health on 127.0.0.1:8787,
            # or on a free loopback port when another cluster holds 8787: not worth a warning
            warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
            cluster = LocalCluster(
                n_workers=int(n_workers), threads_per_worker=threads_per_worker, processes=processes,
                host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit,
                silence_logs=logging.CRITICAL if quiet else logging.ERROR,
            )
        try:
            client = Client(cluster, set_as_default=True)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def connect(address, *, timeout=10.0):
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``), set as the default
    for ``dask.compute`` inside the block. Raises :class:`ConnectionError` with one line naming
    the address when it cannot be reached within ``timeout`` seconds."""
    _require("distributed")
    from distributed import Client

    if not isinstance(address, str) or not address.strip():
        raise LossInputError(f"scheduler address must be a non-empty string like tcp://host:8786; got {address!r}")
    try:
        client = Client(address.strip(), timeout=f"{float(timeout)}s", set_as_default=True)
    except (OSError, TimeoutError) as e:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address} within {float(timeout):g} s ({_short(e)})") from None
    except (ValueError, TypeError) as e:
        raise ConnectionError(f"cannot use {address!r} as a Dask scheduler address ({_short(e)})") from None
    try:
        yield client
    finally:
        client.close()


def _short(e):
    text = " ".join(str(e).split())
    return (text[:200] if text else type(e).__name__)
