"""``unrolled explain --bidirectional``: the counts it prints equal Keras's."""
from __future__ import annotations

import pytest

from unrolled.cli import main
from unrolled.inspect.explain import explain

from ..peers import require


@pytest.mark.parametrize("kind,cls", [("lstm", "LSTM"), ("gru", "GRU"), ("simple_rnn", "SimpleRNN")])
def test_counts_equal_keras(kind, cls):
    keras = require("keras")
    bi = keras.layers.Bidirectional(getattr(keras.layers, cls)(3))
    bi.build((None, 4, 2))
    text = explain(kind, 3, 4, 2, bidirectional=True)
    n = bi.count_params()
    assert f"2 × {n // 2} = {n}" in text
    assert f"forward_{kind}" in text and f"backward_{kind}" in text


def test_cli_flag(capsys):
    # in-process: `python -m unrolled` itself is run by tests/test_cli_explain.py
    assert main(["explain", "--bidirectional", "--units", "1", "--features", "2",
                 "--merge-mode", "none"]) == 0
    out = capsys.readouterr().out
    assert "2 × 16 = 32" in out and "two outputs [h→, h←]" in out
    assert "h_forward, c_forward, h_backward, c_backward" in out
