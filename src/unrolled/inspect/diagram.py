"""The unit diagram: one unit of a recurrent layer drawn from its actual weights.

Left, every input the unit reads at a step: each feature ``x_t[k]`` and each previous
hidden value ``h_(t-1)[j]``. Right, the unit's gates (LSTM i, f, c, o; GRU z, r, h;
SimpleRNN one). One line joins each input to each gate: its width is the weight's
magnitude, its colour the sign (blue +, red −); each gate shows its bias. This is the
picture of the question unrolled started from: every feature enters every gate, through
its own column of weights, and the unit keeps one number of state.

Each edge is a ``Line2D`` whose ``gid`` is ``"edge"`` and whose label is
``"<input> -> <gate>: <weight>"`` (weight to full float precision), so the drawing can be
checked against the layer.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .trace import BLOCKS, GATES, recurrent_layer

POSITIVE, NEGATIVE = "#1f5fbf", "#c8323c"
GATE_TITLES = {"i": "input gate i", "f": "forget gate f", "c": "candidate c (g)", "o": "output gate o",
               "z": "update gate z", "r": "reset gate r", "h": "candidate h", "": "h = act(...)"}


def unit_weights(layer: Any, unit: int) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per gate block: (kernel column (F,), recurrent column (H,), input bias) of ``unit``."""
    kind = type(layer).__name__
    if kind not in BLOCKS:
        raise ConfigError(f"unit_diagram needs an LSTM, GRU or SimpleRNN layer, got {kind}.")
    if not layer.built:
        raise ConfigError(f"Layer {layer.name!r} is not built yet: call it on data first.")
    if not 0 <= unit < layer.units:
        raise ConfigError(f"unit must be in [0, {layer.units}) for {layer.units} unit(s), got {unit}.")
    out = {}
    for b in BLOCKS[kind]:
        suffix = f"_{b}" if b else ""
        kernel = getattr(layer, "kernel" + suffix)[:, unit]
        recurrent = getattr(layer, "recurrent_kernel" + suffix)[:, unit]
        bias = getattr(layer, "bias" + suffix) if getattr(layer, "use_bias", True) else None
        if bias is None:
            b_value = 0.0
        else:
            b_value = float(np.asarray(bias)[..., unit].reshape(-1)[0])  # GRU reset_after: input bias row
        out[b] = (np.asarray(kernel, np.float64), np.asarray(recurrent, np.float64), b_value)
    return out


def unit_diagram(layer_or_model: Any, unit: int = 0, feature_names: list[str] | None = None,
                 which: int | str | None = None, max_recurrent: int = 16) -> Any:
    """A matplotlib Figure of ``unit``'s weights (see the module docstring): every input
    feature (named by ``feature_names``) and every previous hidden value joined to every
    gate, width = |weight|, blue positive, red negative, each gate's bias written beside it.

    ``layer_or_model``: an LSTM, GRU or SimpleRNN, or a model (``which`` picks its
    recurrent layer by name or index; default the first).

    ``max_recurrent``: at most this many previous-hidden inputs are drawn (those with the
    largest weights into this unit); the title says when some are left out.
    """
    from matplotlib.lines import Line2D
    from matplotlib.figure import Figure

    layer, _ = recurrent_layer(layer_or_model, which)
    blocks = unit_weights(layer, unit)
    kind = type(layer).__name__
    first = next(iter(blocks.values()))
    F, H = len(first[0]), len(first[1])
    names = list(feature_names) if feature_names is not None else [f"x[{k}]" for k in range(F)]
    if len(names) != F:
        raise ConfigError(f"feature_names has {len(names)} name(s) for {F} feature(s).")
    strength = np.sum([np.abs(r) for _, r, _ in blocks.values()], axis=0)
    keep_h = np.sort(np.argsort(-strength, kind="stable")[:max_recurrent])
    inputs = [(n, "x", k) for k, n in enumerate(names)] + [(f"h_(t-1)[{j}]", "h", j) for j in keep_h]
    gates = list(blocks)
    largest = max(max(np.abs(k).max(initial=0), np.abs(r).max(initial=0)) for k, r, _ in blocks.values()) or 1.0

    n_in = len(inputs)
    fig = Figure(figsize=(8.0, max(3.0, 0.38 * n_in + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    y_in = np.linspace(1, 0, n_in) if n_in > 1 else np.array([0.5])
    y_gate = np.linspace(0.85, 0.15, len(gates)) if len(gates) > 1 else np.array([0.5])
    for (name, _, _), y in zip(inputs, y_in):
        ax.text(-0.02, y, name, ha="right", va="center", fontsize=9)
    for g, y in zip(gates, y_gate):
        kernel, recurrent, bias = blocks[g]
        for (name, src, idx), yi in zip(inputs, y_in):
            w = float(kernel[idx] if src == "x" else recurrent[idx])
            line = Line2D([0, 1], [yi, y], color=POSITIVE if w >= 0 else NEGATIVE,
                                           linewidth=0.3 + 4.0 * abs(w) / largest, alpha=0.75,
                                           gid="edge", label=f"{name} -> {g or 'h'}: {w!r}")
            ax.add_line(line)
        ax.text(1.02, y, f"{GATE_TITLES.get(g, g)}\nbias {bias:+.3g}", ha="left", va="center",
                fontsize=9, bbox={"boxstyle": "round", "facecolor": "#f3f3f3", "edgecolor": "#888"})
    ax.set_xlim(-0.35, 1.45)
    ax.set_ylim(-0.08, 1.08)
    left_out = H - len(keep_h)
    note = f"; {left_out} weaker h_(t-1) inputs not drawn" if left_out > 0 else ""
    ax.set_title(f"{kind} {layer.name!r}, unit {unit}: every input feeds every gate "
                 f"(width = |weight|, blue +, red −){note}", fontsize=10)
    return fig


def diagram_edges(fig: Any) -> list[tuple[str, str, float]]:
    """``(input, gate, weight)`` for every edge drawn in a :func:`unit_diagram` figure."""
    edges = []
    for ax in fig.axes:
        for line in ax.lines:
            if line.get_gid() == "edge":
                label = line.get_label()
                inp, rest = label.split(" -> ", 1)
                gate, weight = rest.split(": ", 1)
                edges.append((inp, gate, float(weight)))
    return edges


__all__ = ["GATES", "diagram_edges", "unit_diagram", "unit_weights"]
