"""Chunked readers for the command line: CSV/TSV, NPY, NPZ and Parquet.

Every reader yields rows in chunks of a fixed size, so memory stays constant however long
the file is: CSV is read a block of lines at a time and parsed by NumPy, NPY is
memory-mapped (``allow_pickle=False``) and consumed pages are released, NPZ members are
decompressed as a stream, Parquet is read batch by batch through pyarrow (an optional
extra). Problems raise :class:`DataError` with one line naming the file, the line/row or
column, and what is wrong.
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import gzip
import io
import itertools
import math
import mmap
import os
import zipfile

import numpy as np

__all__ = ["DataError", "open_table", "parse_source", "select_columns", "Table", "format_kind", "is_dataset",
           "dataset_files"]

CSV_EXTS = {".csv": ",", ".txt": ",", ".dat": ",", ".tsv": "\t", ".tab": "\t"}
KINDS = ("csv", "npy", "npz", "parquet")


class DataError(ValueError):
    """A data file cannot be used: the message names the file, place and problem (one line)."""


def _exists(path):
    return bool(path) and os.path.isfile(path)


def parse_source(text: str, default_path: str | None, flag: str):
    """``FILE``, ``FILE:COLS`` or (with a default data file) ``COLS`` -> ``(path, selector or None)``."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        raise DataError(f"{flag}: empty value; expected FILE[:COLUMNS]")
    if _exists(text):
        return text, None
    if ":" in text:
        path, sel = text.rsplit(":", 1)
        if _exists(path):
            return path, (sel or None)
    if default_path is not None:
        return default_path, text
    path = text.rsplit(":", 1)[0] if ":" in text else text
    if os.path.isdir(path):
        raise DataError(f"{flag}: {path} is a directory, not a data file")
    raise DataError(f"{flag}: no such file: {path}")


def format_kind(path: str) -> str:
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext in CSV_EXTS:
        return "csv"
    if ext == ".npy":
        return "npy"
    if ext == ".npz":
        return "npz"
    if ext in (".parquet", ".pq"):
        return "parquet"
    raise DataError(
        f"{path}: cannot tell the file format from the extension {ext or '(none)'!r}; "
        "supported: .csv .tsv .tab .txt (optionally .gz), .npy, .npz, .parquet"
    )


# -- datasets: many files read as one table (the Dask path) --------------------------------------
_GLOB_CHARS = "*?["
DATASET_KINDS = ("csv", "parquet")


def is_dataset(text: str | None) -> bool:
    """True for a glob or a directory: several files read as one table through Dask."""
    if not text:
        return False
    if "://" in text:
        return True
    if os.path.isdir(text):
        return True
    return any(ch in text for ch in _GLOB_CHARS) and not os.path.exists(text)


def _natural_key(path):
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def dataset_files(text: str):
    """``(kind, files)`` for a CSV or Parquet file, a glob or a directory (every data file under
    it, skipping names that start with ``.`` or ``_`` such as ``_SUCCESS``). Files are in
    natural order (part2 before part10). A URL (``s3://...``) is not listed: ``files`` is empty
    and the kind comes from its extension."""
    import glob as _glob

    if text is None or not str(text).strip():
        raise DataError("no dataset given: expected FILE, a glob such as 'preds/*.parquet', or a directory")
    text = str(text).strip()
    if "://" in text:
        kind = format_kind(text)
        if kind not in DATASET_KINDS:
            raise DataError(f"{text}: datasets are CSV or Parquet files; got {kind.upper()}")
        return kind, []
    if os.path.isdir(text):
        files = []
        for root, dirs, names in os.walk(text):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            for nm in names:
                if nm.startswith((".", "_")):
                    continue
                try:
                    format_kind(nm)
                except DataError:
                    continue
                files.append(os.path.join(root, nm))
        if not files:
            raise DataError(f"{text} is a directory with no CSV or Parquet files in it")
    elif os.path.isfile(text):
        files = [text]
    elif any(ch in text for ch in _GLOB_CHARS):
        files = [f for f in _glob.glob(text, recursive=True) if os.path.isfile(f)]
        if not files:
            raise DataError(f"no files match {text!r}")
    else:
        raise DataError(f"no such file or directory: {text}")
    files.sort(key=_natural_key)
    kinds = {}
    for f in files:
        kinds.setdefault(format_kind(f), []).append(f)
    if len(kinds) > 1:
        desc = ", ".join(f"{len(v)} {k.upper()} ({os.path.basename(v[0])}, ...)" for k, v in sorted(kinds.items()))
        raise DataError(f"{text} mixes file formats: {desc}; pick one kind with a glob such as '{text.rstrip('/')}/*.parquet'")
    kind = next(iter(kinds))
    if kind not in DATASET_KINDS:
        raise DataError(f"{text}: datasets read through Dask are CSV or Parquet files; got {kind.upper()} "
                        "(evaluate NPY/NPZ files one at a time, without --scheduler/--local-cluster)")
    return kind, files


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


class Table:
    """A data source: ``columns`` (names or None for an unlabelled N-d array), ``n_rows`` (or
    None when unknown before reading) and ``reader(selections, chunk_rows)``."""

    path: str
    display: str
    columns: list | None
    n_rows: int | None

    def select(self, spec: str | None, flag: str):
        return select_columns(self, spec, flag)

    def close(self):
        pass


# -- column selection ---------------------------------------------------------------------
def select_columns(table: Table, spec: str | None, flag: str):
    """Indices into ``table.columns`` for a selector: comma-separated names, ``prefix*``
    globs and ``first..last`` ranges (in file order). ``None`` -> None (every column / the
    whole array). Returns ``(indices or None, names or None)``."""
    if spec is None:
        return None, None
    cols = table.columns
    if cols is None:
        raise DataError(f"{flag}: {table.display} is an array without named columns; drop ':{spec}'")
    out = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            raise DataError(f"{flag}: empty column name in {spec!r}")
        if token in cols:
            out.append(cols.index(token))
        elif any(ch in token for ch in "*?["):
            hits = [i for i, c in enumerate(cols) if fnmatch.fnmatchcase(c, token)]
            if not hits:
                raise DataError(f"{flag}: no column of {table.display} matches {token!r}; columns are: {_list(cols)}")
            out.extend(hits)
        elif ".." in token:
            a, b = token.split("..", 1)
            for end in (a, b):
                if end not in cols:
                    raise DataError(f"{flag}: column {end!r} (in range {token!r}) not found in {table.display}; "
                                    f"columns are: {_list(cols)}")
            i, j = cols.index(a), cols.index(b)
            if j < i:
                raise DataError(f"{flag}: range {token!r} runs backwards in {table.display}")
            out.extend(range(i, j + 1))
        else:
            close = difflib.get_close_matches(token, cols, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise DataError(f"{flag}: column {token!r} not found in {table.display}{hint}; columns are: {_list(cols)}")
    return out, [cols[i] for i in out]


def _list(cols, limit=12):
    shown = ", ".join(cols[:limit])
    return shown + (f", ... ({len(cols)} in all)" if len(cols) > limit else "")


# -- opening ---------------------------------------------------------------------------
def open_table(path: str, *, member: str | None = None, delimiter: str | None = None, header: bool | None = None):
    kind = format_kind(path)
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory, not a data file")
    if not os.path.exists(path):
        raise DataError(f"no such file: {path}")
    try:
        if kind == "csv":
            return CsvTable(path, delimiter=delimiter, header=header)
        if kind == "npy":
            return NpyTable(path)
        if kind == "npz":
            return NpzTable(path, member)
        return ParquetTable(path)
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


class _Chunk:
    """One block of rows: a list of arrays (one per selection)."""

    __slots__ = ("arrays", "start", "rows")

    def __init__(self, arrays, start, rows):
        self.arrays, self.start, self.rows = arrays, start, rows


def _check_finite(arr, table, start, names, where_row):
    """Raise on NaN/inf in a float chunk, naming the first bad cell."""
    if arr.dtype.kind != "f":
        return
    finite = np.isfinite(arr)
    if finite.all():
        return
    bad = np.argwhere(~finite)[0]
    r = int(bad[0])
    c = int(bad[1]) if arr.ndim > 1 and names is not None and len(bad) > 1 else None
    v = arr[tuple(bad)]
    what = "NaN (missing or not-a-number value)" if np.isnan(v) else f"{v} (not a finite number)"
    col = ""
    if names is not None:
        col = f", column {names[c] if c is not None else names[0]!r}"
    elif arr.ndim > 1:
        col = f", index {tuple(int(i) for i in bad[1:])}"
    raise DataError(f"{table.display} {where_row(start + r)}{col}: {what}")


# -- CSV -----------------------------------------------------------------------------------
class CsvTable(Table):
    def __init__(self, path, *, delimiter=None, header=None):
        self.path = self.display = path
        name = path.lower()[:-3] if path.lower().endswith(".gz") else path.lower()
        ext = os.path.splitext(name)[1]
        self.delimiter = delimiter if delimiter is not None else CSV_EXTS.get(ext, ",")
        if self.delimiter in ("\\t", "tab"):
            self.delimiter = "\t"
        if len(self.delimiter) != 1:
            raise DataError(f"--delimiter must be one character; got {self.delimiter!r}")
        self._raw = open(path, "rb")
        self._size = os.fstat(self._raw.fileno()).st_size
        stream = gzip.GzipFile(fileobj=self._raw) if path.lower().endswith(".gz") else self._raw
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline=None)
        self._lineno = 0  # lines consumed so far
        first = None
        try:
            for line in self._text:
                self._lineno += 1
                if line.strip():
                    first = line
                    break
        except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile) as e:
            self._unreadable(e)
        if first is None:
            raise DataError(f"{path}: the file is empty (no header and no rows)")
        fields = [f.strip() for f in next(csv.reader([first], delimiter=self.delimiter))]
        numeric = all(_is_number(f) for f in fields)
        has_header = (not numeric) if header is None else header
        self.has_header = bool(has_header)
        if has_header:
            self.columns = fields
            self._pending = []
        else:
            self.columns = [str(i) for i in range(len(fields))]
            self._pending = [(self._lineno, first)]
        self._dups = {c for c in self.columns if self.columns.count(c) > 1}
        self.n_rows = None
        self._chunk_lines = None  # line numbers of the rows of the current chunk

    def close(self):
        self._text.close()
        self._raw.close()

    def _unreadable(self, err):
        """Raise for text that does not decode, naming the first bad line (found by a second,
        line-by-line pass over the raw bytes: only on this error path)."""
        if isinstance(err, UnicodeDecodeError):
            opener = gzip.open if self.path.lower().endswith(".gz") else open
            try:
                with opener(self.path, "rb") as f:
                    for no, raw in enumerate(f, start=1):
                        try:
                            raw.decode("utf-8-sig" if no == 1 else "utf-8")
                        except UnicodeDecodeError as e:
                            raise DataError(f"{self.path} line {no}: not readable as UTF-8 text "
                                            f"(byte {raw[e.start:e.start + 1]!r} at column {e.start + 1})") from None
            except (OSError, EOFError):
                pass
            raise DataError(f"{self.path}: not readable as UTF-8 text ({_short(err)})") from None
        raise DataError(f"{self.path}: cannot read ({_short(err)})") from None

    def progress(self):
        try:
            return min(1.0, self._raw.tell() / self._size) if self._size else None
        except (OSError, ValueError):
            return None

    def where(self, row):
        if self._chunk_lines is not None:
            start, lines = self._chunk_lines
            if 0 <= row - start < len(lines):
                return f"line {lines[row - start]}"
        return f"data row {row + 1}"

    def reader(self, selections, chunk_rows):
        used = sorted({i for sel in selections if sel is not None for i in sel})
        for sel in selections:
            if sel is None:
                raise DataError(f"{self.display}: name the columns to use (FILE:COLUMNS); columns are: {_list(self.columns)}")
            for i in sel:
                if self.columns[i] in self._dups:
                    raise DataError(f"{self.display}: column name {self.columns[i]!r} appears more than once in the header")
        pos = {c: k for k, c in enumerate(used)}
        start = 0
        while True:
            lines, numbers = self._read_lines(chunk_rows)
            if not lines:
                return
            self._chunk_lines = (start, numbers)
            block = self._parse(lines, numbers, used)
            arrays = []
            for sel in selections:
                idx = [pos[i] for i in sel]
                a = block[:, idx]
                arrays.append(a[:, 0] if len(idx) == 1 else a)
            for a, sel in zip(arrays, selections):
                _check_finite(a, self, start, [self.columns[i] for i in sel], self.where)
            yield _Chunk(arrays, start, len(lines))
            start += len(lines)

    def _read_lines(self, n):
        lines, numbers = [], []
        if self._pending:
            for no, line in self._pending:
                lines.append(line)
                numbers.append(no)
            self._pending = []
        try:
            while len(lines) < n:
                block = list(itertools.islice(self._text, n - len(lines)))
                if not block:
                    break
                base = self._lineno
                self._lineno += len(block)
                for k, line in enumerate(block):
                    if line.strip():
                        lines.append(line)
                        numbers.append(base + k + 1)
        except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile) as e:
            self._unreadable(e)
        return lines, numbers

    def _parse(self, lines, numbers, used):
        try:
            block = np.loadtxt(lines, delimiter=self.delimiter, usecols=used, dtype=np.float64, ndmin=2,
                               quotechar='"', comments=None, encoding=None)
        except ValueError as e:
            self._diagnose(lines, numbers, used, e)
            raise AssertionError("unreachable") from None
        if block.shape[0] != len(lines):  # a row loadtxt treated as empty (e.g. only delimiters)
            self._diagnose(lines, numbers, used, None)
        return block

    def _diagnose(self, lines, numbers, used, err):
        """Find the first bad cell of a block that NumPy refused and raise a precise DataError."""
        width = len(self.columns)
        for line, no in zip(lines, numbers):
            fields = next(csv.reader([line.rstrip("\r\n")], delimiter=self.delimiter))
            for i in used:
                name = self.columns[i]
                if i >= len(fields):
                    raise DataError(f"{self.path} line {no}: column {name!r} is missing (the line has "
                                    f"{len(fields)} field(s), the header {width})")
                cell = fields[i].strip()
                if cell == "":
                    raise DataError(f"{self.path} line {no}, column {name!r}: empty cell (missing value)")
                if not _is_number(cell):
                    raise DataError(f"{self.path} line {no}, column {name!r}: {cell[:40]!r} is not a number")
        raise DataError(f"{self.path} lines {numbers[0]}-{numbers[-1]}: cannot parse ({_short(err) if err else 'malformed rows'})")


def _numeric(a):
    """Booleans as 0/1 integers (losses take real arrays)."""
    return a.astype(np.int64) if a.dtype == np.bool_ else a


def _short(e):
    return str(e).splitlines()[0][:160] if str(e) else type(e).__name__


# -- NPY / NPZ -----------------------------------------------------------------------------
def _check_dtype(dtype, display):
    if dtype.hasobject:
        raise DataError(f"{display} holds Python objects (a pickled object array); refusing to unpickle it "
                        "(allow_pickle=False): save plain numeric arrays")
    if dtype.names is None and dtype.kind not in "biuf":
        raise DataError(f"{display} has dtype {dtype}; expected numbers (bool, int or float)")


class _ArrayTable(Table):
    """Shared by NPY and NPZ: an array (n, ...) or a structured array with named fields."""

    def _setup(self, shape, dtype):
        _check_dtype(dtype, self.display)
        if len(shape) == 0:
            raise DataError(f"{self.display} holds a single scalar; expected one row per sample (shape (n, ...))")
        self.shape, self.dtype = tuple(shape), dtype
        self.n_rows = int(shape[0])
        if dtype.names is not None:
            for f in dtype.names:
                sub = dtype.fields[f][0]
                if sub.kind not in "biuf" or sub.shape:
                    raise DataError(f"{self.display}: field {f!r} has dtype {sub}; expected plain numbers")
            self.columns = list(dtype.names)
        elif len(shape) == 2:
            self.columns = [str(i) for i in range(shape[1])]
        else:
            self.columns = None

    def where(self, row):
        return f"row {row}"

    def _pick(self, block, sel):
        if self.dtype.names is not None:
            if sel is None:
                sel = list(range(len(self.dtype.names)))
            cols = [np.array(block[self.dtype.names[i]]) for i in sel]
            common = np.result_type(*[c.dtype for c in cols])
            return cols[0] if len(cols) == 1 else np.stack([c.astype(common) for c in cols], axis=1)
        if sel is None:
            return np.array(block)
        a = np.asarray(block)[:, sel]
        return a[:, 0] if len(sel) == 1 else a

    def _emit(self, block, start, selections):
        arrays = [_numeric(self._pick(block, sel)) for sel in selections]
        for a, sel in zip(arrays, selections):
            names = None if sel is None or self.columns is None else [self.columns[i] for i in sel]
            _check_finite(a, self, start, names, self.where)
        return _Chunk(arrays, start, len(block))


class NpyTable(_ArrayTable):
    def __init__(self, path):
        self.path = self.display = path
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e) or "object" in str(e).lower():
                _check_dtype(np.dtype(object), path)
            raise DataError(f"{path}: not a valid .npy file ({_short(e)})") from None
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: not a valid .npy file ({_short(e)})") from None
        if not isinstance(arr, np.ndarray):
            raise DataError(f"{path}: not a .npy array file")
        self._arr = arr
        self._setup(arr.shape, arr.dtype)

    def progress(self):
        return None

    def close(self):
        mm = getattr(self._arr, "_mmap", None)
        self._arr = None
        if mm is not None:
            try:
                mm.close()
            except (BufferError, ValueError):
                pass

    def reader(self, selections, chunk_rows):
        arr = self._arr
        n = arr.shape[0]
        row_bytes = arr.dtype.itemsize * math.prod(arr.shape[1:])
        mm = getattr(arr, "_mmap", None)
        offset = getattr(arr, "offset", 0)
        page = mmap.PAGESIZE
        released = 0
        for start in range(0, n, chunk_rows):
            chunk = self._emit(arr[start:start + chunk_rows], start, selections)
            yield chunk
            # drop the pages already consumed so the resident set stays at about one chunk
            end = offset + (start + chunk.rows) * row_bytes
            upto = (end // page) * page
            if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED") and upto > released \
                    and arr.flags.c_contiguous:
                try:
                    mm.madvise(mmap.MADV_DONTNEED, released, upto - released)
                    released = upto
                except (OSError, ValueError):
                    mm = None


class NpzTable(_ArrayTable):
    def __init__(self, path, member):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"{path}: not a valid .npz file ({_short(e)})") from None
        names = [n[:-4] for n in self._zip.namelist() if n.endswith(".npy")]
        if member is None:
            if len(names) != 1:
                raise DataError(f"{path} holds {len(names)} arrays ({_list(names)}); name one as {path}:KEY")
            member = names[0]
        elif member not in names:
            close = difflib.get_close_matches(member, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise DataError(f"{path}: no array named {member!r}{hint}; arrays are: {_list(names)}")
        self.member = member
        self.display = f"{path}:{member}"
        with self._zip.open(member + ".npy") as f:
            shape, fortran, dtype = self._header(f)
        self._fortran = fortran and len(shape) > 1
        self._setup(shape, dtype)
        self._done = 0

    def _header(self, f):
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(f)
            return np.lib.format.read_array_header_2_0(f)
        except ValueError as e:
            if "object" in str(e).lower() or "pickle" in str(e).lower():
                _check_dtype(np.dtype(object), self.display)
            raise DataError(f"{self.display}: not a valid .npy member ({_short(e)})") from None

    def progress(self):
        return None

    def close(self):
        self._zip.close()

    def reader(self, selections, chunk_rows):
        try:
            with self._zip.open(self.member + ".npy") as f:
                self._header(f)
                if self._fortran:  # column-major: rows are not contiguous; read it whole
                    data = np.frombuffer(f.read(), dtype=self.dtype).reshape(self.shape, order="F")
                    for start in range(0, self.n_rows, chunk_rows):
                        yield self._emit(data[start:start + chunk_rows], start, selections)
                    return
                row_shape = self.shape[1:]
                row_bytes = self.dtype.itemsize * math.prod(row_shape)
                start = 0
                while start < self.n_rows:
                    m = min(chunk_rows, self.n_rows - start)
                    buf = f.read(m * row_bytes) if row_bytes else b""
                    if len(buf) != m * row_bytes:
                        raise DataError(f"{self.display}: truncated (ends inside row {start + len(buf) // max(row_bytes, 1)})")
                    block = np.frombuffer(buf, dtype=self.dtype, count=m * math.prod(row_shape) if row_bytes else 0)
                    block = block.reshape((m, *row_shape))
                    yield self._emit(block, start, selections)
                    start += m
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"{self.display}: cannot read ({_short(e)})") from None


# -- Parquet ---------------------------------------------------------------------------------
class ParquetTable(Table):
    def __init__(self, path):
        self.path = self.display = path
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(f"{path}: reading Parquet needs pyarrow; install it with pip install 'losskit[parquet]'") from None
        self._pa = pa
        try:
            # pre_buffer=False + a bounded read buffer: pyarrow's default pre-buffering holds
            # the selected column chunks of the whole file in memory, which is not streaming.
            self._pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{path}: not a readable Parquet file ({_short(e)})") from None
        schema = self._pf.schema_arrow
        self.columns = list(schema.names)
        self._types = {f.name: f.type for f in schema}
        self.n_rows = int(self._pf.metadata.num_rows)
        self._done = 0

    def progress(self):
        return None

    def where(self, row):
        return f"row {row}"

    def close(self):
        try:
            self._pf.close()
        except AttributeError:
            pass

    def reader(self, selections, chunk_rows):
        pa = self._pa
        for sel in selections:
            if sel is None:
                raise DataError(f"{self.display}: name the columns to use (FILE:COLUMNS); columns are: {_list(self.columns)}")
        used = sorted({i for sel in selections for i in sel})
        names = [self.columns[i] for i in used]
        for nm in names:
            t = self._types[nm]
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
                raise DataError(f"{self.display}: column {nm!r} has type {t}; expected numbers")
        pos = {i: k for k, i in enumerate(used)}
        buffer, buffered, start = [], 0, 0
        try:
            batches = self._pf.iter_batches(batch_size=chunk_rows, columns=names, use_threads=False)
            for batch in itertools.chain(batches, [None]):
                if batch is not None:
                    cols = []
                    for k, nm in enumerate(names):
                        col = batch.column(k)
                        if col.null_count:
                            r = int(np.flatnonzero(np.asarray(col.is_null(), dtype=bool))[0])
                            raise DataError(f"{self.display} row {start + buffered + r}, column {nm!r}: missing value (null)")
                        cols.append(_numeric(col.to_numpy(zero_copy_only=False)))
                    buffer.append(cols)
                    buffered += batch.num_rows
                while buffered >= chunk_rows or (batch is None and buffered):
                    m = min(chunk_rows, buffered)
                    cols = [np.concatenate([b[k] for b in buffer]) for k in range(len(names))]
                    head = [c[:m] for c in cols]
                    rest = [c[m:] for c in cols]
                    buffer = [rest] if buffered > m else []
                    buffered -= m
                    arrays = []
                    for sel in selections:
                        parts = [head[pos[i]] for i in sel]
                        if len(parts) == 1:
                            arrays.append(parts[0])
                        else:
                            common = np.result_type(*[p.dtype for p in parts])
                            arrays.append(np.stack([p.astype(common, copy=False) for p in parts], axis=1))
                    for a, sel in zip(arrays, selections):
                        _check_finite(a, self, start, [self.columns[i] for i in sel], self.where)
                    yield _Chunk(arrays, start, m)
                    start += m
        except pa.ArrowException as e:
            raise DataError(f"{self.display}: cannot read ({_short(e)})") from None
