"""One PyTorch recurrent layer's weights <-> one unrolled recurrent layer.

For layer ``k`` of a ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (F inputs, H units, G gate
blocks: 4, 3, 1; :mod:`unrolled.core.gates` holds the gate orders and bias rules)::

    weight_ih_l{k}[_reverse]  (G·H, F)   <->  kernel            (F, G·H)
    weight_hh_l{k}[_reverse]  (G·H, H)   <->  recurrent_kernel  (H, G·H)
    bias_ih_l{k}[_reverse]    (G·H,)     \\
    bias_hh_l{k}[_reverse]    (G·H,)     /->  bias (G·H,), or (2, G·H) for a GRU

PyTorch's LSTM and RNN add their two biases, so importing sums them and exporting puts
Keras's bias in ``bias_ih`` and zeros in ``bias_hh``; its GRU is Keras's ``reset_after=True``
GRU and the two biases are Keras's two bias rows. PyTorch computes only sigmoid gates
with tanh (RNN: tanh or relu), so layers with other activations are refused. It has no
``go_backwards`` on its own: ``*_reverse`` weights belong to the backward half of a
bidirectional module. ``proj_size`` (``weight_hr``) has no Keras equivalent and is refused.

Files: :func:`load_torch_file` reads a ``torch.save``\\ d state dict with
``torch.load(weights_only=True)``, which refuses pickled code (torch is imported lazily).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from ..core.gates import FrameworkWeights, from_framework, to_framework
from ..errors import ConfigError, ModelFileError

# unrolled layer class -> the activations torch's matching module computes:
# (recurrent_activation, activation) for LSTM/GRU, activation -> nonlinearity for RNN.
TORCH_GATED = ("sigmoid", "tanh")
TORCH_RNN_NONLINEARITIES = ("tanh", "relu")


def check_torch_compatible(layer: Any) -> None:
    """Refuse a layer whose numbers no ``torch.nn`` recurrent module computes."""
    kind = type(layer).__name__
    if kind not in ("LSTM", "GRU", "SimpleRNN"):
        raise ConfigError(f"Expected an unrolled LSTM, GRU or SimpleRNN layer, got {kind}.")
    if not layer.built:
        raise ConfigError(f"{kind} {layer.name!r} is not built: build it (or its model) first.")
    if kind == "SimpleRNN":
        if layer.activation.name not in TORCH_RNN_NONLINEARITIES:
            raise ConfigError(
                f"SimpleRNN {layer.name!r} uses activation={layer.activation.name!r}; "
                "torch.nn.RNN computes only nonlinearity='tanh' or 'relu'.")
        return
    acts = (layer.recurrent_activation.name, layer.activation.name)
    if acts != TORCH_GATED:
        raise ConfigError(
            f"{kind} {layer.name!r} uses recurrent_activation={acts[0]!r}, activation={acts[1]!r}; "
            f"torch.nn.{kind} computes only sigmoid gates and tanh, so its weights would not "
            "compute the same function.")


def as_numpy(value: Any) -> np.ndarray:
    """A tensor (without importing torch) or array-like as a NumPy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def to_torch_state_dict(layer: Any, index: int = 0, suffix: str = "") -> dict[str, np.ndarray]:
    """``layer``'s weights under ``torch.nn`` names for layer ``index`` (``_l{index}`` +
    ``suffix``, e.g. ``"_reverse"``). Without bias only the two weight matrices are
    returned (``bias=False`` modules). Values are NumPy arrays (``torch.from_numpy`` them).
    """
    check_torch_compatible(layer)
    kind = type(layer).__name__
    fw = to_framework(kind, "torch", layer.kernel, layer.recurrent_kernel, layer.bias,
                      getattr(layer, "reset_after", False))
    tail = f"_l{index}{suffix}"
    out = {f"weight_ih{tail}": fw.w_in, f"weight_hh{tail}": fw.w_rec}
    if fw.b_in is not None:
        out[f"bias_ih{tail}"], out[f"bias_hh{tail}"] = fw.b_in, fw.b_rec
    return out


def from_torch_state_dict(layer: Any, state_dict: Mapping[str, Any], index: int = 0,
                          suffix: str = "", bidirectional: bool = False) -> None:
    """Set ``layer``'s weights from a ``torch.nn`` LSTM/GRU/RNN state dict (layer ``index``,
    key suffix ``suffix``: ``"_reverse"`` for the backward direction; ``bidirectional``:
    the layer is one half of a Bidirectional, so ``*_reverse`` keys are expected).
    Shapes are checked against the layer before anything is set."""
    check_torch_compatible(layer)
    kind = type(layer).__name__
    tail = f"_l{index}{suffix}"
    if not bidirectional and any(k.endswith(f"{tail}_reverse") for k in state_dict):
        raise ConfigError(f"The state dict has '*{tail}_reverse' weights (a bidirectional module); "
                          "read it with unrolled.from_torch, which builds Bidirectional layers.")
    if f"weight_hr{tail}" in state_dict:
        raise ConfigError(f"The state dict has 'weight_hr{tail}': torch.nn.LSTM with proj_size > 0 "
                          "has no Keras equivalent (Keras's LSTM has no projection).")
    missing = [k for k in (f"weight_ih{tail}", f"weight_hh{tail}") if k not in state_dict]
    if missing:
        raise ConfigError(f"The state dict has no {missing}; it holds {sorted(state_dict)[:8]}.")
    F, H, G = layer.kernel.shape[0], layer.units, layer.cell.n_gates
    arrays = {name: as_numpy(state_dict[name]) for name in
              (f"weight_ih{tail}", f"weight_hh{tail}", f"bias_ih{tail}", f"bias_hh{tail}")
              if name in state_dict}
    expected = {f"weight_ih{tail}": (G * H, F), f"weight_hh{tail}": (G * H, H),
                f"bias_ih{tail}": (G * H,), f"bias_hh{tail}": (G * H,)}
    for name, arr in arrays.items():
        if arr.shape != expected[name]:
            raise ConfigError(f"{name} has shape {arr.shape}; {kind} {layer.name!r} "
                              f"(features={F}, units={H}) needs {expected[name]}.")
    fw = FrameworkWeights(arrays[f"weight_ih{tail}"], arrays[f"weight_hh{tail}"],
                          arrays.get(f"bias_ih{tail}"), arrays.get(f"bias_hh{tail}"))
    keras = from_framework(kind, "torch", fw, getattr(layer, "reset_after", False))
    if not layer.use_bias:
        if keras.bias is not None and np.any(keras.bias):
            raise ConfigError(f"{kind} {layer.name!r} has use_bias=False but the torch biases are "
                              "not zero; build the layer with use_bias=True.")
        keras = keras._replace(bias=None)
    elif keras.bias is None:
        keras = keras._replace(bias=np.zeros(layer.bias.shape, layer.dtype))
    layer.set_weights([w.astype(layer.dtype) for w in keras.as_list()])


def load_torch_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A ``torch.save``\\ d state dict as NumPy arrays, loaded with ``weights_only=True``.

    Pickled code (a saved module, arbitrary objects) is refused, never run. Needs
    ``torch`` (``pip install unrolled[torch]``).
    """
    try:
        import torch
    except ImportError as err:
        raise ImportError("Reading PyTorch files needs torch: pip install 'unrolled[torch]'.") from err
    from .guard import check_file

    path = check_file(path, "PyTorch file")  # a ModelFileError that is also FileNotFoundError
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError for code, RuntimeError/EOFError for damage
        raise ModelFileError(f"{path} cannot be loaded as a PyTorch state dict with "
                             f"weights_only=True ({type(err).__name__}: {str(err)[:300]}).") from err
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ModelFileError(f"{path} does not hold a state dict (a mapping of names to tensors).")
    return {k: v.detach().cpu().numpy() for k, v in obj.items()}
