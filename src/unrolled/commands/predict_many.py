"""``unrolled predict MODEL 'data/*.csv' --output-dir OUT``: many files, one task each.

Every input file is a task on the parallel layer (``--jobs``, ``--scheduler``): it
writes ``OUT/<stem>.forecast.csv`` atomically, in the same format as a single-file
``predict -o``. A file that fails (missing columns, too few rows, bad cells) is reported
with its reason and does not stop the others; the summary counts windows per second.
Exit status 0 when every file was scored, 1 when some failed, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time


def add_many_options(p: argparse.ArgumentParser) -> None:
    from ..parallel import add_parallel_options

    g = p.add_argument_group("several files (a pattern such as 'data/*.csv', or several paths)")
    g.add_argument("--output-dir", metavar="DIR",
                   help="write one forecast file per input, DIR/<name>.forecast.csv "
                        "(data/store_7.csv -> DIR/store_7.forecast.csv), each written whole "
                        "or not at all; needed for several inputs")
    add_parallel_options(g)


def is_many(args: argparse.Namespace) -> bool:
    """Several inputs, a pattern, or ``--output-dir``: the many-files path."""
    return (len(args.data) > 1 or glob.has_magic(args.data[0])
            or getattr(args, "output_dir", None) is not None)


def run_many(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..forecast.model_file import load_forecaster
    from ..forecast.scoring import ModelRef, expand_inputs, output_paths, score_file
    from ..io.atomic import check_writable_path
    from ..parallel import Progress, Task, executor_from_args
    from ._args import cell_format

    if args.output:
        raise ConfigError("-o names one output file; for several inputs pass --output-dir DIR "
                          "(one DIR/<name>.forecast.csv per input)")
    if args.output_dir is None:
        raise ConfigError(f"{len(args.data)} inputs need --output-dir DIR (one "
                          "DIR/<name>.forecast.csv per input file)")
    delimiter, fmt = cell_format(args)
    inputs = expand_inputs(args.data)
    os.makedirs(args.output_dir, exist_ok=True)
    outputs = output_paths(inputs, args.output_dir)
    check_writable_path(outputs[0])
    load_forecaster(args.model)  # a bad model file stops here, not once per file
    ref = ModelRef.of(args.model)
    tasks = [Task(key=f"file {src}", fn=score_file,
                  args=(ref, src, out, args.all, args.series, args.fill, delimiter, fmt,
                        args.task_memory))
             for src, out in zip(inputs, outputs)]
    start = time.perf_counter()
    with executor_from_args(args) as ex:
        print(f"Scoring {len(tasks)} file(s) with {os.path.basename(args.model)} on "
              f"{ex.describe()}", flush=True)
        outcomes = ex.map(tasks, on_outcome=Progress(len(tasks), "files"))
        shipped = str(ex.shipping)
    elapsed = time.perf_counter() - start
    return _summary(outcomes, elapsed, shipped)


def _summary(outcomes: list, elapsed: float, shipped: str) -> int:
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    windows = sum(o.value.windows for o in done)
    rows = sum(o.value.rows for o in done)
    for o in done:
        v = o.value
        print(f"  {v.source} -> {v.output}: {v.windows} window(s), {v.rows} row(s)")
    for o in failed:
        print(f"  {o.key[len('file '):]}: FAILED: {o.error.type}: {o.error.message}")
    rate = windows / elapsed if elapsed > 0 else float("inf")
    print(f"{len(done)} of {len(outcomes)} file(s) scored: {windows} window(s), {rows} "
          f"forecast row(s) in {elapsed:.1f} s ({rate:.0f} windows/s); {len(failed)} failed. "
          f"Shipped to workers: {shipped}")
    if failed:
        print(f"unrolled predict: {len(failed)} file(s) failed (see above); the others were "
              "written", file=sys.stderr)
        return 1
    return 0
