"""Pictures of a recurrent layer: its gates over time and its input weights.

Needs matplotlib (``pip install 'unrolled[plot]'``), imported only when a plot is drawn.
Figures are built with ``matplotlib.figure.Figure`` (no pyplot): no global state, no
window, the same PNG on every backend. In a notebook, show one by leaving it as the
cell's last value; write one with ``path=`` (atomically, format from the extension).
"""
from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ..errors import ConfigError
from .trace import MEANING, Trace, recurrent_layer

PLOT_HINT = "pip install 'unrolled[plot]'"
_INPUT_COLOURS = ("0.15", "tab:purple", "tab:brown", "tab:olive", "tab:cyan", "tab:pink", "0.55")
_RANGES = {"sigmoid": (-0.05, 1.05), "hard_sigmoid": (-0.05, 1.05), "tanh": (-1.05, 1.05)}


def _figure(**kwargs: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"plotting needs matplotlib: {PLOT_HINT}") from err
    return Figure(**kwargs)


def _save(fig: Any, path: str | os.PathLike[str] | None) -> None:
    if path is None:
        return
    from ..io.atomic import atomic_write_bytes

    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110)
    atomic_write_bytes(path, buf.getvalue())


def _ticks(n: int, most: int = 12) -> range:
    """Integer ticks 0..n-1, thinned to at most about ``most``."""
    return range(0, n, -(-n // most))


def _ylim(tr: Trace, name: str) -> tuple[float, float] | None:
    act, rec = tr.activations
    if name in ("i", "f", "o", "z", "r"):
        return _RANGES.get(rec)
    if name in ("g", "hh") or (name == "h" and tr.kind != "LSTM"):
        return _RANGES.get(act)
    return None


def plot_gates(trace: Trace, sample: int | None = None, unit: int | None = None,
               path: str | os.PathLike[str] | None = None, inputs: bool = True) -> Any:
    """One panel per gate and state over time (LSTM: i, f, g, o, c, h; GRU: z, r, hh, h;
    SimpleRNN: h), above them the inputs x_t when ``inputs``. ``unit=None`` draws every
    unit (legend up to 8 units). Masked steps (``trace.mask``) are shaded grey. Returns
    the matplotlib Figure; writes it to ``path``."""
    s, u = trace.locate(sample, 0 if unit is None else unit)
    units = range(trace.units) if unit is None else [u]
    names = list(trace.states)
    panels = (["x"] if inputs else []) + names
    fig = _figure(figsize=(8, 0.6 + 1.45 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(trace.timesteps)
    marker = "o" if trace.timesteps <= 40 else None
    for ax, name in zip(axes, panels):
        if name == "x":
            for k, label in enumerate(trace.feature_names[:10]):  # own colours: not units
                ax.plot(t, trace.x[:, s, k], marker=marker, ms=3, lw=1.1, ls="--",
                        color=_INPUT_COLOURS[k % len(_INPUT_COLOURS)], label=label)
            ax.set_ylabel("x_t\n(input)")
            if trace.features <= 10:
                ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        else:
            for j in units:
                ax.plot(t, trace[name][:, s, j], marker=marker, ms=3, lw=1.2,
                        label=f"unit {j}")
            ax.set_ylabel(f"{name}\n({MEANING[name]})", fontsize=9)
            limits = _ylim(trace, name)
            if limits is not None:
                ax.set_ylim(*limits)
        ax.grid(alpha=0.3)
        for t0 in np.flatnonzero([trace.masked(k, s) for k in range(trace.timesteps)]):
            ax.axvspan(t0 - 0.5, t0 + 0.5, color="0.85", zorder=0, lw=0)   # masked step
    if unit is None and 1 < trace.units <= 8:
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("timestep t" + (" (processing order, reversed input)" if trace.go_backwards else ""))
    axes[-1].set_xlim(-0.5, trace.timesteps - 0.5)
    axes[-1].set_xticks(_ticks(trace.timesteps))
    who = f"unit {u}" if unit is not None else f"all {trace.units} unit(s)"
    masked = sum(trace.masked(k, s) for k in range(trace.timesteps))
    note = f" ({masked} masked step(s) shaded)" if masked else ""
    fig.suptitle(f"{trace.kind} {trace.name!r}: gates and states, sample {s}, {who}{note}")
    _save(fig, path)
    return fig


def plot_weights(layer_or_model: Any, path: str | os.PathLike[str] | None = None,
                 recurrent: bool = False, feature_names: list[str] | None = None) -> Any:
    """Heatmaps of ``kernel_<gate>`` (features × units), one per gate, on one symmetric
    colour scale; with ``recurrent`` a second row of ``recurrent_kernel_<gate>`` (units ×
    units). Column j of a kernel is what unit j's gate reads from the features, whose
    rows are labelled with ``feature_names`` when given."""
    layer, _ = recurrent_layer(layer_or_model)
    if not layer.built:
        raise ConfigError(f"{layer.name!r} has no weights yet: build it or call it on data first.")
    from ..core.gates import split_gates

    kind = type(layer).__name__
    gates = {"LSTM": "ifco", "GRU": "zrh"}.get(kind, "")
    packed = ["kernel"] + (["recurrent_kernel"] if recurrent else [])
    blocks = {p: split_gates(getattr(layer, p), max(len(gates), 1)) for p in packed}
    vmax = max(float(np.abs(w).max()) for p in packed for w in blocks[p]) or 1.0
    ncols = max(len(gates), 1)
    F, U = layer.features, layer.units
    if feature_names is not None and len(feature_names) != F:
        raise ConfigError(f"feature_names has {len(feature_names)} name(s) for {F} feature(s).")
    fig = _figure(figsize=(max(6.5, 2.2 + 2.6 * ncols), 1.4 + 2.4 * len(packed)),
                  layout="constrained")
    axes = fig.subplots(len(packed), ncols, squeeze=False)
    for r, p in enumerate(packed):
        for c, w in enumerate(blocks[p]):
            ax = axes[r, c]
            image = ax.imshow(w, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
            ax.set_title(f"{p}_{gates[c]}" if gates else p, fontsize=10)
            ax.set_xlabel("unit")
            ax.set_ylabel("feature" if p == "kernel" else "h_(t-1) unit")
            ax.set_xticks(_ticks(U))
            if p == "kernel" and feature_names is not None:
                ax.set_yticks(range(w.shape[0]), feature_names, fontsize=8)
                ax.set_ylabel("")
            else:
                ax.set_yticks(_ticks(w.shape[0]))
            if w.size <= 64:
                for (i, j), v in np.ndenumerate(w):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(v) > 0.6 * vmax else "black")
    fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    what = " and recurrent_kernel (units × units)" if recurrent else ""
    fig.suptitle(f"{kind} {layer.name!r}: kernel (features × units){what}\n"
                 f"{F} feature(s), {U} unit(s); column j is what unit j reads", fontsize=11)
    _save(fig, path)
    return fig
