"""ONNX export of the layers around the recurrent ones (used by :mod:`.onnx_export`).

Each entry of :data:`LAYERS` writes one layer's nodes into the graph being built and says
whether it acts on the last axis only (then it runs on time-major data as well; otherwise
the exporter hands it batch-major data). All on float32:

==========================  ==========================================================
Dense, TimeDistributed      ``MatMul`` + ``Add`` + the activation's nodes
(Dense)
Activation, ReLU,           the activation's nodes (Keras 3's ``hard_sigmoid`` is
LeakyReLU, ELU, Softmax     ``HardSigmoid(alpha=1/6)``; ReLU with ``max_value``: ``Clip``)
Dropout                     nothing (the identity at inference)
Flatten, Reshape, Permute   ``Reshape`` / ``Transpose`` (the batch axis kept)
RepeatVector                ``Unsqueeze`` + ``Tile``
LayerNormalization          the opset-17 ``LayerNormalization`` (last axis)
BatchNormalization          inference form ``x·s + (beta - mean·s)``, s = gamma/√(var+ε)
Conv1D                      ``Conv`` on (batch, channels, time); causal = left padding
Max/AveragePooling1D        ``MaxPool`` / ``AveragePool`` (``same`` = ``SAME_UPPER``,
                            padding not counted in averages, as Keras)
GlobalMax/Average-          ``ReduceMax`` / ``ReduceMean`` over time
Pooling1D
==========================  ==========================================================
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from ..errors import ConfigError

_SELU_ALPHA, _SELU_GAMMA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def activation(g: Any, name: str, x: str, who: str) -> str:
    """Nodes computing Keras activation ``name`` on ``x``."""
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
              "softsign": "Softsign", "exponential": "Exp"}
    if name == "linear":
        return x
    if name in simple:
        return g.op(simple[name], [x], who)
    if name == "softmax":
        return g.op("Softmax", [x], who, axis=-1)
    if name == "elu":
        return g.op("Elu", [x], who, alpha=1.0)
    if name == "selu":
        return g.op("Selu", [x], who, alpha=_SELU_ALPHA, gamma=_SELU_GAMMA)
    if name == "hard_sigmoid":
        return g.op("HardSigmoid", [x], who, alpha=1.0 / 6.0, beta=0.5)
    if name == "silu":
        return g.op("Mul", [x, g.op("Sigmoid", [x], who)], who)
    if name == "gelu":  # exact form: x · ½ · (1 + erf(x / √2))
        erf = g.op("Erf", [g.op("Div", [x, g.const("sqrt2", np.float32(np.sqrt(2.0)))], who)], who)
        half = g.op("Mul", [x, g.const("half", np.float32(0.5))], who)
        return g.op("Mul", [half, g.op("Add", [erf, g.const("one", np.float32(1.0))], who)], who)
    raise ConfigError(f"{who}: activation {name!r} cannot be exported to ONNX.")


def _f32(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _dense(g: Any, layer: Any, x: str) -> str:
    if type(layer).__name__ == "TimeDistributed":
        inner = layer.layer
        if type(inner).__name__ == "Dropout":
            return x
        if type(inner).__name__ != "Dense":
            raise ConfigError(f"TimeDistributed {layer.name!r} wraps a {type(inner).__name__}; only "
                              "TimeDistributed(Dense) and (Dropout) can be exported to ONNX.")
        layer = inner
    y = g.op("MatMul", [x, g.const(f"{layer.name}_kernel", _f32(layer.kernel))], layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.const(f"{layer.name}_bias", _f32(layer.bias))], layer.name)
    return activation(g, layer.activation.name, y, f"Dense {layer.name!r}")


def _activation_layer(g: Any, layer: Any, x: str) -> str:
    kind, who = type(layer).__name__, f"{type(layer).__name__} {layer.name!r}"
    if kind == "Activation":
        return activation(g, layer.activation.name, x, who)
    if kind == "LeakyReLU":
        return g.op("LeakyRelu", [x], layer.name, alpha=float(layer.negative_slope))
    if kind == "ELU":
        return g.op("Elu", [x], layer.name, alpha=float(layer.alpha))
    if kind == "Softmax":
        return g.op("Softmax", [x], layer.name, axis=int(layer.axis))
    # ReLU(max_value, negative_slope, threshold)
    if layer.threshold:
        raise ConfigError(f"{who}: threshold={layer.threshold} cannot be exported to ONNX.")
    y = (g.op("LeakyRelu", [x], layer.name, alpha=float(layer.negative_slope))
         if layer.negative_slope else g.op("Relu", [x], layer.name))
    if layer.max_value is not None:
        y = g.op("Min", [y, g.const("max", np.float32(layer.max_value))], layer.name)
    return y


def _flatten(g: Any, layer: Any, x: str) -> str:
    return g.op("Reshape", [x, g.const("shape", np.array([0, -1], np.int64))], layer.name)


def _reshape(g: Any, layer: Any, x: str) -> str:
    target = np.array([0, *layer.target_shape], np.int64)
    return g.op("Reshape", [x, g.const("shape", target)], layer.name, allowzero=0)


def _permute(g: Any, layer: Any, x: str) -> str:
    return g.op("Transpose", [x], layer.name, perm=[0, *layer.dims])


def _repeat(g: Any, layer: Any, x: str) -> str:
    y = g.op("Unsqueeze", [x, g.const("axes", np.array([1]))], layer.name)       # (B, 1, F)
    return g.op("Tile", [y, g.const("repeats", np.array([1, layer.n, 1], np.int64))], layer.name)


def _last_axis(layer: Any) -> None:
    axes = getattr(layer, "axis_list", [getattr(layer, "axis", -1)])
    rank = len(layer.build_input_shape or ()) or None
    if not all(a == -1 or (rank and a == rank - 1) for a in axes):
        raise ConfigError(f"{type(layer).__name__} {layer.name!r}: axis={layer.axis}; only the last "
                          "axis can be exported to ONNX.")


def _layer_norm(g: Any, layer: Any, x: str) -> str:
    _last_axis(layer)
    n = layer._param_shape_built[-1]
    gamma = layer._weights.get("gamma", np.ones(n))
    beta = layer._weights.get("beta", np.zeros(n))
    return g.op("LayerNormalization", [x, g.const("gamma", _f32(gamma)), g.const("beta", _f32(beta))],
                layer.name, axis=-1, epsilon=float(layer.epsilon))


def _batch_norm(g: Any, layer: Any, x: str) -> str:
    _last_axis(layer)
    w = layer._weights
    n = w["moving_mean"].shape[0]
    scale = np.asarray(w.get("gamma", np.ones(n)), np.float64) / np.sqrt(
        np.asarray(w["moving_variance"], np.float64) + layer.epsilon)
    shift = np.asarray(w.get("beta", np.zeros(n)), np.float64) - np.asarray(w["moving_mean"], np.float64) * scale
    y = g.op("Mul", [x, g.const("scale", _f32(scale))], layer.name)
    return g.op("Add", [y, g.const("shift", _f32(shift))], layer.name)


def _channels_last(layer: Any) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ConfigError(f"{type(layer).__name__} {layer.name!r}: data_format={layer.data_format}; "
                          "only channels_last can be exported to ONNX.")


def _padding(layer: Any, k: int, dilation: int = 1) -> dict[str, Any]:
    if layer.padding == "valid":
        return {}
    if layer.padding == "same":
        return {"auto_pad": "SAME_UPPER"}
    return {"pads": [dilation * (k - 1), 0]}                       # causal: left only


def _conv1d(g: Any, layer: Any, x: str) -> str:
    _channels_last(layer)
    xt = g.op("Transpose", [x], layer.name, perm=[0, 2, 1])         # (B, C, T)
    W = _f32(np.transpose(layer._weights["kernel"], (2, 1, 0)))     # (filters, C/groups, k)
    inputs = [xt, g.const("W", W)] + ([g.const("b", _f32(layer._weights["bias"]))] if layer.use_bias else [])
    y = g.op("Conv", inputs, layer.name, kernel_shape=[layer.kernel_size], strides=[layer.strides],
             dilations=[layer.dilation_rate], group=layer.groups,
             **_padding(layer, layer.kernel_size, layer.dilation_rate))
    y = g.op("Transpose", [y], layer.name, perm=[0, 2, 1])
    return activation(g, layer.activation.name, y, f"Conv1D {layer.name!r}")


def _pool(g: Any, layer: Any, x: str) -> str:
    _channels_last(layer)
    op = "MaxPool" if type(layer).__name__.startswith("Max") else "AveragePool"
    xt = g.op("Transpose", [x], layer.name, perm=[0, 2, 1])
    y = g.op(op, [xt], layer.name, kernel_shape=[layer.pool_size], strides=[layer.strides],
             **_padding(layer, layer.pool_size))
    return g.op("Transpose", [y], layer.name, perm=[0, 2, 1])


def _global_pool(g: Any, layer: Any, x: str) -> str:
    _channels_last(layer)
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    return g.op(op, [x], layer.name, axes=[1], keepdims=int(layer.keepdims))


class Exporter(NamedTuple):
    export: Callable[[Any, Any, str], str]
    last_axis_only: bool      # True: computes the same on (T, B, F) as on (B, T, F)


LAYERS: dict[str, Exporter] = {
    "Dense": Exporter(_dense, True), "TimeDistributed": Exporter(_dense, True),
    "Dropout": Exporter(lambda g, layer, x: x, True),
    **{k: Exporter(_activation_layer, True) for k in ("Activation", "ReLU", "LeakyReLU", "ELU")},
    "Softmax": Exporter(_activation_layer, False),
    "Flatten": Exporter(_flatten, False), "Reshape": Exporter(_reshape, False),
    "Permute": Exporter(_permute, False), "RepeatVector": Exporter(_repeat, False),
    "LayerNormalization": Exporter(_layer_norm, True), "BatchNormalization": Exporter(_batch_norm, True),
    "Conv1D": Exporter(_conv1d, False),
    "MaxPooling1D": Exporter(_pool, False), "AveragePooling1D": Exporter(_pool, False),
    "GlobalMaxPooling1D": Exporter(_global_pool, False),
    "GlobalAveragePooling1D": Exporter(_global_pool, False),
}
