"""What a layer that owns other layers (Bidirectional, TimeDistributed, RNN) forwards to
them: their regularizers, constraints and activity penalties, so the trainer -- which
sees only the model's top-level layers -- counts them once each (see :mod:`.penalties`).

The owner's ``_weights`` keys are ``<sub-layer name>/<weight name>``, so its
``regularizers`` use the same keys and point at the same arrays.
"""
from __future__ import annotations

from typing import Any


class SubLayerPenalties:
    """Mixin; the class provides ``sublayers()`` and ``_sub_caches(cache)``."""

    def sublayers(self) -> list[Any]:
        raise NotImplementedError

    def _sub_caches(self, cache: Any) -> list[tuple[Any, Any]]:
        """``(sub-layer, its cache)`` pairs of one call (for activity penalties)."""
        return []

    @property
    def regularizers(self) -> dict[str, Any]:
        return {f"{sub.name}/{k}": r for sub in self.sublayers()
                for k, r in getattr(sub, "regularizers", {}).items()}

    def regularization_penalty(self) -> float:
        return float(sum(sub.regularization_penalty() for sub in self.sublayers()
                         if hasattr(sub, "regularization_penalty")))

    def apply_constraints(self) -> None:
        for sub in self.sublayers():
            if hasattr(sub, "apply_constraints"):
                sub.apply_constraints()

    def activity_penalty(self, cache: Any) -> float:
        return float(sum(sub.activity_penalty(c) for sub, c in self._sub_caches(cache)
                         if hasattr(sub, "activity_penalty")))
