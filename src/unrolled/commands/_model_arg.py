"""``--model FILE`` for the inspecting commands, in any format unrolled reads
(:mod:`unrolled.models.files`: ``.keras``, ``.h5``, ``.onnx``, ``.safetensors``, ``.pt``)."""
from __future__ import annotations

import argparse
import os
from typing import Any

FORMATS = ".keras, .h5, .onnx, .safetensors (+ .json sidecar) or .pt"


def add_model_argument(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--model", metavar="FILE", help=f"{what} ({FORMATS})")


def open_model_file(path: str) -> Any:
    """The model in ``path``; a missing file is a clear error, not a traceback."""
    from ..errors import ConfigError
    from ..models.files import open_model

    if not os.path.isfile(path):
        raise ConfigError(f"--model {path}: no such file.")
    return open_model(path)


def describe_source(model: Any, path: str) -> list[str]:
    """Lines saying where the model came from and, for ONNX, how its axes were read."""
    lines = [f"Read {path} ({os.path.splitext(path)[1].lstrip('.') or '?'}): "
             f"{type(model).__name__} {model.name!r}, {model.count_params():,} parameters."]
    sig = getattr(model, "onnx_signature", None)
    if sig is not None:
        lines.append(f"  ONNX input {sig['input']!r} has axes {sig['input_axes']}, output "
                     f"{sig['output']!r} {sig['output_axes']} (B batch, T time, D direction, "
                     "F features); this model takes (batch, timesteps, features) and returns "
                     "batch first.")
    spec = getattr(model, "torch_spec", None)
    if spec is not None:
        lines.append(f"  PyTorch torch.nn.{spec.module}({', '.join(f'{k}={v}' for k, v in spec.module_kwargs().items())}); "
                     "this model takes (batch, timesteps, features).")
    return lines
