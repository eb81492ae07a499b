"""ONNX export of the non-recurrent layers (Conv1D, pooling, normalization, activations,
reshaping) around recurrent ones, checked with ONNX Runtime on random non-zero weights."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ConfigError
from unrolled.io import export_onnx
from unrolled import layers as L

T, F = 8, 3


def _random(model, seed=0):
    rng = np.random.default_rng(seed)
    weights = []
    for layer in model.layers:
        for name, w in getattr(layer, "_weights", {}).items():
            v = nonzero_uniform(rng, w.shape, dtype=w.dtype)
            weights.append(np.abs(v) + 0.5 if name == "moving_variance" else v)
    assert len(weights) == len(model.weights)
    model.set_weights(weights)
    return model


MODELS = {
    "conv_valid_dilated": lambda: [L.Conv1D(4, 3, dilation_rate=2, activation="relu"), L.LSTM(5)],
    "conv_same_strided": lambda: [L.Conv1D(6, 3, strides=2, padding="same", groups=3), L.GRU(4)],
    "conv_causal": lambda: [L.Conv1D(4, 3, padding="causal", dilation_rate=2), L.SimpleRNN(4, return_sequences=True)],
    "norms_and_global_average": lambda: [L.LSTM(5, return_sequences=True), L.LayerNormalization(),
                                         L.BatchNormalization(), L.GlobalAveragePooling1D(), L.Dense(2)],
    "pooling": lambda: [L.LSTM(5, return_sequences=True), L.MaxPooling1D(3, padding="same"),
                        L.AveragePooling1D(2), L.GlobalMaxPooling1D()],
    "activations": lambda: [L.GRU(5, return_sequences=True), L.Activation("gelu"),
                            L.ReLU(max_value=0.4, negative_slope=0.1), L.LeakyReLU(0.2), L.ELU(0.5),
                            L.Softmax(), L.Flatten(), L.Dense(2, activation="selu")],
    "repeat_permute_reshape": lambda: [L.LSTM(4), L.RepeatVector(3), L.GRU(5, return_sequences=True),
                                       L.Permute((2, 1)), L.Reshape((-1,)), L.Dense(1)],
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layers_export_like_onnx_runtime(name, tmp_path):
    ort = require("onnxruntime")
    model = unrolled.Sequential([unrolled.Input((T, F))] + MODELS[name]())
    _random(model)
    export_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(1).normal(size=(2, T, F)).astype("float32")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(theirs, model.predict(x, verbose=0), atol=1e-5)


def test_unexportable_layer_settings_are_refused(tmp_path):
    require("onnx")
    for layers, match in (([L.LSTM(4, return_sequences=True), L.ReLU(threshold=0.5)], "threshold"),
                          ([L.Masking(), L.LSTM(4)], "Masking")):
        model = unrolled.Sequential([unrolled.Input((T, F))] + layers)
        with pytest.raises(ConfigError, match=match):
            export_onnx(model, tmp_path / "x.onnx")
