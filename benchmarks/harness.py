"""What the side-by-side benchmarks share: the shapes, thread limits, BLAS description and
the GEMM peak every result is measured against (in the same run, with the same threads)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

F32 = np.float32

# (batch, timesteps, features, units), as in the performance issue.
SHAPES = {
    "tiny": (1, 1, 2, 1),
    "small": (1, 50, 8, 32),
    "medium": (32, 100, 16, 128),
    "large": (128, 100, 64, 512),
    "long": (8, 1000, 8, 64),
}


def limit_threads(threads: int) -> Any:
    """Limit unrolled's batch blocks and NumPy's/SciPy's BLAS to ``threads`` threads."""
    os.environ["UNROLLED_NUM_THREADS"] = str(threads)
    try:
        import threadpoolctl
    except ImportError:
        print("note: threadpoolctl not installed; NumPy's BLAS thread count is not limited "
              "(pip install threadpoolctl)", file=sys.stderr)
        return None
    return threadpoolctl.threadpool_limits(threads)


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries loaded (threadpoolctl's description, file name only)."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [{k: v for k, v in info.items() if k != "filepath"} | {"file": Path(info["filepath"]).name}
            for info in threadpoolctl.threadpool_info()]


def gemm_peak(repeats: int) -> float:
    """float32 2048×2048 matmul, GFLOP/s (median), with the current thread limits."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(F32)
    b = a.T.copy()
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 2 * 2048 ** 3 / float(np.median(times)) / 1e9


def calls_per_sample(fn: Callable[[], Any], target_s: float) -> int:
    """How many calls make one timed sample last about ``target_s`` (after one warm call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return max(1, min(10_000, int(target_s / max(dt, 1e-7))))


# OpenBLAS's idle workers keep spinning on a core for ~0.13 s after a multithreaded call
# (measured here: one core's worth of CPU burnt during a sleep right after a matmul), and
# ONNX Runtime's and OpenMP's pools spin too. Without a pause, whichever implementation runs
# next loses a core to the previous one's threads.
SETTLE_S = 0.15


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, target_s: float,
                budget_s: float, settle_s: float = SETTLE_S) -> dict[str, list[float]]:
    """Per-call times: each round times every fn once (a sample of k calls), in a fresh
    random order, preceded by a pause of ``settle_s`` (the previous implementation's
    worker threads stop spinning) and one untimed call. (A rotated order would always put
    the same implementation right after the same other one and bias it.) Stops after
    ``repeats`` rounds, or once ``budget_s`` has passed and at least 3 rounds are done."""
    names = list(fns)
    reps = {n: calls_per_sample(fns[n], target_s) for n in names}
    samples: dict[str, list[float]] = {n: [] for n in names}
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for r in range(repeats):
        for n in rng.permutation(names):
            fn, k = fns[n], reps[n]
            time.sleep(settle_s)
            fn()
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            samples[n].append((time.perf_counter() - t0) / k)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    return samples
