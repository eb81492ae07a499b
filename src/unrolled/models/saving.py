"""Saving and loading whole models: ``.keras`` (Keras 3, unrolled's native format),
legacy ``.h5`` models (Keras 2.x, tf.keras 2.x, Keras 3's legacy saver) and
``.weights.h5`` weights.

The formats live in :mod:`unrolled.io` (containers, HDF5 trees, legacy configs) and
never name a model class; this module turns configs into models
(:func:`model_from_config`) and models into configs, and moves the weights.

Loading never executes code: JSON and numeric HDF5 datasets only; every class is looked
up in unrolled's own registry; the whole config is checked before anything is built and
one :class:`~unrolled.errors.ModelFileError` lists every blocker
(:mod:`.loading_check`); every weight shape is checked before a single weight is assigned.
"""
from __future__ import annotations

import importlib
import os
import warnings
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..io import h5_weights, keras_file, legacy_config, legacy_h5, limits
from ..io.atomic import atomic_write_bytes
from ..io.guard import check_file, file_errors
from ..io.keras_file import KERAS_VERSION
from .loading_check import find_blockers, refusal

PathLike = str | os.PathLike
_LEGACY_SUFFIXES = (".h5", ".hdf5")
_FOREIGN_SUFFIXES = (".onnx", ".safetensors", ".pt", ".pth")   # read by models/files.py


# -- model kinds -------------------------------------------------------------------------
def _functional_class() -> Any:
    """The graph model class, once unrolled has one (None before)."""
    try:
        module = importlib.import_module("unrolled.models.functional")
    except ImportError:
        return None
    return getattr(module, "Functional", None)


def _model_kinds() -> dict[str, Callable[[dict[str, Any]], Any] | None]:
    from .sequential import Sequential

    functional = _functional_class()
    build = functional.from_config if functional is not None else None
    return {"Sequential": Sequential.from_config, "Functional": build, "Model": build}


def _class_name(model: Any) -> str:
    from .sequential import Sequential

    return "Sequential" if isinstance(model, Sequential) else "Functional"


def model_from_config(config: dict[str, Any], where: str = "the config") -> Any:
    """Build an (unweighted) model from Keras 3's ``{"class_name", "config", ...}``.

    The whole config is checked first; a config unrolled cannot build raises one
    :class:`ModelFileError` listing every blocker.
    """
    from ..layers.keras_ops import OPS
    from ..layers.serialization import layer_classes

    classes, kinds = {**layer_classes(), **OPS}, _model_kinds()
    blockers = find_blockers(config, classes, kinds)
    if blockers:
        raise refusal(where, blockers, sorted(n for n in layer_classes() if n != "InputLayer"))
    try:
        model = kinds[config["class_name"]](config["config"])
        if not model.built:
            shape = (config.get("build_config") or {}).get("input_shape")
            if shape is None:
                raise ModelFileError(f"{where}: the model has no input shape, so it was never "
                                     "built and has no weights.")
            model.build(tuple(shape))
    except ModelFileError:
        raise
    except Exception as err:  # the config comes from a file: any failure is the file's
        raise ModelFileError(f"{where}: the model config cannot be rebuilt "
                             f"({type(err).__name__}: {err}).") from err
    return model


def model_to_config(model: Any) -> dict[str, Any]:
    """Keras 3's ``config.json`` for ``model`` (compile config included when compiled)."""
    kind = _class_name(model)
    if kind == "Sequential":
        config = {"module": "keras", "class_name": "Sequential", "config": model.get_config(),
                  "registered_name": None,
                  "build_config": {"input_shape": list(model.input_batch_shape)}}
    else:
        config = {"module": "keras.src.models.functional", "class_name": "Functional",
                  "config": model.get_config(), "registered_name": "Functional",
                  "build_config": {"input_shape": None}}
    compile_config = _compile_config(model)
    if compile_config:
        config["compile_config"] = compile_config
    return config


def _compile_config(model: Any) -> dict[str, Any] | None:
    getter = getattr(model, "get_compile_config", None)
    return (getter() or None) if callable(getter) else None


def _require_built(model: Any, verb: str) -> None:
    if not getattr(model, "built", False) and getattr(model, "input_batch_shape", None) is not None:
        model.build()
    if not getattr(model, "built", False):
        raise ConfigError(f"Cannot {verb} model {getattr(model, 'name', '?')!r}: it is not built. "
                          "Give it an Input(shape=...) or call model.build(input_shape) first.")


def _refuse_keras2_only(model: Any) -> None:
    """Keras 3 has no Keras-2 ``hard_sigmoid``: such a model cannot be written for it."""
    found = [f"{layer.name}.{key}" for layer in _leaf_layers(model)
             for key, value in layer.get_config().items()
             if key in ("activation", "recurrent_activation") and value == "legacy_hard_sigmoid"]
    if found:
        raise ConfigError(
            f"Cannot save {', '.join(found)} for Keras 3: 'legacy_hard_sigmoid' is Keras 2's "
            "hard_sigmoid (clip(0.2·x + 0.5, 0, 1)), which Keras 3 does not have (its "
            "hard_sigmoid is relu6(x + 3) / 6). Keras 3 would compute something else. Retrain "
            "with 'hard_sigmoid' or 'sigmoid', or keep using the model in unrolled.")


def _leaf_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        out += _leaf_layers(layer) if isinstance(getattr(layer, "layers", None), list) else [layer]
    return out


# -- saving ------------------------------------------------------------------------------
def save_model(model: Any, path: PathLike, include_optimizer: bool = True,
               extra: dict[str, Any] | None = None) -> None:
    """Write ``model`` as Keras 3 does, atomically: ``*.keras`` (zip) or ``*.h5`` (the
    legacy HDF5 model Keras 3's ``load_model`` reads).

    ``include_optimizer=False`` leaves out the optimizer's variables (the compile config
    stays). ``extra`` (``.keras`` only) is any JSON-serialisable dict stored beside the
    model and read back by :func:`read_extra`.
    """
    path = os.fspath(path)
    if path.endswith(_LEGACY_SUFFIXES):
        if extra is not None:
            raise ConfigError("extra= is stored in .keras files only.")
        return _save_legacy(model, path, include_optimizer)
    if not path.endswith(".keras"):
        raise ConfigError("Invalid filepath extension for saving. Please add the `.keras` "
                          f"extension, e.g. 'model.keras' (or '.h5' for the legacy format). "
                          f"Received: filepath={path}")
    _require_built(model, "save")
    _refuse_keras2_only(model)
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    keras_file.write_archive(path, model_to_config(model),
                             h5_weights.to_bytes(model, optimizer), extra)


def save_weights(model: Any, path: PathLike) -> None:
    """Write the weights (and optimizer state, if any) to ``*.weights.h5``, as Keras 3's
    ``model.save_weights`` does; atomic."""
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ConfigError("The filename must end in `.weights.h5`. "
                          f"Received: filepath={path}")
    _require_built(model, "save the weights of")
    atomic_write_bytes(path, h5_weights.to_bytes(model, getattr(model, "optimizer", None)))


def _save_legacy(model: Any, path: str, include_optimizer: bool) -> None:
    _require_built(model, "save")
    _refuse_keras2_only(model)
    config = model_to_config(model)
    model_config = {"class_name": config["class_name"], "config": config["config"]}
    compile_config = config.get("compile_config")
    training = None
    if compile_config:
        training = {k: compile_config.get(k) for k in (
            "loss", "loss_weights", "metrics", "weighted_metrics")}
        training.update(run_eagerly=False, steps_per_execution=1, jit_compile=False)
        optimizer_config = dict(compile_config.get("optimizer") or {})
        training["optimizer_config"] = {"class_name": optimizer_config.get("class_name"),
                                        "config": optimizer_config.get("config")}
    layers = []
    for layer in model.layers:
        names = _legacy_weight_names(layer)
        layers.append(legacy_h5.LayerWeights(
            layer.name, list(zip(names, h5_weights.legacy_order(layer)))))
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    opt_weights = None
    if optimizer is not None and getattr(optimizer, "built", False):
        opt_weights = [(f"{optimizer.name}/{k}", np.asarray(v))
                       for k, v in enumerate(optimizer.variables)]
        opt_weights[0] = (f"{optimizer.name}/iteration", opt_weights[0][1])
        opt_weights[1] = (f"{optimizer.name}/learning_rate", opt_weights[1][1])
    legacy_h5.write(path, model_config, training, layers, opt_weights, KERAS_VERSION)


def _legacy_weight_names(layer: Any) -> list[str]:
    """``lstm/lstm_cell/kernel`` ... as Keras 3's legacy saver names a layer's weights, in
    the legacy order (for a nested model, prefixed by its name)."""
    from ..layers.recurrent import Recurrent

    names: dict[int, str] = {}
    for leaf in _leaf_layers(layer) if isinstance(getattr(layer, "layers", None), list) else [layer]:
        prefix = leaf.name
        if isinstance(leaf, Recurrent):
            prefix += f"/{h5_weights.keras_snake_case(type(leaf).__name__)}_cell"
        for w, n in zip(leaf.weights, getattr(leaf, "weight_names", [])):
            names[id(w)] = f"{prefix}/{n}"
    outer = f"{layer.name}/" if isinstance(getattr(layer, "layers", None), list) else ""
    return [outer + names.get(id(w), f"{layer.name}/weight_{k}")
            for k, w in enumerate(h5_weights.legacy_order(layer))]


# -- loading -----------------------------------------------------------------------------
def load_model(path: PathLike, compile: bool = True) -> Any:
    """Read a model written by Keras 3 or unrolled (``.keras``), or a legacy HDF5 model
    (``.h5``: Keras 2.x, tf.keras 2.x, Keras 3's legacy saver); also an ONNX graph
    (``.onnx``) or PyTorch weights (``.safetensors``, ``.pt``) through
    :func:`unrolled.models.files.open_model`.

    With ``compile=True`` the compile config and optimizer state are restored when
    present; if that fails (an unknown loss, say) the model is returned uncompiled with a
    warning, as Keras does. Whatever is wrong with the file raises ModelFileError.
    """
    path = check_file(path)
    with file_errors(path):
        if os.path.splitext(path)[1].lower() in _FOREIGN_SUFFIXES:   # the format hook
            from .files import open_model

            return open_model(path)
        if keras_file.sniff(path) == "hdf5":
            return _load_legacy(path, compile)
        return _load_keras(path, compile)


def _load_keras(path: str, compile: bool) -> Any:
    archive = keras_file.read_archive(path)
    limits.check_input_shapes(archive.config, f"{path}: {keras_file.CONFIG}")
    what = f"{path}: {keras_file.WEIGHTS}"
    with h5_weights.open_h5(archive.weights, what) as h5:
        # Sizes first: the config may only build what the weights file stores.
        stored = limits.stored_values(h5, what, under="layers" if "layers" in h5 else None)
        with limits.building_within(stored, path):
            model = model_from_config(archive.config, path)
        values = h5_weights.guarded(lambda: h5_weights.read_weights(h5, model, what), what)
        limits.check_optimizer_values(h5, limits.model_values(model), what)
        opt_values = h5_weights.guarded(lambda: h5_weights.read_optimizer(h5, what), what)
    model.set_weights(values)
    compile_config = archive.config.get("compile_config")
    if compile and isinstance(compile_config, dict) and compile_config:
        _restore_compile(model, compile_config, opt_values, what)
    return model


def _load_legacy(path: str, compile: bool) -> Any:
    with h5_weights.open_h5(path, path) as h5:
        def read() -> tuple[Any, Any, Any, Any]:
            if not legacy_h5.is_full_model(h5):
                raise ModelFileError(
                    f"{path} holds weights only, not a model (no 'model_config'). Build the "
                    "model in code and call model.load_weights(path).")
            stored = legacy_h5.read(h5, path)
            config = legacy_config.upgrade_model_config(stored.model_config, stored.keras_version)
            limits.check_input_shapes(config, f"{path}: model_config")
            budget = limits.stored_values(h5, path, under="model_weights")
            with limits.building_within(budget, path):
                model = model_from_config(config, path)
            values = h5_weights.read_legacy_weights(stored.weights, model, path)
            names = h5_weights.legacy_weight_names(stored.weights, model, path)
            return stored, model, values, names

        stored, model, values, names = h5_weights.guarded(read, path)
    model.set_weights(values)
    compile_config = legacy_config.compile_config_from_training_config(stored.training_config)
    if compile and compile_config:
        keras3 = legacy_config.major_version(stored.keras_version) >= 3
        opt_values = None
        if stored.optimizer_weights is not None and keras3:
            opt_values = [value for _, value in stored.optimizer_weights]
        _restore_compile(model, compile_config, opt_values, path)
        if stored.optimizer_weights and not keras3 and getattr(model, "compiled", False):
            by_id = dict(zip(map(id, model.weights), names))
            _restore_keras2_optimizer(model, stored, [by_id[id(w)] for w in model.trainable_weights],
                                      path)
    return model


def _restore_keras2_optimizer(model: Any, stored: Any, variable_names: list[str],
                              path: str) -> None:
    """Map a Keras 2 optimizer's slots (``Adam/<variable>/m:0`` ...) onto Keras 3's layout
    by name; warn and keep a fresh optimizer when they do not all match."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_weights)
    own = optimizer.variables
    values = legacy_config.keras2_optimizer_state(stored.optimizer_weights, variable_names,
                                                  optimizer.variable_names)
    if values is not None:
        values = [np.asarray(mine) if theirs is None else np.asarray(theirs, dtype=np.asarray(mine).dtype)
                  for mine, theirs in zip(own, values)]
        if all(np.shape(a) == np.shape(b) for a, b in zip(own, values)):
            optimizer.set_variables(values)
            return
    warnings.warn(f"{path}: the optimizer state saved by Keras {stored.keras_version} "
                  f"({len(stored.optimizer_weights)} arrays) does not match "
                  f"{type(optimizer).__name__}'s variables by name, so it is not restored; "
                  "training continues with a fresh optimizer, as in Keras 3.", stacklevel=3)


def load_weights(model: Any, path: PathLike) -> None:
    """Load weights into a built ``model`` from ``*.weights.h5`` (Keras 3), ``*.keras``
    or a legacy ``*.h5``; all shapes are checked before any weight changes.

    Optimizer state stored in the file is loaded into ``model.optimizer`` when the model
    has one (Keras 3 files only; a count mismatch warns and skips, as in Keras).
    """
    _require_built(model, "load weights into")
    path = check_file(path, "weights file")
    with file_errors(path):
        _load_weights(model, path)


def _load_weights(model: Any, path: str) -> None:
    what, data = path, path
    if keras_file.sniff(path) == "zip":
        data = keras_file.read_weights_member(path)
        what = f"{path}: {keras_file.WEIGHTS}"
    with h5_weights.open_h5(data, what) as h5:
        if h5_weights.is_legacy(h5):
            values = h5_weights.guarded(lambda: h5_weights.read_legacy_weights(h5, model, what), what)
            opt_values = None
        else:
            values = h5_weights.guarded(lambda: h5_weights.read_weights(h5, model, what), what)
            limits.check_optimizer_values(h5, limits.model_values(model), what)
            opt_values = h5_weights.guarded(lambda: h5_weights.read_optimizer(h5, what), what)
    opt_values = _checked_optimizer_values(model, opt_values, what)
    model.set_weights(values)
    if opt_values is not None:
        model.optimizer.set_variables(opt_values)


def read_extra(path: PathLike) -> dict[str, Any] | None:
    """The ``extra`` dict stored by :func:`save_model`, or None if the file has none."""
    return keras_file.read_extra(path)


def _restore_compile(model: Any, compile_config: dict[str, Any],
                     opt_values: list[np.ndarray] | None, what: str) -> None:
    try:
        if not hasattr(model, "compile_from_config"):
            raise ConfigError(f"this {type(model).__name__} has no compile_from_config()")
        model.compile_from_config(compile_config)
    except Exception as err:  # Keras too loads the model and warns
        warnings.warn(f"{what}: the model was loaded uncompiled because its compile config "
                      f"could not be restored ({type(err).__name__}: {err}). Call "
                      "model.compile(...) yourself.", stacklevel=3)
        return
    opt_values = _checked_optimizer_values(model, opt_values, what)
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


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "read_extra",
           "model_from_config", "model_to_config"]
