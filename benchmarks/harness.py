"""What the side-by-side benchmarks share: the shapes, thread limits, BLAS description and
the GEMM peak every result is measured against (in the same run, with the same threads)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
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
