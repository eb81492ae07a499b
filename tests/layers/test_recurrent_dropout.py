"""In-cell dropout / recurrent_dropout: gradients agree with Keras 3 given the same masks
(injected into both), float64 finite differences, the drop rate and the sharing across
timesteps (seeded statistics through the layer), inference untouched, files both ways."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.core.recurrent_dropout import DropoutMasks
from unrolled.errors import InputShapeError
from unrolled.layers import GRU, LSTM, SimpleRNN

from ..peers import require
from ..reference import Sides, assert_same, nonzero_uniform, numeric_gradient

CLASSES = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


def _torch_masks(torch, masks):
    if masks is None:
        return None
    return [torch.tensor(m) for m in masks] if masks.shape[0] > 1 else torch.tensor(masks[0])


def keras_sides(cls_name, config, shape, *, mask=None, initial=False, seed=0):
    """Both layers, same weights, same dropout masks (set on Keras's cell, which reuses
    cached masks), one training call, loss Σ output·R."""
    keras, torch = require("keras"), require("torch")
    B, T, F = shape
    rng = np.random.default_rng(seed)
    ours = CLASSES[cls_name](**config)
    ours.build((None, T, F))
    theirs = getattr(keras.layers, cls_name)(**config)
    theirs.build((None, T, F))
    weights = [nonzero_uniform(rng, w.shape, dtype="float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    masks = ours.draw_dropout_masks(B)
    assert masks is not None
    theirs.cell._dropout_mask = _torch_masks(torch, masks.inputs)
    theirs.cell._recurrent_dropout_mask = _torch_masks(torch, masks.recurrent)
    x = rng.standard_normal(shape).astype("float32")
    n_states = 2 if cls_name == "LSTM" else 1
    states = [rng.standard_normal((B, config["units"])).astype("float32") for _ in range(n_states)] if initial else None
    x_t = torch.tensor(x, requires_grad=True)
    kwargs = {"training": True}
    if states is not None:
        states_t = [torch.tensor(s, requires_grad=True) for s in states]
        kwargs["initial_state"] = states_t
    if mask is not None:
        kwargs["mask"] = torch.tensor(mask)
    y_t = theirs(x_t, **kwargs)
    r = rng.standard_normal(tuple(y_t.shape)).astype("float32")
    (y_t * torch.from_numpy(r)).sum().backward()
    theirs_d = {"output": y_t.detach().numpy(), "d x": x_t.grad.numpy()}
    for w in theirs.trainable_weights:
        theirs_d[f"d {w.name}"] = w.value.grad.numpy()
    kw = {"dropout_masks": masks}
    if states is not None:
        kw["initial_state"] = states
        theirs_d.update({f"d state[{k}]": s.grad.numpy() for k, s in enumerate(states_t)})
    if mask is not None:
        kw["mask"] = mask
    y, cache = ours.forward(x, training=True, **kw)
    dx, grads, d_init = ours.backward_with_states(r, cache)
    ours_d = {"output": y, "d x": dx, **{f"d {n}": g for n, g in zip(ours.weight_names, grads)}}
    if states is not None:
        ours_d.update({f"d state[{k}]": d for k, d in enumerate(d_init)})
    return Sides(ours_d, theirs_d), ours, x, masks


CASES = [
    ("LSTM", dict(dropout=0.3)),
    ("LSTM", dict(recurrent_dropout=0.4)),
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.4, go_backwards=True)),
    ("GRU", dict(dropout=0.3)),
    ("GRU", dict(dropout=0.3, recurrent_dropout=0.4)),
    ("GRU", dict(dropout=0.2, recurrent_dropout=0.5, reset_after=False)),
    ("GRU", dict(recurrent_dropout=0.5, use_bias=False)),
    ("SimpleRNN", dict(dropout=0.3)),
    ("SimpleRNN", dict(dropout=0.3, recurrent_dropout=0.4)),
]


@pytest.mark.parametrize("cls_name,config", CASES)
@pytest.mark.parametrize("shape", [(2, 4, 3), (1, 1, 2)])
def test_gradients_match_keras_given_the_masks(cls_name, config, shape):
    sides, *_ = keras_sides(cls_name, dict(units=3, return_sequences=True, **config), shape)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5, may_be_zero=True if shape[1] == 1 else ())


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("where", ["end", "middle"])
def test_masked_with_initial_state_matches_keras(cls_name, where):
    mask = np.ones((3, 5), bool)
    if where == "end":
        mask[0, 3:] = mask[2, 2:] = False
    else:
        mask[0, 2] = False
        mask[1, 1:3] = False
    sides, *_ = keras_sides(cls_name, dict(units=2, dropout=0.3, recurrent_dropout=0.3),
                            (3, 5, 2), mask=mask, initial=True, seed=3)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5)


@pytest.mark.parametrize("cls_name,config", [
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.4)),
    ("GRU", dict(dropout=0.3, recurrent_dropout=0.4)),
    ("GRU", dict(dropout=0.3, recurrent_dropout=0.4, reset_after=False)),
    ("SimpleRNN", dict(dropout=0.3, recurrent_dropout=0.4, activation="elu")),
])
def test_finite_differences_float64(cls_name, config):
    layer = CLASSES[cls_name](2, return_sequences=True, dtype="float64", **config)
    layer.build((None, 3, 2))
    rng = np.random.default_rng(4)
    layer.set_weights([nonzero_uniform(rng, w.shape) for w in layer.get_weights()])
    x = rng.standard_normal((2, 3, 2))
    masks = layer.draw_dropout_masks(2)
    mask = np.array([[True, False, True], [True, True, True]])
    out, cache = layer.forward(x, training=True, dropout_masks=masks, mask=mask)
    r = rng.standard_normal(out.shape)

    def loss():
        return float((layer.forward(x, training=True, dropout_masks=masks, mask=mask)[0] * r).sum())

    dx, grads = layer.backward(r, cache)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-9)
    for w, g in zip(layer.weights, grads):
        np.testing.assert_allclose(g, numeric_gradient(loss, w), rtol=1e-6, atol=1e-9)


def test_input_drop_rate_and_sharing_across_timesteps():
    """SimpleRNN with identity kernel, zero recurrent kernel and linear activation outputs
    x_t ⊙ m: with x = 1 every step shows the mask itself."""
    rate, B, T, F = 0.3, 400, 4, 5
    layer = SimpleRNN(F, activation="linear", dropout=rate, return_sequences=True, seed=11)
    layer.build((None, T, F))
    layer.set_weights([np.eye(F, dtype="float32"), np.zeros((F, F), "float32"), np.zeros(F, "float32")])
    y = layer(np.ones((B, T, F), "float32"), training=True)
    for t in range(1, T):
        np.testing.assert_array_equal(y[:, t], y[:, 0])          # one mask per sequence
    dropped = np.mean(y[:, 0] == 0)
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / (B * F))
    np.testing.assert_allclose(np.unique(y[:, 0]), [0.0, 1 / (1 - rate)], rtol=1e-6)
    np.testing.assert_array_equal(layer(np.ones((B, T, F), "float32")), 1.0)   # inference
    y2 = layer(np.ones((B, T, F), "float32"), training=True)
    assert not np.array_equal(y2[:, 0], y[:, 0])                 # a new mask per call


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_per_gate_masks_statistics(cls_name):
    layer = CLASSES[cls_name](6, dropout=0.25, recurrent_dropout=0.5, seed=5)
    layer.build((None, 2, 4))
    masks = layer.draw_dropout_masks(300)
    G = layer.cell.n_gates
    assert masks.inputs.shape == (G, 300, 4) and masks.recurrent.shape == (G, 300, 6)
    assert masks.inputs.dtype == np.float32
    for m, rate in ((masks.inputs, 0.25), (masks.recurrent, 0.5)):
        assert abs(np.mean(m == 0) - rate) < 4 * np.sqrt(rate * (1 - rate) / m.size)
        np.testing.assert_allclose(np.unique(m), [0.0, 1 / (1 - rate)], rtol=1e-6)
        assert not np.array_equal(m[0], m[1])                     # independent per gate
    only_input = CLASSES[cls_name](3, dropout=0.25)
    only_input.build((None, 2, 4))
    assert only_input.draw_dropout_masks(5).inputs.shape == (1, 5, 4)   # Keras: one mask


def test_recurrent_mask_shared_across_timesteps():
    """h_t = (h_(t-1) ⊙ r) @ I from h_0 = 1: h_1 = r, h_2 = r², ... only if r is shared."""
    layer = SimpleRNN(4, activation="linear", recurrent_dropout=0.5, return_sequences=True,
                      use_bias=False, seed=2)
    layer.build((None, 3, 1))
    layer.set_weights([np.zeros((1, 4), "float32"), np.eye(4, dtype="float32")])
    y = layer(np.zeros((50, 3, 1), "float32"), initial_state=[np.ones((50, 4), "float32")],
              training=True)
    np.testing.assert_allclose(y[:, 1], y[:, 0] ** 2, rtol=1e-6)
    np.testing.assert_allclose(y[:, 2], y[:, 0] ** 3, rtol=1e-6)
    assert "dropout kernel" in layer.kernel_choice.reason   # kernels/dropout.py
    assert "recurrent_dropout" in layer.kernel_choice.reason


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
def test_inference_equals_no_dropout(cls_name):
    rng = np.random.default_rng(6)
    a = CLASSES[cls_name](3, dropout=0.5, recurrent_dropout=0.5, return_sequences=True)
    b = CLASSES[cls_name](3, return_sequences=True)
    a.build((None, 4, 2))
    b.build((None, 4, 2))
    w = [nonzero_uniform(rng, v.shape, dtype="float32") for v in a.get_weights()]
    a.set_weights(w)
    b.set_weights(w)
    x = rng.standard_normal((3, 4, 2)).astype("float32")
    np.testing.assert_array_equal(a(x), b(x))
    np.testing.assert_array_equal(a.forward(x)[0], b.forward(x)[0])
    assert not np.allclose(a(x, training=True), b(x))


def test_keras_file_with_dropout_loads_predicts_and_trains(tmp_path):
    keras = require("keras")
    x = np.random.default_rng(7).standard_normal((8, 5, 3)).astype("float32")
    theirs = keras.Sequential([keras.Input((5, 3)),
                               keras.layers.LSTM(4, dropout=0.2, recurrent_dropout=0.3, return_sequences=True),
                               keras.layers.GRU(3, dropout=0.1, recurrent_dropout=0.2),
                               keras.layers.Dense(1)])
    theirs.save(tmp_path / "k.keras")
    ours = unrolled.load_model(tmp_path / "k.keras")
    assert ours.layers[0].recurrent_dropout == pytest.approx(0.3)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=2e-6)
    ours.compile(optimizer="adam", loss="mse")
    y = np.ones((8, 1), "float32")
    before = ours.evaluate(x, y, verbose=0)
    ours.fit(x, y, epochs=10, verbose=0)
    assert ours.evaluate(x, y, verbose=0) < before
    ours.save(tmp_path / "u.keras")
    again = keras.saving.load_model(tmp_path / "u.keras")
    assert again.layers[0].dropout == pytest.approx(0.2)
    np.testing.assert_allclose(again.predict(x, verbose=0), ours.predict(x), atol=2e-6)


def test_injected_masks_shape_is_checked():
    layer = LSTM(2, recurrent_dropout=0.5)
    layer.build((None, 3, 2))
    masks = layer.draw_dropout_masks(4)
    assert isinstance(masks, DropoutMasks) and masks.inputs is None
    with pytest.raises(InputShapeError, match=r"recurrent dropout masks must have shape \(masks, batch, 2\)"):
        layer.forward(np.zeros((2, 3, 2), "float32"), training=True, dropout_masks=masks)
