"""The callback protocol: :class:`Callback`, the hooks ``fit`` / ``evaluate`` / ``predict``
call, with Keras 3's names and arguments, and how their ``logs`` are passed.

``fit`` calls, in order: ``on_train_begin``; per epoch ``on_epoch_begin(epoch)``, per batch
``on_train_batch_begin(step)`` / ``on_train_batch_end(step, logs)``, then (with validation
data) ``on_test_begin`` / ``on_test_batch_*`` / ``on_test_end``, then
``on_epoch_end(epoch, logs)``; finally ``on_train_end``. ``epoch`` and ``step`` count from 0.
``logs`` is a dict of Python floats with its keys sorted, as Keras passes it: batch logs hold
the running epoch means so far (``{"loss": ..., "mae": ...}``), epoch logs add ``val_*``.
One dict is shared by all callbacks of one event, so a key added by one callback (e.g.
``learning_rate`` by ReduceLROnPlateau) is seen by the later ones, History included.

The callbacks themselves live in :mod:`unrolled.training.callbacks` (which re-exports
this module's names) and :mod:`unrolled.training.monitor_callbacks`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Logs = dict[str, Any]


def pythonify_logs(logs: Logs | None) -> Logs:
    """Keras's ``pythonify_logs``: a new dict, keys sorted, nested dicts flattened, values
    converted to ``float`` where possible."""
    out: Logs = {}
    if not logs:                       # None or {} (most hooks' logs): a new empty dict
        return out
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            out.update(pythonify_logs(value))
            continue
        if not (isinstance(value, np.ndarray) and value.ndim > 0):   # e.g. predict's outputs
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass
        out[key] = value
    return out


class Callback:
    """Base class: override any hook. ``self.model`` is the model being trained and
    ``self.params`` is ``{"verbose", "epochs", "steps"}``."""

    def __init__(self) -> None:
        self.params: dict[str, Any] | None = None
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Alias of ``on_train_batch_begin`` (what the base class forwards to)."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Alias of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_test_begin(self, logs: Logs | None = None) -> None: ...
    def on_test_end(self, logs: Logs | None = None) -> None: ...
    def on_predict_begin(self, logs: Logs | None = None) -> None: ...
    def on_predict_end(self, logs: Logs | None = None) -> None: ...
