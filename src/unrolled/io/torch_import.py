"""Whole PyTorch recurrent modules <-> unrolled layers: reading modules, state dicts and files
(:func:`read_torch_source`), the layers computing them (:func:`recurrent_layers`), and
:func:`to_torch`. ``unrolled.from_torch`` (:mod:`unrolled.models.torch_models`) builds the
model from these.

A ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` with ``num_layers`` L becomes a model of L recurrent
layers (each but the last with ``return_sequences=True``; ``bidirectional=True`` wraps each
in ``Bidirectional(merge_mode="concat")``, the order of PyTorch's output features). The
model always takes (batch, timesteps, features) — whatever the module's ``batch_first`` —
and ``predict(x)`` returns the module's ``output`` (batch, timesteps, directions·hidden).

Sources: a live module, a state dict (names -> tensors or arrays, optionally under a
prefix such as ``"rnn."``), a ``.pt`` / ``.pth`` file (``torch.load(weights_only=True)``) or a
``.safetensors`` file (read with the ``safetensors`` package's NumPy API: no torch needed).
A state dict does not say which module made it; the shapes do: ``weight_hh_l0`` is
(G·H, H) with G = 4 (LSTM), 3 (GRU) or 1 (RNN). An RNN's ``nonlinearity`` is not in its
weights: pass ``nonlinearity="relu"`` for a relu RNN (files written by :func:`to_torch`
record it in their metadata).
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping, NamedTuple

import numpy as np

from ..errors import ConfigError, ModelFileError
from .torch_weights import (TORCH_RNN_NONLINEARITIES, as_numpy, check_torch_compatible,
                            from_torch_state_dict, load_torch_file, to_torch_state_dict)

MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")
_GATES_TO_MODE = {4: "LSTM", 3: "GRU", 1: "RNN"}
_KEY = re.compile(r"^(?P<prefix>.*?)(?P<param>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
                  r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
METADATA_KEY = "unrolled.torch_module"   # .safetensors metadata: the module's constructor args


class TorchSpec(NamedTuple):
    """The constructor arguments of the ``torch.nn`` module a state dict belongs to."""
    mode: str                 # "LSTM", "GRU", "RNN_TANH", "RNN_RELU" (torch's own ``mode``)
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    bidirectional: bool
    batch_first: bool = True

    @property
    def module(self) -> str:
        return "RNN" if self.mode.startswith("RNN") else self.mode

    def module_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that build the matching ``torch.nn`` module."""
        kw: dict[str, Any] = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                              "num_layers": self.num_layers, "bias": self.bias,
                              "batch_first": self.batch_first, "bidirectional": self.bidirectional}
        if self.module == "RNN":
            kw["nonlinearity"] = self.mode[4:].lower()
        return kw


# -- reading ------------------------------------------------------------------------------
def _read_source(source: Any, prefix: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(state dict as arrays without the prefix, facts the source states about itself)."""
    facts: dict[str, Any] = {}
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.lower().endswith(".safetensors"):
            from .safetensors_file import read_safetensors

            sd, meta = read_safetensors(path)
            if METADATA_KEY in meta:
                try:
                    facts = dict(json.loads(meta[METADATA_KEY]))
                except (ValueError, TypeError) as err:
                    raise ModelFileError(f"{path}: metadata {METADATA_KEY!r} is not JSON.") from err
        else:
            sd = load_torch_file(path)
    elif hasattr(source, "state_dict") and hasattr(source, "mode"):   # a live torch.nn.RNNBase
        if getattr(source, "proj_size", 0):
            raise ConfigError(f"torch.nn.LSTM with proj_size={source.proj_size} has no Keras "
                              "equivalent (Keras's LSTM has no output projection).")
        facts = {"mode": source.mode, "batch_first": bool(source.batch_first)}
        sd = {k: as_numpy(v) for k, v in source.state_dict().items()}
    elif hasattr(source, "state_dict"):
        raise ConfigError(f"from_torch takes a torch.nn.LSTM, GRU or RNN, got a "
                          f"{type(source).__name__}: pass its recurrent submodule (e.g. "
                          "model.lstm), or its state_dict() with prefix='lstm.'.")
    elif isinstance(source, Mapping):
        sd = {str(k): as_numpy(v) for k, v in source.items()}
    else:
        raise ConfigError(f"from_torch expects a torch.nn.LSTM/GRU/RNN, a state dict, or a path "
                          f"to a .pt or .safetensors file; got {type(source).__name__}.")
    return _strip_prefix(sd, prefix), facts


def _strip_prefix(sd: dict[str, np.ndarray], prefix: str | None) -> dict[str, np.ndarray]:
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    others = sorted(k for k in sd if not _KEY.match(k))
    prefixes = sorted({m["prefix"] for k in sd if (m := _KEY.match(k))})
    if len(prefixes) > 1:
        raise ConfigError(f"The state dict holds several recurrent modules (prefixes "
                          f"{prefixes}); pick one with prefix=, e.g. prefix={prefixes[0]!r}.")
    if others:
        raise ConfigError(f"The state dict has weights that are not a torch.nn LSTM/GRU/RNN's: "
                          f"{others[:8]}. Pass the recurrent module alone, or prefix= to select it.")
    if not prefixes:
        raise ConfigError("The state dict has no recurrent weights ('weight_ih_l0' ...).")
    return {k[len(prefixes[0]):]: v for k, v in sd.items()}


def infer_spec(sd: Mapping[str, np.ndarray], mode: str | None = None,
               nonlinearity: str | None = None, batch_first: bool | None = None) -> TorchSpec:
    """The module's constructor arguments, from the names and shapes of its state dict."""
    if any(k.startswith("weight_hr") for k in sd):
        raise ConfigError("The state dict has 'weight_hr_l*' weights: torch.nn.LSTM with "
                          "proj_size > 0 has no Keras equivalent (Keras's LSTM has no projection).")
    if "weight_hh_l0" not in sd or "weight_ih_l0" not in sd:
        raise ConfigError(f"The state dict has no 'weight_ih_l0'/'weight_hh_l0'; it holds {sorted(sd)[:8]}.")
    gh, hidden = sd["weight_hh_l0"].shape
    if gh % hidden or gh // hidden not in _GATES_TO_MODE:
        raise ConfigError(f"weight_hh_l0 has shape {(gh, hidden)}: expected (G·H, H) with G = 4 "
                          "(LSTM), 3 (GRU) or 1 (RNN).")
    found = _GATES_TO_MODE[gh // hidden]
    if found == "RNN":
        nl = (nonlinearity or (mode[4:].lower() if mode and mode.startswith("RNN_") else "tanh"))
        if nl not in TORCH_RNN_NONLINEARITIES:
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {nl!r}.")
        found = f"RNN_{nl.upper()}"
    if mode is not None and mode != found:
        raise ConfigError(f"The weights are a torch.nn {found}'s (weight_hh_l0 {(gh, hidden)}), "
                          f"not a {mode}'s.")
    layers = sorted({int(m["layer"]) for k in sd if (m := _KEY.match(k))})
    if layers != list(range(len(layers))):
        raise ConfigError(f"The state dict's layers are {layers}; expected 0..{len(layers) - 1}.")
    bidirectional = any(k.endswith("_reverse") for k in sd)
    has_bias = "bias_ih_l0" in sd or "bias_hh_l0" in sd
    return TorchSpec(found, int(sd["weight_ih_l0"].shape[1]), int(hidden), len(layers),
                     has_bias, bidirectional, True if batch_first is None else bool(batch_first))


def _bidirectional_class() -> Any:
    from .. import layers

    cls = getattr(layers, "Bidirectional", None)
    if cls is None:
        raise ConfigError("This module is bidirectional: importing it needs the Bidirectional "
                          "layer, which this version of unrolled does not have yet.")
    return cls


def _recurrent_layer(spec: TorchSpec, return_sequences: bool, dtype: Any, name: str,
                     go_backwards: bool = False, return_state: bool = False) -> Any:
    from ..layers import GRU, LSTM, SimpleRNN

    kw = {"use_bias": spec.bias, "return_sequences": return_sequences, "dtype": dtype, "name": name,
          "go_backwards": go_backwards, "return_state": return_state}
    if spec.module == "LSTM":
        return LSTM(spec.hidden_size, **kw)
    if spec.module == "GRU":
        return GRU(spec.hidden_size, reset_after=True, **kw)
    return SimpleRNN(spec.hidden_size, activation=spec.mode[4:].lower(), **kw)


def recurrent_layers(spec: TorchSpec, return_sequences: bool = True, return_state: bool = False,
                     dtype: Any = "float32") -> list[Any]:
    """The unrolled layers (Bidirectional for a bidirectional module), one per torch layer,
    each but the last returning sequences; weights not set yet (:func:`set_torch_weights`)."""
    layers = []
    for k in range(spec.num_layers):
        seq = return_sequences or k < spec.num_layers - 1
        layer = _recurrent_layer(spec, seq, dtype, f"{spec.module.lower()}_l{k}", return_state=return_state)
        if spec.bidirectional:
            backward = _recurrent_layer(spec, seq, dtype, f"{spec.module.lower()}_l{k}_reverse",
                                        go_backwards=True, return_state=return_state)
            layer = _bidirectional_class()(layer, backward_layer=backward, merge_mode="concat",
                                           name=f"bidirectional_l{k}")
        layers.append(layer)
    return layers


def set_torch_weights(spec: TorchSpec, layers: list[Any], sd: Mapping[str, Any]) -> None:
    """Copy the state dict ``sd`` into the built ``layers`` of :func:`recurrent_layers`."""
    for k, layer in enumerate(layers):
        if spec.bidirectional:
            from_torch_state_dict(layer.forward_layer, sd, index=k, bidirectional=True)
            from_torch_state_dict(layer.backward_layer, sd, index=k, suffix="_reverse",
                                  bidirectional=True)
        else:
            from_torch_state_dict(layer, sd, index=k)


def read_torch_source(source: Any, *, prefix: str | None = None, mode: str | None = None,
                      nonlinearity: str | None = None, batch_first: bool | None = None
                      ) -> tuple[dict[str, np.ndarray], TorchSpec]:
    """``(state dict as arrays, the module's spec)`` of a live module, state dict or file
    (see the module docstring); hints override what the source says about itself."""
    if mode is not None and mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}.")
    sd, facts = _read_source(source, prefix)
    spec = infer_spec(sd, mode or facts.get("mode"), nonlinearity or facts.get("nonlinearity"),
                      facts.get("batch_first", True) if batch_first is None else batch_first)
    return sd, spec


def torch_initial_states(spec: TorchSpec, h0: Any, c0: Any = None) -> list[np.ndarray]:
    """PyTorch's ``h0`` (and ``c0``), (num_layers·directions, batch, hidden) each, as the
    list of state inputs of ``from_torch(..., initial_state=True)``: per layer, per
    direction, ``h`` then ``c``."""
    h0 = as_numpy(h0)
    c0 = None if c0 is None else as_numpy(c0)
    if (c0 is None) != (spec.module != "LSTM"):
        raise ConfigError("An LSTM needs h0 and c0; a GRU or RNN h0 only.")
    D = 2 if spec.bidirectional else 1
    want = (spec.num_layers * D, spec.hidden_size)
    for label, a in (("h0", h0), ("c0", c0)):
        if a is not None and (a.ndim != 3 or (a.shape[0], a.shape[2]) != want):
            raise ConfigError(f"{label} has shape {a.shape}; expected (num_layers·directions, batch, "
                              f"hidden) = ({want[0]}, batch, {want[1]}).")
    out = []
    for row in range(spec.num_layers * D):
        out += [h0[row]] + ([] if c0 is None else [c0[row]])
    return out


def torch_final_states(spec: TorchSpec, outputs: list[Any]) -> tuple[np.ndarray, ...]:
    """``(output, h_n)`` or ``(output, h_n, c_n)`` as PyTorch returns them, from the outputs
    of ``from_torch(..., return_state=True)`` (``h_n``: (num_layers·directions, batch, hidden))."""
    output, *states = outputs
    per = 2 if spec.module == "LSTM" else 1
    h = np.stack(states[0::per])
    return (output, h) if per == 1 else (output, h, np.stack(states[1::per]))


# -- writing ------------------------------------------------------------------------------
def _recurrent_stack(model: Any) -> list[Any]:
    """The model's recurrent layers (or Bidirectional wrappers), checked to form one
    ``torch.nn`` module: same cell, units, bias and activations; every layer but the last
    returning sequences; nothing else in the model."""
    layers = list(getattr(model, "layers", [model]))
    other = [f"{type(la).__name__} {la.name!r}" for la in layers
             if type(la).__name__ not in ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "InputLayer")]
    if other:
        raise ConfigError(f"to_torch writes one torch.nn LSTM/GRU/RNN; the model also has {other}, "
                          "which a torch.nn recurrent module does not compute. Export the "
                          "recurrent layers alone, or use ONNX for the whole model.")
    layers = [la for la in layers if type(la).__name__ != "InputLayer"]
    if not layers:
        raise ConfigError("to_torch: the model has no recurrent layers.")
    for k, la in enumerate(layers):
        cells = _directions(la)
        for cell in cells:
            check_torch_compatible(cell)
        if type(la).__name__ == "Bidirectional" and getattr(la, "merge_mode", "concat") != "concat":
            raise ConfigError(f"Bidirectional {la.name!r} has merge_mode={la.merge_mode!r}; torch "
                              "concatenates the two directions (merge_mode='concat').")
        if type(la).__name__ != "Bidirectional" and cells[0].go_backwards:
            raise ConfigError(f"{type(la).__name__} {la.name!r} has go_backwards=True; a torch.nn "
                              "module runs backwards only as the second half of bidirectional=True.")
        if k < len(layers) - 1 and not cells[0].return_sequences:
            raise ConfigError(f"{la.name!r} is not the last layer but returns only its last step "
                              "(return_sequences=False); a torch.nn module feeds every step on.")
    first = _directions(layers[0])[0]
    for la in layers:
        for cell in _directions(la):
            same = (type(cell) is type(first) and cell.units == first.units
                    and cell.use_bias == first.use_bias
                    and cell.activation.name == first.activation.name
                    and len(_directions(la)) == len(_directions(layers[0])))
            if not same:
                raise ConfigError(f"Layer {cell.name!r} differs from {first.name!r} (cell, units, "
                                  "use_bias, activation or direction); one torch.nn module needs "
                                  "them all equal.")
    return layers


def _directions(layer: Any) -> list[Any]:
    if type(layer).__name__ == "Bidirectional":
        return [layer.forward_layer, layer.backward_layer]
    return [layer]


def torch_spec(model: Any) -> TorchSpec:
    """The ``torch.nn`` module that :func:`to_torch`'s state dict loads into."""
    layers = _recurrent_stack(model)
    first = _directions(layers[0])[0]
    kind = type(first).__name__
    mode = {"LSTM": "LSTM", "GRU": "GRU"}.get(kind) or f"RNN_{first.activation.name.upper()}"
    return TorchSpec(mode, int(first.kernel.shape[0]), first.units, len(layers), first.use_bias,
                     len(_directions(layers[0])) == 2, True)


def to_torch(model: Any, path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The state dict (NumPy arrays) of the ``torch.nn`` module computing ``model``; with
    ``path`` also write it: ``.safetensors`` (with the module's constructor arguments in
    the metadata, no torch needed) or ``.pt``/``.pth`` (``torch.save``).

    Build the module with ``torch.nn.LSTM(**torch_spec(model).module_kwargs())`` and load
    with ``module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.
    Refused, with the reason: layers torch has no module for, activations it does not
    compute, a GRU with ``reset_after=False``, mixed sizes.
    """
    layers = _recurrent_stack(model)
    spec = torch_spec(model)
    sd: dict[str, np.ndarray] = {}
    for k, la in enumerate(layers):
        for cell, suffix in zip(_directions(la), ("", "_reverse")):
            sd.update(to_torch_state_dict(cell, index=k, suffix=suffix))
    if path is not None:
        path = os.fspath(path)
        if path.lower().endswith(".safetensors"):
            from .safetensors_file import write_safetensors

            meta = {"format": "pt", METADATA_KEY: json.dumps({"module": spec.module, "mode": spec.mode,
                                                              **spec.module_kwargs()})}
            write_safetensors(path, sd, meta)
        elif path.lower().endswith((".pt", ".pth")):
            _torch_save(sd, path)
        else:
            raise ConfigError(f"to_torch writes .safetensors, .pt or .pth files, got {path!r}.")
    return sd


def _torch_save(sd: Mapping[str, np.ndarray], path: str) -> None:
    try:
        import torch
    except ImportError as err:
        raise ImportError("Writing .pt files needs torch: pip install 'unrolled[torch]' "
                          "(or write .safetensors, which does not).") from err
    import io

    from .atomic import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, buf)
    atomic_write_bytes(path, buf.getvalue())
