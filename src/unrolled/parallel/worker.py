"""Setting up a worker process once: its thread budget and numba's compiled kernels.

Threads per task are part of a run's settings, like its seed, and every back end applies
the same number (``threads``, default 1) to every task: the compiled kernels split a batch
into one block per thread and OpenBLAS splits its products too, and a different split
can round differently (measured: an LSTM(48) trained on batches of 128 ends with other
weights at 1 and at 2 threads). So a run is bit-identical across back ends only at equal
threads per task. The local pool then starts cores // threads processes (tasks × threads
≤ cores); on a Dask cluster, give each worker process as many cores as ``threads``.

:func:`set_threads` limits unrolled's batch blocks (``UNROLLED_NUM_THREADS``), OpenBLAS/
MKL/OpenMP (``threadpoolctl``, a dependency; the ``*_NUM_THREADS`` variables cover
libraries loaded later). :func:`threads_for_run` does the same for the length
of a serial run in the caller's process and then restores what was there.

Kernels: :func:`warm` loads every compiled-kernel module (from numba's disk cache, or by
compiling it once) and waits for it, so a task never starts on the NumPy fallback while
the compiler runs in the background. That matters for more than speed: the fallback and
the compiled kernels round differently, and a run must give the same numbers whichever
worker a task lands on.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

_THREAD_VARS = ("UNROLLED_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS")   # (numba's own threading layer is not used)
_limits = None   # the threadpoolctl limiter, kept alive for the worker's life
_current: int | None = None   # threads set by set_threads, or None (untouched)
_warmed = False


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_task(tasks_at_once: int, available: int | None = None) -> int:
    """Threads each of ``tasks_at_once`` concurrent tasks may use without oversubscribing."""
    return max(1, (available or cores()) // max(1, tasks_at_once))


def set_threads(threads: int) -> None:
    """Limit this process's compute threads to ``threads`` (see the module docstring)."""
    global _limits, _current
    if threads == _current:
        return
    _current = threads
    for name in _THREAD_VARS:
        os.environ[name] = str(threads)
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - a dependency; the variables still apply
        return
    _limits = threadpoolctl.threadpool_limits(limits=threads)


def warm() -> list[str]:
    """Load (compile once, or read from numba's cache) every compiled-kernel module and
    wait; returns their states. Without numba this is a no-op (``absent``)."""
    from ..core.kernels import cells_numba, cells_train, lstm_numba

    states = []
    for mod in (lstm_numba.COMPILED, cells_numba.COMPILED, cells_train.COMPILED):
        if mod.status() not in ("absent", "failed"):
            try:
                mod.load()
            except Exception:  # noqa: BLE001 - kept in the module's state; tasks fall back
                pass
        states.append(f"{mod.module.lstrip('.')}: {mod.status()}")
    return states


def setup(threads: int | None, warm_kernels: bool = True) -> None:
    """Run once per worker process (a pool initializer, a Dask worker plugin): set the
    threads (None: leave them) and load the compiled kernels."""
    global _warmed
    if threads is not None:
        set_threads(threads)
    if warm_kernels and not _warmed:
        warm()
        _warmed = True


@contextlib.contextmanager
def threads_for_run(threads: int | None) -> Iterator[None]:
    """``threads`` per task in this process for the block, then the previous settings."""
    global _limits, _current
    if threads is None or threads == _current:
        yield
        return
    saved_env = {k: os.environ.get(k) for k in _THREAD_VARS}
    saved = (_limits, _current)
    try:
        set_threads(threads)
        yield
    finally:
        if _limits is not None and _limits is not saved[0]:
            _limits.restore_original_limits()
        _limits, _current = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
