"""``import unrolled`` stays light: no optional heavy dependency, no training machinery
and no stdlib module that only an error message, a CSV file or a fresh seed needs.

Each check runs in a fresh interpreter (other tests have long since imported everything
in this one). Import *time* is never asserted -- it depends on the machine -- only which
modules ``import unrolled`` loads.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import unrolled

SRC = str(Path(unrolled.__file__).resolve().parent.parent)  # the copy under test

# Optional dependencies: imported by the function that needs them, never at import.
HEAVY = ["numba", "scipy", "torch", "h5py", "matplotlib", "keras", "onnx", "threadpoolctl"]
# Stdlib modules unrolled only needs on some paths (a seed drawn from the OS, a CSV log,
# a "did you mean" hint, a JSON config); each is asserted only if numpy does not load it.
STDLIB_ON_DEMAND = ["secrets", "hmac", "hashlib", "csv", "difflib", "json"]
# Training and file formats: loaded on first use (``unrolled.losses`` ..., ``fit``).
TRAINING = ["unrolled.callbacks", "unrolled.losses", "unrolled.metrics", "unrolled.optimizers",
            "unrolled.training.callbacks", "unrolled.training.progress",
            "unrolled.training.monitor_callbacks", "unrolled.training.losses",
            "unrolled.training.metrics", "unrolled.training.optimizers",
            "unrolled.training.schedules", "unrolled.io", "numpy.random"]


def loaded_after(code: str) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_loads_no_heavy_or_on_demand_module():
    baseline = loaded_after("import numpy")
    loaded = loaded_after("import unrolled")
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`import unrolled` imported optional dependencies: {heavy}"
    extra = sorted(m for m in STDLIB_ON_DEMAND if m in loaded and m not in baseline)
    assert extra == [], f"`import unrolled` imported {extra}, which only some paths need"
    training = sorted(m for m in TRAINING if m in loaded)
    assert training == [], f"`import unrolled` loaded the training/IO machinery: {training}"


def test_building_and_running_a_model_does_not_load_training():
    # (running the LSTM may load numba, and numba its own stdlib needs: not checked here)
    loaded = loaded_after(
        "import numpy as np, unrolled\n"
        "m = unrolled.Sequential([unrolled.layers.LSTM(3, input_shape=(4, 2)),"
        " unrolled.layers.Dense(1)])\n"
        "m(np.zeros((5, 4, 2), 'float32'))\n"
        "m.summary(print_fn=lambda s: None)\n"
    )
    training = sorted(m for m in TRAINING if m in loaded and m != "numpy.random")
    assert training == [], f"building and calling a model loaded {training}"


def test_lazy_submodules_keep_the_public_api():
    loaded_after(  # raises CalledProcessError if any of these fails
        "import unrolled\n"
        "from unrolled import losses, metrics\n"
        "import unrolled.optimizers\n"
        "from unrolled.optimizers.schedules import ExponentialDecay\n"
        "assert unrolled.losses is losses and losses.MeanSquaredError\n"
        "assert unrolled.callbacks.EarlyStopping and unrolled.metrics is metrics\n"
        "assert set(unrolled.__all__) <= set(dir(unrolled)), set(unrolled.__all__) - set(dir(unrolled))\n"
        "from unrolled import *\n"
        "assert optimizers.Adam and callbacks.CSVLogger\n"
    )
    for name in unrolled.__all__:
        assert getattr(unrolled, name) is not None
    assert set(unrolled.__all__) <= set(dir(unrolled))
    with pytest.raises(AttributeError, match="no_such_thing"):
        unrolled.no_such_thing  # noqa: B018
