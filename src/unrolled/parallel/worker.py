"""Setting up a worker process once: its thread budget and numba's compiled kernels.

Threads: a worker that runs ``tasks_at_once`` tasks on a machine with ``cores`` cores gets
``max(1, cores // tasks_at_once)`` threads for unrolled's batch blocks
(``UNROLLED_NUM_THREADS``), for OpenBLAS/MKL/OpenMP (``threadpoolctl``, already a
dependency, limits the libraries loaded in the process; the ``*_NUM_THREADS`` variables
cover libraries loaded later) and for numba, so tasks × threads ≤ cores.

Kernels: :func:`warm` loads every compiled-kernel module (from numba's disk cache, or by
compiling it once) and waits for it, so a task never starts on the NumPy fallback while
the compiler runs in the background. That matters for more than speed: the fallback and
the compiled kernels round differently, and a run must give the same numbers whichever
worker a task lands on.
"""
from __future__ import annotations

import os

_THREAD_VARS = ("UNROLLED_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_limits = None   # the threadpoolctl limiter, kept alive for the worker's life
_done: tuple[int, bool] | None = None


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
    global _limits
    for name in _THREAD_VARS:
        if name == "NUMBA_NUM_THREADS" and "numba" in __import__("sys").modules:
            continue  # numba reads it once at import; set_num_threads below instead
        os.environ[name] = str(threads)
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - a dependency; the variables still apply
        pass
    else:
        _limits = threadpoolctl.threadpool_limits(limits=threads)
    import sys

    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


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
    """Run once per worker process (a pool initializer, a Dask worker plugin, or the
    calling process for a serial run). ``threads=None`` leaves the thread counts alone."""
    global _done
    if _done == (threads or 0, warm_kernels):
        return
    if threads is not None:
        set_threads(threads)
    if warm_kernels:
        warm()
    _done = (threads or 0, warm_kernels)
