"""Datasets: many CSV or Parquet files named by a glob, a directory or a URL, listed in
natural order (the files that ``losskit eval`` reads as one table through Dask)."""

from __future__ import annotations

import os

from .errors import DataError
from .sources import format_kind

__all__ = ["DATASET_KINDS", "is_dataset", "dataset_files"]

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


def _regular(path):
    """``path``, or a DataError for a FIFO, a device or a link to one (reading it may never end)."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: not a regular file (a device, FIFO or link to one); a dataset is made of regular files")
    return path


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
                files.append(_regular(os.path.join(root, nm)))
        if not files:
            raise DataError(f"{text} is a directory with no CSV or Parquet files in it")
    elif os.path.isfile(text):
        files = [text]
    elif any(ch in text for ch in _GLOB_CHARS):
        files = [_regular(f) for f in _glob.glob(text, recursive=True) if not os.path.isdir(f)]
        if not files:
            raise DataError(f"no files match {text!r}")
    else:
        raise DataError(f"no such file or directory: {text}")
    files.sort(key=_natural_key)
    kinds: dict[str, list[str]] = {}
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
