"""Legacy HDF5 full models (``model.save("m.h5")``): files written by Keras 2.x / tf.keras
2.x (made by hand with h5py in ``tests/data/make_legacy_h5.py``, which documents Keras 2's
layout) and by Keras 3's legacy saver, loaded with each version's semantics and compared
with a NumPy reference or Keras 3 running the same weights; unrolled's ``.h5`` loaded by
Keras 3; refusals and broken files."""
from __future__ import annotations

import json
import os
import warnings

import h5py
import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform, numpy_lstm
from unrolled.errors import ConfigError, ModelFileError
from unrolled.layers import GRU, LSTM, Dense, Dropout, SimpleRNN
from unrolled.models.saving import load_model, save_model

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "legacy")
T, F = 5, 3


def _file(name: str) -> str:
    return os.path.join(DATA, name)


def _x(batch: int = 4, timesteps: int = T, features: int = F, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, timesteps, features)).astype("float32")


def _stored(path: str, layer: str) -> list[np.ndarray]:
    """A layer's arrays straight from the file, in its ``weight_names`` order."""
    with h5py.File(path, "r") as h5:
        group = h5["model_weights"][layer]
        return [np.asarray(group[n]) for n in group.attrs["weight_names"]]


def _load_quietly(path: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(path, **kwargs)


# -- Keras 2 files, by version -------------------------------------------------------------
def test_keras224_hard_sigmoid_is_keras2s():
    """Keras 2.2.4's LSTM with recurrent_activation="hard_sigmoid" computes
    clip(0.2x + 0.5, 0, 1); checked against the equations in NumPy (float64)."""
    path = _file("keras224_lstm_hard_sigmoid.h5")
    with pytest.warns(UserWarning, match="optimizer state saved by Keras 2.2.4 .*not restored"):
        model = load_model(path)
    assert model.layers[0].get_config()["recurrent_activation"] == "legacy_hard_sigmoid"
    x = _x()
    kernel, recurrent, bias = (w.astype("float64") for w in _stored(path, "lstm_1"))
    dense_k, dense_b = _stored(path, "dense_1")
    ref = numpy_lstm(x.astype("float64"), kernel, recurrent, bias,
                     recurrent_activation="legacy_hard_sigmoid")
    expected = ref.h @ dense_k + dense_b
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    keras3 = numpy_lstm(x.astype("float64"), kernel, recurrent, bias,
                        recurrent_activation="hard_sigmoid").h @ dense_k + dense_b
    assert np.abs(keras3 - expected).max() > 1e-3   # the version semantics matter here
    # batch_input_shape on the first layer became an InputLayer; compile restored (lr renamed)
    assert model.input_batch_shape == (None, T, F)
    assert model.compiled and model.optimizer.get_config()["learning_rate"] == pytest.approx(1e-3)


def test_keras212_gru_without_reset_after_is_reset_before():
    """Keras < 2.1.3 had no reset_after: a GRU config without it is reset_after=False;
    Keras 3 running GRU(reset_after=False) with the same weights agrees."""
    keras = require("keras")
    path = _file("keras212_gru_simple_rnn.h5")
    model = load_model(path)
    assert model.layers[0].get_config()["reset_after"] is False and not model.compiled
    ref = keras.Sequential([keras.Input((T, F)),
                            keras.layers.GRU(4, reset_after=False, return_sequences=True),
                            keras.layers.SimpleRNN(3), keras.layers.Dense(1)])
    ref.set_weights(_stored(path, "gru_1") + _stored(path, "simple_rnn_1") + _stored(path, "dense_1"))
    x = _x()
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-5)


def test_tfkeras29_sequential_with_legacy_keywords():
    """tf.keras 2.9: InputLayer with batch_input_shape, LSTM/GRU with time_major and
    implementation, a weightless Dropout between them, GRU(reset_after=True) with its
    (2, 3H) bias, MeanMetricWrapper metrics. (Keras 3 itself refuses this file over
    time_major.)"""
    keras = require("keras")
    path = _file("tfkeras29_sequential.h5")
    model = _load_quietly(path)
    assert [type(la).__name__ for la in model.layers] == ["LSTM", "Dropout", "GRU", "Dense"]
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(4, return_sequences=True),
                            keras.layers.Dropout(0.25), keras.layers.GRU(3), keras.layers.Dense(2)])
    ref.set_weights(_stored(path, "lstm") + _stored(path, "gru") + _stored(path, "dense"))
    x = _x()
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-5)
    logs = model.evaluate(x, np.ones((4, 2), "float32"), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mae"}


def _numpy_gru_reset_before(x, kernel, recurrent, bias, sig):
    """Keras's GRU with reset_after=False, from the equations (gates z, r, h)."""
    H = recurrent.shape[0]
    h = np.zeros((x.shape[0], H))
    for t in range(x.shape[1]):
        xz = x[:, t] @ kernel + bias
        z = sig(xz[:, :H] + h @ recurrent[:, :H])
        r = sig(xz[:, H:2 * H] + h @ recurrent[:, H:2 * H])
        hh = np.tanh(xz[:, 2 * H:] + (r * h) @ recurrent[:, 2 * H:])
        h = z * h + (1 - z) * hh
    return h


def test_keras224_two_input_model_with_list_style_nodes():
    """Standalone Keras 2.2.4 "Model" (two inputs, Concatenate), Keras 2's hard_sigmoid in
    both an LSTM and a GRU(reset_after=False): against NumPy from the equations."""
    path = _file("keras224_two_inputs.h5")
    model = load_model(path)
    assert type(model).__name__ == "Functional"
    a, b = _x(), _x(timesteps=4, features=2, seed=3)
    legacy = lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0)   # noqa: E731
    k, r, bias = (w.astype("float64") for w in _stored(path, "lstm_1"))
    ha = numpy_lstm(a.astype("float64"), k, r, bias, recurrent_activation="legacy_hard_sigmoid").h
    k, r, bias = (w.astype("float64") for w in _stored(path, "gru_1"))
    hb = _numpy_gru_reset_before(b.astype("float64"), k, r, bias, legacy)
    dk, db = _stored(path, "dense_1")
    expected = np.concatenate([ha, hb], axis=-1) @ dk + db
    np.testing.assert_allclose(model.predict([a, b], verbose=0), expected, atol=1e-5)


def test_tfkeras29_bidirectional_and_time_distributed():
    """Wrappers: the inner LSTM's legacy keywords are upgraded too; the forward then
    backward weights of the one legacy layer entry land in the right halves."""
    keras = require("keras")
    path = _file("tfkeras29_bidirectional.h5")
    model = load_model(path)
    ref = keras.Sequential([keras.Input((T, F)),
                            keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
                            keras.layers.TimeDistributed(keras.layers.Dense(2, activation="tanh"))])
    ref.set_weights(_stored(path, "bidirectional") + _stored(path, "time_distributed"))
    x = _x()
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-5)


def test_tfkeras29_adam_state_is_mapped_by_name_and_training_continues_as_keras3():
    """tf.keras 2's Adam keeps iter, then every m, then every v, named after the
    variables; they land in Keras 3's interleaved layout, and a step from there matches
    Keras 3 stepping from the same state."""
    keras = require("keras")
    path = _file("tfkeras29_sequential.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_model(path)
    with h5py.File(path, "r") as h5:
        group = h5["optimizer_weights"]
        saved = {n.decode(): np.asarray(group[n]) for n in group.attrs["weight_names"]}
    opt = model.optimizer
    assert opt.iterations == 7
    names = ["lstm/lstm_cell/kernel", "lstm/lstm_cell/recurrent_kernel", "lstm/lstm_cell/bias",
             "gru/gru_cell/kernel", "gru/gru_cell/recurrent_kernel", "gru/gru_cell/bias",
             "dense/kernel", "dense/bias"]
    for k, name in enumerate(names):
        for slot, key in (("momentum", "m"), ("velocity", "v")):
            value = opt.variables[opt.variable_names.index(f"{slot}/{k}")]
            np.testing.assert_array_equal(value, saved[f"Adam/{name}/{key}:0"])
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(4, return_sequences=True),
                            keras.layers.Dropout(0.25), keras.layers.GRU(3), keras.layers.Dense(2)])
    ref.set_weights(model.get_weights())
    ref.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    ref.optimizer.build(ref.trainable_variables)
    for var, value in zip(ref.optimizer.variables, opt.variables):
        var.assign(np.asarray(value).astype(var.dtype))
    model.layers[1].rate = ref.layers[1].rate = 0.0     # same step: no random dropout masks
    x, y = _x(6), np.random.default_rng(5).normal(size=(6, 2)).astype("float32")
    before = model.get_weights()
    model.train_on_batch(x, y)
    ref.train_on_batch(x, y)
    for w0, a, b in zip(before, model.get_weights(), ref.get_weights()):
        # the steps themselves (about 1e-3), not just the weights, agree
        np.testing.assert_allclose(a - w0, b - w0, rtol=1e-3, atol=2e-8)


def test_tfkeras29_encoder_decoder_states():
    """Functional, with tf.keras 2's list-style inbound nodes: the decoder LSTM was called
    on [inputs, h, c] and gets them as initial_state."""
    pytest.importorskip("unrolled.models.functional")
    keras = require("keras")
    path = _file("tfkeras29_encoder_decoder.h5")
    model = load_model(path)
    enc_in, dec_in = keras.Input((T, F)), keras.Input((4, 2))
    _, h, c = keras.layers.LSTM(4, return_state=True)(enc_in)
    out = keras.layers.Dense(2)(keras.layers.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c]))
    ref = keras.Model([enc_in, dec_in], out)
    ref.set_weights(_stored(path, "lstm") + _stored(path, "lstm_1") + _stored(path, "dense"))
    xs = [_x(), _x(timesteps=4, features=2, seed=2)]
    np.testing.assert_allclose(model.predict(xs, verbose=0), ref.predict(xs, verbose=0), atol=1e-5)


# -- Keras 3's legacy saver, both ways ------------------------------------------------------
def _keras_sequential(keras):
    model = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(4, return_sequences=True),
                              keras.layers.GRU(3), keras.layers.Dense(2)])
    rng = np.random.default_rng(3)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype="float32") for w in model.get_weights()])
    return model


def test_keras3_legacy_h5_loads_with_optimizer_state(tmp_path):
    keras = require("keras")
    from keras.src.legacy.saving import legacy_h5_format

    ref = _keras_sequential(keras)
    ref.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x, y = _x(8), np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    ref.fit(x, y, epochs=2, batch_size=4, verbose=0)
    legacy_h5_format.save_model_to_hdf5(ref, str(tmp_path / "k.h5"))
    model = load_model(tmp_path / "k.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-5)
    ours = [np.asarray(v) for v in model.optimizer.variables]
    theirs = [np.asarray(v.numpy()) for v in ref.optimizer.variables]
    assert len(ours) == len(theirs) and model.optimizer.iterations == 4
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # training continues identically
    ref.train_on_batch(x, y)
    model.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_keras_loads_unrolled_h5_with_optimizer_state(tmp_path):
    keras = require("keras")
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((T, F)), LSTM(4, return_sequences=True),
                                 Dropout(0.2), SimpleRNN(3, return_sequences=True),
                                 GRU(3, reset_after=False), Dense(2)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x, y = _x(8), np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "u.h5")
    ref = keras.saving.load_model(str(tmp_path / "u.h5"))
    np.testing.assert_allclose(ref.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    # Keras 3.15's legacy loader builds the optimizer on the model's *own* variables
    # (none for a Sequential), so it keeps only iteration and learning_rate -- also from
    # its own .h5 files. What it keeps must match; unrolled reads the rest (below).
    theirs = [np.asarray(v.numpy()) for v in ref.optimizer.variables]
    ours = [np.asarray(v) for v in model.optimizer.variables]
    assert len(theirs) in (2, len(ours)) and int(theirs[0]) == 4
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    again = load_model(tmp_path / "u.h5")   # and back into unrolled, exactly
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(again.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a, b)


def test_fine_tune_a_keras2_file_and_hand_it_to_keras3(tmp_path):
    """Load a tf.keras 2 .h5, fit a few steps, save .keras, load in Keras 3: same predictions."""
    keras = require("keras")
    model = _load_quietly(_file("tfkeras29_sequential.h5"))
    x, y = _x(8), np.random.default_rng(4).normal(size=(8, 2)).astype("float32")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "tuned.keras")
    ref = keras.saving.load_model(str(tmp_path / "tuned.keras"))
    np.testing.assert_allclose(ref.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_a_keras2_hard_sigmoid_model_cannot_be_saved_for_keras3(tmp_path):
    model = _load_quietly(_file("keras224_lstm_hard_sigmoid.h5"))
    for name in ("m.keras", "m.h5"):
        with pytest.raises(ConfigError, match="legacy_hard_sigmoid.*Keras 3 does not have"):
            model.save(tmp_path / name)
    assert not os.listdir(tmp_path)


# -- refusals and broken files ----------------------------------------------------------------
def _rewrite_config(src: str, dst, edit) -> None:
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data)
    with h5py.File(dst, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config)
        h5.attrs["model_config"] = json.dumps(config).encode()


def test_every_blocker_is_listed_at_once(tmp_path):
    def edit(config):
        layers = config["config"]["layers"]
        layers[-1]["config"]["lora_rank"] = 4                       # an option: not yet
        layers.insert(2, {"class_name": "ConvLSTM2D", "config": {"name": "conv", "filters": 2}})
        layers.insert(3, {"class_name": "Lambda", "config": {"name": "lam", "function": "x"}})
        layers.insert(4, {"class_name": "MyAttention", "config": {"name": "mine"}})
        layers[1]["config"]["kernel_initializer"] = {
            "class_name": "Mine", "module": "my_pkg", "registered_name": "my_pkg>Mine", "config": {}}
    bad = tmp_path / "bad.h5"
    _rewrite_config(_file("tfkeras29_sequential.h5"), bad, edit)
    with pytest.raises(ModelFileError) as info:
        load_model(bad)
    text = str(info.value)
    not_yet, refused = text.split("refused on purpose:")
    assert "layer 'dense' (Dense): Dense: lora_rank is not supported by unrolled yet" in not_yet
    assert "layer 'conv' (ConvLSTM2D): Keras's ConvLSTM2D layer is not implemented in unrolled yet" in not_yet
    assert "layer 'lam' (Lambda): Lambda layers run code" in refused
    assert "'MyAttention' is not a Keras layer" in refused
    assert "layer 'lstm' (LSTM): uses custom objects: 'Mine'" in refused
    assert text.count("•") == 5


@pytest.mark.parametrize("case", ["weights_only", "bad_json", "layer_count", "weight_shape",
                                  "not_a_model", "soft_link"])
def test_broken_legacy_files(case, tmp_path):
    src, bad = _file("keras212_gru_simple_rnn.h5"), tmp_path / "bad.h5"
    with open(src, "rb") as f:
        bad.write_bytes(f.read())
    with h5py.File(bad, "a") as h5:
        if case == "weights_only":
            del h5.attrs["model_config"]
            message = "weights only"
        elif case == "bad_json":
            h5.attrs["model_config"] = b"{oops"
            message = "not valid JSON"
        elif case == "layer_count":
            h5["model_weights"].attrs["layer_names"] = np.asarray([b"gru_1", b"dense_1"])
            message = "holds weights for 2 layers"
        elif case == "weight_shape":
            del h5["model_weights/dense_1/dense_1/bias:0"]
            h5["model_weights/dense_1/dense_1/bias:0"] = np.zeros(3, "f4")
            message = r"shape \(3,\), expected \(1,\)"
        elif case == "not_a_model":
            h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": 7}).encode()
            message = "does not hold a serialized model"
        else:
            del h5["model_weights/dense_1/dense_1/bias:0"]
            h5["model_weights/dense_1/dense_1/bias:0"] = h5py.SoftLink("/model_weights/dense_1/dense_1/kernel:0")
            message = "SoftLink"
    with pytest.raises(ModelFileError, match=message):
        load_model(bad)


@pytest.mark.parametrize("name", ["seq2seq", "nested", "shared"])
def test_functional_h5_both_ways_with_keras3(name, tmp_path):
    """Graph models through the legacy format: Keras 3's legacy saver -> unrolled, and
    unrolled's .h5 -> Keras 3's load_model; same predictions, exact round trip."""
    keras = require("keras")
    from keras.src.legacy.saving import legacy_h5_format

    from tests.graph_reference import _flat, _like, random_inputs, set_same_weights
    from tests.test_functional_keras_parity import BUILDERS

    ours, theirs = BUILDERS[name](unrolled), BUILDERS[name](keras)
    set_same_weights(ours, theirs, np.random.default_rng(0))
    x = _like(ours.input, random_inputs(ours, np.random.default_rng(1), batch=3))
    legacy_h5_format.save_model_to_hdf5(theirs, str(tmp_path / "k.h5"))
    ours.save(tmp_path / "u.h5")
    from_keras = load_model(tmp_path / "k.h5")
    from_us = keras.saving.load_model(str(tmp_path / "u.h5"))
    expected = _flat(theirs.predict(x, verbose=0))
    for got in (from_keras.predict(x, verbose=0), from_us.predict(x, verbose=0), ours.predict(x, verbose=0)):
        for a, b in zip(_flat(got), expected):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    again = load_model(tmp_path / "u.h5")
    for a, b in zip(again.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)
