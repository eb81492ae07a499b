"""The callbacks ``fit`` adds itself or that need no monitored value: CallbackList (which
calls them all), History, LambdaCallback, TerminateOnNaN, CSVLogger,
LearningRateScheduler -- Keras 3's names, arguments and decisions.

This is the public home of every callback: the base :class:`Callback` and the hook
order are in :mod:`unrolled.training.callback_base`, the callbacks that watch one
logged value (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint) in
:mod:`unrolled.training.monitor_callbacks`; both are re-exported here.

Where a callback departs from Keras it says so in its docstring (TerminateOnNaN restores
the weights from before the bad step).
"""
from __future__ import annotations

import collections
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..errors import ConfigError
from .callback_base import Callback, Logs, pythonify_logs
from .monitor_callbacks import (
    EarlyStopping,
    ModelCheckpoint,
    MonitorCallback,
    ReduceLROnPlateau,
    metric_direction,
)
from .progress import ProgbarLogger

if TYPE_CHECKING:
    import csv


class CallbackList(Callback):
    """Calls every callback in order. ``fit`` appends a :class:`History` and (unless
    ``verbose=0``) a progress bar after the user's callbacks, as Keras does."""

    def __init__(self, callbacks: Iterable[Callback] | None = None, add_history: bool = False,
                 add_progbar: bool = False, model: Any = None, **params: Any) -> None:
        super().__init__()
        self.callbacks: list[Callback] = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError(f"callbacks must be Callback instances, got {type(cb).__name__}.")
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _call(self, hook: str, *args: Any, logs: Logs | None = None) -> None:
        targets = self._targets(hook)
        if targets:
            logs = pythonify_logs(logs)
            for cb in targets:
                getattr(cb, hook)(*args, logs)

    def handles(self, hook: str) -> bool:
        """Whether any callback's ``hook`` does something (``fit`` skips the batch hooks,
        and the per-batch logs they would receive, when none does)."""
        return bool(self._targets(hook))

    def _targets(self, hook: str) -> list[Callback]:
        """The callbacks whose ``hook`` does something -- the base class's hooks do
        nothing -- worked out once per hook (again if the list of callbacks changes), so
        a ``fit`` step does not call History's empty batch hooks or copy logs for them."""
        if len(self.callbacks) == 1:     # one callback (fit's History alone): asking it
            cb = self.callbacks[0]       # costs what a cache lookup would
            return [cb] if _handles(cb, hook) else []
        key = tuple(self.callbacks)
        cache = self.__dict__.get("_hook_targets")
        if cache is None or cache[0] != key:
            cache = self.__dict__["_hook_targets"] = (key, {})
        found = cache[1].get(hook)
        if found is None:
            found = cache[1][hook] = [cb for cb in key if _handles(cb, hook)]
        return found

    def on_batch_begin(self, batch, logs=None): self._call("on_batch_begin", batch, logs=logs)
    def on_batch_end(self, batch, logs=None): self._call("on_batch_end", batch, logs=logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs=logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs=logs)
    def on_train_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs=logs)
    def on_test_batch_begin(self, batch, logs=None): self._call("on_test_batch_begin", batch, logs=logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs=logs)
    def on_predict_batch_begin(self, batch, logs=None): self._call("on_predict_batch_begin", batch, logs=logs)
    def on_predict_batch_end(self, batch, logs=None): self._call("on_predict_batch_end", batch, logs=logs)
    def on_train_begin(self, logs=None): self._call("on_train_begin", logs=logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs=logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs=logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs=logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs=logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs=logs)


# Hooks whose base implementation forwards to another one (Keras's aliases).
_FORWARDS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _handles(cb: Callback, hook: str) -> bool:
    """Whether ``cb``'s ``hook`` (or the hook the base class forwards it to) is its own:
    set on the instance (LambdaCallback) or overridden by its class."""
    own, cls = vars(cb), type(cb)
    if hook in own or getattr(cls, hook, None) is not getattr(Callback, hook):
        return True
    name = _FORWARDS.get(hook)
    return name is not None and (name in own or getattr(cls, name, None) is not getattr(Callback, name))


class History(Callback):
    """Records every epoch's logs: ``history.history["val_loss"][k]`` is epoch k's value;
    ``history.epoch`` lists the epoch indices run. ``fit`` returns it."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.
    Other hooks (``on_test_begin=...``) may be passed as keywords too, as in Keras."""

    def __init__(self, on_epoch_begin: Callable | None = None, on_epoch_end: Callable | None = None,
                 on_train_begin: Callable | None = None, on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None,
                 on_train_batch_end: Callable | None = None, **kwargs: Callable) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in given.items():
            if fn is not None:
                setattr(self, name, fn)


def nonfinite_weights(model: Any) -> list[str]:
    """``layer/weight`` names of the model's weights holding NaN or infinity."""
    bad = []
    for layer in getattr(model, "layers", []):
        for name, w in zip(getattr(layer, "weight_names", []), getattr(layer, "weights", [])):
            if not np.isfinite(w).all():
                bad.append(f"{layer.name}/{name}")
    return bad


def _all_finite(arrays: list[np.ndarray]) -> bool:
    return all(np.isfinite(a).all() for a in arrays)


class TerminateOnNaN(Callback):
    """Stop training as soon as the running loss, or any weight after the update, is NaN
    or infinite.

    Unlike Keras (which checks only the loss and keeps the weights the bad step produced),
    the weights *and the optimizer state* are put back to what they were before that
    batch, so the model stays finite and usable; when even those were not finite (the
    model came in broken), the message says so. A step can leave a finite loss and NaN
    weights (an update that overflows): the weights are checked too. This costs one copy
    of the weights per batch. ``raise_error=True`` raises ``RuntimeError`` instead of
    stopping quietly.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error
        self._saved: tuple[list[np.ndarray], list[np.ndarray]] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        opt = getattr(self.model, "optimizer", None)
        opt_vars = [v.copy() for v in opt.variables] if opt is not None and opt.built else []
        self._saved = (self.model.get_weights(), opt_vars)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        bad_loss = loss is not None and not np.isfinite(loss)
        bad_weights = nonfinite_weights(self.model)
        if not bad_loss and not bad_weights:
            return
        what = (f"invalid loss ({loss})" if bad_loss else
                f"the update made weights non-finite ({', '.join(bad_weights[:5])})")
        restored = " The weights could not be restored: no copy from before this batch."
        if self._saved is not None:
            weights, opt_vars = self._saved
            if _all_finite(weights) and _all_finite(opt_vars):
                self.model.set_weights(weights)
                if opt_vars:
                    self.model.optimizer.set_variables(opt_vars)
                restored = " The weights and optimizer state from before this batch were restored."
            else:
                restored = (" The weights were NOT restored: they were already non-finite "
                            "before this batch.")
        message = f"Epoch {self._epoch + 1}, batch {batch}: {what}, terminating training.{restored}"
        if self.raise_error:
            raise RuntimeError(message)
        print(message)
        self.model.stop_training = True


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: ``epoch`` (from 0), then the log keys
    sorted. As in Keras, if the first epoch has no ``val_*`` keys, ``val_<key>`` columns
    are added anyway (filled with ``NA``). ``append=True`` continues an existing file
    (writing the header only if the file is empty)."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys: list[str] | None = None
        self.writer: csv.DictWriter | None = None
        self.csv_file: Any = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self.append_header = not bool(len(f.readline()))
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(v: Any) -> Any:
            if isinstance(v, str) or (isinstance(v, np.ndarray) and v.ndim == 0):
                return v
            if isinstance(v, collections.abc.Iterable):
                return f'"[{", ".join(map(str, v))}]"'
            return v

        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self.writer is None:
            import csv  # only CSVLogger writes csv

            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch, **{k: handle_value(logs.get(k, "NA")) for k in self.keys}}
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch, lr)`` (or
    ``schedule(epoch)``), and log it as ``learning_rate``."""

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(opt.learning_rate))
        except TypeError:  # the one-argument form
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.floating)):
            raise ConfigError(f"The output of the `schedule` function should be a float. Got: {lr!r}")
        opt.learning_rate = lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


__all__ = ["Callback", "CallbackList", "History", "LambdaCallback", "TerminateOnNaN", "CSVLogger",
           "LearningRateScheduler", "MonitorCallback", "EarlyStopping", "ReduceLROnPlateau",
           "ModelCheckpoint", "pythonify_logs", "metric_direction"]
