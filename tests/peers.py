"""Import a reference implementation ("peer") for comparison tests, or skip.

``require("keras")`` returns the module, importing Keras with the PyTorch backend
(``KERAS_BACKEND=torch`` unless the environment already chose one). A missing peer
skips the test locally but fails it on CI (``CI=true``), where every peer must exist --
except the packages listed in ``UNROLLED_TEST_WITHOUT`` (comma-separated, e.g. "numba"),
which a run leaves out on purpose (``.ci/run``'s run without numba): those skip.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(name: str) -> ModuleType:
    """The imported peer module ``name`` (e.g. "keras", "torch", "onnxruntime")."""
    if name == "keras" or name.startswith("keras."):
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        message = f"peer {name!r} is not importable: {exc}"
        left_out = os.environ.get("UNROLLED_TEST_WITHOUT", "").replace(" ", "").split(",")
        if os.environ.get("CI") == "true" and name.split(".")[0] not in left_out:
            pytest.fail(message)
        pytest.skip(message)
