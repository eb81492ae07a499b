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


def _figure(rows: int = 1) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"plotting needs matplotlib: {PLOT_HINT}") from err
    return Figure(figsize=(10, 3.6 * rows), dpi=100)


def _save(fig: Any, path: str | os.PathLike[str]) -> str:
    from ..io.atomic import atomic_write

    fig.tight_layout()
    path = os.fspath(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    return path


def plot_assessment(path: str | os.PathLike[str], assessment: Any, windows: Any,
                    time: np.ndarray | None, spec: Any, title: str = "") -> str:
    """Forecast vs truth one step ahead for the first target (with the interval band and
    the best baseline), and for ``H > 1`` the MAE at each step for every method."""
    cmp = assessment.comparison
    horizon = spec.horizon
    fig = _figure(2 if horizon > 1 else 1)
    ax = fig.add_subplot(2 if horizon > 1 else 1, 1, 1)
    rows = windows.target_rows[:, 0]
    x: Any = time[rows] if time is not None else rows
    ax.plot(x, windows.y_true[:, 0, 0], color="black", linewidth=1.1, label="truth")
    if assessment.lower is not None:
        ax.fill_between(x, assessment.lower[:, 0, 0], assessment.upper[:, 0, 0],
                        color="tab:blue", alpha=0.18,
                        label=f"{assessment.coverage.level * 100:.0f} % interval")
    qs = getattr(assessment, "quantile_scores", None)
    if qs is not None and qs.interval is not None:  # the outermost quantiles
        q = assessment.quantiles
        ax.fill_between(x, q[:, 0, 0, 0], q[:, 0, 0, -1], color="tab:orange", alpha=0.15,
                        label=f"q{qs.interval[0] * 100:g}..q{qs.interval[1] * 100:g}")
    ax.plot(x, assessment.pred[:, 0, 0], color="tab:blue", linewidth=1.1, label="model")
    ax.set_title(f"{title} — step 1, {spec.targets[0]}: model MAE {cmp.model.mae:.3g}, best "
                 f"baseline {cmp.best_baseline} {cmp.baselines[cmp.best_baseline].mae:.3g}")
    ax.set_ylabel(spec.targets[0])
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if horizon > 1:
        ax2 = fig.add_subplot(2, 1, 2)
        steps = np.arange(1, horizon + 1)
        for name, vals in cmp.steps.items():
            ax2.plot(steps, vals, marker="o", linewidth=1.2 if name == "model" else 0.9,
                     label=name)
        ax2.set_xlabel("steps ahead")
        ax2.set_ylabel("MAE")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_steps(path: str | os.PathLike[str], mean: dict[str, np.ndarray],
               spread: dict[str, np.ndarray], title: str = "") -> str:
    """MAE per step ahead (mean ± one standard deviation over folds and seeds)."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, m in mean.items():
        steps = np.arange(1, len(m) + 1)
        line = ax.plot(steps, m, marker="o", label=name,
                       linewidth=1.4 if name == "model" else 0.9)[0]
        ax.fill_between(steps, m - spread[name], m + spread[name], color=line.get_color(),
                        alpha=0.15)
    ax.set_xlabel("steps ahead")
    ax.set_ylabel("MAE (mean ± sd over folds × seeds)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)
