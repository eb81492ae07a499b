"""The callbacks that watch one logged value (``monitor``) and act when it stops
improving: EarlyStopping, ReduceLROnPlateau and ModelCheckpoint, with Keras 3's rules,
on their shared :class:`MonitorCallback` (mode, ``min_delta``, what counts as better).

Where a callback departs from Keras it says so in its docstring (ModelCheckpoint writes
atomically).
"""
from __future__ import annotations

import operator
import os
import warnings
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from .callback_base import Callback, Logs

# -- callbacks that watch one logged value ----------------------------------------------
# Keras's metric directions (its metrics' ``_direction``), for metrics that do not say.
_DIRECTIONS = {"MeanSquaredError": "down", "MeanAbsoluteError": "down",
               "RootMeanSquaredError": "down", "MeanAbsolutePercentageError": "down",
               "MeanSquaredLogarithmicError": "down", "LogCoshError": "down"}


def metric_direction(metric: Any) -> str | None:
    """"up" if larger is better, "down" if smaller is, ``None`` if unknown (plain ``Mean``)."""
    direction = getattr(metric, "_direction", None) or getattr(metric, "direction", None)
    if direction in ("up", "down"):
        return direction
    cls = type(getattr(metric, "_metric", None) or metric).__name__
    if "Accuracy" in cls:
        return "up"
    return _DIRECTIONS.get(cls)


class MonitorCallback(Callback):
    """Shared by EarlyStopping, ModelCheckpoint, ReduceLROnPlateau: ``monitor`` a log
    key, in ``mode`` "min", "max" or "auto" ("auto": losses go down; a metric's own
    direction otherwise; an error if unknown). An *improvement* over ``reference`` is
    ``current - min_delta < reference`` when minimising (``min_delta`` counts in the
    improving direction: its sign is ignored), ``current + min_delta > reference`` when
    maximising; anything beats ``None``."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.best = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable[[Any, Any], bool] | None = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = operator.lt
            for m in getattr(self.model, "metrics", None) or []:
                direction = metric_direction(m)
                if getattr(m, "name", None) == name and direction is not None:
                    self.monitor_op = operator.gt if direction == "up" else operator.lt
            if self.monitor_op is None:
                raise ConfigError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but it "
                    "cannot tell whether that metric should be maximized or minimized. Pass "
                    "mode='max' to keep the highest value, or mode='min' for the lowest."
                )
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return True
        assert self.monitor_op is not None, "_set_monitor_op() runs first"
        return bool(self.monitor_op(current - self.min_delta, reference))


class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved (by more than ``min_delta``) for
    ``patience`` epochs, Keras 3's rules exactly:

    * epochs before ``start_from_epoch`` are ignored;
    * each epoch increments ``wait``; an improvement resets it to 0 — but with a
      ``baseline``, only an improvement that also beats the baseline resets it;
    * training stops at the end of epoch ``e`` when ``wait >= patience`` and ``e > 0``
      (``stopped_epoch = e``);
    * ``restore_best_weights=True`` puts back the weights of the best epoch at the end of
      training, *whether or not* training stopped early (the first watched epoch counts
      as best if none improved).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=2)
        return value


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without an
    improvement larger than ``min_delta``; then wait ``cooldown`` epochs (during which
    ``wait`` stays 0) before counting again; never go below ``min_lr`` (no reduction at
    all once ``lr <= min_lr``). Adds ``learning_rate`` to the epoch logs (so History
    records it), as Keras does."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ConfigError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor, self.min_lr, self.patience = factor, min_lr, patience
        self.verbose, self.cooldown = verbose, cooldown
        self.cooldown_counter = self.wait = 0

    def on_train_begin(self, logs=None):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        logs["learning_rate"] = float(opt.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which "
                          f"is not available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(opt.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    opt.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class ModelCheckpoint(MonitorCallback):
    """Save the model (``.keras``) or its weights (``.weights.h5``) every epoch, or every
    ``save_freq`` batches.

    ``filepath`` is formatted with ``epoch`` (from 1), ``batch`` (from 1, batch saves) and
    the logs: ``"ckpt/{epoch:02d}-{val_loss:.2f}.keras"``. ``save_best_only`` saves only
    when ``monitor`` improves (starting from ``initial_value_threshold``).

    Unlike Keras, every write is atomic (``model.save`` / ``save_weights`` write through
    :mod:`unrolled.io.atomic`: a temporary file in the same directory, fsync'd, then
    renamed over ``filepath``), so an exception or crash mid-save leaves the previous
    checkpoint intact.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose, self.filepath = verbose, os.fspath(filepath)
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen: int | None = None
        self._current_epoch = 0
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ConfigError(f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or an integer.")
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ConfigError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                              f"must end in `.weights.h5`. Received: filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith(".keras"):
            # Keras also takes a legacy ".h5" full-model path; unrolled writes only .keras.
            raise ConfigError("The filepath provided must end in `.keras` (Keras model format), "
                              "or in `.weights.h5` with save_weights_only=True. "
                              f"Received: filepath={self.filepath}")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _file_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as err:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {err}. Available keys: epoch, {', '.join(logs)}") from None

    def _should_save(self, epoch: int, logs: Logs, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise IsADirectoryError("Please specify a non-directory filepath for ModelCheckpoint. "
                                    f"Filepath used is an existing directory: {filepath}")
        if not self._should_save(epoch, logs, filepath):
            return
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")


__all__ = ["MonitorCallback", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint",
           "metric_direction"]
