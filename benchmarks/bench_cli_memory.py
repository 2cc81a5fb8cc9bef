"""Peak memory of ``losskit eval`` on a 10-million-row CSV, Parquet and NPY file.

Generates the files under a scratch folder (default /tmp/losskit-bench, never the repo), runs
``python -m losskit eval`` on each in a fresh subprocess, reads that process's peak resident
set size from ``os.wait4`` (``ru_maxrss``), and compares the streamed result with the
in-memory library call on the same arrays (1e-9 relative required)::

    python benchmarks/bench_cli_memory.py                 # 10M rows, CSV + Parquet + NPY
    python benchmarks/bench_cli_memory.py --rows 1000000 --formats csv
    python benchmarks/bench_cli_memory.py --hostile       # the files of issue 16 that ran away

``--hostile`` measures the peak memory of ``losskit eval`` on files whose size or claims once
made it run away (a wide-row NPY, a gzip bomb of one line, an NPZ header claiming 320 GB, a
column-major NPZ member, a 100,000-column CSV); each must end (exit 0 or 2) under the limit.

Linux only (ru_maxrss in KiB). Prints a Markdown table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_MB = 500.0
RTOL = 1e-9


def make_data(rows, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(np.float64)
    p = np.clip(rng.beta(2.0, 5.0, size=rows) + 0.4 * y, 1e-6, 1 - 1e-6)
    return y, p


def write_csv(path, y, p, block=500_000):
    """Shortest round-trip repr for every float, so the file holds exactly y and p."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,label,prob\n")
        for lo in range(0, len(y), block):
            ys, ps = y[lo:lo + block].tolist(), p[lo:lo + block].tolist()
            f.write("".join(f"r{lo + i},{int(a)},{b!r}\n" for i, (a, b) in enumerate(zip(ys, ps))))


def write_parquet(path, y, p):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"label": y, "prob": p}), path)


# The command runs inside this wrapper, which reports the process's own high-water mark
# (VmHWM of /proc/self/status) when it ends. ru_maxrss from wait4 is not usable here: Linux
# carries the parent's resident size into the child's ru_maxrss through fork/vfork + exec,
# so a child of this (large) benchmark process would report the benchmark's own size.
_WRAPPER = """
import runpy, sys
sys.argv = ["losskit", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("losskit", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
with open("/proc/self/status") as f:
    hwm = next(line.split()[1] for line in f if line.startswith("VmHWM"))
sys.stderr.write("\\nVMHWM_KIB " + hwm + "\\n")
sys.exit(code)
"""


def run_measured(args, env):
    """Run ``python -m losskit ARGS`` (or ``python -c CODE`` when args[0] == "-c"); return
    (exit status, stdout, stderr, peak RSS in MiB, seconds)."""
    if args and args[0] == "-c":
        cmd = [sys.executable, "-c", args[1] + "\nimport sys\nsys.stderr.write('\\nVMHWM_KIB ' + next("
               "l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')) + '\\n')"]
    else:
        cmd = [sys.executable, "-c", _WRAPPER, *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    err, _, tail = proc.stderr.rpartition("VMHWM_KIB ")
    peak = int(tail.split()[0]) / 1024.0 if tail.strip() else float("nan")
    return proc.returncode, proc.stdout, err.rstrip(), peak, seconds


def write_hostile(folder):
    """``{name: eval arguments}`` for the files of issue 16 that once ran away, written under ``folder``."""
    import gzip
    import io
    import zipfile

    def npy_bytes(arr):
        buf = io.BytesIO()
        np.save(buf, arr)
        return buf.getvalue()

    out = {}
    img = os.path.join(folder, "img.npy")  # (2048, 256, 256) float32: 512 MiB, 65,536 numbers a row
    mm = np.lib.format.open_memmap(img, mode="w+", dtype=np.float32, shape=(2048, 256, 256))
    for k in range(0, 2048, 128):
        mm[k:k + 128] = np.random.default_rng(k).random((128, 256, 256), dtype=np.float32)
    del mm
    out["npy (2048, 256, 256) float32, 512 MiB"] = ["--labels", img, "--pred", img, "--loss", "mse"]
    bomb = os.path.join(folder, "bomb.csv.gz")  # 0.3 MiB expanding to one 300 MB line
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(b"y,p\n")
        for _ in range(300):
            f.write(b"1" * (1 << 20))
    out["csv.gz bomb: one 300 MB line"] = [bomb, "--labels", "y", "--pred", "p", "--loss", "mse"]
    claim = os.path.join(folder, "claim.npz")  # a 200-byte member whose header claims (40, 10**9)
    with zipfile.ZipFile(claim, "w") as z:
        small = npy_bytes(np.zeros(4))
        z.writestr("p.npy", small.replace(b"'shape': (4,), ", b"'shape': (40, 1000000000), ", 1))
    out["npz claiming (40, 10**9)"] = ["--labels", claim + ":p", "--pred", claim + ":p", "--loss", "mse"]
    for rows, name in ((1_200_000, "fortran-small.npz"), (4_000_000, "fortran-big.npz")):
        path = os.path.join(folder, name)
        arr = np.asfortranarray(np.random.default_rng(1).random((rows, 3)))
        np.savez(path, y=arr, p=arr)
        out[f"npz Fortran-order ({rows:,}, 3) float64"] = ["--labels", path + ":y", "--pred", path + ":p", "--loss", "mse"]
    wide = os.path.join(folder, "wide.csv")  # 100,000 columns, 5 rows
    with open(wide, "w") as f:
        f.write(",".join(f"c{k}" for k in range(100_000)) + "\n")
        f.writelines(",".join(["0.5"] * 100_000) + "\n" for _ in range(5))
    out["csv 100,000 columns"] = [wide, "--labels", "c0..c49999", "--pred", "c50000..c99999", "--loss", "mse"]
    return out


def hostile(args, env):
    os.makedirs(args.dir, exist_ok=True)
    cases = write_hostile(args.dir)
    print("| file | exit | peak RSS | time | message |")
    print("|---|---|---|---|---|")
    ok = True
    for name, spec in cases.items():
        code, out, err, peak, secs = run_measured(["eval", *spec, "--format", "json", "--quiet"], env)
        good = code in (0, 2) and peak < LIMIT_MB and (code == 0 or err.count("\n") == 0)
        ok &= good
        msg = "result" if code == 0 else err.strip().replace(args.dir + "/", "")[:90]
        print(f"| {name} | {code} | {peak:.0f} MiB | {secs:.1f} s | {msg} |")
    if not args.keep:
        for name in os.listdir(args.dir):
            if name.endswith((".npy", ".npz", ".gz", ".csv")) and not name.startswith("preds"):
                os.unlink(os.path.join(args.dir, name))
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", default="/tmp/losskit-bench")
    ap.add_argument("--formats", default="csv,parquet,npy")
    ap.add_argument("--losses", default="bce,mse")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--hostile", action="store_true", help="measure the hostile files of issue 16 instead")
    args = ap.parse_args(argv)
    if args.hostile:
        env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        return hostile(args, env)

    sys.path.insert(0, os.path.join(ROOT, "src"))
    import losskit as lk

    os.makedirs(args.dir, exist_ok=True)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    y, p = make_data(args.rows)
    names = [lk.get(n).name for n in args.losses.split(",")]
    reference = {n: float(lk.get(n)(y, p)) for n in names}

    files = {}
    t0 = time.perf_counter()
    if "csv" in formats:
        files["csv"] = (os.path.join(args.dir, "preds.csv"), ["preds.csv", "--labels", "label", "--pred", "prob"])
        write_csv(files["csv"][0], y, p)
    if "parquet" in formats:
        files["parquet"] = (os.path.join(args.dir, "preds.parquet"), ["preds.parquet", "--labels", "label", "--pred", "prob"])
        write_parquet(files["parquet"][0], y, p)
    if "npy" in formats:
        np.save(os.path.join(args.dir, "label.npy"), y)
        np.save(os.path.join(args.dir, "prob.npy"), p)
        files["npy"] = (os.path.join(args.dir, "prob.npy"), ["--labels", "label.npy", "--pred", "prob.npy"])
    print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s under {args.dir}", file=sys.stderr)
    del y, p

    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # baseline: the interpreter with numpy, losskit (and pyarrow) imported, no data
    _, _, _, idle_mb, _ = run_measured(["-c", "import losskit.cli, numpy"], env)
    _, _, _, idle_pa_mb, _ = run_measured(["-c", "import losskit.cli, numpy, pyarrow.parquet"], env)

    results = []
    for fmt, (path, spec) in files.items():
        size_mb = os.path.getsize(path) / 2**20
        if fmt == "npy":
            size_mb *= 2
        spec = [os.path.join(args.dir, s) if s.endswith((".csv", ".parquet", ".npy")) else s for s in spec]
        cmd = ["eval", *spec, "--loss", ",".join(names), "--format", "json", "--quiet"]
        code, out, err, peak, secs = run_measured(cmd, env)
        if code != 0:
            raise SystemExit(f"{fmt}: losskit eval failed ({code}): {err.strip()}")
        got = {r["loss"]: r["value"] for r in json.loads(out)["results"]}
        rel = max(abs(got[n] - reference[n]) / abs(reference[n]) for n in names)
        results.append({"format": fmt, "rows": args.rows, "file_mb": round(size_mb, 1), "peak_rss_mb": round(peak, 1),
                        "seconds": round(secs, 1), "max_rel_diff": rel, "values": got,
                        "ok": peak < LIMIT_MB and rel <= RTOL})

    print(f"\nlosskit eval --loss {','.join(names)} on {args.rows:,} rows "
          f"(idle interpreter with losskit: {idle_mb:.0f} MiB; with pyarrow: {idle_pa_mb:.0f} MiB)\n")
    print("| format | file size | peak RSS | time | max relative difference vs in-memory | within limits |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['format']} | {r['file_mb']:.0f} MiB | {r['peak_rss_mb']:.0f} MiB | {r['seconds']:.1f} s | "
              f"{r['max_rel_diff']:.1e} | {'yes' if r['ok'] else 'NO'} |")
    print("\nin-memory values: " + ", ".join(f"{n} = {v!r}" for n, v in reference.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"idle_mb": idle_mb, "idle_pyarrow_mb": idle_pa_mb, "reference": reference, "results": results}, f, indent=2)
    if not args.keep:
        for path, _ in files.values():
            os.unlink(path)
        if "npy" in files:
            os.unlink(os.path.join(args.dir, "label.npy"))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
