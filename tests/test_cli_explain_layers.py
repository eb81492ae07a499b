"""`unrolled explain --layer gru|simple_rnn`: counts that Keras agrees with, shapes of every
weight and term, and the several-features answer."""
from __future__ import annotations

import pytest

from unrolled.cli import main
from unrolled.inspect.explain import explain, param_counts
from tests.peers import require


def run(capsys, *argv: str) -> str:
    assert main(["explain", *argv]) == 0
    return capsys.readouterr().out


def keras_count(kind: str, units: int, timesteps: int, features: int, **kwargs) -> int:
    keras = require("keras")
    cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}[kind]
    layer = cls(units, **kwargs)
    layer.build((None, timesteps, features))
    return layer.count_params()


def test_gru_seed_configuration_has_15_parameters_like_keras(capsys):
    out = run(capsys, "--layer", "gru", "--units", "1", "--timesteps", "1", "--features", "2")
    assert 3 * (2 * 1 + 1 * 1 + 2 * 1) == 15 == keras_count("gru", 1, 1, 2)
    assert "Total params: 15 " in out and "│ gru (GRU)" in out
    assert "3 × (2·1 + 1·1 + 2·1) = 15" in out
    assert "kernel: 3·2·1 = 6    recurrent_kernel: 3·1·1 = 3    bias: 2·3·1 = 6" in out
    for gate in "zrh":
        assert f"kernel_{gate} (2, 1)   recurrent_kernel_{gate} (1, 1)   bias_{gate} (2, 1)" in out
    assert "bias (2, 3)" in out and "row 0 = input bias, row 1 = recurrent bias" in out
    assert "r_t ⊙ (h_(t-1)·recurrent_kernel_h + bias_h[1])" in out
    assert "(B, 2)·(2, 1) + (1,) + (B, 1)·(1, 1) + (1,) -> (B, 1)" in out
    assert "reads ALL 2 features" in out and "one number per unit per" in out
    assert "with F=3 this layer would have 18 instead of 15" in out
    assert "reset_after=False would give 12 parameters" in out


def test_gru_without_reset_after(capsys):
    out = run(capsys, "--layer", "gru", "--no-reset-after", "--units", "1", "--features", "2")
    assert "Total params: 12 " in out and keras_count("gru", 1, 1, 2, reset_after=False) == 12
    assert "bias_z (1,)" in out and "bias (3,)" in out and "reset_after=False" in out
    assert "(r_t ⊙ h_(t-1))·recurrent_kernel_h" in out
    assert "((B, 1) ⊙ (B, 1))·(1, 1)" in out


def test_simple_rnn_seed_configuration_has_4_parameters_like_keras(capsys):
    out = run(capsys, "--layer", "simple_rnn", "--units", "1", "--timesteps", "1", "--features", "2")
    assert 1 * 2 + 1 + 1 == 4 == keras_count("simple_rnn", 1, 1, 2)
    assert "Total params: 4 " in out and "│ simple_rnn (SimpleRNN)" in out
    assert "2·1 + 1·1 + 1 = 4" in out
    assert "kernel (2, 1)   recurrent_kernel (1, 1)   bias (1,)" in out
    assert "(B, 2)·(2, 1) + (B, 1)·(1, 1) + (1,) -> (B, 1)" in out
    assert "kernel[:, j] is unit j's column" in out
    assert "with F=3 this layer" in out and "have 5 instead of 4" in out


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("units, timesteps, features", [(1, 1, 1), (8, 20, 5), (3, 7, 12)])
def test_every_count_agrees_with_keras(capsys, kind, units, timesteps, features):
    out = run(capsys, "--layer", kind, "--units", str(units), "--timesteps", str(timesteps),
              "--features", str(features))
    expected = keras_count(kind, units, timesteps, features)
    assert f"Total params: {expected:,} " in out
    assert f"({features}, {units})" in out                            # a kernel block
    assert f"(B, {features})·({features}, {units})" in out            # x_t times that block
    name = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}[kind]
    assert param_counts(features, units)[name] == expected


def test_the_comparison_line_and_layer_aliases(capsys):
    out = run(capsys, "--layer", "SimpleRNN", "--features", "2")
    assert "SimpleRNN 4 · GRU 15 (12 with reset_after=False) · LSTM 16 parameters" in out
    assert "Total params: 4 " in run(capsys, "--layer", "simple-rnn", "--features", "2")
    assert "Total params: 16 " in run(capsys, "--features", "2")     # LSTM stays the default


def test_reset_after_only_for_gru(capsys):
    assert main(["explain", "--layer", "simple_rnn", "--reset-after"]) == 2
    assert "--reset-after/--no-reset-after applies to --layer gru only" in capsys.readouterr().err
    with pytest.raises(ValueError, match="reset_after applies to the GRU only"):
        explain("lstm", 1, 1, 1, reset_after=False)
    with pytest.raises(ValueError, match="layer must be one of lstm, gru, simple_rnn"):
        explain("transformer", 1, 1, 1)
