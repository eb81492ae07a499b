"""The embedded back ends: in this process (``--jobs 1``) and a local process pool.

The pool is :class:`concurrent.futures.ProcessPoolExecutor` with the ``forkserver``
start method on Linux (``spawn`` elsewhere): never a plain ``fork`` of a process that
may already run threads (numba's, OpenBLAS's, the kernel pool's). Each worker process is
set up once by :func:`.worker.setup` (its threads per task, compiled kernels loaded).

Worker loss: if a worker process dies (killed, out of memory), the pool breaks and every
unfinished task's future fails with ``BrokenProcessPool``. The tasks that had not
finished are then run again in a fresh pool, up to ``retries`` times each; a task still
unfinished after that is reported as a ``WorkerLost`` failure, the others are unaffected.
"""
from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from . import worker
from .base import Executor
from .tasks import Outcome, Task, lost, run_task


class SerialExecutor(Executor):
    """Runs every task in this process, one after another (``--jobs 1``)."""

    name = "serial (this process)"

    def __init__(self, root_seed: int = 0, warm: bool = True, threads: int = 1) -> None:
        super().__init__(root_seed, threads)
        self.warm = warm
        self.name = f"serial (this process, {self.threads} thread(s))"

    def _run(self, tasks: list[Task]) -> Iterator[Outcome]:
        with worker.threads_for_run(self.threads):
            worker.setup(None, self.warm)
            for i, task in enumerate(tasks):
                self.shipping.add(task.payload_bytes())
                yield run_task(i, task, self.threads)


def start_method() -> str:
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


class LocalPoolExecutor(Executor):
    """Runs tasks in ``jobs`` worker processes on this machine."""

    def __init__(self, jobs: int, root_seed: int = 0, retries: int = 1,
                 warm: bool = True, threads: int = 1) -> None:
        super().__init__(root_seed, threads)
        self.workers = int(jobs)
        self.retries = int(retries)
        self.warm = warm
        self.name = (f"local process pool ({self.workers} processes, {self.threads} "
                     f"thread(s) each)")
        self._pool: ProcessPoolExecutor | None = None
        self.restarts = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context(start_method())
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                   initializer=worker.setup,
                                   initargs=(self.threads, self.warm))

    def _run(self, tasks: list[Task]) -> Iterator[Outcome]:
        attempts = [0] * len(tasks)
        todo = list(range(len(tasks)))
        first = True
        while todo:
            if self._pool is None:
                self._pool = self._new_pool()
            futures = {}
            for i in todo:
                if first:
                    self.shipping.add(tasks[i].payload_bytes())
                futures[self._pool.submit(run_task, i, tasks[i], self.threads)] = i
            first = False
            broken: list[int] = []
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = futures[fut]
                        try:
                            outcome = fut.result()
                        except BrokenProcessPool:
                            broken.append(i)
                            continue
                        yield outcome
            except BaseException:
                self._shutdown(cancel=True)
                raise
            todo = []
            if broken:
                self._shutdown(cancel=True)
                self.restarts += 1
                for i in sorted(broken):
                    attempts[i] += 1
                    if attempts[i] > self.retries:
                        yield lost(i, tasks[i], (
                            f"a worker process of the local pool died while this task was "
                            f"unfinished (BrokenProcessPool), {attempts[i]} time(s); killed "
                            "or out of memory? Run it alone with --jobs 1 to see"))
                    else:
                        todo.append(i)
                if todo:
                    print(f"unrolled: a worker process died (BrokenProcessPool); running "
                          f"the {len(todo)} unfinished task(s) again in a new pool",
                          file=sys.stderr)

    def _shutdown(self, cancel: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None

    def close(self) -> None:
        self._shutdown(cancel=True)
