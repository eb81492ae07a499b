"""Layer configs in Keras 3's JSON schema, and back. Only known classes are built:
deserialising never imports or executes anything named in the config."""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Layer


def _registry() -> dict[str, type[Layer]]:
    """Class name -> class for every layer ``unrolled.layers`` exports: what the package
    offers is exactly what configs and files may name (a new layer is registered by
    exporting it from ``layers/__init__.py``)."""
    from .. import layers

    classes = (getattr(layers, name) for name in layers.__all__)
    return {c.__name__: c for c in classes
            if isinstance(c, type) and issubclass(c, Layer) and c is not Layer}


def layer_classes() -> dict[str, type[Layer]]:
    """The layer classes configs may name, by Keras class name (a fresh dict)."""
    return dict(_registry())


# Models nested in wrappers (TimeDistributed(Sequential(...))): unrolled.models registers
# its (de)serialisers here on import, so layers never import models.
_model_hooks: dict[str, Any] = {}


def register_model_hooks(serialize_model: Any, deserialize_model: Any,
                         class_names: tuple[str, ...]) -> None:
    _model_hooks.update(serialize=serialize_model, deserialize=deserialize_model,
                        names=class_names)


def serialize(layer: Layer) -> dict[str, Any]:
    if _model_hooks and isinstance(getattr(layer, "layers", None), list):
        return _model_hooks["serialize"](layer)
    out: dict[str, Any] = {"module": "keras.layers", "class_name": type(layer).__name__,
                           "config": layer.get_config(), "registered_name": None}
    shapes_dict = getattr(layer, "build_shapes_dict", None)
    if shapes_dict:   # first called with tensor keyword arguments (initial_state=...)
        out["build_config"] = {"shapes_dict": _as_lists(shapes_dict)}
    elif layer.build_input_shape is not None and type(layer).__name__ != "InputLayer":
        out["build_config"] = {"input_shape": _as_lists(layer.build_input_shape)}
    return out


def _as_lists(obj: Any) -> Any:
    """Shapes as JSON lists (tuples nested in lists or dicts included)."""
    if isinstance(obj, dict):
        return {k: _as_lists(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_as_lists(v) for v in obj]
    return obj


def deserialize(data: dict[str, Any]) -> Layer:
    """Build a layer from ``{"class_name": ..., "config": ...}``; refuse unknown classes."""
    if not isinstance(data, dict) or "class_name" not in data:
        raise ConfigError(f"A layer config must be a dict with 'class_name', got {data!r:.200}.")
    registry = _registry()
    name = data["class_name"]
    if _model_hooks and name in _model_hooks["names"]:
        return _model_hooks["deserialize"](data)
    if name not in registry:
        raise ConfigError(
            f"Unknown layer class {name!r}: unrolled supports {', '.join(sorted(registry))}. "
            "Custom layers and Lambda layers are refused because loading never executes code."
        )
    cls = registry[name]
    config = dict(data.get("config") or {})
    layer = cls.from_config(config)
    build = data.get("build_config") or {}
    if build.get("input_shape") is not None and not layer.built:
        layer.build(tuple(build["input_shape"]))
    return layer
