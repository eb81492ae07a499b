"""Keras-style progress output for ``fit`` / ``evaluate`` / ``predict``.

``verbose=1`` on a terminal: one live bar per epoch, redrawn in place (``\\r``)::

    Epoch 1/5
    12/40 ━━━━━━━━━━━━━━━━━━━━ 0s 3ms/step - loss: 0.1234 - mae: 0.2000

(steps done / steps per epoch, the bar, ETA while running and elapsed time at the end,
time per step, then the running epoch means of the loss and metrics, ``val_*`` added at
the end of the epoch). ``verbose=2``: one line per epoch, Keras's format::

    40/40 - 1s - 3ms/step - loss: 0.1234 - mae: 0.2000 - val_loss: 0.1301

``verbose=0``: silent. ``verbose="auto"`` is 1 when standard output is a terminal and 2
otherwise. Keras 3 resolves "auto" to 1 everywhere and, on a non-terminal, writes every
bar update on its own line; we keep logs readable instead: off a terminal (or with
``NO_COLOR`` set) no colour codes are written, and ``verbose=1`` prints only the final
bar line of each epoch.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, TextIO

from ..errors import ConfigError
from .callback_base import Callback

_BOLD, _GREEN, _GREY, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def resolve_verbose(verbose: Any, stream: TextIO | None = None) -> int:
    """``"auto"`` -> 1 on a terminal, else 2; 0, 1 and 2 pass through."""
    if verbose == "auto":
        return 1 if is_terminal(stream if stream is not None else sys.stdout) else 2
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ConfigError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}.")
    return int(verbose)


def format_value(value: Any) -> str:
    """Keras's number format: 4 decimals, or scientific notation below 1e-3."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
    return str(value)


def format_step_time(seconds: float, unit: str = "step") -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def format_eta(seconds: float) -> str:
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


class Progbar:
    """One progress display for ``target`` steps (``None``: unknown), written to ``stream``.

    ``update(current, values)`` shows ``values`` (a list of ``(name, number)``) as given:
    they are already running means. The time per step leaves out the first step, which
    pays one-off costs, as Keras does.
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 unit_name: str = "step", stream: TextIO | None = None) -> None:
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stream = stream if stream is not None else sys.stdout
        self.dynamic = is_terminal(self.stream)
        self.color = self.dynamic and "NO_COLOR" not in os.environ
        self._values: dict[str, Any] = {}
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step: float | None = None
        self._prev_width = 0

    def _step_time(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_step = (now - self._time_after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_step

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def _metrics_text(self) -> str:
        return "".join(f" - {k}: {format_value(v)}" for k, v in self._values.items())

    def update(self, current: int, values: list[tuple[str, Any]] | None = None,
               finalize: bool | None = None) -> None:
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for key, value in values or []:
            self._values[key] = value
        now = time.time()
        per_step = self._step_time(current, now)
        if self.verbose == 1 and (finalize or (self.dynamic and now - self._last_update >= self.interval)):
            self._write(self._bar_line(current, now, per_step, finalize), finalize)
        elif self.verbose == 2 and finalize:
            count = self._count_text(current)
            line = (f"{count} - {now - self._start:.0f}s - "
                    f"{format_step_time(per_step, self.unit_name)}{self._metrics_text()}")
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last_update = now

    def _count_text(self, current: int) -> str:
        if self.target is None or self.target <= 0:
            return "%7d/Unknown" % current
        digits = int(math.log10(self.target)) + 1
        return f"%{digits}d/%d" % (current, self.target)

    def _bar_line(self, current: int, now: float, per_step: float, finalize: bool) -> tuple[str, int]:
        """The bar line and its printed width (without colour codes)."""
        count = self._count_text(current)
        text = self._paint(count, _BOLD) + " "
        plain = len(count) + 1
        if self.target is not None and self.target > 0:
            done = int(self.width * min(current / self.target, 1.0))
            if done:
                text += self._paint("━" * done, _GREEN)
            if done < self.width:
                text += self._paint("━" * (self.width - done), _GREY)
            plain += self.width
        if self.target is not None and self.target > 0 and not finalize:
            clock = format_eta(per_step * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        info = f" {self._paint(clock, _BOLD)} {format_step_time(per_step, self.unit_name)}{self._metrics_text()}"
        plain += len(f" {clock} {format_step_time(per_step, self.unit_name)}{self._metrics_text()}")
        return text + info, plain

    def _write(self, line_and_width: tuple[str, int], finalize: bool) -> None:
        line, width = line_and_width
        if self.dynamic:
            pad = " " * max(self._prev_width - width, 0)
            self.stream.write("\r" + line + pad + ("\n" if finalize else ""))
        else:  # not a terminal: only the finished line, so logs stay one line per epoch
            self.stream.write(line + "\n")
        self.stream.flush()
        self._prev_width = width


class ProgbarLogger(Callback):
    """Prints ``Epoch k/n`` and a :class:`Progbar` per epoch (``fit``), or one bar for
    ``evaluate`` / ``predict`` when called on their own. Added by ``fit`` unless
    ``verbose=0``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.verbose = resolve_verbose(params.get("verbose", 1))
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _reset(self) -> None:
        self.seen, self.progbar = 0, None

    def _bar(self) -> Progbar:
        if self.progbar is None:
            self.progbar = Progbar(self.target, verbose=self.verbose)
        return self.progbar

    def _update(self, batch: int, logs: dict[str, Any] | None) -> None:
        bar = self._bar()
        self.seen = batch + 1
        if self.verbose == 1:
            bar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize(self, logs: dict[str, Any] | None) -> None:
        bar = self._bar()
        if self.target is None:
            self.target = bar.target = self.seen
        bar.update(self.target, list((logs or {}).items()), finalize=True)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        self._bar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset()
            self._bar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._reset()
        self._bar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finalize(None)
