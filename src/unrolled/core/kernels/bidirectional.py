"""Both directions of a ``Bidirectional`` layer at once.

The forward and the backward layer of a Bidirectional wrapper are independent until their
outputs merge, so on two cores their time loops can run side by side -- each direction on
one core, with one thread and single-threaded BLAS -- instead of one after the other, each
splitting its batch over the cores. :func:`plan` decides (and says why, as data, for
``summary()`` and ``unrolled info``); :func:`run` runs the two jobs.

Side by side when both directions run compiled (numba) small-step loops, two or more
threads are allowed and a core is idle (the load average is below the threads less one): the compiled loops release the GIL, so the two directions really
run at once, and with one thread each they need no per-step handoff and start no OpenBLAS
worker. One after the other otherwise: small directions (below MIN_DIRECTION_WORK the
handoff to another thread costs more than the second core saves), GEMM-bound steps
(each step's product already uses every core), NumPy and reference kernels (their Python
loops hold the GIL), one allowed thread, no idle core.

Axis legend: B batch, T timesteps, F features, H units, G gates per unit.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, NamedTuple, Sequence

from .runtime.threads import limited, num_threads, run_jobs

# Above this many multiply-adds per step (B·G·H²) a step is GEMM-bound and uses every
# core by itself (see lstm_numba.LARGE_STEP_WORK, cells_numba.is_large).
LARGE_STEP_WORK = 64 * 256 * 1024
# Below this many multiply-adds per direction (T·B·G·H²) handing one direction to another
# thread costs more than it saves: the same size from which one LSTM splits its batch
# over threads (lstm_numba.MIN_TOTAL_WORK). Measured on the 2-vCPU benchmark machine
# (session 10, quiet, inference, median of 3 interleaved rounds): at (32, 14, 4, 32),
# 1.8 M per direction, at once 0.42-0.53 ms against 0.33 ms one after the other (the
# handoff and the worker's wake-up cost ~0.1-0.2 ms there); at (32, 28, 4, 32), 3.7 M,
# at once 0.72 against 0.86 ms.
MIN_DIRECTION_WORK = 2_000_000


class DirectionPlan(NamedTuple):
    """How a Bidirectional call runs its two directions."""

    at_once: bool
    reason: str


AT_ONCE = ("bidirectional: both directions at once, one thread each (compiled loops "
           "release the GIL; no handoff per step)")


def plan(kernel_names: Callable[[], Sequence[str]], batch: int, timesteps: int, units: int,
         gates: int) -> DirectionPlan:
    """Whether the two directions run side by side, and why; ``kernel_names()`` gives the
    kernels the two directions would run (asked only when the sizes allow running them
    at once). ``UNROLLED_BIDIRECTIONAL=sequential`` (or ``at_once``) overrides the rule
    (benchmarks compare the two)."""
    mode = os.environ.get("UNROLLED_BIDIRECTIONAL", "").strip().lower()
    if mode in ("sequential", "at_once"):
        return DirectionPlan(mode == "at_once", f"bidirectional: {mode.replace('_', ' ')} "
                                                "(UNROLLED_BIDIRECTIONAL)")
    step_work = batch * gates * units * units
    if step_work * timesteps < MIN_DIRECTION_WORK:
        return DirectionPlan(False, "bidirectional: one direction after the other (small: "
                                    f"T·batch·{gates}·units² = {step_work * timesteps:,} "
                                    f"< {MIN_DIRECTION_WORK:,}: a thread handoff would cost "
                                    "more than the second core saves)")
    if step_work > LARGE_STEP_WORK:
        return DirectionPlan(False, "bidirectional: one direction after the other (large "
                                    f"step, batch·{gates}·units² = {step_work:,}: each "
                                    "step's GEMM uses every core)")
    if num_threads() < 2:
        return DirectionPlan(False, "bidirectional: one direction after the other "
                                    "(one thread allowed: UNROLLED_NUM_THREADS)")
    names = list(kernel_names())
    if any(name != "numba" for name in names):
        return DirectionPlan(False, "bidirectional: one direction after the other (kernels "
                                    f"{'/'.join(names)}: only compiled loops release "
                                    "the GIL)")
    load = load_average()
    if load is not None and load > num_threads() - 1:
        return DirectionPlan(False, "bidirectional: one direction after the other (no idle "
                                    f"core: load average {load:.1f} on {num_threads()} "
                                    "threads; a second thread would wait for one)")
    return DirectionPlan(True, AT_ONCE)


_load: list[float] = [0.0, -1.0]      # [reading, when (time.monotonic)]


def load_average() -> float | None:
    """The 1-minute load average (read at most once a second), None where unknown. On a
    busy machine the second direction's thread waits for a core: measured here at load
    ~10 on 2 cores, at once took 1.2-1.3x one after the other (demo shape, min of 300)."""
    now = time.monotonic()
    if now - _load[1] > 1.0:
        try:
            _load[0] = os.getloadavg()[0]
        except (AttributeError, OSError):
            _load[0] = -1.0
        _load[1] = now
    return None if _load[0] < 0 else _load[0]


def run(jobs: Sequence[Callable[[], Any]], at_once: bool) -> list[Any]:
    """The jobs' results, in order: side by side (one kernel thread each) or one after
    the other."""
    if not at_once:
        return [job() for job in jobs]
    results: list[Any] = [None] * len(jobs)

    def one(k: int) -> Callable[[], None]:
        def go() -> None:
            with limited(1):
                results[k] = jobs[k]()
        return go

    # NumPy's BLAS needs no limit here: inference runs whole compiled calls, and a
    # training kernel limits BLAS itself around its GEMMs where OpenBLAS would thread them.
    run_jobs([one(k) for k in range(len(jobs))])
    return results
