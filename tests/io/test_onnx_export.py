"""ONNX export: onnxruntime computes what unrolled computes; unsupported models are refused."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ConfigError
from unrolled.io.onnx_export import RNN_ACTIVATIONS, export_onnx
from unrolled.layers import GRU, LSTM, Dense, Dropout, Layer, SimpleRNN

T, F = 5, 3


def _model(layers, steps=T, seed=0) -> unrolled.Sequential:
    model = unrolled.Sequential([unrolled.Input((steps, F)), *layers])
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, 0.2, 0.8, w.dtype) for w in model.weights])
    return model


def _check(model, tmp_path, batches=(4, 1), steps=(T,)):
    ort = require("onnxruntime")
    export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch in batches:
        for t in steps:
            x = rng.normal(size=(batch, t, F)).astype("float32")
            (y,) = session.run(None, {"input": x})
            np.testing.assert_allclose(y, model.predict(x), atol=1e-5)


CONFIGS = {
    "lstm": lambda: [LSTM(4)],
    "lstm_dense": lambda: [LSTM(4), Dense(2)],
    "return_sequences_dense": lambda: [LSTM(4, return_sequences=True), Dense(2, activation="tanh")],
    "stacked_dropout": lambda: [LSTM(4, return_sequences=True), Dropout(0.5), LSTM(3), Dense(1)],
    "go_backwards": lambda: [LSTM(4, go_backwards=True), Dense(1)],
    "go_backwards_sequences": lambda: [LSTM(4, return_sequences=True, go_backwards=True),
                                       LSTM(3, return_sequences=True, go_backwards=True)],
    "hard_sigmoid": lambda: [LSTM(4, recurrent_activation="hard_sigmoid"), Dense(1)],
    "no_bias": lambda: [LSTM(4, use_bias=False, return_sequences=True), Dense(2, use_bias=False)],
    "dense_first": lambda: [Dense(6, activation="relu"), LSTM(4)],
    "gru_reset_after": lambda: [GRU(4, return_sequences=True), GRU(3, go_backwards=True), Dense(1)],
    "gru_reset_before": lambda: [GRU(4, reset_after=False, recurrent_activation="hard_sigmoid",
                                     return_sequences=True, go_backwards=True)],
    "gru_no_bias": lambda: [GRU(4, use_bias=False)],
    "simple_rnn": lambda: [SimpleRNN(4, return_sequences=True, activation="relu"),
                           SimpleRNN(3, go_backwards=True), Dense(2)],
}


@pytest.mark.parametrize("config", CONFIGS)
def test_onnxruntime_matches_unrolled(config, tmp_path):
    _check(_model(CONFIGS[config]()), tmp_path)


@pytest.mark.parametrize("activation", sorted(RNN_ACTIVATIONS))
@pytest.mark.parametrize("role", ["activation", "recurrent_activation"])
def test_lstm_activations(activation, role, tmp_path):
    _check(_model([LSTM(3, return_sequences=True, **{role: activation})]), tmp_path, batches=(2,))


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu",
                                        "softplus", "softsign", "hard_sigmoid", "exponential",
                                        "silu", "gelu"])
def test_dense_activations(activation, tmp_path):
    _check(_model([LSTM(3), Dense(4, activation=activation)]), tmp_path, batches=(2,))


def test_unknown_timesteps_are_dynamic(tmp_path):
    _check(_model([LSTM(4, return_sequences=True, go_backwards=True), Dense(1)], steps=None),
           tmp_path, batches=(2,), steps=(1, 7))


@pytest.mark.parametrize("layers, outputs", [
    (lambda: [Dense(3), LSTM(4, return_state=True)], ["output", "state_h", "state_c"]),
    (lambda: [LSTM(4, return_sequences=True, return_state=True, go_backwards=True)],
     ["output", "state_h", "state_c"]),
    (lambda: [GRU(4, return_sequences=True), GRU(3, return_state=True, go_backwards=True)],
     ["output", "state_h"]),
    (lambda: [SimpleRNN(3, return_sequences=True, return_state=True)], ["output", "state_h"]),
], ids=["lstm", "lstm-sequences-backwards", "gru-backwards", "simple_rnn-sequences"])
def test_return_state_adds_the_final_states_as_outputs(layers, outputs, tmp_path):
    """The last layer's [output, *states], in the model's order, as named graph outputs."""
    ort = require("onnxruntime")
    model = _model(layers())
    export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == outputs
    for batch in (3, 1):
        x = np.random.default_rng(batch).normal(size=(batch, T, F)).astype("float32")
        got = session.run(None, {"input": x})
        want = model(x)
        assert len(got) == len(want) == len(outputs)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, atol=1e-5)


def test_unsupported_models_are_refused(tmp_path):
    for layers, message in [
        ([LSTM(4, activation="selu")], "'selu' has no ONNX LSTM equivalent"),
        ([GRU(4, activation="gelu")], "'gelu' has no ONNX GRU equivalent"),
        ([SimpleRNN(2, activation="gelu")], "SimpleRNN 'simple_rnn.*'gelu' has no ONNX RNN"),
    ]:
        with pytest.raises(ConfigError, match=message):
            export_onnx(_model(layers), tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)


class _Custom(Layer):
    def forward(self, x, training=False, **kwargs):
        return x, None


def test_unknown_layers_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="_Custom cannot be exported"):
        export_onnx(_model([LSTM(2, return_sequences=True), _Custom(name="mine")]), tmp_path / "m.onnx")


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"unrolled\[onnx\]"):
        export_onnx(_model([LSTM(2)]), tmp_path / "m.onnx")


def test_failed_export_keeps_the_previous_file(tmp_path, monkeypatch):
    require("onnx")
    path = tmp_path / "m.onnx"
    export_onnx(_model([LSTM(2)]), path)
    before = path.read_bytes()
    with pytest.raises(ConfigError):
        export_onnx(_model([LSTM(2, activation="selu")]), path)
    from unrolled.io import atomic

    def broken_fsync(fd):
        raise OSError("I/O error")
    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        export_onnx(_model([LSTM(3)]), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.onnx"]
