"""Keras 2 / tf.keras 2 model configs, rewritten into Keras 3's schema with the saving
version's semantics. Pure dict transforms: nothing is built here.

What changes between the schemas, and what this module does about it:

==============================  ========================================================
Keras 2 (``model_config``)       Keras 3
==============================  ========================================================
``"class_name": "Model"``        ``"Functional"``
Sequential ``config`` a list     ``{"name": ..., "layers": [...]}`` (Keras 2.0-2.1)
``batch_input_shape`` on the     an ``InputLayer`` with ``batch_shape`` first (Sequential);
first layer                      dropped elsewhere (a Functional model has InputLayers)
InputLayer ``batch_input_shape`` ``batch_shape``
one-entry ``input_layers`` /     the bare ``[name, node, tensor]`` (a single input or
``output_layers`` lists          output, not a list of one)
``inbound_nodes`` as lists       ``{"args": [...], "kwargs": {...}}`` with
``[[name, node, tensor, {}]]``   ``__keras_tensor__`` entries; a recurrent layer's extra
                                 inputs become ``initial_state``
``time_major``, ``implementation``, ``input_length``, ``input_dim``: dropped
                                 (``time_major=True`` is kept, so the layer refuses it)
``"hard_sigmoid"`` (0.2·x+0.5)   ``"legacy_hard_sigmoid"`` when the file is from Keras < 3
GRU without ``reset_after``      ``reset_after=False`` (Keras < 2.1.3 had no reset_after;
                                 Keras 3 and tf.keras 2 always write it)
``VarianceScaling`` equal to a   that initializer (Glorot/He), so the layer builds
named initializer
``{"class_name": "Policy"}`` dtype  its name
==============================  ========================================================
"""
from __future__ import annotations

import copy
import re
from typing import Any

_RECURRENT = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU"}
_DROPPED = ("implementation", "input_length", "input_dim")
_ACTIVATION_KEYS = ("activation", "recurrent_activation")
_VARIANCE_SCALING = {
    (1.0, "fan_avg", "uniform"): "GlorotUniform",
    (1.0, "fan_avg", "normal"): "GlorotNormal",
    (1.0, "fan_avg", "truncated_normal"): "GlorotNormal",
    (2.0, "fan_in", "uniform"): "HeUniform",
    (2.0, "fan_in", "normal"): "HeNormal",
    (2.0, "fan_in", "truncated_normal"): "HeNormal",
}


def major_version(keras_version: str | None) -> int:
    """``"2.4.0"`` -> 2, ``"2.2.4-tf"`` -> 2, ``"3.15.1"`` -> 3; unknown or missing -> 1
    (Keras 1 wrote no version), as Keras reads it."""
    match = re.match(r"\s*(\d+)", keras_version or "")
    return int(match.group(1)) if match else 1


def upgrade_model_config(config: Any, keras_version: str | None) -> Any:
    """A copy of a legacy ``model_config`` in Keras 3's schema (see the module table).
    Anything that is not shaped like a model config is returned unchanged, for the
    caller's checks to report."""
    if not isinstance(config, dict):
        return config
    out = copy.deepcopy(config)
    _upgrade_model(out, major_version(keras_version))
    return out


def _upgrade_model(model: dict[str, Any], major: int) -> None:
    if model.get("class_name") == "Model":
        model["class_name"] = "Functional"
    if model.get("class_name") == "Sequential" and isinstance(model.get("config"), list):
        model["config"] = {"name": "sequential", "layers": model["config"]}
    config = model.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return
    layers = config["layers"]
    sequential = model.get("class_name") == "Sequential"
    if sequential and layers and isinstance(layers[0], dict):
        first = layers[0].get("config")
        if (layers[0].get("class_name") != "InputLayer" and isinstance(first, dict)
                and first.get("batch_input_shape") is not None):
            layers.insert(0, {"class_name": "InputLayer", "config": {
                "batch_shape": first["batch_input_shape"], "dtype": _dtype(first.get("dtype")),
                "name": f"{first.get('name', 'layer')}_input"}})
    if major < 3:
        for key in ("input_layers", "output_layers"):
            value = config.get(key)
            # Keras 2 always wrote a list of [name, node, tensor]; one entry meant a single
            # tensor (predict returned an array, not a list), which Keras 3 writes bare.
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
                config[key] = value[0]
    for item in layers:
        if isinstance(item, dict):
            _upgrade_layer(item, major)
            if not sequential and isinstance(item.get("inbound_nodes"), list):
                item["inbound_nodes"] = [_upgrade_node(n, item.get("class_name"))
                                         for n in item["inbound_nodes"]]


def _upgrade_layer(item: dict[str, Any], major: int) -> None:
    kind = item.get("class_name")
    if kind in ("Sequential", "Functional", "Model"):
        _upgrade_model(item, major)
        return
    config = item.get("config")
    if not isinstance(config, dict):
        return
    if "dtype" in config:
        config["dtype"] = _dtype(config["dtype"])
    if kind == "InputLayer":
        if "batch_input_shape" in config and "batch_shape" not in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        config.pop("batch_input_shape", None)
        return
    config.pop("batch_input_shape", None)
    for key in _DROPPED:
        config.pop(key, None)
    if config.get("time_major") is False:
        config.pop("time_major")
    if major < 3:
        for key in _ACTIVATION_KEYS:
            if config.get(key) == "hard_sigmoid":
                config[key] = "legacy_hard_sigmoid"
        if kind == "GRU" and "reset_after" not in config:
            config["reset_after"] = False
    for key, value in list(config.items()):
        if key.endswith("_initializer") and isinstance(value, dict):
            config[key] = _initializer(value)
        elif key in ("layer", "backward_layer") and isinstance(value, dict):
            _upgrade_layer(value, major)          # Bidirectional / TimeDistributed


def _dtype(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") in ("Policy", "DTypePolicy"):
        return (value.get("config") or {}).get("name", value)
    return value


def _initializer(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("class_name") != "VarianceScaling":
        return value
    cfg = value.get("config") or {}
    name = _VARIANCE_SCALING.get((float(cfg.get("scale", 0)), cfg.get("mode"),
                                  cfg.get("distribution")))
    return {"class_name": name, "config": {"seed": cfg.get("seed")}} if name else value


def _tensor(ref: Any) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": None, "keras_history": list(ref[:3])}}


def _upgrade_node(node: Any, layer_class: Any) -> Any:
    """``[[name, node_index, tensor_index, kwargs], ...]`` -> ``{"args", "kwargs"}``."""
    if not isinstance(node, list):
        return node
    refs = [r for r in node if isinstance(r, list) and len(r) >= 3]
    if len(refs) != len(node) or not refs:
        return node
    kwargs: dict[str, Any] = {}
    for ref in refs:
        if len(ref) > 3 and isinstance(ref[3], dict):
            kwargs.update(ref[3])
    tensors = [_tensor(r) for r in refs]
    if layer_class in _RECURRENT and len(tensors) > 1:
        # tf.keras 2 called RNN layers on [inputs, *initial_state]
        return {"args": [tensors[0]], "kwargs": {**kwargs, "initial_state": tensors[1:]}}
    for key, value in list(kwargs.items()):
        if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 3
                                                     and isinstance(v[0], str) for v in value):
            kwargs[key] = [_tensor(v) for v in value]   # e.g. {"initial_state": [[n, 0, 1], ...]}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def compile_config_from_training_config(training: dict[str, Any] | None) -> dict[str, Any] | None:
    """Keras 2's ``training_config`` as Keras 3's ``compile_config`` (optimizer config,
    loss, metrics, loss weights); ``lr`` is renamed ``learning_rate``."""
    if not isinstance(training, dict):
        return None
    optimizer = copy.deepcopy(training.get("optimizer_config"))
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        cfg = optimizer["config"]
        if "lr" in cfg and "learning_rate" not in cfg:
            cfg["learning_rate"] = cfg.pop("lr")
        for key in ("is_legacy_optimizer", "jit_compile"):   # tf.keras 2.11+ bookkeeping
            cfg.pop(key, None)
        if not cfg.get("decay"):       # Keras 2's time-based decay; 0 means none
            cfg.pop("decay", None)
    metrics = _metrics(training.get("metrics"))
    weighted = _metrics(training.get("weighted_metrics"))
    return {"optimizer": optimizer, "loss": training.get("loss"),
            "loss_weights": training.get("loss_weights"), "metrics": metrics,
            "weighted_metrics": weighted}


def _metrics(value: Any) -> Any:
    """tf.keras 2 nests metrics per output and stores built-in ones as
    ``MeanMetricWrapper`` objects; Keras 3 takes their names."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list):
        return value
    out = []
    for metric in value:
        if isinstance(metric, dict) and metric.get("class_name") == "MeanMetricWrapper":
            metric = (metric.get("config") or {}).get("name", metric)
        out.append(metric)
    return out


# Keras 2 optimizer slot names -> Keras 3's (OptimizerV2 ``add_slot`` names).
_KERAS2_SLOTS = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat", "momentum": "momentum",
                 "rms": "velocity", "mg": "average_gradient", "accumulator": "accumulator"}
_KERAS2_ITERATIONS = ("iter", "iteration", "iterations")


def keras2_optimizer_state(saved: list[tuple[str, Any]], variable_names: list[str],
                           wanted: list[str]) -> list[Any] | None:
    """A Keras 2 optimizer's ``optimizer_weights`` in Keras 3's order, or None when they
    cannot be matched by name.

    ``saved``: the file's ``(name, array)`` pairs (``Adam/iter:0``,
    ``Adam/lstm/lstm_cell/kernel/m:0`` -- tf.keras 2 -- or ``Adam/m/lstm/lstm_cell/kernel:0``
    -- tf.keras 2.11+); ``variable_names``: the file's name of each optimized variable, in
    the optimizer's order; ``wanted``: what each Keras 3 variable is (``iteration``,
    ``learning_rate``, ``momentum/3`` ...). The learning rate is not taken from the file:
    ``None`` stands in its place, for the caller to keep the compiled value.
    """
    index = {name.removesuffix(":0"): k for k, name in enumerate(variable_names)}
    found: dict[str, Any] = {}
    for name, value in saved:
        parts = name.removesuffix(":0").split("/")[1:]      # drop the optimizer's name
        if len(parts) == 1 and parts[0] in _KERAS2_ITERATIONS:
            found["iteration"] = value
            continue
        for slot, var in ((parts[-1], "/".join(parts[:-1])), (parts[0], "/".join(parts[1:]))):
            if slot in _KERAS2_SLOTS and var in index:
                found[f"{_KERAS2_SLOTS[slot]}/{index[var]}"] = value
                break
    out = []
    for key in wanted:
        if key == "learning_rate":
            out.append(None)
        elif key in found:
            out.append(found[key])
        else:
            return None
    return out
