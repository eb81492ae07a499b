"""Layers registered for (de)serialisation beyond the core ones; grows as layers land."""
from __future__ import annotations

from .base import Layer

LAYERS: list[type[Layer]] = []


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer known to ``deserialize`` (and so to file loading)."""
    LAYERS.append(cls)
    return cls
