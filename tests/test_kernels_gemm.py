"""The compiled loops' matrix product (``runtime._numba_gemm.gemm``) against NumPy, the BLAS
it picks, and the kernels on SciPy's BLAS (``UNROLLED_GEMM=scipy``) against the reference."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.peers import require
from unrolled.core.kernels.runtime import gemm_symbols

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def compiled():
    """gemm inside a compiled function (the way the kernels call it, inlined)."""
    nb = require("numba")
    require("scipy")
    from unrolled.core.kernels.runtime._numba_gemm import gemm  # noqa: PLC0415

    @nb.njit
    def product(a, b, out):
        gemm(a, b, out)

    @nb.njit
    def rows_product(a, b, out, r0, r1):
        gemm(a[r0:r1], b, out[r0:r1])

    return product, rows_product


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mkn", [(16, 128, 512), (1, 3, 5), (7, 1, 9), (5, 4, 1),
                                 (4, 16, 64), (33, 7, 130)])
def test_gemm_matches_numpy(compiled, dtype, mkn):
    product, _ = compiled
    m, k, n = mkn
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    product(a, b, out)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol * k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_on_row_ranges_writes_only_those_rows(compiled, dtype):
    _, rows_product = compiled
    rng = np.random.default_rng(1)
    a = rng.standard_normal((10, 6)).astype(dtype)
    b = rng.standard_normal((6, 4)).astype(dtype)
    out = np.full((10, 4), 7.0, dtype)
    rows_product(a, b, out, 3, 7)
    expected = np.full((10, 4), 7.0, dtype)
    expected[3:7] = a[3:7] @ b
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_gemm_edge_shapes(compiled):
    product, _ = compiled
    out = np.full((3, 4), 9.0, np.float32)
    product(np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), out)
    assert (out == 0).all()                                  # k = 0: a sum of nothing
    product(np.zeros((0, 3), np.float32), np.zeros((3, 4), np.float32), np.zeros((0, 4), np.float32))
    # A (4, 1) made C-contiguous from a transposed (1, 4) keeps an odd stride on its
    # length-1 axis (what the LSTM backward passes at units=1).
    u = np.arange(4, dtype=np.float32).reshape(1, 4)
    ut = np.ascontiguousarray(u.T)
    dz = np.ones((2, 4), np.float32)
    got = np.empty((2, 1), np.float32)
    product(dz, ut, got)
    np.testing.assert_allclose(got, dz @ ut)


def test_gemm_refuses_columns_that_are_not_contiguous(compiled):
    product, _ = compiled
    a = np.zeros((4, 4), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="rows must be contiguous"):
        product(a, np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32))


def test_the_compiled_loops_use_numpys_openblas_when_numpy_has_one():
    threadpoolctl = require("threadpoolctl")
    require("numba")
    require("scipy")
    numpy_dir = os.path.realpath(os.path.dirname(np.__file__))
    numpy_openblas = [lib for lib in threadpoolctl.threadpool_info()
                      if lib["internal_api"] == "openblas"
                      and os.path.realpath(lib["filepath"]).startswith((numpy_dir, numpy_dir + ".libs"))]
    found = gemm_symbols.find()
    assert found is not None
    if numpy_openblas:
        assert found.source.startswith("NumPy's OpenBLAS"), found.source
        assert numpy_openblas[0]["version"] in found.source
    else:
        assert found.source.startswith("SciPy's BLAS"), found.source


def test_kernels_on_scipys_blas_match_the_reference():
    """UNROLLED_GEMM=scipy (numba's own BLAS) in a fresh process: the same compiled cache
    (it stores the symbol names, not addresses) gives the reference's numbers."""
    require("numba")
    require("scipy")
    code = textwrap.dedent("""
        import numpy as np
        from tests.test_kernels import make, run, assert_same
        from unrolled.core.kernels.runtime import gemm_symbols
        from unrolled.core.kernels import lstm_numba
        assert gemm_symbols.find().source.startswith("SciPy"), gemm_symbols.find().source
        lstm_numba.impl()
        for B in (1, 4, 9):                  # a loop of rows, then BLAS products
            layer = make(40, 5, 6, return_sequences=True)
            x = np.random.default_rng(B).standard_normal((B, 6, 5)).astype(np.float32)
            ref, fast = run(layer, "reference", x), run(layer, "numba", x)
            assert_same(fast[0], ref[0]); assert_same(fast[1], ref[1])
            with __import__("unrolled").core.kernels.force("numba"):
                np.testing.assert_allclose(layer(x), ref[0][0], rtol=1e-5, atol=1e-5)
        print("ok")
    """)
    env = dict(os.environ, UNROLLED_GEMM="scipy", UNROLLED_COMPILE="wait",
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "src")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_without_numpys_openblas_the_loops_fall_back_to_scipys_blas(monkeypatch):
    """NumPy linked to another BLAS (MKL, Accelerate) or an OpenBLAS without the Fortran
    symbols: SciPy's cython_blas, as numba itself would use; none at all: None (the
    compiled kernels are then not used)."""
    require("numba")
    require("scipy")
    gemm_symbols.find.cache_clear()
    try:
        monkeypatch.setattr(gemm_symbols, "_numpy_openblas", lambda: None)
        assert gemm_symbols.find().source.startswith("SciPy's BLAS")
        gemm_symbols.find.cache_clear()
        monkeypatch.setattr(gemm_symbols, "_numpy_openblas", lambda: ("/nonexistent/lib.so", "0"))
        assert gemm_symbols.find().source.startswith("SciPy's BLAS")
        gemm_symbols.find.cache_clear()
        monkeypatch.setattr(gemm_symbols, "_from_scipy", lambda: None)
        assert gemm_symbols.find() is None
    finally:
        gemm_symbols.find.cache_clear()
