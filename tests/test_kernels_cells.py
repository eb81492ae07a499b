"""The numba GRU and SimpleRNN inference kernels against the reference path.

Every option combination of ``layer(x)`` (return_sequences/state, go_backwards, use_bias,
GRU reset_after, initial_state) must agree with the reference scan within 1e-5 float32;
masked calls keep the reference path. Training: ``tests/test_kernels_cells_train.py``.
Under CI=true a missing numba fails these tests instead of skipping them (see
``tests/peers.py``).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.peers import require
from unrolled import Sequential
from unrolled.core.gru import GRUCell
from unrolled.core.kernels import cells_numba, dispatch, force, lstm_numba
from unrolled.core.kernels.reference import REFERENCE
from unrolled.core.kernels.runtime import loading
from unrolled.core.simple_rnn import SimpleRNNCell
from unrolled.layers import GRU, SimpleRNN

TOL = 1e-5


def needs_numba() -> None:
    require("numba")
    require("scipy")


def make(cls, units: int, features: int, timesteps: int, seed: int = 0, scale: float = 0.6,
         **options):
    """A layer with random non-zero weights and biases (a swapped gate cannot hide).
    Long sequences need a smaller ``scale``: a chaotic SimpleRNN amplifies float32
    rounding differences between any two correct implementations."""
    rng = np.random.default_rng(seed)
    layer = cls(units, seed=seed, **options)
    layer.build((None, timesteps, features))
    layer.set_weights([rng.uniform(-scale, scale, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    return layer


def as_list(y):
    return y if isinstance(y, list) else [y]


def assert_same(got, want):
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, (k, a.shape, b.shape)
        assert a.dtype == np.float32, (k, a.dtype)
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"array {k}")


CELLS = [
    (GRU, {}), (GRU, {"reset_after": False}), (GRU, {"use_bias": False}),
    (GRU, {"reset_after": False, "use_bias": False}),
    (SimpleRNN, {}), (SimpleRNN, {"use_bias": False}),
]
CELL_IDS = ["gru", "gru-before", "gru-nobias", "gru-before-nobias", "rnn", "rnn-nobias"]
OUTPUTS = [dict(zip(("return_sequences", "return_state", "go_backwards"), flags))
           for flags in itertools.product((False, True), repeat=3)]
SHAPES = [(3, 5, 4, 6), (1, 7, 3, 4), (4, 1, 2, 3), (1, 1, 2, 1), (5, 9, 2, 40)]  # B T F H


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("outputs", OUTPUTS,
                         ids=lambda o: "-".join(k for k, v in o.items() if v) or "last")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}F{}H{}".format(*s))
def test_inference_matches_reference(cell, outputs, shape):
    needs_numba()
    cls, options = cell
    B, T, F, H = shape
    layer = make(cls, H, F, T, **options, **outputs)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    init = rng.standard_normal((B, H)).astype(np.float32)
    for initial in (None, [init]):
        with force("reference"):
            want = layer(x, initial_state=initial)
        got = layer(x, initial_state=initial)
        assert dispatch.describe(layer).split(" — ")[0].endswith("numba")
        strided = np.repeat(x, 2, axis=2)[:, :, ::2]                 # not C-contiguous
        assert not strided.flags.c_contiguous
        sliced = layer(strided, initial_state=initial)
        listed = layer(x.tolist(), initial_state=initial)             # the full input path
        for out in (got, sliced, listed):
            assert_same(out, want)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("mode", ["blocks", "large"])
def test_batch_blocks_and_large_steps(cell, mode, monkeypatch):
    """Several batch blocks on threads, and the sgemm-per-step mode forced small."""
    needs_numba()
    cls, options = cell
    B, T, F, H = 7, 90, 3, 32
    if mode == "large":
        monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
    else:
        monkeypatch.setattr(lstm_numba, "num_threads", lambda: 3)
        monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)
        assert len(lstm_numba.blocks(B, H, T, 3 if cls is GRU else 1)) == 3
    rng = np.random.default_rng(5)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    init = [rng.standard_normal((B, H)).astype(np.float32)]
    for outputs in ({"return_state": True}, {"return_sequences": True, "go_backwards": True}):
        layer = make(cls, H, F, T, scale=0.15, **options, **outputs)
        for initial in (None, init):
            with force("reference"):
                want = layer(x, initial_state=initial)
            got = layer(x, initial_state=initial)
            assert_same(got, want)
            if mode == "large":
                assert "large step" in dispatch.describe(layer)


@pytest.mark.parametrize("cell", CELLS[::2] + CELLS[4:], ids=CELL_IDS[::2] + CELL_IDS[4:])
def test_model_call_and_predict(cell):
    needs_numba()
    cls, options = cell
    model = Sequential([cls(6, input_shape=(5, 3), return_sequences=True, **options),
                        cls(4, **options)])
    x = np.random.default_rng(6).standard_normal((3, 5, 3)).astype(np.float32)
    with force("reference"):
        want = model(x)
    assert_same(model(x), want)
    assert_same(model.predict(x, verbose=0), want)
    lines = model.kernel_report()
    assert len(lines) == 2 and all("numba" in line for line in lines)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_returned_arrays_belong_to_the_caller(cell):
    needs_numba()
    cls, options = cell
    layer = make(cls, 6, 3, 7, return_sequences=True, return_state=True, **options)
    rng = np.random.default_rng(8)
    x1, x2 = (rng.standard_normal((2, 7, 3)).astype(np.float32) for _ in range(2))
    y1 = layer(x1)
    saved = [a.copy() for a in y1]
    y2 = layer(x2)
    for a, b in zip(y1, saved):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(y1[0], y2[0])
    assert not np.shares_memory(y1[0], y1[1])


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_nan_propagates(cell):
    needs_numba()
    cls, options = cell
    layer = make(cls, 5, 3, 4, return_sequences=True, **options)
    x = np.random.default_rng(9).standard_normal((2, 4, 3)).astype(np.float32)
    x[1, 1, 0] = np.nan
    with force("reference"), np.errstate(invalid="ignore"):
        want = layer(x)
    got = layer(x)
    assert "numba" in dispatch.describe(layer)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[1, 1:]).all() and not np.isnan(got[0]).any()
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=TOL, atol=TOL)


def test_fast_tanh_accuracy_and_nan():
    needs_numba()
    mod = cells_numba.impl()
    x = np.linspace(-12, 12, 400_001, dtype=np.float32)
    y = np.empty_like(x)
    mod.tanh_array(x, y)
    assert np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64))).max() < 3e-7
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    out = np.empty_like(special)
    mod.tanh_array(special, out)
    assert np.isnan(out[0]) and abs(out[1] - 1) < 3e-7 and abs(out[2] + 1) < 3e-7


# -- dispatch: training, masks, options and a missing numba keep the reference path --------

@pytest.mark.parametrize("cls", [GRU, SimpleRNN])
def test_training_uses_the_training_kernel(cls):
    """Training runs the kernel's forward/backward (tests/test_kernels_cells_train.py);
    forcing the reference path still gives the reference scan's cache."""
    needs_numba()
    layer = make(cls, 4, 3, 5, return_state=True)
    x = np.random.default_rng(10).standard_normal((2, 5, 3)).astype(np.float32)
    with force("numba"):
        sel = dispatch.select_kernel(layer, 2, 5, True)
    assert sel.name == "numba" and sel.kernel.forward is not None
    _, cache = layer.forward(x, training=True)
    assert cache.kernel is (cells_numba.GRU_KERNEL if type(layer).__name__ == "GRU"
                            else cells_numba.SIMPLE_RNN_KERNEL)
    assert "numba — training" in dispatch.describe(layer)
    with force("reference"):
        _, cache = layer.forward(x, training=True)
    assert cache.kernel is REFERENCE


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_backward_after_inference_forward(cell):
    """forward(training=False) (predict's path) runs the kernel; a backward through its
    cache reruns the reference forward and gives the reference gradients."""
    cls, options = cell
    layer = make(cls, 4, 3, 6, return_sequences=True, return_state=True, **options)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 6, 3)).astype(np.float32)
    init = [rng.standard_normal((3, 4)).astype(np.float32)]
    for initial in (None, init):
        with force("reference"):
            y_ref, c_ref = layer.forward(x, initial_state=initial)
            dys = [rng.standard_normal(a.shape).astype(np.float32) for a in y_ref]
            want = layer.backward_with_states(dys, c_ref)
        y, cache = layer.forward(x, initial_state=initial)
        if cells_numba.missing_reason() is None:
            assert "numba" in dispatch.describe(layer)
        assert_same(y, y_ref)
        x[...] += 1.0                   # the cache is the layer's own: caller may reuse x
        got = layer.backward_with_states(dys, cache)
        x[...] -= 1.0
        assert_same([got[0], *got[1], *got[2]], [want[0], *want[1], *want[2]])


@pytest.mark.parametrize("cls", [GRU, SimpleRNN])
def test_masked_calls_run_the_numba_kernel_with_the_mask_in_its_loop(cls):
    needs_numba()
    layer = make(cls, 4, 3, 5, return_sequences=True)
    x = np.random.default_rng(11).standard_normal((2, 5, 3)).astype(np.float32)
    mask = np.ones((2, 5), bool)
    mask[0, 3:] = False
    mask[1, 1] = False
    y, cache = layer.forward(x, training=False, mask=mask)
    assert cache.kernel is (cells_numba.GRU_KERNEL if cls is GRU else cells_numba.SIMPLE_RNN_KERNEL)
    assert "time loop skips" in dispatch.describe(layer)
    assert "numba — " in dispatch.describe(layer) and "masked:" in dispatch.describe(layer)
    with force("reference"):
        np.testing.assert_allclose(layer.forward(x, training=False, mask=mask)[0], y,
                                   rtol=0, atol=1e-5)


@pytest.mark.parametrize("cls,kw,word", [
    (GRU, {"activation": "relu"}, "relu"), (GRU, {"recurrent_activation": "hard_sigmoid"},
                                            "hard_sigmoid"),
    (SimpleRNN, {"activation": "relu"}, "relu")])
def test_unsupported_options_use_reference(cls, kw, word):
    layer = make(cls, 4, 3, 5, **kw)
    sel = dispatch.select_kernel(layer, 2, 5, False)
    assert sel.name == "reference" and word in sel.reason
    x = np.random.default_rng(12).standard_normal((2, 5, 3)).astype(layer.dtype)
    with force("reference"):
        want = layer(x)
    np.testing.assert_array_equal(layer(x), want)


def test_reasons_and_missing_numba(monkeypatch):
    gru = {"cell": GRUCell, "activation": "tanh", "recurrent_activation": "sigmoid",
           "dtype": np.float32, "units": 32}
    rnn = dict(gru, cell=SimpleRNNCell, recurrent_activation=None)
    if cells_numba.missing_reason() is None:
        sel = dispatch.select_kernel(gru, 1, 50, False)
        assert sel.name == "numba" and "small step" in sel.reason
        sel = dispatch.select_kernel(dict(gru, units=512), 128, 100, False)
        assert sel.name == "numba" and "large step" in sel.reason
        assert dispatch.select_kernel(rnn, 1, 50, False).name == "numba"
    with force("numpy"):
        sel = dispatch.select_kernel(gru, 1, 50, False)
        assert sel.name == "reference" and "no NumPy kernel" in sel.reason
    monkeypatch.setattr(loading, "missing_reason",
                        lambda: "numba not installed (pip install 'unrolled[fast]')")
    for opts in (gru, rnn):
        sel = dispatch.select_kernel(opts, 1, 50, False)
        assert sel.name == "reference" and "pip install 'unrolled[fast]'" in sel.reason
    layer = make(GRU, 4, 3, 5)
    layer(np.zeros((1, 5, 3), np.float32))
    assert "unrolled[fast]" in dispatch.describe(layer)


def test_forcing_numba_without_numba_names_the_extra(monkeypatch):
    layer = make(SimpleRNN, 4, 3, 5)
    monkeypatch.setattr(cells_numba, "COMPILED", loading.CompiledModule(
        "._numba_cells", "the numba GRU/SimpleRNN kernels need"))

    def broken(*_args, **_kwargs):
        raise ModuleNotFoundError("No module named 'numba'", name="numba")

    monkeypatch.setattr(loading.importlib, "import_module", broken)   # the shared loader
    monkeypatch.setattr(loading, "choose_cache_dir", lambda: None)
    with force("numba"), pytest.raises(ImportError, match=r"unrolled\[fast\]"):
        layer(np.zeros((1, 5, 3), np.float32))
