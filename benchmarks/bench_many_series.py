"""Many-series training throughput and scheduler overhead on each back end.

    python benchmarks/bench_many_series.py            # 50 series, jobs 1 / 2 / LocalCluster(2)
    python benchmarks/bench_many_series.py --quick    # 20 series, fewer empty tasks
    python benchmarks/bench_many_series.py --json benchmarks/results/many_series.json

For each back end (``jobs=1`` in this process, a local pool of 2 processes, a 2-worker
``LocalCluster``): the time to start it (processes, worker setup, numba kernels loaded),
the time to train every series of a generated long-format table (``train --per-series``
with tiny models: window 8, LSTM(8), 5 epochs, early stopping as usual) as series per
minute, and the round trip of an empty task (submit → outcome back in this process) as
the median over a batch of empty tasks divided by the batch size (the per-task
overhead at full pipelining) and one task alone (latency). Every back end's metrics are
checked equal to the serial run's before anything is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))


def write_table(path: str, n: int, rows: int = 120, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    lines = ["store,day,sales,temp"]
    for s in range(n):
        t = np.arange(rows)
        temp = 10 + 5 * np.sin(2 * np.pi * t / 7 + s) + rng.normal(0, 1, rows)
        sales = rng.uniform(5, 50) + 0.3 * temp + rng.normal(0, 1, rows)
        lines += [f"s{s:03d},{i},{sales[i]:.4f},{temp[i]:.4f}" for i in range(rows)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _empty() -> None:
    return None


def overhead(ex, n: int) -> tuple[float, float]:
    """(per task in a batch of n, one task alone) in milliseconds."""
    from unrolled.parallel import Task

    ex.map([Task("warm", _empty)])
    t = time.perf_counter()
    ex.map([Task(f"e{i}", _empty) for i in range(n)])
    batch = (time.perf_counter() - t) / n * 1e3
    alone = []
    for i in range(5):
        t = time.perf_counter()
        ex.map([Task(f"one{i}", _empty)])
        alone.append(time.perf_counter() - t)
    return batch, float(np.median(alone)) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--series", type=int)
    ap.add_argument("--json")
    args = ap.parse_args()
    from unrolled.forecast.fit import FitConfig
    from unrolled.forecast.per_series import train_per_series
    from unrolled.parallel import LocalPoolExecutor, SerialExecutor, load_dask_backend

    n = args.series or (20 if args.quick else 50)
    empties = 100 if args.quick else 400
    tmp = tempfile.mkdtemp(prefix="bench-many-")
    data = write_table(os.path.join(tmp, "stores.csv"), n)
    options = dict(targets=["sales"], features=None, window=8, horizon=1, time_column="day",
                   fill=None, transform="auto", season="auto", calendar=False, linear=True)
    config = FitConfig(units=8, epochs=5, batch_size=32)
    backends = {
        "serial (jobs 1)": lambda: SerialExecutor(root_seed=0),
        "local pool (jobs 2)": lambda: LocalPoolExecutor(2, root_seed=0),
        "Dask LocalCluster (2 workers)": lambda: load_dask_backend().DaskExecutor(
            "local", root_seed=0, n_workers=2),
    }
    rows, reference = [], None
    for name, make in backends.items():
        t = time.perf_counter()
        ex = make()
        ex.map([__import__("unrolled.parallel", fromlist=["Task"]).Task("start", _empty)])
        start = time.perf_counter() - t
        out = os.path.join(tmp, name.split()[0])
        t = time.perf_counter()
        run = train_per_series(data, "store", options, config, out, ex, seed=0)
        train = time.perf_counter() - t
        if run.failures:
            raise SystemExit(f"{name}: failures {run.failures}")
        if reference is None:
            reference = run.metrics
        elif run.metrics != reference:
            raise SystemExit(f"{name}: metrics differ from the serial run")
        batch, alone = overhead(ex, empties)
        ex.close()
        shutil.rmtree(out)
        rows.append({"backend": name, "start_s": start, "train_s": train,
                     "series_per_min": n / train * 60, "overhead_ms_batch": batch,
                     "overhead_ms_alone": alone, "shipped": run.shipping})
        print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{n} series × 120 rows, window 8, LSTM(8), 5 epochs; {os.cpu_count()} cores, "
          f"load average {load:.1f} at the end; Python {platform.python_version()}\n")
    print("| back end | start (s) | train (s) | series / min | empty task, batched (ms) "
          "| empty task alone (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['start_s']:.1f} | {r['train_s']:.1f} | "
              f"{r['series_per_min']:.0f} | {r['overhead_ms_batch']:.2f} | "
              f"{r['overhead_ms_alone']:.1f} |")
    print(f"\nshipped per run: {rows[0]['shipped']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"series": n, "load_average": load, "rows": rows}, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
