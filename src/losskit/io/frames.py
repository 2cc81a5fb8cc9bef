"""Datasets as Dask data frames: :func:`read_dataset` opens many CSV or Parquet files as one
:class:`Dataset` through ``dask.dataframe`` (imported only then), and :func:`partition_arrays`
turns a pandas partition's columns into checked NumPy arrays."""

from __future__ import annotations

import collections
import os
import zlib

import numpy as np

from .csv import MAX_LINE_CHARS, CsvTable
from .datasets import dataset_files
from .errors import DataError, one_line
from .table import select_columns

__all__ = ["DaskUnavailable", "require_dask", "Dataset", "read_dataset", "PATH_COLUMN", "partition_arrays",
           "check_numeric_columns", "numeric_dtype"]

PATH_COLUMN = "__losskit_path__"


class DaskUnavailable(ImportError):
    """dask (or dask.distributed) is not installed."""


def require_dask(what: str = "dask.dataframe") -> None:
    """Raise :class:`DaskUnavailable` (naming the extra to install) unless ``what`` imports:
    ``"dask.dataframe"`` or ``"distributed"``."""
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
    a URL), ``frame`` (a ``dask.dataframe.DataFrame`` of every column), ``project(names)``
    (one of only those columns: CSV files then parse only them, Parquet reads only them) and
    ``read_options`` (the CSV ``delimiter`` and ``header`` that read one file alone the same way)."""

    def __init__(self, display, kind, files, columns, reader, read_options=None):
        self.display, self.kind, self.files, self.columns = display, kind, list(files), list(columns)
        self.read_options = dict(read_options or {})
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
        have = set(self.columns)
        missing = [n for n in names if n not in have]
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
    require_dask()
    import dask.dataframe as dd

    target = files if files else path
    if kind == "parquet":
        if os.path.isdir(path):  # pyarrow's discovery keeps hive partition columns (year=2024/...)
            target = path

        def read_parquet(names):
            try:
                return dd.read_parquet(target, columns=names)
            except Exception as e:  # noqa: BLE001 - pyarrow/fsspec raise many types; one line for the user
                raise DataError(f"{path}: not a readable Parquet dataset ({one_line(e, 200)})") from None

        columns = [str(c) for c in read_parquet(None).columns]
        return Dataset(path, kind, files, columns, read_parquet)

    columns, delim, has_header = _csv_layout(path, files, delimiter, header)
    gz = any(str(f).lower().endswith(".gz") for f in (files or [path]))

    raw = _raw_names(files, columns, delim) if has_header else None

    def read_csv(names):
        # pyarrow's parser refuses a row with more or fewer fields than the header (pandas' C
        # parser, given usecols, drops or pads them silently) and parses only the columns used.
        used = columns if names is None else names
        kwargs = {"sep": delim, "engine": "pyarrow", "quotechar": '"', "blocksize": None if gz else blocksize}
        if raw is None:  # no header row: every column named, the ones used picked after parsing
            kwargs.update(header=None, names=columns, dtype=dict.fromkeys(used, "float64"))
        else:  # the header row's own names (spaces kept), renamed to the stripped ones
            kwargs.update(header=0, usecols=[raw[c] for c in used], dtype={raw[c]: "float64" for c in used})
        if files:
            kwargs["include_path_column"] = PATH_COLUMN
        try:
            frame = dd.read_csv(target, **kwargs)
        except Exception as e:  # noqa: BLE001 - Dask parses a sample of the first file here
            found = _csv_problem(files[0], used, delim, has_header) if files else None
            raise (found or DataError(f"{path}: not readable as CSV ({one_line(e, 200)})")) from None
        if raw is not None:
            frame = frame.rename(columns={raw[c]: c for c in used if raw[c] != c})
        return frame if raw is not None or names is None else frame[[*used, *([PATH_COLUMN] if files else [])]]

    return Dataset(path, kind, files, columns, read_csv, {"delimiter": delim, "header": has_header})


def _csv_layout(path, files, delimiter, header):
    """``(columns, delimiter, has_header)`` from the first file (the command line's detection);
    local files must share the first one's header line."""
    if not files:  # a URL: names from Dask's sample of the first file; a header row is required
        delim = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter) or ("\t" if path.lower().endswith((".tsv", ".tab")) else ",")
        if header is False:
            raise DataError(f"{path}: --no-header needs local files (the columns are counted in the first file)")
        import dask.dataframe as dd

        try:
            names = [str(c) for c in dd.read_csv(path, sep=delim, blocksize=None).columns]
        except Exception as e:  # noqa: BLE001
            raise DataError(f"{path}: not readable as CSV ({one_line(e, 200)})") from None
        return names, delim, True
    table = CsvTable(files[0], delimiter=delimiter, header=header)
    try:
        columns, delim = list(table.columns), table.delimiter
        has_header = table.has_header
        dups = sorted(c for c, k in collections.Counter(columns).items() if k > 1)
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


def _csv_problem(path, names, delimiter, header):
    """The CSV reader's own error for the first bad row of ``path`` in the columns ``names``
    (1-based data row and line of the file), or None when it reads them all."""
    table = CsvTable(path, delimiter=delimiter, header=header)
    try:
        columns = list(table.columns)
        for _ in table.reader([[columns.index(n) for n in names]], 1 << 16):
            pass
    except DataError as e:
        return e
    except ValueError:  # a column the file lacks: the caller's message stands
        return None
    finally:
        table.close()
    return None


def _raw_names(files, columns, delimiter):
    """Each column's name as the header row spells it (surrounding spaces kept), by stripped name."""
    import csv

    line = _first_line(files[0], strip=False) if files else ""
    fields = next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])
    if len(fields) != len(columns):
        return {c: c for c in columns}
    return dict(zip(columns, fields))


def _first_line(path, strip=True):
    import gzip

    opener = gzip.open if path.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            for line in iter(lambda: f.readline(MAX_LINE_CHARS + 1), ""):  # bounded, whatever the file holds
                if len(line) > MAX_LINE_CHARS:
                    raise DataError(f"{path}: its first line is longer than {MAX_LINE_CHARS:,} characters")
                if line.strip():
                    return line.strip() if strip else line.rstrip("\r\n")
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({one_line(e, 200)})") from None
    return ""


# -- partitions ----------------------------------------------------------------------------------
def partition_arrays(df, names, where):
    """The selected columns of a pandas partition as one NumPy array: a vector for one column,
    ``(rows, k)`` for several; booleans as 0/1, integers kept, NaN/inf rejected."""
    cols = []
    for nm in names:
        s = df[nm]
        dt = s.dtype
        if not numeric_dtype(dt):  # one file of a dataset may hold text where the first held numbers
            raise DataError(f"{where(0)}, column {nm!r} has type {dt}; expected numbers (int, float or bool)")
        if getattr(dt, "kind", None) == "b" or str(dt) in ("boolean", "bool[pyarrow]"):
            if s.hasnans:
                r = int(np.flatnonzero(s.isna().to_numpy())[0])
                raise DataError(f"{where(r)}, column {nm!r}: missing value (null)")
            a = s.to_numpy(dtype=np.int64)
        elif getattr(dt, "kind", None) in "iu" and not s.hasnans:  # type: ignore[operator]
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


def numeric_dtype(dt) -> bool:
    """True for the pandas dtypes a loss can take (numbers and booleans)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))


def check_numeric_columns(frame, names, display):
    """Raise :class:`DataError` for a column of ``frame`` (a Dask data frame) among ``names``
    that does not hold numbers (int, float or bool)."""
    dtypes = frame.dtypes
    for nm in names:
        if not numeric_dtype(dtypes[nm]):
            raise DataError(f"{display}: column {nm!r} has type {dtypes[nm]}; expected numbers (int, float or bool)")
