"""Fast paths for the options of issue #13 item 4b, against the reference scan (the oracle):

* recurrent_dropout in training: the dropout kernel (kernels/dropout.py) -- outputs, every
  weight gradient, dx and d initial_state equal the reference scan's over the cell wrapped
  with the same masks; float64 finite differences through the kernel itself;
* Bidirectional: both directions at once (kernels/bidirectional.py) equal one after the
  other and the reference, forward and backward, every merge mode, states and masks;
* stateful: calls run the fast kernel from the stored state (no reference fallback).

Random non-zero weights throughout; also run with numba absent (.ci/run).
"""
from __future__ import annotations

import numpy as np
import pytest

from unrolled.core.kernels import bidirectional as directions
from unrolled.core.kernels import force, lstm_numba
from unrolled.layers import GRU, LSTM, Bidirectional, SimpleRNN

from .reference import nonzero_uniform, numeric_gradient, random_weights

CLASSES = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


def _list(out):
    return list(out) if isinstance(out, list) else [out]


def _train(layer, x, cotangents, **kwargs):
    """Outputs, dx, weight gradients and d initial_state of one training call."""
    y, cache = layer.forward(x, training=True, **kwargs)
    outs = _list(y)
    dy = cotangents if isinstance(y, list) else cotangents[0]
    dx, grads, d_init = layer.backward_with_states(dy, cache)
    return outs, dx, grads, d_init


def _assert_close(a, b, atol):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype
        np.testing.assert_allclose(u, v, atol=atol, rtol=atol)


# -- recurrent dropout ---------------------------------------------------------------------
DROPOUT_CASES = [
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.4)),
    ("LSTM", dict(recurrent_dropout=0.4, go_backwards=True, return_sequences=True,
                  return_state=True)),
    ("LSTM", dict(dropout=0.2, recurrent_dropout=0.3, use_bias=False, unit_forget_bias=False,
                  return_sequences=True)),
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.4, activation="relu",
                  recurrent_activation="hard_sigmoid", return_sequences=True)),
    ("GRU", dict(dropout=0.3, recurrent_dropout=0.4, return_sequences=True,
                 return_state=True)),
    ("GRU", dict(recurrent_dropout=0.4, reset_after=False, go_backwards=True)),
    ("GRU", dict(dropout=0.2, recurrent_dropout=0.5, use_bias=False, return_sequences=True)),
    ("GRU", dict(recurrent_dropout=0.3, activation="elu", recurrent_activation="hard_sigmoid",
                 return_sequences=True)),
    ("SimpleRNN", dict(dropout=0.3, recurrent_dropout=0.4, return_sequences=True,
                       return_state=True)),
    ("SimpleRNN", dict(recurrent_dropout=0.5, activation="elu", go_backwards=True)),
]


def _compiled_loops_expected(cls_name, options, dtype, loops):
    return (loops == "auto" and dtype == "float32"
            and (cls_name in ("LSTM", "SimpleRNN")
                 or (cls_name == "GRU" and options.get("reset_after", True)))
            and options.get("activation", "tanh") == "tanh"
            and options.get("recurrent_activation", "sigmoid") == "sigmoid"
            and lstm_numba.missing_reason() is None)


@pytest.mark.parametrize("loops", ["auto", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls_name,options", DROPOUT_CASES)
@pytest.mark.parametrize("shape", [(3, 6, 4), (1, 1, 2), (5, 3, 2)])
def test_dropout_kernel_matches_the_reference(monkeypatch, cls_name, options, dtype, shape,
                                              loops):
    if loops == "numpy":
        monkeypatch.setenv("UNROLLED_KERNEL", "numpy")
    monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)     # batch blocks on two threads
    rng = np.random.default_rng(11)
    B, T, F = shape
    layer = CLASSES[cls_name](5, dtype=dtype, seed=5, **options)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, rng))
    x = nonzero_uniform(rng, shape, 0.2, 1.0, dtype)
    initial = [nonzero_uniform(rng, (B, 5), dtype=dtype) for _ in range(layer.n_carry)]
    masks = layer.draw_dropout_masks(B)
    assert masks.recurrent is not None and masks.recurrent.any()
    y = layer.forward(x, training=True, dropout_masks=masks, initial_state=initial)[0]
    cot = [nonzero_uniform(rng, o.shape, dtype=dtype) for o in _list(y)]
    ours = _train(layer, x, cot, dropout_masks=masks, initial_state=initial)
    compiled = _compiled_loops_expected(cls_name, options, dtype, loops)
    assert layer.kernel_choice.name == ("numba" if compiled else "numpy"), layer.kernel_choice
    assert "recurrent_dropout in training: the dropout kernel" in layer.kernel_choice.reason
    monkeypatch.delenv("UNROLLED_KERNEL", raising=False)
    with force("reference"):
        theirs = _train(layer, x, cot, dropout_masks=masks, initial_state=initial)
        assert layer.kernel_choice.name == "reference"
    atol = 1e-5 if dtype == "float32" else 1e-12
    _assert_close(ours[0], theirs[0], atol)                    # outputs
    _assert_close([ours[1]], [theirs[1]], atol)                # dx
    _assert_close(ours[2], theirs[2], atol)                    # weight gradients
    _assert_close(list(ours[3]), list(theirs[3]), atol)        # d initial_state
    if B > 1:                                                   # nothing vacuous
        assert all(np.abs(g).max() > 0 for g in ours[2])


@pytest.mark.parametrize("cls_name,extra", [("LSTM", {}), ("SimpleRNN", {}), ("GRU", {}),
                                             ("GRU", {"reset_after": False})])
def test_dropout_kernel_finite_differences(cls_name, extra):
    """float64: the dropout kernel's gradients against central differences of its loss."""
    rng = np.random.default_rng(12)
    layer = CLASSES[cls_name](3, dtype="float64", dropout=0.3, recurrent_dropout=0.4,
                              return_sequences=True, seed=4, **extra)
    layer.build((None, 4, 2))
    layer.set_weights(random_weights(layer, rng))
    x = nonzero_uniform(rng, (2, 4, 2))
    masks = layer.draw_dropout_masks(2)
    cot = nonzero_uniform(rng, (2, 4, 3))

    def loss() -> float:
        return float(np.sum(layer.forward(x, training=True, dropout_masks=masks)[0] * cot))

    y, cache = layer.forward(x, training=True, dropout_masks=masks)
    assert layer.kernel_choice.name == "numpy" and "dropout kernel" in layer.kernel_choice.reason
    dx, grads = layer.backward(cot, cache)
    np.testing.assert_allclose(dx, numeric_gradient(loss, x), rtol=1e-6, atol=1e-8)
    for w, g in zip(layer.weights, grads):
        np.testing.assert_allclose(g, numeric_gradient(loss, w), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loops", ["auto", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls_name,options", DROPOUT_CASES)
def test_masked_calls_run_the_dropout_kernel_and_match_the_reference(monkeypatch, cls_name,
                                                                    options, dtype, loops):
    """A mask (holes, masked from the start, a fully masked sample, right padding) with
    recurrent dropout: on the compiled loops all samples run in one call, each held after
    its own number of unmasked steps; on the NumPy loops each group of samples with as many
    unmasked steps runs on those samples' dropout masks (kernels/masked.py). Either equals
    the reference scan's masked loop over the masked cell: outputs, dx, weight and state
    gradients."""
    if loops == "numpy":
        monkeypatch.setenv("UNROLLED_KERNEL", "numpy")
    monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)
    rng = np.random.default_rng(13)
    B, T, F = 5, 6, 3
    layer = CLASSES[cls_name](4, dtype=dtype, seed=6, **options)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, rng))
    x = nonzero_uniform(rng, (B, T, F), 0.2, 1.0, dtype)
    initial = [nonzero_uniform(rng, (B, 4), dtype=dtype) for _ in range(layer.n_carry)]
    mask = np.ones((B, T), bool)
    mask[0, [1, 4]] = False                  # holes
    mask[1, :2] = False                      # masked from the start
    mask[2] = False                          # nothing runs
    mask[3, 3:] = False                      # right padding (as many steps as sample 0)
    masks = layer.draw_dropout_masks(B)
    y = layer.forward(x, training=True, dropout_masks=masks, initial_state=initial, mask=mask)[0]
    cot = [nonzero_uniform(rng, o.shape, dtype=dtype) for o in _list(y)]
    ours = _train(layer, x, cot, dropout_masks=masks, initial_state=initial, mask=mask)
    compiled = _compiled_loops_expected(cls_name, options, dtype, loops)
    assert layer.kernel_choice.name == ("numba" if compiled else "numpy"), layer.kernel_choice
    assert "recurrent_dropout in training: the dropout kernel" in layer.kernel_choice.reason
    held = "each held after its own count" in layer.kernel_choice.reason
    assert held == compiled, layer.kernel_choice.reason
    assert held or "samples grouped by their count" in layer.kernel_choice.reason
    monkeypatch.delenv("UNROLLED_KERNEL", raising=False)
    with force("reference"):
        theirs = _train(layer, x, cot, dropout_masks=masks, initial_state=initial, mask=mask)
        assert layer.kernel_choice.name == "reference"
    atol = 1e-5 if dtype == "float32" else 1e-12
    _assert_close(ours[0], theirs[0], atol)
    _assert_close([ours[1]], [theirs[1]], atol)
    _assert_close(ours[2], theirs[2], atol)
    _assert_close(list(ours[3]), list(theirs[3]), atol)
    assert all(np.abs(g).max() > 0 for g in ours[2])


# -- Bidirectional -----------------------------------------------------------------------
BI_CASES = [
    ("LSTM", dict(return_sequences=True), "concat"),
    ("LSTM", dict(), "mul"),
    ("GRU", dict(return_sequences=True, return_state=True), "concat"),
    ("GRU", dict(reset_after=False), "ave"),
    ("SimpleRNN", dict(return_sequences=True), None),
    ("SimpleRNN", dict(return_state=True), "sum"),
]


def _bidirectional(cls_name, options, merge_mode, rng, shape):
    bi = Bidirectional(CLASSES[cls_name](4, **options), merge_mode=merge_mode)
    bi.build((None,) + shape[1:])
    bi.set_weights(random_weights(bi, rng))
    return bi


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("cls_name,options,merge_mode", BI_CASES)
def test_bidirectional_at_once_matches_one_after_the_other(monkeypatch, cls_name, options,
                                                           merge_mode, masked):
    rng = np.random.default_rng(13)
    shape = (3, 5, 2)
    bi = _bidirectional(cls_name, options, merge_mode, rng, shape)
    x = nonzero_uniform(rng, shape, 0.2, 1.0, "float32")
    kwargs = {}
    if masked:
        kwargs["mask"] = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 1, 1, 1]], bool)
    n_states = 2 if cls_name == "LSTM" else 1
    if bi.return_state:
        kwargs["initial_state"] = [nonzero_uniform(rng, (3, 4), dtype="float32")
                                   for _ in range(2 * n_states)]
    cot = [nonzero_uniform(rng, o.shape, dtype="float32")
           for o in _list(bi.forward(x, **kwargs)[0])]
    results = {}
    for mode in ("at_once", "sequential"):
        monkeypatch.setenv("UNROLLED_BIDIRECTIONAL", mode)
        results[mode] = _train(bi, x, cot, **kwargs)
        results[mode + " inference"] = _list(bi(x, **kwargs))
        assert bi.forward_layer.kernel_choice.reasons[-1].startswith(
            f"bidirectional: {mode.replace('_', ' ')}")
    monkeypatch.delenv("UNROLLED_BIDIRECTIONAL")
    with force("reference"):
        results["reference"] = _train(bi, x, cot, **kwargs)
        results["reference inference"] = _list(bi(x, **kwargs))
    for mode in ("at_once", "sequential"):
        ours, theirs = results[mode], results["reference"]
        _assert_close(ours[0], theirs[0], 1e-5)
        _assert_close(results[mode + " inference"], results["reference inference"], 1e-5)
        _assert_close([ours[1]], [theirs[1]], 2e-5)
        _assert_close(ours[2], theirs[2], 2e-5)
        _assert_close(list(ours[3]), list(theirs[3]), 2e-5)


def test_bidirectional_at_once_with_recurrent_dropout(monkeypatch):
    """Each direction draws its own masks; at once or not, the same masks give the same
    numbers (the layers' generators are drawn in the same order)."""
    rng = np.random.default_rng(14)
    x = nonzero_uniform(rng, (3, 5, 2), dtype="float32")
    outs = {}
    for mode in ("at_once", "sequential"):
        monkeypatch.setenv("UNROLLED_BIDIRECTIONAL", mode)
        bi = Bidirectional(LSTM(4, recurrent_dropout=0.5, dropout=0.2, seed=3,
                                return_sequences=True))
        bi.build((None, 5, 2))
        bi.set_weights(random_weights(bi, np.random.default_rng(15)))
        outs[mode] = _train(bi, x, [np.ones((3, 5, 8), "float32")])
        assert "dropout kernel" in bi.forward_layer.kernel_choice.reason
    _assert_close(outs["at_once"][0], outs["sequential"][0], 1e-6)
    _assert_close(outs["at_once"][2], outs["sequential"][2], 1e-6)


def test_bidirectional_plan_rules(monkeypatch):
    monkeypatch.delenv("UNROLLED_BIDIRECTIONAL", raising=False)
    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(directions, "load_average", lambda: 0.3)
    assert directions.plan(lambda: ["numba", "numba"], 32, 28, 32, 4).at_once
    monkeypatch.setattr(directions, "load_average", lambda: None)      # unknown: at once
    assert directions.plan(lambda: ["numba", "numba"], 32, 28, 32, 4).at_once
    monkeypatch.setattr(directions, "load_average", lambda: 3.0)
    busy = directions.plan(lambda: ["numba", "numba"], 32, 28, 32, 4)
    assert not busy.at_once and "no idle core" in busy.reason
    monkeypatch.setattr(directions, "load_average", lambda: 0.3)
    small = directions.plan(lambda: ["numba", "numba"], 1, 2, 4, 4)
    assert not small.at_once and "small" in small.reason
    # the demo shape (32, 14, 4, 32): 1.8 M multiply-adds per direction, below the handoff
    demo = directions.plan(lambda: ["numba", "numba"], 32, 14, 32, 4)
    assert not demo.at_once and "1,835,008 < 2,000,000" in demo.reason
    large = directions.plan(lambda: ["numba", "numba"], 128, 100, 512, 4)
    assert not large.at_once and "large step" in large.reason
    numpy = directions.plan(lambda: ["numpy", "numpy"], 32, 28, 32, 4)
    assert not numpy.at_once and "GIL" in numpy.reason
    monkeypatch.setenv("UNROLLED_NUM_THREADS", "1")
    assert not directions.plan(lambda: ["numba", "numba"], 32, 28, 32, 4).at_once


def test_bidirectional_at_once_raises_a_directions_error(monkeypatch):
    """An error in the direction run on the other thread reaches the caller."""
    monkeypatch.setenv("UNROLLED_BIDIRECTIONAL", "at_once")
    bi = Bidirectional(LSTM(3, return_state=True))
    bi.build((None, 4, 2))
    with pytest.raises(Exception, match="initial_state"):
        bi(np.ones((2, 4, 2), "float32"),
           initial_state=[np.ones((2, 3), "float32")] * 2 + [np.ones((2, 5), "float32")] * 2)


# -- stateful ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
def test_stateful_runs_the_fast_kernel_from_the_stored_state(cls_name):
    rng = np.random.default_rng(16)
    layer = CLASSES[cls_name](4, stateful=True, return_sequences=True)
    layer.build((2, 6, 3))
    layer.set_weights(random_weights(layer, rng))
    x = nonzero_uniform(rng, (2, 6, 3), dtype="float32")
    fast = layer(x[:, :3]), layer(x[:, 3:])
    slim = {"LSTM": "numpy", "GRU": "reference", "SimpleRNN": "reference"}   # numba absent
    expected = slim[cls_name] if lstm_numba.missing_reason() else "numba"
    assert layer.kernel_choice.name == expected
    state_fast = [s.copy() for s in layer.states]
    layer.reset_state()
    with force("reference"):
        ref = layer(x[:, :3]), layer(x[:, 3:])
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(state_fast, layer.states):
        np.testing.assert_allclose(a, b, atol=1e-5)


# -- what summary() / unrolled info say -------------------------------------------------------
def test_kernel_report_names_the_options():
    import unrolled

    model = unrolled.Sequential([unrolled.Input((14, 4), batch_size=32),
                                 Bidirectional(LSTM(32, return_sequences=True,
                                                    recurrent_dropout=0.2)),
                                 GRU(4, stateful=True, recurrent_dropout=0.1)])
    before = model.kernel_report()
    assert all("not yet called" in line for line in before)
    assert "in training, recurrent_dropout in training: the dropout kernel" in before[0]
    assert "bidirectional:" in before[0] and "bidirectional:" in before[1]
    assert before[0].count("bidirectional:") == 1
    assert "stateful: the stored states" in before[2]
    assert "in training, recurrent_dropout in training: the dropout kernel" in before[2]
    x = np.ones((32, 14, 4), "float32")
    model.predict(x, verbose=0, batch_size=32)
    after = model.kernel_report()
    assert "last call" in after[0] and "bidirectional:" in after[0]
    assert "stateful: the stored states" in after[2]
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, np.zeros((32, 4), "float32"))
    trained = model.kernel_report()
    assert "the dropout kernel" in trained[0] and "bidirectional:" in trained[0]
