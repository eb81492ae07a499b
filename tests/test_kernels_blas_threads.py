"""The small-step numba loops keep NumPy's BLAS single-threaded around their batch blocks
and run the GEMMs' halves around the loop on two threads: same numbers, limits restored."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.peers import require
from tests.test_kernels import OPTIONS, assert_same, make, needs, run
from unrolled.core.kernels import lstm_numba
from unrolled.core.kernels.runtime import blas as blas_threads


def _openblas_threads() -> list[int]:
    threadpoolctl = require("threadpoolctl")
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["internal_api"] == "openblas"]


@pytest.fixture
def two_blocks(monkeypatch):
    """Split even a tiny batch into two blocks on two threads (the scoped path)."""
    needs("numba")
    require("threadpoolctl")
    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
def test_two_block_training_matches_reference(two_blocks, options):
    B, T, F, H = 3, 5, 4, 6
    assert len(lstm_numba.blocks(B, H, T)) == 2
    layer = make(H, F, T, **options)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    init = [rng.standard_normal((B, H)).astype(np.float32) for _ in range(2)]
    for initial in (None, init):
        ref = run(layer, "reference", x, initial)
        fast = run(layer, "numba", x, initial)
        assert_same(fast[0], ref[0])
        assert_same(fast[1], ref[1])          # every weight, input and state gradient


def test_scope_limits_blas_inside_and_restores_after(two_blocks):
    lstm_numba.impl()
    before = _openblas_threads()
    seen: list[list[int]] = []
    with lstm_numba.blas_scope(3, 5, 6) as run_jobs:
        seen.append(_openblas_threads())
        ran = []
        run_jobs([lambda: ran.append(threading.get_ident()),
                  lambda: ran.append(threading.get_ident())])
    assert seen == [[1] * len(before)]
    assert len(set(ran)) == 2                      # the two halves ran on two threads
    assert _openblas_threads() == before


def test_nested_and_concurrent_scopes_restore_once_all_leave(two_blocks):
    """The first scope in sets the limit, the last one out restores it. (OpenBLAS's thread
    count is read here from the thread that set it: a count set from a second thread is
    not always visible to others, which only loses the speed-up, never correctness.)"""
    lstm_numba.impl()
    before = _openblas_threads()
    entered, leave, left = threading.Event(), threading.Event(), threading.Event()

    def other() -> None:
        with blas_threads.single_threaded():
            entered.set()
            leave.wait(10)
        left.set()

    with blas_threads.single_threaded():
        t = threading.Thread(target=other)
        t.start()
        assert entered.wait(10)
        with blas_threads.single_threaded():
            assert blas_threads._depth == 3
        assert set(_openblas_threads()) == {1}
        leave.set()
        assert left.wait(10)
        assert set(_openblas_threads()) == {1}    # this thread's scope is still open
    t.join(10)
    assert blas_threads._depth == 0
    assert _openblas_threads() == before


def test_large_steps_keep_multithreaded_blas(two_blocks):
    lstm_numba.impl()
    before = _openblas_threads()
    with lstm_numba.blas_scope(128, 10, 512):
        assert _openblas_threads() == before


@pytest.fixture
def large_two_threads(monkeypatch):
    """The GEMM-bound inference path at small sizes, units split over two threads."""
    needs("numba")
    require("threadpoolctl")
    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 4, 3, 7), (1, 1, 2, 1)],
                         ids=["H6", "H7-uneven", "H1-one-part"])
def test_large_inference_split_over_two_threads_matches_reference(large_two_threads,
                                                                   options, shape):
    from unrolled.core.kernels import force

    B, T, F, H = shape
    layer = make(H, F, T, **options)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    init = [rng.standard_normal((B, H)).astype(np.float32) for _ in range(2)]
    for initial in (None, init):
        with force("numba"):
            got = layer(x, initial_state=initial)
        with force("reference"):
            want = layer(x, initial_state=initial)
        got, want = (v if isinstance(v, list) else [v] for v in (got, want))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and g.flags.c_contiguous
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _pool_half(monkeypatch, action):
    """Patch the compiled loop so that ``action(real_loop, args)`` runs in place of the
    pool thread's half (the caller's half runs as usual); returns a list that receives
    the caller's thread id when the call starts."""
    real = lstm_numba.impl()
    caller: list[int] = []

    class Patched:
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def infer_units_major(*args):
            if threading.get_ident() != caller[0]:
                return action(real.infer_units_major, args)
            return real.infer_units_major(*args)

    monkeypatch.setattr(lstm_numba, "impl", lambda: Patched())
    return caller


def _call_in_thread(caller, x, k, b, u, return_sequences=False):
    """``_large_infer`` in a fresh thread, waited for at most 20 s; (outcome, alive)."""
    outcome: list = []

    def call() -> None:
        caller.append(threading.get_ident())
        try:
            outcome.append(lstm_numba._large_infer(x, k, b, u, None, None, False,
                                                   return_sequences))
        except BaseException as err:  # noqa: BLE001 - inspected by the test
            outcome.append(err)

    t = threading.Thread(target=call)
    t.start()
    t.join(20)
    return outcome, t.is_alive()


def _small_weights():
    x = np.ones((2, 6, 3), np.float32)
    k, b, u = (np.full(s, 0.1, np.float32) for s in ((3, 24), (24,), (6, 24)))
    return x, k, b, u


def test_large_inference_error_in_one_thread_is_raised_not_a_hang(large_two_threads,
                                                                  monkeypatch):
    """A failure in the pool thread's half sets the abort flag the caller's half polls
    while it waits for that half's first step; the caller gets the original error."""
    def fail(loop, args):
        raise ValueError("boom in the second half")

    caller = _pool_half(monkeypatch, fail)
    outcome, alive = _call_in_thread(caller, *_small_weights())
    assert not alive, "the call hung"
    assert isinstance(outcome[0], ValueError) and "boom" in str(outcome[0])
    assert lstm_numba.blas_threads._depth == 0            # the BLAS limit was released


def test_large_inference_waits_for_a_late_partner(large_two_threads, monkeypatch):
    """When the other half is not running (here: it starts 0.3 s late), the waiting half
    stops spinning, yields, and resumes at the step it was waiting for; the result is
    unchanged."""
    def late(loop, args):
        time.sleep(0.3)
        return loop(*args)

    x, k, b, u = _small_weights()
    x = x * np.linspace(-1, 1, x.size, dtype=np.float32).reshape(x.shape)
    want = lstm_numba._large_infer(x, k, b, u, None, None, False, True)
    caller = _pool_half(monkeypatch, late)
    outcome, alive = _call_in_thread(caller, x, k, b, u, return_sequences=True)
    assert not alive, "the call hung"
    for got, expected in zip(outcome[0], want, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_large_inference_from_two_threads_at_once(large_two_threads):
    """Two callers share the kernel pool; each call's halves meet at its own barrier."""
    from unrolled.core.kernels import force

    layer = make(8, 3, 6, return_sequences=True)
    xs = [np.random.default_rng(s).standard_normal((4, 6, 3)).astype(np.float32)
          for s in range(6)]
    with force("reference"):
        want = [layer(x) for x in xs]
    got: dict[int, np.ndarray] = {}

    def caller(i: int) -> None:
        with force("numba"):
            for _ in range(20):
                got[i] = layer(xs[i])

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, rtol=1e-5, atol=1e-6)


_PURE_PYTHON = """
import numpy as np
from unrolled.core.kernels import force, lstm_numba
from unrolled.layers import LSTM
lstm_numba.LARGE_STEP_WORK = 0                      # the split large path, at a tiny size
layer = LSTM(6, return_sequences=True)
layer.build((None, 4, 3))
x = np.random.default_rng(0).standard_normal((3, 4, 3)).astype(np.float32)
with force("numba"):
    got = layer(x)
with force("reference"):
    want = layer(x)
np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
lstm_numba.LARGE_STEP_WORK = 1 << 60                # the batch blocks (packed panels' stand-in)
mask = np.ones((3, 4), bool)
mask[1, 2:] = False
dy = np.ones((3, 4, 6), np.float32)
results = {}
for kernel in ("numba", "reference"):
    with force(kernel):
        y, cache = layer.forward(x, training=True, mask=mask)
        results[kernel] = [layer(x), y, *layer.backward(dy, cache)[1]]
for a, b in zip(*results.values()):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
print("ok", lstm_numba.splits_units(6))
"""


def test_kernels_run_under_numba_disable_jit():
    """numba's debugging mode (``NUMBA_DISABLE_JIT=1``) runs the kernels as Python, the
    large path's acquire/release flags and the batch blocks (NumPy products in place of the
    packed panels' intrinsics) included: same numbers, no hang."""
    import os
    import subprocess
    import sys

    needs("numba")
    require("threadpoolctl")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "UNROLLED_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", _PURE_PYTHON], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", "True"]
