"""``unrolled convert`` / ``summary`` / ``--model``: models moved between .keras, .onnx and
.safetensors (+ sidecar), checked after each write; a PyTorch model fine-tuned in unrolled
and read by Keras."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.cli import main
from unrolled.layers import GRU, LSTM, Bidirectional, Dense

T, F, H = 5, 3, 4


def _randomize(model, seed: int = 0):
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in model.weights])
    return model


def _stacked():
    return _randomize(unrolled.Sequential([unrolled.Input((T, F)), LSTM(H, return_sequences=True),
                                           LSTM(H, return_sequences=True)]))


def _headed():
    return _randomize(unrolled.Sequential([unrolled.Input((T, F)), GRU(H, return_sequences=True),
                                           GRU(H), Dense(2, activation="tanh")]), seed=1)


def _bidirectional():
    return _randomize(unrolled.Sequential([
        unrolled.Input((T, F)), Bidirectional(GRU(H, return_sequences=True)),
        Bidirectional(GRU(H, return_sequences=True))]), seed=2)


def _x():
    return np.random.default_rng(9).normal(size=(2, T, F)).astype("float32")


@pytest.mark.parametrize("make", [_stacked, _headed, _bidirectional],
                         ids=["stacked", "with_dense", "bidirectional"])
def test_round_trip_through_every_format(make, tmp_path, capsys):
    require("onnxruntime")
    require("safetensors")
    model = make()
    first = tmp_path / "m.keras"
    unrolled.save_model(model, first)
    chain = [first, tmp_path / "a.onnx", tmp_path / "b.keras", tmp_path / "c.safetensors",
             tmp_path / "d.h5", tmp_path / "e.onnx", tmp_path / "f.safetensors", tmp_path / "g.h5",
             tmp_path / "h.keras"]
    for src, dst in zip(chain, chain[1:]):
        assert main(["convert", str(src), str(dst)]) == 0
        out = capsys.readouterr().out
        assert f"Checked: {dst} (unrolled reading it back) predicts what {src} did" in out
        if dst.suffix == ".onnx":
            assert "(ONNX Runtime) predicts" in out
    back = unrolled.load_model(chain[-1])
    np.testing.assert_allclose(back.predict(_x(), verbose=0), model.predict(_x(), verbose=0), atol=1e-5)
    assert [type(la).__name__ for la in back.layers] == [type(la).__name__ for la in model.layers]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_safetensors_of_a_stack_is_a_torch_state_dict(bidirectional, tmp_path):
    torch = require("torch")
    model = _bidirectional() if bidirectional else _stacked()
    assert main(["convert", str(_save(model, tmp_path / "m.keras")), str(tmp_path / "w.safetensors")]) == 0
    from safetensors.torch import load_file

    module = getattr(torch.nn, "GRU" if bidirectional else "LSTM")(
        F, H, num_layers=2, batch_first=True, bidirectional=bidirectional)
    module.load_state_dict(load_file(str(tmp_path / "w.safetensors")), strict=True)
    with torch.no_grad():
        y = module(torch.from_numpy(_x()))[0].numpy()
    np.testing.assert_allclose(y, model.predict(_x(), verbose=0), atol=1e-5)
    assert (tmp_path / "w.json").exists()


def _save(model, path):
    unrolled.save_model(model, path)
    return path


def test_summary_and_model_option_for_every_format(tmp_path, capsys):
    require("onnx")
    require("safetensors")
    model = _headed()
    files = [_save(model, tmp_path / "m.keras")]
    for ext in (".onnx", ".safetensors"):
        assert main(["convert", str(files[0]), str(tmp_path / f"m{ext}")]) == 0
        files.append(tmp_path / f"m{ext}")
    capsys.readouterr()
    for path in files:
        assert main(["summary", str(path)]) == 0
        out = capsys.readouterr().out
        assert f"Read {path}" in out and "Total params: 238" in out, out
        assert main(["explain", "--model", str(path)]) == 0
        out = capsys.readouterr().out
        assert "GRU, units=4, features=3" in out and "GRU, units=4, features=4" in out
        assert main(["info", "--model", str(path)]) == 0
        assert "Kernels of its layers" in capsys.readouterr().out
        assert main(["trace", "--model", str(path)]) == 0
        assert "Tracing GRU" in capsys.readouterr().out


def test_convert_refusals(tmp_path, capsys):
    src = _save(_stacked(), tmp_path / "m.keras")
    assert main(["convert", str(src), str(tmp_path / "m.txt")]) == 2
    assert "unrolled writes .keras, .h5, .onnx, .safetensors" in capsys.readouterr().err
    assert main(["convert", str(src), str(src)]) == 2
    assert "same file" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "none.keras"), str(tmp_path / "x.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "m.xyz")]) == 2
    assert not (tmp_path / "m.txt").exists()


@pytest.mark.parametrize("source", ["torch", "onnx"])
def test_fine_tune_a_torch_model_and_read_it_in_keras(source, tmp_path):
    """PyTorch module (live, or exported to ONNX) -> unrolled -> a few fit steps -> .keras
    -> Keras predicts the same."""
    torch = require("torch")
    keras = require("keras")
    torch.manual_seed(0)
    module = torch.nn.GRU(F, H, num_layers=2, batch_first=True)
    if source == "torch":
        model = unrolled.from_torch(module, return_sequences=False)
    else:
        import warnings

        class LastStep(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = module

            def forward(self, x):
                return self.gru(x)[0][:, -1]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(LastStep().eval(), (torch.from_numpy(_x()),), str(tmp_path / "m.onnx"),
                              dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "t"}})
        model = unrolled.load_model(tmp_path / "m.onnx")
        assert not model.layers[-1].return_sequences
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, T, F)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] / 10
    before = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    unrolled.save_model(model, tmp_path / "tuned.keras")
    theirs = keras.saving.load_model(tmp_path / "tuned.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0),
                               atol=1e-5)


def test_load_model_reads_onnx_and_torch_files(tmp_path):
    torch = require("torch")
    require("onnx")
    require("safetensors")
    model = _stacked()
    unrolled.io.export_onnx(model, tmp_path / "m.onnx")
    unrolled.to_torch(model, tmp_path / "m.safetensors")
    unrolled.to_torch(model, tmp_path / "m.pt")
    for name in ("m.onnx", "m.safetensors", "m.pt"):
        back = unrolled.load_model(tmp_path / name)
        np.testing.assert_allclose(back.predict(_x(), verbose=0), model.predict(_x(), verbose=0), atol=1e-5)
    from unrolled.errors import ModelFileError

    (tmp_path / "bad.onnx").write_bytes(b"\x00\x01not onnx")
    with pytest.raises(ModelFileError):
        unrolled.load_model(tmp_path / "bad.onnx")
    with pytest.raises(ModelFileError):
        unrolled.load_model(tmp_path / "missing.safetensors")
    del torch
