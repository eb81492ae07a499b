"""Every fast LSTM kernel against the reference path (the oracle), for every layer option.

The reference path is :mod:`unrolled.core.scan` + :mod:`unrolled.core.lstm`; the fast
paths are :mod:`unrolled.core.kernels` ("numpy" and "numba"). Outputs, every weight
gradient, dL/dx and dL/d initial state must agree within 1e-5 (float32). Under CI=true a
missing numba fails the numba tests instead of skipping them (see ``tests/peers.py``).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.peers import require
from unrolled import Sequential
from unrolled.core.kernels import dispatch, force, lstm_numba, select_lstm_kernel
from unrolled.core.kernels.runtime import loading
from unrolled.core.lstm import LSTMCell
from unrolled.layers import LSTM

FAST = ["numpy", "numba"]
TOL = 1e-5


def needs(kernel: str) -> None:
    if kernel == "numba":
        require("numba")
        require("scipy")


def make(units: int, features: int, timesteps: int, seed: int = 0, **options) -> LSTM:
    """An LSTM with random non-zero weights *and biases* (a swapped gate cannot hide)."""
    rng = np.random.default_rng(seed)
    layer = LSTM(units, seed=seed, **options)
    layer.build((None, timesteps, features))
    layer.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype(layer.dtype) for w in layer.get_weights()])
    return layer


def run(layer: LSTM, kernel: str, x: np.ndarray, initial=None, seed: int = 1, training=True):
    """Forward + backward with random upstream gradients; everything as one flat list."""
    rng = np.random.default_rng(seed)
    with force(kernel):
        y, cache = layer.forward(x, training=training, initial_state=initial)
        outs = y if isinstance(y, list) else [y]
        dys = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]
        dx, grads, d_init = layer.backward_with_states(dys if isinstance(y, list) else dys[0], cache)
    return [np.array(o) for o in outs], [dx, *grads, *d_init]


def assert_same(fast, ref, dtype=np.float32):
    for k, (a, b) in enumerate(zip(fast, ref)):
        assert a.shape == b.shape, (k, a.shape, b.shape)
        assert a.dtype == dtype, (k, a.dtype)
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=f"array {k}")


OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True},
    {"go_backwards": True},
    {"go_backwards": True, "return_sequences": True, "return_state": True},
    {"use_bias": False},
    {"use_bias": False, "return_sequences": True, "go_backwards": True},
]
SHAPES = [(3, 5, 4, 6), (1, 5, 3, 4), (4, 1, 2, 3), (1, 1, 2, 1), (5, 9, 2, 8)]  # B, T, F, H


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}F{}H{}".format(*s))
def test_fast_kernel_matches_reference(kernel, options, shape):
    needs(kernel)
    B, T, F, H = shape
    layer = make(H, F, T, **options)
    x = np.random.default_rng(2).standard_normal((B, T, F)).astype(np.float32)
    ref = run(layer, "reference", x)
    fast = run(layer, kernel, x)
    assert_same(fast[0], ref[0])
    assert_same(fast[1], ref[1])


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "go_backwards": True},
                                     {"return_state": True}], ids=["default", "seq-back", "state"])
def test_initial_state(kernel, options):
    needs(kernel)
    layer = make(5, 3, 4, **options)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    init = [rng.standard_normal((2, 5)).astype(np.float32) for _ in range(2)]
    ref = run(layer, "reference", x, init)
    fast = run(layer, kernel, x, init)
    assert_same(fast[0], ref[0])
    assert_same(fast[1], ref[1])   # includes dL/dh0 and dL/dc0


@pytest.mark.parametrize("kernel", FAST)
def test_backward_after_inference_forward(kernel):
    """A cache from training=False still gives the right gradients (recomputed)."""
    needs(kernel)
    layer = make(4, 3, 6, return_sequences=True)
    x = np.random.default_rng(4).standard_normal((3, 6, 3)).astype(np.float32)
    ref = run(layer, "reference", x, training=False)
    fast = run(layer, kernel, x, training=False)
    assert_same(fast[0], ref[0])
    assert_same(fast[1], ref[1])


@pytest.mark.parametrize("kernel", FAST)
def test_sizes_that_split_the_batch(kernel):
    """Enough work that the numba path runs batch blocks on several threads."""
    needs(kernel)
    B, T, F, H = 6, 120, 3, 32
    layer = make(H, F, T, return_state=True)
    x = np.random.default_rng(5).standard_normal((B, T, F)).astype(np.float32)
    if kernel == "numba":
        assert len(lstm_numba.blocks(B, H, T)) == min(B, lstm_numba.num_threads())
    ref = run(layer, "reference", x)
    fast = run(layer, kernel, x)
    assert_same(fast[0], ref[0])
    assert_same(fast[1], ref[1])


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (1, 1, 2, 1)], ids=["B3T5F4H6", "B1T1F2H1"])
def test_numba_large_step_mode_matches_reference(monkeypatch, options, shape):
    """The GEMM-bound mode (NumPy sgemm per step + compiled gate passes), forced small."""
    needs("numba")
    monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
    B, T, F, H = shape
    layer = make(H, F, T, **options)
    x = np.random.default_rng(2).standard_normal((B, T, F)).astype(np.float32)
    init = [np.random.default_rng(3).standard_normal((B, H)).astype(np.float32) for _ in range(2)]
    for initial in (None, init):
        ref = run(layer, "reference", x, initial)
        fast = run(layer, "numba", x, initial)
        assert_same(fast[0], ref[0])
        assert_same(fast[1], ref[1])
        with force("numba"):
            got = layer(x, initial_state=initial)
        with force("reference"):
            want = layer(x, initial_state=initial)
        assert_same(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want])


INFER_SHAPES = [(3, 5, 4, 6), (1, 1, 2, 1), (1, 7, 8, 32), (2, 6, 3, 40), (6, 120, 3, 32)]


@pytest.mark.parametrize("kernel", [None, *FAST])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize("shape", INFER_SHAPES, ids=lambda s: "B{}T{}F{}H{}".format(*s))
def test_inference_call_matches_reference(kernel, options, shape):
    """``layer(x)`` takes the inference-only path (one compiled call per batch block for
    numba; small-H loop and BLAS products; several blocks at the last shape)."""
    if kernel:
        needs(kernel)
    B, T, F, H = shape
    layer = make(H, F, T, **options)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    init = [rng.standard_normal((B, H)).astype(np.float32) for _ in range(2)]
    for initial in (None, init):
        with force("reference"):
            want = layer(x, initial_state=initial)
        with force(kernel):
            got = layer(x, initial_state=initial)
            sliced = layer(np.asfortranarray(x), initial_state=initial)   # not C-contiguous
            listed = layer(x.tolist(), initial_state=initial)              # full input path
        for out in (got, sliced, listed):
            out = out if isinstance(out, list) else [out]
            assert_same(out, want if isinstance(want, list) else [want])


def test_model_call_matches_forward():
    model = Sequential([LSTM(6, input_shape=(5, 3), return_sequences=True), LSTM(4)])
    x = np.random.default_rng(5).standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x), model.forward(x)[0], rtol=TOL, atol=TOL)
    with force("reference"):
        np.testing.assert_allclose(model(x), model.forward(x)[0], rtol=TOL, atol=TOL)


def test_kernel_choice_is_memoised_but_follows_changes():
    """The per-layer memo of the kernel choice re-decides when its inputs change."""
    from unrolled.core import activations
    from unrolled.core.lstm import LSTMCell

    layer = make(4, 3, 5)
    x = np.zeros((2, 5, 3), np.float32)
    layer(x)
    auto = dispatch.describe(layer)
    with force("reference"):
        layer(x)
        assert "reference" in dispatch.describe(layer)
    layer(x)
    assert dispatch.describe(layer) == auto
    layer._cell = LSTMCell(activations.get("relu"), layer.cell.recurrent_activation)
    layer(x)
    assert "relu" in dispatch.describe(layer)


def test_scratch_buffers_are_per_thread_and_reused():
    from unrolled.core.kernels.lstm_fast import scratch

    a = scratch("test", (3, 4))
    assert scratch("test", (3, 4)) is a and a.dtype == np.float32
    other = []
    t = threading.Thread(target=lambda: other.append(scratch("test", (3, 4))))
    t.start()
    t.join()
    assert other[0] is not a


def test_recycled_arrays_are_reused_only_when_unreferenced():
    from unrolled.core.kernels.lstm_fast import recycled

    shape = (64, 64, 64)                       # 1 MB: big enough to be pooled
    def address(arr):
        return arr.__array_interface__["data"][0]

    a = recycled("test", shape)
    b = recycled("test", shape)
    assert not np.shares_memory(a, b)          # a is alive: b must be another array
    pooled = {address(a), address(b)}
    keep = a[3:5]                              # a view of a view keeps the owner busy too
    del a
    c = recycled("test", shape)
    assert not np.shares_memory(c, keep)
    del keep, b, c
    d = recycled("test", shape)
    e = recycled("test", shape)                # both owners free again: reused
    assert d.dtype == np.float32 and not np.shares_memory(d, e)
    assert {address(d), address(e)} == pooled


@pytest.mark.parametrize("kernel", FAST)
@pytest.mark.parametrize("activation,recurrent", [("elu", "sigmoid"), ("relu", "sigmoid"),
                                                  ("tanh", "hard_sigmoid"), ("softsign", "tanh")])
def test_other_activations_fall_back_to_reference(kernel, activation, recurrent):
    needs(kernel)
    layer = make(4, 3, 5, activation=activation, recurrent_activation=recurrent)
    sel = None
    with force(kernel):
        sel = select_lstm_kernel(layer, 2, 5, True)
    assert sel.name == "reference"
    assert (activation if activation != "tanh" else recurrent) in sel.reason
    x = np.random.default_rng(6).standard_normal((2, 5, 3)).astype(np.float32)
    ref = run(layer, "reference", x)
    fast = run(layer, kernel, x)
    for a, b in zip(fast[0] + fast[1], ref[0] + ref[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kernel", FAST)
def test_float64_runs_the_fast_kernel(kernel):
    """float64 runs the chosen fast kernel in float64 (libm's tanh, not the float32
    approximation): the same numbers as the float64 reference to rounding."""
    needs(kernel)
    layer = make(4, 3, 5, dtype="float64", return_sequences=True)
    with force(kernel):
        sel = select_lstm_kernel(layer, 2, 5, True)
    assert sel.name == kernel
    x = np.random.default_rng(7).standard_normal((2, 5, 3))
    fast = run(layer, kernel, x)
    ref = run(layer, "reference", x)
    for got, want in zip(fast[0] + fast[1], ref[0] + ref[1]):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_fast_tanh_accuracy():
    require("numba")
    require("scipy")
    mod = lstm_numba.impl()
    x = np.linspace(-12, 12, 400_001, dtype=np.float32)
    y = np.empty_like(x)
    mod.tanh_array(x, y)
    err = np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert err.max() < 3e-7
    assert y.dtype == np.float32


# -- dispatch ------------------------------------------------------------------------------

def test_automatic_choice_and_reasons(monkeypatch):
    small = {"cell": LSTMCell, "activation": "tanh", "recurrent_activation": "sigmoid",
             "dtype": np.float32, "units": 32}
    big = dict(small, units=512)
    sel = select_lstm_kernel(big, 128, 100, True)
    if lstm_numba.missing_reason() is None:
        assert sel.name == "numba" and "sgemm" in sel.reason and "gates" in sel.reason
    else:
        assert sel.name == "numpy"
    monkeypatch.setattr(loading, "missing_reason",
                        lambda: "numba not installed (pip install 'unrolled[fast]')")
    sel = select_lstm_kernel(small, 1, 50, False)
    assert sel.name == "numpy" and "unrolled[fast]" in sel.reason
    monkeypatch.undo()
    if lstm_numba.missing_reason() is None:
        assert select_lstm_kernel(small, 1, 50, False).name == "numba"
    class OtherCell:   # a cell without fast kernels
        pass
    sel = select_lstm_kernel(dict(small, cell=OtherCell), 1, 50, False)
    assert sel.name == "reference" and "OtherCell has no fast kernel" in sel.reason


def test_environment_override(monkeypatch):
    layer = make(4, 3, 5)
    monkeypatch.setenv("UNROLLED_KERNEL", "reference")
    sel = select_lstm_kernel(layer, 2, 5, False)
    assert sel.name == "reference" and "UNROLLED_KERNEL" in sel.reason
    with force("numpy"):       # force() wins over the environment
        assert select_lstm_kernel(layer, 2, 5, False).name == "numpy"
    monkeypatch.setenv("UNROLLED_KERNEL", "fastest")
    with pytest.raises(ValueError, match="UNROLLED_KERNEL"):
        select_lstm_kernel(layer, 2, 5, False)
    with pytest.raises(ValueError, match="force"):
        with force("cuda"):
            pass


def test_remembered_choice_follows_the_environment_between_calls(monkeypatch):
    # A layer remembers its kernel choice, and the key it compares reads the variable
    # from os.environ's raw mapping: setting, changing and deleting it between calls of
    # the same layer must each take effect on the next call.
    layer = make(4, 3, 5)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    monkeypatch.delenv("UNROLLED_KERNEL", raising=False)
    expected = layer(x)
    automatic = layer.kernel_choice.name
    monkeypatch.setenv("UNROLLED_KERNEL", "reference")
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    assert layer.kernel_choice.name == "reference"
    monkeypatch.setenv("UNROLLED_KERNEL", "numpy")
    layer(x)
    assert layer.kernel_choice.name == "numpy"
    monkeypatch.delenv("UNROLLED_KERNEL")
    layer(x)
    assert layer.kernel_choice.name == automatic


def test_forcing_numba_without_numba_names_the_extra(monkeypatch):
    layer = make(4, 3, 5)
    monkeypatch.setattr(lstm_numba, "COMPILED",
                        loading.CompiledModule("._numba_lstm", "the numba LSTM kernel needs"))

    def broken(*_args, **_kwargs):
        raise ModuleNotFoundError("No module named 'numba'", name="numba")

    monkeypatch.setattr(loading.importlib, "import_module", broken)
    monkeypatch.setattr(loading, "choose_cache_dir", lambda: None)
    with force("numba"), pytest.raises(ImportError, match=r"unrolled\[fast\]"):
        layer(np.zeros((1, 5, 3), np.float32))


def test_kernel_report_in_summary():
    model = Sequential([LSTM(8, input_shape=(5, 3))])
    model(np.zeros((2, 5, 3), np.float32))
    lines = model.kernel_report()
    assert len(lines) == 1 and lines[0].startswith(model.layers[0].name)
    assert any(k in lines[0] for k in ("numba", "numpy", "reference"))
    assert "Kernels used" in model.summary(return_string=True)


def test_info_command(capsys):
    from unrolled.commands import info

    import argparse
    parser = argparse.ArgumentParser()
    info.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["info", "--batch", "1", "--units", "4", "--activation", "elu"])
    assert info.run(args) == 0
    out = capsys.readouterr().out
    assert "activation 'elu' has no compiled kernel" in out


# -- thread safety and ownership of returned arrays ----------------------------------------

@pytest.mark.parametrize("kernel", [None, "reference", *FAST, "numba-large"])
def test_returned_arrays_belong_to_the_caller(kernel, monkeypatch):
    if kernel == "numba-large":
        needs("numba")
        monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
        kernel = "numba"
    if kernel:
        needs(kernel)
    layer = make(6, 3, 7, return_sequences=True, return_state=True)
    rng = np.random.default_rng(8)
    x1, x2 = (rng.standard_normal((2, 7, 3)).astype(np.float32) for _ in range(2))
    with force(kernel):
        y1 = layer(x1)
        saved = [a.copy() for a in y1]
        y2 = layer(x2)
    for a, b in zip(y1, saved):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(y1[0], y2[0])
    # Training: outputs and gradients survive later calls (which reuse scratch buffers),
    # and a cache can be used for backward twice.
    def train(x):
        y, cache = layer.forward(x, training=True)
        dx, grads, d_init = layer.backward_with_states([np.ones_like(a) for a in y], cache)
        return [*y, dx, *grads, *d_init], cache

    with force(kernel):
        out1, cache1 = train(x1)
        saved = [a.copy() for a in out1]
        train(x2)
        again = layer.backward_with_states([np.ones_like(a) for a in out1[:3]], cache1)
    for a, b in zip(out1, saved):
        np.testing.assert_array_equal(a, b)
    for a, b in zip([again[0], *again[1], *again[2]], saved[3:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kernel", [None, *FAST, "numba-large"])
def test_two_threads_share_a_layer(kernel, monkeypatch):
    if kernel == "numba-large":   # the GEMM-bound mode, forced at a small size
        needs("numba")
        monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
        kernel = "numba"
    if kernel:
        needs(kernel)
    B, T, F, H = 4, 60, 3, 16
    layer = make(H, F, T, return_state=True)
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((B, T, F)).astype(np.float32) for _ in range(8)]

    def job(x):
        y, cache = layer.forward(x, training=True)
        _, grads, _ = layer.backward_with_states([np.ones_like(a) for a in y], cache)
        return [a.copy() for a in y] + [g.copy() for g in grads]

    with force(kernel):
        expected = [job(x) for x in xs]
    results: dict[tuple[int, int], list[np.ndarray]] = {}
    errors = []

    def worker(wid: int) -> None:
        try:
            with force(kernel):
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


def test_thread_local_force_does_not_leak():
    seen = []
    with force("reference"):
        t = threading.Thread(target=lambda: seen.append(dispatch.forced()[0]))
        t.start()
        t.join()
    assert seen == [dispatch.forced()[0]]   # the other thread sees no force()
