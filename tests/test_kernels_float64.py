"""float64 on the fast kernels: every cell (LSTM, GRU both ways, SimpleRNN), both numba
regimes (compiled loops, and NumPy's per-step GEMM + compiled gate pass), the LSTM's
NumPy loops, with masks of any pattern, ``go_backwards``, initial states, inference and
training -- against the float64 reference scan to rounding (1e-10), and the fast
backward against float64 central finite differences.

Without numba (CI's slim pass) the numba cases skip and the NumPy LSTM still runs.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from tests.peers import require
from tests.reference import random_weights
from unrolled.core.kernels import force, lstm_numba
from unrolled.layers import GRU, LSTM, SimpleRNN

B, T, F, H = 3, 5, 2, 3
F64 = np.float64

# (id, layer class, options, forced kernel, large: the GEMM-bound numba regime)
KERNELS = [
    ("lstm-numpy", LSTM, {}, "numpy", False),
    ("lstm-numba", LSTM, {}, "numba", False),
    ("lstm-numba-large", LSTM, {}, "numba", True),
    ("gru-numba", GRU, {}, "numba", False),
    ("gru-before-numba", GRU, {"reset_after": False}, "numba", False),
    ("gru-numba-large", GRU, {"reset_after": False}, "numba", True),
    ("rnn-numba", SimpleRNN, {}, "numba", False),
    ("rnn-numba-large", SimpleRNN, {"use_bias": False}, "numba", True),
]


def mask_with_holes() -> np.ndarray:
    m = np.ones((B, T), bool)
    m[0, [1, 3]] = False          # holes
    m[1, :2] = False              # masked from the start
    m[2, 3:] = False              # right padding
    return m


def build(cls, options, rng, **more):
    layer = cls(H, dtype="float64", **options, **more)
    layer.build((None, T, F))
    layer.set_weights([w * rng.choice([-1.0, 1.0], w.shape) for w in random_weights(layer, rng)])
    return layer


def outputs_and_grads(layer, x, mask, initial, cotangents, training):
    out, cache = layer.forward(x, training=training, mask=mask, initial_state=initial)
    outs = out if isinstance(out, list) else [out]
    dy = cotangents[:len(outs)] if isinstance(out, list) else cotangents[0]
    dx, grads, d_init = layer.backward_with_states(dy, cache)
    return outs, [dx, *grads, *d_init]


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("name,cls,options,kernel,large", KERNELS, ids=[k[0] for k in KERNELS])
def test_float64_fast_kernel_matches_the_float64_reference(monkeypatch, name, cls, options,
                                                            kernel, large, go_backwards, masked):
    if kernel == "numba":
        require("numba")
    if large:
        monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
    rng = np.random.default_rng(zlib.crc32(name.encode()))   # stable across runs
    layer = build(cls, options, rng, return_sequences=True, return_state=True,
                  go_backwards=go_backwards)
    x = rng.standard_normal((B, T, F))
    mask = mask_with_holes() if masked else None
    n_states = 2 if cls is LSTM else 1
    initial = [rng.standard_normal((B, H)) for _ in range(n_states)]
    cotangents = [rng.standard_normal((B, T, H))] + [rng.standard_normal((B, H))] * n_states
    for training in (False, True):
        for init in (None, initial):
            with force("reference"):
                want = outputs_and_grads(layer, x, mask, init, cotangents, training)
            with force(kernel):
                got = outputs_and_grads(layer, x, mask, init, cotangents, training)
            assert layer.kernel_choice.name == kernel, layer.kernel_choice.reason
            for a, b in zip(got[0] + got[1], want[0] + want[1]):
                assert a.dtype == F64
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,cls,options,kernel,large",
                         [k for k in KERNELS if not k[4]], ids=[k[0] for k in KERNELS if not k[4]])
def test_float64_fast_backward_matches_finite_differences(name, cls, options, kernel, large):
    """dL/dx and every weight gradient of the fast kernel (masked, go_backwards, initial
    state) against central differences of L = Σ c·outputs computed by the same kernel."""
    if kernel == "numba":
        require("numba")
    rng = np.random.default_rng(7)
    layer = build(cls, options, rng, return_sequences=True, go_backwards=True)
    x = rng.standard_normal((B, T, F))
    mask = mask_with_holes()
    initial = [rng.standard_normal((B, H)) for _ in range(2 if cls is LSTM else 1)]
    c = rng.standard_normal((B, T, H))

    def loss() -> float:
        with force(kernel):
            return float(np.sum(c * layer(x, mask=mask, initial_state=initial)))

    with force(kernel):
        y, cache = layer.forward(x, training=True, mask=mask, initial_state=initial)
        dx, grads = layer.backward(c, cache)
    assert layer.kernel_choice.name == kernel
    eps = 1e-6
    for target, grad in [(x, dx)] + list(zip(layer.trainable_weights, grads)):
        numeric = np.zeros_like(target)
        for idx in np.ndindex(target.shape):
            keep = target[idx]
            target[idx] = keep + eps
            up = loss()
            target[idx] = keep - eps
            down = loss()
            target[idx] = keep
            numeric[idx] = (up - down) / (2 * eps)
        assert np.abs(numeric).max() > 1e-3          # not a vacuous comparison
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_the_compiled_float64_tanh_is_within_a_few_ulp_of_numpys():
    """The gate loops' vectorisable float64 tanh (``_numba_float64.tanh64``): series below
    |x| = 0.3, exp-based above; both sides of the switch, tiny, huge, ±inf and NaN, under
    both fastmath settings the kernels use (the cells' keeps NaN)."""
    nb = require("numba")
    require("scipy")
    from unrolled.core.kernels._numba_cells import _FM  # noqa: PLC0415
    from unrolled.core.kernels._numba_float64 import tanh64  # noqa: PLC0415

    def apply(flags):
        @nb.njit(fastmath=flags, error_model="numpy")
        def run(x, out):
            for k in range(x.size):
                out[k] = tanh64(x[k])
        return run

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-25, 25, 200_000), rng.uniform(-0.6, 0.6, 200_000),
                        rng.standard_normal(1000) * 1e-7,
                        [0.0, -0.0, 0.3, -0.3, np.nextafter(0.3, 0), np.nextafter(-0.3, 0), 19.0,
                         19.1, 40.0, 1e300, -1e300, np.inf, -np.inf, 5e-324]])
    expected = np.tanh(x)
    for flags in (True, _FM):
        got = np.empty_like(x)
        apply(flags)(x, got)
        ulps = np.abs(got - expected) / np.spacing(np.abs(expected))
        assert ulps.max() <= 4, (flags, x[np.argmax(ulps)], ulps.max())
        assert np.all(np.sign(got) == np.sign(expected))
    nan = np.empty(1)
    apply(_FM)(np.array([np.nan]), nan)
    assert np.isnan(nan[0])
