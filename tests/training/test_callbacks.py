"""Callbacks: hook order, EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, CSVLogger and
TerminateOnNaN, each against Keras 3's own callback fed the same logs where possible."""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled import callbacks as C
from unrolled.errors import ConfigError
from unrolled.layers import LSTM, Dense
from unrolled.training import optimizers as O
from unrolled.training.trainer import Trainer

T, F = 4, 2


@pytest.fixture(scope="module")
def keras():
    return require("keras")


def small_model(seed: int = 0):
    model = unrolled.Sequential([LSTM(3, input_shape=(T, F)), Dense(1)])
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype="float32") for w in model.get_weights()])
    return model


def keras_twin(keras, model):
    twin = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    twin.set_weights(model.get_weights())
    return twin


def data(n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, F)).astype("float32")
    return x, (x.sum(axis=(1, 2))[:, None] / 4).astype("float32")


class Dummy:
    """Stands in for a model when a callback is fed scripted logs."""

    def __init__(self, optimizer=None):
        self.stop_training = False
        self.optimizer = optimizer
        self.weights = [np.zeros(())]
        self.saved: list[str] = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.asarray(w).copy() for w in weights]

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(os.path.basename(filepath))

    save = save_weights


# -- hook order ---------------------------------------------------------------------------
HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin",
         "on_test_batch_end", "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
         "on_predict_batch_end"]


def recorder(base):
    """A callback class (subclass of ``base``) that records (hook, index, sorted log keys)."""
    def make(hook):
        def record(self, *args, logs=None):
            if args and (isinstance(args[-1], dict) or args[-1] is None) and logs is None:
                *args, logs = args
            self.events.append((hook, *args, tuple(sorted(logs or ()))))
        return record

    namespace = {hook: make(hook) for hook in HOOKS}
    namespace["__init__"] = lambda self: (base.__init__(self), setattr(self, "events", []))[0]
    return type("Recorder", (base,), namespace)


def test_hook_order_and_log_keys_match_keras(keras):
    ours = small_model()
    theirs = keras_twin(keras, ours)
    x, y = data(10)
    ours.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    theirs.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    r_ours, r_theirs = recorder(C.Callback)(), recorder(keras.callbacks.Callback)()
    for model, rec in ((ours, r_ours), (theirs, r_theirs)):
        model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0, callbacks=[rec])
        model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[rec])
    ours.predict(x, batch_size=4, verbose=0, callbacks=[r_ours])
    theirs.predict(x, batch_size=4, verbose=0, callbacks=[r_theirs])
    assert r_ours.events == r_theirs.events
    assert ("on_epoch_end", 0, ("loss", "mae", "val_loss", "val_mae")) in r_ours.events


def test_history_lambda_and_callback_list():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = data()
    ends = []
    cb = C.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append((epoch, sorted(logs))),
                          on_test_begin=lambda logs: ends.append("test"))
    h = model.fit(x, y, epochs=3, initial_epoch=1, validation_split=0.25, verbose=0, callbacks=[cb])
    assert ends == ["test", (1, ["loss", "val_loss"]), "test", (2, ["loss", "val_loss"])]
    assert h is model.history and h.epoch == [1, 2] and len(h.history["loss"]) == 2
    assert all(isinstance(v, float) for v in h.history["val_loss"])
    outputs = []
    grab = C.LambdaCallback(on_predict_batch_end=lambda batch, logs: outputs.append(logs["outputs"]))
    result = model.predict(x[:1], verbose=0, callbacks=[grab])   # a (1, 1) output stays an array
    assert len(outputs) == 1 and np.array_equal(outputs[0], result) and result.shape == (1, 1)
    with pytest.raises(ConfigError, match="Callback"):
        C.CallbackList([object()])


# -- EarlyStopping ------------------------------------------------------------------------
SCRIPTS = [
    [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6],
    [1.0, 1.0, 1.0, 1.0],
    [0.5, 0.6, 0.4, 0.45, 0.41, 0.39, 0.2, 0.3, 0.31],
    [3.0, 2.0, 1.0, 0.9, 0.85, 0.84, 0.839],
]
ES_CONFIGS = [
    dict(patience=0), dict(patience=1), dict(patience=2, restore_best_weights=True),
    dict(patience=1, min_delta=0.05), dict(patience=1, min_delta=-0.05),
    dict(patience=2, baseline=0.42), dict(patience=1, baseline=0.42, restore_best_weights=True),
    dict(patience=1, start_from_epoch=2, restore_best_weights=True),
    dict(patience=1, mode="max"), dict(patience=2, mode="max", min_delta=0.02),
]


def _run_scripted(cb, model, values, monitor="val_loss"):
    cb.set_model(model)
    cb.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        model.weights = [np.array(float(epoch))]         # "the weights after epoch k" = k
        cb.on_epoch_end(epoch, {monitor: value, "loss": 0.0})
        seen.append((epoch, getattr(cb, "wait", None), cb.best))
        if model.stop_training:
            break
    cb.on_train_end()
    return seen


@pytest.mark.parametrize("values", SCRIPTS)
@pytest.mark.parametrize("config", ES_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_early_stopping_decisions_match_keras(keras, values, config):
    ours, theirs = Dummy(), Dummy()
    a = _run_scripted(C.EarlyStopping(**config), ours, values)
    b = _run_scripted(keras.callbacks.EarlyStopping(**config), theirs, values)
    assert a == b
    assert ours.stop_training == theirs.stop_training
    assert ours.weights == theirs.weights            # the restored epoch, if any


def test_early_stopping_restores_the_best_epoch_weights():
    """Validation targets at 0.4x the training ones: val_loss falls, then rises."""
    model = small_model()
    model.compile(optimizer=O.Adam(0.01), loss="mse")
    x, y = data(48)
    snapshots = {}
    keep = C.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.__setitem__(e, model.get_weights()))
    stop = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x[:32], y[:32], batch_size=8, epochs=60, validation_data=(x[32:], 0.4 * y[32:]),
                  shuffle=False, verbose=0, callbacks=[keep, stop])
    losses = h.history["val_loss"]
    best = int(np.argmin(losses))
    assert best > 0 and stop.best_epoch == best
    assert stop.stopped_epoch == len(losses) - 1 == best + 2
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[best]))
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[len(losses) - 1]))


def test_early_stopping_stops_at_the_same_epoch_as_keras(keras):
    ours = small_model()
    theirs = keras_twin(keras, ours)
    x, y = data(32)
    results = []
    for model, es, opt in ((ours, C.EarlyStopping, O.Adam(0.01)),
                           (theirs, keras.callbacks.EarlyStopping, keras.optimizers.Adam(0.01))):
        model.compile(optimizer=opt, loss="mse")
        cb = es(monitor="loss", min_delta=10.0, patience=2, restore_best_weights=True)
        h = model.fit(x, y, batch_size=8, epochs=10, shuffle=False, verbose=0, callbacks=[cb])
        results.append((cb.stopped_epoch, cb.best_epoch, len(h.history["loss"])))
    assert results[0] == results[1] == (2, 0, 3)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ours.get_weights(), theirs.get_weights())) < 1e-5


def test_monitor_direction_and_missing_monitor():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = data()
    es = C.EarlyStopping(monitor="val_mae")
    model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, callbacks=[es])
    assert es.monitor_op(1.0, 2.0)                     # mae: lower is better
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.raises(ConfigError, match="mode='max'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[C.EarlyStopping(monitor="my_score")])
    with pytest.warns(UserWarning, match="not available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[C.EarlyStopping(monitor="val_loss")])


# -- ReduceLROnPlateau --------------------------------------------------------------------
@pytest.mark.parametrize("config", [
    dict(patience=1), dict(patience=2, cooldown=2), dict(patience=0, factor=0.5, min_lr=0.3),
    dict(patience=1, min_delta=0.1, cooldown=1), dict(patience=1, mode="max", factor=0.2),
], ids=str)
@pytest.mark.parametrize("values", SCRIPTS[:3])
def test_reduce_lr_on_plateau_matches_keras(keras, values, config):
    trails = []
    for cls, opt in ((C.ReduceLROnPlateau, O.SGD(1.0)), (keras.callbacks.ReduceLROnPlateau, keras.optimizers.SGD(1.0))):
        model, cb = Dummy(opt), cls(**config)
        cb.set_model(model)
        cb.on_train_begin()
        trail = []
        for epoch, value in enumerate(values):
            logs = {"val_loss": value}
            cb.on_epoch_end(epoch, logs)
            trail.append((float(opt.learning_rate), logs["learning_rate"], cb.wait, cb.cooldown_counter))
        trails.append(trail)
    np.testing.assert_allclose(np.array(trails[0]), np.array(trails[1]), rtol=1e-6)


def test_reduce_lr_on_plateau_in_fit_logs_the_rate():
    model = small_model()
    model.compile(optimizer=O.SGD(0.0), loss="mse")   # a frozen model never improves
    h = model.fit(*data(), epochs=4, verbose=0, callbacks=[C.ReduceLROnPlateau("loss", patience=1, factor=0.5)])
    np.testing.assert_allclose(h.history["learning_rate"], [0.0] * 4)
    model.compile(optimizer=O.SGD(1e-9), loss="mse")
    h = model.fit(*data(), epochs=4, verbose=0,
                  callbacks=[C.ReduceLROnPlateau("loss", patience=1, factor=0.5, min_delta=1.0)])
    # logged before the reduction that epoch triggers, as Keras does
    np.testing.assert_allclose(h.history["learning_rate"], [1e-9, 1e-9, 5e-10, 2.5e-10], rtol=1e-6)
    np.testing.assert_allclose(model.optimizer.learning_rate, 1.25e-10, rtol=1e-6)
    with pytest.raises(ConfigError, match="factor"):
        C.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler():
    model = small_model()
    model.compile(optimizer=O.SGD(0.1), loss="mse")
    h = model.fit(*data(), epochs=3, verbose=0,
                  callbacks=[C.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    np.testing.assert_allclose(h.history["learning_rate"], [0.05, 0.025, 0.0125], rtol=1e-6)


# -- ModelCheckpoint ----------------------------------------------------------------------
@pytest.mark.parametrize("config", [
    dict(), dict(save_best_only=True), dict(save_best_only=True, mode="max"),
    dict(save_best_only=True, initial_value_threshold=0.5), dict(save_freq=3),
], ids=str)
def test_model_checkpoint_decisions_and_names_match_keras(keras, tmp_path, config):
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.weights.h5")
    if config.get("save_freq"):
        pattern = str(tmp_path / "ckpt-{epoch:02d}-{batch:03d}.weights.h5")
    saved = []
    for cls in (C.ModelCheckpoint, keras.callbacks.ModelCheckpoint):
        model, cb = Dummy(), cls(pattern, save_weights_only=True, **config)
        cb.set_model(model)
        cb.on_train_begin()
        for epoch, value in enumerate(SCRIPTS[2]):
            cb.on_epoch_begin(epoch)
            for step in range(2):
                cb.on_train_batch_end(step, {"loss": value})
            cb.on_epoch_end(epoch, {"loss": value, "val_loss": value})
        saved.append(model.saved)
    assert saved[0] == saved[1] and saved[0]
    if not config:
        assert saved[0][:2] == ["ckpt-01-0.50.weights.h5", "ckpt-02-0.60.weights.h5"]


def test_model_checkpoint_filepath_checks(tmp_path):
    with pytest.raises(ConfigError, match=".weights.h5"):
        C.ModelCheckpoint(tmp_path / "w.h5", save_weights_only=True)
    with pytest.raises(ConfigError, match=".keras"):
        C.ModelCheckpoint(tmp_path / "m.txt")
    cb = C.ModelCheckpoint(str(tmp_path / "{epoch}-{nope}.keras"))
    cb.set_model(Dummy())
    with pytest.raises(KeyError, match="nope"):
        cb.on_epoch_end(0, {"loss": 1.0})


@contextlib.contextmanager
def _failing_after(real_atomic_write, path, budget: int):
    """Like unrolled.io.atomic.atomic_write, but the writer dies after ``budget`` bytes."""
    with real_atomic_write(path) as f:
        class Dying:
            written = 0

            def write(self, data):
                if self.written + len(data) > budget:
                    f.write(bytes(data)[:max(budget - self.written, 0)])
                    raise OSError("disk unplugged mid-write")
                self.written += len(data)
                return f.write(data)

            def __getattr__(self, name):
                return getattr(f, name)
        yield Dying()


@pytest.mark.parametrize("weights_only", [True, False])
def test_checkpoint_interrupted_mid_write_keeps_the_previous_file(tmp_path, monkeypatch, weights_only):
    """A real checkpoint, then a write that raises halfway through; the previous
    checkpoint must still load, and no temp file stays."""
    from unrolled.io import atomic, keras_file
    from unrolled.models import saving
    path = tmp_path / ("ckpt.weights.h5" if weights_only else "ckpt.keras")
    model = small_model()
    model.compile(optimizer=O.Adam(0.01), loss="mse")
    x, y = data()
    after_first = {}
    epochs_done = C.LambdaCallback(on_epoch_end=lambda e, logs: after_first.setdefault(e, model.get_weights()))
    ckpt = C.ModelCheckpoint(path, monitor="loss", save_weights_only=weights_only)

    def dying_write_bytes(p, data):
        with _failing_after(atomic.atomic_write, p, 200) as f:
            f.write(data)

    def break_the_writer(epoch, logs):
        if epoch == 0:   # the first checkpoint is written; make the second one die mid-write
            monkeypatch.setattr(keras_file, "atomic_write", lambda p: _failing_after(atomic.atomic_write, p, 200))
            monkeypatch.setattr(saving, "atomic_write_bytes", dying_write_bytes)
    breaker = C.LambdaCallback(on_epoch_end=break_the_writer)
    with pytest.raises(OSError, match="mid-write"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[epochs_done, ckpt, breaker])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [path.name]
    restored = small_model(seed=9)
    if weights_only:
        restored.load_weights(path)
    else:
        restored = saving.load_model(path)
    assert all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), after_first[0]))


def test_checkpoint_writes_real_files(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="mse")
    cb = C.ModelCheckpoint(tmp_path / "sub" / "m-{epoch:02d}.keras", monitor="loss", save_best_only=True)
    model.fit(*data(), epochs=2, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path / "sub")) == ["m-01.keras", "m-02.keras"]


# -- CSVLogger ----------------------------------------------------------------------------
@pytest.mark.parametrize("with_val", [True, False])
def test_csv_logger_writes_what_keras_writes(keras, tmp_path, with_val):
    texts = []
    for name, cls in (("ours.csv", C.CSVLogger), ("keras.csv", keras.callbacks.CSVLogger)):
        for append in (False, True):                       # a second run appends, no header
            cb = cls(tmp_path / name, separator=";", append=append)
            cb.set_model(Dummy())
            cb.on_train_begin()
            for epoch in range(2):
                logs = {"loss": 0.5 / (epoch + 1), "mae": 0.25}
                if with_val:
                    logs["val_loss"] = 0.75
                cb.on_epoch_end(epoch, logs)
            cb.on_train_end()
        texts.append((tmp_path / name).read_text())
    assert texts[0] == texts[1]
    assert texts[0].splitlines()[0].startswith("epoch;loss;mae;val_")


# -- TerminateOnNaN -----------------------------------------------------------------------
def _poisoned(where: str):
    """40 samples with one NaN in sample 27 (batch 3 in batches of 8), in x or in y."""
    x, y = data(40)
    if where == "x":
        x[27, 2, 1] = np.nan
    else:
        y[27, 0] = np.nan
    return x, y


@pytest.mark.parametrize("where", ["x", "y"])
def test_terminate_on_nan_stops_and_keeps_the_weights_from_before_the_bad_step(capsys, where):
    model = small_model()
    model.compile(optimizer=O.Adam(0.01), loss="mse")
    x, y = _poisoned(where)
    before_batch = {}
    snap = C.LambdaCallback(on_train_batch_begin=lambda b, logs: before_batch.__setitem__(b, model.get_weights()))
    h = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                  callbacks=[snap, C.TerminateOnNaN()])
    assert h.epoch == [0] and np.isnan(h.history["loss"][0])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before_batch[3]))
    assert model.optimizer.iterations == 3 and all(np.isfinite(v).all() for v in model.optimizer_variables())
    assert "batch 3: invalid loss (nan), terminating training" in capsys.readouterr().out
    model.fit(x[:24], y[:24], batch_size=8, verbose=0)   # still trainable afterwards
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("where", ["x", "y"])
def test_terminate_on_nan_raise_error_and_keras_stops_at_the_same_batch(keras, where):
    ours = small_model()
    theirs = keras_twin(keras, ours)
    x, y = _poisoned(where)
    steps = []
    for model, cb, base, opt in ((ours, C.TerminateOnNaN(), C.Callback, O.SGD(0.01)),
                                 (theirs, keras.callbacks.TerminateOnNaN(), keras.callbacks.Callback,
                                  keras.optimizers.SGD(0.01))):
        rec = recorder(base)()
        model.compile(optimizer=opt, loss="mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[cb, rec])
        steps.append([e[:2] for e in rec.events if e[0] == "on_train_batch_end"])
    assert steps[0] == steps[1] == [("on_train_batch_end", k) for k in range(4)]
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(RuntimeError, match="invalid loss"):
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[C.TerminateOnNaN(raise_error=True)])
