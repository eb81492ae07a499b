"""Which back end runs a command's tasks: ``--jobs N`` / ``--scheduler ADDRESS|local``."""
from __future__ import annotations

import os

from ..errors import ConfigError
from .base import Executor
from .local import LocalPoolExecutor, SerialExecutor
from .worker import cores

SCHEDULER_ENV = "UNROLLED_SCHEDULER"


def scheduler_address(scheduler: str | None) -> str | None:
    """The Dask scheduler to use: the argument, else ``UNROLLED_SCHEDULER``, else None
    (the local process pool)."""
    value = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV) or None
    if value is None:
        return None
    value = value.strip()
    if value == "local" or "://" in value:
        return value
    if ":" in value:      # host:port, as `dask scheduler` prints it without the protocol
        return f"tcp://{value}"
    raise ConfigError(f"--scheduler expects 'local' or a Dask scheduler address such as "
                      f"tcp://10.0.0.5:8786, got {value!r}")


def make_executor(jobs: int | None = None, scheduler: str | None = None, *,
                  root_seed: int = 0, retries: int = 1, warm: bool = True,
                  threads: int = 1) -> Executor:
    """An executor for ``jobs`` local processes (default: cores // threads; 1 = this
    process, serially), or for a Dask scheduler (``"tcp://HOST:PORT"``, or ``"local"``
    for a LocalCluster of ``jobs`` worker processes); ``scheduler=None`` reads
    ``UNROLLED_SCHEDULER``. ``threads``: compute threads per task, the same on every back
    end (results are bit-identical across back ends at equal ``threads``)."""
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs expects a whole number of processes >= 1, got {jobs}")
    if threads < 1:
        raise ConfigError(f"--task-threads expects at least 1 thread, got {threads}")
    address = scheduler_address(scheduler)
    if address is not None:
        from . import load_dask_backend

        backend = load_dask_backend()
        return backend.DaskExecutor(address, root_seed=root_seed, retries=retries,
                                    warm=warm, n_workers=jobs, threads=threads)
    n = jobs or max(1, cores() // threads)
    if n == 1:
        return SerialExecutor(root_seed, warm=warm, threads=threads)
    return LocalPoolExecutor(n, root_seed=root_seed, retries=retries, warm=warm,
                             threads=threads)
