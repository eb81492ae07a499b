"""Independent tasks on the local cores or a Dask cluster, with results identical to a
serial run.

How to use it::

    from unrolled.parallel import Task, make_executor

    tasks = [Task(key=f"series {name}", fn=train_one, args=(name, part, options))
             for name, part in parts.items()]           # fn: a module-level function
    with make_executor(jobs=args.jobs, scheduler=args.scheduler, root_seed=args.seed) as ex:
        outcomes = ex.map(tasks, on_outcome=Progress(len(tasks), "series"))
    for o in outcomes:                                 # in task order
        if o.ok: use(o.value)
        else:    report(o.error)                       # TaskError(key, type, message, traceback)
    print("shipped:", ex.shipping)                     # pickled task sizes

* :class:`Task` ``(key, fn, args=(), kwargs={}, seed=None)``: ``fn(*args, **kwargs)`` on a
  worker. Keys are unique; the task's seed is :func:`task_seed` ``(root_seed, key)``
  unless given, and seeds unrolled's and NumPy's global generators before ``fn`` runs
  (pass an explicit seed to ``fn`` too when it takes one).
* ``ex.run(tasks)`` yields :class:`Outcome` s as tasks finish (completion order, for a
  progress bar); ``ex.map(tasks, on_outcome=...)`` returns them in task order.
  ``Outcome(index, key, value, error, seconds, worker)``; ``outcome.ok``.
* An ``Exception`` in ``fn`` is captured as ``outcome.error`` and never stops the other
  tasks; ``KeyboardInterrupt`` stops the run (finished outcomes were already yielded).
* Back ends (:func:`make_executor`): ``jobs=1`` → :class:`SerialExecutor` (this
  process); ``jobs=N`` (default: the number of cores) → :class:`LocalPoolExecutor`;
  ``scheduler="tcp://HOST:PORT"`` / ``"local"`` / env ``UNROLLED_SCHEDULER`` →
  ``DaskExecutor`` (optional extra ``unrolled[dask]``, imported only then).
* Threads per task (``make_executor(threads=1)``, ``--task-threads``) are a run setting
  applied identically by every back end, since a different thread count can round
  differently; the local pool defaults to cores // threads processes. Each worker is set
  up once (:mod:`.worker`): its threads, numba's compiled kernels loaded before any task.
* Memory: a task holds what it is shipped plus what ``fn`` allocates; functions that
  take a series check it against :func:`memory_cap` first (``UNROLLED_TASK_MEMORY_MB``).
* The CLI options are added by :func:`add_parallel_options` (``--jobs``, ``--scheduler``).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .base import Executor, Shipping
from .choose import SCHEDULER_ENV, make_executor, scheduler_address
from .local import LocalPoolExecutor, SerialExecutor
from .memory import memory_cap, check_memory
from .progress import Progress
from .tasks import Outcome, Task, TaskError, run_task, task_seed
from .options import add_parallel_options, executor_from_args

__all__ = ["Executor", "LocalPoolExecutor", "Outcome", "Progress", "SCHEDULER_ENV",
           "SerialExecutor", "Shipping", "Task", "TaskError", "add_parallel_options",
           "check_memory", "executor_from_args", "load_dask_backend", "make_executor",
           "memory_cap", "run_task", "scheduler_address", "task_seed"]


def load_dask_backend() -> ModuleType:
    """The Dask back end module (imports ``dask.distributed``, or says which extra to
    install)."""
    from ..errors import ConfigError

    try:
        return importlib.import_module(f"{__name__}.dask_backend")
    except ImportError as err:
        raise ConfigError(f"{err}") from None


def __getattr__(name: str):
    if name == "DaskExecutor":
        return load_dask_backend().DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
