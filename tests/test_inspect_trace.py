"""trace(): every gate at every timestep, equal to what the layer computes, and
`unrolled trace` on a random layer and on a saved model."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.cli import main
from unrolled.core.kernels import dispatch
from unrolled.errors import ConfigError, InputShapeError
from unrolled.inspect.trace import trace
from unrolled.layers import GRU, LSTM, Dense, Input, SimpleRNN
from tests.reference import nonzero_uniform, random_weights

B, T, F, H = 3, 5, 2, 4


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def built(cls, seed=0, dtype="float64", **kwargs):
    layer = cls(H, return_sequences=True, dtype=dtype, **kwargs)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, np.random.default_rng(seed)))
    return layer


def data(seed=1, dtype="float64", batch=B):
    return np.random.default_rng(seed).normal(size=(batch, T, F)).astype(dtype)


LAYERS = [(LSTM, {}), (LSTM, {"go_backwards": True}), (GRU, {}), (GRU, {"reset_after": False}),
          (GRU, {"go_backwards": True}), (SimpleRNN, {})]
IDS = ["lstm", "lstm-backwards", "gru", "gru-reset_before", "gru-backwards", "simple_rnn"]


@pytest.mark.parametrize("cls, kwargs", LAYERS, ids=IDS)
def test_trace_h_is_the_layer_output(cls, kwargs):
    layer, x = built(cls, **kwargs), data()
    tr = trace(layer, x)
    with dispatch.force("reference"):
        expected = layer(x)                                      # (B, T, H)
    assert tr["h"].shape == (T, B, H) and tr["h"].dtype == np.float64
    np.testing.assert_array_equal(tr["h"], np.swapaxes(expected, 0, 1))
    np.testing.assert_allclose(tr["h"], np.swapaxes(layer(x), 0, 1), rtol=1e-12, atol=1e-12)


def test_trace_follows_the_fast_float32_kernel_closely():
    layer, x = built(LSTM, dtype="float32"), data(dtype="float32")
    tr = trace(layer, x)
    assert all(a.dtype == np.float32 for a in tr.arrays.values())
    np.testing.assert_allclose(tr["h"], np.swapaxes(layer(x), 0, 1), rtol=1e-5, atol=1e-6)


def test_lstm_gates_match_the_equations_written_with_the_named_weights():
    lstm, x = built(LSTM), data()
    tr = trace(lstm, x)
    h, c = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T):
        pre = {g: x[:, t] @ getattr(lstm, f"kernel_{g}") + h @ getattr(lstm, f"recurrent_kernel_{g}")
               + getattr(lstm, f"bias_{g}") for g in "ifco"}
        i, f, g, o = sig(pre["i"]), sig(pre["f"]), np.tanh(pre["c"]), sig(pre["o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, want in [("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h),
                           ("pre_i", pre["i"]), ("pre_g", pre["c"]), ("pre_o", pre["o"])]:
            np.testing.assert_allclose(tr[name][t], want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_match_the_equations_written_with_the_named_weights(reset_after):
    gru, x = built(GRU, reset_after=reset_after), data()
    tr = trace(gru, x)
    h = np.zeros((B, H))
    b_in = {g: getattr(gru, f"bias_{g}")[0] if reset_after else getattr(gru, f"bias_{g}") for g in "zrh"}
    b_rec = {g: getattr(gru, f"bias_{g}")[1] if reset_after else 0.0 for g in "zrh"}
    for t in range(T):
        xk = {g: x[:, t] @ getattr(gru, f"kernel_{g}") + b_in[g] for g in "zrh"}
        hu = {g: h @ getattr(gru, f"recurrent_kernel_{g}") + b_rec[g] for g in "zrh"}
        z, r = sig(xk["z"] + hu["z"]), sig(xk["r"] + hu["r"])
        if reset_after:
            hh = np.tanh(xk["h"] + r * hu["h"])
        else:
            hh = np.tanh(xk["h"] + (r * h) @ gru.recurrent_kernel_h)
        h = z * h + (1 - z) * hh
        for name, want in [("z", z), ("r", r), ("hh", hh), ("h", h)]:
            np.testing.assert_allclose(tr[name][t], want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cls, kwargs", LAYERS, ids=IDS)
def test_pre_activations_give_the_gates(cls, kwargs):
    tr = trace(built(cls, **kwargs), data())
    act = {"sigmoid": sig, "tanh": np.tanh}
    rec, main_act = act[tr.activations[1]], act[tr.activations[0]]
    for g in tr.gates:
        f = main_act if g in ("g", "hh") or tr.kind == "SimpleRNN" else rec
        np.testing.assert_allclose(f(tr[f"pre_{g}"]), tr[g], rtol=1e-12, atol=1e-12, err_msg=g)


@pytest.mark.parametrize("cls, kwargs", LAYERS, ids=IDS)
def test_contributions_add_up_to_the_pre_activation(cls, kwargs):
    layer, x = built(cls, **kwargs), data()
    tr = trace(layer, x)
    blocks = {"LSTM": "ifco", "GRU": "zrh"}.get(tr.kind, [""])
    for t, s, u in [(0, 0, 0), (2, 1, 3), (-1, 2, 1)]:
        con = tr.contributions(t=t, sample=s, unit=u)
        np.testing.assert_allclose(con.total, con.pre, rtol=1e-12, atol=1e-12)
        assert con.features.shape == (len(tr.gates), F)
        for j, b in enumerate(blocks):                             # x_t[k]·kernel_<g>[k, unit]
            kernel = getattr(layer, f"kernel_{b}" if b else "kernel")
            np.testing.assert_allclose(con.features[j], tr.x[t, s] * kernel[:, u], rtol=1e-14)
        np.testing.assert_array_equal(con.value, [tr[g][t, s, u] for g in tr.gates])
        # h_(-1) = 0; only the GRU candidate's r·(0 + recurrent bias) survives at t = 0.
        if t == 0:
            survives = [tr.kind == "GRU" and tr.reset_after and g == "hh" for g in tr.gates]
            np.testing.assert_array_equal(con.recurrent != 0, survives)
        else:
            assert np.all(con.recurrent != 0)
        assert np.all(con.bias != 0)
        if t != 0 and tr.kind != "GRU":                            # h_(t-1)·recurrent_kernel_<g>[:, u]
            rk = [getattr(layer, f"recurrent_kernel_{b}" if b else "recurrent_kernel") for b in blocks]
            np.testing.assert_allclose(con.recurrent, [tr["h"][t - 1, s] @ k[:, u] for k in rk],
                                       rtol=1e-12)
    text = str(tr.contributions(t=1, sample=0, unit=2))
    assert "x[1]·kernel" in text and "= pre-activation" in text
    assert f"{tr[tr.gates[0]][1, 0, 2]:+10.4f}" in text


def test_table_has_one_row_per_timestep_and_the_traced_numbers():
    lstm, x = built(LSTM), data()
    tr = trace(lstm, x, sample=2, feature_names=["temp", "wind"])
    text = tr.table(unit=3)
    lines = text.splitlines()
    header = lines[1].split()
    assert header[:4] == ["t", "│", "temp", "wind"] and header[5:] == ["i", "f", "g", "o", "c", "h"]
    rows = [ln for ln in lines if ln.strip()[:1].isdigit()]
    assert len(rows) == T
    assert rows[3].split()[-1] == f"{tr['h'][3, 2, 3]:+.4f}"
    assert rows[3].split()[-5] == f"{tr['f'][3, 2, 3]:+.4f}"
    assert rows[3].split()[2] == f"{x[2, 3, 0]:+.4f}"
    assert "pre_f" in tr.table(unit=3, pre=True) and "pre_f" not in text
    assert "temp" not in tr.table(inputs=False)


def test_sequential_applies_the_layers_before_the_recurrent_one():
    rng = np.random.default_rng(3)
    model = unrolled.Sequential([Input(shape=(T, F)), Dense(3, name="dense"),
                                 GRU(H, return_sequences=True, name="gru"), LSTM(2, name="lstm"),
                                 Dense(1, name="out")])
    model.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in model.get_weights()])
    x = data(dtype="float32")
    dense, gru, lstm = model.layers[:3]
    mid = dense(x)
    tr = trace(model, x)
    assert tr.kind == "GRU" and tr.features == 3
    np.testing.assert_array_equal(tr.x, np.swapaxes(mid, 0, 1))
    np.testing.assert_allclose(tr["h"], np.swapaxes(gru(mid), 0, 1), rtol=1e-6, atol=1e-7)
    tr2 = trace(model, x, which="lstm")
    into_lstm = gru.forward(mid, training=False)[0]   # as trace applies it (automatic kernel)
    with dispatch.force("reference"):
        np.testing.assert_array_equal(tr2["h"][-1], lstm(into_lstm))
    assert trace(model, x, which=2).name == "lstm"


def test_initial_state_is_used():
    lstm, x = built(LSTM), data()
    rng = np.random.default_rng(5)
    state = [rng.normal(size=(B, H)), rng.normal(size=(B, H))]
    tr = trace(lstm, x, initial_state=state)
    with dispatch.force("reference"):
        expected = lstm(x, initial_state=state)
    np.testing.assert_array_equal(tr["h"], np.swapaxes(expected, 0, 1))
    np.testing.assert_allclose(tr.contributions(t=0).total, tr.contributions(t=0).pre, rtol=1e-12)


def test_bad_arguments_say_what_was_expected():
    lstm, x = built(LSTM), data()
    with pytest.raises(ConfigError, match=r"sample must be in \[0, 3\)"):
        trace(lstm, x, sample=3)
    tr = trace(lstm, x)
    with pytest.raises(ConfigError, match=r"unit must be in \[0, 4\)"):
        tr.table(unit=4)
    with pytest.raises(ConfigError, match=r"t must be in \[0, 5\)"):
        tr.contributions(t=5)
    with pytest.raises(KeyError, match="has no 'z'"):
        tr["z"]
    with pytest.raises(InputShapeError, match="swapped"):
        trace(lstm, np.zeros((1, F, T)))                           # (1, F, T) for (1, T, F)
    with pytest.raises(ConfigError, match="no recurrent layer; its layers: dense"):
        trace(unrolled.Sequential([Input(shape=(T, F)), Dense(2, name="dense")]), x)
    with pytest.raises(ConfigError, match="feature_names has 1 name"):
        trace(lstm, x, feature_names=["a"])


# -- the command ---------------------------------------------------------------------------
def test_cli_trace_random_layer(capsys):
    assert main(["trace", "--units", "2", "--timesteps", "4", "--features", "3", "--unit", "1"]) == 0
    out = capsys.readouterr().out
    assert "Tracing LSTM 'lstm' (units=2, features=3) on a random input of shape (1, 4, 3)" in out
    assert "4 × (3·2 + 2·2 + 2) = 48" in out
    rows = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit() and "│" in ln]
    assert len(rows) == 4
    assert "Step t=3, sample 0, unit 1" in out and "x[2]·kernel_*[2, 1]" in out
    assert "All 3 feature(s) enter every gate at once" in out


def test_cli_trace_gru_without_reset_after(capsys):
    assert main(["trace", "--layer", "gru", "--no-reset-after", "--features", "2", "--step", "0"]) == 0
    out = capsys.readouterr().out
    assert "= 12  [kernel 6, recurrent_kernel 3, bias 3]" in out and "(r ⊙ h_(t-1))" in out and "Step t=0" in out


def test_cli_trace_saved_model_and_npy(tmp_path, capsys):
    model = unrolled.Sequential([Input(shape=(T, F)), SimpleRNN(3, name="rnn"), Dense(1)])
    path = tmp_path / "m.keras"
    unrolled.save_model(model, path)
    x = data(dtype="float32", batch=2)
    np.save(tmp_path / "x.npy", x)
    assert main(["trace", "--model", str(path), "--input", str(tmp_path / "x.npy"),
                 "--sample", "1", "--unit", "2"]) == 0
    out = capsys.readouterr().out
    assert "Tracing SimpleRNN 'rnn' of model" in out and "shape (2, 5, 2)" in out
    h = np.swapaxes(trace(model, x)["h"], 0, 1)[1, :, 2]
    assert all(f"{v:+.4f}" in out for v in h)
    np.save(tmp_path / "one.npy", x[1])                        # (timesteps, features)
    assert main(["trace", "--model", str(path), "--input", str(tmp_path / "one.npy")]) == 0
    assert "(batch axis added)" in capsys.readouterr().out
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    assert main(["trace", "--model", str(path), "--input", str(tmp_path / "obj.npy")]) == 2
    assert "allow_pickle=False" in capsys.readouterr().err
    assert main(["trace", "--model", str(path), "--units", "3"]) == 2
    assert "--units: only for the random layer" in capsys.readouterr().err
    assert main(["trace", "--model", str(path), "--timesteps", "3"]) == 2
    assert "expects 5 timesteps" in capsys.readouterr().err


def test_cli_trace_defaults_show_several_timesteps_and_features(capsys):
    assert main(["trace"]) == 0
    out = capsys.readouterr().out
    assert "random input of shape (1, 6, 2)" in out and "x[1]·kernel_*[1, 0]" in out


def test_cli_trace_errors_exit_2(capsys):
    assert main(["trace", "--unit", "5"]) == 2
    assert "unit must be in [0, 1)" in capsys.readouterr().err
    assert main(["trace", "--input", "x.npy"]) == 2
    assert "need --model" in capsys.readouterr().err
    assert main(["trace", "--layer", "lstm", "--reset-after"]) == 2
    assert "--layer gru only" in capsys.readouterr().err


@pytest.mark.parametrize("cls, kwargs", LAYERS, ids=IDS)
def test_trace_of_a_masked_model_carries_the_states_as_the_model_does(cls, kwargs):
    """A Masking layer before the recurrent one: the trace applies its mask, so the
    traced last state is the model's output, and a masked step's states equal the step
    before's (its gates are still the computed ones)."""
    from unrolled.layers import Masking

    x = data()
    x[0, 1:3] = 0.0                      # sample 0: steps 1-2 are padding inside
    x[1, 3:] = 0.0                       # sample 1: trailing padding
    rec = cls(H, dtype="float64", **kwargs)
    model = unrolled.Sequential([Input(shape=(T, F), dtype="float64"), Masking(0.0), rec])
    model.set_weights(random_weights(rec, np.random.default_rng(0)))
    tr = trace(model, x)
    mask = np.any(x != 0.0, axis=-1)                                 # (B, T)
    order = mask[:, ::-1] if rec.go_backwards else mask
    np.testing.assert_array_equal(tr.mask, order.T)
    np.testing.assert_allclose(tr["h"][-1], model(x), rtol=1e-12, atol=1e-12)
    for b in range(B):
        for t in range(1, T):
            if not tr.mask[t, b]:
                for name in ("h", "c") if cls is LSTM else ("h",):
                    np.testing.assert_array_equal(tr[name][t, b], tr[name][t - 1, b])
    unmasked = trace(rec, x)
    assert unmasked.mask is None
    assert not np.allclose(unmasked["h"][-1], tr["h"][-1])       # the mask changed the run
    table = tr.table(sample=0)
    assert table.count("masked") == 1 + int((~order[0]).sum())   # each row + the legend
    assert any("masked" in n for n in tr.contributions(t=int(np.argmin(order[0])), sample=0).notes)


def test_trace_takes_an_explicit_mask_and_checks_its_shape():
    layer, x = built(LSTM), data()
    mask = np.ones((B, T), bool)
    mask[2, :2] = False
    tr = trace(layer, x, mask=mask)
    np.testing.assert_allclose(np.swapaxes(tr["h"], 0, 1), layer(x, mask=mask),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(InputShapeError, match=r"mask of shape \(batch, timesteps\)"):
        trace(layer, x, mask=np.ones((B, T + 1), bool))
