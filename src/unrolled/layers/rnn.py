"""``RNN(cell)`` with ``LSTMCell`` / ``GRUCell`` / ``SimpleRNNCell`` / ``StackedRNNCells``:
Keras 3's generic recurrent layer, computing exactly what the matching layers compute.

A cell here is a small layer that holds one step's weights (``kernel``, ``recurrent_kernel``,
``bias``, Keras's shapes and initializers) and its options; the time loop is the matching
recurrent layer's (``LSTM`` for ``LSTMCell``, ...), run on the cell's own weight arrays --
so ``RNN(LSTMCell(8))`` uses the same kernels, masks, dropout and stateful handling as
``LSTM(8)``. ``StackedRNNCells([c1, c2, ...])`` feeds each step's output of ``c1`` to
``c2`` at the same step; over a whole sequence that is the layers one after another, every
one but the last returning its sequence, which is how it runs here.

Weights live where Keras keeps them: ``rnn/cell/vars`` (one cell) or
``rnn/cell/cells/<lstm_cell|gru_cell|...>/vars`` (stacked) in ``model.weights.h5``.
Differences from Keras: with ``StackedRNNCells`` and ``return_state=True`` the states come
flat, ``[output, *cell1_states, *cell2_states, ...]`` (Keras nests one list per cell), and
``initial_state`` takes the same flat list.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputShapeError
from .base import Layer
from .gru import GRU
from .lstm import LSTM
from .simple_rnn import SimpleRNN
from .sublayers import SubLayerPenalties
from .weight_paths import class_keyed

# Options that belong to the RNN layer, not to a cell.
_LAYER_ONLY = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
               "zero_output_for_mask", "activity_regularizer")


# A cell stores its weights in its own ``vars`` group, unlike the layer it borrows from.
_NOT_DELEGATED = ("keras_cell_group", "keras_children", "layers")


class _Cell(SubLayerPenalties, Layer):
    """A recurrent cell: one step's weights and options (see the module docstring)."""

    engine_class: type = LSTM
    state_count = 1

    def __init__(self, units: int, **kwargs: Any) -> None:
        base = {k: kwargs.pop(k) for k in ("name", "trainable", "dtype") if k in kwargs}
        super().__init__(**base)
        self.units = units
        self._options = dict(kwargs)
        # A template engine validates the options now (errors at construction, as Keras).
        self._template = self.engine_class(units, name=f"{self.name}_engine", dtype=self.dtype, **kwargs)

    def engine(self, **layer_options: Any) -> Layer:
        """A recurrent layer running this cell's weights with the RNN's options."""
        layer = self.engine_class(self.units, name=self.name, dtype=self.dtype,
                                  trainable=self.trainable, **self._options, **layer_options)
        if self.built:
            layer.build((layer_options.get("batch_size"), None, self.features))
            layer._weights = self._weights   # the same arrays: the cell owns them
        return layer

    @property
    def features(self) -> int | None:
        return self._template.features

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """``input_shape`` (batch, features): one step's input."""
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise InputShapeError(f"{type(self).__name__} builds on one step's input shape "
                                  f"(batch, features), got {tuple(input_shape)}.")
        self._template.build((None, None, int(input_shape[-1])))
        self._weights = self._template._weights
        super().build(tuple(input_shape))

    def sublayers(self) -> list[Layer]:
        return [self._template]

    @property
    def regularizers(self) -> dict[str, Any]:
        return getattr(self._template, "regularizers", {})

    def __getattr__(self, name: str) -> Any:
        # kernel, recurrent_kernel, bias and the per-gate views (kernel_i, ...) of the template
        template = self.__dict__.get("_template")
        if name.startswith("_") or template is None or name in _NOT_DELEGATED:
            raise AttributeError(name)
        return getattr(template, name)

    def param_formula(self) -> str:
        return self._template.param_formula()

    def get_config(self) -> dict[str, Any]:
        config = self._template.get_config()
        for key in _LAYER_ONLY:
            config.pop(key, None)
        config.update(super().get_config())
        return config


class LSTMCell(_Cell):
    """One LSTM step (Keras's ``LSTMCell``): weights as ``LSTM``; run it with ``RNN``."""

    engine_class = LSTM
    state_count = 2


class GRUCell(_Cell):
    """One GRU step (Keras's ``GRUCell``, ``reset_after=True`` by default)."""

    engine_class = GRU


class SimpleRNNCell(_Cell):
    """One SimpleRNN step (Keras's ``SimpleRNNCell``)."""

    engine_class = SimpleRNN

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["seed"] = self._template.seed   # the cell keeps it (the layer does not)
        return config


class StackedRNNCells(SubLayerPenalties, Layer):
    """Cells applied one after another at every step (Keras's ``StackedRNNCells``)."""

    def __init__(self, cells: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells or not all(isinstance(c, _Cell) for c in cells):
            raise ConfigError("StackedRNNCells expects a non-empty list of cells (LSTMCell, GRUCell, "
                              f"SimpleRNNCell), got {cells!r}.")
        self.cells = cells

    @property
    def _weights(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return {f"{c.name}/{k}": v for c in self.cells for k, v in getattr(c, "_weights", {}).items()}

    @_weights.setter
    def _weights(self, value: Any) -> None:
        pass

    def sublayers(self) -> list[Layer]:
        return list(self.cells)

    def keras_children(self) -> list[tuple[str, Layer]]:
        return [(f"cells/{key}", cell) for key, cell in class_keyed(self.cells)]

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        features = input_shape[-1]
        for cell in self.cells:
            if not cell.built:
                cell.build((input_shape[0], features))
            features = cell.units
        super().build(tuple(input_shape))

    def param_formula(self) -> str:
        parts = [f"{c.name}: {c.count_params()}" for c in self.cells]
        return f"{' + '.join(str(c.count_params()) for c in self.cells)} = {self.count_params()}  [{'; '.join(parts)}]"

    def get_config(self) -> dict[str, Any]:
        from .serialization import serialize
        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "StackedRNNCells":
        from .serialization import deserialize
        config = dict(config)
        return cls([deserialize(c) for c in config.pop("cells")], **config)


class RNNCache(NamedTuple):
    caches: list[Any]       # one per engine (cell), in order
    n_states: list[int]     # states each engine returned


class RNN(SubLayerPenalties, Layer):
    """``RNN(cell, return_sequences=False, return_state=False, go_backwards=False,
    stateful=False, unroll=False, zero_output_for_mask=False)``; input (batch, timesteps,
    features), outputs as the matching recurrent layer's."""

    def __init__(self, cell: Any, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs: Any) -> None:
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        if not isinstance(cell, (_Cell, StackedRNNCells)):
            raise ConfigError(f"RNN expects a cell (LSTMCell, GRUCell, SimpleRNNCell or "
                              f"StackedRNNCells), got {cell!r}. Custom cells are not supported.")
        batch_size = kwargs.pop("batch_size", None)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._batch_size = batch_size
        self.engines: list[Layer] = []

    @property
    def zero_output_for_mask(self) -> bool:
        return self._zero_output_for_mask

    @zero_output_for_mask.setter
    def zero_output_for_mask(self, value: bool) -> None:   # Bidirectional sets it after build
        self._zero_output_for_mask = bool(value)
        for engine in getattr(self, "engines", []):
            engine.zero_output_for_mask = self._zero_output_for_mask

    @property
    def cells(self) -> list[_Cell]:
        return self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]

    # -- weights: the cells' -----------------------------------------------------------------
    @property
    def _weights(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return {f"{c.name}/{k}": v for c in self.cells for k, v in getattr(c, "_weights", {}).items()}

    @_weights.setter
    def _weights(self, value: Any) -> None:
        pass

    def sublayers(self) -> list[Layer]:
        return list(self.cells)

    def _sub_caches(self, cache: Any) -> list[tuple[Any, Any]]:
        return list(zip(self.engines, cache.caches))

    def kernel_layers(self) -> list[Layer]:
        """The recurrent layers (one per cell) whose kernel choice ``summary()`` reports."""
        return list(self.engines)

    def keras_children(self) -> list[tuple[str, Layer]]:
        return [("cell", self.cell)]

    def param_formula(self) -> str:
        return self.cell.param_formula()

    # -- shapes ------------------------------------------------------------------------------
    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3:
            raise InputShapeError(f"RNN expects input of rank 3 (batch, timesteps, features), "
                                  f"got shape {tuple(input_shape)}.")
        batch = input_shape[0] if input_shape[0] is not None else self._batch_size
        if self.stateful and batch is None:
            raise InputShapeError(
                f"RNN {self.name!r} has stateful=True, which needs a fixed batch size, but its "
                f"input shape is {tuple(input_shape)}. Hint: Input((timesteps, features), batch_size=B).")
        if isinstance(self.cell, StackedRNNCells):
            self.cell.build((batch, input_shape[-1]))
        elif not self.cell.built:
            self.cell.build((batch, input_shape[-1]))
        n = len(self.cells)
        self.engines = []
        for k, cell in enumerate(self.cells):
            last = k == n - 1
            self.engines.append(cell.engine(
                return_sequences=self.return_sequences if last else True,
                return_state=self.return_state,
                go_backwards=self.go_backwards if k == 0 else False,
                stateful=self.stateful, zero_output_for_mask=self.zero_output_for_mask,
                batch_size=batch))
        super().build((batch,) + tuple(input_shape[1:]))

    @property
    def features(self) -> int | None:
        return self.cells[0].features

    def validate_input(self, shape: tuple[int, ...]) -> None:
        if self.engines:
            self.engines[0].validate_input(shape)
        elif len(shape) != 3:
            raise InputShapeError(f"RNN expects input of rank 3 (batch, timesteps, features), "
                                  f"got shape {tuple(shape)}.")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        batch, steps = input_shape[0], input_shape[1]
        units = self.cells[-1].units
        out = (batch, steps, units) if self.return_sequences else (batch, units)
        if not self.return_state:
            return out
        return [out] + [(batch, c.units) for c in self.cells for _ in range(c.state_count)]

    def compute_mask(self, x: Any, mask: Any) -> Any:
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * sum(c.state_count for c in self.cells)
        return out

    # -- forward / backward ------------------------------------------------------------------
    def call(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
             mask: Any = None) -> Any:
        if not training and not self.return_state and len(self.engines) == 1:
            return self.engines[0](x, initial_state=initial_state, mask=mask)   # fast path
        return self.forward(x, training=training, initial_state=initial_state, mask=mask)[0]

    def _split_states(self, initial_state: Any) -> list[Any]:
        if initial_state is None:
            return [None] * len(self.cells)
        states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
        need = sum(c.state_count for c in self.cells)
        if len(states) != need:
            raise InputShapeError(f"RNN {self.name!r} expects initial_state as {need} arrays (each "
                                  f"cell's states in order), got {len(states)}.")
        out, k = [], 0
        for c in self.cells:
            out.append(states[k:k + c.state_count])
            k += c.state_count
        return out

    def forward(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
                mask: Any = None) -> tuple[Any, RNNCache]:
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        per_cell = self._split_states(initial_state)
        caches, states, n_states = [], [], []
        h = x
        for k, (engine, init) in enumerate(zip(self.engines, per_cell)):
            kwargs: dict[str, Any] = {}
            if init is not None:
                kwargs["initial_state"] = init
            if mask is not None:
                # later cells read the first one's output sequence, in processing order
                kwargs["mask"] = mask[:, ::-1] if (k > 0 and self.go_backwards) else mask
            out, cache = engine.forward(h, training=training, **kwargs)
            caches.append(cache)
            if self.return_state:
                h, *st = out
                states += st
                n_states.append(len(st))
            else:
                h = out
                n_states.append(0)
        result = [h] + states if self.return_state else h
        return result, RNNCache(caches, n_states)

    def backward_with_states(self, dy: Any, cache: RNNCache
                             ) -> tuple[np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]:
        if self.return_state:
            d_out, *d_states = dy
        else:
            d_out, d_states = dy, []
        offsets = np.cumsum([0] + cache.n_states)
        grads_rev: list[list[np.ndarray]] = []
        d_init: list[tuple[np.ndarray, ...]] = []
        d_h = d_out
        for k in range(len(self.engines) - 1, -1, -1):
            engine = self.engines[k]
            mine = d_states[offsets[k]:offsets[k + 1]]
            if d_h is None and not self.return_state:
                d_h = np.zeros((cache.caches[k].batch, engine.units), engine.dtype)
            sub_dy = [d_h, *mine] if self.return_state else d_h
            d_h, g, di = engine.backward_with_states(sub_dy, cache.caches[k])
            grads_rev.append(g)
            d_init.append(tuple(di))
        grads = [g for gs in reversed(grads_rev) for g in gs]
        flat_init = tuple(s for di in reversed(d_init) for s in di)
        return d_h, (grads if self.trainable else []), flat_init

    def backward(self, dy: Any, cache: RNNCache) -> tuple[np.ndarray, list[np.ndarray]]:
        dx, grads, _ = self.backward_with_states(dy, cache)
        return dx, grads

    # -- stateful ------------------------------------------------------------------------------
    @property
    def states(self) -> list[np.ndarray] | None:
        if not self.stateful or not self.engines:
            return None
        return [s for e in self.engines for s in (e.states or [])]

    def reset_state(self) -> None:
        for engine in self.engines:
            engine.reset_state()

    def reset_states(self) -> None:
        self.reset_state()

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        from .serialization import serialize
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask, "cell": serialize(self.cell)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RNN":
        from .serialization import deserialize
        config = dict(config)
        return cls(deserialize(config.pop("cell")), **config)
