"""``torch.nn.LSTM`` state dicts <-> unrolled LSTM layers: same outputs both ways."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ConfigError, ModelFileError
from unrolled.io.torch_weights import from_torch_state_dict, load_torch_file, to_torch_state_dict
from unrolled.layers import LSTM

B, T, F, H = 3, 6, 4, 5


def _x(batch: int = B, steps: int = T) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(batch, steps, F)).astype("float32")


def _torch_lstm(torch, bias: bool = True, num_layers: int = 1, seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.LSTM(F, H, batch_first=True, bias=bias, num_layers=num_layers)


def _run_torch(torch, lstm, x):
    with torch.no_grad():
        y, (h, c) = lstm(torch.from_numpy(x))
    return y.numpy(), h.numpy()


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch,steps", [(B, T), (1, 1)], ids=["B3T6", "B1T1"])
def test_from_torch_matches_torch(bias, batch, steps):
    torch = require("torch")
    theirs, x = _torch_lstm(torch, bias), _x(batch, steps)
    ours = LSTM(H, return_sequences=True, use_bias=bias)
    ours.build((None, steps, F))
    from_torch_state_dict(ours, theirs.state_dict())
    y, _ = _run_torch(torch, theirs, x)
    np.testing.assert_allclose(ours(x), y, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_to_torch_matches_unrolled(bias):
    torch = require("torch")
    ours = LSTM(H, return_sequences=True, use_bias=bias)
    ours.build((None, T, F))
    rng = np.random.default_rng(1)
    ours.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in ours.weights])
    theirs = _torch_lstm(torch, bias)
    sd = to_torch_state_dict(ours)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    y, _ = _run_torch(torch, theirs, _x())
    np.testing.assert_allclose(y, ours(_x()), atol=1e-5)
    if bias:
        assert not sd["bias_hh_l0"].any()


def test_two_layer_torch_lstm_into_a_stacked_model():
    torch = require("torch")
    theirs, x = _torch_lstm(torch, num_layers=2), _x()
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H, return_sequences=True), LSTM(H)])
    sd = theirs.state_dict()
    for k, layer in enumerate(model.layers):
        from_torch_state_dict(layer, sd, index=k)
    _, h = _run_torch(torch, theirs, x)
    np.testing.assert_allclose(model.predict(x), h[-1], atol=1e-5)
    back = {**to_torch_state_dict(model.layers[0], 0), **to_torch_state_dict(model.layers[1], 1)}
    assert sorted(back) == sorted(sd)


def test_refusals():
    torch = require("torch")
    sd = _torch_lstm(torch).state_dict()
    hard = LSTM(H, recurrent_activation="hard_sigmoid")
    hard.build((None, T, F))
    with pytest.raises(ConfigError, match="sigmoid gates and tanh"):
        from_torch_state_dict(hard, sd)
    with pytest.raises(ConfigError, match="sigmoid gates and tanh"):
        to_torch_state_dict(hard)
    wrong = LSTM(H + 1)
    wrong.build((None, T, F))
    with pytest.raises(ConfigError, match=r"weight_ih_l0 has shape \(20, 4\)"):
        from_torch_state_dict(wrong, sd)
    ok = LSTM(H)
    ok.build((None, T, F))
    before = ok.get_weights()
    with pytest.raises(ConfigError, match="_reverse"):
        from_torch_state_dict(ok, torch.nn.LSTM(F, H, bidirectional=True).state_dict())
    with pytest.raises(ConfigError, match="no \\['weight_ih_l1'"):
        from_torch_state_dict(ok, sd, index=1)
    for a, b in zip(ok.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="not built"):
        to_torch_state_dict(LSTM(H))


class _Payload:
    """Unpickling this would create a marker file: the loader must refuse it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_torch_files_load_weights_only(tmp_path):
    torch = require("torch")
    theirs = _torch_lstm(torch)
    torch.save(theirs.state_dict(), tmp_path / "ok.pt")
    loaded = load_torch_file(tmp_path / "ok.pt")
    ours = LSTM(H)
    ours.build((None, T, F))
    from_torch_state_dict(ours, loaded)
    np.testing.assert_allclose(ours(_x()), _run_torch(torch, theirs, _x())[1][0], atol=1e-5)

    marker = tmp_path / "pwned"
    torch.save({"weight_ih_l0": _Payload(str(marker))}, tmp_path / "evil.pt",
               pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(ModelFileError, match="weights_only=True"):
        load_torch_file(tmp_path / "evil.pt")
    assert not marker.exists()

    (tmp_path / "junk.pt").write_bytes(b"\x00junk")
    with pytest.raises(ModelFileError):
        load_torch_file(tmp_path / "junk.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ModelFileError, match="state dict"):
        load_torch_file(tmp_path / "list.pt")
