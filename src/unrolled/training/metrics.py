"""Stateful metrics with Keras 3 accumulation: a weighted mean over samples across batches.

Every metric here is a :class:`Mean` of per-sample values. One ``update_state`` turns
its batch into per-sample values (``values`` of shape ``(batch, ...)`` reduced by a mean
over every axis after the first -- e.g. a per-timestep error ``(batch, timesteps)``
becomes one number per sample), multiplies by ``sample_weight`` and adds::

    total += sum(values * sample_weight)          count += sum(sample_weight)

(``count += batch`` without weights); ``result() = total / count`` (0 while empty).
Both accumulators are float32, as Keras's metric variables are.

``get("accuracy", ...)`` picks the flavour Keras's ``compile`` picks from the shapes:
binary when the model has one output unit, sparse when the labels have one rank less
(or a trailing axis of 1 against several outputs), categorical otherwise.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError
from . import keras_object_dict, lookup, loss_functions
from . import losses as losses_module
from .loss_reduction import squeeze_or_expand_to_same_rank

Array = np.ndarray


def _as_float(x: Any) -> Array:
    """Keras's ``convert_to_tensor`` of predictions: floats keep their dtype, others float32."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


class Metric:
    """Base class: ``update_state``, ``result``, ``reset_state``, ``name``, config."""

    default_name = "metric"

    def __init__(self, name: str | None = None, dtype: Any = None):
        self.name = name or self.default_name
        self.dtype = np.dtype(dtype or "float32")
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Weighted mean of values over everything seen since the last ``reset_state``.

    ``update_state(values, sample_weight)``: ``values`` (batch, ...) or a scalar (then
    ``sample_weight`` is how many samples it stands for -- the running loss of ``fit``
    uses ``Mean(name="loss")`` with ``sample_weight=batch_size``).
    """

    default_name = "mean"

    def reset_state(self) -> None:
        if "count" in self.__dict__:          # zeroed in place: cheaper than new arrays
            self.total[()] = 0
            self.count[()] = 0
            return
        self.total = np.zeros((), self.dtype)
        self.count = np.zeros((), self.dtype)

    @property
    def variables(self) -> list[Array]:
        """Keras's metric variables, in order: ``total``, ``count``."""
        return [self.total, self.count]

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        if type(values) is float and type(sample_weight) is int:
            # A number standing for ``sample_weight`` samples (``fit``'s running loss):
            # the same float32 products and sums as below, without the array machinery.
            # Scalar arithmetic in the dtype rounds exactly as the 0-d arrays' ufuncs.
            t = self.dtype.type
            v, w = t(values), t(sample_weight)
            self.total[()] = self.total[()] + v * w
            self.count[()] = self.count[()] + w
            return
        values = np.asarray(values, dtype=self.dtype)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=self.dtype)
            values, w = squeeze_or_expand_to_same_rank(values, w)
            # Reduce values to the weights' rank, weight, then weights to one per sample.
            if values.ndim > w.ndim:
                values = np.mean(values, axis=tuple(range(w.ndim, values.ndim)))
            w_ndim = w.ndim
            w = np.broadcast_to(w, values.shape)
            values = values * w
            if w_ndim > 1:
                w = np.mean(w, axis=tuple(range(1, w_ndim)))
        if values.ndim > 1:
            values = np.mean(values, axis=tuple(range(1, values.ndim)))
        self.total += np.sum(values, dtype=self.dtype)
        if sample_weight is not None:
            self.count += np.sum(w, dtype=self.dtype)
        else:
            self.count += self.dtype.type(values.shape[0] if values.ndim else 1)

    def result(self) -> float:
        count = self.count[()]
        return float(self.total[()] / count) if count != 0 else 0.0


class MeanMetricWrapper(Mean):
    """``Mean`` of a per-sample function ``fn(y_true, y_pred) -> (batch, ...)``."""

    fn: Callable[..., Array]
    applies_mask = True  # Keras's MeanMetricWrapper applies the mask y_pred carries

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                     mask: Any = None) -> None:
        """``mask`` (the one ``y_pred`` carries, e.g. (batch, timesteps)) multiplies the
        weights as 0/1 (Keras's ``apply_mask`` with reduction "sum")."""
        values = type(self).fn(y_true, y_pred, **self._fn_kwargs())
        if mask is not None:
            float_mask = np.asarray(mask, dtype=self.dtype)
            if sample_weight is None:
                sample_weight = float_mask
            else:
                float_mask, w = squeeze_or_expand_to_same_rank(
                    float_mask, np.asarray(sample_weight, dtype=self.dtype))
                sample_weight = w * float_mask
        super().update_state(values, sample_weight)

    def _fn_kwargs(self) -> dict[str, Any]:
        return {}


def _aligned(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    y_pred = _as_float(y_pred)
    return squeeze_or_expand_to_same_rank(np.asarray(y_true, dtype=y_pred.dtype), y_pred)


def mean_squared_error(y_true: Any, y_pred: Any) -> Array:
    return loss_functions.mean_squared_error(*_aligned(y_true, y_pred))


def mean_absolute_error(y_true: Any, y_pred: Any) -> Array:
    return loss_functions.mean_absolute_error(*_aligned(y_true, y_pred))


def accuracy(y_true: Any, y_pred: Any) -> Array:
    """1.0 where ``y_true == y_pred`` exactly (for already-discrete predictions)."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Array:
    """1.0 where ``(y_pred > threshold) == y_true``, elementwise."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), _as_float(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(np.float32)


def categorical_accuracy(y_true: Any, y_pred: Any) -> Array:
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` over the last (class) axis."""
    labels, y_pred = np.argmax(np.asarray(y_true), axis=-1), _as_float(y_pred)
    if labels.ndim == y_pred.ndim:       # Keras squeezes a trailing axis here too
        labels = labels[..., 0]
    return (labels == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Array:
    """1.0 where ``argmax(y_pred) == y_true``: labels (batch, ...) or (batch, ..., 1)."""
    y_pred = _as_float(y_pred)
    labels = np.asarray(y_true, dtype=y_pred.dtype)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return (labels == np.argmax(y_pred, axis=-1).astype(y_pred.dtype)).astype(np.float32)


class MeanSquaredError(MeanMetricWrapper):
    """Mean over samples of the mean squared error over the outputs."""
    default_name, fn = "mean_squared_error", staticmethod(mean_squared_error)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean over samples of the mean absolute error over the outputs."""
    default_name, fn = "mean_absolute_error", staticmethod(mean_absolute_error)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the running mean of squared errors (the square root comes last)."""

    default_name = "root_mean_squared_error"

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true, dtype=self.dtype),
                                                        np.asarray(y_pred, dtype=self.dtype))
        super().update_state(np.square(y_pred - y_true), sample_weight)

    def result(self) -> float:
        return float(np.sqrt(np.float32(super().result())))


class Accuracy(MeanMetricWrapper):
    """Fraction of exact matches ``y_true == y_pred``."""
    default_name, fn = "accuracy", staticmethod(accuracy)


class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of outputs where ``y_pred > threshold`` agrees with the 0/1 label."""

    default_name, fn = "binary_accuracy", staticmethod(binary_accuracy)

    def __init__(self, name: str | None = None, dtype: Any = None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def _fn_kwargs(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose arg-max class matches the one-hot label's."""
    default_name, fn = "categorical_accuracy", staticmethod(categorical_accuracy)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose arg-max class equals the integer label."""
    default_name, fn = "sparse_categorical_accuracy", staticmethod(sparse_categorical_accuracy)


def accuracy_flavour(y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]
                     ) -> type[MeanMetricWrapper]:
    """The accuracy class Keras's ``compile`` picks for ``metrics=["accuracy"]``."""
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


class _DeferredAccuracy(Metric):
    """``"accuracy"`` before the shapes are known: picks its flavour on the first batch,
    exactly when Keras builds its compiled metrics."""

    def __init__(self, name: str = "accuracy"):
        self._metric: MeanMetricWrapper | None = None
        super().__init__(name)

    def reset_state(self) -> None:
        if self._metric is not None:
            self._metric.reset_state()

    applies_mask = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None,
                     mask: Any = None) -> None:
        if self._metric is None:
            cls = accuracy_flavour(np.shape(y_true), np.shape(y_pred))
            self._metric = cls(name=self.name)
        self._metric.update_state(y_true, y_pred, sample_weight, mask=mask)

    def result(self) -> float:
        return 0.0 if self._metric is None else self._metric.result()


_CLASSES = (Mean, MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, Accuracy,
            BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy)
METRICS: dict[str, type[Metric]] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{cls.default_name: cls for cls in _CLASSES},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,          # unrolled only: Keras 3 does not know "rmse"
}


def serialize(metric: Metric) -> dict[str, Any]:
    """Keras's serialized form, readable by ``keras.metrics.deserialize``."""
    return keras_object_dict("keras.metrics", type(metric).__name__, metric.get_config())


def deserialize(config: dict[str, Any]) -> Metric:
    cls = lookup(config.get("class_name"), METRICS, "metric")
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: str | dict[str, Any] | Metric, loss: Any = None,
        y_shape: Sequence[int | None] | None = None,
        y_true_shape: Sequence[int | None] | None = None) -> Metric:
    """A metric from a name, a serialized dict or an instance, named as Keras's History.

    A string keeps the string as its name (``"mae"`` -> key ``"mae"``, ``"acc"`` ->
    ``"acc"``). ``"accuracy"``/``"acc"`` resolve by shape: ``y_shape`` is the model
    output's shape ``(batch, ..., outputs)``; the labels' shape is ``y_true_shape``, or
    else inferred from ``loss`` (a sparse cross-entropy means integer labels) or taken
    equal to ``y_shape``. With no shape at all the choice waits for the first batch.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if not isinstance(identifier, str):
        raise ConfigError(f"Could not interpret metric identifier: {identifier!r}")
    if identifier.lower() not in ("accuracy", "acc"):
        return lookup(identifier, METRICS, "metric")(name=identifier)
    if y_shape is None:
        return _DeferredAccuracy(name=identifier)
    if y_true_shape is None:
        sparse = loss is not None and isinstance(
            losses_module.get(loss), losses_module.SparseCategoricalCrossentropy)
        y_true_shape = tuple(y_shape[:-1]) if sparse else tuple(y_shape)
    return accuracy_flavour(y_true_shape, y_shape)(name=identifier)
