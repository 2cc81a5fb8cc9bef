"""Parquet files read batch by batch through pyarrow (an optional extra, imported when a
Parquet file is opened), with a bounded read buffer so memory stays at about one chunk."""

from __future__ import annotations

import collections
import itertools

import numpy as np

from .errors import DataError, one_line
from .table import Chunk, Table, as_numbers, column_list

__all__ = ["ParquetTable"]


class ParquetTable(Table):
    """A Parquet file, read batch by batch through pyarrow."""

    columns: list[str]
    n_rows: int

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
            schema = self._pf.schema_arrow
            self.n_rows = int(self._pf.metadata.num_rows)
        except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, OverflowError) as e:
            raise DataError(f"{path}: not a readable Parquet file ({one_line(e, 200)})") from None
        self.columns = [str(n) for n in schema.names]
        self._types = {str(f.name): f.type for f in schema}
        self._dups = {c for c, k in collections.Counter(self.columns).items() if k > 1}
        self._done = 0

    def progress(self):
        return None

    def where(self, row):
        return f"data row {row + 1}"

    def close(self):
        try:
            self._pf.close()
        except AttributeError:
            pass

    def reader(self, selections, chunk_rows):
        pa = self._pa
        for sel in selections:
            if sel is None:
                raise DataError(f"{self.display}: name the columns to use (FILE:COLUMNS); columns are: {column_list(self.columns)}")
        used = sorted({i for sel in selections for i in sel})
        names = [self.columns[i] for i in used]
        for nm in names:
            if nm in self._dups:
                raise DataError(f"{self.display}: column name {nm!r} appears more than once in the file")
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
                            raise DataError(f"{self.display} {self.where(start + buffered + r)}, column {nm!r}: "
                                            "missing value (null)")
                        cols.append(as_numbers(col.to_numpy(zero_copy_only=False)))
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
                    yield Chunk(arrays, start, m)
                    start += m
        except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, OverflowError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(f"{self.display}: cannot read ({one_line(e, 200)})") from None
