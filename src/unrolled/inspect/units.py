"""Per-unit statistics of a recurrent layer over data: how long each unit remembers,
how often its gates saturate, whether it is dead, which features drive each gate.

Memory length. An LSTM keeps a fraction ``f_t`` of its cell state at each step
(``c_t = f_t·c_{t-1} + i_t·g_t``), so a value stored at step s is scaled by
``f_{s+1}·…·f_t`` by step t. With the geometric mean ``f̄`` of the forget gate over the
data, that product halves after ::

    half-life = ln(0.5) / ln(f̄)   steps

(∞ for ``f̄ = 1``). A GRU keeps ``z_t`` of its state (``h_t = z_t·h_{t-1} + (1 − z_t)·ĥ_t``),
so its half-life uses the update gate ``z``. A SimpleRNN has no gate that holds a value
unchanged; its half-life is reported as None.

Saturation: the share of (timestep, sample) pairs at which a sigmoid gate is below 0.05
or above 0.95 (tanh candidate: |g| > 0.95) — a saturated gate passes (almost) no
gradient. Dead: the unit's output ``h`` varies by less than 1e-6 over all the data.
Feature weight: |kernel weight| × the feature's standard deviation over the data, so
features in different units compare.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .trace import BLOCKS, GATES, Trace, trace

Array = np.ndarray
KEEP_GATE = {"LSTM": "f", "GRU": "z"}  # the gate that multiplies the carried state


def half_life(keep: Array) -> Array:
    """Steps until a stored value halves, per unit, from the keep-gate values (..., H)."""
    g = np.clip(np.asarray(keep, np.float64).reshape(-1, keep.shape[-1]), 1e-300, 1.0)
    mean_log = np.log(g).mean(axis=0)                                   # ln of geometric mean
    with np.errstate(divide="ignore"):
        return np.where(mean_log < 0, np.log(0.5) / np.where(mean_log < 0, mean_log, -1.0), np.inf)


def memory_lengths(layer_or_model: Any, x: Any, which: int | str | None = None,
                   mask: Any = None) -> Array | None:
    """Each unit's half-life in steps, ``(units,)`` float (∞ for a unit that keeps
    everything): how many steps until a value stored in the state halves, from the keep
    gate over ``x`` (batch, timesteps, features) — LSTM ``f``, GRU ``z`` — see the module
    docstring. ``which`` picks the recurrent layer of a model (name or index), ``mask``
    (batch, timesteps) the real steps. None for a SimpleRNN (no gate keeps a value)."""
    return memory_from_trace(trace(layer_or_model, x, which=which, mask=mask))


def memory_from_trace(tr: Trace) -> Array | None:
    gate = KEEP_GATE.get(tr.kind)
    if gate is None:
        return None
    values = tr[gate]                                                   # (T, B, H)
    if tr.mask is not None:                                             # masked steps keep all
        values = values[tr.mask]
    return half_life(values)


@dataclass(frozen=True)
class UnitStatistics:
    """Statistics of every unit of one recurrent layer over some data."""

    kind: str
    layer: str
    half_life: Array | None          # (H,) steps; None for SimpleRNN
    saturation: dict[str, Array]     # gate -> (H,) share of steps saturated
    dead: Array                      # (H,) bool
    top_features: dict[str, list[list[tuple[str, float]]]]   # gate -> per unit, ranked

    def table(self, top: int = 2) -> str:
        H = len(self.dead)
        gates = list(self.saturation)
        head = f"{'unit':>4} {'half-life':>10} " + "".join(f"{'sat ' + g:>8}" for g in gates)
        lines = [f"{self.kind} {self.layer!r}: per-unit statistics", head + "  dead  top features (first gate)"]
        for u in range(H):
            hl = "—" if self.half_life is None else _steps(self.half_life[u])
            sat = "".join(f"{self.saturation[g][u]:>8.0%}" for g in gates)
            feats = ", ".join(f"{n} {w:.3g}" for n, w in self.top_features[gates[0]][u][:top])
            lines.append(f"{u:>4} {hl:>10} {sat}  {'yes' if self.dead[u] else 'no ':>4}  {feats}")
        return "\n".join(lines)


def _steps(v: float) -> str:
    return "∞" if not np.isfinite(v) else f"{v:.3g}"


def unit_statistics(tr: Trace) -> UnitStatistics:
    """Statistics of every unit from a :func:`~unrolled.inspect.trace` over the data."""
    sel = tr.mask if tr.mask is not None else np.ones(tr["h"].shape[:2], bool)
    saturation = {}
    for g in tr.gates:
        v = tr[g][sel]                                                  # (N, H)
        if g in ("g", "hh") or tr.kind == "SimpleRNN":                  # tanh-like: ±1
            sat = np.abs(v) > 0.95
        else:
            sat = (v < 0.05) | (v > 0.95)
        saturation[g] = sat.mean(axis=0) if len(v) else np.zeros(tr.units)
    h = tr["h"][sel]
    dead = (h.max(axis=0) - h.min(axis=0)) < 1e-6 if len(h) else np.ones(tr.units, bool)
    x_std = tr.x[sel].std(axis=0) if len(h) else np.ones(tr.features)   # (F,)
    H = tr.units
    top: dict[str, list[list[tuple[str, float]]]] = {}
    for j, g in enumerate(tr.gates):
        block = np.abs(tr.kernel[:, j * H:(j + 1) * H]) * x_std[:, None]  # (F, H)
        top[g] = [[(tr.feature_names[k], float(block[k, u])) for k in np.argsort(-block[:, u], kind="stable")]
                  for u in range(H)]
    return UnitStatistics(tr.kind, tr.name, memory_from_trace(tr), saturation, dead, top)


__all__ = ["BLOCKS", "GATES", "UnitStatistics", "half_life", "memory_lengths", "memory_from_trace",
           "unit_statistics"]
