"""Quantile forecasts (``--quantiles 0.1,0.5,0.9``): a non-crossing head and its scores.

The network predicts ``Q`` quantiles of each of its ``K = H·T`` outputs (``z`` space,
:mod:`.transform`), trained with the pinball loss
(:class:`unrolled.losses.Pinball`). Quantiles never cross, by construction: one
quantile, the *centre* ``c`` (the median, which is always among them), is the usual
point forecast (LSTM ``forecast`` + ``linear`` path), and the others are reached by
adding or subtracting positive gaps::

    g[k, i]  = softplus(Dense(h))             > 0,  i = 0..Q-2   ("quantile_gaps")
    q[k, c]  = centre[k]
    q[k, j]  = centre[k] + Σ_{i=c}^{j-1} g[k, i]     (j > c)
    q[k, j]  = centre[k] - Σ_{i=j}^{c-1} g[k, i]     (j < c)

The sums are a fixed (non-trainable) Dense layer of 0/±1 weights ("quantile_offsets"),
and copying the centre to every quantile is another ("quantile_centre"), so the head is
plain Keras layers (real Keras 3 loads the file). Gap ``i`` is the distance between
quantiles ``i`` and ``i+1``; softplus keeps it positive and has no dead zone, so every
gap keeps learning (sorting the outputs would also avoid crossing, but lets two outputs
swap roles mid-training). Before training, the gaps' biases hold the spacing of the
ridge model's residual quantiles on the train windows (kernel 0), so the untrained
model is "ridge ± its empirical error quantiles"; after training, the validation
pinball loss decides between the trained weights and that starting point.

Output layout: ``(batch, K·Q)``, output ``k·Q + j`` is quantile ``j`` of output ``k``
(quantile-innermost; ``k = h·T + t`` horizon-major as for point forecasts).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError

MIN_GAP = 1e-3  # smallest starting gap between neighbouring quantiles (z units)


def normalize(quantiles: Any) -> list[float]:
    """Sorted distinct quantiles in (0, 1) with the median added (the point forecast)."""
    try:
        q = [float(v) for v in quantiles]
    except (TypeError, ValueError):
        raise ConfigError(f"quantiles must be numbers between 0 and 1, e.g. 0.1,0.5,0.9; "
                          f"got {quantiles!r}") from None
    bad = [v for v in q if not 0 < v < 1]
    if bad:
        raise ConfigError(f"quantiles must lie strictly between 0 and 1, got {bad} "
                          "(e.g. --quantiles 0.1,0.5,0.9)")
    return sorted(set(q) | {0.5})


def parse(text: str) -> list[float]:
    """``"0.1,0.5,0.9"`` → ``[0.1, 0.5, 0.9]`` (argparse type)."""
    import argparse

    try:
        return normalize(v for v in text.split(",") if v.strip())
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def centre(quantiles: list[float]) -> int:
    """Index of the median."""
    return quantiles.index(0.5)


def column(target: str, q: float) -> str:
    """Output column name of quantile ``q`` of ``target``: ``temp_q10``, ``temp_q2.5``."""
    return f"{target}_q{q * 100:g}"


def offset_matrix(k: int, quantiles: list[float]) -> np.ndarray:
    """``(K·(Q-1), K·Q)`` 0/±1 weights taking the gaps to each quantile's offset from the
    centre (see the module docstring)."""
    nq, c = len(quantiles), centre(quantiles)
    m = np.zeros((k * (nq - 1), k * nq), np.float32)
    for j in range(k):
        for q in range(nq):
            for i in range(c, q):                 # above the centre: + gaps c..q-1
                m[j * (nq - 1) + i, j * nq + q] = 1.0
            for i in range(q, c):                 # below: - gaps q..c-1
                m[j * (nq - 1) + i, j * nq + q] = -1.0
    return m


def repeat_matrix(k: int, nq: int) -> np.ndarray:
    """``(K, K·Q)``: copies output ``k`` to its ``Q`` quantile slots."""
    return np.kron(np.eye(k, dtype=np.float32), np.ones((1, nq), np.float32))


def softplus_inverse(g: np.ndarray) -> np.ndarray:
    return g + np.log(-np.expm1(-g))  # log(exp(g) - 1), stable for large g


def initial_gaps(residuals: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """``(K·(Q-1),)`` starting gaps: spacing of the empirical quantiles of ``residuals
    (N, K)`` (truth minus ridge, z units), at least :data:`MIN_GAP`."""
    levels = np.quantile(np.asarray(residuals, np.float64), quantiles, axis=0)  # (Q, K)
    gaps = np.maximum(np.diff(levels, axis=0), MIN_GAP)  # (Q-1, K)
    return gaps.T.reshape(-1)


def head(h: Any, point: Any, k: int, quantiles: list[float], gaps: np.ndarray | None) -> Any:
    """Symbolic ``(batch, K·Q)`` quantiles from LSTM features ``h`` and the point
    forecast ``point (batch, K)`` (which becomes the median)."""
    from ..layers import Add, Dense

    nq = len(quantiles)
    gap_layer = Dense(k * (nq - 1), activation="softplus", kernel_initializer="zeros",
                      name="quantile_gaps")
    offsets = Dense(k * nq, use_bias=False, trainable=False, name="quantile_offsets")
    copies = Dense(k * nq, use_bias=False, trainable=False, name="quantile_centre")
    out = Add(name="quantiles")([copies(point), offsets(gap_layer(h))])
    offsets.set_weights([offset_matrix(k, quantiles)])
    copies.set_weights([repeat_matrix(k, nq)])
    if gaps is not None:
        w = gap_layer.get_weights()
        gap_layer.set_weights([w[0], softplus_inverse(gaps).astype(np.float32)])
    return out


def split(out: np.ndarray, k: int, nq: int) -> np.ndarray:
    """Model output ``(N, K·Q)`` → ``(N, K, Q)``."""
    return np.asarray(out, np.float64).reshape(len(out), k, nq)


def decode(zq: np.ndarray, last: np.ndarray, transform: str, scaler: Any,
           horizon: int) -> np.ndarray:
    """``(N, K, Q)`` z quantiles → ``(N, H, T, Q)`` in data units (a positive affine map
    per output, so the order is kept)."""
    from .transform import decode as decode_z

    return np.stack([decode_z(zq[:, :, j], last, transform, scaler, horizon)
                     for j in range(zq.shape[2])], axis=-1)


def pinball_loss(pred: np.ndarray, true: np.ndarray, q: float) -> float:
    """Mean pinball loss of quantile forecasts ``pred`` of level ``q`` (data units)."""
    e = np.asarray(true, np.float64) - np.asarray(pred, np.float64)
    return float(np.mean(np.maximum(q * e, (q - 1) * e)))


class QuantileScores(NamedTuple):
    """How quantile forecasts did on some windows.

    Attributes:
        quantiles: the levels ``τ``.
        coverage: per quantile, the share of truths at or below it (ideal: ``τ``).
        pinball: per quantile, the mean pinball loss in the data's units.
        interval: ``(lower τ, upper τ)`` of the widest central interval, or None.
        inside: share of truths inside that interval (ideal: upper - lower).
        width: its mean width in the data's units.
        samples: forecasts scored (windows × steps × targets).
    """

    quantiles: list[float]
    coverage: list[float]
    pinball: list[float]
    interval: tuple[float, float] | None
    inside: float
    width: float
    samples: int


def score(qpred: np.ndarray, true: np.ndarray, quantiles: list[float]) -> QuantileScores:
    """Scores of ``qpred (N, H, T, Q)`` against ``true (N, H, T)``."""
    true = np.asarray(true, np.float64)
    cov = [float(np.mean(true <= qpred[..., j])) for j in range(len(quantiles))]
    loss = [pinball_loss(qpred[..., j], true, q) for j, q in enumerate(quantiles)]
    interval, inside, width = None, float("nan"), float("nan")
    if len(quantiles) > 1:
        lo, hi = qpred[..., 0], qpred[..., -1]
        interval = (quantiles[0], quantiles[-1])
        inside = float(np.mean((true >= lo) & (true <= hi)))
        width = float(np.mean(hi - lo))
    return QuantileScores(list(quantiles), cov, loss, interval, inside, width, int(true.size))


def text(s: QuantileScores, unit: str = "") -> str:
    """The report's lines for quantile forecasts."""
    u = f" {unit}" if unit else ""
    lines = [f"Quantiles ({s.samples} forecasts): share of truths at or below each, and its "
             "pinball loss:"]
    for q, c, p in zip(s.quantiles, s.coverage, s.pinball):
        lines.append(f"  q{q * 100:<5g} {c * 100:6.1f} % (nominal {q * 100:g} %)   pinball "
                     f"{p:.4g}{u}")
    if s.interval is not None:
        lo, hi = s.interval
        lines.append(f"  {lo * 100:g}..{hi * 100:g} % interval ({(hi - lo) * 100:g} % nominal): "
                     f"the truth fell inside {s.inside * 100:.1f} % of the time, mean width "
                     f"{s.width:.4g}{u}")
    return "\n".join(lines)


def z_pinball(model: Any, x: np.ndarray, z: np.ndarray, quantiles: list[float]) -> float:
    """Mean pinball loss of the model's quantiles on windows ``x`` with targets ``z (N, K)``."""
    from ..training.losses import Pinball

    out = np.asarray(model.predict(x, verbose=0), np.float64)
    return float(Pinball(quantiles, dtype="float64")(np.asarray(z, np.float64), out))


def keep_promise(model: Any, x: np.ndarray, z: np.ndarray, quantiles: list[float],
                 start: list[np.ndarray]) -> str | None:
    """If training did not lower the validation pinball loss of the starting point
    (weights ``start``: ridge ± its residual quantiles), go back to it and say so."""
    trained = z_pinball(model, x, z, quantiles)
    model_now = model.get_weights()
    model.set_weights(start)
    initial = z_pinball(model, x, z, quantiles)
    if initial > trained:
        model.set_weights(model_now)
        return None
    return (f"training did not lower the validation pinball loss of the starting quantiles "
            f"({trained:.4g} vs {initial:.4g}); the model is reset to the ridge regression "
            "with its train-window error quantiles")


def forecast(model: Any, x: np.ndarray, last: np.ndarray, spec: Any, scaler_z: Any) -> np.ndarray:
    """``(N, H, T, Q)`` quantile forecasts in data units for windows ``x (N, W, F)`` whose
    targets' last values are ``last (N, T)``."""
    nq = len(spec.quantiles)
    zq = split(model.predict(x, verbose=0), spec.horizon * len(spec.targets), nq)
    return decode(zq, last, spec.transform, scaler_z, spec.horizon)
