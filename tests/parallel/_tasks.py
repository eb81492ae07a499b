"""Module-level task functions for the parallel tests (workers import them by name)."""
from __future__ import annotations

import os

import numpy as np


def draw(x: int) -> tuple[int, float, int]:
    """x, a draw from NumPy's global generator (seeded per task), and the worker's pid."""
    return x, float(np.random.rand()), os.getpid()


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"task {x} is broken on purpose")
    return x * x


def die_once(x: int, marker_dir: str) -> int:
    """Kill the worker process the first time task ``x`` runs (a marker file says so)."""
    marker = os.path.join(marker_dir, f"died-{x}")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x


def die_always(x: int) -> int:
    os._exit(1)


def empty() -> None:
    return None


def thread_info() -> tuple[str | None, list[int]]:
    """unrolled's block threads and the loaded BLAS libraries' thread counts, here."""
    import threadpoolctl

    return (os.environ.get("UNROLLED_NUM_THREADS"),
            sorted({lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                    if lib["user_api"] == "blas"}))
