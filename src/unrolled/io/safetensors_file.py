"""``.safetensors`` files as NumPy arrays — through the ``safetensors`` package's NumPy API
only, so reading and writing never imports torch (``pip install 'unrolled[safetensors]'``).

A ``.safetensors`` file is a JSON header (names, dtypes, shapes, offsets, and an optional
``__metadata__`` dict of strings) followed by raw little-endian tensor bytes: it cannot
hold code. unrolled writes the architecture it needs into that metadata (see
:mod:`unrolled.io.torch_import`) and, for whole models, a JSON sidecar beside the file.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Mapping

import numpy as np

from ..errors import ModelFileError
from .atomic import atomic_write_bytes


def _safetensors_numpy():
    try:
        import safetensors.numpy as st_numpy
    except ImportError as err:
        raise ImportError("Reading and writing .safetensors files needs the safetensors package: "
                          "pip install 'unrolled[safetensors]'.") from err
    return st_numpy


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of a ``.safetensors`` file: names -> NumPy arrays, and the
    header's ``__metadata__`` (empty if none). Damage raises ModelFileError."""
    from .guard import check_file

    path = check_file(path, ".safetensors file")  # a ModelFileError that is also FileNotFoundError
    st_numpy = _safetensors_numpy()
    with open(path, "rb") as f:
        data = f.read()
    try:
        tensors = st_numpy.load(data)
        (n,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8:8 + n]).get("__metadata__") or {}
    except Exception as err:  # SafetensorError, struct.error, JSON errors: a damaged file
        raise ModelFileError(f"{path} is not a readable .safetensors file "
                             f"({type(err).__name__}: {str(err)[:300]}).") from err
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: the header's __metadata__ is not a dict of strings.")
    return dict(tensors), {str(k): str(v) for k, v in metadata.items()}


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write ``tensors`` (names -> arrays) to ``path`` atomically, with string ``metadata``."""
    st_numpy = _safetensors_numpy()
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta = None if metadata is None else {str(k): str(v) for k, v in metadata.items()}
    atomic_write_bytes(path, st_numpy.save(arrays, metadata=meta))
