"""Threads for the compiled kernels' batch blocks and GEMM halves: how many
(``UNROLLED_NUM_THREADS``, else the CPUs this process may use), one small shared pool, and
running jobs at once with the first in the calling thread.

Before each multi-threaded call the pool's workers are kept off the CPU the calling thread
runs on (:func:`_keep_workers_off`). Linux wakes a sleeping thread on its waker's CPU when
it judges the other CPUs busy or unavailable, and on a virtual machine an idle vCPU often
looks so: traced on the 2-vCPU benchmark machine, the worker was woken on the caller's CPU
in about half the calls after a pause, started ~3 ms late behind the caller's own block,
and the call took 8-10 ms instead of 5 (medium LSTM inference). Only our own workers are
restricted, always within the caller's allowed CPUs, and only while there are enough of
those for every worker and the caller; the caller's thread is never pinned."""
from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
from typing import Any, Callable, Iterator

_lock = threading.Lock()
_pool: "_Workers | None" = None
_local = threading.local()


def num_threads() -> int:
    """Threads for batch blocks: this thread's :func:`limited` count, else
    ``UNROLLED_NUM_THREADS``, else the CPUs this process may use."""
    limit = getattr(_local, "limit", None)
    if limit is not None:
        return limit
    env = os.environ.get("UNROLLED_NUM_THREADS")
    if env:
        return max(1, int(env))
    return _cpus()


@contextlib.contextmanager
def limited(n: int) -> Iterator[None]:
    """Kernels called from this thread use at most ``n`` threads (e.g. one each when two
    kernels run side by side, as a Bidirectional layer's directions do)."""
    previous = getattr(_local, "limit", None)
    _local.limit = max(1, int(n))
    try:
        yield
    finally:
        _local.limit = previous


@functools.lru_cache(maxsize=1)
def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _Pending:
    """One :func:`run_jobs` call's jobs in the pool: how many are left, their errors."""

    def __init__(self, n: int) -> None:
        self.left, self.errors = n, []
        self.lock, self.done = threading.Lock(), threading.Event()

    def finish(self, error: BaseException | None) -> None:
        with self.lock:
            if error is not None:
                self.errors.append(error)
            self.left -= 1
            if self.left == 0:
                self.done.set()


class _Workers:
    """``n`` daemon threads taking jobs from one queue, all started (and their thread ids
    known, for :func:`_keep_workers_off`) before the constructor returns."""

    def __init__(self, n: int) -> None:
        self.size = n
        self.ids: list[int] = []
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.placed: int | None = None       # the caller's CPU the workers were kept off
        started = threading.Barrier(n + 1)
        for i in range(n):
            threading.Thread(target=self._work, args=(started,), daemon=True,
                             name=f"unrolled-kernel-{i}").start()
        started.wait()

    def _work(self, started: threading.Barrier) -> None:
        with _lock:
            self.ids.append(threading.get_native_id())
        started.wait()
        while True:
            item = self.queue.get()
            if item is None:           # replaced by a bigger pool
                return
            job, pending = item
            try:
                job()
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                pending.finish(err)
            else:
                pending.finish(None)

    def stop(self) -> None:
        """Let the workers finish what is queued, then exit."""
        for _ in range(self.size):
            self.queue.put(None)


def _pool_for(n: int) -> _Workers:
    global _pool
    with _lock:
        pool = _pool
        if pool is not None and pool.size >= n:
            return pool
    new = _Workers(n)                  # outside the lock: its threads take it to start
    with _lock:
        old, _pool = _pool, new
    if old is not None:
        old.stop()
    return new


_placing = True                 # False once placement failed here (no libc, EPERM, not Linux)
_getcpu: Any = None


def _current_cpu() -> int | None:
    """The CPU this thread runs on (glibc's/musl's ``sched_getcpu``), None if unknown."""
    global _getcpu
    if _getcpu is None:
        import ctypes  # noqa: PLC0415 - only for multi-threaded calls

        try:
            fn = ctypes.CDLL(None, use_errno=True).sched_getcpu
        except (OSError, AttributeError):
            fn = False
        _getcpu = fn
    if not _getcpu:
        return None
    cpu = int(_getcpu())
    return cpu if cpu >= 0 else None


def _keep_workers_off(pool: _Workers) -> None:
    """Let the pool's workers run on every CPU the calling thread may use except the one
    it runs on now (see the module's docstring). Redone only when that CPU changed, so a
    call usually pays one ``sched_getcpu`` (~0.3 µs)."""
    global _placing
    if not _placing or not hasattr(os, "sched_setaffinity"):
        return
    cpu = _current_cpu()
    if cpu is None:
        _placing = False
        return
    if pool.placed == cpu:
        return
    allowed = os.sched_getaffinity(0)
    others = allowed - {cpu}
    mask = others if len(others) >= pool.size else allowed
    try:
        for tid in pool.ids:
            os.sched_setaffinity(tid, mask)
    except OSError:                # a sandbox that refuses it: leave the scheduler be
        _placing = False
        return
    pool.placed = cpu


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: a fresh pool on first use (the old
    one would queue jobs for workers that do not exist and wait forever)."""
    global _lock, _pool
    _lock = threading.Lock()
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run_blocks(fn: Callable[..., None], args: tuple[Any, ...], ranges: list[tuple[int, int]]) -> None:
    """``fn(*args, b0, b1)`` for every batch block, at once (see :func:`run_jobs`)."""
    if len(ranges) == 1:
        fn(*args, *ranges[0])
        return
    run_jobs([functools.partial(fn, *args, b0, b1) for b0, b1 in ranges])


def run_jobs(jobs: list[Callable[[], None]]) -> None:
    """Run jobs at once, the first in this thread, the rest in the pool; wait for all,
    then raise the first real error (not a barrier broken because of it)."""
    if len(jobs) == 1:
        jobs[0]()
        return
    pool = _pool_for(len(jobs) - 1)
    _keep_workers_off(pool)
    pending = _Pending(len(jobs) - 1)
    for job in jobs[1:]:
        pool.queue.put((job, pending))
    errors: list[BaseException] = []
    try:
        jobs[0]()
    except BaseException as err:  # noqa: BLE001 - re-raised below, after the others
        errors.append(err)
    pending.done.wait()
    errors += pending.errors
    if errors:
        real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        raise (real or errors)[0]
