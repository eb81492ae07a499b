"""Keras 3's ``.keras`` container: a zip archive, read and written as a format only.

A ``.keras`` file is a zip archive with, in this order::

    metadata.json     {"keras_version": ..., "date_saved": "YYYY-mm-dd@HH:MM:SS"}
    config.json       {"module": "keras", "class_name": "Sequential", "config": {...},
                       "registered_name": null, "build_config": {"input_shape": [...]},
                       "compile_config": {...}}          # only when compiled
    model.weights.h5  the weights (and optimizer state), layout in :mod:`.h5_weights`
    unrolled.json     optional: ``extra=`` metadata (scaler statistics, column names ...);
                      Keras ignores members it does not know

This module knows the container, not the models: :func:`write_archive` stores a config
dict and the weight bytes it is given, :func:`read_archive` returns them (JSON and raw
bytes only, nothing is built). Building models from configs lives in
:mod:`unrolled.models.saving`. Whatever is wrong with a file -- truncated, not a zip, no
config, invalid JSON, a zip bomb -- raises :class:`~unrolled.errors.ModelFileError`.
"""
from __future__ import annotations

import datetime
import json
import os
import zipfile
import zlib
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, ModelFileError
from . import limits
from .atomic import atomic_write
from .guard import check_file, file_errors

CONFIG, METADATA, WEIGHTS, EXTRA = "config.json", "metadata.json", "model.weights.h5", "unrolled.json"
KERAS_VERSION = "3.15.1"           # the Keras release this writer was checked against
_MAX_EXPANSION, _EXPANSION_FLOOR = 100, 256 << 20   # zip-bomb guard, as Keras's
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

PathLike = str | os.PathLike


class KerasArchive(NamedTuple):
    """What a ``.keras`` file holds: ``config.json`` (a dict), the bytes of
    ``model.weights.h5`` and ``metadata.json`` (None if absent)."""
    config: dict[str, Any]
    weights: bytes
    metadata: dict[str, Any] | None


# -- writing ---------------------------------------------------------------------------
def write_archive(path: PathLike, config: dict[str, Any], weights: bytes,
                  extra: dict[str, Any] | None = None) -> None:
    """Write a ``.keras`` zip (members stored, not deflated, as Keras does), atomically.

    ``extra`` is any JSON-serialisable dict (NumPy arrays and scalars allowed), stored as
    ``unrolled.json`` and read back by :func:`read_extra`.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ConfigError("Invalid filepath extension for saving. Please add the `.keras` "
                          f"extension, e.g. 'model.keras'. Received: filepath={path}")
    extra_json = None if extra is None else _dump_extra(extra)
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "unrolled_version": _unrolled_version()}
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(METADATA, json.dumps(metadata))
            zf.writestr(CONFIG, json.dumps(config))
            zf.writestr(WEIGHTS, weights)
            if extra_json is not None:
                zf.writestr(EXTRA, extra_json)


def _unrolled_version() -> str:
    from .. import __version__
    return __version__


def _dump_extra(extra: dict[str, Any]) -> str:
    if not isinstance(extra, dict):
        raise ConfigError(f"extra must be a dict, got {type(extra).__name__}.")

    def plain(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    try:
        return json.dumps(extra, default=plain)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"extra must be JSON-serialisable: {err}.") from err


# -- reading ---------------------------------------------------------------------------
def read_archive(path: PathLike) -> KerasArchive:
    """``config.json``, ``model.weights.h5`` and ``metadata.json`` of a ``.keras`` file."""
    path = check_file(path)
    with file_errors(path), open_zip(path) as zf:
        config = _read_json(zf, CONFIG, path, required=True)
        weights = _read_member(zf, WEIGHTS, path, required=True)
        metadata = _read_json(zf, METADATA, path, required=False)
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: {CONFIG} should hold a JSON object, got "
                             f"{type(config).__name__}.")
    if not isinstance(metadata, dict):
        metadata = None
    return KerasArchive(config, weights, metadata)


def read_weights_member(path: PathLike) -> bytes:
    """Only the ``model.weights.h5`` bytes of a ``.keras`` file."""
    path = check_file(path, "weights file")
    with file_errors(path), open_zip(path) as zf:
        return _read_member(zf, WEIGHTS, path, required=True)


def read_extra(path: PathLike) -> dict[str, Any] | None:
    """The ``extra`` dict stored by :func:`write_archive`, or None if the file has none."""
    path = check_file(path)
    with file_errors(path), open_zip(path) as zf:
        extra = _read_json(zf, EXTRA, path, required=False)
    if extra is not None and not isinstance(extra, dict):
        raise ModelFileError(f"{path}: {EXTRA} should hold a JSON object, got {type(extra).__name__}.")
    return extra


def sniff(path: PathLike) -> str:
    """``"zip"``, ``"hdf5"``, ``"empty"`` or ``"other"`` from a file's first bytes."""
    with open(os.fspath(path), "rb") as f:   # FileNotFoundError / IsADirectoryError pass through
        head = f.read(8)
    if not head:
        return "empty"
    if head == HDF5_SIGNATURE:
        return "hdf5"
    return "zip" if head[:2] == b"PK" else "other"


# -- helpers ---------------------------------------------------------------------------
def open_zip(path: str) -> zipfile.ZipFile:
    with open(path, "rb") as f:   # FileNotFoundError / IsADirectoryError pass through
        head = f.read(8)
    if not zipfile.is_zipfile(path):
        hint = ""
        if head == HDF5_SIGNATURE:
            hint = (" It is an HDF5 file: a legacy .h5 model or .weights.h5 weights "
                    "(unrolled.load_model reads a .h5 model, load_weights() weights).")
        elif not head:
            hint = " The file is empty."
        raise ModelFileError(f"{path} is not a .keras file: it is not a zip archive "
                             f"(truncated, or another kind of file renamed?).{hint}")
    try:
        return zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ModelFileError(f"{path} is a damaged zip archive ({err}).") from err


def _read_member(zf: zipfile.ZipFile, name: str, path: str, required: bool,
                 limit: int | None = None) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        if required:
            raise ModelFileError(f"{path} is not a valid .keras file: it has no {name} "
                                 f"(members: {zf.namelist()[:10]}).") from None
        return None
    limit = limits.MAX_MEMBER_BYTES if limit is None else limit
    if info.file_size > limit:
        raise ModelFileError(f"{path}: {name} declares {info.file_size} bytes; refused (limit {limit}).")
    expansion = info.file_size / max(info.compress_size, 1)
    if info.file_size > _EXPANSION_FLOOR and expansion > _MAX_EXPANSION:
        raise ModelFileError(f"{path}: {name} expands {info.compress_size} bytes to "
                             f"{info.file_size}; refused as a possible zip bomb.")
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError) as err:
        raise ModelFileError(f"{path}: cannot read {name} ({type(err).__name__}: {err}); "
                             "the file is truncated or corrupt.") from err


def _read_json(zf: zipfile.ZipFile, name: str, path: str, required: bool) -> Any:
    raw = _read_member(zf, name, path, required, limit=limits.MAX_JSON_BYTES)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ModelFileError(f"{path}: {name} is not valid JSON ({err}).") from err


__all__ = ["KerasArchive", "write_archive", "read_archive", "read_weights_member",
           "read_extra", "sniff", "open_zip"]
