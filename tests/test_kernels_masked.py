"""Masked calls on the fast kernels (:mod:`unrolled.core.kernels.masked`) against the
reference scan's masked loop (the oracle, itself checked against Keras in
``tests/test_masking.py``): any mask -- holes, masked from the start, a fully masked
sample, right padding --, every output option, initial states, inference and training.
Outputs, every weight gradient, dL/dx and dL/d initial state must agree within 1e-5."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.peers import require
from tests.reference import random_weights
from unrolled.core.kernels import force, lstm_numba
from unrolled.core.kernels.runtime import blas
from unrolled.core.kernels.reference import REFERENCE as REFERENCE_KERNEL
from unrolled.layers import GRU, LSTM, SimpleRNN

B, T, F, H = 5, 6, 3, 4

# (name, layer class, layer options, forced kernel, "large": the GEMM-bound numba mode)
KERNELS = [
    ("lstm-numpy", LSTM, {}, "numpy", False),
    ("lstm-numba", LSTM, {}, "numba", False),
    ("lstm-numba-large", LSTM, {}, "numba", True),
    ("gru-numba", GRU, {}, "numba", False),
    ("gru-before-numba", GRU, {"reset_after": False}, "numba", False),
    ("gru-numba-large", GRU, {}, "numba", True),
    ("rnn-numba", SimpleRNN, {}, "numba", False),
]
OPTIONS = [dict(return_sequences=rs, return_state=st, go_backwards=gb, zero_output_for_mask=zo)
           for rs, st, gb, zo in itertools.product([False, True], repeat=4)]


def any_mask(rng: np.random.Generator) -> np.ndarray:
    """(B, T): a hole, masked from the start, fully masked, right padding, all steps."""
    m = rng.random((B, T)) < 0.7
    m[0] = [True, False, True, True, False, True]     # holes
    m[1] = [False, False, True, True, True, True]     # masked from the start
    m[2] = False                                      # nothing to run
    m[3] = [True, True, True, False, False, False]    # right padding
    m[4] = True
    return m


def as_list(out):
    return out if isinstance(out, list) else [out]


def run(layer, x, mask, initial, training, cotangents):
    out, cache = layer.forward(x, training=training, mask=mask, initial_state=initial)
    outs = as_list(out)
    dy = [c for c in cotangents[:len(outs)]]
    dx, grads, d_init = layer.backward_with_states(dy if isinstance(out, list) else dy[0], cache)
    return outs, grads, dx, d_init, cache


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(k[:6] for k, v in o.items() if v) or "plain")
@pytest.mark.parametrize("name,cls,extra,kernel,large", KERNELS, ids=[k[0] for k in KERNELS])
def test_masked_fast_kernel_matches_the_reference(monkeypatch, name, cls, extra, kernel, large,
                                                  options):
    if kernel == "numba":
        require("numba")
    if large:
        monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
    rng = np.random.default_rng(hash(name) % 2**32)
    layer = cls(H, **extra, **options)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, rng))
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    mask = any_mask(rng)
    n_states = 2 if cls is LSTM else 1
    initial = [rng.standard_normal((B, H)).astype(np.float32) for _ in range(n_states)]
    shapes = [(B, T, H) if options["return_sequences"] else (B, H)] + [(B, H)] * n_states
    cotangents = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    for training in (False, True):
        for init in (None, initial):
            with force("reference"):
                want = run(layer, x, mask, init, training, cotangents)
            with force(kernel):
                got = run(layer, x, mask, init, training, cotangents)
                called = as_list(layer(x, mask=mask, initial_state=init))
            assert got[4].kernel is not REFERENCE_KERNEL
            for a, b in zip(got[0], want[0]):
                assert a.dtype == np.float32
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
            for a, b in zip(called, want[0]):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
            for a, b in zip(got[1], want[1]):              # every weight gradient
                assert a.dtype == np.float32
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(got[2], want[2], rtol=1e-4, atol=1e-5)       # dL/dx
            assert not got[2][~mask].any()                 # masked steps get no gradient
            for a, b in zip(got[3], want[3]):              # dL/d initial state
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_masked_batch_one_and_one_step(cls):
    for kernel in ("numpy", "numba") if cls is LSTM else ("numba",):
        if kernel == "numba" and lstm_numba.missing_reason() is not None:
            require("numba")
        rng = np.random.default_rng(3)
        layer = cls(3, return_sequences=True)
        layer.build((None, 1, 2))
        layer.set_weights(random_weights(layer, rng))
        x = rng.standard_normal((1, 1, 2)).astype(np.float32)
        for m in (np.ones((1, 1), bool), np.zeros((1, 1), bool)):
            with force("reference"):
                want = layer(x, mask=m)
            with force(kernel):
                np.testing.assert_allclose(layer(x, mask=m), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls,extra", [(LSTM, {}), (GRU, {}), (GRU, {"reset_after": False}),
                                       (SimpleRNN, {})], ids=["lstm", "gru", "gru-before", "rnn"])
def test_whole_products_under_single_threaded_blas(monkeypatch, cls, extra):
    """Above OpenBLAS's single-thread size an inference call that runs BLAS (GRU and
    SimpleRNN projections; an LSTM call too short to pack its weights, see
    runtime/panel_sizes.py; forced here) limits BLAS to one thread and runs each product
    whole (not in row chunks): forced here at a small size, with and without a mask,
    against the reference. A long enough LSTM call makes no BLAS call at all (its projection rides in
    the packed step products), so it sets no limit."""
    require("numba")
    require("threadpoolctl")
    monkeypatch.setattr(lstm_numba, "BLAS_SINGLE_THREAD_WORK", 0)
    monkeypatch.setattr(lstm_numba, "packs", lambda rows, elements: False)
    entered = []
    limit = blas.single_threaded
    monkeypatch.setattr(blas, "single_threaded", lambda: entered.append(1) or limit())
    rng = np.random.default_rng(21)
    layer = cls(H, return_sequences=True, **extra)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, rng))
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    for mask in (None, any_mask(rng)):
        with force("reference"):
            want = layer(x, mask=mask)
        with force("numba"):
            np.testing.assert_allclose(layer(x, mask=mask), want, rtol=0, atol=1e-5)
    assert len(entered) >= 2                       # both calls ran whole products
    if cls is LSTM:
        entered.clear()
        monkeypatch.setattr(lstm_numba, "packs", lambda rows, elements: True)
        for mask in (None, any_mask(rng)):
            with force("reference"):
                want = layer(x, mask=mask)
            with force("numba"):
                np.testing.assert_allclose(layer(x, mask=mask), want, rtol=0, atol=1e-5)
        assert entered == []
