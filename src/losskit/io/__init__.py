"""Chunked readers for the command line: CSV/TSV, NPY, NPZ and Parquet, and datasets of many files.

Every reader yields rows in chunks of a fixed size, so memory stays constant however long
the file is: CSV is read a block of lines at a time and parsed by NumPy, NPY is
memory-mapped (``allow_pickle=False``) and consumed pages are released, NPZ members are
decompressed as a stream, Parquet is read batch by batch through pyarrow (an optional
extra). Problems raise :class:`DataError` with one line naming the file, the line/row or
column, and what is wrong.

This package only gathers the public names of its modules:

- :mod:`.errors`: :class:`DataError` and one-line summaries of other exceptions;
- :mod:`.table`: the :class:`Table` interface, column selection, chunks and their checks;
- :mod:`.sources`: SOURCE texts, file kinds, :func:`open_table`;
- :mod:`.csv`, :mod:`.arrays` (NPY/NPZ), :mod:`.parquet`: the readers;
- :mod:`.datasets`: listing the files of a glob or directory;
- :mod:`.frames`: those files as one Dask data frame, and partitions as NumPy arrays.
"""

from __future__ import annotations

from .arrays import NpyTable, NpzTable
from .csv import CSV_EXTS, CsvTable
from .datasets import DATASET_KINDS, dataset_files, is_dataset
from .errors import DataError, one_line, short_error
from .frames import (
    PATH_COLUMN,
    DaskUnavailable,
    Dataset,
    check_numeric_columns,
    partition_arrays,
    read_dataset,
    require_dask,
)
from .parquet import ParquetTable
from .sources import KINDS, format_kind, open_table, parse_source
from .table import (
    MAX_ROW_NUMBERS,
    Chunk,
    Table,
    as_numbers,
    check_finite,
    check_row_width,
    column_list,
    nonfinite,
    select_columns,
)

__all__ = [
    "DataError", "open_table", "parse_source", "select_columns", "Table", "format_kind", "is_dataset",
    "dataset_files",
    "CSV_EXTS", "KINDS", "DATASET_KINDS", "CsvTable", "NpyTable", "NpzTable", "ParquetTable", "Chunk",
    "check_finite", "as_numbers", "column_list", "short_error", "one_line",
    "DaskUnavailable", "require_dask", "Dataset", "read_dataset", "PATH_COLUMN", "partition_arrays",
    "check_numeric_columns", "MAX_ROW_NUMBERS", "check_row_width", "nonfinite",
]
