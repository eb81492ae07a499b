"""The small-step numba loops keep NumPy's BLAS single-threaded around their batch blocks
and run the GEMMs' halves around the loop on two threads: same numbers, limits restored."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.peers import require
from tests.test_kernels import OPTIONS, assert_same, make, needs, run
from unrolled.core.kernels import blas_threads, lstm_numba


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
