"""Keep NumPy's OpenBLAS single-threaded while the compiled small-step loops run.

The small-step numba kernels run one batch block per core, in our own threads. A
multithreaded OpenBLAS call just before them (the input-projection GEMM, last step's
weight-gradient GEMMs, or any ``np.matmul`` of the caller's) leaves OpenBLAS's idle worker
spinning on a core for ~0.13 s, and the block on that core then runs at half speed:
measured at (32, 100, 16, 128), the forward loop took 10.4–11.9 ms right after a 2-thread
sgemm against 5.0–6.1 ms with the worker asleep or the sgemm run single-threaded. So, for
the duration of a small-step call that uses blocks on several threads, the GEMMs around the
loops run single-threaded (``threadpoolctl``, part of the ``[fast]`` extra) and start no
spinner; the two cores are already busy with the blocks.

Process-wide: while such a call runs, other threads' NumPy BLAS calls are single-threaded
too (as under ``threadpoolctl.threadpool_limits``). Nested and concurrent calls share one
limit: the first to enter sets it, the last to leave restores the previous thread counts.
Without threadpoolctl this is a no-op (and ``unrolled info`` says so). OpenBLAS quirk,
measured with 0.3.30/0.3.31: once one thread has set the count, a count set later from
another thread is not always seen; the call then runs as without this module — slower,
never wrong.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import threading
from typing import Any, Iterator

# OpenBLAS runs an sgemm on the calling thread up to this many multiply-adds (m·n·k);
# bigger calls wake its thread pool (which oversubscribes cores our blocks already use).
SINGLE_THREAD_WORK = 65536 * 4

_lock = threading.Lock()
_controller: Any = None
_limiter: Any = None
_depth = 0


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether threadpoolctl can be imported (looked up once: every small-step call asks,
    and ``find_spec`` stats the file system each time)."""
    try:
        return importlib.util.find_spec("threadpoolctl") is not None
    except (ImportError, ValueError):
        return False


def _openblas() -> Any:
    """threadpoolctl's controller over the OpenBLAS libraries loaded now (call after numba
    and SciPy are imported, so SciPy's copy is included), or None without threadpoolctl."""
    global _controller
    if _controller is None:
        if not available():
            return None
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415 - optional

        _controller = ThreadpoolController().select(internal_api="openblas")
    return _controller


def limited() -> bool:
    """Whether a :func:`single_threaded` block is active now (in any thread)."""
    return _depth > 0


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """OpenBLAS limited to one thread inside the block (costs ~13 µs to enter and leave)."""
    global _limiter, _depth
    with _lock:
        controller = _openblas()
        if controller is None:
            limiting = False
        else:
            limiting = True
            if _depth == 0:
                _limiter = controller.limit(limits=1)
            _depth += 1
    try:
        yield
    finally:
        if limiting:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    _limiter.restore_original_limits()
                    _limiter = None
