"""The slim install: numba absent (not just forced off). ``.ci/without_numba`` on
PYTHONPATH makes ``import numba`` fail as it does without the package; ``.ci/run`` runs
the kernel tests that way too. Here: a process in that state runs the NumPy LSTM kernel
and the reference GRU, with the same numbers, and says why."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCKER = ROOT / ".ci" / "without_numba"

SCRIPT = r"""
import json
import numpy as np
from unrolled.core.kernels import force
from unrolled.layers import GRU, LSTM
try:
    import numba  # noqa: F401
    numba_importable = True
except ImportError:
    numba_importable = False
x = np.random.default_rng(0).standard_normal((3, 6, 4)).astype(np.float32)
out = {"numba_importable": numba_importable}
for cls in (LSTM, GRU):
    layer = cls(5, return_sequences=True)
    layer.build((None, 6, 4))
    y = layer(x)
    choice = layer.kernel_choice
    with force("reference"):
        want = layer(x)
    out[cls.__name__] = [choice.name, choice.reason, float(np.abs(y - want).max())]
print(json.dumps(out))
"""


def run_slim(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BLOCKER), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.pop("UNROLLED_KERNEL", None)
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=300, check=True)


def test_without_numba_the_numpy_and_reference_kernels_run():
    result = json.loads(run_slim(["-c", SCRIPT]).stdout.strip().splitlines()[-1])
    assert result["numba_importable"] is False
    name, reason, diff = result["LSTM"]
    assert name == "numpy" and "numba not installed" in reason and diff < 1e-5
    name, reason, diff = result["GRU"]
    assert name == "reference" and "need numba" in reason and diff == 0.0


def test_info_without_numba_says_so():
    out = run_slim(["-m", "unrolled.cli", "info", "--units", "8"]).stdout
    assert "numba kernel: unavailable" in out and "numba not installed" in out
    assert "inference: numpy" in out


def test_this_run_really_lacks_what_it_says_it_lacks():
    """In ``.ci/run``'s run without numba, numba must really be unimportable."""
    if "numba" not in os.environ.get("UNROLLED_TEST_WITHOUT", ""):
        pytest.skip("a run with numba")
    with pytest.raises(ImportError):
        import numba  # noqa: F401
