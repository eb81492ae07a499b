"""``gemm(a, b, out)``: out = a @ b inside compiled loops, through the BLAS that
:mod:`.gemm_symbols` found (NumPy's OpenBLAS where it can, ~2x faster than numba's
``np.dot`` on a recurrent step's product here). Imported only with numba.

Importing this module registers the symbols ``unrolled_sgemm`` and ``unrolled_dgemm``
with LLVM, so it must be imported before any function that calls :func:`gemm` is compiled
or loaded from numba's cache (every ``_numba_*`` module imports it first).

numba's disk cache keys a function on its own source file only: after editing this file,
delete the kernels' ``__pycache__/*.nbi``/``*.nbc`` to recompile the loops that inline it.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from . import gemm_symbols

GEMM = gemm_symbols.find()
if GEMM is None:
    raise ImportError("no BLAS gemm that compiled code can call (NumPy's OpenBLAS or "
                      "SciPy's cython_blas)")
llvm_binding.add_symbol("unrolled_sgemm", GEMM.sgemm)
llvm_binding.add_symbol("unrolled_dgemm", GEMM.dgemm)

_N = ord("N")


@intrinsic
def _fortran_gemm(typingctx, a, b, c, m, n, k, lda, ldb, ldc):
    """Fortran ``?gemm('N', 'N', m, n, k, 1, a, lda, b, ldb, 0, c, ldc)`` on the data of
    arrays a, b, c (all float32 or all float64): every scalar goes in a stack slot, the
    integers as int64 (see :mod:`.gemm_symbols`)."""
    arrays = (a, b, c)
    if not (all(isinstance(x, types.Array) and x.ndim == 2 and x.dtype == a.dtype
                for x in arrays) and a.dtype in (types.float32, types.float64)):
        return None
    float_ty = a.dtype
    sig = types.void(a, b, c, types.int64, types.int64, types.int64,
                     types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        ptr = ir.IntType(8).as_pointer()
        fl = context.get_value_type(float_ty)
        data = [builder.bitcast(context.make_array(ty)(context, builder, value=v).data, ptr)
                for ty, v in zip(signature.args[:3], args[:3])]

        def slot(value):
            return builder.bitcast(cgutils.alloca_once_value(builder, value), ptr)

        ints = [slot(v) for v in args[3:]]                  # m, n, k, lda, ldb, ldc
        trans = slot(ir.Constant(ir.IntType(8), _N))
        one, zero = slot(ir.Constant(fl, 1.0)), slot(ir.Constant(fl, 0.0))
        name = "unrolled_sgemm" if float_ty == types.float32 else "unrolled_dgemm"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            ir.VoidType(), [ptr] * 13), name)
        builder.call(fn, [trans, trans, ints[0], ints[1], ints[2], one, data[0], ints[3],
                          data[1], ints[4], zero, data[2], ints[5]])
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(inline="always")
def _gemm_blas(a, b, out):
    """out (m, n) = a (m, k) @ b (k, n) for 2-D arrays whose rows are contiguous (C order,
    or row ranges of it), float32 or float64 alike; a ValueError for other layouts.

    Row-major out = a @ b is column-major outᵀ = bᵀ @ aᵀ, so the Fortran call takes b
    first; each array's row stride is its leading dimension."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:, :] = 0
        return
    size = a.itemsize
    # (A stride along an axis of length 1 is never used: NumPy calls (4, 1) C-contiguous
    # whatever its strides say, e.g. ascontiguousarray of a transposed (1, 4).)
    if ((k > 1 and a.strides[1] != size) or (n > 1 and b.strides[1] != size)
            or (n > 1 and out.strides[1] != size)):
        raise ValueError("gemm: rows must be contiguous")
    lda = max(a.strides[0] // size, k)
    ldb = max(b.strides[0] // size, n)
    ldo = max(out.strides[0] // size, n)
    _fortran_gemm(b, a, out, np.int64(n), np.int64(m), np.int64(k), np.int64(ldb),
                  np.int64(lda), np.int64(ldo))



def _gemm_numpy(a, b, out):
    """out = a @ b by NumPy: the stand-in under ``NUMBA_DISABLE_JIT=1`` (debugging, tests),
    where :func:`_gemm_blas` runs as Python and its intrinsic cannot."""
    np.matmul(a, b, out=out)


gemm = _gemm_numpy if nb.config.DISABLE_JIT else _gemm_blas
