"""The data side of ``fit`` / ``evaluate`` / ``predict``: unpacking ``(x, y, sample_weight)``
tuples, turning ``class_weight`` into per-sample weights, and :class:`BatchIterator`, which
yields the index of each batch (Keras's ``EpochIterator`` over arrays).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Iterator

import numpy as np

from ..errors import ConfigError
from ..random import reserve_rng


def unpack_data(data: Any, who: str) -> tuple[Any, Any, Any]:
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` -> the three, ``None`` if absent."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple) or not 1 <= len(data) <= 3:
        raise ConfigError(f"{who} must be a tuple (x, y) or (x, y, sample_weight), "
                          f"got {type(data).__name__}" + (f" of length {len(data)}." if isinstance(data, tuple) else "."))
    return (tuple(data) + (None, None))[:3]  # type: ignore[return-value]


def class_weight_to_sample_weights(y: np.ndarray, class_weight: dict[int, float]) -> np.ndarray:
    """Keras's rule: the class of a sample is ``argmax(y)`` for one-hot ``y``, else
    ``round(y)``; classes missing from ``class_weight`` weigh 1."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64).reshape(len(labels), -1)[:, 0]
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=np.float32)


class BatchIterator:
    """Keras's ``EpochIterator`` over arrays of ``n`` samples.

    ``batch_size`` defaults to ``ceil(n / steps_per_epoch)`` if that is given, else 32; the
    last batch is partial. ``shuffle=True`` draws a new permutation of all samples each
    time the data is gone through; ``"batch"`` shuffles inside each batch only. With
    ``steps_per_epoch`` below the number of batches, the next epoch continues where the
    previous one stopped; an epoch ends early when the data runs out.
    """

    def __init__(self, n: int, batch_size: int | None, shuffle: bool | str = False,
                 steps_per_epoch: int | None = None, rng: np.random.Generator | None = None) -> None:
        # Without ``rng`` the global seed's next stream is reserved, and its generator is
        # built only if a shuffle needs it (``predict``/``evaluate`` never do).
        if steps_per_epoch is not None and (not isinstance(steps_per_epoch, (int, np.integer))
                                            or steps_per_epoch <= 0):
            raise ConfigError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}.")
        if batch_size is None:
            batch_size = math.ceil(n / steps_per_epoch) if steps_per_epoch else 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if shuffle not in (True, False, "batch"):
            raise ConfigError(f"shuffle must be True, False or 'batch', got {shuffle!r}.")
        self.n, self.batch_size, self.shuffle = n, int(batch_size), shuffle
        self.steps_per_epoch = steps_per_epoch
        self.size = math.ceil(n / self.batch_size)
        self._rng = rng
        self._make_rng = reserve_rng() if rng is None else None
        self._current: Iterator[Any] | None = None
        self._seen = 0

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = self._make_rng()
        return self._rng

    @property
    def num_batches(self) -> int:
        return self.steps_per_epoch or self.size

    def _pass(self) -> Iterator[Any]:
        perm = self.rng.permutation(self.n) if self.shuffle is True else None
        for i in range(self.size):
            start, stop = i * self.batch_size, min((i + 1) * self.batch_size, self.n)
            if perm is not None:
                yield perm[start:stop]
            elif self.shuffle == "batch":
                yield self.rng.permutation(stop - start) + start
            else:
                yield slice(start, stop)

    def epoch(self) -> Iterator[tuple[int, Any]]:
        """``(step, index)`` pairs for one epoch; ``index`` slices every array."""
        if self._current is None or self.steps_per_epoch is None:
            self._current, self._seen = self._pass(), 0
        for step in range(self.num_batches):
            if self._seen >= self.size:
                if self.steps_per_epoch:
                    warnings.warn("Your input ran out of data; interrupting the epoch. Make sure "
                                  "steps_per_epoch * epochs batches are available.", stacklevel=3)
                break
            self._seen += 1
            yield step, next(self._current)
        if self._seen >= self.size:
            self._current, self._seen = self._pass(), 0
