"""The command-line options every parallel command shares: ``--jobs``, ``--scheduler``."""
from __future__ import annotations

import argparse

from .base import Executor
from .choose import SCHEDULER_ENV, make_executor


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got "
                                         f"{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 process, got {value}")
    return value


def add_parallel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=_jobs, metavar="N",
                   help="worker processes on this machine (default: one per core; 1 = "
                        "in this process, one task after another); with --scheduler "
                        "local, the LocalCluster's workers")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the tasks on a Dask cluster: its scheduler's address (e.g. "
                        "tcp://10.0.0.5:8786, as `dask scheduler` prints it), or 'local' "
                        f"to start a LocalCluster here. Default: ${SCHEDULER_ENV} if set, "
                        "else the local process pool. Needs pip install 'unrolled[dask]'")
    p.add_argument("--task-threads", type=_jobs, default=1, metavar="T",
                   help="compute threads per task (default 1); results are identical on "
                        "every back end at the same T. --jobs then defaults to cores // T")
    p.add_argument("--task-memory", type=float, metavar="MB",
                   help="refuse a task (e.g. one series) whose data would need more than "
                        "MB megabytes (default 1024, or $UNROLLED_TASK_MEMORY_MB)")


def executor_from_args(args: argparse.Namespace, root_seed: int = 0) -> Executor:
    """The executor the options ask for."""
    return make_executor(jobs=getattr(args, "jobs", None),
                         scheduler=getattr(args, "scheduler", None), root_seed=root_seed,
                         threads=getattr(args, "task_threads", None) or 1)
