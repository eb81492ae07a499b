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
    "demo": (32, 14, 4, 32),   # `unrolled demo`'s model and batch
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
    """float32 2048×2048 matmul, GFLOP/s, with the current thread limits: the best of
    ``repeats`` calls. On a shared machine noise only ever slows a call (medians of the
    same matmul moved 150–280 GFLOP/s between runs here), so the best call is the closest
    to what the hardware can do, and "% of peak" never exceeds 100 % by a noisy peak."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(F32)
    b = a.T.copy()
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 2 * 2048 ** 3 / float(np.min(times)) / 1e9


def summarize(samples: dict[str, list[float]], work: float, peak: float,
              peers: set[str]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Rows per implementation from :func:`interleaved`'s samples (seconds per call) and
    the fastest peer by median. Two ratios to that peer: of the medians, and the *paired*
    one — the median over rounds of this round's time ÷ the peer's time in the same round.
    Rounds run the implementations back to back, so a slow spell of the machine hits both
    sides of a paired ratio, where it can land on one side only of a ratio of medians."""
    rows: dict[str, dict[str, Any]] = {}
    for n, s in samples.items():
        med = float(np.median(s))
        rows[n] = {"median_ms": med * 1e3, "min_ms": float(np.min(s)) * 1e3,
                   "gflops": work / med / 1e9, "pct_gemm_peak": 100 * work / med / 1e9 / peak,
                   "samples": len(s)}
    fastest = min((n for n in rows if n in peers), key=lambda n: rows[n]["median_ms"],
                  default=None)
    for n, r in rows.items():
        if fastest is None:
            r["ratio_to_fastest_peer"] = r["paired_ratio_to_fastest_peer"] = None
            continue
        r["ratio_to_fastest_peer"] = r["median_ms"] / rows[fastest]["median_ms"]
        r["paired_ratio_to_fastest_peer"] = float(np.median(
            np.asarray(samples[n]) / np.asarray(samples[fastest])))
    return rows, fastest


def print_rows(mode: str, rows: dict[str, dict[str, Any]], fastest_peer: str | None) -> None:
    """One mode's table, fastest first: median ms, GFLOP/s, % of the GEMM peak, and the
    ratios (of medians; paired) to the fastest peer."""
    print(f"   {mode:<19} {'median ms':>11} {'GFLOP/s':>9} {'% peak':>7} "
          f"{'× ' + str(fastest_peer):>16} {'paired':>7}")
    for n, r in sorted(rows.items(), key=lambda kv: kv[1]["median_ms"]):
        ratio, paired = ("-" if r[k] is None else f"{r[k]:.2f}×"
                         for k in ("ratio_to_fastest_peer", "paired_ratio_to_fastest_peer"))
        print(f"   {n:<19} {r['median_ms']:>11.4f} {r['gflops']:>9.2f} "
              f"{r['pct_gemm_peak']:>6.1f}% {ratio:>16} {paired:>7}")


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
                budget_s: float, settle_s: float = SETTLE_S,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Per-call times: each round times every fn once (a sample of k calls), in a fresh
    random order, preceded by a pause of ``settle_s`` (the previous implementation's
    worker threads stop spinning) and one untimed call. (A rotated order would always put
    the same implementation right after the same other one and bias it.) Stops after
    ``repeats`` rounds, or once ``budget_s`` has passed and at least 3 rounds are done.
    ``clock`` times the samples: wall time by default; ``time.process_time`` gives the CPU
    time of the whole process instead, which other processes' load does not inflate
    (with one thread per implementation, that is the time of the call itself)."""
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
            t0 = clock()
            for _ in range(k):
                fn()
            samples[n].append((clock() - t0) / k)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    return samples


def time_modes(modes: list[tuple[str, dict[str, Callable[[], Any]], set[str], float]],
               args: Any, peak: float) -> dict[str, Any]:
    """Time each (mode, fns, peers, work) side by side, print its rows and return them
    by mode (rows and the fastest peer)."""
    out = {}
    for mode, fns, peers, work in modes:
        samples = interleaved(fns, args.repeats, 0.02, args.budget)
        rows, fastest = summarize(samples, work, peak, peers)
        print_rows(mode, rows, fastest)
        out[mode] = {"rows": rows, "fastest_peer": fastest}
    return out
