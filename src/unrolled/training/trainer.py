"""``compile`` / ``fit`` / ``evaluate`` / ``predict`` with Keras 3's semantics, on top of the
model's explicit ``forward`` and ``backward``.

One training step on a batch ``x`` (batch, timesteps, features), ``y`` (batch, ...)::

    y_pred, caches = model.forward(x, training=True)
    loss, dy       = loss_fn.value_and_grad(y, y_pred, sample_weight)   # mean over the batch
    _, grads       = model.backward(dy, caches)                         # one per trainable weight
    optimizer.apply(grads, model.trainable_weights)                     # in place

What is logged follows Keras exactly:

* ``loss`` is a running mean over the epoch's batches *weighted by batch size*
  (``sum(loss_b * n_b) / sum(n_b)``), so a short last batch counts for what it holds;
  the sample weights enter each batch's loss, not this average;
* ``metrics`` (e.g. ``["mae"]``) ignore ``sample_weight``; ``weighted_metrics`` use it;
  both average over all samples seen so far in the epoch;
* log keys are sorted (``loss``, ``mae``, ``val_loss``, ``val_mae``); a repeated metric
  name gets ``_1``, ``_2``... and a weighted one that clashes becomes ``weighted_<name>``;
* validation (``validation_split`` takes the *last* fraction of the arrays, before any
  shuffling) runs after the epoch's last step and adds ``val_<key>`` for each key.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from ..layers import penalties
from .batching import BatchIterator, class_weight_to_sample_weights, unpack_data
from .compiling import CompileMixin

if TYPE_CHECKING:
    from .callbacks import Callback, CallbackList, History

# Callbacks (with their csv and progress-bar machinery) and the loss reduction are imported
# inside the methods that use them: `Sequential` inherits this mixin, and building or
# running a model should not load the training stack.


# -- the mixin ---------------------------------------------------------------------------
class Trainer(CompileMixin):
    """Training methods for a model that provides ``forward(x, training) -> (y, caches)``,
    ``backward(dy, caches) -> (dx, grads)``, ``trainable_weights``, ``get_weights`` /
    ``set_weights`` and ``build``. ``Sequential`` inherits them."""

    if TYPE_CHECKING:  # what the model class provides
        trainable_weights: list[np.ndarray]
        def forward(self, x: Any, training: bool = False) -> tuple[Any, list[Any]]: ...
        def backward(self, dy: Any, caches: list[Any]) -> tuple[np.ndarray, list[np.ndarray]]: ...
        def get_weights(self) -> list[np.ndarray]: ...
        def set_weights(self, weights: list[Any]) -> None: ...
        def _prepare(self, x: Any) -> np.ndarray: ...

    def __init__(self) -> None:
        super().__init__()
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history: History | None = None

    # -- one step ----------------------------------------------------------------------
    def _loss_and_grad(self, y: np.ndarray, y_pred: Any, sample_weight: Any,
                       mask: Any = None) -> tuple[float, np.ndarray]:
        if isinstance(y_pred, (list, tuple)):
            raise ConfigError("Training needs a model with a single output; the last layer "
                              "returns a list (return_state=True?).")
        if mask is None:
            value, dy = self._loss_fn.value_and_grad(y, y_pred, sample_weight)
        else:  # the output carries a mask (Masking ... return_sequences): Keras's apply_mask
            value, dy = self._loss_fn.value_and_grad(y, y_pred, sample_weight, mask=mask)
        if self._loss_weight is not None:
            value = value * self._loss_weight
            dy = dy * dy.dtype.type(self._loss_weight)
        return value, dy

    def _update_metrics(self, y: np.ndarray, y_pred: np.ndarray, loss: float,
                        sample_weight: Any, mask: Any = None) -> dict[str, float]:
        self._loss_tracker.update_state(loss, sample_weight=len(y_pred))
        if self._compiled_metrics is None:
            self._build_metrics(y, y_pred)
        if mask is not None and sample_weight is not None:
            sample_weight = self._mask_weighted(sample_weight, mask)
        for _, metric, weighted in self._compiled_metrics or []:
            weights = sample_weight if weighted else None
            if mask is not None and getattr(metric, "applies_mask", False):
                metric.update_state(y, y_pred, sample_weight=weights, mask=mask)
            else:
                metric.update_state(y, y_pred, sample_weight=weights)
        return self.get_metrics_result()

    def _mask_weighted(self, sample_weight: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The sample weights Keras's weighted metrics see under a mask: its loss multiplies
        the batch's ``sample_weight`` tensor *in place* by the loss's mask weights
        (``total / valid`` on unmasked entries, see ``mask_weights``), so the metrics get
        that product -- a per-batch factor that reweights batches against each other."""
        from .loss_reduction import mask_weights, squeeze_or_expand_to_same_rank

        w = mask_weights(np.asarray(mask, bool), self._loss_fn.reduction, sample_weight.dtype)
        w, sample_weight = squeeze_or_expand_to_same_rank(w, sample_weight)
        return sample_weight * w

    def _train_step(self, x: np.ndarray, y: np.ndarray, sample_weight: Any) -> dict[str, float]:
        y_pred, caches = self.forward(x, training=True)
        mask = getattr(caches, "output_mask", None)   # set by a masked forward only
        loss, dy = self._loss_and_grad(y, y_pred, sample_weight, mask)
        loss += penalties.total_penalty(self.layers, caches)   # regularizers, as Keras's loss
        weights = self.trainable_weights
        if weights:
            _, grads = self.backward(dy, caches)
            penalties.add_penalty_gradients(self.layers, weights, grads)
            self.optimizer.apply(grads, weights)
            penalties.apply_all_constraints(self.layers)       # Keras: right after the update
        else:
            warnings.warn("The model does not have any trainable weights.", stacklevel=3)
        return self._update_metrics(y, y_pred, loss, sample_weight, mask)

    def _stop_if_weights_diverged(self, epoch: int, step: int) -> None:
        """After an update (and the callbacks): NaN/inf weights stop training, saying so."""
        from .callbacks import nonfinite_weights

        bad = nonfinite_weights(self)
        if bad:
            self.stop_training = True
            warnings.warn(
                f"Epoch {epoch + 1}, batch {step}: the update made weights non-finite "
                f"({', '.join(bad[:5])}); training stopped. The weights are NOT finite now: "
                "add callbacks.TerminateOnNaN() to restore the last finite ones, and lower "
                "the learning rate or set clipnorm.", RuntimeWarning, stacklevel=3)

    def _test_step(self, x: np.ndarray, y: np.ndarray, sample_weight: Any) -> dict[str, float]:
        y_pred, caches = self.forward(x, training=False)
        mask = getattr(caches, "output_mask", None)
        loss, _ = self._loss_and_grad(y, y_pred, sample_weight, mask)
        loss += penalties.total_penalty(self.layers, caches)
        return self._update_metrics(y, y_pred, loss, sample_weight, mask)

    # -- inputs ------------------------------------------------------------------------
    def _arrays(self, x: Any, y: Any, sample_weight: Any, who: str) -> tuple[np.ndarray, Any, Any]:
        """Convert and check ``x`` (batch, timesteps, features), ``y`` and weights; build
        the model and the optimizer if needed."""
        if x is None:
            raise InputShapeError(f"{who} needs input data x, got None.")
        x = self._prepare(x)   # dtype conversion, shape checks against the model, build
        dtype = x.dtype
        if y is not None:
            y = np.asarray(y)
            if y.dtype.kind == "f" or y.dtype == bool:
                y = y.astype(dtype, copy=False)
            if y.ndim == 0 or len(y) != len(x):
                raise InputShapeError(
                    f"{who}: x and y must have the same number of samples (axis 0); x has "
                    f"{len(x)} (shape {x.shape}), y has {len(y) if y.ndim else 'none'} (shape {y.shape})."
                )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=dtype)
            if sample_weight.ndim == 0 or len(sample_weight) != len(x):
                raise InputShapeError(
                    f"{who}: sample_weight must have one entry per sample; x has {len(x)} "
                    f"samples, sample_weight has shape {sample_weight.shape}."
                )
        if len(x) == 0:
            raise InputShapeError(f"{who} got 0 samples (x has shape {x.shape}).")
        if self.optimizer is not None and not self.optimizer.built and self.trainable_weights:
            self.optimizer.build(self.trainable_weights)
        return x, y, sample_weight

    @staticmethod
    def _take(a: Any, index: Any) -> Any:
        return None if a is None else a[index]

    # -- fit ---------------------------------------------------------------------------
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool | str = True,
            class_weight: dict[int, float] | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int | Sequence[int] = 1) -> History:
        """Train for ``epochs`` epochs on ``x`` (samples, timesteps, features) and ``y``.

        Returns the :class:`History` (also ``model.history``): ``history.history["loss"]``
        holds one value per epoch. ``batch_size`` defaults to 32; the last batch of an
        epoch may be smaller. ``shuffle`` reshuffles the training samples every epoch from
        the generator seeded by :func:`unrolled.set_random_seed`. ``validation_split``
        holds out the *last* fraction of the samples (before shuffling); it is ignored
        when ``validation_data=(x_val, y_val[, sample_weight])`` is given.
        ``class_weight`` (``{class: weight}``) becomes per-sample weights.
        ``verbose``: 0 silent, 1 progress bar, 2 one line per epoch, "auto" (1 on a
        terminal, else 2). See :mod:`unrolled.training.callback_base` for the hook order.
        """
        from .callbacks import CallbackList

        self._assert_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ConfigError(f"epochs must be a non-negative integer, got {epochs!r}.")
        if class_weight is not None:
            if sample_weight is not None:
                raise ConfigError("Arguments `sample_weight` and `class_weight` cannot be "
                                  "specified at the same time.")
            if y is None:
                raise ConfigError("class_weight needs targets y.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        x, y, sample_weight = self._arrays(x, y, sample_weight, "fit")
        if y is None:
            raise InputShapeError("fit needs targets y (the model has a loss to compute).")
        if validation_split and validation_data is None:
            if not 0 < validation_split < 1:
                raise ConfigError(f"validation_split must be in (0, 1), got {validation_split}.")
            split_at = int(math.floor(len(x) * (1.0 - validation_split)))
            if split_at == 0 or split_at == len(x):
                raise ConfigError(
                    f"Training data contains {len(x)} samples, which is not sufficient to split "
                    f"it into a validation and training set as specified by "
                    f"`validation_split={validation_split}`."
                )
            val = (x[split_at:], y[split_at:], self._take(sample_weight, slice(split_at, None)))
            x, y, sample_weight = x[:split_at], y[:split_at], self._take(sample_weight, slice(0, split_at))
        elif validation_data is not None:
            val = self._arrays(*unpack_data(validation_data, "validation_data"), "validation_data")
        else:
            val = None

        if shuffle and any(getattr(la, "stateful", False) for la in getattr(self, "layers", ())):
            warnings.warn("fit(shuffle=True) on a model with stateful layers: each batch starts "
                          "from the states the previous batch left, so shuffling pairs them with "
                          "unrelated samples. Pass shuffle=False (Keras 3 does not warn).",
                          UserWarning, stacklevel=2)
        batches = BatchIterator(len(x), batch_size, shuffle, steps_per_epoch, make_rng())
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self, verbose=verbose,
            epochs=epochs, steps=batches.num_batches)
        self.stop_training = False
        training_logs: dict[str, Any] = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs: dict[str, Any] = {}
            for step, index in batches.epoch():
                cbs.on_train_batch_begin(step)
                logs = self._train_step(x[index], y[index], self._take(sample_weight, index))
                cbs.on_train_batch_end(step, logs)
                if not self.stop_training:
                    self._stop_if_weights_diverged(epoch, step)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None and self._should_validate(epoch, validation_freq):
                val_logs = self._evaluate(*val, batch_size=validation_batch_size or batches.batch_size,
                                          steps=validation_steps, callbacks=cbs)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training:
                break
        if epochs > 0 and self.trainable_weights:
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(logs=training_logs)
        return self.history  # type: ignore[return-value]

    @staticmethod
    def _should_validate(epoch: int, freq: int | Sequence[int]) -> bool:
        if isinstance(freq, (int, np.integer)) and not isinstance(freq, bool):
            return (epoch + 1) % freq == 0
        if isinstance(freq, (list, tuple)):
            return epoch + 1 in freq
        raise ConfigError(f"Expected `validation_freq` to be a list or int. Received: {freq!r}.")

    # -- evaluate / predict ------------------------------------------------------------
    def _evaluate(self, x: np.ndarray, y: np.ndarray, sample_weight: Any, batch_size: int | None,
                  steps: int | None, callbacks: CallbackList) -> dict[str, Any]:
        from .callbacks import pythonify_logs

        batches = BatchIterator(len(x), batch_size, False, steps)
        self.stop_evaluating = False
        callbacks.on_test_begin()
        logs: dict[str, Any] = {}
        self.reset_metrics()
        for step, index in batches.epoch():
            callbacks.on_test_batch_begin(step)
            logs = self._test_step(x[index], y[index], self._take(sample_weight, index))
            callbacks.on_test_batch_end(step, logs)
            if self.stop_evaluating:
                break
        logs = pythonify_logs(logs)
        callbacks.on_test_end(logs)
        return logs

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Sequence[Callback] | None = None, return_dict: bool = False) -> Any:
        """Loss (and metrics) on ``x`` (samples, timesteps, features), ``y``, batch by batch
        (``batch_size`` default 32), with the same size-weighted averaging as ``fit``.

        Returns the loss alone if no metrics were compiled, else ``[loss, metric, ...]``;
        ``return_dict=True`` returns ``{"loss": ..., "mae": ...}``.
        """
        from .callbacks import CallbackList

        self._assert_compiled("evaluate")
        x, y, sample_weight = self._arrays(x, y, sample_weight, "evaluate")
        if y is None:
            raise InputShapeError("evaluate needs targets y.")
        steps_total = BatchIterator(len(x), batch_size, False, steps).num_batches
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=steps_total)
        logs = self._evaluate(x, y, sample_weight, batch_size, steps, cbs)
        return logs if return_dict else self._flatten_in_order(logs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> Any:
        """Outputs for ``x`` (samples, timesteps, features), ``batch_size`` (default 32) at a
        time, in inference mode (Dropout off)."""
        from .callbacks import CallbackList

        x = self._prepare(x)
        if len(x) == 0:  # an empty batch gives an empty result of the right shape
            return self.forward(x, training=False)[0]
        batches = BatchIterator(len(x), batch_size, False, steps)
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
            steps=batches.num_batches)
        self.stop_predicting = False
        cbs.on_predict_begin()
        parts = []
        for step, index in batches.epoch():
            cbs.on_predict_batch_begin(step)
            out = self.forward(x[index], training=False)[0]
            parts.append(out)
            cbs.on_predict_batch_end(step, {"outputs": out})
            if self.stop_predicting:
                break
        cbs.on_predict_end()
        if isinstance(parts[0], list):
            return [np.concatenate(p) for p in zip(*parts)]
        return np.concatenate(parts)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch ``x`` (batch, timesteps, features), in inference mode."""
        return self.forward(x, training=False)[0]

    # -- single batches ----------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict[int, float] | None = None, return_dict: bool = False) -> Any:
        """One gradient step on one batch; returns that batch's loss (and metrics), as Keras."""
        from .callbacks import pythonify_logs

        self._assert_compiled("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise ConfigError("Arguments `sample_weight` and `class_weight` cannot be "
                                  "specified at the same time.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        x, y, sample_weight = self._arrays(x, y, sample_weight, "train_on_batch")
        if y is None:
            raise InputShapeError("train_on_batch needs targets y.")
        self.reset_metrics()
        logs = pythonify_logs(self._train_step(x, y, sample_weight))
        return logs if return_dict else self._flatten_in_order(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        """Loss (and metrics) of one batch, without updating the weights."""
        from .callbacks import pythonify_logs

        self._assert_compiled("test_on_batch")
        x, y, sample_weight = self._arrays(x, y, sample_weight, "test_on_batch")
        if y is None:
            raise InputShapeError("test_on_batch needs targets y.")
        self.reset_metrics()
        logs = pythonify_logs(self._test_step(x, y, sample_weight))
        return logs if return_dict else self._flatten_in_order(logs)

    # -- state -------------------------------------------------------------------------
    def optimizer_variables(self) -> list[np.ndarray]:
        """The optimizer's state arrays (empty before the optimizer is built)."""
        if self.optimizer is None or not getattr(self.optimizer, "built", False):
            return []
        return list(self.optimizer.variables)

    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write a Keras 3 ``.keras`` file, or a legacy ``.h5`` model that Keras 3 reads
        (see :mod:`unrolled.models.saving`)."""
        from ..models import saving
        self._check_overwrite(filepath, overwrite)
        saving.save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Write the weights to a Keras 3 ``.weights.h5`` file."""
        from ..models import saving
        self._check_overwrite(filepath, overwrite)
        saving.save_weights(self, filepath)

    def load_weights(self, filepath: Any) -> None:
        """Read weights written by :meth:`save_weights` (or Keras) into this model, in place."""
        from ..models import saving
        saving.load_weights(self, filepath)

    @staticmethod
    def _check_overwrite(filepath: Any, overwrite: bool) -> None:
        import os
        if not overwrite and os.path.exists(os.fspath(filepath)):
            raise FileExistsError(f"{os.fspath(filepath)} exists; pass overwrite=True to replace it.")
