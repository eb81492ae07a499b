"""plot_gates / plot_weights: one panel per gate, the traced numbers, PNGs written atomically."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.inspect.plots import plot_gates, plot_weights
from unrolled.inspect.trace import trace
from unrolled.layers import GRU, LSTM, SimpleRNN
from tests.peers import require
from tests.reference import random_weights

T, F, H = 6, 3, 2
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _agg():
    require("matplotlib").use("Agg")


def built(cls, **kwargs):
    layer = cls(H, dtype="float64", **kwargs)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, np.random.default_rng(0)))
    return layer


def x(batch=2):
    return np.random.default_rng(1).normal(size=(batch, T, F))


@pytest.mark.parametrize("cls, panels", [(LSTM, ["x", "i", "f", "g", "o", "c", "h"]),
                                         (GRU, ["x", "z", "r", "hh", "h"]),
                                         (SimpleRNN, ["x", "h"])])
def test_plot_gates_draws_one_panel_per_gate_with_the_traced_values(tmp_path, cls, panels):
    tr = trace(built(cls), x())
    path = tmp_path / "gates.png"
    fig = plot_gates(tr, sample=1, unit=1, path=path)
    assert len(fig.axes) == len(panels)
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes] == ["x_t"] + panels[1:]
    for ax, name in zip(fig.axes[1:], panels[1:]):
        (line,) = ax.get_lines()                                      # one unit
        np.testing.assert_array_equal(line.get_ydata(), tr[name][:, 1, 1])
    for k, line in enumerate(fig.axes[0].get_lines()):                # one line per feature
        np.testing.assert_array_equal(line.get_ydata(), tr.x[:, 1, k])
    assert len(fig.axes[0].get_lines()) == F
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_plot_gates_all_units_and_no_inputs():
    tr = trace(built(LSTM), x())
    fig = plot_gates(tr, inputs=False)
    assert len(fig.axes) == 6 and all(len(ax.get_lines()) == H for ax in fig.axes)
    np.testing.assert_array_equal(fig.axes[1].get_lines()[1].get_ydata(), tr["f"][:, 0, 1])
    assert fig.axes[0].get_ylim() == (-0.05, 1.05)                    # a sigmoid gate's range


def test_plot_gates_shades_the_masked_steps():
    mask = np.ones((2, T), bool)
    mask[1, [2, 3]] = False
    tr = trace(built(LSTM), x(), mask=mask)
    fig = plot_gates(tr, sample=1, unit=0)
    for ax in fig.axes:
        spans = [p.get_x() for p in ax.patches]                       # axvspan rectangles
        assert sorted(spans) == [1.5, 2.5]
    assert "2 masked step(s) shaded" in fig._suptitle.get_text()
    assert all(not ax.patches for ax in plot_gates(tr, sample=0).axes)   # sample 0: none


@pytest.mark.parametrize("cls, gates", [(LSTM, "ifco"), (GRU, "zrh"), (SimpleRNN, "")])
def test_plot_weights_shows_each_gate_kernel(tmp_path, cls, gates):
    layer = built(cls)
    path = tmp_path / "weights.png"
    fig = plot_weights(layer, path=path)
    n = max(len(gates), 1)
    assert len(fig.axes) == n + 1                                     # + the colour bar
    for ax, g in zip(fig.axes, gates or [""]):
        name = f"kernel_{g}" if g else "kernel"
        assert ax.get_title() == name
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), getattr(layer, name))
    assert path.read_bytes().startswith(PNG)
    fig = plot_weights(layer, recurrent=True)
    assert len(fig.axes) == 2 * n + 1
    name = f"recurrent_kernel_{gates[-1]}" if gates else "recurrent_kernel"
    np.testing.assert_array_equal(fig.axes[2 * n - 1].get_images()[0].get_array(), getattr(layer, name))


def test_png_replaces_an_old_file_atomically(tmp_path):
    path = tmp_path / "g.png"
    path.write_bytes(b"old")
    plot_gates(trace(built(GRU), x()), path=path)
    assert path.read_bytes().startswith(PNG)
    assert os.listdir(tmp_path) == ["g.png"]                         # no temporary file left


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'unrolled\[plot\]'"):
        plot_weights(built(LSTM))


def test_cli_trace_writes_both_plots(tmp_path, capsys):
    gates, weights = tmp_path / "g.png", tmp_path / "w.png"
    assert main(["trace", "--layer", "gru", "--units", "3", "--features", "2", "--timesteps", "4",
                 "--plot", str(gates), "--plot-weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert f"Wrote the gates over time to {gates}" in out
    assert gates.read_bytes().startswith(PNG) and weights.read_bytes().startswith(PNG)
