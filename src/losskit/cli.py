"""The ``losskit`` command line (also ``python -m losskit``).

Subcommands:

- ``losskit eval``: losses of labels vs predictions read from CSV/TSV, NPY, NPZ or Parquet
  files, streamed in chunks with constant memory; prints a table, JSON or CSV.
- ``losskit list``: the registered losses, their aliases, task and inputs.
- ``losskit explain NAME``: formula, gradient, when to use it, pitfalls, peers (``--lang ko``).
- ``losskit plot NAME[,NAME...]``: value and gradient curves written to PNG/SVG.

Every expected problem (bad files, columns, values, unknown losses or options) ends the
command with exit status 2 and one line on stderr; ``main(argv)`` returns the status.

This module is the interface: arguments, loss options, and printing or writing results
(tables, JSON, CSV, ``-o`` written atomically). The evaluation itself (reading the sources,
accumulating the losses, the result record) is :mod:`losskit.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
import warnings
from typing import Any

from ._array.validate import LossInputError
from .evaluate import EvalError, accumulators, evaluate_dataset, evaluate_files, plain_options
from .io import DataError, is_dataset
from .spec import option_from_text

__all__ = ["main", "CliError"]

PROG = "losskit"


class CliError(EvalError):
    """A usage problem the command reports in one line (exit status 2)."""


# -- argument parsing ----------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (argparse's convention), plus a usage hint
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(
        prog=PROG,
        description="Loss functions from the shell: evaluate prediction files, list, explain and plot losses.",
        epilog="Run 'losskit COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"losskit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    ev = sub.add_parser(
        "eval",
        help="evaluate losses of labels vs predictions read from files",
        description=textwrap.dedent("""\
            Evaluate one or more losses of labels vs predictions read from CSV/TSV (.csv .tsv .tab .txt,
            optionally .gz), NPY, NPZ or Parquet files. Files are read in chunks, so memory stays
            constant however long they are; the result equals the one-shot library call on the same arrays.

            A source is FILE, FILE:COLUMNS or, when a DATA file is given, just COLUMNS. COLUMNS is a
            comma-separated list of names, globs (p*) and ranges (p0..p9), in file order; one column gives
            a vector, several a (rows, columns) block (e.g. class probabilities). Headerless CSV columns
            are named 0, 1, 2, ...; a 2-D .npy has columns 0..k-1; FILE.npz:KEY picks an array of an .npz.

            DATA may also be a dataset of many CSV or Parquet files: a glob ('preds/*.parquet', quoted) or a
            directory. It is read through dask.dataframe, each partition is evaluated into a streaming
            accumulator and the accumulators are merged (exactly) up a tree: in this process with threads, on a
            local cluster of worker processes (--local-cluster N) or on a running Dask cluster (--scheduler).
            Needs pip install 'losskit[dask]'."""),
        epilog=textwrap.dedent("""\
            examples:
              losskit eval data.csv --labels y --pred p --loss bce
              losskit eval iris.csv --labels label --pred 'p*' --loss sparse_categorical_cross_entropy --format json
              losskit eval --labels y.npy --pred logits.npy --loss bce,hinge --from-logits
              losskit eval preds.parquet --labels target --pred pred --loss huber --option delta=2 --weight w
              losskit eval 'preds/*.parquet' --labels y --pred p --loss bce --local-cluster 4
              losskit eval preds/ -l y -p 'p*' -L scce --scheduler tcp://10.0.0.5:8786"""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument("data", nargs="?", metavar="DATA", help="default data file for --labels/--pred/--weight given as COLUMNS")
    ev.add_argument("-l", "--labels", required=True, metavar="SOURCE", help="targets (y_true): FILE[:COLUMNS] or COLUMNS of DATA")
    ev.add_argument("-p", "--pred", required=True, metavar="SOURCE", help="predictions (y_pred): FILE[:COLUMNS] or COLUMNS of DATA")
    ev.add_argument("-L", "--loss", required=True, metavar="NAME[,NAME...]",
                    help="loss names or aliases (see 'losskit list'); several give one result each")
    ev.add_argument("-w", "--weight", metavar="SOURCE", help="per-row sample weights: FILE:COLUMN or COLUMN of DATA")
    ev.add_argument("--from-logits", action="store_true", help="predictions are logits (sets from_logits=True on losses that take it)")
    ev.add_argument("-O", "--option", action="append", default=[], metavar="[LOSS.]KEY=VALUE",
                    help="a loss option, e.g. delta=2 or label_smoothing=0.1 or 'class_weight=[1,2,3]' (JSON values); "
                         "prefix with a loss name to set it on that loss only (huber.delta=2); repeatable")
    ev.add_argument("-r", "--reduction", default="mean", choices=("mean", "sum", "sum_over_batch_size"),
                    help="how per-sample losses are combined (default: mean; weighted mean with --weight)")
    ev.add_argument("-f", "--format", choices=("table", "json", "csv"), default=None,
                    help="output format (default: table, or from the --output extension)")
    ev.add_argument("-o", "--output", metavar="FILE", help="write the result to FILE (atomically) instead of stdout")
    ev.add_argument("--chunk-rows", type=_positive_int, default=None, metavar="N",
                    help="rows per chunk (default: about one million numbers per chunk)")
    ev.add_argument("--delimiter", metavar="CHAR", help="CSV field delimiter (default: from the extension; 'tab' for tabs)")
    hdr = ev.add_mutually_exclusive_group()
    hdr.add_argument("--no-header", dest="header", action="store_false", default=None,
                     help="CSV files have no header row (columns are named 0, 1, 2, ...)")
    hdr.add_argument("--header", dest="header", action="store_true", help="CSV files start with a header row (default: detected)")
    ev.add_argument("--no-validate", action="store_true", help="skip the losses' range checks (faster; wrong inputs give wrong numbers)")
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    dk = ev.add_argument_group("datasets over many files (Dask; pip install 'losskit[dask]')")
    where = dk.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="evaluate DATA on the running Dask cluster at ADDRESS (e.g. tcp://10.0.0.5:8786)")
    where.add_argument("--local-cluster", type=_positive_int, metavar="N",
                       help="start a local Dask cluster of N single-threaded worker processes (loopback only) for DATA")
    dk.add_argument("--scheduler-timeout", type=_positive_float, default=10.0, metavar="SECONDS",
                    help="give up connecting to --scheduler after SECONDS (default: 10)")
    ev.set_defaults(func=cmd_eval)

    ls = sub.add_parser("list", help="list the losses, aliases, task and inputs",
                        description="List the registered losses with their aliases, task, structure and inputs.")
    ls.add_argument("--json", action="store_true", help="print JSON (with options, defaults and summaries)")
    ls.set_defaults(func=cmd_list)

    ex = sub.add_parser("explain", help="explain a loss: formula, gradient, use, pitfalls, peers",
                        description="Explain a loss: formula, gradient, when to use it, pitfalls and the peers' "
                                    "equivalents. The course's six losses (mse, bce, categorical cross-entropy, hinge, "
                                    "KL divergence, Dice) get a full lesson with a live check of the naive formula.")
    ex.add_argument("name", metavar="NAME", help="loss name or alias")
    ex.add_argument("--lang", choices=("en", "ko"), default="en", help="language: en (default) or ko (Korean)")
    ex.set_defaults(func=cmd_explain)

    pl = sub.add_parser(
        "plot", help="plot value and gradient curves of losses (needs matplotlib)",
        description="Plot each loss's value and gradient against the prediction for the relevant targets "
                    "(y = 0 and 1 for binary losses, the residual for regression, the true class's probability "
                    "or logit for categorical losses, a foreground and a background pixel for overlap losses). "
                    "A loss may appear several times with different options: NAME:KEY=VALUE[:KEY=VALUE...], e.g. "
                    "losskit plot 'huber:delta=1,huber:delta=3' (an entry's own options win over -O). "
                    "Needs matplotlib: pip install 'losskit[plot]'.",
    )
    pl.add_argument("names", metavar="NAME[:KEY=VALUE...][,NAME...]",
                    help="losses to draw on one figure, each with its own options if given (huber:delta=3)")
    pl.add_argument("-o", "--output", metavar="FILE", help="image file, .png or .svg (default: losskit-plot.png)")
    pl.add_argument("--target", metavar="Y[,Y...]", help="target values for elementwise losses (default: 0,1 for binary, 0 for regression)")
    pl.add_argument("--range", dest="x_range", metavar="LO,HI", help="prediction range on the x axis")
    pl.add_argument("--points", type=_positive_int, default=201, help="points per curve (default: 201)")
    pl.add_argument("--from-logits", action="store_true", help="plot against logits (losses that take from_logits)")
    pl.add_argument("-O", "--option", action="append", default=[], metavar="[LOSS.]KEY=VALUE", help="a loss option (as in eval)")
    pl.add_argument("--dpi", type=_positive_int, default=100, help="PNG resolution (default: 100)")
    pl.set_defaults(func=cmd_plot)
    return p


MAX_COUNT = 1 << 31  # --chunk-rows, --points, ...: beyond it a count is a typo, not a size


def _positive_int(text):
    try:
        v = int(text) if len(text) < 20 else 0
    except ValueError:
        v = 0
    if not 1 <= v <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {MAX_COUNT:,}; got {_clip(text)}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {_clip(text)}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {_clip(text)}")
    return v


# -- options -------------------------------------------------------------------------------
def _clip(text, limit=60):
    """``repr(text)`` for a message, cut to ``limit`` characters (user text can be anything)."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[:limit]}... ({len(text):,} characters)"


def resolve_losses(spec: str):
    """Canonical names (duplicates removed, order kept) for ``NAME[,NAME...]``."""
    from .registry import resolve

    names = []
    for token in spec.split(","):
        token = token.strip()
        if not token:
            raise CliError(f"empty loss name in {spec!r}")
        name = resolve(token)
        if name not in names:
            names.append(name)
    return names


def route_options(names, option_args, from_logits=False):
    """``{loss: {key: value}}`` from ``[LOSS.]KEY=VALUE`` strings; unscoped options go to every
    loss that takes them and must be taken by at least one."""
    from .registry import LOSSES, resolve
    from .spec import COMMON_OPTIONS

    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    items: list[tuple[str, Any, str | None]] = [("from_logits", True, None)] if from_logits else []
    for arg in option_args:
        if "=" not in arg:
            raise CliError(f"--option {_clip(arg)}: expected KEY=VALUE (e.g. delta=2)")
        key, value = arg.split("=", 1)
        key = key.strip().replace("-", "_")
        scope = None
        if "." in key:
            scope_name, key = key.rsplit(".", 1)
            scope = resolve(scope_name)
            if scope not in per:
                raise CliError(f"--option {_clip(arg)}: {scope} is not among the losses being used ({', '.join(names)})")
        items.append((key, option_from_text(value.strip()), scope))
    for key, value, scope in items:
        if key == "reduction":
            raise CliError("set the reduction with --reduction, not --option")
        if key == "sample_weight":
            raise CliError("give sample weights with --weight FILE:COLUMN, not --option")
        targets = [scope] if scope else [n for n in names if key in LOSSES[n].record.options or key in COMMON_OPTIONS]
        if not targets:
            flag = "--from-logits" if key == "from_logits" and value is True and scope is None else f"option {key!r}"
            known = sorted({k for n in names for k in LOSSES[n].record.options})
            raise CliError(f"{flag} does not apply to {', '.join(names)}; their options are: {', '.join(known) or '(none)'}")
        for n in targets:
            per[n][key] = value
    for n in names:  # reject unknown names with the library's message
        LOSSES[n].configured(**per[n])
    return per


# -- eval ----------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar on stderr when it is a terminal."""

    def __init__(self, enabled, label):
        self.enabled = enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.label = label
        self.last = 0.0
        self.shown = False

    def update(self, rows, fraction):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        width = 30
        if fraction is None:
            bar = f"{rows:,} rows"
        else:
            done = int(width * min(max(fraction, 0.0), 1.0))
            bar = f"[{'#' * done}{'.' * (width - done)}] {100 * fraction:5.1f}%  {rows:,} rows"
        sys.stderr.write(f"\r{self.label}: {bar}")
        sys.stderr.flush()
        self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def cmd_eval(args):
    with warnings.catch_warnings():  # overflow in a loss: the result check says it in one line
        warnings.simplefilter("ignore", RuntimeWarning)
        return _eval(args)


def _eval(args):
    names = resolve_losses(args.loss)
    opts = route_options(names, args.option, args.from_logits)
    if args.no_validate:
        for n in names:
            opts[n]["validate"] = False
    accs = accumulators(names, opts, args.reduction)
    request = {"data": args.data, "labels": args.labels, "pred": args.pred, "weight": args.weight,
               "reduction": args.reduction, "delimiter": args.delimiter, "header": args.header}

    if args.scheduler is not None or args.local_cluster is not None or is_dataset(args.data):
        if args.data is None:
            raise CliError("--scheduler and --local-cluster evaluate a dataset: give DATA (a CSV/Parquet file, a quoted "
                           "glob or a directory) and --labels/--pred/--weight as COLUMNS of it")
        if args.chunk_rows is not None:
            raise CliError("--chunk-rows does not apply to a dataset: each partition (a Parquet file or row group, "
                           "a 64 MiB block of CSV) is evaluated as one chunk")
        out = evaluate_dataset(accs, **request, **_cluster(args))
    else:
        progress = _Progress(not args.quiet, "losskit eval")
        try:
            out = evaluate_files(accs, **request, chunk_rows=args.chunk_rows, progress=progress.update)
        finally:
            progress.close()
    return _emit(args, out)


def _cluster(args):
    """Where a dataset is computed: ``{"cluster": context manager, "where": description}``, or
    nothing for local threads."""
    if args.local_cluster is None and args.scheduler is None:
        return {}
    from . import distributed as dist

    if args.local_cluster is not None:
        return {"cluster": dist.local_cluster(args.local_cluster, quiet=True),
                "where": f"a local cluster of {args.local_cluster} worker process(es)"}
    return {"cluster": dist.connect(args.scheduler, timeout=args.scheduler_timeout),
            "where": f"the Dask scheduler at {args.scheduler}"}


def _format_from_path(path):
    if path:
        ext = os.path.splitext(path)[1].lower()
        if ext == ".json":
            return "json"
        if ext in (".csv", ".tsv"):
            return "csv"
    return "table"


def _opts_text(opts):
    return " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in opts.items())


def _emit(args, out):
    """Write an eval result in the requested format to --output (atomically) or stdout."""
    text = render(out, args.format or _format_from_path(args.output))
    if args.output is not None:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def render(out, fmt):
    """The eval result as text: an aligned table, JSON or CSV."""
    if fmt == "json":
        return json.dumps(out, indent=2) + "\n"
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(["loss", "options", "reduction", "value", "rows"])
        for r in out["results"]:
            wr.writerow([r["loss"], _opts_text(r["options"]), out["reduction"], repr(r["value"]), out["rows"]])
        return buf.getvalue()
    header = ["loss", "options", "value"]
    body = [[r["loss"], _opts_text(r["options"]) or "-", f"{r['value']:.10g}"] for r in out["results"]]
    if all(b[1] == "-" for b in body):
        header.pop(1)
        body = [[b[0], b[2]] for b in body]
    lines = _table([header, *body], right={len(header) - 1})
    src = f"{out['reduction']} over {out['rows']:,} rows · labels {out['labels']} · pred {out['pred']}"
    if out.get("weight"):
        src += f" · weight {out['weight']}"
    if out.get("partitions") is not None:
        files = f"{out['files']} file(s), " if out.get("files") else ""
        src += f" · {files}{out['partitions']} partition(s) on {out['scheduler']}"
    return "\n".join(lines) + "\n" + src + "\n"


def _table(rows, right=(), wrap_last=None):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        cells = [str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def write_atomic(path, text, *, binary=False):
    """Write ``text`` to ``path`` through a temporary file in the same folder and os.replace.

    The file gets the mode a new file gets (0666 less the umask), not mkstemp's 0600. A symlink
    is written through (its target is replaced, the link stays); a device or FIFO (/dev/stdout,
    a named pipe) is written directly, since replacing it would not deliver the text."""
    if not path:
        raise DataError("--output: empty file name")
    target = os.path.realpath(path)  # through symlinks, so the link itself stays
    if os.path.exists(target) and not os.path.isfile(target) and not os.path.isdir(target):
        with open(target, "wb") as out:
            out.write(text if binary else text.encode("utf-8"))
        return
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise DataError(f"--output {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".losskit-", suffix=".tmp", dir=folder)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- list ------------------------------------------------------------------------------------
def loss_catalog():
    """One dict per registered loss (name, aliases, task, structure, inputs, summary, options, streams)."""
    from .registry import LOSSES, aliases_of

    out = []
    for name in sorted(LOSSES):
        rec = LOSSES[name].record
        out.append({
            "name": name,
            "aliases": aliases_of(name),
            "task": rec.task,
            "structure": rec.structure,
            "inputs": rec.inputs,
            "summary": rec.summary,
            "options": plain_options(dict(rec.options)),
            "streamable": bool(rec.streamable),
        })
    return out


def _input_kind(inputs):
    """The y_pred part of a record's inputs text (what kind of prediction it takes)."""
    text = inputs or ""
    key = "y_pred:"
    if key in text:
        text = text.split(key, 1)[1]
    return text.strip().rstrip(".") or "-"


def cmd_list(args):
    cat = loss_catalog()
    if args.json:
        sys.stdout.write(json.dumps(cat, indent=2) + "\n")
        return 0
    width = shutil.get_terminal_size((120, 24)).columns
    name_w = max(len(c["name"]) for c in cat)
    task_w = min(28, max(len(c["task"] or "-") for c in cat))
    room = max(30, width - name_w - task_w - 4)
    lines = [f"{'name'.ljust(name_w)}  {'task'.ljust(task_w)}  input (y_pred)",
             f"{'-' * name_w}  {'-' * task_w}  {'-' * min(room, 40)}"]
    for c in cat:
        task = textwrap.wrap(c["task"] or "-", task_w) or ["-"]
        inp = textwrap.wrap(_input_kind(c["inputs"]), room) or [""]
        for k in range(max(len(task), len(inp))):
            left = c["name"] if k == 0 else ""
            mid = task[k] if k < len(task) else ""
            right = inp[k] if k < len(inp) else ""
            lines.append(f"{left.ljust(name_w)}  {mid.ljust(task_w)}  {right}".rstrip())
        if c["aliases"]:
            lines.extend(textwrap.wrap("aliases: " + ", ".join(c["aliases"]), max(40, width - 4),
                                       initial_indent="    ", subsequent_indent="      "))
    lines.append(f"{len(cat)} losses; 'losskit explain NAME' for details")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# -- explain / plot --------------------------------------------------------------------------
def cmd_explain(args):
    from .explain import explain

    sys.stdout.write(explain(args.name, lang=args.lang).rstrip() + "\n")
    return 0


def cmd_plot(args):
    from .plot import MissingMatplotlib, parse_entry, parse_range, parse_targets, plot, split_entries

    entries = split_entries(args.names)  # NAME or NAME:KEY=VALUE[:KEY=VALUE...]
    names = list(dict.fromkeys(parse_entry(e)[0] for e in entries))
    opts = route_options(names, args.option, args.from_logits)
    output = args.output or "losskit-plot.png"
    try:
        path = plot(entries, output=output, options=opts, targets=parse_targets(args.target),
                    x_range=parse_range(args.x_range), points=args.points, dpi=args.dpi)
    except MissingMatplotlib as e:
        raise CliError(str(e)) from None
    sys.stdout.write(f"wrote {path}\n")
    return 0


# -- entry point -------------------------------------------------------------------------------
def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        return int(args.func(args) or 0)
    except (EvalError, DataError, LossInputError) as e:  # CliError is an EvalError
        _fail(e)
        return 2
    except MemoryError:  # a last line of defence: the readers bound memory, but never a traceback
        _fail("out of memory (the input is too large for the memory available)")
        return 2
    except RecursionError:
        _fail("the input is nested too deeply")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 141
    except OSError as e:
        name = f"{e.filename}: " if getattr(e, "filename", None) else ""
        _fail(f"{name}{e.strerror or e}")
        return 2


def _one_line(text) -> str:
    return " ".join(str(text).split())


MAX_MESSAGE_CHARS = 2000  # an error line quoting user input is cut here


def _fail(err):
    msg = _one_line(err)
    if len(msg) > MAX_MESSAGE_CHARS:
        msg = msg[:MAX_MESSAGE_CHARS] + f"... ({len(msg):,} characters)"
    sys.stderr.write(f"{PROG}: error: {msg}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
