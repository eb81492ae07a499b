"""PyTorch ``torch.nn.LSTM`` weights <-> an unrolled (Keras) ``LSTM`` layer.

For layer ``k`` of a ``torch.nn.LSTM`` (F inputs, H units), with gate blocks i, f, g, o
(g is Keras's c; :mod:`unrolled.core.gates` holds the tables)::

    weight_ih_l{k}  (4H, F)  = kernel.T             kernel            (F, 4H)
    weight_hh_l{k}  (4H, H)  = recurrent_kernel.T   recurrent_kernel  (H, 4H)
    bias_ih_l{k}    (4H,)    = bias                 bias = bias_ih + bias_hh   (4H,)
    bias_hh_l{k}    (4H,)    = 0

Importing sums the two torch biases (they are only ever added); exporting puts Keras's
bias in ``bias_ih`` and zeros in ``bias_hh``. ``torch.nn.LSTM`` always uses sigmoid gates
and tanh, so layers with other activations are refused. It has no ``go_backwards``: feed
it ``x.flip(1)`` to compare. Bidirectional (``*_reverse``) and ``proj_size``
(``weight_hr``) weights are refused.

Files: :func:`load_torch_file` reads a ``torch.save``\\ d state dict with
``torch.load(weights_only=True)``, which refuses pickled code (torch is imported lazily).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from ..core.gates import LSTM_ORDER, reorder
from ..errors import ConfigError, ModelFileError


def _check_torch_compatible(layer: Any) -> None:
    if type(layer).__name__ != "LSTM":
        raise ConfigError(f"Expected an unrolled LSTM layer, got {type(layer).__name__}.")
    if not layer.built:
        raise ConfigError(f"LSTM {layer.name!r} is not built: build it (or its model) first.")
    acts = (layer.recurrent_activation.name, layer.activation.name)
    if acts != ("sigmoid", "tanh"):
        raise ConfigError(
            f"LSTM {layer.name!r} uses recurrent_activation={acts[0]!r}, activation={acts[1]!r}; "
            "torch.nn.LSTM computes only sigmoid gates and tanh, so its weights would not "
            "compute the same function.")


def _to_keras(packed: np.ndarray) -> np.ndarray:
    return reorder(packed, LSTM_ORDER["torch"], LSTM_ORDER["keras"], axis=-1)


def _to_torch(packed: np.ndarray) -> np.ndarray:
    return reorder(packed, LSTM_ORDER["keras"], LSTM_ORDER["torch"], axis=-1)


def to_torch_state_dict(layer: Any, index: int = 0) -> dict[str, np.ndarray]:
    """The layer's weights under ``torch.nn.LSTM`` names for layer ``index`` (``_l{index}``).

    Without bias (``use_bias=False``) only the two weight matrices are returned, matching
    ``torch.nn.LSTM(bias=False)``. Values are NumPy arrays: ``torch.from_numpy`` them, or
    pass the dict through ``{k: torch.tensor(v) for k, v in sd.items()}``.
    """
    _check_torch_compatible(layer)
    out = {f"weight_ih_l{index}": np.ascontiguousarray(_to_torch(layer.kernel).T),         # (4H, F)
           f"weight_hh_l{index}": np.ascontiguousarray(_to_torch(layer.recurrent_kernel).T)}  # (4H, H)
    if layer.use_bias:
        out[f"bias_ih_l{index}"] = _to_torch(layer.bias).copy()                            # (4H,)
        out[f"bias_hh_l{index}"] = np.zeros_like(layer.bias)                               # (4H,)
    return out


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def from_torch_state_dict(layer: Any, state_dict: Mapping[str, Any], index: int = 0) -> None:
    """Set ``layer``'s weights from a ``torch.nn.LSTM`` state dict (layer ``index``).

    ``state_dict`` maps names to tensors or arrays, e.g. ``torch_lstm.state_dict()``.
    Shapes are checked against the layer before anything is assigned.
    """
    _check_torch_compatible(layer)
    suffix = f"_l{index}"
    if any(k.endswith(suffix + "_reverse") for k in state_dict):
        raise ConfigError("Bidirectional torch LSTM weights ('*_reverse') are not supported.")
    if f"weight_hr{suffix}" in state_dict:
        raise ConfigError("torch.nn.LSTM with proj_size > 0 ('weight_hr_*') has no Keras equivalent.")
    missing = [k for k in (f"weight_ih{suffix}", f"weight_hh{suffix}") if k not in state_dict]
    if missing:
        raise ConfigError(f"The state dict has no {missing}; it holds {sorted(state_dict)[:8]}.")
    F, H = layer.kernel.shape[0], layer.units
    w_ih = _as_numpy(state_dict[f"weight_ih{suffix}"])
    w_hh = _as_numpy(state_dict[f"weight_hh{suffix}"])
    for name, arr, shape in ((f"weight_ih{suffix}", w_ih, (4 * H, F)),
                             (f"weight_hh{suffix}", w_hh, (4 * H, H))):
        if arr.shape != shape:
            raise ConfigError(f"{name} has shape {arr.shape}; LSTM {layer.name!r} "
                              f"(features={F}, units={H}) needs {shape}.")
    bias = np.zeros(4 * H, layer.dtype)
    for name in (f"bias_ih{suffix}", f"bias_hh{suffix}"):
        if name in state_dict:
            b = _as_numpy(state_dict[name])
            if b.shape != (4 * H,):
                raise ConfigError(f"{name} has shape {b.shape}, expected {(4 * H,)}.")
            bias += b
    if not layer.use_bias and np.any(bias):
        raise ConfigError(f"LSTM {layer.name!r} has use_bias=False but the torch biases are not "
                          "zero; build the layer with use_bias=True.")
    weights = [_to_keras(w_ih.T), _to_keras(w_hh.T)] + ([_to_keras(bias)] if layer.use_bias else [])
    layer.set_weights(weights)


def load_torch_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A ``torch.save``\\ d state dict as NumPy arrays, loaded with ``weights_only=True``.

    Pickled code (a saved module, arbitrary objects) is refused, never run. Needs
    ``torch`` (``pip install unrolled[torch]``).
    """
    try:
        import torch
    except ImportError as err:
        raise ImportError("Reading PyTorch files needs torch: pip install 'unrolled[torch]'.") from err
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
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
