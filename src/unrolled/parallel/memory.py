"""A per-task memory bound: a task refuses an input that would need more than the cap.

Default cap: 1024 MB per task, or ``UNROLLED_TASK_MEMORY_MB``. Callers estimate what a
task will hold (e.g. a series' windows: rows × window × inputs × 4 bytes, several
copies) and call :func:`check_memory` before allocating it.
"""
from __future__ import annotations

import os

from ..errors import DataError

DEFAULT_MB = 1024.0
ENV = "UNROLLED_TASK_MEMORY_MB"


def memory_cap() -> float:
    """The per-task cap in MB."""
    value = os.environ.get(ENV)
    if not value:
        return DEFAULT_MB
    try:
        cap = float(value)
    except ValueError:
        raise DataError(f"{ENV} expects a number of megabytes such as 2048, got "
                        f"{value!r}") from None
    return cap


def check_memory(what: str, estimate_bytes: float, how: str, cap_mb: float | None = None
                 ) -> None:
    """Raise :class:`~unrolled.errors.DataError` if ``estimate_bytes`` exceeds the cap."""
    cap = memory_cap() if cap_mb is None else cap_mb
    need = estimate_bytes / 1e6
    if need > cap:
        raise DataError(f"{what} would need about {need:.0f} MB ({how}), above the per-task "
                        f"cap of {cap:.0f} MB: split it, shorten --window, or raise the cap "
                        f"with --task-memory MB (or {ENV})")
