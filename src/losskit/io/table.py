"""The reader interface: the Table every reader implements, column selection by names, globs
and ranges, and the chunks readers yield with the checks every chunk gets."""

from __future__ import annotations

import difflib
import fnmatch
from typing import Any

import numpy as np

from .errors import DataError

__all__ = ["Table", "Chunk", "select_columns", "column_list", "check_finite", "nonfinite", "as_numbers", "MAX_ROW_NUMBERS",
           "check_row_width"]

# The numbers of one row are read together (a loss may reduce over them), so a row is the
# smallest chunk: past this width (32 MiB of float64) a row alone would outgrow the memory bound.
MAX_ROW_NUMBERS = 1 << 22


def check_row_width(width: int, display: str) -> None:
    """Raise :class:`DataError` for rows wider than :data:`MAX_ROW_NUMBERS` numbers."""
    if width > MAX_ROW_NUMBERS:
        raise DataError(f"{display}: one row holds {width:,} numbers, more than the {MAX_ROW_NUMBERS:,} "
                        "that are read at once; split the rows")


class Table:
    """A data source: ``columns`` (names or None for an unlabelled N-d array), ``n_rows`` (or
    None when unknown before reading) and ``reader(selections, chunk_rows)``."""

    path: str
    display: str
    columns: list | None
    n_rows: int | None

    def select(self, spec: str | None, flag: str):
        return select_columns(self, spec, flag)

    def reader(self, selections: list, chunk_rows: int):
        """Yield :class:`Chunk` objects of ``chunk_rows`` rows (fewer at the end), with one array
        per selection (column indices, or None for the whole array). NaN and inf are passed on:
        the caller finds them with :func:`nonfinite`, after the rows before them were checked."""
        raise NotImplementedError

    def where(self, row: int) -> str:
        """Where data row ``row`` (0-based) is in the file, for messages."""
        raise NotImplementedError

    def close(self):
        pass


# -- column selection ---------------------------------------------------------------------
def select_columns(table: Any, spec: str | None, flag: str):
    """Indices into ``table.columns`` for a selector: comma-separated names, ``prefix*``
    globs and ``first..last`` ranges (in file order). ``None`` -> None (every column / the
    whole array). Returns ``(indices or None, names or None)``. ``table`` is a :class:`Table`
    or anything with ``columns`` and ``display`` (a dataset)."""
    if spec is None:
        return None, None
    cols = table.columns
    if cols is None:
        raise DataError(f"{flag}: {table.display} is an array without named columns; drop ':{spec}'")
    index: dict[str, int] = {}
    for i, c in enumerate(cols):  # first occurrence, as list.index; one pass keeps wide files linear
        index.setdefault(c, i)
    out = []
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            raise DataError(f"{flag}: empty column name in {spec[:60]!r}")
        if token in index:
            out.append(index[token])
        elif any(ch in token for ch in "*?["):
            hits = [i for i, c in enumerate(cols) if fnmatch.fnmatchcase(c, token)]
            if not hits:
                raise DataError(f"{flag}: no column of {table.display} matches {token!r}; columns are: {column_list(cols)}")
            out.extend(hits)
        elif ".." in token:
            a, b = token.split("..", 1)
            for end in (a, b):
                if end not in index:
                    raise DataError(f"{flag}: column {end!r} (in range {token!r}) not found in {table.display}; "
                                    f"columns are: {column_list(cols)}")
            i, j = index[a], index[b]
            if j < i:
                raise DataError(f"{flag}: range {token!r} runs backwards in {table.display}")
            out.extend(range(i, j + 1))
        else:
            close = difflib.get_close_matches(token, cols, n=3) if len(cols) <= 10_000 else []
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise DataError(f"{flag}: column {token!r} not found in {table.display}{hint}; columns are: {column_list(cols)}")
    return out, [cols[i] for i in out]


def column_list(cols, limit=12):
    """Names for a message: the first ``limit``, then how many there are in all."""
    shown = ", ".join(cols[:limit])
    return shown + (f", ... ({len(cols)} in all)" if len(cols) > limit else "")


# -- chunks ---------------------------------------------------------------------------------
class Chunk:
    """One block of rows: a list of arrays (one per selection)."""

    __slots__ = ("arrays", "start", "rows")

    def __init__(self, arrays, start, rows):
        self.arrays, self.start, self.rows = arrays, start, rows


def check_finite(arr, table, start, names, where_row):
    """Raise on NaN/inf in a float chunk, naming the first bad cell."""
    found = nonfinite(arr, table, start, names, where_row)
    if found is not None:
        raise found[1]


def nonfinite(arr, table, start, names, where_row):
    """``(row in the chunk, DataError naming the cell)`` for the first NaN/inf of a float chunk, or None."""
    if arr.dtype.kind != "f":
        return None
    finite = np.isfinite(arr)
    if finite.all():
        return None
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
    return r, DataError(f"{table.display} {where_row(start + r)}{col}: {what}")


def as_numbers(a):
    """Booleans as 0/1 integers (losses take real arrays)."""
    return a.astype(np.int64) if a.dtype == np.bool_ else a
