"""A plain-text progress line over tasks on stderr (no dependency)."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from .tasks import Outcome


class Progress:
    """``Progress(total, "series")(outcome)`` after each finished task: a line redrawn
    in place on a terminal, one line per task otherwise (logs)."""

    def __init__(self, total: int, what: str = "tasks", stream: TextIO | None = None,
                 done: int = 0) -> None:
        self.total, self.what, self.done, self.failed = total, what, done, 0
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += not outcome.ok
        elapsed = time.perf_counter() - self.start
        status = "ok" if outcome.ok else f"failed ({outcome.error.type})"  # type: ignore[union-attr]
        line = (f"[{self.done}/{self.total} {self.what}, {self.failed} failed, "
                f"{elapsed:.0f} s] {outcome.key}: {status}")
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
