"""``.keras`` files of graph models (``Model(inputs, outputs)``) both ways with real Keras 3:
the same HDF5 weight tree as Keras writes, predictions, optimizer state and continued
training, for a chain, two inputs, an encoder-decoder with states, a shared layer with two
outputs, nested models (Functional and Sequential inside) and a masked model."""
from __future__ import annotations

import io
import zipfile

import h5py
import numpy as np
import pytest

import unrolled
from tests.graph_reference import _flat, _like, random_inputs, set_same_weights
from tests.peers import require
from tests.test_functional_keras_parity import chain, masked, nested, seq2seq, shared, two_inputs
from unrolled.models.saving import load_model

BUILDERS = {f.__name__: f for f in (chain, two_inputs, seq2seq, shared, nested, masked)}


def _tree(path) -> dict[str, tuple]:
    """Every group and dataset of a .keras file's model.weights.h5: path -> shape or attrs."""
    with zipfile.ZipFile(path) as zf:
        data = zf.read("model.weights.h5")
    out: dict[str, tuple] = {}
    with h5py.File(io.BytesIO(data), "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(
            name, obj.shape if isinstance(obj, h5py.Dataset) else ("group",)))
    return out


def _data(model, seed: int):
    rng = np.random.default_rng(seed)
    xs = random_inputs(model, rng, batch=4)
    outs = _flat(model.predict(_like(model.input, xs), verbose=0))
    ys = [rng.normal(size=o.shape).astype("float32") for o in outs]
    return _like(model.input, xs), _like(model.output, ys)


def _trained_pair(name: str, tmp_path):
    """The same model in unrolled and Keras (same random weights), both compiled with
    Adam and trained two steps on the same data."""
    keras = require("keras")
    ours, theirs = BUILDERS[name](unrolled), BUILDERS[name](keras)
    set_same_weights(ours, theirs, np.random.default_rng(0))
    x, y = _data(ours, 1)
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    return ours, theirs, x, y


def _assert_same_state(a, b, x, atol=1e-5):
    for p, q in zip(_flat(a.predict(x, verbose=0)), _flat(b.predict(x, verbose=0))):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), atol=atol)
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for p, q in zip(wa, wb):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), atol=atol)
    va = [np.asarray(getattr(v, "numpy", lambda v=v: v)()) for v in a.optimizer.variables]
    vb = [np.asarray(getattr(v, "numpy", lambda v=v: v)()) for v in b.optimizer.variables]
    assert len(va) == len(vb) > 2
    for p, q in zip(va, vb):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_unrolled_writes_the_weight_tree_keras_writes(name, tmp_path):
    ours, theirs, _, _ = _trained_pair(name, tmp_path)
    ours.save(tmp_path / "ours.keras")
    theirs.save(str(tmp_path / "theirs.keras"))
    assert _tree(tmp_path / "ours.keras") == _tree(tmp_path / "theirs.keras")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_keras_file_from_keras_loads_predicts_and_keeps_training(name, tmp_path):
    _, theirs, x, y = _trained_pair(name, tmp_path)
    theirs.save(str(tmp_path / "k.keras"))
    loaded = load_model(tmp_path / "k.keras")
    assert type(loaded).__name__ == "Functional"
    _assert_same_state(loaded, theirs, x)
    loaded.train_on_batch(x, y)
    theirs.train_on_batch(x, y)
    _assert_same_state(loaded, theirs, x)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_keras_loads_unrolled_file_predicts_and_keeps_training(name, tmp_path):
    keras = require("keras")
    ours, _, x, y = _trained_pair(name, tmp_path)
    ours.save(tmp_path / "u.keras")
    loaded = keras.saving.load_model(str(tmp_path / "u.keras"))
    _assert_same_state(ours, loaded, x)
    ours.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    _assert_same_state(ours, loaded, x)


def test_refusals_inside_nested_models_are_listed_with_the_rest(tmp_path):
    """A Keras Functional file whose nested model holds a Lambda, whose outer graph has a
    Keras operation unrolled does not replay and a custom layer: one error lists all three."""
    import json

    keras = require("keras")
    nested(keras).save(str(tmp_path / "k.keras"))
    with zipfile.ZipFile(tmp_path / "k.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    layers = config["config"]["layers"]
    inner = next(item for item in layers if item["class_name"] == "Functional")
    inner["config"]["layers"].append({"module": "keras.layers", "class_name": "Lambda",
                                      "registered_name": None, "config": {"name": "lam"}})
    layers.append({"module": "keras.src.ops.numpy", "class_name": "Cumsum",
                   "registered_name": "Cumsum", "config": {"name": "cumsum"}})
    layers.append({"module": "my_pkg", "class_name": "Gate", "registered_name": "my_pkg>Gate",
                   "config": {"name": "gate"}})
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(unrolled.ModelFileError) as info:
        load_model(tmp_path / "bad.keras")
    text = str(info.value)
    not_yet, refused = text.split("refused on purpose:")
    assert "layer 'cumsum' (Cumsum): the Keras operation Cumsum (keras.src.ops.numpy) is not replayed" in not_yet
    assert "layer 'lam' (Lambda): Lambda layers run code" in refused
    assert "layer 'gate' (Gate): uses custom objects: 'Gate'" in refused
    assert text.count("•") == 3
