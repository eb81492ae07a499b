"""Keras 3's ``.keras`` format (unrolled's native format) and ``.weights.h5`` files.

A ``.keras`` file is a zip archive with, in this order::

    metadata.json     {"keras_version": ..., "date_saved": "YYYY-mm-dd@HH:MM:SS"}
    config.json       {"module": "keras", "class_name": "Sequential", "config": {...},
                       "registered_name": null, "build_config": {"input_shape": [...]},
                       "compile_config": {...}}          # only when compiled
    model.weights.h5  the weights (and optimizer state), layout in :mod:`.h5_weights`
    unrolled.json     optional: ``extra=`` metadata (scaler statistics, column names ...);
                      Keras ignores members it does not know

Loading never executes code: JSON and numeric HDF5 datasets only, every layer class is
looked up in unrolled's own registry (Lambda and custom objects are refused by name),
and every shape is checked before a single weight is assigned. Whatever is wrong with a
file — truncated, not a zip, no config, wrong shapes, a missing dataset, an unsupported
layer — raises :class:`~unrolled.errors.ModelFileError` saying what.
"""
from __future__ import annotations

import datetime
import json
import os
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFileError
from . import h5_weights, limits
from .atomic import atomic_write, atomic_write_bytes
from .guard import check_file, file_errors

CONFIG, METADATA, WEIGHTS, EXTRA = "config.json", "metadata.json", "model.weights.h5", "unrolled.json"
KERAS_VERSION = "3.15.1"           # the Keras release this writer was checked against
_MAX_EXPANSION, _EXPANSION_FLOOR = 100, 256 << 20   # zip-bomb guard, as Keras's
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

PathLike = str | os.PathLike


# -- saving ----------------------------------------------------------------------------
def save_model(model: Any, path: PathLike, include_optimizer: bool = True,
               extra: dict[str, Any] | None = None) -> None:
    """Write ``model`` to ``path`` (``*.keras``) as Keras 3 does, atomically.

    ``include_optimizer=False`` leaves out the optimizer's variables (the compile config
    stays). ``extra`` is any JSON-serialisable dict (NumPy arrays and scalars allowed),
    stored as ``unrolled.json`` and read back by :func:`read_extra`.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ConfigError("Invalid filepath extension for saving. Please add the `.keras` "
                          f"extension, e.g. 'model.keras'. Received: filepath={path}")
    _require_built(model, "save")
    extra_json = None if extra is None else _dump_extra(extra)
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    config = {"module": "keras", "class_name": "Sequential", "config": model.get_config(),
              "registered_name": None,
              "build_config": {"input_shape": list(model.input_batch_shape)}}
    compile_config = _compile_config(model)
    if compile_config:
        config["compile_config"] = compile_config
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "unrolled_version": _unrolled_version()}
    weights = h5_weights.to_bytes(model, optimizer)
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w") as zf:   # stored, not deflated: what Keras writes
            zf.writestr(METADATA, json.dumps(metadata))
            zf.writestr(CONFIG, json.dumps(config))
            zf.writestr(WEIGHTS, weights)
            if extra_json is not None:
                zf.writestr(EXTRA, extra_json)


def save_weights(model: Any, path: PathLike) -> None:
    """Write the weights (and optimizer state, if any) to ``*.weights.h5``, as Keras 3's
    ``model.save_weights`` does; atomic."""
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ConfigError("The filename must end in `.weights.h5`. "
                          f"Received: filepath={path}")
    _require_built(model, "save the weights of")
    atomic_write_bytes(path, h5_weights.to_bytes(model, getattr(model, "optimizer", None)))


def _require_built(model: Any, verb: str) -> None:
    if not getattr(model, "built", False) and getattr(model, "input_batch_shape", None) is not None:
        model.build()
    if not getattr(model, "built", False):
        raise ConfigError(f"Cannot {verb} model {getattr(model, 'name', '?')!r}: it is not built. "
                          "Give it an Input(shape=...) or call model.build(input_shape) first.")


def _compile_config(model: Any) -> dict[str, Any] | None:
    if hasattr(model, "get_compile_config"):
        return model.get_compile_config() or None
    return None


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


# -- loading ---------------------------------------------------------------------------
def load_model(path: PathLike, compile: bool = True) -> Any:
    """Read a ``.keras`` file written by Keras 3 or unrolled into a :class:`Sequential`.

    With ``compile=True`` the compile config and optimizer state are restored when
    present; if that fails (an unknown loss, say) the model is returned uncompiled with
    a warning, as Keras does. ``unrolled.json`` is ignored (see :func:`read_extra`).
    """
    path = check_file(path)
    with file_errors(path):
        return _load_model(path, compile)


def _load_model(path: str, compile: bool) -> Any:
    with _open_zip(path) as zf:
        config = _read_json(zf, CONFIG, path, required=True)
        weights = _read_member(zf, WEIGHTS, path, required=True)
    limits.check_input_shapes(config, f"{path}: {CONFIG}")
    what = f"{path}: {WEIGHTS}"
    with h5_weights.open_h5(weights, what) as h5:
        # Sizes first: the config may only build what the weights file stores.
        stored = limits.stored_values(h5, what, under="layers" if "layers" in h5 else None)
        with limits.building_within(stored, path):
            model = _model_from_config(config, path)
        values = _guard(lambda: h5_weights.read_weights(h5, model, what), what)
        limits.check_optimizer_values(h5, limits.model_values(model), what)
        opt_values = _guard(lambda: h5_weights.read_optimizer(h5, what), what)
    model.set_weights(values)
    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    if compile and compile_config:
        _restore_compile(model, compile_config, opt_values, path)
    return model


def load_weights(model: Any, path: PathLike) -> None:
    """Load weights into a built ``model`` from ``*.weights.h5`` (Keras 3), ``*.keras``
    or a legacy Keras 2 ``*.h5``; all shapes are checked before any weight changes.

    Optimizer state stored in the file is loaded into ``model.optimizer`` when the model
    has one (Keras 3 files only; a count mismatch warns and skips, as in Keras).
    """
    _require_built(model, "load weights into")
    path = check_file(path, "weights file")
    with file_errors(path):
        _load_weights(model, path)


def _load_weights(model: Any, path: str) -> None:
    what = path
    if _sniff(path) == b"PK":
        with _open_zip(path) as zf:
            data: Any = _read_member(zf, WEIGHTS, path, required=True)
        what = f"{path}: {WEIGHTS}"
    else:
        data = path
    with h5_weights.open_h5(data, what) as h5:
        if h5_weights.is_legacy(h5):
            values = _guard(lambda: h5_weights.read_legacy_weights(h5, model, what), what)
            opt_values = None
        else:
            values = _guard(lambda: h5_weights.read_weights(h5, model, what), what)
            limits.check_optimizer_values(h5, limits.model_values(model), what)
            opt_values = _guard(lambda: h5_weights.read_optimizer(h5, what), what)
    opt_values = _checked_optimizer_values(model, opt_values, what)
    model.set_weights(values)
    if opt_values is not None:
        model.optimizer.set_variables(opt_values)


def read_extra(path: PathLike) -> dict[str, Any] | None:
    """The ``extra`` dict stored by :func:`save_model`, or None if the file has none."""
    path = check_file(path)
    with file_errors(path), _open_zip(path) as zf:
        extra = _read_json(zf, EXTRA, path, required=False)
    if extra is not None and not isinstance(extra, dict):
        raise ModelFileError(f"{path}: {EXTRA} should hold a JSON object, got {type(extra).__name__}.")
    return extra


# -- helpers ---------------------------------------------------------------------------
def _guard(fn: Any, what: str) -> Any:
    """Run a reader; HDF5 library errors become ModelFileError."""
    try:
        return fn()
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
        raise ModelFileError(f"{what}: unreadable HDF5 content ({type(err).__name__}: {err}).") from err


def _sniff(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(8)[:2]


def _open_zip(path: str) -> zipfile.ZipFile:
    with open(path, "rb") as f:   # FileNotFoundError / IsADirectoryError pass through
        head = f.read(8)
    if not zipfile.is_zipfile(path):
        hint = ""
        if head == _HDF5_SIGNATURE:
            hint = " It is an HDF5 file: for .weights.h5 / legacy .h5 weights use load_weights()."
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


def _foreign(obj: Any, where: str, found: list[str]) -> None:
    """Collect serialized objects that are not Keras built-ins (custom classes, functions)."""
    if isinstance(obj, dict):
        module, registered = obj.get("module"), obj.get("registered_name")
        if "class_name" in obj and (
                (isinstance(module, str) and not (module == "keras" or module.startswith("keras.")))
                or (registered is not None and registered != obj.get("class_name"))):
            found.append(f"{obj.get('class_name')!r} (module {module!r}, registered as "
                         f"{registered!r}) in {where}")
        for value in obj.values():
            _foreign(value, where, found)
    elif isinstance(obj, list):
        for value in obj:
            _foreign(value, where, found)


def _model_from_config(config: Any, path: str) -> Any:
    from ..layers.serialization import _registry
    from ..models.sequential import Sequential

    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ModelFileError(f"{path}: {CONFIG} does not hold a serialized model.")
    kind = config.get("class_name")
    if kind != "Sequential" or config.get("registered_name") not in (None, "Sequential"):
        raise ModelFileError(f"{path} holds a {kind!r} model (registered as "
                             f"{config.get('registered_name')!r}); unrolled loads Sequential "
                             "models only.")
    layers = config["config"].get("layers")
    if not isinstance(layers, list):
        raise ModelFileError(f"{path}: the Sequential config has no 'layers' list.")
    known, problems = _registry(), []
    for k, item in enumerate(layers):
        if not isinstance(item, dict):
            raise ModelFileError(f"{path}: layer {k} of the config is not a JSON object.")
        name = (item.get("config") or {}).get("name") if isinstance(item.get("config"), dict) else None
        where = f"layer {k} ({name!r})"
        if not isinstance(item.get("class_name"), str) or item["class_name"] not in known:
            problems.append(f"{item.get('class_name')!r} layer {name!r}")
        _foreign(item, where, problems)
    if problems:
        raise ModelFileError(
            f"{path} contains objects unrolled cannot load: {'; '.join(dict.fromkeys(problems))}. "
            f"unrolled supports the layers {', '.join(sorted(known))}; Lambda layers and custom "
            "objects are refused because loading never executes code from a file.")
    try:
        model = Sequential.from_config(config["config"])
        if not model.built:
            build = (config.get("build_config") or {}).get("input_shape")
            if build is None:
                raise ModelFileError(f"{path}: the model has no input shape, so it was never "
                                     "built and has no weights.")
            model.build(tuple(build))
    except ModelFileError:
        raise
    except Exception as err:  # config values come from the file: any failure is the file's
        raise ModelFileError(f"{path}: the model config cannot be rebuilt "
                             f"({type(err).__name__}: {err}).") from err
    return model


def _restore_compile(model: Any, compile_config: dict[str, Any],
                     opt_values: list[np.ndarray] | None, path: str) -> None:
    try:
        if not hasattr(model, "compile_from_config"):
            raise ConfigError("this Sequential has no compile_from_config()")
        model.compile_from_config(compile_config)
    except Exception as err:  # Keras too loads the model and warns
        warnings.warn(f"{path}: the model was loaded uncompiled because its compile config "
                      f"could not be restored ({type(err).__name__}: {err}). Call "
                      "model.compile(...) yourself.", stacklevel=3)
        return
    opt_values = _checked_optimizer_values(model, opt_values, f"{path}: {WEIGHTS}")
    if opt_values is not None:
        model.optimizer.set_variables(opt_values)


def _checked_optimizer_values(model: Any, values: list[np.ndarray] | None,
                              what: str) -> list[np.ndarray] | None:
    """``values`` if they fit ``model.optimizer`` (built here if needed), else None.

    An optimizer saved before its first step holds only ``iteration`` and
    ``learning_rate``, which fit an unbuilt optimizer as they are. Otherwise, as in Keras,
    a different number of variables warns and skips; the same number with other shapes is
    a broken file.
    """
    optimizer = getattr(model, "optimizer", None)
    if values is None or optimizer is None:
        return None
    own = optimizer.variables
    if len(own) != len(values) and not getattr(optimizer, "built", True):
        optimizer.build(model.trainable_weights)
        own = optimizer.variables
    if len(own) != len(values):
        warnings.warn(f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
                      f"{len(own)} variables whereas the saved optimizer has {len(values)} "
                      "variables.", stacklevel=3)
        return None
    for i, (mine, theirs) in enumerate(zip(own, values)):
        if np.shape(mine) != theirs.shape:
            raise ModelFileError(f"{what}: optimizer variable {i} has shape {theirs.shape}, "
                                 f"the model's optimizer needs {np.shape(mine)}.")
    return values


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "read_extra"]
