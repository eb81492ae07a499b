"""Where a layer's weights live in Keras 3's ``model.weights.h5``, as data.

Keras saves each object's own variables under ``<path>/vars`` and recurses into the
objects it holds, naming each group after the attribute that holds it::

    layers/lstm/vars                                  the LSTM layer's own: none
    layers/lstm/cell/vars/0..2                        its cell's kernel, recurrent, bias
    layers/bidirectional/forward_layer/cell/vars/0..2 a wrapped layer, one level down
    layers/time_distributed/layer/vars/0..1           TimeDistributed(Dense)
    layers/rnn/cell/cells/gru_cell/vars/0..2          RNN(StackedRNNCells([..., GRUCell]))

A layer that holds other layers says so with ``keras_children()`` -> ``[(attribute path,
child)]``; a recurrent layer (whose weights Keras keeps in its cell) with
``keras_cell_group()`` -> the cell's group name (e.g. ``lstm_cell``). The file formats
(:mod:`unrolled.io.h5_weights`) only walk these groups; they never name a layer class.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class WeightGroup(NamedTuple):
    path: str                  # e.g. "layers/bidirectional/forward_layer/cell/vars"
    name: str                  # the group's ``name`` attribute (the object's Keras name)
    arrays: list[np.ndarray]   # the live weight arrays stored there, in order


def weight_groups(layer: Any, base: str) -> list[WeightGroup]:
    """Every ``vars`` group of ``layer`` under ``base`` (e.g. ``layers/lstm``), in the
    order of ``layer.weights`` (the groups' arrays concatenated are ``layer.weights``)."""
    sublayers = getattr(layer, "layers", None)
    if isinstance(sublayers, list):   # a nested model: its layers, named by class
        groups = [WeightGroup(f"{base}/vars", layer.name, [])]
        for key, child in class_keyed(sublayers):
            groups += weight_groups(child, f"{base}/layers/{key}")
        return groups
    children = getattr(layer, "keras_children", None)
    if children is not None:
        groups = [WeightGroup(f"{base}/vars", layer.name, [])]
        for attr, child in children():
            groups += weight_groups(child, f"{base}/{attr}")
        return groups
    cell = getattr(layer, "keras_cell_group", None)
    if cell is not None:
        return [WeightGroup(f"{base}/vars", layer.name, []),
                WeightGroup(f"{base}/cell/vars", cell(), list(layer.weights))]
    return [WeightGroup(f"{base}/vars", layer.name, list(layer.weights))]


def keras_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``LSTM`` -> ``lstm``, ``SimpleRNN`` -> ``simple_rnn``."""
    import re
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def class_keyed(items: list[Any]) -> list[tuple[str, Any]]:
    """Keras's names for a list of tracked objects: the snake-cased class, numbered on
    repeats (``lstm_cell``, ``gru_cell``, ``lstm_cell_1``)."""
    used: dict[str, int] = {}
    out = []
    for item in items:
        key = keras_snake_case(type(item).__name__)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        out.append((key, item))
    return out
