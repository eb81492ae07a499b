"""Per-column standardisation, fitted on the training block only.

    z = (x - mean) / scale          x = z * scale + mean

``mean`` and ``scale`` (population standard deviation, ``ddof=0``, as Keras's
``Normalization`` layer and scikit-learn's ``StandardScaler`` use) are computed over every
axis but the last, so the same object handles ``(time, features)`` series and
``(samples, window, features)`` windows. Fit it on the train block of
:func:`~unrolled.data.split.chronological_split`, never on the whole series: statistics
from later rows would leak the future into training.

The fitted state is plain JSON (lists of floats), so it can travel inside a model file:
``Standardizer.from_config(json.loads(json.dumps(s.to_config())))`` is exact.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, DataError, InputShapeError


class Standardizer:
    """Column-wise ``(x - mean) / scale``.

    Args:
        mean, scale: fitted statistics, one per column (both or neither); normally set by
            :meth:`fit` or :meth:`from_config`.
        columns: optional column names, used in messages and by :meth:`subset`.
    """

    def __init__(self, mean: Sequence[float] | np.ndarray | None = None,
                 scale: Sequence[float] | np.ndarray | None = None,
                 columns: Sequence[str] | None = None) -> None:
        if (mean is None) != (scale is None):
            raise ConfigError("Standardizer: pass both mean and scale, or neither")
        self.columns = None if columns is None else [str(c) for c in columns]
        self.mean: np.ndarray | None = None  # (features,) float64
        self.scale: np.ndarray | None = None  # (features,) float64, > 0
        if mean is not None:
            m, s = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
            if m.ndim != 1 or m.shape != s.shape:
                raise ConfigError(f"Standardizer: mean and scale must be equal-length lists, "
                                  f"got shapes {m.shape} and {s.shape}")
            if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(s > 0)):
                raise ConfigError("Standardizer: mean must be finite and scale finite and > 0")
            self._check_names(len(m))
            self.mean, self.scale = m, s

    def _check_names(self, n: int) -> None:
        if self.columns is not None and len(self.columns) != n:
            raise ConfigError(f"Standardizer: {len(self.columns)} column names for {n} columns")

    def _name(self, j: int) -> str:
        return repr(self.columns[j]) if self.columns else f"{j} (0-based)"

    def fit(self, train: Any) -> Standardizer:
        """Learn mean and scale per column from ``train (..., features)``; returns self.

        Raises DataError for NaN/inf values or a column that does not vary in ``train``
        (its scale would be 0 and every standardised value infinite).
        """
        x = np.asarray(train, dtype=np.float64)
        if x.ndim < 1 or x.size == 0:
            raise DataError(f"Standardizer.fit: need a non-empty (..., features) array, got "
                            f"shape {x.shape}")
        x = x.reshape(-1, x.shape[-1])  # (rows, features)
        self._check_names(x.shape[1])
        bad = ~np.isfinite(x).all(axis=0)
        if bad.any():
            raise DataError(f"Standardizer.fit: column {self._name(int(np.argmax(bad)))} has "
                            "NaN or infinite values; fill them first")
        mean, scale = x.mean(axis=0), x.std(axis=0)
        # Relative threshold: a constant column can show float noise of ~1e-16 * |mean|.
        flat = scale <= 1e-12 * np.maximum(np.abs(mean), np.finfo(np.float64).tiny)
        if flat.any():
            j = int(np.argmax(flat))
            raise DataError(
                f"Standardizer.fit: column {self._name(j)} is constant in the training data "
                f"(value {mean[j]:g}), so it cannot be standardised. Drop the column or use "
                "a longer training block."
            )
        self.mean, self.scale = mean, scale
        return self

    def _ready(self, x: Any, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.mean is None or self.scale is None:
            raise ConfigError(f"Standardizer.{what}: not fitted; call fit(train) first")
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != len(self.mean):
            raise InputShapeError(
                f"Standardizer.{what} expects (..., {len(self.mean)}) (columns: "
                f"{self.columns or 'unnamed'}), got shape {x.shape}"
            )
        # Keep float32 inputs float32 (what models run in); anything else becomes float64.
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        return x.astype(dtype, copy=False), self.mean.astype(dtype), self.scale.astype(dtype)

    def transform(self, x: Any) -> np.ndarray:
        """``(x - mean) / scale`` for ``x (..., features)``; float32 stays float32."""
        x, mean, scale = self._ready(x, "transform")
        return (x - mean) / scale

    def inverse_transform(self, z: Any) -> np.ndarray:
        """``z * scale + mean`` for ``z (..., features)``: back to the original units."""
        z, mean, scale = self._ready(z, "inverse_transform")
        return z * scale + mean

    def fit_transform(self, train: Any) -> np.ndarray:
        return self.fit(train).transform(train)

    def subset(self, columns: Sequence[str | int]) -> Standardizer:
        """A Standardizer for some of the columns (names or 0-based indices), e.g. to undo
        the scaling of predicted targets that were also input features."""
        if self.mean is None or self.scale is None:
            raise ConfigError("Standardizer.subset: not fitted; call fit(train) first")
        idx = []
        for c in columns:
            if isinstance(c, str):
                if not self.columns or c not in self.columns:
                    raise ConfigError(f"Standardizer.subset: no column {c!r}; columns are "
                                      f"{self.columns}")
                idx.append(self.columns.index(c))
            else:
                idx.append(int(c))
        names = None if self.columns is None else [self.columns[i] for i in idx]
        return Standardizer(self.mean[idx], self.scale[idx], names)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as plain JSON types (floats round-trip exactly)."""
        return {
            "mean": None if self.mean is None else [float(v) for v in self.mean],
            "scale": None if self.scale is None else [float(v) for v in self.scale],
            "columns": self.columns,
        }

    to_config = get_config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Standardizer:
        return cls(**config)

    def __repr__(self) -> str:
        state = "unfitted" if self.mean is None else f"{len(self.mean)} columns"
        return f"Standardizer({state}{', ' + str(self.columns) if self.columns else ''})"
