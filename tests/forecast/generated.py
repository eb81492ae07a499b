"""Series with a known generating process, as CSV files, for the forecasting-quality tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.forecast import write_csv


def drift_walk(n: int = 500, drift: float = 0.5, sigma: float = 1.0, seed: int = 0):
    """``y_t = y_{t-1} + drift + e_t``, daily: a trend that leaves any training range.
    The best one-step forecast is ``y_t + drift``; its errors are the noise."""
    rng = np.random.default_rng(seed)
    return 100 + np.cumsum(drift + sigma * rng.normal(size=n))


def white_noise(n: int = 400, seed: int = 0):
    """``y_t = 10 + e_t``: the best forecast is the mean; the change is pure noise."""
    return 10 + np.random.default_rng(seed).normal(size=n)


def seasonal_ar(n: int = 360, period: int = 12, amp: float = 5.0, phi: float = 0.5,
                sigma: float = 0.5, seed: int = 0):
    """``y_t = amp·sin(2πt/period) + x_t``, ``x_t = phi·x_{t-1} + e_t``. Returns ``(y, the
    best one-step forecast of y_t made at t-1)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    s = amp * np.sin(2 * np.pi * t / period)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + sigma * rng.normal()
    best = np.full(n, np.nan)
    best[1:] = s[1:] + phi * x[:-1]
    return s + x, best


def write_series(path: Path, y: np.ndarray, freq: str = "D", extra: dict | None = None) -> Path:
    """A CSV with a ``date`` column (daily ``D``, monthly ``M``, hourly ``h``) and ``y``."""
    start = {"D": np.datetime64("2000-01-01"), "M": np.datetime64("2000-01", "M"),
             "h": np.datetime64("2000-01-01T00", "h")}[freq]
    times = start + np.arange(len(y))
    cols = {"date": [str(t).replace("T", " ") + (":00" if freq == "h" else "") for t in times],
            "y": [f"{v:.6f}" for v in y]}
    for k, v in (extra or {}).items():
        cols[k] = [f"{x:.6f}" for x in v]
    return write_csv(path, cols)
