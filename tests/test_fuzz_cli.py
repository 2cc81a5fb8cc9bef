"""Fuzzing ``losskit eval`` with hostile files and flags, under a memory limit and a timeout.

A generator writes mutations of valid CSV, .csv.gz, NPY, NPZ and Parquet files (flipped,
inserted and dropped bytes, truncations), files that lie (NPY/NPZ headers claiming huge
shapes, zip members flagged encrypted or with an unknown compression method, gzip bombs of
one endless line), malformed tables (long fields, ragged rows, open quotes, duplicate
columns), dataset folders holding a FIFO or a link to a device, and bad flags. Every case must
honour the command line's contract: exit 0 with a result on stdout, or exit 2 with exactly one
line on stderr; never a traceback, never "out of memory", never past the timeout.

The cases run in a few child processes (``python tests/test_fuzz_cli.py --child``, each running
many cases through ``losskit.cli.main`` to spare the interpreter start-up) whose address space
is capped with ``RLIMIT_AS``; a few more run as ``python -m losskit`` itself. The number of
generated cases is ``LOSSKIT_FUZZ_CASES`` (default 150; a long run: 1000).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_LIMIT = 1536 << 20  # address space of a child: the readers must stay far below it
CASE_SECONDS = 30  # one case may take this long (a child's whole batch gets more)
PEAK_MIB = 500  # peak resident memory of a child, its imports (numpy, pyarrow, dask: ~200 MiB) included
N_CASES = int(os.environ.get("LOSSKIT_FUZZ_CASES", "150"))

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # Parquet cases need the extra
    pa = pq = None
try:
    import dask.dataframe  # noqa: F401

    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False


# -- valid files ---------------------------------------------------------------------------
def _data(rng, n):
    y = (rng.random(n) < 0.4).astype(np.float64)
    p = np.clip(rng.random(n), 1e-6, 1 - 1e-6)
    return y, p


def _csv_text(y, p, rng):
    rows = [f"{int(a)},{b!r},r{k}" for k, (a, b) in enumerate(zip(y.tolist(), p.tolist()))]
    return "y,p,id\n" + "\n".join(rows) + ("\n" if rng.random() < 0.8 else "")


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def _npy_bytes(arr, fortran=False):
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(arr) if fortran else arr)
    return buf.getvalue()


def _npz_bytes(arrays, compressed):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _parquet_bytes(table):
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=max(1, table.num_rows // 3 or 1))
    return buf.getvalue()


# -- lies and damage -------------------------------------------------------------------------
def _mutate(data: bytes, rng: random.Random) -> bytes:
    """One random kind of damage: flipped bytes, a truncation, inserted or dropped bytes."""
    b = bytearray(data)
    kind = rng.choice(["flip", "truncate", "insert", "drop", "zero", "dup"])
    if not b:
        return bytes(rng.randbytes(8))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == "truncate":
        del b[rng.randrange(len(b)):]
    elif kind == "insert":
        at = rng.randrange(len(b) + 1)
        b[at:at] = rng.randbytes(rng.randint(1, 64))
    elif kind == "drop":
        at = rng.randrange(len(b))
        del b[at:at + rng.randint(1, 64)]
    elif kind == "zero":
        at = rng.randrange(len(b))
        b[at:at + rng.randint(1, 256)] = bytes(min(len(b) - at, 256))
    else:
        at = rng.randrange(len(b))
        b[at:at] = b[at:at + rng.randint(1, 512)]
    return bytes(b)


def _claim_shape(npy: bytes, shape) -> bytes:
    """An NPY file whose header claims ``shape`` (the data stays as it was)."""
    return _claim(npy, "'shape':", ")", f"'shape': {tuple(shape)!r}")


def _claim_descr(npy: bytes, descr: str) -> bytes:
    """An NPY file whose header claims the dtype ``descr`` (written as is: it may be nonsense)."""
    return _claim(npy, "'descr':", ",", f"'descr': {descr},")


def _claim(npy, key, stop, text):
    hlen = struct.unpack("<H", npy[8:10])[0]
    header = npy[10:10 + hlen].decode("latin1")
    start = header.index(key)
    end = header.index(stop, start) + 1
    header = header[:start] + text + header[end:]
    header = header.rstrip("\n ")
    total = 10 + len(header) + 1
    header += " " * ((-total) % 64) + "\n"
    return npy[:8] + struct.pack("<H", len(header)) + header.encode("latin1") + npy[10 + hlen:]


def _zip_flag(npz: bytes, *, encrypted=False, method=None) -> bytes:
    """A zip whose members claim to be encrypted or compressed by an unknown method."""
    b = bytearray(npz)
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = b.find(sig)
        while at >= 0:
            if encrypted:
                b[at + flag_at] |= 1
            if method is not None:
                b[at + method_at:at + method_at + 2] = struct.pack("<H", method)
            at = b.find(sig, at + 4)
    return bytes(b)


# -- the case generator --------------------------------------------------------------------------
def hostile_cases(folder, n, seed=0, expected=None):
    """``n`` argument lists for ``losskit eval``, with their files written under ``folder``.
    Deterministic for a seed. Some cases are valid files: ``expected`` (a dict), when given,
    receives ``{case index: {loss name: value}}`` for them, computed by the library itself on
    the arrays written (``--format json`` makes their output comparable)."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    cases: list[list[str]] = []
    losses = ["bce", "mse", "bce,hinge", "huber", "mae"]

    def path(name):
        return os.path.join(folder, f"{len(cases)}-{name}")

    def add(*argv):
        cases.append([str(a) for a in argv])

    fixed = _fixed_cases(folder, nprng)
    kinds = ["csv", "gz", "npy", "npz", "parquet" if pq else "csv", "csvtext", "flags", "valid", "valid"]
    if HAVE_DASK:
        kinds.append("dataset")
    while len(cases) < n - len(fixed):
        y, p = _data(nprng, rng.randint(1, 300))
        loss = rng.choice(losses)
        kind = rng.choice(kinds)
        if kind == "valid":  # an undamaged file in any format: the result must be the library's
            fmt = rng.choice(["csv", "csv.gz", "npy", "npz"] + (["parquet"] if pq else []))
            if fmt.startswith("csv"):
                data = _csv_text(y, p, rng).encode()
                f = _write(path("v." + fmt), gzip.compress(data) if fmt.endswith("gz") else data)
                roles = ["-l", f"{f}:y", "-p", f"{f}:p"]
            elif fmt == "npy":
                roles = ["-l", _write(path("vy.npy"), _npy_bytes(y)), "-p", _write(path("vp.npy"), _npy_bytes(p))]
            elif fmt == "npz":
                f = _write(path("v.npz"), _npz_bytes({"y": y, "p": p}, compressed=rng.random() < 0.5))
                roles = ["-l", f"{f}:y", "-p", f"{f}:p"]
            else:
                f = _write(path("v.parquet"), _parquet_bytes(pa.table({"y": y, "p": p})))
                roles = ["-l", f"{f}:y", "-p", f"{f}:p"]
            if expected is not None:
                import losskit as lk
                from losskit.registry import resolve

                expected[len(cases)] = {resolve(nm): float(lk.get(nm)(y, p)) for nm in loss.split(",")}
            add("eval", *roles, "-L", loss, "--format", "json", "--chunk-rows", rng.choice(["1", "13", "100000"]))
        elif kind == "dataset":  # a folder read through Dask, one of its files damaged
            folder_k = path("ds")
            os.makedirs(folder_k, exist_ok=True)
            parquet = pq is not None and rng.random() < 0.5
            for part in range(3):
                lo, hi = part * len(y) // 3, (part + 1) * len(y) // 3
                if parquet:
                    data = _parquet_bytes(pa.table({"y": y[lo:hi], "p": p[lo:hi]}))
                else:
                    data = _csv_text(y[lo:hi], p[lo:hi], rng).encode()
                _write(os.path.join(folder_k, f"part{part}." + ("parquet" if parquet else "csv")),
                       _mutate(data, rng) if part == 1 else data)
            add("eval", folder_k, "-l", "y", "-p", "p", "-L", loss)
        elif kind in ("csv", "gz"):
            data = _csv_text(y, p, rng).encode()
            if kind == "gz":
                data = gzip.compress(data)
            f = _write(path("d.csv" + (".gz" if kind == "gz" else "")), _mutate(data, rng))
            add("eval", f, "-l", "y", "-p", "p", "-L", loss, *rng.choice(_CSV_FLAGS))
        elif kind == "csvtext":  # damage at the level of text: cells, quotes, fields
            lines = _csv_text(y, p, rng).split("\n")
            k = rng.randrange(len(lines))
            cell = rng.choice(['"', '"0.5', "x" * rng.choice([10, 140_000]), "nan", "1e999", "", ",,", "\x00",
                               "0.5,1,2", "\r", "\ufeff", "-0", "1_0", "0x10", '"1"'])
            lines[k] = lines[k] + cell if rng.random() < 0.5 else cell + lines[k]
            f = _write(path("t.csv"), "\n".join(lines).encode("utf-8", "surrogatepass"))
            add("eval", f, "-l", "y", "-p", "p", "-L", loss, "--chunk-rows", rng.choice(["1", "7", "100000"]))
        elif kind == "npy":
            fy, fp = _write(path("y.npy"), _npy_bytes(y)), path("p.npy")
            data = _npy_bytes(p)
            if rng.random() < 0.3:
                data = _claim_shape(data, rng.choice([(10**12,), (40, 10**9), (2**62, 4), (len(p), 0), (10**15, 0), (0,),
                                                      (0, 10**15), (len(p) // 2, 2), (1, len(p)), (-1,), (2**64,)]))
            elif rng.random() < 0.3:
                data = _claim_descr(data, rng.choice(["'<f4'", "'>f8'", "'<i8'", "'|b1'", "'<c16'", "'|O'", "'<U2'",
                                                      "'<M8[s]'", "[('a', '<f8')]", "[('a', '<f4'), ('b', '<i4')]",
                                                      "'<f2'", "'|V8'", "'<f16'", "'S8'", "[]", "'x'", "1", "None"]))
            _write(fp, _mutate(data, rng) if rng.random() < 0.7 else data)
            add("eval", "-l", fy, "-p", fp, "-L", loss)
        elif kind == "npz":
            data = _npz_bytes({"y": y, "p": p}, compressed=rng.random() < 0.5)
            r = rng.random()
            if r < 0.15:
                data = _zip_flag(data, encrypted=True)
            elif r < 0.3:
                data = _zip_flag(data, method=rng.choice([1, 9, 12, 14, 99]))
            else:
                data = _mutate(data, rng)
            f = _write(path("d.npz"), data)
            add("eval", "-l", f"{f}:y", "-p", f"{f}:p", "-L", loss)
        elif kind == "parquet":
            data = _parquet_bytes(pa.table({"y": y, "p": p}))
            f = _write(path("d.parquet"), _mutate(data, rng))
            add("eval", f, "-l", "y", "-p", "p", "-L", loss)
        else:
            f = _write(path("ok.csv"), _csv_text(y, p, rng).encode())
            add("eval", f, "-l", "y", "-p", "p", "-L", loss, *rng.choice(_BAD_FLAGS))
    if expected is not None:  # the fixed cases come first
        shifted = {k + len(fixed): v for k, v in expected.items()}
        expected.clear()
        expected.update(shifted)
    return fixed + cases


_CSV_FLAGS = [[], [], ["--no-header"], ["--header"], ["-w", "p"], ["--from-logits"], ["--chunk-rows", "1"],
              ["--delimiter", "tab"], ["--no-validate"], ["-r", "sum"], ["-f", "csv"]]
_BAD_FLAGS = [
    ["-O", "delta=" + "[" * 100_000], ["-O", "delta=" + "-" * 100_000 + "1"], ["-O", "delta=" + "(" * 5000],
    ["-O", "delta=" + "x" * 200_000], ["-O", "delta=1e999"], ["-O", "delta=nan"], ["-O", "delta=10**400"],
    ["-O", "delta=" + "9" * 5000], ["-O", "bad\nkey=1"], ["-O", "delta=1\nsecond line"], ["-O", "="],
    ["-O", "huber.delta\n=2"], ["--chunk-rows", "1e30"], ["--chunk-rows", "1" + "0" * 30], ["--chunk-rows", "0"],
    ["--chunk-rows", "-5"], ["--chunk-rows", "2147483648"], ["-o", ""], ["--delimiter", "\n"],
    ["--delimiter", '"'], ["--delimiter", ""], ["-L", "bce\nmse"], ["-l", "y\nz"], ["-f", "xml\n"],
    ["--scheduler-timeout", "nan"], ["-O", "class_weight=[" + "1," * 50_000 + "1]"], ["-w", "p,y"],
    ["-O", "from_logits=" + "{" * 3000], ["--reduction", "sum\n"],
]


def _fixed_cases(folder, nprng):
    """The hand-written hostile cases of issue 16 (each run every time)."""
    cases = []
    y, p = _data(nprng, 50)
    text = _csv_text(y, p, random.Random(1))

    def f(name, data):
        return _write(os.path.join(folder, "fixed-" + name), data if isinstance(data, bytes) else data.encode())

    base = ["-l", "y", "-p", "p", "-L", "bce"]
    cases.append(["eval", f("longcell.csv", text.replace("r3\n", "r" + "x" * 200_000 + "\n")), *base])
    cases.append(["eval", f("longhead.csv", text.replace("id", "i" * 200_000, 1)), *base])
    cases.append(["eval", f("extra.csv", text.replace("r3\n", "r3,9,9\n")), *base])
    cases.append(["eval", f("quote.csv", text.replace("r3\n", '"r3\n')), *base])
    bomb = gzip.compress(b"y,p\n" + b"0" * (40 << 20), compresslevel=9)  # one 40 MB line
    cases.append(["eval", f("bomb.csv.gz", bomb), *base])
    cases.append(["eval", f("bad.csv.gz", gzip.compress(text.encode())[:-30] + b"garbage" * 5), *base])
    wide = ",".join(f"c{k}" for k in range(100_000))
    cases.append(["eval", f("wide.csv", wide + "\n" + ",".join(["0.5"] * 100_000) + "\n"),
                  "-l", "c0", "-p", "c1..c99999", "-L", "mse"])
    big = _npy_bytes(np.zeros(4))
    cases.append(["eval", "-l", f("claim.npy", _claim_shape(big, (40, 10**9))), "-p",
                  f("claim2.npy", _claim_shape(big, (2**40, 2**40))), "-L", "mse"])
    npz = _npz_bytes({"y": np.zeros(4), "p": np.zeros(4)}, compressed=True)
    with zipfile.ZipFile(os.path.join(folder, "fixed-claim.npz"), "w") as z:  # a 200-byte NPZ claiming 320 GB
        z.writestr("p.npy", _claim_shape(_npy_bytes(np.zeros(4)), (40, 10**9)))
        z.writestr("y.npy", _npy_bytes(np.zeros(4)))
    claim = os.path.join(folder, "fixed-claim.npz")
    cases.append(["eval", "-l", f"{claim}:y", "-p", f"{claim}:p", "-L", "mse"])
    cases.append(["eval", "-l", f("enc.npz", _zip_flag(npz, encrypted=True)) + ":y", "-p",
                  os.path.join(folder, "fixed-enc.npz") + ":p", "-L", "mse"])
    cases.append(["eval", "-l", f("meth.npz", _zip_flag(npz, method=99)) + ":y", "-p",
                  os.path.join(folder, "fixed-meth.npz") + ":p", "-L", "mse"])
    fz = os.path.join(folder, "fixed-fortran.npz")  # column-major and 80 MB: refused, not read whole
    with zipfile.ZipFile(fz, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("y", "p"):
            z.writestr(f"{name}.npy", _npy_bytes(np.zeros((5_000_000, 2)), fortran=True))
    small = os.path.join(folder, "fixed-fortran-small.npz")  # column-major and small: read whole
    np.savez(small, y=np.asfortranarray(np.eye(3)[[0, 1, 2, 1]]), p=np.asfortranarray(np.full((4, 3), 1 / 3)))
    cases.append(["eval", "-l", f"{small}:y", "-p", f"{small}:p", "-L", "cce"])
    cases.append(["eval", "-l", f"{fz}:y", "-p", f"{fz}:p", "-L", "mse"])
    wide_row = _npz_bytes({"y": np.zeros((2, 5_000_000), bool), "p": np.zeros((2, 5_000_000), bool)}, True)
    wz = f("widerow.npz", wide_row)
    cases.append(["eval", "-l", f"{wz}:y", "-p", f"{wz}:p", "-L", "mse"])
    cases.append(["eval", "-l", f("img.npy", _npy_bytes(np.zeros((64, 256, 256), np.float32))), "-p",
                  os.path.join(folder, "fixed-img.npy"), "-L", "mse"])
    cases.append(["eval", f("ok.csv", text), *base, "-o", ""])
    if pq is not None:
        dup = pa.Table.from_arrays([pa.array(y), pa.array(p), pa.array(p)], names=["y", "p", "p"])
        cases.append(["eval", f("dup.parquet", _parquet_bytes(dup)), *base])
    if HAVE_DASK:
        ds = os.path.join(folder, "fixed-ds")
        os.makedirs(ds, exist_ok=True)
        _write(os.path.join(ds, "a.csv"), text.encode())
        for name, target in (("z.csv", "/dev/zero"), ("n.csv", "/dev/null")):
            link = os.path.join(ds, name)
            if not os.path.lexists(link):
                os.symlink(target, link)
        cases.append(["eval", ds, *base])
        fifo_ds = os.path.join(folder, "fixed-fifo")
        os.makedirs(fifo_ds, exist_ok=True)
        _write(os.path.join(fifo_ds, "a.csv"), text.encode())
        if not os.path.exists(os.path.join(fifo_ds, "f.csv")):
            os.mkfifo(os.path.join(fifo_ds, "f.csv"))
        cases.append(["eval", fifo_ds, *base])
        if pq is not None:
            pds = os.path.join(folder, "fixed-pds")
            os.makedirs(pds, exist_ok=True)
            pq.write_table(pa.table({"y": y, "p": p}), os.path.join(pds, "a.parquet"))
            pq.write_table(pa.table({"y": y, "p": [repr(v) for v in p]}), os.path.join(pds, "b.parquet"))
            cases.append(["eval", pds, *base])
    return cases


# -- the child: many cases in one process -------------------------------------------------------
class _Timeout(BaseException):
    pass


def _child(cases_file, results_file):
    """Run each case through ``losskit.cli.main`` with stdout/stderr captured and an alarm;
    write one JSON line per case (flushed, so a crash still leaves the earlier ones)."""
    import traceback

    from losskit.cli import main

    def alarm(signum, frame):
        raise _Timeout()

    signal.signal(signal.SIGALRM, alarm)
    with open(cases_file) as f:
        cases = json.load(f)
    with open(results_file, "w") as out:
        for index, argv in cases:
            o, e = io.StringIO(), io.StringIO()
            rec = {"argv": [a[:80] for a in argv], "index": index}
            signal.alarm(CASE_SECONDS)
            try:
                with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
                    rec["rc"] = main(argv)
            except _Timeout:
                rec["rc"], rec["raised"] = None, f"timeout after {CASE_SECONDS} s"
            except BaseException:  # noqa: BLE001 - the contract's breach is what we report
                rec["rc"], rec["raised"] = None, traceback.format_exc()[-2000:]
            finally:
                signal.alarm(0)
            rec["stdout"], rec["stderr"] = o.getvalue()[:20_000], e.getvalue()[-20_000:]
            out.write(json.dumps(rec) + "\n")
            out.flush()
        with open("/proc/self/status") as st:
            hwm = next((int(line.split()[1]) for line in st if line.startswith("VmHWM")), 0)
        out.write(json.dumps({"peak_rss_kib": hwm}) + "\n")


def _limit_memory():
    """Cap this process's address space. The children call it themselves, first thing:
    ``preexec_fn`` runs Python between fork and exec, unsafe when the test process has threads."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


# ``python -m losskit ARGS`` with the memory limit set before anything is imported
_LIMITED_ENTRY = (f"import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
                  "sys.argv = ['losskit', *sys.argv[1:]]; runpy.run_module('losskit', run_name='__main__', alter_sys=True)")


def _child_env():
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    env.pop("COLUMNS", None)
    return env


def run_cases(cases, folder, batches=2):
    """Run ``cases`` in ``batches`` child processes under the memory limit; returns the records
    (one per case, plus ``{"peak_rss_kib"}`` per child)."""
    records = []
    procs = []
    for b in range(batches):
        part = list(enumerate(cases))[b::batches]
        cf, rf = os.path.join(folder, f"cases{b}.json"), os.path.join(folder, f"results{b}.jsonl")
        with open(cf, "w") as f:
            json.dump(part, f)
        cmd = [sys.executable, os.path.abspath(__file__), "--child", cf, rf]
        procs.append((subprocess.Popen(cmd, cwd=folder, env=_child_env(), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT), rf, part))
    for proc, rf, part in procs:
        out, _ = proc.communicate(timeout=CASE_SECONDS * (len(part) + 2))
        got = [json.loads(line) for line in open(rf)] if os.path.exists(rf) else []
        if proc.returncode != 0:  # the child died (killed for memory, a crash): the next case is the culprit
            done = sum(1 for r in got if "argv" in r)
            culprit = part[done][1] if done < len(part) else None
            records.append({"argv": culprit, "rc": None,
                            "raised": f"child exited {proc.returncode}: {out.decode(errors='replace')[-1500:]}"})
        records.extend(got)
    return records


_ERROR_LINE = re.compile(r"losskit( eval)?: error: ")  # argparse's usage errors name the subcommand


def breaches(records, expected=None):
    """The records that break the contract, with why (``expected``: see :func:`hostile_cases`)."""
    bad = []
    for r in records:
        if "argv" not in r:
            continue
        want = (expected or {}).get(r.get("index"))
        if want is not None:
            try:
                got = {x["loss"]: x["value"] for x in json.loads(r["stdout"])["results"]} if r["rc"] == 0 else None
            except ValueError:
                got = None
            if got is None or set(got) != set(want) or any(
                    not np.isclose(got[k], want[k], rtol=1e-9, atol=1e-12) for k in want):
                bad.append((r["argv"], f"a valid file: expected {want}, got {got} (exit {r['rc']})", r.get("stderr", "")))
                continue
        err = r.get("stderr", "")
        why = None
        if r.get("raised"):
            why = r["raised"]
        elif r["rc"] == 0:
            if not r["stdout"].strip() or err:
                why = "exit 0 without a result, or with stderr output"
        elif r["rc"] == 2:
            if err.count("\n") != 1 or not err.endswith("\n") or not _ERROR_LINE.match(err):
                why = "exit 2 without exactly one error line"
            elif "Traceback" in err or "out of memory" in err:
                why = "traceback or memory exhaustion"
        else:
            why = f"exit status {r['rc']}"
        if why:
            bad.append((r["argv"], why, err[-500:]))
    return bad


# -- the tests -------------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_hostile_files_and_flags_keep_the_contract(tmp_path):
    expected: dict = {}
    cases = hostile_cases(str(tmp_path / "files"), N_CASES, seed=int(os.environ.get("LOSSKIT_FUZZ_SEED", "0")),
                          expected=expected)
    records = run_cases(cases, str(tmp_path))
    done = [r for r in records if "argv" in r and r.get("rc") is not None]
    codes = {c: sum(1 for r in done if r["rc"] == c) for c in (0, 2)}
    peaks = [r["peak_rss_kib"] >> 10 for r in records if "peak_rss_kib" in r]
    print(f"\n{len(cases)} cases: exit 0 x{codes[0]}, exit 2 x{codes[2]}; peak RSS per child (MiB): {peaks}")
    bad = breaches(records, expected)
    assert expected and not bad, "\n".join(f"{argv}: {why}\n  {err}" for argv, why, err in bad[:10])
    assert len(done) == len(cases)
    assert peaks and max(peaks) < PEAK_MIB  # imports included: the readers added little whatever the files claimed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
@pytest.mark.parametrize("which", ["nesting", "claim.npz", "bomb.csv.gz"])
def test_real_command_under_memory_limit(tmp_path, which):
    """The entry point itself (``python -m losskit``, memory capped first), on three of the worst cases."""
    folder = str(tmp_path)
    cases = _fixed_cases(folder, np.random.default_rng(0))
    if which == "nesting":
        argv = ["eval", os.path.join(folder, "fixed-ok.csv"), "-l", "y", "-p", "p", "-L", "huber",
                "-O", "delta=" + "[" * 100_000]
    else:
        argv = next(c for c in cases if any(a.split(":")[0].endswith("fixed-" + which) for a in c))
    proc = subprocess.run([sys.executable, "-c", _LIMITED_ENTRY, *argv], cwd=folder, env=_child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and _ERROR_LINE.match(proc.stderr), proc.stderr
    assert "out of memory" not in proc.stderr


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _limit_memory()
    _child(sys.argv[2], sys.argv[3])
