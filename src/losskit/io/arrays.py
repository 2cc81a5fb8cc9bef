"""NPY and NPZ arrays read in chunks of rows: NPY memory-mapped (``allow_pickle=False``) with
consumed pages released, NPZ members decompressed as a stream; structured arrays give named
columns, 2-D arrays columns 0..k-1."""

from __future__ import annotations

import difflib
import math
import mmap
import zipfile
from typing import Any

import numpy as np

from .errors import DataError, short_error
from .table import Chunk, Table, as_numbers, check_finite, column_list

__all__ = ["NpyTable", "NpzTable"]


def _check_dtype(dtype, display):
    if dtype.hasobject:
        raise DataError(f"{display} holds Python objects (a pickled object array); refusing to unpickle it "
                        "(allow_pickle=False): save plain numeric arrays")
    if dtype.names is None and dtype.kind not in "biuf":
        raise DataError(f"{display} has dtype {dtype}; expected numbers (bool, int or float)")


class _ArrayTable(Table):
    """Shared by NPY and NPZ: an array (n, ...) or a structured array with named fields."""

    n_rows: int

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
        arrays = [as_numbers(self._pick(block, sel)) for sel in selections]
        for a, sel in zip(arrays, selections):
            names = None if sel is None or self.columns is None else [self.columns[i] for i in sel]
            check_finite(a, self, start, names, self.where)
        return Chunk(arrays, start, len(block))


class NpyTable(_ArrayTable):
    """A .npy file, memory-mapped; the pages of consumed chunks are released."""

    _arr: Any

    def __init__(self, path):
        self.path = self.display = path
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e) or "object" in str(e).lower():
                _check_dtype(np.dtype(object), path)
            raise DataError(f"{path}: not a valid .npy file ({short_error(e)})") from None
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: not a valid .npy file ({short_error(e)})") from None
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
    """One array of a .npz file (``FILE.npz:KEY``), decompressed as a stream."""

    def __init__(self, path, member):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DataError(f"{path}: not a valid .npz file ({short_error(e)})") from None
        names = [n[:-4] for n in self._zip.namelist() if n.endswith(".npy")]
        if member is None:
            if len(names) != 1:
                raise DataError(f"{path} holds {len(names)} arrays ({column_list(names)}); name one as {path}:KEY")
            member = names[0]
        elif member not in names:
            close = difflib.get_close_matches(member, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise DataError(f"{path}: no array named {member!r}{hint}; arrays are: {column_list(names)}")
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
            raise DataError(f"{self.display}: not a valid .npy member ({short_error(e)})") from None

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
            raise DataError(f"{self.display}: cannot read ({short_error(e)})") from None
