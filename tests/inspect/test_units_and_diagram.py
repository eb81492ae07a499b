"""Memory lengths from hand-set forget gates; the unit diagram's edges are the weights."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError
from unrolled.inspect.diagram import diagram_edges, unit_diagram
from unrolled.inspect.trace import trace
from unrolled.inspect.units import memory_lengths, unit_statistics
from unrolled.layers import GRU, LSTM, Dense, SimpleRNN

pytest.importorskip("matplotlib")


def _logit(p):
    return np.log(p / (1 - p))


def test_half_life_of_constant_forget_gates_is_ln_half_over_ln_f():
    f = np.array([0.5, 0.9, 0.99], np.float64)
    layer = LSTM(3)
    layer.build((None, 10, 2))
    rng = np.random.default_rng(0)
    layer.kernel[...] = rng.normal(size=layer.kernel.shape)
    layer.recurrent_kernel[...] = rng.normal(size=layer.recurrent_kernel.shape)
    layer.kernel_f = np.zeros((2, 3))
    layer.recurrent_kernel_f = np.zeros((3, 3))
    layer.bias_f = _logit(f)
    x = rng.normal(size=(4, 10, 2)).astype(np.float32)
    got = memory_lengths(layer, x)
    f32 = 1 / (1 + np.exp(-_logit(f).astype(np.float32).astype(np.float64)))
    np.testing.assert_allclose(got, np.log(0.5) / np.log(f32), rtol=1e-5)
    np.testing.assert_allclose(got, np.log(0.5) / np.log(f), rtol=1e-4)


def test_gru_uses_its_update_gate_and_simple_rnn_has_none():
    gru = GRU(2)
    gru.build((None, 5, 1))
    gru.kernel_z = np.zeros((1, 2))
    gru.recurrent_kernel_z = np.zeros((2, 2))
    gru.bias_z = np.stack([_logit(np.array([0.8, 0.6])), np.zeros(2)])   # reset_after: 2 rows
    x = np.random.default_rng(1).normal(size=(2, 5, 1)).astype(np.float32)
    np.testing.assert_allclose(memory_lengths(gru, x), np.log(0.5) / np.log([0.8, 0.6]), rtol=1e-4)
    rnn = SimpleRNN(2)
    rnn.build((None, 5, 1))
    assert memory_lengths(rnn, x) is None


def test_unit_statistics_finds_dead_units_and_saturation():
    layer = LSTM(2)
    layer.build((None, 6, 2))
    rng = np.random.default_rng(3)
    layer.kernel[...] = rng.normal(size=layer.kernel.shape)
    layer.recurrent_kernel[...] = rng.normal(size=layer.recurrent_kernel.shape)
    layer.kernel_o[:, 1] = 0.0                    # unit 1: output gate fixed at ~0
    layer.recurrent_kernel_o[:, 1] = 0.0
    layer.bias_o[1] = -40.0
    x = rng.normal(size=(5, 6, 2)).astype(np.float32)
    stats = unit_statistics(trace(layer, x, feature_names=["a", "b"]))
    assert stats.dead.tolist() == [False, True]
    assert stats.saturation["o"][1] == 1.0 and stats.saturation["o"][0] < 1.0
    assert {n for n, _ in stats.top_features["i"][0]} == {"a", "b"}
    assert "unit" in stats.table()


def test_unit_diagram_draws_one_edge_per_input_and_gate_with_its_weight():
    layer = LSTM(3)
    layer.build((None, 4, 2))
    rng = np.random.default_rng(4)
    layer.kernel[...] = rng.normal(size=layer.kernel.shape)
    layer.recurrent_kernel[...] = rng.normal(size=layer.recurrent_kernel.shape)
    layer.bias[...] = rng.normal(size=layer.bias.shape)
    fig = unit_diagram(layer, unit=1, feature_names=["temp", "wind"])
    edges = diagram_edges(fig)
    assert len(edges) == 4 * (2 + 3)              # gates × (features + previous h)
    got = {(i, g): w for i, g, w in edges}
    for g in "ifco":
        assert got[("temp", g)] == pytest.approx(float(getattr(layer, f"kernel_{g}")[0, 1]), rel=1e-6)
        assert got[("wind", g)] == pytest.approx(float(getattr(layer, f"kernel_{g}")[1, 1]), rel=1e-6)
        for j in range(3):
            assert got[(f"h_(t-1)[{j}]", g)] == pytest.approx(
                float(getattr(layer, f"recurrent_kernel_{g}")[j, 1]), rel=1e-6)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"bias {float(layer.bias_f[1]):+.3g}" in texts
    with pytest.raises(ConfigError, match="unit must be in"):
        unit_diagram(layer, unit=3)


def test_unit_diagram_of_a_model_finds_its_recurrent_layer():
    model = unrolled.Sequential([unrolled.Input((4, 2)), GRU(2), Dense(1)])
    edges = diagram_edges(unit_diagram(model, 0))
    assert len(edges) == 3 * (2 + 2)
