"""What a task is, what comes back, and the function every back end runs on a worker.

A :class:`Task` is a picklable ``(function, args, kwargs)`` with a key that names it
(``"series store_7"``, ``"fold 3 seed 1"``). Its seed is derived from the run's root seed
and that key (:func:`task_seed`), never from the worker or the order tasks finish in, so
a task computes the same numbers serially, in a process pool and on a cluster.

:func:`run_task` is what a worker executes: it seeds unrolled's and NumPy's global
generators with the task's seed, runs the function, and returns an :class:`Outcome`. An
``Exception`` raised by the function becomes data (:class:`TaskError`: which task, the
error's type, its message, the traceback) so one bad task never stops the others;
``KeyboardInterrupt`` and ``SystemExit`` still stop the run.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple


def task_seed(root_seed: int, key: str) -> int:
    """A 63-bit seed for the task named ``key`` in a run seeded ``root_seed``.

    NumPy's ``SeedSequence`` mixes the root seed with the key's SHA-256 digest (as its
    spawn key), so the seed depends on nothing but (root seed, key)."""
    import numpy as np

    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4))
    seq = np.random.SeedSequence(int(root_seed), spawn_key=words)
    return int(seq.generate_state(2, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Task:
    """One independent piece of work: ``fn(*args, **kwargs)`` run on some worker.

    ``fn`` must be importable by its module path on the workers (a module-level function,
    not a lambda or a closure). ``seed`` is set by the executor from the run's root seed
    and ``key`` unless given."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def payload_bytes(self) -> int:
        """Size of the pickled task: what is shipped to a worker for it."""
        return len(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))


class TaskError(NamedTuple):
    """A task that raised: its key, the exception's type name, message and traceback."""

    key: str
    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.key}: {self.type}: {self.message}"


class Outcome(NamedTuple):
    """What one task gave: ``value`` when it succeeded, else ``error``."""

    index: int                 # position of the task in the submitted list
    key: str
    value: Any
    error: TaskError | None
    seconds: float             # time the function ran, on the worker
    worker: str                # host:pid that ran it

    @property
    def ok(self) -> bool:
        return self.error is None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_task(index: int, task: Task, threads: int | None = None) -> Outcome:
    """Run ``task`` here (on a worker, or in this process for a serial run) with
    ``threads`` compute threads (see :mod:`.worker`; None: as the process is)."""
    import numpy as np

    from ..random import set_random_seed
    from .worker import set_threads

    if threads is not None:
        set_threads(threads)    # a no-op once the worker is set up

    seed = task.seed if task.seed is not None else task_seed(0, task.key)
    set_random_seed(seed)
    np.random.seed(seed % 2**32)
    start = time.perf_counter()
    try:
        value = task.fn(*task.args, **task.kwargs)
    except Exception as err:  # noqa: BLE001 - a failed task is data, not a failed run
        error = TaskError(task.key, type(err).__name__, str(err),
                          traceback.format_exc(limit=-8))
        return Outcome(index, task.key, None, error, time.perf_counter() - start,
                       worker_name())
    return Outcome(index, task.key, value, None, time.perf_counter() - start, worker_name())


def lost(index: int, task: Task, why: str) -> Outcome:
    """The outcome of a task whose worker died (and was not replaced in time)."""
    return Outcome(index, task.key, None, TaskError(task.key, "WorkerLost", why), 0.0, "")


def check_tasks(tasks: list[Task], root_seed: int) -> list[Task]:
    """The tasks with their seeds set; keys must be unique (they name results and seeds)."""
    from dataclasses import replace

    from ..errors import ConfigError

    seen: dict[str, int] = {}
    for i, t in enumerate(tasks):
        if not isinstance(t, Task):
            raise ConfigError(f"expected unrolled.parallel.Task objects, got "
                              f"{type(t).__name__} at position {i}")
        if t.key in seen:
            raise ConfigError(f"two tasks share the key {t.key!r} (positions {seen[t.key]} "
                              f"and {i}): keys name results and seeds, so they must be unique")
        seen[t.key] = i
    return [t if t.seed is not None else replace(t, seed=task_seed(root_seed, t.key))
            for t in tasks]
