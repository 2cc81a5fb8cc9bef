"""From what the user typed to a Table: SOURCE texts (``FILE``, ``FILE:COLUMNS`` or ``COLUMNS``
of a default DATA file), file kinds by extension, and :func:`open_table` choosing the reader."""

from __future__ import annotations

import os

from .arrays import NpyTable, NpzTable
from .csv import CSV_EXTS, CsvTable
from .errors import DataError
from .parquet import ParquetTable
from .table import Table

__all__ = ["KINDS", "parse_source", "format_kind", "open_table"]

KINDS = ("csv", "npy", "npz", "parquet")


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


def open_table(path: str, *, member: str | None = None, delimiter: str | None = None, header: bool | None = None) -> Table:
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
