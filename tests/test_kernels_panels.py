"""The recurrent step's product on packed panels (``runtime._numba_panels``) against NumPy,
and every cell's compiled loops across the panel tiles' edges against the reference."""
from __future__ import annotations

import numpy as np
import pytest

from tests.peers import require


@pytest.fixture(scope="module")
def compiled():
    """pack + panel_product inside compiled functions (as the kernels call them, inlined)."""
    nb = require("numba")
    require("scipy")
    from unrolled.core.kernels.runtime._numba_panels import (  # noqa: PLC0415
        pack,
        pack_each,
        panel_product,
    )

    @nb.njit
    def product(h, U, z):
        panel_product(h, U, pack(U), z)

    @nb.njit
    def rows_product(h, U, z, r0, r1):
        panel_product(h[r0:r1], U, pack(U), z[r0:r1])

    @nb.njit
    def packed(U):
        return pack(U)

    @nb.njit
    def packed_each(Us):
        return pack_each(Us)

    packed.each = packed_each
    return product, rows_product, packed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nhg", [(16, 128, 512), (1, 1, 4), (2, 3, 5), (6, 1, 16), (7, 5, 40),
                                 (13, 33, 130), (5, 64, 256), (12, 7, 8), (1, 200, 17)])
def test_panel_product_matches_numpy(compiled, dtype, nhg):
    """Rows on both sides of the 6-row tile, panels of 16 (float32) or 8 (float64) columns
    and the columns past the last full panel."""
    product, _, _ = compiled
    n, H, G = nhg
    rng = np.random.default_rng(0)
    h = rng.standard_normal((n, H)).astype(dtype)
    U = rng.standard_normal((H, G)).astype(dtype)
    z = np.full((n, G), np.nan, dtype)
    product(h, U, z)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(z, h @ U, rtol=tol, atol=tol * H)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_panel_product_writes_only_its_rows_and_reads_strided_rows(compiled, dtype):
    """A row range of a bigger array (a batch block, the gathered active rows): the rows
    outside it are left alone; and rows that are not adjacent in memory (a column slice,
    row stride > H) are read at their stride."""
    product, rows_product, _ = compiled
    rng = np.random.default_rng(1)
    h = rng.standard_normal((10, 9)).astype(dtype)
    U = rng.standard_normal((9, 40)).astype(dtype)
    z = np.full((10, 40), 7.0, dtype)
    rows_product(h, U, z, 3, 10)
    expected = np.full((10, 40), 7.0, dtype)
    expected[3:10] = h[3:10] @ U
    np.testing.assert_allclose(z, expected, rtol=1e-5)
    wide = rng.standard_normal((8, 20)).astype(dtype)
    out = np.zeros((8, 40), dtype)
    product(wide[:, :9], U, out)
    np.testing.assert_allclose(out, wide[:, :9] @ U, rtol=1e-5, atol=1e-5)


def test_pack_lays_out_full_panels(compiled):
    """Panel p holds columns p·w .. p·w + w - 1 of every row, w = two 256-bit vectors."""
    _, _, packed = compiled
    U = np.arange(3 * 37, dtype=np.float32).reshape(3, 37)
    up = packed(U)
    assert up.shape == (2, 3, 16)
    np.testing.assert_array_equal(up[1, 2], U[2, 16:32])
    assert packed(U.astype(np.float64)).shape == (4, 3, 8)
    stack = np.stack([U, 2 * U])                   # the dropout loops' per-gate blocks
    each = packed.each(stack)
    assert each.shape == (2, 2, 3, 16)
    np.testing.assert_array_equal(each[1, 0, 1], 2 * U[1, :16])


def test_panel_product_refuses_rows_that_are_not_contiguous(compiled):
    product, _, _ = compiled
    h = np.ones((4, 6), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="rows must be contiguous"):
        product(h, np.ones((3, 16), np.float32), np.zeros((4, 16), np.float32))


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("batch,units,T", [(3, 24, 7), (8, 24, 7), (14, 24, 40), (15, 5, 7),
                                           (26, 9, 40), (9, 72, 3), (5, 80, 4), (4, 130, 3)])
def test_kernels_across_the_panel_tiles_match_the_reference(monkeypatch, cell, batch, units,
                                                            T):
    """Two batch blocks (1–13 rows each) with a mask that leaves 0..all rows active per
    step, so the products run on every tile height (1–6 rows) and on the columns past the
    last full panel (units 5, 9, 130; GRU's 3·24); inference and training, every gradient.
    Small weights are always packed; 72–130 units over 3–4 steps (fewer row-steps than
    PACK_MIN_ROWS, more weights than PACK_ALWAYS_ELEMENTS) multiply on them in place."""
    require("numba")
    require("scipy")
    from tests.reference import random_weights  # noqa: PLC0415
    from unrolled.core.kernels import force, lstm_numba  # noqa: PLC0415
    from unrolled.layers import GRU, LSTM, SimpleRNN  # noqa: PLC0415

    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)
    F = 5
    rng = np.random.default_rng(batch)
    layer = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}[cell](units,
                                                                     return_sequences=True)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, rng))
    x = rng.standard_normal((batch, T, F)).astype(np.float32)
    mask = rng.random((batch, T)) < 0.75
    dy = rng.standard_normal((batch, T, units)).astype(np.float32)
    results = {}
    for kernel in ("reference", "numba"):
        with force(kernel):
            inferred = layer(x, mask=mask)
            plain = layer(x)
            y, cache = layer.forward(x, training=True, mask=mask)
            dx, grads = layer.backward(dy, cache)
        results[kernel] = [inferred, plain, y, dx, *grads]
    # float32 rounding, relative to each result's scale (gradients reach ~100 at T = 40;
    # both float32 paths are ~1e-6 of that from a float64 run)
    for fast, ref in zip(results["numba"], results["reference"]):
        np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5 * max(1, np.abs(ref).max()))


def test_gru_reset_before_runs_on_panels(monkeypatch):
    """GRU(reset_after=False) multiplies two packed blocks per step (U_zr, then U_h on r·h)."""
    require("numba")
    require("scipy")
    from tests.reference import random_weights  # noqa: PLC0415
    from unrolled.core.kernels import force, lstm_numba  # noqa: PLC0415
    from unrolled.layers import GRU  # noqa: PLC0415

    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)
    rng = np.random.default_rng(3)
    layer = GRU(20, reset_after=False, return_sequences=True)
    layer.build((None, 6, 3))
    layer.set_weights(random_weights(layer, rng))
    x = rng.standard_normal((11, 6, 3)).astype(np.float32)
    mask = rng.random((11, 6)) < 0.7
    with force("reference"):
        expected = layer(x, mask=mask)
    with force("numba"):
        got = layer(x, mask=mask)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("panel_bytes", [16 << 20, 0], ids=["blocks", "units-split"])
def test_large_inference_runs_batch_blocks_when_every_thread_gets_a_tile(monkeypatch,
                                                                        panel_bytes):
    """A large step with ≥ 6 rows per thread runs the batch blocks on packed panels; with
    panels too big for the cache (forced: 0 bytes) the units-split path. Both against the
    reference, with a mask and float64 too."""
    require("numba")
    require("threadpoolctl")
    from tests.reference import random_weights  # noqa: PLC0415
    from unrolled.core.kernels import force, lstm_numba  # noqa: PLC0415
    from unrolled.layers import LSTM  # noqa: PLC0415

    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(lstm_numba, "LARGE_STEP_WORK", 0)
    monkeypatch.setattr(lstm_numba, "MAX_PANEL_BYTES", panel_bytes)
    B, T, F, H = 13, 6, 5, 20
    assert lstm_numba.infers_in_blocks(B, H, F) == bool(panel_bytes)
    assert not lstm_numba.infers_in_blocks(11, H, F)          # < 6 rows for one thread
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        layer = LSTM(H, return_sequences=True, dtype=dtype)
        layer.build((None, T, F))
        layer.set_weights([w.astype(dtype) for w in random_weights(layer, rng)])
        x = rng.standard_normal((B, T, F)).astype(dtype)
        for mask in (None, rng.random((B, T)) < 0.7):
            with force("reference"):
                want = layer(x, mask=mask)
            with force("numba"):
                got = layer(x, mask=mask)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("B,T,H", [(28, 40, 16), (8, 6, 136)], ids=["packed", "in-place"])
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_dropout_loops_on_both_product_paths(monkeypatch, cls_name, B, T, H):
    """The compiled recurrent-dropout loops (masked: all samples in one call, each held
    after its count) with their weights packed (14 rows × 40 steps per block) and in
    place (4 rows × 6 steps of 136 units), against the reference scan with the same
    dropout masks: outputs and every gradient."""
    require("numba")
    require("scipy")
    from tests.reference import random_weights  # noqa: PLC0415
    from unrolled.core.kernels import force, lstm_numba  # noqa: PLC0415
    from unrolled.layers import GRU, LSTM, SimpleRNN  # noqa: PLC0415

    monkeypatch.setenv("UNROLLED_NUM_THREADS", "2")
    monkeypatch.setattr(lstm_numba, "MIN_TOTAL_WORK", 0)
    F = 3
    rng = np.random.default_rng(T)
    layer = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}[cls_name](
        H, recurrent_dropout=0.3, dropout=0.2, return_sequences=True, seed=4)
    layer.build((None, T, F))
    layer.set_weights(random_weights(layer, rng))
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    lengths = rng.integers(0, T + 1, B)
    mask = np.arange(T)[None] < lengths[:, None]
    mask[0, 1] = False                                           # a hole
    masks = layer.draw_dropout_masks(B)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    results = {}
    for kernel in ("numba", "reference"):
        with force(kernel):
            y, cache = layer.forward(x, training=True, mask=mask, dropout_masks=masks)
            dx, grads = layer.backward(dy, cache)
        if kernel == "numba":
            assert "each held after its own count" in layer.kernel_choice.reason
        results[kernel] = [y, dx, *grads]
    for fast, ref in zip(results["numba"], results["reference"]):
        np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5 * max(1, np.abs(ref).max()))
