"""The evaluation behind ``losskit eval``: sources -> chunks or partitions -> accumulators -> one result.

Two ways of reading, one pipeline:

- **files** (:func:`evaluate_files`): each role's source (CSV/TSV, NPY, NPZ or Parquet) is opened
  as a :class:`losskit.io.Table` and the tables are read in chunks of the same number of rows;
  each chunk updates one :class:`losskit.Accumulator` per loss, so memory stays constant;
- **a dataset** of many CSV or Parquet files (:func:`evaluate_dataset`): read through
  ``dask.dataframe``, each partition becomes one accumulator per loss (:func:`partition_states`)
  and these are merged up a tree (:func:`accumulate_partitions`), on threads or a Dask cluster.

Both paths share the choice of each role's columns (:func:`select_roles`), the weight checks
(:func:`check_weight`), how a chunk updates the accumulators and where a refused value is
(:func:`feed`, :func:`bad_row`) and the result record (:func:`build_result`). Problems raise
:class:`losskit.io.DataError`, :class:`losskit.LossInputError` or :class:`EvalError`, each with
a one-line message. Nothing here prints: progress goes to a callback, the result is returned.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from ._array.validate import LossInputError
from .io import (
    PATH_COLUMN,
    DaskUnavailable,
    DataError,
    Dataset,
    Table,
    check_numeric_columns,
    check_row_width,
    nonfinite,
    one_line,
    open_table,
    parse_source,
    partition_arrays,
    read_dataset,
    require_dask,
)
from .streaming import Accumulator, first_bad_row, rows_fail

__all__ = [
    "EvalError", "Role", "Selection", "accumulators", "roles", "select_roles", "check_weight", "feed", "bad_row",
    "build_result", "plain_options", "evaluate_files", "evaluate_dataset", "partition_states", "merge_states",
    "accumulate_partitions", "default_chunk_rows",
]

# progress(rows read so far, fraction done or None when unknown)
Progress = Callable[[int, float | None], None]
# role ("labels", "pred", "weight") -> column names, or None for a role not given
Roles = dict[str, list[str] | None]


class EvalError(Exception):
    """An evaluation that cannot run as asked (a file where a dataset's columns are expected,
    Dask missing, a cluster that does not start or fails); the message is one line."""


# -- what both paths share -------------------------------------------------------------------
class Role(NamedTuple):
    """One input of the losses as the user named it."""

    role: str  # "labels", "pred" or "weight"
    flag: str  # the command line flag that gave it: "--labels", "--pred", "--weight"
    text: str  # SOURCE: FILE, FILE:COLUMNS or COLUMNS of DATA


class Selection(NamedTuple):
    """A role resolved to columns of an open table or dataset."""

    role: str
    table: Any  # a losskit.io.Table, or a losskit.io.Dataset
    indices: list[int] | None  # column indices; None: the whole array
    names: list[str] | None  # column names; None: the whole array
    desc: str  # SOURCE as the result shows it: "FILE" or "FILE:COLUMNS"


def accumulators(names: Iterable[str], options: dict[str, dict[str, Any]], reduction: str) -> list[Accumulator]:
    """One empty :class:`losskit.Accumulator` per loss name, with its options and the reduction."""
    return [Accumulator(n, reduction=reduction, **options[n]) for n in names]


def roles(labels: str, pred: str, weight: str | None = None) -> list[Role]:
    """The roles to read, in order: labels, pred, then weight when given."""
    out = [Role("labels", "--labels", labels), Role("pred", "--pred", pred)]
    if weight is not None:
        out.append(Role("weight", "--weight", weight))
    return out


def select_roles(wanted: Sequence[Role], data: str | None,
                 table_for: Callable[[Role, str, str | None], tuple[Any, str | None]]) -> list[Selection]:
    """Resolve each role's SOURCE (``parse_source`` against the default ``data``) to columns.

    ``table_for(role, path, selector)`` returns the open table (or dataset) that the role reads
    and the column selector to apply to it; it may raise for a source the path cannot take."""
    out = []
    for r in wanted:
        path, sel = parse_source(r.text, data, r.flag)
        table, sel = table_for(r, path, sel)
        idx, names = table.select(sel, r.flag)
        out.append(Selection(r.role, table, idx, names, f"{table.display}" + (f":{sel}" if sel else "")))
    return out


def check_weight(selections: Sequence[Selection]) -> None:
    """Sample weights are one column: raise :class:`DataError` when ``--weight`` names several."""
    for s in selections:
        if s.role == "weight" and s.names is not None and len(s.names) != 1:
            raise DataError(f"--weight must name one column; got {len(s.names)} ({', '.join(s.names)})")


def feed(accs: Sequence[Accumulator], y: Any, p: Any, w: Any,
         locate: Callable[[Accumulator, LossInputError, Any, Any, Any], str]) -> None:
    """Update every accumulator with one chunk. A chunk a loss refuses raises
    :class:`losskit.LossInputError` whose message is ``locate(acc, error, y, p, w)``."""
    for acc in accs:
        try:
            acc.update(y, p, sample_weight=w)
        except LossInputError as e:
            raise LossInputError(locate(acc, e, y, p, w)) from None


def bad_row(acc: Accumulator, y: Any, p: Any, w: Any, err: Exception) -> int | None:
    """The first row of a refused chunk that the loss refuses on its own, or None when the
    failure is not row-local (a shape error, or the global statistics of an overlap loss)."""
    if acc.mode == "stats" or "shape" in str(err):
        return None
    return first_bad_row(acc.loss, y, p, w)


def plain_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Options as JSON data: values JSON cannot hold are given as their ``repr``."""
    out = {}
    for k, v in opts.items():
        try:
            json.dumps(v)
            out[k] = v
        except TypeError:
            out[k] = repr(v)
    return out


def _displays(tables):
    """The files (or dataset) read, for messages: sorted, each once."""
    return ", ".join(sorted({t.display for t in tables}))


def build_result(accs: Sequence[Accumulator], rows: int, reduction: str,
                 selections: Sequence[Selection]) -> dict[str, Any]:
    """The result record: rows, reduction, the sources of labels/pred/weight and one
    ``{"loss", "options", "value"}`` per accumulator. No rows at all is a :class:`DataError`."""
    if rows == 0:
        raise DataError(f"no data rows in {_displays(s.table for s in selections)}")
    desc = {s.role: s.desc for s in selections}
    values = [acc.result() for acc in accs]
    for acc, v in zip(accs, values):
        if not math.isfinite(v):  # finite inputs whose losses overflow float64: no number to report
            raise EvalError(f"{acc.name}: the result overflows to {v} (the values of "
                            f"{_displays(s.table for s in selections)} are too large for float64)")
    return {
        "rows": rows,
        "reduction": reduction,
        "labels": desc["labels"],
        "pred": desc["pred"],
        "weight": desc.get("weight"),
        "results": [{"loss": acc.name, "options": plain_options(acc.options), "value": v} for acc, v in zip(accs, values)],
    }


# -- files, in chunks -------------------------------------------------------------------------
CHUNK_NUMBERS = 1 << 20  # numbers per chunk by default (8 MiB per role at float64)


def default_chunk_rows(widths: Iterable[int]) -> int:
    """Rows per chunk for rows of the given widths: about :data:`CHUNK_NUMBERS` numbers per
    chunk (at least one row, at most 2**18 rows), so memory follows the numbers, not the rows."""
    per_row = max(1, sum(widths))
    return int(min(1 << 18, max(1, CHUNK_NUMBERS // per_row)))


def evaluate_files(accs: Sequence[Accumulator], *, labels: str, pred: str, weight: str | None = None,
                   data: str | None = None, reduction: str = "mean", chunk_rows: int | None = None,
                   delimiter: str | None = None, header: bool | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate ``accs`` (empty accumulators) over files read in chunks; returns the result record.

    ``labels``, ``pred``, ``weight`` are SOURCEs (``FILE``, ``FILE:COLUMNS`` or ``COLUMNS`` of
    ``data``); a file named by several roles is opened once. ``progress(rows, fraction or None)``
    is called after each chunk."""
    if data is not None and not os.path.isfile(data):
        raise DataError(f"no such file: {data}" if not os.path.isdir(data) else f"{data} is a directory")
    tables: dict[tuple[str, str | None], Table] = {}

    def table_for(role: Role, path: str, sel: str | None) -> tuple[Table, str | None]:
        member = None
        if path.lower().endswith(".npz"):
            member, sel = sel, None
        key = (os.path.realpath(path), member)
        if key not in tables:
            tables[key] = open_table(path, member=member, delimiter=delimiter, header=header)
        return tables[key], sel

    try:
        selections = select_roles(roles(labels, pred, weight), data, table_for)
        return _read_chunks(accs, selections, reduction, chunk_rows, progress)
    finally:
        for t in tables.values():
            t.close()


def _read_chunks(accs, selections, reduction, chunk_rows, progress):
    by_table: dict[int, tuple[Table, list]] = {}
    for s in selections:
        by_table.setdefault(id(s.table), (s.table, []))[1].append((s.role, s.indices))
    table_of = {s.role: s.table for s in selections}
    counts = {role: tab.n_rows for role, tab in table_of.items() if tab.n_rows is not None}
    if len(set(counts.values())) > 1:  # known before reading (NPY, NPZ, Parquet)
        desc = ", ".join(f"--{role} {table_of[role].display} has {n:,} rows" for role, n in counts.items())
        raise DataError(f"length mismatch: {desc}")
    check_weight(selections)

    widths = [len(s.indices) if s.indices is not None else _row_width(s.table) for s in selections]
    check_row_width(sum(widths), _displays(s.table for s in selections))
    if chunk_rows is None:
        chunk_rows = default_chunk_rows(widths)
        known = [n for n in counts.values() if n]
        if known:  # no bigger than the file: a reader may size its buffers by it
            chunk_rows = min(chunk_rows, max(known))
    gens = []
    for table, sels in by_table.values():
        gens.append((table, [r for r, _ in sels], table.reader([idx for _, idx in sels], chunk_rows)))
    total = next((t.n_rows for t, _, _ in gens if t.n_rows is not None), None)
    rows = 0
    chunks = _aligned(gens, chunk_rows)
    for rows, y, p, w in chunks:
        locate = functools.partial(_locate, offset=rows, gens=gens, rest=chunks)
        arrays = {"labels": y, "pred": p, "weight": w}
        found = [f for s in selections if (f := nonfinite(arrays[s.role], s.table, rows, s.names, s.table.where))]
        if found:  # the rows before the first NaN/inf get the losses' checks first: the first bad row is reported
            r, err = min(found, key=lambda f: f[0])
            if r:
                feed(accs, y[:r], p[:r], None if w is None else w[:r], locate)
            raise err
        feed(accs, y, p, w, locate)
        rows += len(p)
        if progress is not None:
            progress(rows, (rows / total) if total else _fraction(gens))
    return build_result(accs, rows, reduction, selections)


def _aligned(gens, chunk_rows):
    """``(offset, labels, pred, weight or None)`` per chunk, the readers of every table in step."""
    rows = 0
    while True:
        got = {}
        ended, live = [], []
        for table, names, gen in gens:
            chunk = next(gen, None)
            if chunk is None:
                ended.append(table)
                continue
            live.append((table, chunk.rows))
            for role, arr in zip(names, chunk.arrays):
                got[role] = arr
        if not live:
            return
        sizes = {n for _, n in live}
        if ended or len(sizes) > 1:
            raise DataError(_mismatch(gens, rows, ended, live, chunk_rows))
        y, p, w = got["labels"], got["pred"], got.get("weight")
        if w is not None and w.ndim != 1:
            raise DataError(f"--weight must be one number per row; got {_per_row(w)} per row")
        yield rows, y, p, w
        rows += live[0][1]


def _row_width(table):
    shape = getattr(table, "shape", None)
    if shape is None:
        return 1
    n = 1
    for s in shape[1:]:
        n *= s
    return n


def _fraction(gens):
    for table, _, _ in gens:
        f = getattr(table, "progress", lambda: None)()
        if f is not None:
            return f
    return None


def _mismatch(gens, rows, ended, live, chunk_rows):
    """Which sources ran out first: exact counts where a source reached its end."""
    parts = []
    for table, names, _ in gens:
        flags = "/".join(f"--{r}" for r in names)
        if table in ended:
            parts.append(f"{flags} {table.display} has {rows:,} rows")
            continue
        m = next(k for t, k in live if t is table)
        if m < chunk_rows:
            parts.append(f"{flags} {table.display} has {rows + m:,} rows")
        else:
            parts.append(f"{flags} {table.display} has at least {rows + m:,} rows")
    return "length mismatch: " + ", ".join(parts)


def _per_row(a):
    """What one row of a chunk holds, for messages (never the chunk's own shape)."""
    if a.ndim == 1:
        return "one number"
    if a.ndim == 2:
        return f"{a.shape[1]:,} numbers"
    return f"an array of shape {a.shape[1:]}"


_LEADING = re.compile(r"\((\d+)(?=[,)])")  # the first dimension of a shape in a message
_COUNT = re.compile(r"(\d+) (?:row\(s\) do not|outside|other value\(s\))")  # "3 row(s) do not sum to 1"
_CHUNK_STATS = re.compile(r" \((?:min|between|largest)[^)]*\)")  # statistics of one chunk, not of the file


def _message(fn, y, p, w, lo, hi):
    """The LossInputError message of rows ``lo:hi`` alone, or None when they pass."""
    try:
        fn.per_sample(y[lo:hi], p[lo:hi], **({} if w is None else {"sample_weight": w[lo:hi]}))
    except LossInputError as e:
        return str(e)
    except Exception:  # noqa: BLE001 - a slice the loss cannot take tells nothing
        return None
    return None


def _locate(acc, err, y, p, w, *, offset, gens, rest=()):
    """The error of a chunk, as the file's rows: the first offending row of the file with its own
    message, and a count of offending rows over the whole file (the chunks in ``rest`` are read
    to finish it). Chunk shapes never appear: they are the reader's, not the user's."""
    msg = str(err)
    displays = _displays(t for t, _, _ in gens)
    if rows_fail(acc.loss, y, p, w, 0, 0) or "shape" in msg:  # an option or the shapes, not a value
        if "shape" not in msg:
            return f"{acc.name}: {msg}"
        msg = _LEADING.sub(lambda m: "(n" if int(m.group(1)) == len(p) else m.group(0), msg)
        return (f"{acc.name}: {msg} (n rows; --labels gives {_per_row(y)} per row, --pred {_per_row(p)}, "
                f"as read from {displays})")
    r = bad_row(acc, y, p, w, err)
    if r is None:
        return f"{acc.name}: data rows {offset + 1}-{offset + len(p)} of {displays}: {msg}"
    place = ", ".join(f"{t.display} {t.where(offset + r)}" for t, _, _ in gens)  # before reading on
    msg = _message(acc.loss, y, p, w, r, r + 1) or msg  # the first bad row's own problem
    found = _COUNT.search(msg)
    if found:
        kind, total, exact = msg[:found.start()], 0, True
        try:
            for later in itertools.chain([_message(acc.loss, y, p, w, r, len(p))],
                                         (_message(acc.loss, y2, p2, w2, 0, len(p2)) for _, y2, p2, w2 in rest)):
                m = _COUNT.search(later or "")
                if m and later is not None and later[:m.start()] == kind:
                    total += int(m.group(1))
                elif later is not None:  # another check fires first there: its rows of this kind are not counted
                    exact = False
        except (DataError, LossInputError):  # a later row cannot be read: the count stops there
            exact = False
        total = max(total, 1)
        tail = _CHUNK_STATS.sub("", msg[found.end():])
        phrase = msg[found.end(1) + 1:found.end()]
        phrase = phrase.replace("row(s)", "row(s) of the whole file") if "row(s)" in phrase else phrase + " in the whole file"
        msg = f"{kind}{'' if exact else 'at least '}{total:,} {phrase}{tail}"
    return f"{acc.name}: {place}: {msg}"


# -- datasets, by partition ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PartitionFailure:
    """A partition's refusal, carried up the merge tree instead of raised at once, so that the
    first failing partition (in file and row order) is the one reported, whichever task runs first."""

    partition: int  # the partition's position in the frame
    error: Exception  # the DataError or LossInputError, located within the partition
    path: str | None  # the local file the partition comes from (None: a frame without files)


def partition_states(df: Any, templates: Sequence[Accumulator], columns: Roles, index: int, npartitions: int,
                     display: str) -> list[Accumulator] | PartitionFailure:
    """One pandas partition -> a list of Accumulators (one per loss), never mutating the templates,
    or a :class:`PartitionFailure` when its data is refused.

    ``columns`` maps ``"labels"``, ``"pred"`` and ``"weight"`` (None: no weights) to column names.
    Rows are counted from 1 within the partition; :func:`accumulate_partitions` turns them into
    rows of the file."""
    accs = [copy.deepcopy(t) for t in templates]
    if len(df) == 0:
        return accs
    paths = df[PATH_COLUMN] if PATH_COLUMN in df.columns else None
    part = f"partition {index + 1} of {npartitions}"

    def where(r):
        if paths is not None:
            return f"{paths.iloc[r]} ({part}) data row {r + 1} of the partition"
        return f"{display} {part}, data row {r + 1}"

    def locate(acc, err, y, p, w):
        r = bad_row(acc, y, p, w, err)
        place = where(r) if r is not None else (f"{paths.iloc[0]} ({part})" if paths is not None else f"{display} {part}")
        return f"{acc.name}: {place}: {err}"

    try:
        y = partition_arrays(df, columns["labels"], where)
        p = partition_arrays(df, columns["pred"], where)
        w = None if columns.get("weight") is None else partition_arrays(df, columns["weight"], where)
        feed(accs, y, p, w, locate)
    except (DataError, LossInputError) as e:
        return PartitionFailure(index, e, None if paths is None else str(paths.iloc[0]))
    return accs


def merge_states(*groups: Sequence[Accumulator] | PartitionFailure) -> list[Accumulator] | PartitionFailure:
    """Merge lists of Accumulators elementwise into new ones (inputs are left untouched: a
    retried task may see them again); a failure wins, the earliest partition's first."""
    failures = [g for g in groups if isinstance(g, PartitionFailure)]
    if failures:
        return min(failures, key=lambda f: f.partition)
    lists = [g for g in groups if not isinstance(g, PartitionFailure)]
    out = [copy.deepcopy(a) for a in lists[0]]
    for g in lists[1:]:
        for mine, theirs in zip(out, g):
            mine.merge(theirs)
    return out


def file_failure(templates: Sequence[Accumulator], columns: Roles, path: str,
                 read_options: dict[str, Any]) -> DataError | LossInputError | None:
    """The error that evaluating the file ``path`` alone raises (1-based data rows and CSV lines
    of the file, its first bad row, counts over the whole file), or None when it cannot tell."""
    try:
        table = open_table(path, **read_options)
    except (DataError, LossInputError):
        return None
    try:
        names = list(table.columns or ())
        selections = [Selection(role, table, [names.index(n) for n in cols], list(cols), path)
                      for role, cols in columns.items() if cols]
        _read_chunks([copy.deepcopy(t) for t in templates], selections, "mean", None, None)
    except (DataError, LossInputError) as e:
        return e
    except Exception:  # noqa: BLE001 - a column the file alone lacks (a hive partition key), ...: cannot tell
        return None
    finally:
        table.close()
    return None


def _raise_failure(result: list[Accumulator] | PartitionFailure, templates: Sequence[Accumulator], columns: Roles,
                   read_options: dict[str, Any] | None) -> list[Accumulator]:
    """The merged accumulators, or the first partition's failure raised: for a local file, as the
    file alone reports it (rows of the file, not of the partition)."""
    if not isinstance(result, PartitionFailure):
        return result
    if result.path is not None and read_options is not None and os.path.isfile(result.path):
        found = file_failure(templates, columns, result.path, read_options)
        if found is not None:
            raise found
    raise result.error


def accumulate_partitions(frame: Any, templates: Sequence[Accumulator], columns: Roles, *, display: str,
                          split_every: int = 8, compute: bool = True, scheduler: str | None = None) -> Any:
    """The accumulators of every partition of ``frame`` (a Dask data frame or a :class:`Dataset`,
    then reading only the columns used), merged up a tree of fan-in ``split_every``.

    ``columns`` maps the roles to existing column names (as :func:`partition_states`). Returns
    the merged list, or with ``compute=False`` the ``dask.delayed`` object that computes to it.
    Refused data raises the first failing partition's error, for a local file as the file alone
    reports it (1-based data rows of the file); a block the CSV parser refuses is located by
    reading the files alone in order, up to the first that fails."""
    require_dask()
    import dask

    used = list(dict.fromkeys(n for names in columns.values() if names for n in names))
    read_options, files = None, []
    if isinstance(frame, Dataset):
        read_options, files = (frame.read_options if frame.kind == "csv" else {}), frame.files
        frame = frame.project(used)
    check_numeric_columns(frame, used, display)
    if PATH_COLUMN in frame.columns:
        used.append(PATH_COLUMN)
    frame = frame[used]
    parts = frame.to_delayed()
    n = len(parts)
    tasks = [
        dask.delayed(partition_states, pure=True)(part, templates, columns, k, n, display)
        for k, part in enumerate(parts)
    ]
    if not tasks:
        tasks = [dask.delayed(merge_states, pure=True)(templates)]
    while len(tasks) > 1:
        tasks = [dask.delayed(merge_states, pure=True)(*tasks[i:i + split_every])
                 for i in range(0, len(tasks), split_every)]
    root = dask.delayed(_raise_failure, pure=True)(tasks[0], templates, columns, read_options)
    if not compute:
        return root
    kwargs = {} if scheduler is None else {"scheduler": scheduler}
    try:
        (result,) = dask.compute(root, **kwargs)
    except ValueError as e:  # a block the parser refused (a ragged row, text in a number column, ...)
        if isinstance(e, (DataError, LossInputError)) or read_options is None:
            raise
        for path in files:  # the first file that fails alone names its own row and line
            found = file_failure(templates, columns, path, read_options)
            if found is not None:
                raise found from None
        raise
    return result


def evaluate_dataset(accs: Sequence[Accumulator], *, data: str, labels: str, pred: str, weight: str | None = None,
                     reduction: str = "mean", delimiter: str | None = None, header: bool | None = None,
                     cluster: contextlib.AbstractContextManager[Any] | None = None,
                     where: str = "local threads") -> dict[str, Any]:
    """Evaluate ``accs`` (empty accumulators) over the dataset ``data`` (a glob, a directory, a
    CSV/Parquet file or a URL) read through ``dask.dataframe``; returns the result record.

    ``labels``, ``pred``, ``weight`` are COLUMNS of ``data``. The partitions are computed inside
    ``cluster`` (a context manager, e.g. :func:`losskit.distributed.local_cluster`, that makes its
    client the default; ``where`` describes it in messages and the result) or, without one, on
    local threads."""
    try:
        ds = read_dataset(data, delimiter=delimiter, header=header)
    except DaskUnavailable as e:
        raise EvalError(str(e)) from None

    def table_for(role: Role, path: str, sel: str | None) -> tuple[Dataset, str | None]:
        if path != data or sel is None:
            raise EvalError(f"{role.flag} {role.text!r}: with a dataset DATA ({data}) give COLUMNS of DATA, not a file "
                            "(files of a dataset are read as one table; put labels and predictions in the same files)")
        return ds, sel

    selections = select_roles(roles(labels, pred, weight), data, table_for)
    check_weight(selections)
    columns: Roles = {"labels": None, "pred": None, "weight": None}
    columns.update({s.role: s.names for s in selections})
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(cluster if cluster is not None else contextlib.nullcontext())
        except (EvalError, LossInputError):
            raise
        except (DaskUnavailable, ConnectionError) as e:
            raise EvalError(str(e)) from None
        except Exception as e:  # noqa: BLE001 - a cluster that does not start: one line
            raise EvalError(f"cannot start {where}: {type(e).__name__}: {one_line(e)}") from None
        try:
            merged = accumulate_partitions(ds, accs, columns, display=ds.display,
                                           scheduler="threads" if cluster is None else None)
        except (DataError, LossInputError, EvalError):
            raise
        except ConnectionError as e:
            raise EvalError(f"the computation on {where} failed: {type(e).__name__}: {one_line(e)}") from None
        except (ValueError, TypeError, KeyError, OSError) as e:  # a partition pandas/pyarrow could not parse
            raise DataError(f"{ds.display}: cannot read ({type(e).__name__}: {one_line(e)})") from None
        except Exception as e:  # noqa: BLE001 - a cluster failure (KilledWorker, lost connection, ...): one line
            raise EvalError(f"the computation on {where} failed: {type(e).__name__}: {one_line(e)}") from None
    out = build_result(merged, merged[0].rows if merged else 0, reduction, selections)
    out["files"] = len(ds.files) if ds.files else None
    out["partitions"] = ds.project([n for s in selections for n in s.names or ()]).npartitions
    out["scheduler"] = where
    return out
