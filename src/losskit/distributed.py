"""Dask: losses over data that does not fit one machine.

Two ways in, both exact:

**Lazy arrays.** Every loss accepts Dask arrays (through ``array-api-compat``) and returns a
lazy Dask array: building the value, ``.grad`` or ``.grad_hess`` computes nothing; the
numbers appear at ``.compute()``. Chunks may split any axis, the class axis and the summed
axes of overlap losses included: their sums, maxima and log-sum-exps are Dask tree
reductions, so the result equals the NumPy one (to rounding) however the array is chunked;
keeping the class axis in one chunk is only faster (fewer tasks). Shapes, dtypes and
options are checked when the graph is built; value checks (ranges, label sets, finiteness)
need the values and are skipped on lazy arrays, as under ``jax.jit`` (README, "Dask").

**Data frames.** :func:`accumulate` evaluates losses over a ``dask.dataframe`` (e.g. many
Parquet or CSV files read by :func:`read_dataset`) with the streaming accumulators as the
reduction: each partition becomes a :class:`losskit.Accumulator` (float64 compensated sums
of ``w * l`` and ``w``, or the global statistics of an overlap loss), the partitions'
accumulators are merged pairwise up a tree, and ``result()`` of the root equals the
one-shot ``loss(y_true, y_pred, sample_weight=w)`` on the concatenated data to about 1e-15
relative. Partitions are checked like the command line's chunks (finite numbers, the
losses' full value checks). A failure is the first one in partition order and names the file,
its 1-based data row (and CSV line) and the column, as ``losskit eval`` of that file alone
would (Parquet datasets and data frames: the partition and its row, both from 1); ragged CSV rows
(more or fewer fields than the header) are refused.

>>> import numpy as np, pandas as pd, dask.dataframe as dd, losskit as lk
>>> from losskit.distributed import accumulate
>>> df = pd.DataFrame({"y": [0.0, 1.0, 1.0, 0.0, 1.0], "p": [0.1, 0.8, 0.6, 0.3, 0.9]})
>>> frame = dd.from_pandas(df, npartitions=3)
>>> acc, = accumulate(frame, ["bce"], labels="y", pred="p", scheduler="sync")
>>> bool(np.isclose(acc.result(), float(lk.bce(df["y"].to_numpy(), df["p"].to_numpy())), rtol=1e-14))
True

Clusters: :func:`local_cluster` starts a loopback-only ``distributed.LocalCluster`` and
:func:`connect` joins a running scheduler with a bounded timeout; both return a
``distributed.Client`` and are context managers.

This module is the Python API: it checks :func:`accumulate`'s arguments and runs the partition
pipeline of :mod:`losskit.evaluate` (the one ``losskit eval`` runs on a dataset);
:func:`read_dataset` and :class:`Dataset` are those of :mod:`losskit.io`.
"""

from __future__ import annotations

import contextlib
import copy
import numbers

from ._array.validate import LossInputError
from .evaluate import accumulate_partitions
from .io import PATH_COLUMN, DaskUnavailable, DataError, Dataset, one_line, read_dataset, require_dask
from .streaming import Accumulator

__all__ = ["accumulate", "read_dataset", "local_cluster", "connect", "Dataset", "DataError", "DaskUnavailable"]


# -- arguments -------------------------------------------------------------------------------------
def _as_templates(losses):
    """A list of empty Accumulators from names, LossFunctions or Accumulators."""
    if isinstance(losses, (str, Accumulator)) or not isinstance(losses, (list, tuple)):
        losses = [losses]
    out = []
    for item in losses:
        if isinstance(item, Accumulator):
            if item.mode is not None:
                raise LossInputError(f"accumulate() takes empty accumulators as templates; {item!r} already holds data")
            out.append(copy.deepcopy(item))
        else:
            out.append(Accumulator(item))
    if not out:
        raise LossInputError("accumulate() needs at least one loss")
    return out


def _names(spec, role):
    if spec is None:
        return None
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, numbers.Integral):
        return [spec]
    names = list(spec)
    if not names:
        raise LossInputError(f"{role}: no columns given")
    return names


# -- losses over a data frame ----------------------------------------------------------------------
def accumulate(frame, losses, *, labels, pred, weight=None, split_every=8, compute=True, scheduler=None,
               display=None):
    """Evaluate losses over every row of a Dask data frame, partition by partition.

    - ``frame``: a ``dask.dataframe.DataFrame`` or a :class:`Dataset` (from :func:`read_dataset`;
      only the columns used are then read).
    - ``losses``: a loss name, a :class:`losskit.LossFunction` or an empty
      :class:`losskit.Accumulator` (carrying options and reduction: ``Accumulator("huber",
      delta=2.0)``), or a list of them.
    - ``labels``, ``pred``, ``weight``: a column name or a list of names; one column gives a
      vector per partition, several a ``(rows, k)`` block (class probabilities, one-hot targets).
      ``weight`` is one column of per-row sample weights.
    - ``split_every``: how many accumulators one merge task combines (the fan-in of the tree).
    - ``scheduler``: passed to ``dask.compute`` (None: the active client or Dask's default).

    Returns a list of merged Accumulators in the order of ``losses`` (``acc.result()`` is the
    reduced value, ``acc.rows`` the row count), or with ``compute=False`` a ``dask.delayed``
    object that computes to that list. Bad data (a missing or non-numeric value) raises
    :class:`DataError` and values a loss refuses raise :class:`losskit.LossInputError` (both
    ``ValueError``), naming the file (or partition), the 1-based row and the column.
    """
    require_dask()

    dataset = frame if isinstance(frame, Dataset) else None
    if dataset is not None:
        display = display or dataset.display
        frame = None
    display = display or "data frame"
    if dataset is None and (not hasattr(frame, "to_delayed") or not hasattr(frame, "npartitions")):
        raise LossInputError(f"accumulate() takes a dask.dataframe.DataFrame or a losskit Dataset; got {type(frame).__name__}")
    if not isinstance(split_every, numbers.Integral) or split_every < 2:
        raise LossInputError(f"split_every must be an integer >= 2; got {split_every!r}")
    templates = _as_templates(losses)
    roles = {"labels": _names(labels, "labels"), "pred": _names(pred, "pred"), "weight": _names(weight, "weight")}
    if roles["labels"] is None or roles["pred"] is None:
        raise LossInputError("accumulate() needs labels= and pred= columns")
    if roles["weight"] is not None and len(roles["weight"]) != 1:
        raise LossInputError(f"weight must be one column; got {len(roles['weight'])} ({', '.join(map(str, roles['weight']))})")
    present = dataset.columns if dataset is not None else [c for c in frame.columns if c != PATH_COLUMN]
    for role, names in roles.items():
        for nm in names or ():
            if nm not in present:
                raise LossInputError(f"{role}: no column {nm!r} in {display}; columns are: "
                                     f"{', '.join(str(c) for c in present)}")
    return accumulate_partitions(dataset if dataset is not None else frame, templates, roles, display=display,
                                 split_every=int(split_every), compute=compute, scheduler=scheduler)


# -- clusters --------------------------------------------------------------------------------------
@contextlib.contextmanager
def local_cluster(n_workers=2, *, threads_per_worker=1, processes=True, memory_limit="auto", quiet=False):
    """A ``distributed.LocalCluster`` bound to the loopback interface (127.0.0.1) with no
    dashboard, and a client for it (set as the default for ``dask.compute`` inside the block);
    both are closed on exit. ``quiet=True`` silences distributed's log messages (worker errors
    are still raised to the caller).

    >>> from losskit.distributed import local_cluster
    >>> with local_cluster(1, processes=False) as client:  # doctest: +SKIP
    ...     accumulate(frame, ["bce"], labels="y", pred="p")
    """
    require_dask("distributed")
    import logging
    import warnings

    from distributed import Client, LocalCluster

    if not isinstance(n_workers, numbers.Integral) or isinstance(n_workers, bool) or n_workers < 1:
        raise LossInputError(f"n_workers must be a positive integer; got {n_workers!r}")
    logger = logging.getLogger("distributed")
    level = logger.level
    try:
        with warnings.catch_warnings():
            # with dashboard_address=None the scheduler still serves /health on 127.0.0.1:8787,
            # or on a free loopback port when another cluster holds 8787: not worth a warning
            warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
            cluster = LocalCluster(
                n_workers=int(n_workers), threads_per_worker=threads_per_worker, processes=processes,
                host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit,
                silence_logs=logging.CRITICAL if quiet else logging.ERROR,
            )
        try:
            client = Client(cluster, set_as_default=True)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def connect(address, *, timeout=10.0):
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``), set as the default
    for ``dask.compute`` inside the block. Raises :class:`ConnectionError` with one line naming
    the address when it cannot be reached within ``timeout`` seconds."""
    require_dask("distributed")
    from distributed import Client

    if not isinstance(address, str) or not address.strip():
        raise LossInputError(f"scheduler address must be a non-empty string like tcp://host:8786; got {address!r}")
    try:
        client = Client(address.strip(), timeout=f"{float(timeout)}s", set_as_default=True)
    except (OSError, TimeoutError) as e:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address} within {float(timeout):g} s ({one_line(e, 200)})") from None
    except (ValueError, TypeError) as e:
        raise ConnectionError(f"cannot use {address!r} as a Dask scheduler address ({one_line(e, 200)})") from None
    try:
        yield client
    finally:
        client.close()
