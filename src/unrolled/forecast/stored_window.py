"""One validation window kept in the forecaster's file, so ``unrolled inspect F.keras``
(and ``trace``) can show the model on real data when no DATA is given.

``unrolled train`` stores the *last window of the validation block* — data the model did
not train on — as the network sees it (scaled with the training statistics), under the
metadata key ``"inspect_window"``::

    "inspect_window": {"x": [[...] × F] × W,      # scaled inputs, float
                       "ends": "2015-03-01",       # the window's last row (time or row number)
                       "source": "weather.csv"}

Only windows of at most :data:`MAX_VALUES` numbers are stored (W·F), so the file stays
small; bigger ones are left out and ``inspect`` falls back to a random input, saying so.
Files written before this key existed load as before (no window).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelFileError

KEY = "inspect_window"
MAX_VALUES = 4096      # W·F numbers at most (about 40 KB of JSON)
MAX_TEXT = 200         # characters of "ends" / "source"


@dataclass(frozen=True)
class StoredWindow:
    """A validation window: ``x`` (W, F) float32 scaled inputs, where it ends and comes from."""

    x: np.ndarray
    ends: str
    source: str

    def to_config(self) -> dict[str, Any]:
        return {"x": self.x.astype(np.float64).tolist(), "ends": self.ends, "source": self.source}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StoredWindow:
        return cls(np.asarray(config["x"], np.float32), str(config["ends"]), str(config["source"]))

    def note(self) -> str:
        """One sentence saying what this input is."""
        return (f"the validation window stored in the model file ({len(self.x)} rows of "
                f"{self.source} ending at {self.ends}, scaled with the training statistics; "
                "not used for training)")


def from_data(data: Any) -> StoredWindow | None:
    """The last validation window of a prepared :class:`~.pipeline.ForecastData`, or None
    when there is none or it holds more than :data:`MAX_VALUES` numbers."""
    val = data.val
    if len(val.x) == 0 or val.x[-1].size > MAX_VALUES:
        return None
    last_row = int(val.target_rows[-1, 0]) - 1          # the window's last input row
    ends = data.label(last_row) if 0 <= last_row < len(data.row_numbers) else "?"
    source = str(getattr(data.selection, "source", "") or "the training data")
    return StoredWindow(np.array(val.x[-1], np.float32), ends[:MAX_TEXT], source[:MAX_TEXT])


def check_window(entry: Any, path: str, window: int, features: int) -> None:
    """``entry`` must be a window of ``window`` rows × ``features`` finite numbers with
    short ``ends``/``source`` texts; else :class:`ModelFileError` naming the field."""
    def fail(field: str, expected: str, got: Any) -> ModelFileError:
        shown = repr(got)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return ModelFileError(f"{path}: the forecasting metadata is damaged: {KEY}.{field} "
                              f"should be {expected}, got {shown}.")

    if not isinstance(entry, dict) or set(entry) != {"x", "ends", "source"}:
        raise fail("keys" if isinstance(entry, dict) else "", "an object with the keys "
                   "['ends', 'source', 'x']", sorted(entry) if isinstance(entry, dict) else entry)
    if window * features > MAX_VALUES:
        raise fail("x", f"absent: a window of {window}×{features} numbers is over the "
                   f"{MAX_VALUES} stored at most", "a stored window")
    rows = entry["x"]
    if not isinstance(rows, list) or len(rows) != window:
        raise fail("x", f"{window} rows of {features} numbers", "another shape")
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == features and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in row)):
            raise fail(f"x[{i}]", f"a list of {features} finite numbers", row)
    for key in ("ends", "source"):
        if not isinstance(entry[key], str) or len(entry[key]) > MAX_TEXT:
            raise fail(key, f"a text of at most {MAX_TEXT} characters", entry[key])


__all__ = ["KEY", "MAX_VALUES", "StoredWindow", "check_window", "from_data"]
