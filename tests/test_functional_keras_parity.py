"""Graph models (``Model(inputs, outputs)``) against Keras 3: outputs, every weight
gradient and input gradient with random non-zero weights (tests/graph_reference.py), the
config schema, the summary table, and ``fit`` histories."""
from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest

import unrolled

from .graph_reference import keras_graph_run, random_inputs, set_same_weights
from .peers import require
from .reference import assert_same


def chain(lib: Any) -> Any:
    x = lib.Input((5, 3), name="x")
    h = lib.layers.LSTM(4, return_sequences=True, name="rnn")(x)
    return lib.Model(x, lib.layers.Dense(2, activation="tanh", name="head")(h), name="chain")


def two_inputs(lib: Any) -> Any:
    a, b = lib.Input((5, 3), name="a"), lib.Input((4, 2), name="b")
    ha = lib.layers.LSTM(3, name="la")(a)
    hb = lib.layers.GRU(2, name="gb")(b)
    cat = lib.layers.Concatenate(name="cat")([ha, hb])
    return lib.Model([a, b], lib.layers.Dense(1, name="out")(cat), name="two_inputs")


def seq2seq(lib: Any) -> Any:
    enc_in, dec_in = lib.Input((5, 3), name="enc_in"), lib.Input((4, 2), name="dec_in")
    _, h, c = lib.layers.LSTM(4, return_state=True, name="enc")(enc_in)
    seq = lib.layers.LSTM(4, return_sequences=True, name="dec")(dec_in, initial_state=[h, c])
    return lib.Model([enc_in, dec_in], lib.layers.Dense(2, name="head")(seq), name="seq2seq")


def shared(lib: Any) -> Any:
    a, b = lib.Input((5, 3), name="a"), lib.Input((5, 3), name="b")
    rnn = lib.layers.GRU(3, name="shared")
    ha, hb = rnn(a), rnn(b)
    diff = lib.layers.Subtract(name="diff")([ha, hb])
    both = lib.layers.Concatenate(name="both")([lib.layers.Add(name="sum")([ha, hb, ha]), diff])
    return lib.Model({"a": a, "b": b}, [lib.layers.Dense(1, name="o1")(both),
                                        lib.layers.Dense(2, name="o2")(ha)], name="shared")


def merges(lib: Any) -> Any:
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    u = lib.layers.Dense(3, activation="tanh", name="u")(a)
    v = lib.layers.Dense(3, activation="tanh", name="v")(b)
    outs = [lib.layers.Multiply(name="mul")([u, v]), lib.layers.Average(name="avg")([u, v]),
            lib.layers.Maximum(name="max")([u, v]), lib.layers.Minimum(name="min")([u, v]),
            lib.layers.Dot(axes=1, name="dot")([u, v]),
            lib.layers.Dot(axes=1, normalize=True, name="cos")([u, v])]
    return lib.Model([a, b], outs, name="merges")


def dot_sequences(lib: Any) -> Any:
    a, b = lib.Input((5, 3), name="a"), lib.Input((4, 3), name="b")
    ha = lib.layers.LSTM(2, return_sequences=True, name="la")(a)
    hb = lib.layers.LSTM(2, return_sequences=True, name="lb")(b)
    att = lib.layers.Dot(axes=2, name="scores")([ha, hb])          # (batch, 5, 4)
    return lib.Model([a, b], lib.layers.Dense(1, name="out")(att), name="attn")


def masked(lib: Any) -> Any:
    x = lib.Input((6, 3), name="x")
    m = lib.layers.Masking(name="mask")(x)
    h = lib.layers.LSTM(3, return_sequences=True, name="rnn")(m)
    h2 = lib.layers.GRU(2, name="rnn2")(lib.layers.Dense(2, name="mid")(h))
    return lib.Model(x, lib.layers.Dense(1, name="out")(h2), name="masked")


def nested(lib: Any) -> Any:
    i = lib.Input((5, 3), name="inner_in")
    inner = lib.Model(i, lib.layers.Dense(3, name="idense")(lib.layers.LSTM(4, name="ilstm")(i)), name="inner")
    seq = lib.Sequential([lib.Input((5, 3)), lib.layers.GRU(2, name="sgru")], name="stack")
    z = lib.Input((5, 3), name="z")
    cat = lib.layers.Concatenate(name="cat")([inner(z), seq(z)])
    return lib.Model(z, lib.layers.Dense(1, name="odense")(cat), name="outer")


def explicit_mask(lib: Any) -> Any:
    x, m = lib.Input((6, 3), name="x"), lib.Input((6,), dtype="bool", name="steps")
    seq = lib.layers.LSTM(3, return_sequences=True, name="rnn")(x, mask=m)
    h = lib.layers.GRU(2, go_backwards=True, name="rnn2")(seq)     # the mask flows on
    return lib.Model([x, m], lib.layers.Dense(1, name="out")(h), name="explicit_mask")


def models_in_sequential(lib: Any) -> Any:
    i = lib.Input((5, 3), name="i")
    inner = lib.Model(i, lib.layers.LSTM(4, return_sequences=True, name="il")(i), name="inner")
    sub = lib.Sequential([lib.layers.GRU(2, name="sg")], name="sub")
    return lib.Sequential([lib.Input((5, 3)), inner, sub, lib.layers.Dense(1, name="d")], name="outer")


BUILDERS = {f.__name__: f for f in (chain, two_inputs, seq2seq, shared, merges, dot_sequences,
                                     masked, nested, explicit_mask, models_in_sequential)}


def padded(rng: np.random.Generator) -> list[np.ndarray]:
    x = rng.uniform(0.2, 1.0, (4, 6, 3)).astype(np.float32)
    x[0, 4:] = 0.0     # right padding
    x[1, :2] = 0.0     # left padding
    x[2, 3] = 0.0      # a hole
    return [x]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_outputs_and_every_gradient_match_keras(name: str) -> None:
    inputs = padded(np.random.default_rng(5)) if name == "masked" else None
    sides = keras_graph_run(BUILDERS[name], seed=1, inputs=inputs)
    assert_same(sides, atol=2e-6, grad_rtol=2e-5, label=name)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_weights_order_names_and_summary_rows_match_keras(name: str) -> None:
    keras = require("keras")
    ours, theirs = BUILDERS[name](unrolled), BUILDERS[name](keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert ours.count_params() == theirs.count_params()
    if hasattr(theirs, "output_names"):   # Keras 3.15's Sequential has none
        assert ours.output_names == theirs.output_names

    def rows(model: Any) -> list[str]:
        text: list[str] = []
        model.summary(print_fn=lambda t, line_break=None: text.append(t))
        lines = "\n".join(text).splitlines()
        return [line for line in lines if line and line[0] in "┏┃┡│├└"]

    if name not in ("masked",):   # Keras lists its mask ops (NotEqual, Any) as rows
        assert rows(ours) == rows(theirs)


def _strip(cfg: Any) -> Any:
    """A config without the per-layer details both libraries already test elsewhere."""
    out = {k: v for k, v in cfg.items() if k != "layers"}
    out["layers"] = [{k: (_strip(v) if k == "config" and e["class_name"] in ("Functional",)
                          else v) for k, v in e.items() if k not in ("config",) or e["class_name"] == "Functional"}
                     for e in cfg["layers"]]
    return out


@pytest.mark.parametrize("name", ["chain", "two_inputs", "seq2seq", "shared", "nested", "explicit_mask"])
def test_config_matches_keras_and_round_trips(name: str) -> None:
    keras = require("keras")
    ours, theirs = BUILDERS[name](unrolled), BUILDERS[name](keras)
    ours_cfg, theirs_cfg = ours.get_config(), json.loads(json.dumps(theirs.get_config()))
    assert json.loads(json.dumps(ours_cfg)) == ours_cfg
    assert _strip(ours_cfg) == _strip(theirs_cfg)
    # Both directions: our config builds Keras's model and Keras's builds ours.
    rng = np.random.default_rng(3)
    for cfg in (ours_cfg, theirs_cfg):
        clone = unrolled.Model.from_config(json.loads(json.dumps(cfg)))
        k_clone = keras.Model.from_config(json.loads(json.dumps(cfg)))
        set_same_weights(clone, k_clone, rng)
        xs = random_inputs(clone, rng)
        feed = xs[0] if len(xs) == 1 else ({t.name: x for t, x in zip(clone.inputs, xs)}
                                           if isinstance(clone.input, dict) else xs)
        ours_out = clone.predict(feed, verbose=0)
        theirs_out = k_clone.predict(feed, verbose=0)
        for a, b in zip(*(o if isinstance(o, list) else [o] for o in (ours_out, theirs_out))):
            np.testing.assert_allclose(a, np.asarray(b), atol=2e-6)


def test_fit_histories_match_keras_with_two_outputs_and_loss_weights() -> None:
    keras = require("keras")
    ours, theirs = shared(unrolled), shared(keras)
    rng = np.random.default_rng(7)
    set_same_weights(ours, theirs, rng)
    a, b = (rng.normal(size=(20, 5, 3)).astype(np.float32) for _ in range(2))
    y1 = rng.normal(size=(20, 1)).astype(np.float32)
    y2 = rng.normal(size=(20, 2)).astype(np.float32)
    kw = dict(loss={"o1": "mse", "o2": "mae"}, loss_weights={"o1": 0.5, "o2": 2.0},
              metrics={"o1": ["mae"], "o2": ["mse", "mae"]})
    ours.compile(optimizer=unrolled.optimizers.SGD(0.05), **kw)
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), **kw)
    fit = dict(epochs=3, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    h_ours = ours.fit({"a": a, "b": b}, [y1, y2], **fit).history
    h_theirs = theirs.fit({"a": a, "b": b}, [y1, y2], **fit).history
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=2e-4, err_msg=key)
    ev_ours = ours.evaluate({"a": a, "b": b}, [y1, y2], verbose=0)
    ev_theirs = theirs.evaluate({"a": a, "b": b}, [y1, y2], verbose=0)
    np.testing.assert_allclose(ev_ours, ev_theirs, rtol=2e-4)
    assert ours.metrics_names[:3] == ["loss", "o1_loss", "o2_loss"]
    batch = ({"a": a[:6], "b": b[:6]}, [y1[:6], y2[:6]])
    np.testing.assert_allclose(ours.train_on_batch(*batch), theirs.train_on_batch(*batch), rtol=2e-4)
    np.testing.assert_allclose(ours.test_on_batch(*batch), theirs.test_on_batch(*batch), rtol=2e-4)
    assert ours.test_on_batch(*batch, return_dict=True).keys() == theirs.test_on_batch(*batch, return_dict=True).keys()
    for p1, p2 in zip(ours.predict_on_batch(batch[0]), theirs.predict_on_batch(batch[0])):
        np.testing.assert_allclose(p1, np.asarray(p2), atol=2e-6)


@pytest.mark.parametrize("name", ["chain", "seq2seq", "masked", "nested", "explicit_mask"])
def test_fit_histories_match_keras(name: str) -> None:
    keras = require("keras")
    ours, theirs = BUILDERS[name](unrolled), BUILDERS[name](keras)
    rng = np.random.default_rng(11)
    set_same_weights(ours, theirs, rng)
    xs = padded(rng) * 5 if name == "masked" else random_inputs(ours, rng, batch=12)
    if name == "masked":
        xs = [np.concatenate(xs)]
    y = [rng.normal(size=(len(xs[0]),) + tuple(o.shape[1:])).astype(np.float32) for o in ours.outputs]
    feed = xs[0] if len(xs) == 1 else xs
    for m, opt in ((ours, unrolled.optimizers.Adam(0.01)), (theirs, keras.optimizers.Adam(0.01))):
        m.compile(optimizer=opt, loss="mse", metrics=["mae"])
    fit = dict(epochs=3, batch_size=5, shuffle=False, verbose=0)
    h_ours = ours.fit(feed, y[0], **fit).history
    h_theirs = theirs.fit(feed, y[0], **fit).history
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=2e-4, err_msg=key)
    for w1, w2 in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w1, np.asarray(w2), atol=2e-5)


def embedded(lib: Any) -> Any:
    ids = lib.Input((6,), name="ids")
    e = lib.layers.Embedding(10, 3, mask_zero=True, name="emb")(ids)
    x = lib.Input((6, 3), name="x")
    m = lib.layers.Masking(name="mask")(x)
    cat = lib.layers.Concatenate(name="cat")([lib.layers.LSTM(2, name="l1")(e), lib.layers.GRU(2, name="g1")(m)])
    return lib.Model([ids, x], lib.layers.Dense(1, name="out")(cat), name="embedded")


@pytest.mark.parametrize("direction", ["keras-config-to-unrolled", "unrolled-config-to-keras"])
def test_masked_configs_with_keras_mask_ops_work_both_ways(direction: str) -> None:
    """Keras writes the mask computation of a Masking layer as NotEqual/Any operations fed
    to the next layer as ``mask=``; unrolled replays them and writes configs Keras reads."""
    keras = require("keras")
    rng = np.random.default_rng(4)
    source = embedded(keras) if direction.startswith("keras") else embedded(unrolled)
    cfg = json.loads(json.dumps(source.get_config()))
    if direction.startswith("keras"):
        assert {e["class_name"] for e in cfg["layers"]} >= {"NotEqual", "Any"}
    ours, theirs = unrolled.Model.from_config(cfg), keras.Model.from_config(json.loads(json.dumps(cfg)))
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    set_same_weights(ours, theirs, rng)
    ids = rng.integers(1, 10, size=(4, 6))
    ids[0, 4:] = 0
    ids[1, :2] = 0
    x = padded(rng)[0]
    ours_out = ours.predict([ids, x], verbose=0)
    theirs_out = np.asarray(theirs.predict([ids, x], verbose=0))
    np.testing.assert_allclose(ours_out, theirs_out, atol=2e-6)
    again = json.loads(json.dumps(ours.get_config()))
    assert [e["class_name"] for e in again["layers"]] == [e["class_name"] for e in cfg["layers"]]


def dict_outputs(lib: Any) -> Any:
    a, b = lib.Input((5, 3), name="a"), lib.Input((5, 3), name="b")
    return lib.Model([a, b], {"x": lib.layers.Dense(1, name="o1")(lib.layers.LSTM(2, name="la")(a)),
                              "y": lib.layers.Dense(2, name="o2")(lib.layers.GRU(2, name="gb")(b))},
                     name="dict_outputs")


@pytest.mark.parametrize("loss", [{"x": "mse", "y": "mae"}, {"x": "mse"}], ids=["two-losses", "one-loss"])
def test_dict_outputs_log_names_and_histories_match_keras(loss: dict[str, str]) -> None:
    keras = require("keras")
    ours, theirs = dict_outputs(unrolled), dict_outputs(keras)
    assert ours.output_names == theirs.output_names == ["o1", "o2"]
    rng = np.random.default_rng(2)
    set_same_weights(ours, theirs, rng)
    xs = [rng.normal(size=(10, 5, 3)).astype(np.float32) for _ in range(2)]
    ys = {"x": rng.normal(size=(10, 1)).astype(np.float32), "y": rng.normal(size=(10, 2)).astype(np.float32)}
    for m, opt in ((ours, unrolled.optimizers.SGD(0.1)), (theirs, keras.optimizers.SGD(0.1))):
        m.compile(optimizer=opt, loss=loss, metrics={"y": ["mae"]})
    with warnings.catch_warnings():   # one loss: Keras warns that o2 gets no gradient
        warnings.simplefilter("ignore")
        h_theirs = theirs.fit(xs, ys, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    h_ours = ours.fit(xs, ys, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=2e-4, err_msg=key)
    p_ours, p_theirs = ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0)
    assert sorted(p_ours) == sorted(p_theirs) == ["x", "y"]

