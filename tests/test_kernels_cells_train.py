"""The GRU and SimpleRNN training kernels (:mod:`unrolled.core.kernels.cells_train`)
against the reference scan, the oracle.

Outputs and every gradient (dx, dkernel, drecurrent_kernel, dbias, d initial state) of
``forward(training=True)`` + ``backward_with_states`` must agree for every option:
reset_after both ways, use_bias, return_sequences / return_state, go_backwards,
initial_state, batch 1, one timestep. Under CI=true a missing numba fails these tests
instead of skipping them (see ``tests/peers.py``).
"""
from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from tests.peers import require
from unrolled import Sequential
from unrolled.core.gru import GRUCell
from unrolled.core.kernels import cells_numba, cells_train, dispatch, force, lstm_numba
from unrolled.core.kernels.reference import REFERENCE
from unrolled.core.kernels.runtime import loading
from unrolled.core.simple_rnn import SimpleRNNCell
from unrolled.layers import GRU, Dense, SimpleRNN

# float32 tolerance, on the scale of each array (max(1, max |reference|)): the kernels'
# rational tanh/sigmoid differ from NumPy's by < 3e-7 per activation and their GEMMs sum
# in another order, so an entry's error follows the size of the sums it came from, not the
# entry (a SimpleRNN gradient entry of 0.2 next to entries of 13 is off by 6e-5). Measured
# max 4.6e-6 over these tests; 2e-5 leaves room for other BLAS builds yet fails on any
# wrong term (a swapped gate or a missing bias gradient is off by O(0.1) here).
TOL = 2e-5

CELLS = [
    (GRU, {}), (GRU, {"reset_after": False}), (GRU, {"use_bias": False}),
    (GRU, {"reset_after": False, "use_bias": False}),
    (SimpleRNN, {}), (SimpleRNN, {"use_bias": False}),
]
CELL_IDS = ["gru", "gru-before", "gru-nobias", "gru-before-nobias", "rnn", "rnn-nobias"]
OUTPUTS = [dict(zip(("return_sequences", "return_state", "go_backwards"), flags))
           for flags in itertools.product((False, True), repeat=3)]
SHAPES = [(3, 5, 4, 6), (1, 7, 3, 4), (4, 1, 2, 3), (1, 1, 2, 1), (5, 9, 2, 40)]  # B T F H


def needs_numba() -> None:
    require("numba")
    require("scipy")


def make(cls, units: int, features: int, timesteps: int, seed: int = 0, scale: float = 0.6,
         **options):
    """A layer with random non-zero weights and biases (a swapped gate cannot hide)."""
    rng = np.random.default_rng(seed)
    layer = cls(units, seed=seed, **options)
    layer.build((None, timesteps, features))
    layer.set_weights([rng.uniform(-scale, scale, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    return layer


def run(layer, kernel, x, initial=None, seed: int = 1):
    """Forward + backward with random upstream gradients: [outputs..., dx, grads..., dh0]."""
    rng = np.random.default_rng(seed)
    with force(kernel):
        y, cache = layer.forward(x, training=True, initial_state=initial)
        outs = y if isinstance(y, list) else [y]
        dys = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
        dx, grads, d_init = layer.backward_with_states(dys if isinstance(y, list) else dys[0],
                                                       cache)
    return [np.array(o) for o in outs] + [dx, *grads, *d_init], cache


def assert_same(got, want):
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, (k, a.shape, b.shape)
        assert a.dtype == np.float32, (k, a.dtype)
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL * scale, err_msg=f"array {k}")


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("outputs", OUTPUTS,
                         ids=lambda o: "-".join(k for k, v in o.items() if v) or "last")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}F{}H{}".format(*s))
def test_training_matches_reference(cell, outputs, shape):
    needs_numba()
    cls, options = cell
    B, T, F, H = shape
    layer = make(cls, H, F, T, **options, **outputs)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    init = [rng.standard_normal((B, H)).astype(np.float32)]
    for initial in (None, init):
        got, cache = run(layer, None, x, initial)
        assert isinstance(cache.saved, cells_train.CellTrainCache)
        assert "numba — training" in dispatch.describe(layer)
        want, ref_cache = run(layer, "reference", x, initial)
        assert ref_cache.kernel is REFERENCE
        assert_same(got, want)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_long_sequence_and_vanishing_gradients(cell):
    """90 steps: gradients shrink through time by orders of magnitude and must still match
    (relative to each array's scale) where the kernel has not flushed them to zero."""
    needs_numba()
    cls, options = cell
    B, T, F, H = 7, 90, 3, 32
    layer = make(cls, H, F, T, scale=0.15, return_sequences=True, **options)
    x = np.random.default_rng(5).standard_normal((B, T, F)).astype(np.float32)
    got, _ = run(layer, None, x)
    want, _ = run(layer, "reference", x)
    assert_same(got, want)


def test_flush_to_zero_keeps_nan():
    needs_numba()
    ftz = cells_train.impl().ftz
    assert ftz(np.float32(1e-39)) == 0.0 and ftz(np.float32(-1e-39)) == 0.0
    assert ftz(np.float32(2e-38)) == np.float32(2e-38)
    assert np.isnan(ftz(np.float32(np.nan)))


@pytest.mark.parametrize("cell", CELLS[:2] + CELLS[4:5], ids=CELL_IDS[:2] + CELL_IDS[4:5])
def test_fit_matches_reference(cell):
    """A few fit() steps (Adam, MSE) through a two-layer model: same weights as the
    reference path."""
    needs_numba()
    cls, options = cell
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 6, 3)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)

    def trained(kernel):
        model = Sequential([cls(5, input_shape=(6, 3), return_sequences=True, seed=1, **options),
                            cls(4, seed=2, **options), Dense(2, seed=3)])
        model.compile(optimizer="adam", loss="mse")
        model.set_weights([w + 0.3 for w in model.get_weights()])   # non-zero biases too
        start = [w.copy() for w in model.get_weights()]
        with force(kernel):
            model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return start, model

    start, fast = trained(None)
    start_ref, ref = trained("reference")
    assert all("numba — training" in line for line in fast.kernel_report())
    for a, b in zip(start, start_ref):
        np.testing.assert_array_equal(a, b)
    for a, b, s0 in zip(fast.get_weights(), ref.get_weights(), start):
        assert not np.allclose(a, s0)                               # fit moved every weight
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)      # 8 Adam steps of 1e-3


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_returned_arrays_belong_to_the_caller(cell):
    """Outputs and gradients survive later calls (which reuse pooled buffers), and one
    cache can be used for backward twice."""
    needs_numba()
    cls, options = cell
    layer = make(cls, 6, 3, 7, return_sequences=True, return_state=True, **options)
    rng = np.random.default_rng(8)
    x1, x2 = (rng.standard_normal((2, 7, 3)).astype(np.float32) for _ in range(2))

    def train(x):
        y, cache = layer.forward(x, training=True)
        dx, grads, d_init = layer.backward_with_states([np.ones_like(a) for a in y], cache)
        return [*y, dx, *grads, *d_init], cache

    out1, cache1 = train(x1)
    saved = [a.copy() for a in out1]
    out2, _ = train(x2)
    again = layer.backward_with_states([np.ones_like(a) for a in out1[:2]], cache1)
    for a, b in zip(out1, saved):
        np.testing.assert_array_equal(a, b)
    for a, b in zip([again[0], *again[1], *again[2]], saved[2:]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(out1[0], out2[0])
    assert not np.shares_memory(out1[0], out1[1])


@pytest.mark.parametrize("cell", CELLS[:2] + CELLS[4:5], ids=CELL_IDS[:2] + CELL_IDS[4:5])
def test_two_threads_share_a_layer(cell):
    needs_numba()
    cls, options = cell
    B, T, F, H = 4, 60, 3, 16
    layer = make(cls, H, F, T, scale=0.3, return_state=True, **options)
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((B, T, F)).astype(np.float32) for _ in range(8)]

    def job(x):
        y, cache = layer.forward(x, training=True)
        _, grads, _ = layer.backward_with_states([np.ones_like(a) for a in y], cache)
        return [a.copy() for a in y] + [g.copy() for g in grads]

    expected = [job(x) for x in xs]
    assert "numba — training" in dispatch.describe(layer)
    results: dict[tuple[int, int], tuple[int, list[np.ndarray]]] = {}
    errors = []

    def worker(wid: int) -> None:
        try:
            for rep in range(5):
                for k in range(len(xs)):
                    idx = (k + wid * 3) % len(xs)
                    results[(wid, rep * 100 + idx)] = (idx, job(xs[idx]))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2 * 5 * len(xs)
    for idx, got in results.values():
        for a, b in zip(got, expected[idx]):
            np.testing.assert_array_equal(a, b)


# -- dispatch ----------------------------------------------------------------------------------

def test_training_reasons():
    gru = {"cell": GRUCell, "activation": "tanh", "recurrent_activation": "sigmoid",
           "dtype": np.float32, "units": 512}
    rnn = dict(gru, cell=SimpleRNNCell, recurrent_activation=None)
    if cells_numba.missing_reason() is None:
        for opts in (gru, rnn):
            sel = dispatch.select_kernel(opts, 128, 100, True)
            assert sel.name == "numba" and sel.reason.startswith("training")
            assert sel.kernel.forward is not None and sel.kernel.backward is not None
    with force("reference"):
        assert dispatch.select_kernel(gru, 1, 5, True).reason == "forced by force()"
    sel = dispatch.select_kernel(dict(gru, recurrent_activation="hard_sigmoid"), 1, 5, True)
    assert sel.name == "reference" and "hard_sigmoid" in sel.reason


def test_missing_numba_trains_on_reference(monkeypatch):
    monkeypatch.setattr(loading, "missing_reason",
                        lambda: "numba not installed (pip install 'unrolled[fast]')")
    layer = make(GRU, 4, 3, 5)
    _, cache = layer.forward(np.zeros((2, 5, 3), np.float32), training=True)
    assert cache.kernel is REFERENCE
    assert "unrolled[fast]" in dispatch.describe(layer)


@pytest.mark.parametrize("cls,kw,word", [
    (GRU, {"activation": "relu"}, "relu"), (SimpleRNN, {"activation": "elu"}, "elu"),
    (GRU, {"recurrent_activation": "hard_sigmoid"}, "hard_sigmoid")])
def test_unsupported_options_train_on_reference(cls, kw, word):
    layer = make(cls, 4, 3, 5, **kw)
    x = np.random.default_rng(12).standard_normal((2, 5, 3)).astype(layer.dtype)
    got, cache = run(layer, None, x)
    assert cache.kernel is REFERENCE and word in dispatch.describe(layer)
    want, _ = run(layer, "reference", x)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [GRU, SimpleRNN])
def test_masked_training_runs_the_numba_kernel_with_the_mask_in_its_loop(cls):
    require("numba")
    layer = make(cls, 4, 3, 5, return_sequences=True)
    x = np.random.default_rng(11).standard_normal((2, 5, 3)).astype(np.float32)
    mask = np.ones((2, 5), bool)
    mask[0, 3:] = False
    mask[1, 1] = False
    y, cache = layer.forward(x, training=True, mask=mask)
    assert cache.kernel is (cells_numba.GRU_KERNEL if cls is GRU else cells_numba.SIMPLE_RNN_KERNEL)
    assert "time loop skips" in dispatch.describe(layer)
    assert "numba — training" in dispatch.describe(layer)
    assert "masked:" in dispatch.describe(layer)
    with force("reference"):
        np.testing.assert_allclose(layer.forward(x, training=True, mask=mask)[0], y,
                                   rtol=0, atol=1e-5)
