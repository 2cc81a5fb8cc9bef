"""CSV/TSV files (optionally gzip-compressed) read a block of text at a time and parsed by
NumPy: the header row detected or forced, every problem located by file, data row, line and column
(NaN and inf are left to :func:`losskit.io.nonfinite`, called on the chunks).

Memory is bounded whatever the file holds: text is decoded (and decompressed) in blocks of
:data:`READ_CHARS`, a line may hold at most :data:`MAX_LINE_CHARS` characters, and at most
:data:`TEXT_BUDGET` characters of lines are held before they are parsed into numbers."""

from __future__ import annotations

import codecs
import collections
import csv
import gzip
import io
import itertools
import os
import zlib

import numpy as np

from .errors import DataError, short_error
from .table import Chunk, Table, column_list

__all__ = ["CsvTable", "CSV_EXTS", "is_number", "MAX_LINE_CHARS"]

CSV_EXTS = {".csv": ",", ".txt": ",", ".dat": ",", ".tsv": "\t", ".tab": "\t"}
READ_CHARS = 1 << 20  # characters decoded per read
MAX_LINE_CHARS = 1 << 24  # a longer line is refused (16 Mi characters; a row of numbers is far shorter)
TEXT_BUDGET = 1 << 24  # characters of lines held at once before they are parsed
# what a damaged file raises while it is decoded or decompressed
_READ_ERRORS = (UnicodeDecodeError, OSError, EOFError, zlib.error)


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
        if len(self.delimiter) != 1 or self.delimiter in "\r\n\"":
            raise DataError(f"--delimiter must be one character (not a quote or line break); got {self.delimiter!r}")
        self._raw = open(path, "rb")
        self._size = os.fstat(self._raw.fileno()).st_size
        stream = gzip.GzipFile(fileobj=self._raw) if path.lower().endswith(".gz") else self._raw
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline=None)
        self._lineno = 0  # lines consumed so far
        self._buf: list[str] = []  # complete lines decoded and not consumed yet (from self._next)
        self._next = 0
        self._tail = ""  # the start of a line whose end is not decoded yet
        self._eof = False
        first = None
        while first is None and self._fill():
            for k in range(self._next, len(self._buf)):
                if self._buf[k].strip():
                    first = self._buf[k]
                    self._lineno += k - self._next + 1
                    self._next = k + 1
                    break
            else:
                self._lineno += len(self._buf) - self._next
                self._next = len(self._buf)
        if first is None:
            raise DataError(f"{path}: the file is empty (no header and no rows)")
        fields = [f.strip() for f in self._split(first, f"line {self._lineno}")]
        numeric = all(is_number(f) for f in fields)
        has_header = (not numeric) if header is None else header
        self.has_header = bool(has_header)
        if has_header:
            self.columns = fields
            self._pending = []
        else:
            self.columns = [str(i) for i in range(len(fields))]
            self._pending = [(self._lineno, first)]
        self._dups = {c for c, k in collections.Counter(self.columns).items() if k > 1}
        self.n_rows = None
        self._chunk_lines = None  # (first row, line numbers) of the rows of the current chunk

    def close(self):
        self._text.close()
        self._raw.close()

    # -- reading text, bounded -------------------------------------------------------------
    def _fill(self) -> bool:
        """Decode the next block of text into complete lines; False at the end of the file."""
        if self._next < len(self._buf):
            return True
        self._buf, self._next = [], 0
        while not self._buf:
            if self._eof:
                return False
            try:
                data = self._text.read(READ_CHARS)
            except _READ_ERRORS as e:
                self._unreadable(e)
            if not data:
                self._eof = True
                if self._tail:
                    self._buf, self._tail = [self._tail], ""
                continue
            parts = (self._tail + data).split("\n")
            self._tail = parts.pop()
            if len(self._tail) > MAX_LINE_CHARS:
                raise DataError(f"{self.path} line {self._lineno + len(parts) + 1}: longer than "
                                f"{MAX_LINE_CHARS:,} characters (not a table of numbers?)")
            self._buf = parts
        return True

    def _read_lines(self, n, budget=TEXT_BUDGET):
        """Up to ``n`` non-blank lines holding about ``budget`` characters at most, and their
        line numbers (an int64 array)."""
        lines: list[str] = []
        numbers = []
        if self._pending:
            for no, line in self._pending:
                lines.append(line)
                numbers.append(np.array([no], dtype=np.int64))
            self._pending = []
        size = 0
        while len(lines) < n and size < budget and self._fill():
            take = self._buf[self._next:self._next + n - len(lines)]
            self._buf[self._next:self._next + len(take)] = itertools.repeat("", len(take))  # free as consumed
            self._next += len(take)
            base = self._lineno + 1
            self._lineno += len(take)
            size += sum(map(len, take))
            keep = [not line.isspace() and line != "" for line in take]
            if all(keep):
                lines.extend(take)
                numbers.append(np.arange(base, base + len(take), dtype=np.int64))
            else:
                lines.extend(itertools.compress(take, keep))
                numbers.append(base + np.flatnonzero(keep))
        return lines, (np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64))

    def _unreadable(self, err):
        """Raise for text that does not decode or decompress, naming the first bad line of
        undecodable text (found by a second, bounded pass over the raw bytes: only on this error path)."""
        if isinstance(err, UnicodeDecodeError):
            opener = gzip.open if self.path.lower().endswith(".gz") else open
            decoder = codecs.getincrementaldecoder("utf-8-sig")()
            no, col = 1, 0
            try:
                with opener(self.path, "rb") as f:
                    for piece in iter(lambda: f.readline(READ_CHARS), b""):
                        try:
                            decoder.decode(piece)
                        except UnicodeDecodeError as e:
                            raise DataError(f"{self.path} line {no}: not readable as UTF-8 text (byte "
                                            f"{piece[e.start:e.start + 1]!r} at column {col + e.start + 1})") from None
                        if piece.endswith(b"\n"):
                            no, col = no + 1, 0
                        else:
                            col += len(piece)
            except _READ_ERRORS:
                pass
            raise DataError(f"{self.path}: not readable as UTF-8 text ({short_error(err)})") from None
        if isinstance(err, (zlib.error, EOFError, gzip.BadGzipFile)):
            raise DataError(f"{self.path}: damaged gzip data ({short_error(err)})") from None
        raise DataError(f"{self.path}: cannot read ({short_error(err)})") from None

    def _split(self, line, place):
        """The fields of one line by the csv module (quotes understood), or a DataError."""
        try:
            return next(csv.reader([line], delimiter=self.delimiter, strict=True))
        except csv.Error as e:
            what = str(e)
            if "field larger" in what:
                what = f"a field is longer than {csv.field_size_limit():,} characters"
            elif "end of data" in what or "newline" in what:
                what = "a quoted field is not closed (unterminated quote)"
            raise DataError(f"{self.path} {place}: {what}") from None

    def progress(self):
        try:
            return min(1.0, self._raw.tell() / self._size) if self._size else None
        except (OSError, ValueError):
            return None

    def where(self, row):
        if self._chunk_lines is not None:
            start, lines = self._chunk_lines
            if 0 <= row - start < len(lines):
                return f"data row {row + 1} (line {lines[row - start]})"
        return f"data row {row + 1}"

    # -- rows ------------------------------------------------------------------------------------
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
            blocks, numbers, got = [], [], 0
            while got < chunk_rows:  # a chunk's rows, parsed a bounded block of text at a time
                lines, nos = self._read_lines(chunk_rows - got)
                if not lines:
                    break
                self._check_fields(lines, nos, start + got)
                blocks.append(self._parse(lines, nos, used, start + got))
                numbers.append(nos)
                got += len(lines)
                del lines
            if not got:
                return
            self._chunk_lines = (start, np.concatenate(numbers))
            block = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
            del blocks
            arrays = []
            for sel in selections:
                idx = [pos[i] for i in sel]
                a = block[:, idx]
                arrays.append(a[:, 0] if len(idx) == 1 else a)
            yield Chunk(arrays, start, got)  # NaN/inf are found by the caller, after earlier rows had their checks
            start += got

    def _check_fields(self, lines, numbers, first_row):
        """Every row has as many fields as the header: a delimiter count per line (C speed),
        and the csv module for lines with quotes or a different count."""
        d, want = self.delimiter, len(self.columns) - 1
        counts = list(map(str.count, lines, itertools.repeat(d, len(lines))))
        quoted = list(map(str.__contains__, lines, itertools.repeat('"', len(lines))))
        if not any(quoted) and counts.count(want) == len(lines):
            return
        for k, (line, n, q) in enumerate(zip(lines, counts, quoted)):
            if n == want and not q:
                continue
            place = f"data row {first_row + k + 1} (line {numbers[k]})"
            fields = self._split(line, place)
            if len(fields) < want + 1:
                raise DataError(f"{self.path} {place}: column {self.columns[len(fields)]!r} is missing (the line has "
                                f"{len(fields):,} field(s), the header {want + 1:,})")
            if len(fields) > want + 1:
                raise DataError(f"{self.path} {place}: the line has {len(fields):,} fields, more than the "
                                f"{want + 1:,} column(s) of the header")

    def _parse(self, lines, numbers, used, first_row):
        try:
            block = np.loadtxt(lines, delimiter=self.delimiter, usecols=used, dtype=np.float64, ndmin=2,
                               quotechar='"', comments=None, encoding=None)
        except ValueError as e:
            self._diagnose(lines, numbers, used, first_row, e)
            raise AssertionError("unreachable") from None
        if block.shape[0] != len(lines):  # a row loadtxt treated as empty (e.g. only delimiters)
            self._diagnose(lines, numbers, used, first_row, None)
        return block

    def _diagnose(self, lines, numbers, used, first_row, err):
        """Find the first bad cell of a block that NumPy refused and raise a precise DataError."""
        width = len(self.columns)
        for k, (line, no) in enumerate(zip(lines, numbers)):
            place = f"data row {first_row + k + 1} (line {no})"
            fields = self._split(line, place)
            for i in used:
                name = self.columns[i]
                if i >= len(fields):
                    raise DataError(f"{self.path} {place}: column {name!r} is missing (the line has "
                                    f"{len(fields)} field(s), the header {width})")
                cell = fields[i].strip()
                if cell == "":
                    raise DataError(f"{self.path} {place}, column {name!r}: empty cell (missing value)")
                if not is_number(cell):
                    raise DataError(f"{self.path} {place}, column {name!r}: {cell[:40]!r} is not a number")
        raise DataError(f"{self.path} lines {numbers[0]}-{numbers[-1]}: cannot parse "
                        f"({short_error(err) if err else 'malformed rows'})")
