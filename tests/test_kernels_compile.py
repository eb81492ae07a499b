"""No compile stall: with ``UNROLLED_COMPILE=background`` (the default outside the test
suite) a call never waits for numba; it runs the NumPy (LSTM) or reference kernel while the
compiled modules build, then the layer switches over (:mod:`unrolled.core.kernels.runtime.loading`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.peers import require
from unrolled.core.kernels import lstm_numba
from unrolled.core.kernels.runtime import loading
from unrolled.layers import GRU, LSTM

COLD_SCRIPT = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from unrolled import Sequential
from unrolled.layers import LSTM, Dense
from unrolled.core.kernels.runtime import loading
model = Sequential([LSTM(32, input_shape=(14, 4)), Dense(1)])   # the demo's shape
x = np.random.default_rng(0).standard_normal((32, 14, 4)).astype(np.float32)
t1 = time.perf_counter()
y = model.predict(x, verbose=0)
t2 = time.perf_counter()
choice = model.layers[0].kernel_choice
if loading._builder is not None:      # don't leave a 10 s compile running after the test
    loading._builder.kill()
    loading._builder.wait()
print(json.dumps({"first_predict": t2 - t1, "kernel": choice.name, "reason": choice.reason,
                  "finite": bool(np.isfinite(y).all())}))
"""


def test_first_predict_with_an_empty_cache_does_not_wait_for_the_compiler(tmp_path):
    require("numba")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               UNROLLED_COMPILE="background")
    env.pop("UNROLLED_KERNEL", None)
    out = subprocess.run([sys.executable, "-c", COLD_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["finite"]
    assert result["kernel"] == "numpy" and "building in the background" in result["reason"]
    # The NumPy path at this shape takes ~1 ms (tens of ms on a loaded machine); a cold
    # numba compile takes 9-13 s, so 2 s separates them even on a busy 2-core machine.
    assert result["first_predict"] < 2.0, result


@pytest.fixture
def background(monkeypatch):
    """A fresh, cold LSTM module in background mode (the real one loaded first, so its disk
    cache and cache marker exist and the background build is a quick load)."""
    require("numba")
    lstm_numba.COMPILED.get()
    fresh = loading.CompiledModule("._numba_lstm", "the numba LSTM kernel needs",
                                   lstm_numba._warm)
    monkeypatch.setattr(lstm_numba, "COMPILED", fresh)
    monkeypatch.setenv("UNROLLED_COMPILE", "background")
    monkeypatch.delenv("UNROLLED_KERNEL", raising=False)
    return fresh


def wait_for(predicate, seconds=180.0):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_calls_switch_to_the_compiled_kernel_once_it_is_built(background):
    layer = LSTM(5, return_sequences=True)
    layer.build((None, 6, 3))
    x = np.random.default_rng(1).standard_normal((4, 6, 3)).astype(np.float32)
    first = layer(x)
    assert layer.kernel_choice.name == "numpy"
    assert "building in the background" in layer.kernel_choice.reason
    assert background.state in ("building", "ready")
    wait_for(lambda: background.ready)
    second = layer(x)
    assert layer.kernel_choice.name == "numba"      # re-selected after the build
    np.testing.assert_allclose(second, first, atol=1e-5)
    assert "ready" in background.describe()


def test_a_failed_build_falls_back_with_the_error(background, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ImportError("numba is broken here")

    monkeypatch.setattr(loading.importlib, "import_module", broken)
    layer = LSTM(3)
    layer.build((None, 4, 2))
    x = np.ones((2, 4, 2), np.float32)
    layer(x)
    wait_for(lambda: background.state == "failed")
    layer(x)
    assert layer.kernel_choice.name == "numpy"
    assert "failed to build" in layer.kernel_choice.reason
    assert "numba is broken here" in layer.kernel_choice.reason


def test_gru_runs_the_reference_while_its_kernels_build(monkeypatch):
    require("numba")
    from unrolled.core.kernels import cells_numba

    cells_numba.COMPILED.get()
    fresh = loading.CompiledModule("._numba_cells", "the numba GRU/SimpleRNN kernels need",
                                   cells_numba._warm)
    monkeypatch.setattr(cells_numba, "COMPILED", fresh)
    monkeypatch.setenv("UNROLLED_COMPILE", "background")
    monkeypatch.delenv("UNROLLED_KERNEL", raising=False)
    layer = GRU(4)
    layer.build((None, 5, 3))
    x = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    first = layer(x)
    assert layer.kernel_choice.name == "reference"
    wait_for(lambda: fresh.ready)
    np.testing.assert_allclose(layer(x), first, atol=1e-5)
    assert layer.kernel_choice.name == "numba"


def test_compile_mode_is_checked(monkeypatch):
    monkeypatch.setenv("UNROLLED_COMPILE", "later")
    with pytest.raises(ValueError, match="UNROLLED_COMPILE"):
        loading.compile_mode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process.*is multi-threaded:DeprecationWarning")
def test_a_forked_child_does_not_inherit_a_half_done_build(background):
    background.start()               # the parent's build thread is running (or done)
    pid = os.fork()
    if pid == 0:                     # the child: fresh locks, a cold module if unfinished
        ok = background._lock.acquire(timeout=5)
        os._exit(0 if ok and background.state in ("cold", "ready") else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    wait_for(lambda: background.ready)


def test_a_fork_during_the_warm_up_leaves_the_child_a_cold_module(monkeypatch):
    """The race behind a flaky fork test: the parent's build thread had imported the
    module (``_mod`` set) but not finished warming it up (state still "building") when the
    process forked; the child has no build thread, so it must start that module cold."""
    monkeypatch.setattr(loading, "_instances", [])
    monkeypatch.setattr(loading, "_build_lock", loading._build_lock)
    monkeypatch.setattr(loading, "_builder", None)
    warming = loading.CompiledModule("._numba_lstm", "test")
    warming._mod, warming.state, warming.started = object(), "building", 1.0
    ready = loading.CompiledModule("._numba_cells", "test")
    module = object()
    ready._mod, ready.state = module, "ready"
    loading._after_fork_in_child()          # what os.register_at_fork runs in the child
    assert (warming.state, warming._mod, warming.started) == ("cold", None, None)
    assert (ready.state, ready._mod) == ("ready", module)
    assert warming._lock.acquire(timeout=1) and ready._lock.acquire(timeout=1)
