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
import threading
from typing import Any, Callable, Iterator

_lock = threading.Lock()
_pool: Any = None
_pool_size = 0
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


_workers: list[int] = []        # the pool's threads (native ids), as they start
_placed: tuple[int, int] | None = None   # (caller's CPU, workers) the last placement was for
_placing = True                 # False once placement failed here (no libc, EPERM, not Linux)
_getcpu: Any = None


def _note_worker() -> None:
    with _lock:
        _workers.append(threading.get_native_id())


def _pool_for(n: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - keep import light

    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="unrolled-kernel",
                                       initializer=_note_worker)
            _pool_size = n
        return _pool


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


def _keep_workers_off() -> None:
    """Let the pool's workers run on every CPU the calling thread may use except the one
    it runs on now (see the module's docstring). Redone only when that CPU or the number
    of workers changed, so a call usually pays one ``sched_getcpu`` (~0.3 µs)."""
    global _placed, _placing
    if not _placing or not hasattr(os, "sched_setaffinity"):
        return
    cpu = _current_cpu()
    if cpu is None:
        _placing = False
        return
    with _lock:
        workers = list(_workers)
    if _placed == (cpu, len(workers)):
        return
    allowed = os.sched_getaffinity(0)
    others = allowed - {cpu}
    mask = others if len(others) >= len(workers) else allowed
    try:
        for tid in workers:
            os.sched_setaffinity(tid, mask)
    except OSError:          # a sandbox that refuses it: leave the scheduler alone
        _placing = False
        return
    _placed = (cpu, len(workers))


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: a fresh pool on first use (the old
    one would queue jobs for workers that do not exist and wait forever)."""
    global _lock, _pool, _pool_size, _placed
    _lock = threading.Lock()
    _pool, _pool_size, _placed = None, 0, None
    _workers.clear()


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
    pool = _pool_for(len(jobs) - 1)
    _keep_workers_off()
    futures = [pool.submit(job) for job in jobs[1:]]
    errors: list[BaseException] = []
    try:
        jobs[0]()
    except BaseException as err:  # noqa: BLE001 - re-raised below, after the others
        errors.append(err)
    for fut in futures:
        try:
            fut.result()
        except BaseException as err:  # noqa: BLE001
            errors.append(err)
    if errors:
        real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        raise (real or errors)[0]
