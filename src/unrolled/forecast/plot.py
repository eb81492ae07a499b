"""A PNG of forecasts against the truth (needs matplotlib: ``pip install 'unrolled[plot]'``)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

PLOT_HINT = "pip install 'unrolled[plot]'"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_forecast(path: str | os.PathLike[str], time: np.ndarray, truth: np.ndarray,
                  pred: np.ndarray, baseline: np.ndarray | None = None, *, title: str = "",
                  ylabel: str = "", labels: tuple[str, str, str] = ("truth", "LSTM",
                                                                     "persistence")) -> str:
    """Draw ``truth``, ``pred`` (and ``baseline``), all ``(N,)``, against ``time (N,)``.

    Written atomically. Raises ImportError naming the extra when matplotlib is missing.
    """
    try:
        # Figure without pyplot: renders with Agg, touches no global backend or window.
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"plotting needs matplotlib: {PLOT_HINT}") from err

    from ..io.atomic import atomic_write

    fig = Figure(figsize=(10, 4), dpi=100)
    ax = fig.add_subplot()
    x: Any = time if time is not None else np.arange(len(truth))
    ax.plot(x, truth, color="black", linewidth=1.2, label=labels[0])
    if baseline is not None:
        ax.plot(x, baseline, color="0.6", linewidth=0.9, linestyle="--", label=labels[2])
    ax.plot(x, pred, color="tab:blue", linewidth=1.2, label=labels[1])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    path = os.fspath(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    return path
