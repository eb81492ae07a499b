"""Forecasting tests; the CSV builders they share live here."""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

HEADER = ["date", "temp", "humidity", "wind", "sky", "idx", "station"]


def series(n: int = 160, seed: int = 0) -> dict[str, list[str]]:
    """Daily rows from 2020-01-01: three measured columns, a text label, a row counter and
    a constant column, as CSV cells (strings). ``temp`` follows a slow cycle plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    temp = 10 + 5 * np.sin(2 * np.pi * t / 30) + rng.normal(0, 0.5, n)
    humidity = 60 + 10 * np.cos(2 * np.pi * t / 30) + rng.normal(0, 2, n)
    wind = 3 + rng.gamma(2.0, 0.5, n)
    start = datetime.date(2020, 1, 1)
    return {
        "date": [(start + datetime.timedelta(days=int(d))).isoformat() for d in t],
        "temp": [f"{v:.2f}" for v in temp],
        "humidity": [f"{v:.1f}" for v in humidity],
        "wind": [f"{v:.2f}" for v in wind],
        "sky": [("sun", "rain", "fog")[i % 3] for i in t],
        "idx": [str(i) for i in t],
        "station": ["7"] * n,
    }


def write_csv(path: Path, columns: dict[str, list[str]]) -> Path:
    names = list(columns)
    n = len(columns[names[0]])
    lines = [",".join(names)] + [",".join(columns[c][i] for c in names) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def numeric(columns: dict[str, list[str]], names: list[str]) -> np.ndarray:
    """``(time, len(names))`` float64, parsed independently of unrolled's CSV reader."""
    return np.array([[float(columns[c][i]) for c in names]
                     for i in range(len(columns[names[0]]))])
