"""compile / fit / evaluate / train_on_batch against Keras 3 (torch backend), plus seeding,
data handling, input errors and the progress display.

Every comparison starts from the same random non-zero weights in both models.
"""
from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import LSTM, Dense, Dropout
from unrolled.training import optimizers as O
from unrolled.training.trainer import BatchIterator, Trainer

T, F, H = 6, 3, 4


@pytest.fixture(scope="module")
def keras():
    return require("keras")


def twin_models(keras, kind: str, seed: int = 1):
    """The same architecture in unrolled and Keras, with the same non-zero weights."""
    K = keras.layers
    if kind == "lstm_dense":
        ours = unrolled.Sequential([LSTM(H, input_shape=(T, F)), Dense(2)])
        theirs = [K.LSTM(H), K.Dense(2)]
    elif kind == "stacked":
        ours = unrolled.Sequential([LSTM(H, return_sequences=True, input_shape=(T, F)), LSTM(3), Dense(1)])
        theirs = [K.LSTM(H, return_sequences=True), K.LSTM(3), K.Dense(1)]
    elif kind == "per_timestep":
        ours = unrolled.Sequential([LSTM(H, return_sequences=True, input_shape=(T, F)), Dense(1)])
        theirs = [K.LSTM(H, return_sequences=True), K.Dense(1)]
    else:
        raise ValueError(kind)
    theirs = keras.Sequential([keras.Input((T, F))] + theirs)
    rng = np.random.default_rng(seed)
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def batch(model, n: int = 5, seed: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, F)).astype("float32")
    y = rng.normal(size=model(x).shape).astype("float32")
    return x, y


def max_weight_diff(ours, theirs) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours.get_weights(), theirs.get_weights()))


OPTIMIZERS = {
    "sgd_momentum_nesterov": (lambda: O.SGD(0.1, momentum=0.9, nesterov=True),
                              lambda k: k.optimizers.SGD(0.1, momentum=0.9, nesterov=True)),
    "adam": (lambda: O.Adam(0.01), lambda k: k.optimizers.Adam(0.01)),
    "rmsprop": (lambda: O.RMSprop(0.01), lambda k: k.optimizers.RMSprop(0.01)),
    "adagrad": (lambda: O.Adagrad(0.1), lambda k: k.optimizers.Adagrad(0.1)),
    "adamw": (lambda: O.AdamW(0.01), lambda k: k.optimizers.AdamW(0.01)),
    "sgd_clipnorm": (lambda: O.SGD(0.1, clipnorm=0.05), lambda k: k.optimizers.SGD(0.1, clipnorm=0.05)),
}
KINDS = ["lstm_dense", "stacked", "per_timestep"]


# -- one step, many steps -------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_train_on_batch_loss_and_weights_match_keras(keras, kind, opt):
    ours, theirs = twin_models(keras, kind)
    make_ours, make_theirs = OPTIMIZERS[opt]
    ours.compile(optimizer=make_ours(), loss="mse")
    theirs.compile(optimizer=make_theirs(keras), loss="mse")
    x, y = batch(ours)
    start = ours.get_weights()
    loss_ours, loss_theirs = ours.train_on_batch(x, y), theirs.train_on_batch(x, y)
    assert isinstance(loss_ours, float)
    assert abs(loss_ours - loss_theirs) <= 1e-5 * abs(loss_theirs)
    assert max_weight_diff(ours, theirs) <= 1e-5
    assert all(not np.array_equal(a, b) for a, b in zip(start, ours.get_weights()))


@pytest.mark.parametrize("kind", KINDS)
def test_twenty_adam_steps_match_keras(keras, kind):
    ours, theirs = twin_models(keras, kind)
    ours.compile(optimizer=O.Adam(0.01), loss="mse")
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    start = ours.get_weights()
    x, y = batch(ours, n=7)
    for _ in range(20):
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    assert max_weight_diff(ours, theirs) <= 1e-4
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(start, ours.get_weights())) > 1e-2
    assert ours.optimizer.iterations == 20


def test_train_and_test_on_batch_return_forms_match_keras(keras):
    ours, theirs = twin_models(keras, "lstm_dense")
    for m, opt in ((ours, O.SGD(0.05)), (theirs, keras.optimizers.SGD(0.05))):
        m.compile(optimizer=opt, loss="mse", metrics=["mae"], loss_weights=0.5)
    x, y = batch(ours)
    sw = np.linspace(0.5, 2.0, len(x)).astype("float32")
    a, b = ours.train_on_batch(x, y, sample_weight=sw), theirs.train_on_batch(x, y, sample_weight=sw)
    assert isinstance(a, list) and len(a) == 2
    np.testing.assert_allclose(a, b, rtol=1e-5)
    a = ours.test_on_batch(x, y, return_dict=True)
    b = theirs.test_on_batch(x, y, return_dict=True)
    assert list(a) == list(b) == ["loss", "mae"]
    np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-5)


def test_class_weight_matches_keras(keras):
    ours, theirs = twin_models(keras, "lstm_dense")
    x, _ = batch(ours, n=9)
    first = (np.arange(9) % 3 == 0).astype("float32")
    y = np.stack([first, 1 - first], axis=1)          # one-hot: the class is the argmax
    for m, opt in ((ours, O.Adam(0.01)), (theirs, keras.optimizers.Adam(0.01))):
        m.compile(optimizer=opt, loss="mse", metrics=["mae"])
    cw = {0: 0.3, 1: 2.5}
    a = ours.train_on_batch(x, y, class_weight=cw)
    b = theirs.train_on_batch(x, y, class_weight=cw)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert max_weight_diff(ours, theirs) <= 1e-5


# -- fit / evaluate -------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_history_matches_keras(keras, weighted):
    """shuffle=False, 33 training samples in batches of 8 (a partial last batch of 1),
    validation_split=0.25 of 45 samples, 2 epochs."""
    ours, theirs = twin_models(keras, "lstm_dense")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(45, T, F)).astype("float32")
    y = rng.normal(size=(45, 2)).astype("float32")
    kwargs = dict(batch_size=8, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
    compile_kwargs = dict(loss="mse", metrics=["mae"])
    if weighted:
        kwargs["sample_weight"] = rng.uniform(0.2, 2.0, size=45).astype("float32")
        compile_kwargs["weighted_metrics"] = ["mse"]
    ours.compile(optimizer=O.Adam(0.01), **compile_kwargs)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), **compile_kwargs)
    h_ours, h_theirs = ours.fit(x, y, **kwargs), theirs.fit(x, y, **kwargs)
    assert h_ours is ours.history
    assert list(h_ours.history) == list(h_theirs.history)
    assert {"loss", "mae", "val_loss", "val_mae"} <= set(h_ours.history)
    for key, values in h_theirs.history.items():
        np.testing.assert_allclose(h_ours.history[key], values, rtol=1e-4, err_msg=key)
    assert h_ours.epoch == h_theirs.epoch == [0, 1]
    assert h_ours.params == h_theirs.params == {"verbose": 0, "epochs": 2, "steps": 5}
    assert max_weight_diff(ours, theirs) <= 1e-5
    # evaluate: a different batch size, so another partial batch
    a = ours.evaluate(x, y, batch_size=7, verbose=0, sample_weight=kwargs.get("sample_weight"))
    b = theirs.evaluate(x, y, batch_size=7, verbose=0, sample_weight=kwargs.get("sample_weight"))
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_predict_matches_keras(keras):
    ours, theirs = twin_models(keras, "stacked")
    x, _ = batch(ours, n=70)
    np.testing.assert_allclose(ours.predict(x, batch_size=16, verbose=0),
                               theirs.predict(x, batch_size=16, verbose=0), atol=1e-6)


def test_loss_is_the_size_weighted_mean_of_batch_losses():
    """Keras's running loss weighs each batch by its size: check by hand on a frozen model."""
    model = unrolled.Sequential([LSTM(2, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=O.SGD(0.0), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, T, F)).astype("float32"), rng.normal(size=(10, 1)).astype("float32")
    per_batch = [(model.test_on_batch(x[i:i + 4], y[i:i + 4]), len(x[i:i + 4])) for i in (0, 4, 8)]
    expected = sum(v * n for v, n in per_batch) / 10
    h = model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], expected, rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, verbose=0), expected, rtol=1e-6)


def test_validation_split_holds_out_the_last_samples():
    model = unrolled.Sequential([LSTM(2, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=O.SGD(0.0), loss="mse")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, T, F)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    h = model.fit(x, y, batch_size=4, validation_split=0.3, verbose=0)  # shuffled training part
    np.testing.assert_allclose(h.history["val_loss"][0], model.evaluate(x[14:], y[14:], verbose=0), rtol=1e-6)
    np.testing.assert_allclose(h.history["loss"][0], model.evaluate(x[:14], y[:14], verbose=0), rtol=1e-6)
    h = model.fit(x, y, validation_data=(x[:5], y[:5]), validation_split=0.5, verbose=0)
    np.testing.assert_allclose(h.history["val_loss"][0], model.evaluate(x[:5], y[:5], verbose=0), rtol=1e-6)


def test_batches_shuffle_every_epoch_and_keep_the_partial_batch():
    it = BatchIterator(10, 4, shuffle=True, rng=np.random.default_rng(0))
    epochs = [[idx for _, idx in it.epoch()] for _ in range(3)]
    for e in epochs:
        assert [len(i) for i in e] == [4, 4, 2]
        assert sorted(np.concatenate(e).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1]))
    plain = [idx for _, idx in BatchIterator(10, 4, shuffle=False).epoch()]
    assert plain == [slice(0, 4), slice(4, 8), slice(8, 10)]
    inside = [idx for _, idx in BatchIterator(10, 4, shuffle="batch", rng=np.random.default_rng(0)).epoch()]
    assert [sorted(i.tolist()) for i in inside] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_steps_per_epoch_continues_through_the_data_like_keras():
    it = BatchIterator(10, 2, shuffle=False, steps_per_epoch=2)   # 5 batches in all
    runs = [[idx.start for _, idx in it.epoch()] for _ in range(2)]
    assert runs == [[0, 2], [4, 6]]
    with pytest.warns(UserWarning, match="ran out of data"):
        assert [idx.start for _, idx in it.epoch()] == [8]
    assert [idx.start for _, idx in it.epoch()] == [0, 2]
    assert BatchIterator(10, None, steps_per_epoch=3).batch_size == 4


# -- seeding and learning ---------------------------------------------------------------
def _seeded_run():
    unrolled.set_random_seed(123)
    model = unrolled.Sequential([LSTM(4, input_shape=(T, F)), Dropout(0.3), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(37, T, F)).astype("float32"), rng.normal(size=(37, 1)).astype("float32")
    h = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0)
    return h.history, model.get_weights()


def test_seeded_fit_is_bit_identical():
    (h1, w1), (h2, w2) = _seeded_run(), _seeded_run()
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_tiny_lstm_learns_the_sum_of_its_inputs():
    """The seed question's model, LSTM(1) on (T, 2): learn sum(x) / (2T) over T=5 steps."""
    unrolled.set_random_seed(0)
    steps = 5
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(256, steps, 2)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None] / (2 * steps)
    model = unrolled.Sequential([LSTM(1, input_shape=(steps, 2))])
    model.compile(optimizer=O.Adam(0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=32, epochs=60, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert before / after >= 100, (before, after)


# -- input validation -------------------------------------------------------------------
def _model():
    return unrolled.Sequential([LSTM(2, input_shape=(T, F)), Dense(1)])


def test_fit_before_compile_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"compile\(\)"):
        _model().fit(np.zeros((4, T, F)), np.zeros((4, 1)))


def test_compile_without_loss_cannot_fit():
    model = _model()
    model.compile(optimizer="sgd")
    with pytest.raises(ConfigError, match="No loss"):
        model.fit(np.zeros((4, T, F)), np.zeros((4, 1)), verbose=0)


def test_x_y_length_mismatch_names_both_lengths():
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(InputShapeError, match=r"x has 10 .*y has 9"):
        model.fit(np.zeros((10, T, F)), np.zeros((9, 1)), verbose=0)
    with pytest.raises(InputShapeError, match="sample_weight"):
        model.fit(np.zeros((10, T, F)), np.zeros((10, 1)), sample_weight=np.ones(3), verbose=0)
    with pytest.raises(InputShapeError, match="swapped"):
        model.fit(np.zeros((10, F, T)), np.zeros((10, 1)), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size"), (dict(epochs=-1), "epochs"),
    (dict(validation_split=0.95), "not sufficient"), (dict(validation_split=1.5), "validation_split"), (dict(shuffle="yes"), "shuffle"),
    (dict(validation_data=[1, 2, 3, 4]), "validation_data"),
])
def test_bad_fit_arguments(kwargs, match):
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ConfigError, match=match):
        model.fit(np.zeros((10, T, F)), np.zeros((10, 1)), verbose=0, **kwargs)


def test_compile_argument_checks():
    model = _model()
    with pytest.raises(ConfigError, match="list or tuple"):
        model.compile(optimizer="sgd", loss="mse", metrics="mae")
    with pytest.raises(ConfigError, match="steps_per_execution"):
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=4)
    with pytest.raises(ConfigError, match="loss_weights"):
        model.compile(optimizer="sgd", loss="mse", loss_weights=[1.0, 2.0])


def test_optimizer_variables_and_compile_config_round_trip():
    model = _model()
    assert model.optimizer_variables() == []
    model.compile(optimizer=O.Adam(0.02), loss="mse", metrics=["mae"])
    model.train_on_batch(np.ones((3, T, F)), np.ones((3, 1)))
    n_weights = len(model.trainable_weights)
    assert len(model.optimizer_variables()) == 2 + 2 * n_weights   # iteration, lr, m, v
    assert "Optimizer params" in model.summary(return_string=True)
    config = model.get_compile_config()
    assert config["loss"] == "mse" and config["metrics"] == ["mae"]
    assert config["optimizer"]["class_name"] == "Adam"
    other = _model()
    other.compile_from_config(config)
    assert other.optimizer.get_config() == model.optimizer.get_config()


def test_save_and_load_through_unrolled_io(tmp_path):
    """Through unrolled.models.saving (save_model / load_model / save_weights / load_weights)."""
    from unrolled.models import saving as keras_file
    model = _model()
    model.compile(optimizer=O.Adam(0.02), loss="mse")
    x, y = np.ones((4, T, F), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras_file.load_model(tmp_path / "m.keras")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
    assert [float(v) for v in loaded.optimizer_variables()[:1]] == [2.0]
    a, b = model.train_on_batch(x, y), loaded.train_on_batch(x, y)
    assert a == b
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = _model()
    fresh.load_weights(tmp_path / "w.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)


# -- progress display -------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _fit_output(monkeypatch, stream, verbose, epochs=2):
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.delenv("NO_COLOR", raising=False)
    model = _model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, T, F)), rng.normal(size=(40, 1))
    model.fit(x, y, batch_size=4, epochs=epochs, validation_split=0.25, verbose=verbose)
    return stream.getvalue()


def test_progress_bar_on_a_terminal(monkeypatch):
    out = _fit_output(monkeypatch, FakeTTY(), verbose="auto")
    assert out.count("Epoch 1/2\n") == 1 and "Epoch 2/2\n" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "\x1b[32m━" in out                       # the coloured bar, as Keras draws it
    assert "\r" in out                              # redrawn in place
    finals = [line.split("\r")[-1] for line in plain.split("\n") if "val_loss" in line]
    assert len(finals) == 2
    assert re.fullmatch(r"8/8 ━{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - mae: \d\.\d{4}"
                        r" - val_loss: \d\.\d{4} - val_mae: \d\.\d{4}\s*", finals[0]), finals[0]
    assert re.search(r"\r\d/8 ━+ \d+s \d+(us|ms|s)/step - loss: ", plain)   # a live update with ETA


def test_one_line_per_epoch_off_a_terminal(monkeypatch):
    out = _fit_output(monkeypatch, io.StringIO(), verbose="auto")    # "auto" -> 2 here
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"8/8 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4} - mae: \d\.\d{4}"
                        r" - val_loss: \d\.\d{4} - val_mae: \d\.\d{4}", lines[1]), lines[1]
    assert "\x1b" not in out and "\r" not in out
    out1 = _fit_output(monkeypatch, io.StringIO(), verbose=1, epochs=1)  # bar, final line only
    assert len(out1.splitlines()) == 1 and re.match(r"8/8 ━{20} \d+s ", out1)


def test_verbose_zero_is_silent_and_evaluate_has_its_own_bar(monkeypatch, capsys):
    assert _fit_output(monkeypatch, io.StringIO(), verbose=0) == ""
    monkeypatch.undo()
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    model.evaluate(np.zeros((5, T, F)), np.zeros((5, 1)), verbose=2)
    assert re.fullmatch(r"1/1 - \d+s - \d+(us|ms|s)/step - loss: \S+\n", capsys.readouterr().out)
