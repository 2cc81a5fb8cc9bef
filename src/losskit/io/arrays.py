"""NPY and NPZ arrays read in chunks of rows: NPY memory-mapped (``allow_pickle=False``) with
consumed pages released, NPZ members decompressed as a stream; structured arrays give named
columns, 2-D arrays columns 0..k-1."""

from __future__ import annotations

import difflib
import lzma
import math
import mmap
import os
import struct
import tokenize
import zipfile
import zlib
from typing import Any

import numpy as np

from .errors import DataError, short_error
from .table import Chunk, Table, as_numbers, check_row_width, column_list

__all__ = ["NpyTable", "NpzTable"]

# what a damaged or unsupported zip archive raises (corrupt data, encrypted or unsupported members)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, NotImplementedError,
               RuntimeError, ValueError, OverflowError, struct.error)
WHOLE_FORTRAN_BYTES = 32 << 20  # a column-major NPZ member is read whole, so only up to this size


def _read_header(f, display, kind):
    """``(shape, fortran_order, dtype)`` of the NPY header at ``f``'s position."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        return np.lib.format.read_array_header_2_0(f)
    except ValueError as e:
        if "object" in str(e).lower() or "pickle" in str(e).lower():
            _check_dtype(np.dtype(object), display)
        raise DataError(f"{display}: not a valid {kind} ({short_error(e)})") from None
    except (OverflowError, TypeError, SyntaxError, tokenize.TokenError, MemoryError, RecursionError, EOFError,
            struct.error) as e:
        raise DataError(f"{display}: not a valid {kind} ({short_error(e)})") from None


def _check_claim(shape, dtype, available, display, kind):
    """Refuse a header whose shape needs more bytes than follow it: the shape is a claim that
    would otherwise size the reads (a 200-byte file may claim (40, 10**9))."""
    need = math.prod(shape) * dtype.itemsize
    if need > available:
        raise DataError(f"{display}: not a valid {kind} (truncated or damaged: its header claims shape "
                        f"{tuple(shape)}, {need:,} bytes of data, but {max(available, 0):,} bytes follow it)")


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
        if math.prod(shape[1:]) == 0 or dtype.names == ():  # no bytes to check a claimed row count against
            raise DataError(f"{self.display} has shape {self.shape}{' and no fields' if dtype.names == () else ''}: "
                            "its rows hold no numbers")
        check_row_width(math.prod(shape[1:]) * max(1, len(dtype.names or ())), self.display)
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
        return f"data row {row + 1}"

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
        return Chunk([as_numbers(self._pick(block, sel)) for sel in selections], start, len(block))


class NpyTable(_ArrayTable):
    """A .npy file, memory-mapped; the pages of consumed chunks are released."""

    _arr: Any

    def __init__(self, path):
        self.path = self.display = path
        with open(path, "rb") as f:
            shape, _, dtype = _read_header(f, path, ".npy file")
            _check_dtype(dtype, path)
            _check_claim(shape, dtype, os.fstat(f.fileno()).st_size - f.tell(), path, ".npy file")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e) or "object" in str(e).lower():
                _check_dtype(np.dtype(object), path)
            raise DataError(f"{path}: not a valid .npy file ({short_error(e)})") from None
        except (OSError, EOFError, OverflowError) as e:
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
        if not arr.flags.c_contiguous:
            yield from self._column_major(arr, selections, chunk_rows)
            return
        if not (hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED")):
            mm = None
        for start in range(0, n, chunk_rows):
            chunk = self._emit(arr[start:start + chunk_rows], start, selections)
            yield chunk
            # drop the pages already consumed so the resident set stays at about one chunk
            end = offset + (start + chunk.rows) * row_bytes
            upto = (end // page) * page
            if mm is not None and upto > released:
                try:
                    mm.madvise(mmap.MADV_DONTNEED, released, upto - released)
                    released = upto
                except (OSError, ValueError):
                    mm = None


    def _column_major(self, arr, selections, chunk_rows):
        """Chunks of a column-major (Fortran-order) array, read a column's run of rows at a time:
        through the memory map, each chunk would map pages of every column (and their
        neighbours), up to the whole file."""
        n, isz = arr.shape[0], arr.dtype.itemsize
        cols = math.prod(arr.shape[1:])
        with open(self.path, "rb") as fh:
            for start in range(0, n, chunk_rows):
                m = min(chunk_rows, n - start)
                block = np.empty((cols, m), dtype=arr.dtype)
                for c in range(cols):
                    buf = os.pread(fh.fileno(), m * isz, arr.offset + (c * n + start) * isz)
                    if len(buf) != m * isz:
                        raise DataError(f"{self.display}: truncated (ends inside column {c})")
                    block[c] = np.frombuffer(buf, dtype=arr.dtype)
                yield self._emit(block.T.reshape((m, *arr.shape[1:]), order="F"), start, selections)


class NpzTable(_ArrayTable):
    """One array of a .npz file (``FILE.npz:KEY``), decompressed as a stream."""

    def __init__(self, path, member):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except DataError:
            raise
        except _ZIP_ERRORS as e:
            raise DataError(f"{path}: not a valid .npz file ({short_error(e)})") from None
        try:
            self._open_member(path, member)
        except BaseException:
            self._zip.close()
            raise

    def _open_member(self, path, member):
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
        info = self._zip.getinfo(member + ".npy")
        try:
            with self._zip.open(info) as f:
                shape, fortran, dtype = _read_header(f, self.display, ".npy member")
                _check_dtype(dtype, self.display)
                _check_claim(shape, dtype, info.file_size - f.tell(), self.display, ".npy member")
        except DataError:
            raise
        except _ZIP_ERRORS as e:
            raise DataError(f"{self.display}: cannot read ({short_error(e)})") from None
        self._fortran = fortran and len(shape) > 1
        if self._fortran and math.prod(shape) * dtype.itemsize > WHOLE_FORTRAN_BYTES:
            raise DataError(f"{self.display} is stored column-major (Fortran order) and larger than "
                            f"{WHOLE_FORTRAN_BYTES >> 20} MiB, so it cannot be read a block of rows at a time; "
                            "save it in row-major order (np.ascontiguousarray)")
        self._setup(shape, dtype)
        self._done = 0

    def progress(self):
        return None

    def close(self):
        self._zip.close()

    def reader(self, selections, chunk_rows):
        try:
            with self._zip.open(self.member + ".npy") as f:
                _read_header(f, self.display, ".npy member")
                if self._fortran:  # column-major: rows are not contiguous; read it whole (it is small)
                    size = math.prod(self.shape) * self.dtype.itemsize
                    buf = f.read(size)
                    if len(buf) != size:
                        raise DataError(f"{self.display}: truncated ({len(buf):,} of {size:,} bytes of data)")
                    data = np.frombuffer(buf, dtype=self.dtype).reshape(self.shape, order="F")
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
        except DataError:
            raise
        except _ZIP_ERRORS as e:
            raise DataError(f"{self.display}: cannot read ({short_error(e)})") from None
