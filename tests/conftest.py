"""Test-session setup, without fixtures.

Keras is only ever run on the PyTorch backend here (no TensorFlow is installed), and the
backend must be chosen before the first ``import keras`` anywhere in the session.

Floating-point strictness is local rather than global: the reference helpers
(``tests/reference.py``) run unrolled's forward and backward passes under
``np.errstate(over="raise", invalid="raise", divide="raise")``, and pyproject turns
every warning into an error. A global ``np.seterr`` would also change how the peers
(Keras, torch) and the other test modules behave, so it is not set here.
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
# The first call that wants a compiled kernel waits for it (as before the background
# build), so tests see the kernel they check; tests of the background build set
# UNROLLED_COMPILE=background themselves (tests/test_kernels_compile.py).
os.environ.setdefault("UNROLLED_COMPILE", "wait")
# The CLI adds the AutoETS / AutoARIMA baselines when statsforecast is installed; they take
# seconds per run, so CLI tests leave them out unless they test them
# (tests/forecast/test_stats.py sets UNROLLED_STATS=1).
os.environ.setdefault("UNROLLED_STATS", "0")
