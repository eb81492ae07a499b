"""Resolving Keras's small config objects (initializers, regularizers, constraints).

Each of those modules keeps its own table of classes (``{"GlorotUniform": GlorotUniform}``)
and aliases (``{"glorot_uniform": "GlorotUniform"}``); this module holds the lookup they
share, so a name, a ``{"class_name": ..., "config": {...}}`` dict and the JSON written back
behave the same for all three.
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError


def class_and_config(identifier: Any, classes: dict[str, type], aliases: dict[str, str]
                     ) -> tuple[type | None, dict[str, Any]]:
    """The class an identifier names and its config: ``"l2"`` -> (L2, {}),
    ``{"class_name": "L2", "config": {"l2": 0.1}}`` -> (L2, {"l2": 0.1}).

    The class is None when the identifier is neither a string nor a dict with a string
    ``class_name``, or when it names no class in ``classes`` (directly or via ``aliases``).
    """
    if isinstance(identifier, str):
        name, config = identifier, {}
    elif isinstance(identifier, dict) and isinstance(identifier.get("class_name"), str):
        name, config = identifier["class_name"], dict(identifier.get("config") or {})
    else:
        return None, {}
    return classes.get(aliases.get(name, name)), config


def construct(cls: type, config: dict[str, Any], kind: str) -> Any:
    """``cls(**config)``, with a constructor's TypeError (a wrong or missing argument)
    turned into a ConfigError that names the ``kind`` ("Regularizer") and the class."""
    try:
        return cls(**config)
    except TypeError as err:
        raise ConfigError(f"{kind} {cls.__name__}: bad config {config!r} ({err}).") from None


def keras_json(obj: Any, module: str) -> dict[str, Any]:
    """Keras's JSON form of a config object, e.g. ``module="keras.regularizers"``."""
    return {"module": module, "class_name": type(obj).__name__,
            "config": obj.get_config(), "registered_name": None}
