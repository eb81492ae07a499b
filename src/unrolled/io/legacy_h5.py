"""The legacy HDF5 full-model format: ``model.save("model.h5")`` of Keras 2.x, tf.keras
2.x and Keras 3's legacy saver. A format only: configs come out as JSON dicts and weights
as arrays; :mod:`unrolled.models.saving` builds the model.

Layout (Keras 2's ``hdf5_format.save_model_to_hdf5``; Keras 3's ``legacy_h5_format`` is
the same)::

    /  attrs keras_version "2.4.0", backend "tensorflow",
             model_config    JSON {"class_name": "Sequential"|"Functional"|"Model", "config": {...}}
             training_config JSON {"loss", "metrics", "weighted_metrics", "loss_weights",
                                   "optimizer_config": {"class_name", "config"}}   (if compiled)
    model_weights/  attrs layer_names [b"lstm", b"dense", ...] (model.layers order; split
                          into layer_names0, layer_names1 ... when longer than 64 KB),
                          backend, keras_version
      <layer name>/  attrs weight_names [b"lstm/lstm_cell/kernel:0", ...] (trainable, then
                           non-trainable; empty for layers without weights)
        lstm/lstm_cell/kernel:0      the dataset; its name is split at "/" into groups
      top_level_model_weights/       (Keras 3 only) attrs weight_names []
    optimizer_weights/  attrs weight_names [b"Adam/iter:0", b"Adam/lstm/lstm_cell/kernel/m:0", ...]
                          (Keras 2: iterations, then every m, then every v;
                           Keras 3: "adam/iteration", "adam/learning_rate", then m, v per variable)

Layer groups are written sorted by name, but read in ``layer_names`` order; weights are
matched to layers by position, as Keras does. Keras 2 weight names end in ``:0``,
Keras 3's do not.
"""
from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import h5py
import numpy as np

from ..errors import ModelFileError
from . import h5_weights
from .atomic import atomic_write

_MAX_JSON_BYTES = 64 << 20
_HEADER_LIMIT = 64512   # HDF5's object-header limit for one attribute, as Keras splits


class LegacyModelFile(NamedTuple):
    """The parts of a legacy ``.h5`` model, unbuilt: configs as dicts, versions as text,
    the open ``model_weights`` group and the optimizer's ``(name, array)`` pairs."""
    model_config: dict[str, Any]
    training_config: dict[str, Any] | None
    keras_version: str
    backend: str | None
    weights: h5py.Group
    optimizer_weights: list[tuple[str, np.ndarray]] | None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise ModelFileError(f"expected a text attribute, found {type(value).__name__}")


def _json_attr(h5: h5py.File, key: str, what: str, required: bool) -> Any:
    raw = h5.attrs.get(key)
    if raw is None:
        if required:
            raise ModelFileError(
                f"{what} has no '{key}' attribute: it is not a Keras model file. If it holds "
                "weights only (model.save_weights), build the model and call "
                "model.load_weights(path).")
        return None
    text = _text(raw)
    if len(text) > _MAX_JSON_BYTES:
        raise ModelFileError(f"{what}: attribute '{key}' is {len(text)} bytes; refused.")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ModelFileError(f"{what}: attribute '{key}' is not valid JSON ({err}).") from err
    if not isinstance(value, dict):
        raise ModelFileError(f"{what}: attribute '{key}' should hold a JSON object.")
    return value


def is_full_model(h5: h5py.File) -> bool:
    """True for a legacy full model (architecture + weights), False for weights only."""
    return "model_config" in h5.attrs


def read(h5: h5py.File, what: str) -> LegacyModelFile:
    """The configs, versions, weight group and optimizer weights of an open legacy file.
    Call inside :func:`h5_weights.guarded` (every HDF5 error becomes ModelFileError)."""
    model_config = _json_attr(h5, "model_config", what, required=True)
    training_config = _json_attr(h5, "training_config", what, required=False)
    weights = h5_weights.child(h5, "model_weights", h5py.Group, what)
    version = _text(weights.attrs.get("keras_version", h5.attrs.get("keras_version"))) or "1"
    backend = _text(weights.attrs.get("backend", h5.attrs.get("backend")))
    optimizer = None
    if "optimizer_weights" in h5:
        group = h5_weights.child(h5, "optimizer_weights", h5py.Group, what)
        names = h5_weights.legacy_names(group, "weight_names", what)
        optimizer = [(name, h5_weights.read_dataset(
            h5_weights.child(group, name, h5py.Dataset, what), what)) for name in names]
    return LegacyModelFile(model_config, training_config, version, backend, weights, optimizer)


# -- writing ---------------------------------------------------------------------------
def _names_attr(group: h5py.Group, key: str, names: list[str]) -> None:
    """Keras's ``save_attributes_to_hdf5_group``: split when over the header limit."""
    if not names:   # what Keras writes for a layer without weights
        group.attrs[key] = np.array([], dtype=np.float64)
        return
    data = np.array([n.encode("utf-8") for n in names])
    chunks = 1
    while any(c.nbytes > _HEADER_LIMIT for c in np.array_split(data, chunks)):
        chunks += 1
    if chunks == 1:
        group.attrs[key] = data
    else:
        for k, chunk in enumerate(np.array_split(data, chunks)):
            group.attrs[f"{key}{k}"] = chunk


# Keras 3's legacy reader resolves a loss string as an object path and fails on the short
# aliases (Keras 3.15: "Could not deserialize 'keras.metrics.mse'"); full names work.
_LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                 "mape": "mean_absolute_percentage_error",
                 "msle": "mean_squared_logarithmic_error"}


def readable_loss(loss: Any) -> Any:
    """``loss`` (a string, or a list/dict of them) with aliases spelled out."""
    if isinstance(loss, str):
        return _LOSS_ALIASES.get(loss, loss)
    if isinstance(loss, list):
        return [readable_loss(item) for item in loss]
    if isinstance(loss, dict) and "class_name" not in loss:
        return {key: readable_loss(value) for key, value in loss.items()}
    return loss


class LayerWeights(NamedTuple):
    """One entry of ``model_weights``: a layer's name and its ``(weight name, array)``
    pairs in the legacy order (trainable first)."""
    name: str
    weights: list[tuple[str, np.ndarray]]


def write(path: str | os.PathLike, model_config: dict[str, Any],
          training_config: dict[str, Any] | None, layers: list[LayerWeights],
          optimizer_weights: list[tuple[str, np.ndarray]] | None,
          keras_version: str, backend: str = "numpy") -> None:
    """Write a legacy ``.h5`` model that Keras 3's ``load_model`` reads, atomically."""
    import io

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["keras_version"] = keras_version
        h5.attrs["backend"] = backend
        h5.attrs["model_config"] = json.dumps(model_config).encode("utf-8")
        if training_config is not None:
            training_config = {**training_config,
                               "loss": readable_loss(training_config.get("loss"))}
            h5.attrs["training_config"] = json.dumps(training_config).encode("utf-8")
        root = h5.create_group("model_weights")
        _names_attr(root, "layer_names", [entry.name for entry in layers])
        root.attrs["backend"] = backend.encode("utf-8")
        root.attrs["keras_version"] = keras_version.encode("utf-8")
        for entry in sorted(layers, key=lambda e: e.name):
            group = root.create_group(entry.name)
            _names_attr(group, "weight_names", [n for n, _ in entry.weights])
            for name, value in entry.weights:
                group.create_dataset(name, data=np.asarray(value))
        _names_attr(root.create_group("top_level_model_weights"), "weight_names", [])
        if optimizer_weights:
            group = h5.create_group("optimizer_weights")
            _names_attr(group, "weight_names", [n for n, _ in optimizer_weights])
            for name, value in optimizer_weights:
                group.create_dataset(name, data=np.asarray(value))
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
