"""``unrolled.from_torch``: a model computing what a PyTorch ``nn.LSTM`` / ``nn.GRU`` /
``nn.RNN`` computes, from a live module, a state dict, a ``.pt`` or a ``.safetensors`` file.

Reading the source and making the layers is :mod:`unrolled.io.torch_import`'s (formats
only); this module puts the layers into a ``Sequential``, or a graph model when initial or
final states are asked for. ``unrolled.to_torch`` is the way back.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..io.torch_import import (TorchSpec, read_torch_source, recurrent_layers, set_torch_weights,
                               torch_final_states, torch_initial_states, to_torch, torch_spec)
from ..layers import Input
from .functional import Functional
from .sequential import Sequential

__all__ = ["from_torch", "to_torch", "torch_spec", "torch_initial_states", "torch_final_states"]


def from_torch(source: Any, *, batch_first: bool | None = None, mode: str | None = None,
               nonlinearity: str | None = None, prefix: str | None = None,
               return_sequences: bool = True, return_state: bool = False,
               initial_state: bool = False, dtype: Any = None, name: str | None = None) -> Any:
    """An unrolled model computing what the PyTorch recurrent module ``source`` does.

    ``source``: a ``torch.nn.LSTM``/``GRU``/``RNN``, its ``state_dict()``, or a path to a
    ``.pt``/``.pth`` (loaded with ``weights_only=True``) or ``.safetensors`` file.
    ``num_layers``, ``bidirectional``, input and hidden sizes come from the weights' names
    and shapes. Hints: ``batch_first`` (recorded; the model always takes (batch, timesteps,
    features), so transpose time-major data with ``x.transpose(1, 0, 2)``), ``mode``
    ("LSTM", "GRU", "RNN_TANH", "RNN_RELU") to check the kind, ``nonlinearity`` for an RNN,
    ``prefix`` to pick a submodule's weights out of a bigger state dict.

    ``predict(x)`` returns the module's ``output`` (batch, timesteps, directions·hidden);
    with ``return_sequences=False`` the last layer's final state: ``h_n[-1]``, or for a
    bidirectional module ``concat(h_n[-2], h_n[-1])`` (both directions' final states —
    not ``output[:, -1]``, where the backward direction has seen one step only).

    Without states the model is a ``Sequential``. ``initial_state=True`` makes a graph
    model whose inputs after ``x`` are each layer's (and direction's) ``h0`` (and ``c0``),
    (batch, hidden) each — :func:`torch_initial_states` splits PyTorch's ``h0``/``c0`` into
    that list; ``return_state=True`` appends every layer's final states to the outputs —
    :func:`torch_final_states` stacks them back into ``h_n``/``c_n``.
    """
    sd, spec = read_torch_source(source, prefix=prefix, mode=mode, nonlinearity=nonlinearity,
                                 batch_first=batch_first)
    if dtype is None:
        dtype = "float64" if sd["weight_ih_l0"].dtype == np.float64 else "float32"
    layers = recurrent_layers(spec, return_sequences, return_state, dtype)
    name = name or f"torch_{spec.module.lower()}"
    if return_state or initial_state:
        model = _graph_model(spec, layers, initial_state, return_state, dtype, name)
    else:
        model = Sequential([Input((None, spec.input_size), dtype=dtype)] + layers, name=name)
    set_torch_weights(spec, layers, sd)
    model.torch_spec = spec
    return model


def _graph_model(spec: TorchSpec, layers: list[Any], initial_state: bool, return_state: bool,
                 dtype: Any, name: str) -> Any:
    """``Model([x, *states_in], [output, *states_out])`` over the recurrent layers."""
    x = Input((None, spec.input_size), dtype=dtype, name="x")
    inputs, outputs, y = [x], [], x
    carried = ("h0", "c0") if spec.module == "LSTM" else ("h0",)
    directions = ("", "_reverse") if spec.bidirectional else ("",)
    for k, layer in enumerate(layers):
        kwargs = {}
        if initial_state:
            states = [Input((spec.hidden_size,), dtype=dtype, name=f"{s}_l{k}{d}")
                      for d in directions for s in carried]
            inputs += states
            kwargs["initial_state"] = states
        out = layer(y, **kwargs)
        if return_state:
            y, *finals = out
            outputs += finals
        else:
            y = out
    return Functional(inputs, [y, *outputs] if return_state else y, name=name)
