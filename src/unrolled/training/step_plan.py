"""What one training step of a model needs, worked out once: the :class:`StepPlan` a
trainer keeps until the model changes.

A step (see :mod:`unrolled.training.trainer`) asks the model for its trainable weights,
the regularized weights, the activity penalties of the last forward pass and the
constraints to apply after the update. Asked every step, each is a walk over the layers;
most models have none of them. A plan lists what this model has:

* ``weights``: the trainable weights (the optimizer's variables), in the model's order;
* ``regularized``: ``(weight, regularizer, its positions in weights)``, each weight once,
  in the order of ``model.regularized_weights()`` (the penalties add up in that order);
* ``regularizes``: whether there is any (or the regularizers must be asked afresh);
* ``activity``: whether any call can add an activity penalty (else the walk is skipped);
* ``constrained``: the layers whose ``apply_constraints()`` can change a weight;
* ``all_weights``: every weight of the top-level layers (the divergence check);
* ``chain``: the layers, in call order, when the model is a plain chain (see
  ``model.chain_layers()``): a step calls their ``forward`` and ``backward`` itself, and
  checks each layer's input shape (``validate_input``) only for an input shape it has
  not seen pass (``checked``).

A plan is valid while :func:`~unrolled.layers.base.state_version` is the one it was built
at: the library's setters move it on (``trainable``, a new weight, ``activity_regularizer``,
a regularizer or constraint set on a weight, ``Sequential.add``), and ``compile`` makes a
new trainer. Layers whose ``regularizers``, ``activity_penalty``, ``apply_constraints``,
``weights`` or ``trainable_weights`` are code of their own (a class outside unrolled) are
asked every step, exactly as without a plan.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..layers.base import Layer, state_version
from ..layers.penalties import Penalized


def _owner(layer: Any, attr: str) -> Any:
    """The class whose ``attr`` ``layer`` uses (None: set on the instance, or absent)."""
    if attr in getattr(layer, "__dict__", {}):
        return None
    return next((k for k in type(layer).__mro__ if attr in k.__dict__), None)


def _ours(layer: Any, attr: str) -> bool:
    owner = _owner(layer, attr)
    return owner is not None and owner.__module__.startswith("unrolled.")


def _inner(layer: Any) -> list[Any]:
    """The layers a layer owns: a nested model's layers, a wrapper's sub-layers."""
    if hasattr(layer, "regularized_weights") and hasattr(layer, "_weight_layers"):
        return list(layer._weight_layers())
    subs = getattr(layer, "sublayers", None)
    return list(subs()) if callable(subs) else []


def _tracked(layer: Any, attrs: tuple[str, ...]) -> bool:
    """``attrs`` of ``layer`` and of every layer inside it are the library's own code."""
    return all(_ours(layer, a) for a in attrs) and all(_tracked(s, attrs) for s in _inner(layer))


def _activity_possible(layer: Any) -> bool:
    fn = getattr(type(layer), "activity_penalty", None)
    if fn is None or fn is Layer.activity_penalty:
        return False
    if fn is Penalized.activity_penalty and _ours(layer, "activity_penalty"):
        return layer.activity_regularizer is not None
    if hasattr(layer, "regularized_weights") and _ours(layer, "activity_penalty"):
        return any(_activity_possible(inner) for inner in layer.layers)   # a nested model
    return True                             # a wrapper, or a layer's own code: ask it


def _constrains(layer: Any) -> bool:
    fn = getattr(type(layer), "apply_constraints", None)
    if fn is None:
        return False
    if fn is Penalized.apply_constraints and _ours(layer, "apply_constraints"):
        return bool(layer.constraints)
    if hasattr(layer, "regularized_weights") and _ours(layer, "apply_constraints"):
        return any(_constrains(inner) for inner in layer._weight_layers())
    return True


class StepPlan:
    """What a training step of ``model`` needs (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        self.version = state_version()
        self.model = model
        layers = list(model._weight_layers()) if hasattr(model, "_weight_layers") else list(
            getattr(model, "layers", []))
        # Weights and regularizers of layers with code of their own are asked every step.
        self.fixed_weights = all(_tracked(la, ("weights", "trainable_weights")) for la in layers)
        self.fixed_regularizers = self.fixed_weights and all(
            _tracked(la, ("regularizers",)) for la in layers)
        self.weights: list[np.ndarray] = list(model.trainable_weights)
        self.regularized = self._regularized() if self.fixed_regularizers else []
        self.regularizes = bool(self.regularized) or not self.fixed_regularizers
        self.activity = hasattr(model, "activity_penalty") and any(
            _activity_possible(la) for la in getattr(model, "layers", layers))
        seen: set[int] = set()
        self.constrained = []
        if hasattr(model, "apply_constraints"):
            for la in layers:
                if id(la) not in seen and _constrains(la):
                    seen.add(id(la))
                    self.constrained.append(la)
        self.all_weights = [w for la in getattr(model, "layers", []) for w in la.weights]
        # The divergence check reads all weights end to end in one buffer of their own.
        self._flat_views = [w.reshape(-1) for w in self.all_weights]
        self._flat = (np.empty(sum(v.size for v in self._flat_views), np.result_type(*self._flat_views))
                      if len(self._flat_views) > 1 and all(
                          np.may_share_memory(v, w) for v, w in zip(self._flat_views, self.all_weights))
                      else None)
        # A model class with its own forward_prepared/backward is run through them.
        chain = (model.chain_layers() if self.fixed_weights and hasattr(model, "chain_layers")
                 and all(_ours(model, a) for a in ("forward_prepared", "backward", "chain_layers"))
                 else None)
        self.chain: list[Any] | None = chain
        self.checked: tuple[int, ...] | None = None     # an input shape the chain accepted

    def valid(self) -> bool:
        return self.version == state_version()

    def _regularized(self) -> list[tuple[np.ndarray, Any, list[int]]]:
        pairs = self.model.regularized_weights() if hasattr(self.model, "regularized_weights") else []
        return [(w, reg, [k for k, v in enumerate(self.weights) if v is w]) for w, reg in pairs]

    # -- what a step calls (``regularizes``, ``activity``, ``constrained``: whether to) ----
    def regularization(self) -> tuple[float, Any]:
        """The weight penalties' sum and their gradients: ``[(positions, gradient)]``
        (a dict by weight id when the regularizers are asked afresh)."""
        if not self.fixed_regularizers:
            return self._fresh_regularization()
        penalty, grads = 0.0, []
        for w, reg, positions in self.regularized:
            penalty += float(reg(w))
            grads.append((positions, reg.gradient(w).astype(w.dtype, copy=False)))
        return penalty, grads

    def _fresh_regularization(self) -> tuple[float, dict[int, np.ndarray]]:
        pairs = self.model.regularized_weights() if hasattr(self.model, "regularized_weights") else []
        penalty, grads = 0.0, {}
        for w, reg in pairs:
            penalty += float(reg(w))
            grads[id(w)] = reg.gradient(w).astype(w.dtype, copy=False)
        return penalty, grads

    def add_regularization(self, grads: list[Any], weights: list[np.ndarray],
                           reg_grads: Any) -> list[Any]:
        """``grads`` (one per entry of ``weights``) plus the regularizers' gradients."""
        if isinstance(reg_grads, dict):
            return [g + reg_grads[id(w)] if id(w) in reg_grads else g for g, w in zip(grads, weights)]
        grads = list(grads)
        for positions, g in reg_grads:
            for k in positions:
                grads[k] = grads[k] + g
        return grads

    def apply_constraints(self) -> None:
        for layer in self.constrained:
            layer.apply_constraints()

    def weights_finite(self) -> bool:
        """True if no weight holds NaN or infinity: the sum of all their entries is
        finite (a NaN or an infinity makes it NaN or infinite). False means "look closer"
        (the sum can also overflow), never a false True."""
        if not self.fixed_weights:
            return False
        ws = self.all_weights
        if not ws:
            return True
        if self._flat is not None:
            flat = np.concatenate(self._flat_views, out=self._flat)
        else:
            flat = np.concatenate([w.reshape(-1) for w in ws]) if len(ws) > 1 else ws[0]
        return math.isfinite(np.add.reduce(flat, axis=None))
