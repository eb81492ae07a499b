"""Open and write a whole model in any format unrolled knows, chosen by the extension.

=======================  ==========================================================
``.keras``, ``.h5``      Keras 3 / legacy Keras HDF5 (:func:`unrolled.load_model`)
``.onnx``                an ONNX graph (:mod:`unrolled.io.onnx_import`; written by
                         :func:`unrolled.io.export_onnx`)
``.safetensors``         weights (:mod:`unrolled.io.safetensors_file`) plus a JSON sidecar
                         ``<stem>.json`` with the architecture (Keras 3's model config).
                         A model PyTorch can run (one LSTM/GRU/RNN stack) is written
                         under ``torch.nn`` names, so ``module.load_state_dict`` reads
                         the same file; other models under ``NNN/<layer>/<weight>``
                         names in ``get_weights()`` order. Without a sidecar the file is
                         read as a PyTorch state dict (:func:`unrolled.from_torch`).
``.pt``, ``.pth``        a PyTorch state dict (``weights_only=True``)
=======================  ==========================================================
"""
from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ConfigError, ModelFileError
from ..io.atomic import atomic_write_bytes

SIDECAR_FORMAT = "unrolled.safetensors/1"
READ = (".keras", ".h5", ".hdf5", ".onnx", ".safetensors", ".pt", ".pth")
WRITE = (".keras", ".h5", ".onnx", ".safetensors")


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def sidecar_path(path: str | os.PathLike) -> str:
    """``m.safetensors`` -> ``m.json``: where the architecture of a weights file lives."""
    return os.path.splitext(os.fspath(path))[0] + ".json"


def open_model(path: str | os.PathLike, **hints: Any) -> Any:
    """The model in ``path``, whatever its format (see the module docstring). ``hints`` go
    to the reader (``from_torch``'s for PyTorch files, ``outputs=`` for ONNX)."""
    from ..io.guard import check_file

    path = check_file(path)  # missing or a directory: ModelFileError (also an OSError)
    ext = _ext(path)
    if ext == ".onnx":
        from .onnx_models import load_onnx

        return load_onnx(path, **hints)
    if ext == ".safetensors" and os.path.isfile(sidecar_path(path)):
        return _read_safetensors_model(path)
    if ext in (".safetensors", ".pt", ".pth"):
        from .torch_models import from_torch

        return from_torch(path, **hints)
    if ext in (".keras", ".h5", ".hdf5"):
        from .. import load_model

        return load_model(path)
    raise ConfigError(f"Cannot tell the format of {path!r} from its extension; expected one "
                      f"of {', '.join(READ)}.")


def write_model(model: Any, path: str | os.PathLike) -> list[str]:
    """Write ``model`` to ``path`` in the format its extension names; returns the files
    written (the ``.safetensors`` weights and their JSON sidecar are two)."""
    path = os.fspath(path)
    ext = _ext(path)
    if ext in (".keras", ".h5"):
        from .. import save_model

        save_model(model, path)
        return [path]
    if ext == ".onnx":
        from ..io.onnx_export import export_onnx

        export_onnx(model, path)
        return [path]
    if ext == ".safetensors":
        return _write_safetensors_model(model, path)
    raise ConfigError(f"Cannot write {path!r}: unrolled writes {', '.join(WRITE)}.")


def _model_config(model: Any) -> dict[str, Any]:
    from .saving import model_to_config

    config = model_to_config(model)
    config.pop("compile_config", None)      # weights files carry no training state
    return config


def _model_from_config(config: dict[str, Any], where: str) -> Any:
    from .saving import model_from_config

    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelFileError(f"{where}: 'model' is not a Keras model config.")
    return model_from_config(config, where)


def _write_safetensors_model(model: Any, path: str) -> list[str]:
    from ..io.safetensors_file import write_safetensors
    from ..io.torch_import import to_torch

    try:
        to_torch(model, path)
        naming = "torch"
    except ConfigError:
        weights = {}
        n = 0
        for layer in model.layers:
            for w in layer.weights:
                weights[f"{n:03d}/{layer.name}"] = w
                n += 1
        write_safetensors(path, weights, {"format": "unrolled"})
        naming = "unrolled"
    sidecar = {"format": SIDECAR_FORMAT, "weights": os.path.basename(path), "naming": naming,
               "model": _model_config(model)}
    atomic_write_bytes(sidecar_path(path), json.dumps(sidecar, indent=1).encode())
    return [path, sidecar_path(path)]


def _read_safetensors_model(path: str) -> Any:
    from ..io.safetensors_file import read_safetensors
    from ..io.torch_weights import from_torch_state_dict

    where = sidecar_path(path)
    try:
        with open(where, encoding="utf-8") as f:
            sidecar = json.load(f)
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{where}: not a readable JSON sidecar ({err}).") from err
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT:
        raise ModelFileError(f"{where}: expected a sidecar with format {SIDECAR_FORMAT!r}; "
                             "remove it to read the weights as a PyTorch state dict.")
    from ..io import limits

    tensors, _ = read_safetensors(path)
    # Sizes first: the sidecar may only build what the weights file stores (limits.py).
    limits.check_input_shapes(sidecar.get("model"), where)
    stored = sum(int(t.size) for t in tensors.values())
    with limits.building_within(stored, where):
        model = _model_from_config(sidecar.get("model") or {}, where)
    if sidecar.get("naming") == "torch":
        recurrent = [la for la in model.layers if type(la).__name__ != "InputLayer"]
        for k, layer in enumerate(recurrent):
            if type(layer).__name__ == "Bidirectional":
                from_torch_state_dict(layer.forward_layer, tensors, index=k, bidirectional=True)
                from_torch_state_dict(layer.backward_layer, tensors, index=k, suffix="_reverse",
                                      bidirectional=True)
            else:
                from_torch_state_dict(layer, tensors, index=k)
        return model
    keys = sorted(tensors)
    if len(keys) != len(model.weights):
        raise ModelFileError(f"{path}: holds {len(keys)} arrays, the architecture in {where} "
                             f"needs {len(model.weights)}.")
    model.set_weights([tensors[k] for k in keys])
    return model
