"""Layer and model configs in Keras 3's JSON schema, models included: a model inside a
model is serialised as Keras does (``Functional`` / ``Sequential`` entries), everything
else through the layer registry (:mod:`unrolled.layers.serialization`). Nothing named in
a config is imported or executed."""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..layers.keras_ops import KerasOp, op_config, op_from_config
from ..layers.serialization import deserialize, register_model_hooks, serialize

MODEL_CLASSES = ("Functional", "Model", "Sequential")


def serialize_layer(layer: Any) -> dict[str, Any]:
    """``{"module", "class_name", "config", "registered_name", "build_config"}`` for a
    layer or a model, as Keras 3 writes it."""
    from .functional import Functional
    from .sequential import Sequential

    if isinstance(layer, KerasOp):
        return op_config(layer)
    if isinstance(layer, Functional):
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": layer.get_config(), "registered_name": "Functional",
                "build_config": {"input_shape": None}, "compile_config": {}}
    if isinstance(layer, Sequential):
        out: dict[str, Any] = {"module": "keras", "class_name": "Sequential",
                               "config": layer.get_config(), "registered_name": None}
        if layer.input_batch_shape is not None:
            out["build_config"] = {"input_shape": list(layer.input_batch_shape)}
        out["compile_config"] = {}
        return out
    return serialize(layer)


def deserialize_layer(data: dict[str, Any]) -> Any:
    """A layer or a model from its serialised form (unknown classes refused)."""
    if isinstance(data, dict) and data.get("class_name") in MODEL_CLASSES:
        return model_from_config(data)
    if isinstance(data, dict) and str(data.get("module", "")).startswith("keras.src.ops"):
        return op_from_config(data)
    return deserialize(data)


def model_from_config(data: dict[str, Any]) -> Any:
    """A :class:`Sequential` or :class:`Functional` from ``{"class_name": ..., "config":
    ...}`` (Keras's ``Model`` class name means Functional)."""
    from .functional import Functional
    from .sequential import Sequential

    if not isinstance(data, dict) or "class_name" not in data:
        raise ConfigError(f"A model config must be a dict with 'class_name', got {data!r:.200}.")
    kind, config = data["class_name"], data.get("config")
    if not isinstance(config, dict):
        raise ConfigError(f"The {kind} config must be a dict, got {type(config).__name__}.")
    if kind == "Sequential":
        return Sequential.from_config(config)
    if kind in ("Functional", "Model"):
        return Functional.from_config(config)
    raise ConfigError(f"Unknown model class {kind!r}: unrolled builds {', '.join(MODEL_CLASSES)}.")


register_model_hooks(serialize_layer, model_from_config, MODEL_CLASSES)
