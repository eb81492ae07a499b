"""Scoring throughput and scheduler overhead: one process vs the local pool vs Dask.

Measures, on this machine:

* **scoring throughput** (windows/s) of one LSTM(32) forecaster at the demo's shape
  (window 14, 4 inputs):
  - ``model.predict`` on the whole array in this process (the baseline);
  - the same blocks as tasks on the local process pool (``unrolled.parallel``, 2 workers);
  - ``unrolled.distributed.predict`` on a 2-worker ``LocalCluster`` (a dask array);
  - the multi-file CLI path, ``unrolled predict MODEL 'dir/*.csv' --all --output-dir``,
    with ``--jobs 1``, ``--jobs 2`` and ``--scheduler`` (the LocalCluster) — reading CSVs,
    windowing, scaling, forecasting and writing included;
* **scheduler overhead per task**: N no-op tasks through each executor (serial, local
  pool, Dask), wall time / N, after the workers are up (start-up reported apart).

Every timing is the best of ``--repeats`` runs after one warm-up run. ``--quick`` uses
tiny sizes (for the smoke test); ``--json OUT`` writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WINDOW, FEATURES, UNITS = 14, 4, 32
_models: dict[str, Any] = {}


def predict_block_file(model_path: str, block: np.ndarray) -> int:
    """A local-pool task: forecast one block with the model at ``model_path`` (loaded once
    per worker process); returns the number of windows."""
    model = _models.get(model_path)
    if model is None:
        import unrolled

        model = _models[model_path] = unrolled.load_model(model_path, compile=False)
    model.predict(block, verbose=0)
    return len(block)


def noop(i: int) -> int:
    return i


_first: list[float] = []


def _best(fn: Any, repeats: int) -> float:
    t = time.perf_counter()
    fn()  # warm-up: workers started, kernels loaded, models cached
    _first.append(time.perf_counter() - t)
    if repeats < 1:  # --quick: the first run is the measurement
        return _first[-1]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _series_csv(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    cols = {"temp": 10 + 5 * np.sin(2 * np.pi * t / 30) + rng.normal(0, 0.5, rows),
            "humidity": 60 + 10 * np.cos(2 * np.pi * t / 30) + rng.normal(0, 2, rows),
            "wind": 3 + rng.gamma(2.0, 0.5, rows),
            "rain": rng.gamma(1.0, 1.0, rows)}
    lines = ["row," + ",".join(cols)]
    lines += [f"{i}," + ",".join(f"{cols[c][i]:.4f}" for c in cols) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--windows", type=int, default=40000, help="windows scored per run")
    ap.add_argument("--blocks", type=int, default=8, help="blocks (tasks) the windows form")
    ap.add_argument("--files", type=int, default=8, help="CSV files for the CLI path")
    ap.add_argument("--rows", type=int, default=5000, help="rows per CSV file")
    ap.add_argument("--tasks", type=int, default=200, help="no-op tasks for the overhead")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs after the warm-up run (0: time the first run only)")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    if args.quick:
        args.windows, args.blocks, args.files, args.rows, args.tasks, args.repeats = (
            400, 4, 2, 60, 10, 0)

    import unrolled
    from unrolled import distributed as ud
    from unrolled.parallel.worker import warm

    warm()  # this process runs the compiled kernels too, as the workers do
    from unrolled.cli import main as cli
    from unrolled.parallel import Task, make_executor

    out: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                       "load_average_start": os.getloadavg()},
                           "args": vars(args), "scoring": {}, "overhead": {}}
    tmp = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((WINDOW, FEATURES)),
                                 unrolled.layers.LSTM(UNITS), unrolled.layers.Dense(1)])
    model_path = str(tmp / "lstm.keras")
    model.save(model_path)
    x = np.random.default_rng(0).normal(size=(args.windows, WINDOW, FEATURES)).astype(np.float32)
    blocks = np.array_split(x, args.blocks)
    want = model.predict(x, verbose=0)
    scoring = out["scoring"]

    def rate(name: str, seconds: float, windows: int, **extra: Any) -> None:
        scoring[name] = {"seconds": seconds, "windows": windows,
                         "windows_per_s": windows / seconds, "first_run_s": _first[-1],
                         **extra}
        print(f"  {name:<44} {windows / seconds:>10.0f} windows/s  ({seconds:.3f} s; first "
              f"run {_first[-1]:.2f} s)", flush=True)

    print(f"Scoring {args.windows} windows ({WINDOW}, {FEATURES}) with LSTM({UNITS}) + Dense(1):")
    rate("1 process: model.predict", _best(lambda: model.predict(x, verbose=0), args.repeats),
         args.windows)

    tasks = [Task(key=f"block {i}", fn=predict_block_file, args=(model_path, b))
             for i, b in enumerate(blocks)]
    with make_executor(jobs=2) as pool:  # workers start on the first run
        rate("2 local processes: blocks as tasks",
             _best(lambda: pool.map(tasks), args.repeats), args.windows)
        overhead(out, "local pool (2 processes)", pool, args.tasks, args.repeats, Task)

    from distributed import Client, LocalCluster

    t = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0")
    client = Client(cluster)
    start = time.perf_counter() - t
    try:
        import dask.array as da

        dx = da.from_array(x, chunks=(-(-args.windows // args.blocks), WINDOW, FEATURES))
        got = client.compute(ud.predict(model, dx, client=client)).result()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        rate("2-worker LocalCluster: distributed.predict",
             _best(lambda: client.compute(ud.predict(model, dx, client=client)).result(),
                   args.repeats), args.windows, cluster_startup_s=start)
        held = client.persist(dx)   # the blocks already on the workers (as data read there)
        rate("2-worker LocalCluster: distributed.predict, data on the workers",
             _best(lambda: client.compute(ud.predict(model, held, client=client)).result(),
                   args.repeats), args.windows)
        from unrolled.parallel.dask_backend import DaskExecutor

        with DaskExecutor(client=client) as dex:
            overhead(out, "Dask (2-worker LocalCluster)", dex, args.tasks, args.repeats, Task)
        raw = _best(lambda: client.gather(client.map(noop, range(args.tasks), pure=False)),
                    args.repeats)
        out["overhead"]["raw dask client.map (no unrolled)"] = {"per_task_ms": raw / args.tasks * 1e3}
        print(f"  {'raw dask client.map (no unrolled)':<44} {raw / args.tasks * 1e3:>8.2f} ms/task")

        data = tmp / "files"
        data.mkdir()
        for i in range(max(args.files, 1) + 1):
            _series_csv(data / f"s{i}.csv" if i else tmp / "train.csv", args.rows, i)
        fc = str(tmp / "fc.keras")
        quiet = open(os.devnull, "w")
        stdout, sys.stdout = sys.stdout, quiet
        try:
            assert cli(["train", str(tmp / "train.csv"), "--target", "temp", "--window",
                        str(WINDOW), "--units", str(UNITS), "--epochs", "1", "--season", "0",
                        "--time-column", "none", "--no-plot", "-o", fc]) == 0
        finally:
            sys.stdout = stdout
        windows = args.files * (args.rows - WINDOW + 1)
        print(f"Multi-file CLI: {args.files} CSV files x {args.rows} rows, --all "
              f"({windows} windows; reading, windowing and writing included):")
        for name, extra in (("--jobs 1", ["--jobs", "1"]), ("--jobs 2", ["--jobs", "2"]),
                            ("--scheduler (2-worker LocalCluster)",
                             ["--scheduler", cluster.scheduler_address])):
            def run() -> None:
                stdout, stderr = sys.stdout, sys.stderr
                sys.stdout = sys.stderr = quiet
                try:
                    rc = cli(["predict", fc, str(data / "*.csv"), "--all", "--output-dir",
                              str(tmp / "out"), *extra])
                finally:
                    sys.stdout, sys.stderr = stdout, stderr
                assert rc == 0, rc
            rate(f"CLI predict {name}", _best(run, args.repeats), windows,
                 note="includes executor start-up")
    finally:
        client.close()
        cluster.close()

    overhead(out, "serial (this process)", make_executor(jobs=1), args.tasks, args.repeats,
             Task)
    out["machine"]["load_average_end"] = os.getloadavg()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)  # the model, CSVs and outputs it wrote
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


def overhead(out: dict[str, Any], name: str, ex: Any, n: int, repeats: int, Task: Any,
             ) -> None:
    tasks = [Task(key=f"noop {i}", fn=noop, args=(i,)) for i in range(n)]
    seconds = _best(lambda: ex.map(tasks), repeats)
    out["overhead"][name] = {"per_task_ms": seconds / n * 1e3, "tasks": n}
    print(f"  {name:<44} {seconds / n * 1e3:>8.2f} ms/task", flush=True)


if __name__ == "__main__":
    main()
