"""``.keras`` / ``.weights.h5`` files: parity with real Keras 3 in both directions, exact
unrolled round trips, optimizer state, ``extra`` metadata, hostile and broken files."""
from __future__ import annotations

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ConfigError, ModelFileError
from unrolled.io import atomic
from unrolled.models.saving import load_model, load_weights, read_extra, save_model, save_weights
from unrolled.layers import GRU, LSTM, Dense, Dropout, Masking, SimpleRNN

T, F = 5, 3


def _randomize(model: unrolled.Sequential, seed: int = 0) -> unrolled.Sequential:
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in model.weights])
    return model


ARCHITECTURES = {
    "lstm_dense": lambda: [LSTM(4), Dense(1)],
    "stacked": lambda: [LSTM(4, return_sequences=True), LSTM(3), Dense(2)],
    "go_backwards": lambda: [LSTM(4, return_sequences=True, go_backwards=True),
                             LSTM(3, go_backwards=True), Dense(1)],
    "no_bias": lambda: [LSTM(4, use_bias=False), Dense(2, use_bias=False)],
    "dense_per_timestep": lambda: [LSTM(4, return_sequences=True), Dense(2, activation="tanh")],
    "activations": lambda: [LSTM(4, activation="relu", recurrent_activation="hard_sigmoid",
                                 unit_forget_bias=False), Dense(3, activation="softmax")],
    "dropout": lambda: [LSTM(4, return_sequences=True), Dropout(0.3), LSTM(2), Dense(1)],
    "gru_simple_rnn": lambda: [GRU(4, return_sequences=True), SimpleRNN(3), Dense(1)],
    "masking": lambda: [Masking(mask_value=0.5), LSTM(4, return_sequences=True), Dense(2)],
}


def _model(arch: str, seed: int = 0) -> unrolled.Sequential:
    return _randomize(unrolled.Sequential([unrolled.Input((T, F)), *ARCHITECTURES[arch]()]), seed)


def _assert_same_weights(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def _x(batch: int = 6, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, T, F)).astype("float32")


# -- parity with Keras ------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_keras_loads_what_unrolled_saves_and_back(arch, tmp_path):
    keras = require("keras")
    model, x = _model(arch), _x()
    save_model(model, tmp_path / "u.keras")
    theirs = keras.saving.load_model(tmp_path / "u.keras")
    assert [la.name for la in theirs.layers] == [la.name for la in model.layers]
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x), atol=1e-5)

    # Keras saves (new weights) -> unrolled loads: same predictions as Keras.
    rng = np.random.default_rng(7)
    theirs.set_weights([nonzero_uniform(rng, w.shape, dtype="float32") for w in theirs.get_weights()])
    theirs.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-5)


def test_natively_built_compiled_keras_model_loads_with_its_optimizer(tmp_path):
    keras = require("keras")
    theirs = keras.Sequential([
        keras.Input((T, F)),
        keras.layers.LSTM(4, return_sequences=True, go_backwards=True, name="encoder"),
        keras.layers.Dropout(0.2),
        keras.layers.LSTM(3, use_bias=False, recurrent_activation="hard_sigmoid"),
        keras.layers.Dense(2, activation="relu"),
    ])
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x, y = _x(8), np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    theirs.fit(x, y, epochs=2, batch_size=4, verbose=0)
    theirs.save(tmp_path / "k.keras")

    ours = load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-5)
    assert ours.compiled and type(ours.optimizer).__name__ == "Adam"
    assert ours.optimizer.learning_rate == pytest.approx(0.01)
    theirs_state = [np.asarray(v.numpy()) for v in theirs.optimizer.variables]
    assert len(ours.optimizer.variables) == len(theirs_state)
    for a, b in zip(ours.optimizer.variables, theirs_state):
        np.testing.assert_allclose(a, b, atol=1e-7)
    assert load_model(tmp_path / "k.keras", compile=False).compiled is False


def test_keras_loads_unrolled_optimizer_state(tmp_path):
    keras = require("keras")
    model, x = _model("stacked"), _x(8)
    y = np.random.default_rng(3).normal(size=(8, 2)).astype("float32")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    save_model(model, tmp_path / "u.keras")
    theirs = keras.saving.load_model(tmp_path / "u.keras")
    assert theirs.loss == "mse"
    for a, b in zip(theirs.optimizer.variables, model.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a.numpy()), b, atol=1e-7)


def test_training_continues_identically_after_save_and_load(tmp_path):
    model, x = _model("lstm_dense"), _x(12)
    y = np.random.default_rng(4).normal(size=(12, 1)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    for m in (model, loaded):
        m.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    _assert_same_weights(loaded.get_weights(), model.get_weights())
    assert loaded.optimizer.iterations == model.optimizer.iterations == 9


def test_optimizer_saved_before_training_restores_without_warning(tmp_path):
    model = _model("lstm_dense")
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.learning_rate = 0.25
    save_model(model, tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.optimizer.learning_rate == 0.25 and loaded.optimizer.iterations == 0


def test_optimizer_state_that_does_not_fit(tmp_path):
    model, x = _model("lstm_dense"), _x(4)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.ones((4, 1), "f4"), verbose=0)
    save_model(model, tmp_path / "m.keras")
    weights = _member(tmp_path / "m.keras", "model.weights.h5")
    def drop_last(h5):
        del h5[f"optimizer/vars/{len(h5['optimizer/vars']) - 1}"]
    _rewrite(tmp_path / "m.keras", tmp_path / "fewer.keras",
             {"model.weights.h5": _edit_h5(weights, drop_last)})
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam'"):
        loaded = load_model(tmp_path / "fewer.keras")
    assert loaded.optimizer.iterations == 0
    _rewrite(tmp_path / "m.keras", tmp_path / "shape.keras", {"model.weights.h5": _edit_h5(
        weights, _replace_dataset("optimizer/vars/3", np.zeros((2, 2), "f4")))})
    with pytest.raises(ModelFileError, match=r"optimizer variable 3 has shape \(2, 2\)"):
        load_model(tmp_path / "shape.keras")
    before = model.get_weights()
    with pytest.raises(ModelFileError, match="optimizer variable 3"):
        load_weights(model, tmp_path / "shape.keras")
    _assert_same_weights(model.get_weights(), before)


def test_weights_files_both_ways(tmp_path):
    keras = require("keras")
    model, x = _model("dropout"), _x()
    save_model(model, tmp_path / "u.keras")
    theirs = keras.saving.load_model(tmp_path / "u.keras")

    _randomize(model, seed=11)
    model.save_weights(tmp_path / "u.weights.h5")
    theirs.load_weights(tmp_path / "u.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x), atol=1e-5)

    rng = np.random.default_rng(12)
    theirs.set_weights([nonzero_uniform(rng, w.shape, dtype="float32") for w in theirs.get_weights()])
    theirs.save_weights(tmp_path / "k.weights.h5")
    model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(model.predict(x), theirs.predict(x, verbose=0), atol=1e-5)

    # Legacy HDF5 (Keras 2 layout, still written by Keras 3's model.save("x.h5")).
    theirs.set_weights([w * 0.5 for w in theirs.get_weights()])
    theirs.save(tmp_path / "legacy.h5")
    load_weights(model, tmp_path / "legacy.h5")
    np.testing.assert_allclose(model.predict(x), theirs.predict(x, verbose=0), atol=1e-5)

    load_weights(model, tmp_path / "u.keras")  # weights straight from a .keras file
    _assert_same_weights(model.get_weights(), load_model(tmp_path / "u.keras").get_weights())


def test_keras_ignores_extra_metadata(tmp_path):
    keras = require("keras")
    model, x = _model("lstm_dense"), _x()
    extra = {"columns": ["temp", "wind"], "mean": np.array([1.5, -2.0]), "std": np.float32(0.5)}
    save_model(model, tmp_path / "m.keras", extra=extra)
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               model.predict(x), atol=1e-5)
    assert read_extra(tmp_path / "m.keras") == {"columns": ["temp", "wind"], "mean": [1.5, -2.0],
                                                "std": 0.5}


# -- unrolled alone ---------------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_round_trip_is_exact(arch, tmp_path):
    model = _model(arch)
    save_model(model, tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert read_extra(tmp_path / "m.keras") is None


def test_file_layout_matches_keras(tmp_path):
    save_model(_model("stacked"), tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        config, meta = json.loads(zf.read("config.json")), json.loads(zf.read("metadata.json"))
        h5 = h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    assert config["build_config"] == {"input_shape": [None, T, F]}
    assert "compile_config" not in config and set(meta) >= {"keras_version", "date_saved"}
    assert h5["layers/lstm_1/cell/vars/1"].shape == (3, 12)
    assert h5["layers/lstm/cell/vars"].attrs["name"] == "lstm_cell"
    assert set(h5["layers/dense/vars"]) == {"0", "1"} and "optimizer" not in h5


def test_save_checks_the_path_and_the_extra(tmp_path):
    model = _model("lstm_dense")
    with pytest.raises(ConfigError, match=r"\.keras"):
        save_model(model, tmp_path / "m.hdf")
    with pytest.raises(ConfigError, match=r"\.weights\.h5"):
        save_weights(model, tmp_path / "m.h5")
    with pytest.raises(ConfigError, match="JSON"):
        save_model(model, tmp_path / "m.keras", extra={"f": object()})
    assert not os.listdir(tmp_path)


def test_compile_config_that_cannot_be_restored_warns_and_loads_uncompiled(tmp_path):
    model = _model("lstm_dense")
    save_model(model, tmp_path / "m.keras")
    config = json.loads(_member(tmp_path / "m.keras", "config.json"))
    config["compile_config"] = {"optimizer": "adam", "loss": "no_such_loss"}
    _rewrite(tmp_path / "m.keras", tmp_path / "bad.keras", {"config.json": json.dumps(config).encode()})
    with pytest.warns(UserWarning, match="uncompiled"):
        loaded = load_model(tmp_path / "bad.keras")
    assert not loaded.compiled
    _assert_same_weights(loaded.get_weights(), model.get_weights())


# -- broken and hostile files -----------------------------------------------------------
def _member(path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def _rewrite(src, dst, replace: dict[str, bytes | None]) -> None:
    """Copy a zip, replacing (bytes) or dropping (None) members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = replace.get(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


def _edit_h5(data: bytes, edit) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "a") as h5:
        edit(h5)
    return buffer.getvalue()


def _edit_config(edit):
    def apply(cfg: dict) -> bytes:
        edit(cfg)
        return json.dumps(cfg).encode()
    return apply


def _replace_dataset(path: str, value):
    def edit(h5):
        del h5[path]
        h5[path] = value
    return edit


def _external_storage(h5, path: str) -> None:
    """Replace a dataset by one whose bytes live in another file (HDF5 external storage)."""
    del h5[path]
    h5.create_dataset(path, shape=(1,), dtype="f4", external=[("/etc/hostname", 0, 4)])


def _link(path: str, link):
    def edit(h5):
        del h5[path]
        h5[path] = link
    return edit


LAMBDA = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
          "config": {"name": "lambda", "function": {"class_name": "__lambda__", "config": {
              "code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}}}
CUSTOM = {"module": "my_pkg.layers", "class_name": "Dense", "registered_name": "my_pkg>Dense",
          "config": {"name": "sneaky", "units": 1}}

BROKEN = {
    "text_file": ("text", "not a zip archive"),
    "empty_file": ("empty", "empty"),
    "truncated": ("truncated", "zip|truncated|corrupt"),
    "hdf5_renamed": ("hdf5", "weights only.*load_weights"),
    "no_config": ({"config.json": None}, "no config.json"),
    "no_weights": ({"model.weights.h5": None}, "no model.weights.h5"),
    "config_not_json": ({"config.json": b"{not json"}, "not valid JSON"),
    "subclassed": (_edit_config(lambda c: c.update(class_name="MyModel", registered_name="pkg>MyModel")),
                   "refused on purpose:\n.*subclassed or custom model"),
    "lambda_layer": (_edit_config(lambda c: c["config"]["layers"].insert(2, LAMBDA)),
                     r"refused on purpose:\n  • layer 'lambda' \(Lambda\): Lambda layers run code"),
    "custom_layer": (_edit_config(lambda c: c["config"]["layers"].insert(2, CUSTOM)), "my_pkg>Dense"),
    "bad_units": (_edit_config(lambda c: c["config"]["layers"][1]["config"].update(units=-2)), "units"),
    "weights_not_hdf5": ({"model.weights.h5": b"\x00" * 600}, "not a readable HDF5"),
    "wrong_shape": (lambda h5: _replace_dataset("layers/lstm/cell/vars/0", np.zeros((3, 8), "f4"))(h5),
                    r"shape \(3, 8\), expected \(3, 16\)"),
    "missing_dataset": (lambda h5: h5.__delitem__("layers/dense/vars/1"),
                        "holds 1 weight arrays, expected 2"),
    "missing_group": (lambda h5: h5.__delitem__("layers/lstm"), "'/layers/lstm/cell/vars' is missing"),
    "string_dataset": (_replace_dataset("layers/dense/vars/1", np.array([b"x"])), "non-numeric"),
    "soft_link": (_link("layers/dense/vars/1", h5py.SoftLink("/layers/dense/vars/0")),
                  "'/layers/dense/vars/1' is a SoftLink"),
    "external_link": (_link("layers/dense/vars/1", h5py.ExternalLink("/etc/passwd", "/x")),
                      "ExternalLink"),
    "external_storage": (lambda h5: _external_storage(h5, "layers/dense/vars/1"), "outside the file"),
    "bad_crc": ("crc", "truncated or corrupt"),
}


def _broken_file(kind, good, dst) -> None:
    data = good.read_bytes()
    if kind == "text":
        dst.write_text("this is not a model\n")
    elif kind == "empty":
        dst.write_bytes(b"")
    elif kind == "truncated":
        dst.write_bytes(data[: len(data) // 2])
    elif kind == "hdf5":
        dst.write_bytes(_member(good, "model.weights.h5"))
    elif kind == "crc":  # flip one byte inside the stored (uncompressed) weights member
        start = data.index(_member(good, "model.weights.h5")[-64:])
        dst.write_bytes(data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1:])
    elif isinstance(kind, dict):
        _rewrite(good, dst, kind)
    elif kind.__name__ == "apply":
        _rewrite(good, dst, {"config.json": kind(json.loads(_member(good, "config.json")))})
    else:
        _rewrite(good, dst, {"model.weights.h5": _edit_h5(_member(good, "model.weights.h5"), kind)})


@pytest.mark.parametrize("case", BROKEN)
def test_broken_files_raise_model_file_error(case, tmp_path):
    kind, message = BROKEN[case]
    save_model(_model("lstm_dense"), tmp_path / "good.keras")
    bad = tmp_path / "bad.keras"
    _broken_file(kind, tmp_path / "good.keras", bad)
    with pytest.raises(ModelFileError, match=message):
        load_model(bad)


def test_load_weights_refuses_mismatch_and_changes_nothing(tmp_path):
    save_model(_model("stacked"), tmp_path / "stacked.keras")
    model = _model("lstm_dense", seed=5)
    before = model.get_weights()
    with pytest.raises(ModelFileError, match="expected"):
        load_weights(model, tmp_path / "stacked.keras")
    with pytest.raises(ModelFileError, match="not a readable HDF5"):
        (tmp_path / "x.weights.h5").write_text("nope")
        load_weights(model, tmp_path / "x.weights.h5")
    _assert_same_weights(model.get_weights(), before)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.keras")


# -- atomic writes ----------------------------------------------------------------------
def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    save_model(_model("lstm_dense"), path)
    before = path.read_bytes()

    def fail(self, name, data, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with pytest.raises(OSError, match="disk full"):
        save_model(_model("stacked"), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


def test_atomic_write_keeps_old_content_and_permissions(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    with pytest.raises(RuntimeError):
        with atomic.atomic_write(path) as f:
            f.write(b"new half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]
    atomic.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and os.stat(path).st_mode & 0o777 == 0o640

