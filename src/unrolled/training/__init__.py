"""Training math that does not depend on layers: losses, metrics, optimizers, schedules.

Import the submodules directly (``unrolled.training.losses`` ...); this package module
only holds the two helpers they share for Keras-style name lookup and serialization.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError


def keras_object_dict(module: str, class_name: str, config: dict) -> dict[str, Any]:
    """The ``{"module", "class_name", "config", "registered_name"}`` dict Keras 3 writes.

    ``registered_name`` is ``None`` for Keras built-ins, which is what lets
    ``keras.saving.deserialize_keras_object`` find the class from ``module``.
    """
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None}


def lookup(identifier: str, table: Mapping[str, Any], kind: str) -> Any:
    """``table[identifier]``, or a ConfigError that lists every name ``table`` knows."""
    try:
        return table[identifier]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ConfigError(
            f"Unknown {kind} {identifier!r}. Known {kind} names: {known}.") from None
