"""Bidirectional against Keras 3 (outputs, every weight gradient, input and initial-state
gradients), against PyTorch's bidirectional LSTM/GRU, and by float64 finite differences."""
from __future__ import annotations

import json

import numpy as np
import pytest

import unrolled
from unrolled.core import gates
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import GRU, LSTM, Bidirectional, SimpleRNN

from ..peers import require
from ..reference import assert_same, keras_layer_sides, nonzero_uniform, numeric_gradient

CLASSES = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


def pair(cls_name, config, shape, merge_mode="concat", seed=0, dtype="float32", backward=None):
    """An unrolled and a Keras Bidirectional with the same random non-zero weights."""
    keras = require("keras")
    ours = Bidirectional(CLASSES[cls_name](**config, dtype=dtype), merge_mode=merge_mode,
                         backward_layer=None if backward is None
                         else CLASSES[cls_name](**backward, dtype=dtype))
    ours.build((None,) + shape)
    theirs = keras.layers.Bidirectional(
        getattr(keras.layers, cls_name)(**config, dtype=dtype), merge_mode=merge_mode,
        backward_layer=None if backward is None else getattr(keras.layers, cls_name)(**backward, dtype=dtype))
    theirs.build((None,) + shape)
    rng = np.random.default_rng(seed)
    weights = [nonzero_uniform(rng, w.shape, dtype=dtype) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]
    return ours, theirs


CASES = [
    ("LSTM", dict(units=3), "concat", (2, 4, 3)),
    ("LSTM", dict(units=3, return_sequences=True), "concat", (2, 4, 3)),
    ("LSTM", dict(units=2, return_sequences=True, return_state=True), "sum", (2, 3, 2)),
    ("LSTM", dict(units=2, return_state=True), "mul", (1, 1, 2)),
    ("LSTM", dict(units=2, return_sequences=True), "ave", (1, 3, 2)),
    ("LSTM", dict(units=2, return_sequences=True, return_state=True), None, (2, 3, 2)),
    ("LSTM", dict(units=2), None, (2, 1, 3)),
    ("GRU", dict(units=3, return_sequences=True), "concat", (2, 4, 2)),
    ("GRU", dict(units=2, return_state=True, reset_after=False), "mul", (2, 3, 2)),
    ("GRU", dict(units=2, return_sequences=True, return_state=True), None, (1, 1, 2)),
    ("SimpleRNN", dict(units=3, return_sequences=True), "ave", (2, 4, 2)),
    ("SimpleRNN", dict(units=2, return_state=True), "concat", (2, 3, 2)),
]


@pytest.mark.parametrize("cls_name,config,merge_mode,shape", CASES)
def test_matches_keras(cls_name, config, merge_mode, shape):
    ours, theirs = pair(cls_name, config, shape[1:], merge_mode)
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    sides = keras_layer_sides(ours, theirs, x)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5, may_be_zero=True if shape[1] == 1 else ())
    called = ours(x)
    called = called if isinstance(called, list) else [called]
    for k, value in enumerate(called):
        np.testing.assert_allclose(value, sides.ours[f"output[{k}]"], atol=1e-6)


@pytest.mark.parametrize("cls_name,n_states", [("LSTM", 4), ("GRU", 2), ("SimpleRNN", 2)])
def test_initial_state_split_in_halves(cls_name, n_states):
    ours, theirs = pair(cls_name, dict(units=3, return_sequences=True, return_state=True),
                        (4, 2), "concat", seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 2)).astype("float32")
    states = [rng.standard_normal((2, 3)).astype("float32") for _ in range(n_states)]
    sides = keras_layer_sides(ours, theirs, x, initial_state=states)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("where", ["end", "middle"])
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_mask_matches_keras(cls_name, where, return_sequences):
    ours, theirs = pair(cls_name, dict(units=3, return_sequences=return_sequences,
                                       return_state=True), (5, 2), "concat", seed=5)
    x = np.random.default_rng(6).standard_normal((3, 5, 2)).astype("float32")
    mask = np.ones((3, 5), bool)
    if where == "end":
        mask[0, 3:] = False
        mask[2, 1:] = False
    else:
        mask[0, 2] = False
        mask[1, 1:3] = False
    sides = keras_layer_sides(ours, theirs, x, mask=mask)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5)
    assert ours.compute_mask(x, mask)[0] is (mask if return_sequences else None)


def test_explicit_backward_layer():
    ours, theirs = pair("LSTM", dict(units=2, return_sequences=True), (3, 2), "concat",
                        backward=dict(units=3, return_sequences=True, go_backwards=True,
                                      activation="relu"))
    x = np.random.default_rng(2).standard_normal((2, 3, 2)).astype("float32")
    assert_same(keras_layer_sides(ours, theirs, x), atol=2e-6, grad_rtol=2e-5)
    assert ours.compute_output_shape((None, 3, 2)) == (None, 3, 5)


@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
def test_finite_differences_float64(merge_mode):
    layer = Bidirectional(LSTM(2, return_sequences=True, return_state=True, dtype="float64"),
                          merge_mode=merge_mode, dtype="float64")
    layer.build((None, 3, 2))
    rng = np.random.default_rng(7)
    layer.set_weights([nonzero_uniform(rng, w.shape) for w in layer.get_weights()])
    x = rng.standard_normal((2, 3, 2))
    mask = np.array([[True, True, False], [True, False, True]])
    states = [rng.standard_normal((2, 2)) for _ in range(4)]
    out, cache = layer.forward(x, initial_state=states, mask=mask)
    cot = [rng.standard_normal(o.shape) for o in out]

    def loss():
        o = layer.forward(x, initial_state=states, mask=mask)[0]
        return float(sum((a * r).sum() for a, r in zip(o, cot)))

    dx, grads, d_init = layer.backward_with_states(cot, cache)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-8)
    for w, g in zip(layer.weights, grads):
        np.testing.assert_allclose(g, numeric_gradient(loss, w), rtol=1e-6, atol=1e-8)
    for s, g in zip(states, d_init):
        np.testing.assert_allclose(g, numeric_gradient(loss, s), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_matches_torch_bidirectional(cls_name):
    torch = require("torch")
    layer = Bidirectional(CLASSES[cls_name](3, return_sequences=True, return_state=True))
    layer.build((None, 4, 2))
    rng = np.random.default_rng(8)
    layer.set_weights([nonzero_uniform(rng, w.shape, dtype="float32") for w in layer.get_weights()])
    order = gates.LSTM_ORDER if cls_name == "LSTM" else gates.GRU_ORDER
    module = getattr(torch.nn, cls_name)(2, 3, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, sub in (("", layer.forward_layer), ("_reverse", layer.backward_layer)):
            def t(a):
                return torch.from_numpy(np.ascontiguousarray(
                    gates.reorder(a, order["keras"], order["torch"], axis=-1).T))
            getattr(module, f"weight_ih_l0{suffix}").copy_(t(sub.kernel))
            getattr(module, f"weight_hh_l0{suffix}").copy_(t(sub.recurrent_kernel))
            bias = sub.bias
            b_ih, b_hh = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
            getattr(module, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(
                gates.reorder(b_ih, order["keras"], order["torch"])))
            getattr(module, f"bias_hh_l0{suffix}").copy_(torch.from_numpy(
                gates.reorder(b_hh, order["keras"], order["torch"])))
    x = rng.standard_normal((2, 4, 2)).astype("float32")
    seq, *states = layer(x)
    t_seq, t_states = module(torch.from_numpy(x))
    np.testing.assert_allclose(seq, t_seq.detach().numpy(), atol=2e-6)
    t_states = t_states if isinstance(t_states, tuple) else (t_states,)
    per_direction = [s.detach().numpy() for s in t_states]   # each (2 directions, B, H)
    n = len(per_direction)
    ours_fwd, ours_bwd = states[:n], states[n:]
    for k in range(n):
        np.testing.assert_allclose(ours_fwd[k], per_direction[k][0], atol=2e-6)
        np.testing.assert_allclose(ours_bwd[k], per_direction[k][1], atol=2e-6)


def test_names_views_formula_and_errors():
    bi = Bidirectional(LSTM(4, name="enc"))
    bi.build((None, 5, 3))
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_enc", "backward_enc")
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert bi.forward_layer.kernel_i.shape == (3, 4)
    assert np.shares_memory(bi.forward_layer.kernel_i, bi.weights[0])
    assert bi.count_params() == 2 * 4 * (3 * 4 + 4 * 4 + 4)
    assert bi.param_formula().startswith("2 × (4 × (features·units")
    assert bi.param_formula().endswith("[forward_enc 128, backward_enc 128]")
    with pytest.raises(ConfigError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ConfigError, match="recurrent layer"):
        Bidirectional(unrolled.layers.Dense(2))
    with pytest.raises(ConfigError, match="go_backwards"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(InputShapeError, match="even number"):
        bi(np.zeros((1, 5, 3), "float32"), initial_state=[np.zeros((1, 4), "float32")] * 3)


def test_config_round_trip_and_keras_from_config():
    keras = require("keras")
    bi = Bidirectional(GRU(3, return_sequences=True), merge_mode="sum", name="bi")
    bi.build((None, 4, 2))
    config = json.loads(json.dumps(bi.get_config()))
    again = Bidirectional.from_config(config)
    assert again.get_config() == bi.get_config()
    theirs = keras.layers.Bidirectional.from_config(config)
    assert theirs.forward_layer.name == "forward_gru" or theirs.forward_layer.name.startswith("forward_")
    mine = {k: v for k, v in config.items() if k not in ("layer", "backward_layer")}
    keras_cfg = theirs.get_config()
    for key, value in mine.items():
        if key != "dtype":
            assert keras_cfg[key] == value, key
    assert keras_cfg["layer"]["config"]["zero_output_for_mask"] is True
    assert config["layer"]["config"]["zero_output_for_mask"] is True


def test_keras_file_both_ways_and_fit(tmp_path):
    keras = require("keras")
    import h5py
    import zipfile
    x = np.random.default_rng(9).standard_normal((4, 5, 3)).astype("float32")
    model = unrolled.Sequential([unrolled.Input((5, 3)),
                                 Bidirectional(LSTM(3, return_sequences=True)),
                                 Bidirectional(GRU(2), merge_mode="ave"),
                                 unrolled.layers.Dense(1)])
    model.save(tmp_path / "u.keras")
    with zipfile.ZipFile(tmp_path / "u.keras") as zf, h5py.File(zf.open("model.weights.h5")) as h5:
        assert h5["layers/bidirectional/forward_layer/cell/vars/0"].shape == (3, 12)
        assert h5["layers/bidirectional_1/backward_layer/cell/vars/2"].shape == (2, 6)
    theirs = keras.saving.load_model(tmp_path / "u.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x), atol=2e-6)
    theirs.save(tmp_path / "k.keras")
    back = unrolled.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x), model.predict(x), atol=2e-6)
    assert back.layers[0].forward_layer.name == model.layers[0].forward_layer.name
    assert model.layers[0].forward_layer.name.startswith("forward_lstm")
    back.compile(optimizer="adam", loss="mse")
    before = back.evaluate(x, np.zeros((4, 1)), verbose=0)
    back.fit(x, np.zeros((4, 1)), epochs=5, verbose=0)
    assert back.evaluate(x, np.zeros((4, 1)), verbose=0) < before
