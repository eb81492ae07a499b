"""Regularizers and constraints as layer options (Keras's ``kernel_regularizer=``,
``bias_constraint=``, ``activity_regularizer=`` ...), in one place for every layer.

A layer that takes them mixes in :class:`Penalized` and calls
``self._take_penalties(kwargs, ("kernel", "bias"))`` in ``__init__`` before
``Layer.__init__`` (which refuses unknown arguments). It then offers:

* ``layer.regularizers``: weight name -> :class:`~unrolled.core.regularizers.Regularizer`
  for the weights that exist; the trainer adds ``reg(w)`` to the loss once per step and
  ``reg.gradient(w)`` to that weight's gradient.
* ``layer.apply_constraints()``: project the constrained weights in place; the trainer
  calls it after each optimizer update (Keras applies constraints right after the update).
* ``layer.activity_penalty(cache)``: Keras's activity regularizer of one call,
  ``Σ_outputs reg(output) / batch`` (Keras divides by the batch size); the layer's
  ``backward`` adds its gradient (classes decorated with :func:`activity_regularized`).
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from ..core import constraints as constraints_mod
from ..core import regularizers as regularizers_mod
from .base import state_changed


class ActivityCache(NamedTuple):
    """The cache of a call with an activity regularizer: the layer's own cache and its
    outputs (a list, states included), whose penalty gradient backward adds."""
    inner: Any
    outputs: list[np.ndarray]


class _Watched(dict):
    """Weight name -> regularizer (or constraint): a dict whose changes tell the trainers'
    cached step plans to rebuild (:func:`~unrolled.layers.base.state_changed`)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        state_changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        state_changed()

    def _changing(name: str) -> Any:  # type: ignore[misc]
        method = getattr(dict, name)

        def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = method(self, *args, **kwargs)
            state_changed()
            return out
        changed.__name__ = name
        return changed

    update = _changing("update")
    pop = _changing("pop")
    popitem = _changing("popitem")
    setdefault = _changing("setdefault")
    clear = _changing("clear")
    __ior__ = _changing("__ior__")
    del _changing


class Penalized:
    """Mixin: weight regularizers, constraints and the activity regularizer."""

    _penalty_prefixes: dict[str, str]
    _weight_regularizers: dict[str, Any]
    _weight_constraints: dict[str, Any]
    _activity_regularizer: Any = None

    @property
    def activity_regularizer(self) -> Any:
        """Keras's ``activity_regularizer`` (None: none); settable, e.g. ``"l2"``."""
        return self._activity_regularizer

    @activity_regularizer.setter
    def activity_regularizer(self, value: Any) -> None:
        self._activity_regularizer = regularizers_mod.get(value)
        state_changed()

    def _take_penalties(self, kwargs: dict[str, Any], weights: Any) -> None:
        """Pop ``<p>_regularizer`` / ``<p>_constraint`` for each option prefix ``p`` and
        ``activity_regularizer`` from ``kwargs``, resolving Keras names and configs.
        ``weights``: weight names (prefix = name), or a dict prefix -> weight name
        (``{"recurrent": "recurrent_kernel"}``: Keras's ``recurrent_regularizer``)."""
        prefixes = dict(weights) if isinstance(weights, dict) else {w: w for w in weights}
        self._penalty_prefixes = prefixes
        self._weight_regularizers = _Watched(
            (w, regularizers_mod.get(kwargs.pop(f"{p}_regularizer", None))) for p, w in prefixes.items())
        self._weight_constraints = _Watched(
            (w, constraints_mod.get(kwargs.pop(f"{p}_constraint", None))) for p, w in prefixes.items())
        self.activity_regularizer = regularizers_mod.get(kwargs.pop("activity_regularizer", None))

    @property
    def regularizers(self) -> dict[str, Any]:
        """Weight name -> regularizer, for the weights this layer has."""
        own = getattr(self, "_weights", {})
        return {w: r for w, r in getattr(self, "_weight_regularizers", {}).items()
                if r is not None and w in own}

    @property
    def constraints(self) -> dict[str, Any]:
        own = getattr(self, "_weights", {})
        return {w: c for w, c in getattr(self, "_weight_constraints", {}).items()
                if c is not None and w in own}

    def regularization_penalty(self) -> float:
        """Σ reg(w) over the regularized weights (what the trainer adds once per step)."""
        return float(sum(reg(self._weights[w]) for w, reg in self.regularizers.items()))

    def apply_constraints(self) -> None:
        """Project each constrained weight in place (after an optimizer update)."""
        for w, constraint in self.constraints.items():
            constraint.apply(self._weights[w])

    def activity_penalty(self, cache: Any) -> float:
        if self.activity_regularizer is None or not isinstance(cache, ActivityCache):
            return 0.0
        return float(sum(self.activity_regularizer(o) / (o.shape[0] if o.ndim else 1)
                         for o in cache.outputs))

    def penalty_config(self) -> dict[str, Any]:
        """The Keras config entries for these options."""
        cfg: dict[str, Any] = {}
        for p, w in self._penalty_prefixes.items():
            cfg[f"{p}_regularizer"] = regularizers_mod.serialize(self._weight_regularizers[w])
        cfg["activity_regularizer"] = regularizers_mod.serialize(self.activity_regularizer)
        for p, w in self._penalty_prefixes.items():
            cfg[f"{p}_constraint"] = constraints_mod.serialize(self._weight_constraints[w])
        return cfg


def _with_activity_grad(layer: Any, dy: Any, cache: ActivityCache) -> Any:
    """``dy`` plus the gradient of the activity penalty w.r.t. each output."""
    reg = layer.activity_regularizer
    grads = [reg.gradient(o) / o.dtype.type(o.shape[0] if o.ndim else 1) for o in cache.outputs]
    if isinstance(dy, (list, tuple)):
        return [g if d is None else d + g for d, g in zip(dy, grads)]
    return grads[0] if dy is None else dy + grads[0]


def activity_regularized(cls: type) -> type:
    """Class decorator: ``forward`` keeps the outputs when the layer has an activity
    regularizer, ``backward`` (and ``backward_with_states``) add the penalty's gradient."""
    forward, backward = cls.forward, cls.backward
    with_states = getattr(cls, "backward_with_states", None)

    @functools.wraps(forward)
    def forward_kept(self: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        out, cache = forward(self, *args, **kwargs)
        if self.activity_regularizer is None:
            return out, cache
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        return out, ActivityCache(cache, outputs)

    @functools.wraps(backward)
    def backward_added(self: Any, dy: Any, cache: Any) -> Any:
        if isinstance(cache, ActivityCache):
            dy, cache = _with_activity_grad(self, dy, cache), cache.inner
        return backward(self, dy, cache)

    cls.forward, cls.backward = forward_kept, backward_added
    if with_states is not None:
        @functools.wraps(with_states)
        def with_states_added(self: Any, dy: Any, cache: Any) -> Any:
            if isinstance(cache, ActivityCache):
                dy, cache = _with_activity_grad(self, dy, cache), cache.inner
            return with_states(self, dy, cache)
        cls.backward_with_states = with_states_added
    return cls

