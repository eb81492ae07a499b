"""ONNX export of Bidirectional (every merge mode, return_state) and TimeDistributed(Dense),
checked with ONNX Runtime; concat graphs also read back by the importer."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ConfigError
from unrolled.io import export_onnx
from unrolled.models.onnx_models import load_onnx
from unrolled.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN, TimeDistributed

T, F, H = 5, 3, 4


def _x():
    return np.random.default_rng(0).normal(size=(2, T, F)).astype("float32")


def _random(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in model.weights])
    return model


def _ort(path):
    ort = require("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": _x()})


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequence", "final"])
@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_bidirectional_export(cls, mode, return_sequences, tmp_path):
    head = TimeDistributed(Dense(2)) if return_sequences else Dense(2)
    model = _random(unrolled.Sequential([
        unrolled.Input((T, F)), Bidirectional(cls(H, return_sequences=True)),
        Bidirectional(cls(H, return_sequences=return_sequences), merge_mode=mode), head]))
    export_onnx(model, tmp_path / "m.onnx")
    ours = model.predict(_x(), verbose=0)
    np.testing.assert_allclose(_ort(tmp_path / "m.onnx")[0], ours, atol=1e-5)
    if mode == "concat":
        back = load_onnx(tmp_path / "m.onnx")
        np.testing.assert_allclose(back.predict(_x(), verbose=0), ours, atol=1e-6)


def test_bidirectional_return_state_outputs(tmp_path):
    model = _random(unrolled.Sequential([unrolled.Input((T, F)), Bidirectional(LSTM(H, return_state=True))]))
    export_onnx(model, tmp_path / "s.onnx")
    ort = require("onnxruntime")
    names = [o.name for o in ort.InferenceSession(str(tmp_path / "s.onnx")).get_outputs()]
    assert names == ["output", "forward_h", "forward_c", "backward_h", "backward_c"]
    for a, b in zip(_ort(tmp_path / "s.onnx"), model.predict(_x(), verbose=0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bidirectional_refusals(tmp_path):
    require("onnx")
    none = unrolled.Sequential([unrolled.Input((T, F)), Bidirectional(LSTM(H), merge_mode=None)])
    with pytest.raises(ConfigError, match="merge_mode=None"):
        export_onnx(none, tmp_path / "n.onnx")
    odd = unrolled.Sequential([unrolled.Input((T, F)), Bidirectional(
        LSTM(H), backward_layer=LSTM(H, go_backwards=True, activation="relu"))])
    with pytest.raises(ConfigError, match="differs from the forward"):
        export_onnx(odd, tmp_path / "o.onnx")
