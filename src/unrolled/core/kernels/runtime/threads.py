"""Threads for the compiled kernels' batch blocks and GEMM halves: how many
(``UNROLLED_NUM_THREADS``, else the CPUs this process may use), one small shared pool, and
running jobs at once with the first in the calling thread."""
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


def _pool_for(n: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - keep import light

    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="unrolled-kernel")
            _pool_size = n
        return _pool


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
