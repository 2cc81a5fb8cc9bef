"""CSV/TSV files (optionally gzip-compressed) read a block of lines at a time and parsed by
NumPy: the header row detected or forced, every problem located by file, line and column."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os

import numpy as np

from .errors import DataError, short_error
from .table import Chunk, Table, check_finite, column_list

__all__ = ["CsvTable", "CSV_EXTS", "is_number"]

CSV_EXTS = {".csv": ",", ".txt": ",", ".dat": ",", ".tsv": "\t", ".tab": "\t"}


def is_number(field: str) -> bool:
    """True when ``float(field)`` parses."""
    try:
        float(field)
    except ValueError:
        return False
    return True


class CsvTable(Table):
    """A CSV/TSV file (optionally .gz); columns from its header row, or 0, 1, 2, ... without one."""

    columns: list[str]

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
        numeric = all(is_number(f) for f in fields)
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
            raise DataError(f"{self.path}: not readable as UTF-8 text ({short_error(err)})") from None
        raise DataError(f"{self.path}: cannot read ({short_error(err)})") from None

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
                raise DataError(f"{self.display}: name the columns to use (FILE:COLUMNS); columns are: {column_list(self.columns)}")
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
                check_finite(a, self, start, [self.columns[i] for i in sel], self.where)
            yield Chunk(arrays, start, len(lines))
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
                if not is_number(cell):
                    raise DataError(f"{self.path} line {no}, column {name!r}: {cell[:40]!r} is not a number")
        raise DataError(f"{self.path} lines {numbers[0]}-{numbers[-1]}: cannot parse ({short_error(err) if err else 'malformed rows'})")
