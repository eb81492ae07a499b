"""trace / inspect on Functional (non-chain) models: the recurrent layer is picked by name
and fed what the graph computes at its input — through a residual branch, from two
inputs, with the initial state another layer made, under a mask — checked against the
same graph's intermediate output (unrolled's engine, and Keras's for a Keras-made file)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unrolled
from unrolled.errors import ConfigError
from unrolled.inspect.trace import input_feature_names, recurrent_layer, trace
from unrolled.layers import GRU, LSTM, Add, Concatenate, Dense, Flatten, Input, Masking
from tests.peers import require
from tests.reference import nonzero_uniform

ROOT = Path(__file__).resolve().parents[2]
B, T, F, H = 3, 5, 2, 4


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in model.get_weights()])
    return model


def _x(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _close(tr_h, expected):
    """trace's h (T, B, H) against a model's return_sequences output (B, T, H)."""
    np.testing.assert_allclose(tr_h, np.swapaxes(expected, 0, 1), rtol=1e-5, atol=1e-6)


def test_residual_branch_feeds_the_lstm_what_the_graph_computes():
    x_in = Input((T, F), name="x")
    d = Dense(3, name="proj")(x_in)
    seq = LSTM(H, return_sequences=True, name="lstm")(d)
    out = Add(name="sum")([Dense(1, name="head")(Flatten()(seq)), Dense(1, name="skip")(Flatten()(x_in))])
    model = _randomize(unrolled.Model(x_in, out))
    x = _x(B, T, F)
    tr = trace(model, x, which="lstm")
    assert tr.features == 3 and tr.feature_names == ("x[0]", "x[1]", "x[2]")
    _close(tr["h"], unrolled.Model(x_in, seq).predict(x, verbose=0))
    np.testing.assert_allclose(np.swapaxes(tr.x, 0, 1), unrolled.Model(x_in, d).predict(x, verbose=0), rtol=1e-6)
    layer, before = recurrent_layer(model, "lstm")
    assert [b.name for b in before] == ["proj"]                 # not the skip branch
    assert input_feature_names(model, layer, ["a", "b"]) is None  # Dense mixes the columns


def test_two_inputs_and_the_initial_state_from_an_encoder():
    enc_in, dec_in = Input((T, F), name="enc"), Input((T + 1, 3), name="dec")
    _, h, c = LSTM(H, return_state=True, name="encoder")(enc_in)
    seq = LSTM(H, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    model = _randomize(unrolled.Model([enc_in, dec_in], Dense(1, name="out")(seq)), seed=2)
    a, b = _x(B, T, F), _x(B, T + 1, 3, seed=4)
    tr = trace(model, [a, b], which="decoder")
    assert tr.timesteps == T + 1 and tr.features == 3
    expected = unrolled.Model([enc_in, dec_in], seq).predict([a, b], verbose=0)
    _close(tr["h"], expected)
    h0 = unrolled.Model(enc_in, h).predict(a, verbose=0)
    np.testing.assert_allclose(tr.h0, h0, rtol=1e-5, atol=1e-6)      # the encoder's state
    assert np.abs(tr.h0).min() > 0
    layer, before = recurrent_layer(model, "decoder")
    assert [l.name for l in before] == ["encoder"]
    assert input_feature_names(model, layer, ["p", "q"]) is None     # the 2nd input: no names
    enc = trace(model, {"enc": a, "dec": b})                        # the first: the encoder
    assert enc.name == "encoder"
    assert input_feature_names(model, model.get_layer("encoder"), ["p", "q"]) == ["p", "q"]


def test_a_mask_made_in_the_graph_reaches_the_layer():
    x_in = Input((T, F))
    m = Masking(name="mask")(x_in)
    seq = GRU(H, return_sequences=True, name="gru")(m)
    model = _randomize(unrolled.Model(x_in, Add()([Dense(1)(seq), Dense(1)(m)])), seed=3)
    x = _x(B, T, F)
    x[1, 3:] = 0.0                                                   # padded steps of sample 1
    tr = trace(model, x, which="gru")
    assert tr.mask is not None and not tr.mask[3:, 1].any() and tr.mask[:, 0].all()
    _close(tr["h"], unrolled.Model(x_in, seq).predict(x, verbose=0))
    assert input_feature_names(model, model.get_layer("gru"), ["a", "b"]) == ["a", "b"]


def test_a_layer_name_that_is_not_recurrent_or_absent_is_explained():
    x_in = Input((T, F))
    model = unrolled.Model(x_in, Dense(1, name="out")(LSTM(H, name="lstm")(x_in)))
    with pytest.raises(ConfigError, match="'out' is a Dense; trace needs an LSTM"):
        trace(model, _x(B, T, F), which="out")
    with pytest.raises(ConfigError, match="no layer 'nope'; its layers: .*lstm"):
        trace(model, _x(B, T, F), which="nope")


def test_report_on_a_functional_model_with_a_residual_branch():
    pytest.importorskip("matplotlib")
    from unrolled.inspect.report import report

    x_in = Input((T, F), name="window")
    seq = LSTM(H, name="lstm")(Masking()(x_in))
    out = Add()([Dense(2, name="net")(seq), Dense(2, name="linear")(Flatten()(x_in))])
    model = _randomize(unrolled.Model(x_in, out), seed=5)
    html = report(model, _x(4, T, F), feature_names=["temp", "wind"], layer="lstm")
    assert "No trace" not in html and "Gates and states" in html
    assert "temp" in html and "relative error" in html


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "unrolled", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_keras_made_functional_file_traces_and_inspects(tmp_path):
    keras = require("keras")
    inp = keras.Input((T, F), name="x")
    proj = keras.layers.Dense(3, name="proj")(inp)
    seq = keras.layers.LSTM(H, return_sequences=True, name="lstm")(proj)
    last = keras.layers.GRU(2, name="gru")(seq)
    out = keras.layers.Add(name="sum")([keras.layers.Dense(1, name="head")(last),
                                        keras.layers.Dense(1, name="skip")(keras.layers.Flatten()(inp))])
    kmodel = keras.Model(inp, out)
    rng = np.random.default_rng(6)
    kmodel.set_weights([rng.uniform(-0.7, 0.7, size=w.shape).astype("float32") for w in kmodel.get_weights()])
    kmodel.save(tmp_path / "k.keras")
    x = _x(B, T, F, seed=7)
    np.save(tmp_path / "x.npy", x)
    model = unrolled.load_model(str(tmp_path / "k.keras"))
    for name, tensor in (("lstm", seq), ("gru", None)):
        tr = trace(model, x, which=name)
        if tensor is not None:
            expected = np.asarray(keras.Model(inp, tensor).predict(x, verbose=0))
            _close(tr["h"], expected)
    expected_last = np.asarray(keras.Model(inp, last).predict(x, verbose=0))
    np.testing.assert_allclose(trace(model, x, which="gru")["h"][-1], expected_last, rtol=1e-5, atol=1e-6)
    run = _cli("trace", "--model", "k.keras", "x.npy", "--layer-name", "gru", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Computed first: proj (Dense), lstm (LSTM)" in run.stdout
    report = _cli("inspect", "k.keras", "x.npy", "--layer", "lstm", "-o", "k.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "k.html").read_text(encoding="utf-8")
    assert "No trace" not in html and str(kmodel.count_params()) in html and "relative error" in html


def _two_input_model():
    a_in, b_in = Input((T, F), name="series"), Input((3,), name="static")
    seq = LSTM(H, name="lstm")(Masking(name="mask")(a_in))
    out = Dense(2, name="out")(Concatenate()([seq, Dense(H, activation="tanh", name="emb")(b_in)]))
    return _randomize(unrolled.Model([a_in, b_in], out), seed=8)


def test_attributions_through_one_input_of_several_are_complete():
    from unrolled.inspect.attributions import attributions

    model = _two_input_model()
    a, b = _x(B, T, F), _x(B, 3, seed=9)
    a[0, :2] = 0.0                                              # masked steps of sample 0
    full = model.predict([a, b], verbose=0)
    for name, sample in (("series", 0), ("static", 2), (0, 1)):
        att = attributions(model, {"series": a, "static": b}, input=name, sample=sample, output=1)
        assert att.output == pytest.approx(float(full[sample, 1]), rel=1e-5)
        assert att.completeness_error <= 1e-4 and np.abs(att.values).max() > 0
        assert "through input" in att.output_name
    att = attributions(model, [a, b], input="series", sample=0)
    np.testing.assert_array_equal(att.values[:2], 0.0)         # masked steps: no contribution
    assert "unmasked" in att.baseline_note
    # the other input is held: at the baseline, f differs from f(x) only through 'series'
    moved = model.predict([att.baseline[None], b[:1]], verbose=0)[0, 0]
    assert att.baseline_output == pytest.approx(float(moved), rel=1e-5)
    with pytest.raises(ConfigError, match="input must be one of the model's inputs"):
        attributions(model, [a, b], input="nope")


def test_report_on_a_two_input_model():
    pytest.importorskip("matplotlib")
    from unrolled.inspect.report import report

    model = _two_input_model()
    html = report(model, [_x(B, T, F), _x(B, 3, seed=9)], feature_names=["temp", "wind"])
    text = re.sub(r"<[^>]+>", " ", html)
    assert "2 inputs (series, static)" in text and "No trace" not in text
    assert "through input &#x27;series&#x27;" in html and "Gates and states" in text
    assert re.search(r"temp\s+\(", text)                        # names reach the LSTM through Masking


def test_cli_trace_and_inspect_a_two_input_model_from_an_npz(tmp_path):
    pytest.importorskip("matplotlib")
    model = _two_input_model()
    model.save(tmp_path / "two.keras")
    a, b = _x(B, T, F), _x(B, 3, seed=9)
    np.savez(tmp_path / "x.npz", series=a, static=b)
    run = _cli("trace", "--model", "two.keras", "x.npz", "--feature-names", "temp,wind", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "series (3, 5, 2), static (3, 3)" in run.stdout and "Inputs: temp, wind" in run.stdout
    assert f"sample {B - 1}, unit 0" in run.stdout                    # the last window by default
    tr = trace(model, [a, b])
    assert f"{tr['h'][-1, B - 1, 0]:+.4f}" in run.stdout
    out = _cli("inspect", "two.keras", "x.npz", "-o", "two.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2 inputs (series, static)" in (tmp_path / "two.html").read_text(encoding="utf-8")
    np.savez(tmp_path / "bad.npz", series=a, other=b)
    bad = _cli("trace", "--model", "two.keras", "bad.npz", cwd=tmp_path)
    assert bad.returncode == 2 and "(no ['static'])" in bad.stderr and "np.savez('x.npz', series=..., static=...)" in bad.stderr
    none = _cli("inspect", "two.keras", "-o", "n.html", cwd=tmp_path)
    assert none.returncode == 2 and "has 2 inputs (series, static)" in none.stderr
