"""The recurrent step's product z = h @ U with U packed once into column panels: faster
than BLAS at a recurrent block's sizes. Imported only with numba.

Every timestep multiplies a few rows of h (a batch block, n ≤ ~64) by the same U (H, G).
OpenBLAS copies ("packs") U into its own layout on every call, and its kernels are tuned
for large matrices; ONNX Runtime packs its recurrent weights once (MLAS). Here, U is
copied once per call of a compiled loop into panels of ``2·V`` columns (V = floats per
256-bit vector: 16 columns in float32, 8 in float64), ``(G // 2V, H, 2V)``, each panel's
rows contiguous. A tile of up to 6 rows × one panel then keeps its 12 vector sums in
registers over the whole k loop (two vector loads, six broadcasts and twelve FMAs per k),
the shape of the classic AVX2 GEMM micro-kernel. LLVM IR is written directly
(:func:`_tile_intrinsic`), because numba cannot keep a block of sums in registers.

Measured single-threaded on the 2-vCPU AVX2 machine of session 7, µs per product, panels
/ OpenBLAS 0.3.31 sgemm / the plain row loop: (16, 128)·(128, 512) 30 / 40 / —,
(4, 64)·(64, 256) 2.0 / 4.5 / —, (16, 32)·(32, 128) 1.9 / 2.8 / 5.1, (1, 128)·(128, 512)
5.0 / 18 / 5.2, (3, 32)·(32, 128) 0.47 / 1.75 / 1.65. At (64, 512)·(512, 2048) they are
even (2.5 ms), so the large-step path keeps NumPy's multithreaded sgemm.

numba's disk cache keys a function on its own source file only: after editing this file,
delete the kernels' ``__pycache__/*.nbi``/``*.nbc`` to recompile the loops that inline it.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from ._numba_gemm import gemm
from .blas import SINGLE_THREAD_WORK as BLAS_SINGLE_THREAD_WORK
from .panel_sizes import PACK_ALWAYS_ELEMENTS, PACK_MIN_ROWS, TILE_ROWS

# A tile of 1–3 rows has too few sums to hide the FMA latency (each sum waits ~4 cycles
# for its previous FMA): its k terms are split round-robin over this many sets of sums,
# added up at the end. Measured at (1, 128)·(128, 512): 5.0 µs with one set, see below.
_SPLITS = {1: 4, 2: 2, 3: 2}
_VECTOR_BYTES = 32      # AVX2; on wider or narrower hardware LLVM splits or joins the vectors
# In-place products of calls below PACK_MIN_ROWS (see _row_product): a loop up to this many
# rows (OpenBLAS's call costs more than the product), else OpenBLAS row chunks of at most
# blas.SINGLE_THREAD_WORK multiply-adds, which it runs on the calling thread.
LOOP_ROWS = 3


def _tile_intrinsic(rows: int):
    """An intrinsic ``tile(h, r0, up, p, z)``: z[r0:r0+rows, p·2V:(p+1)·2V] =
    h[r0:r0+rows] @ U's panel p, for h (n, H) and z (n, G) with contiguous rows, up the
    panels (P, H, 2V) with contiguous panel rows (packed, or a strided view of U: any
    panel and row strides); all float32 or all float64."""

    @intrinsic
    def tile(typingctx, h, r0, up, p, z):
        if not (all(isinstance(a, types.Array) for a in (h, up, z))
                and h.dtype == up.dtype == z.dtype and h.dtype in (types.float32, types.float64)
                and h.ndim == z.ndim == 2 and up.ndim == 3):
            return None
        sig = types.void(h, types.int64, up, types.int64, z)

        def codegen(context, builder, signature, args):
            h_arr, up_arr, z_arr = (context.make_array(signature.args[i])(context, builder,
                                                                          value=args[i])
                                    for i in (0, 2, 4))
            first_row, panel = args[1], args[3]
            dtype = signature.args[0].dtype
            scalar = context.get_value_type(dtype)
            width = _VECTOR_BYTES // (4 if dtype == types.float32 else 8)
            vec = ir.VectorType(scalar, width)
            i32, i64 = ir.IntType(32), ir.IntType(64)

            def const(v):
                return ir.Constant(i64, v)

            itemsize = const(4 if dtype == types.float32 else 8)
            h_stride = builder.sdiv(cgutils.unpack_tuple(builder, h_arr.strides, 2)[0], itemsize)
            z_stride = builder.sdiv(cgutils.unpack_tuple(builder, z_arr.strides, 2)[0], itemsize)
            up_strides = cgutils.unpack_tuple(builder, up_arr.strides, 3)
            panel_stride = builder.sdiv(up_strides[0], itemsize)
            k_stride = builder.sdiv(up_strides[1], itemsize)
            depth = cgutils.unpack_tuple(builder, h_arr.shape, 2)[1]
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                f"llvm.fma.v{width}f{32 if dtype == types.float32 else 64}")
            # Allocas in the entry block: LLVM's mem2reg turns the sums into registers.
            # sums[s][2·r + q]: row r, vector q, for the k ≡ s (mod splits) terms.
            splits = _SPLITS.get(rows, 1)
            sums = []
            for _ in range(splits):
                row_sums = []
                for _ in range(2 * rows):
                    slot = cgutils.alloca_once(builder, vec)
                    builder.store(ir.Constant(vec, None), slot)
                    row_sums.append(slot)
                sums.append(row_sums)
            h_rows = [builder.gep(h_arr.data, [builder.mul(builder.add(first_row, const(r)),
                                                           h_stride)])
                      for r in range(rows)]
            panel_data = builder.gep(up_arr.data, [builder.mul(panel, panel_stride)])
            splat = ir.Constant(ir.VectorType(i32, width), [0] * width)

            def accumulate(k, row_sums):
                """row_sums += h[rows, k] ⊗ panel row k."""
                u_k = builder.gep(panel_data, [builder.mul(k, k_stride)])
                halves = [builder.load(builder.bitcast(builder.gep(u_k, [const(q * width)]),
                                                       vec.as_pointer()), align=4)
                          for q in (0, 1)]
                for r in range(rows):
                    a = builder.load(builder.gep(h_rows[r], [k]))
                    a = builder.insert_element(ir.Constant(vec, ir.Undefined), a,
                                               ir.Constant(i32, 0))
                    a = builder.shuffle_vector(a, ir.Constant(vec, ir.Undefined), splat)
                    for q in (0, 1):
                        slot = row_sums[2 * r + q]
                        builder.store(builder.call(fma, [a, halves[q], builder.load(slot)]),
                                      slot)

            rounds = builder.sdiv(depth, const(splits))
            with cgutils.for_range(builder, rounds) as loop:
                for s in range(splits):
                    accumulate(builder.add(builder.mul(loop.index, const(splits)), const(s)),
                               sums[s])
            with cgutils.for_range(builder, builder.srem(depth, const(splits))) as loop:
                accumulate(builder.add(builder.mul(rounds, const(splits)), loop.index),
                           sums[0])
            column = builder.mul(panel, const(2 * width))
            for r in range(rows):
                z_row = builder.gep(z_arr.data, [builder.add(builder.mul(
                    builder.add(first_row, const(r)), z_stride), column)])
                for q in (0, 1):
                    total = builder.load(sums[0][2 * r + q])
                    for s in range(1, splits):
                        total = builder.fadd(total, builder.load(sums[s][2 * r + q]))
                    dst = builder.bitcast(builder.gep(z_row, [const(q * width)]),
                                          vec.as_pointer())
                    builder.store(total, dst, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile1, _tile2, _tile3, _tile4, _tile5, _tile6 = (_tile_intrinsic(r) for r in range(1, 7))


@nb.njit(inline="always")
def _tile(h, r0, rows, up, p, z):
    if rows >= 6:
        _tile6(h, r0, up, p, z)
    elif rows == 5:
        _tile5(h, r0, up, p, z)
    elif rows == 4:
        _tile4(h, r0, up, p, z)
    elif rows == 3:
        _tile3(h, r0, up, p, z)
    elif rows == 2:
        _tile2(h, r0, up, p, z)
    elif rows == 1:
        _tile1(h, r0, up, p, z)


@nb.njit(inline="always")
def panel_width(U):
    """Columns per panel for U's dtype: two 256-bit vectors."""
    return 2 * (_VECTOR_BYTES // U.itemsize)


@nb.njit(inline="always")
def _pack_jit(U):
    """U (H, G) -> its full column panels (G // w, H, w), w = :func:`panel_width`."""
    H, G = U.shape
    w = panel_width(U)
    panels = G // w
    up = np.empty((panels, H, w), U.dtype)
    for p in range(panels):
        for k in range(H):
            for j in range(w):
                up[p, k, j] = U[k, p * w + j]
    return up


@nb.njit(inline="always")
def _panels_jit(U, rows):
    """U packed for a loop of ``rows`` row-steps (rows × timesteps): a copy when
    ``panel_sizes.packs`` says so, else no panels (0, H, w): such a call (a few steps of
    big weights, e.g. one timestep of a stateful stream) would spend more on the copy than
    on its products, which then read U in place (:func:`step_product`)."""
    if rows >= PACK_MIN_ROWS or U.size <= PACK_ALWAYS_ELEMENTS:
        return _pack_jit(U)
    return np.empty((0, U.shape[0], panel_width(U)), U.dtype)


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _row_product(h, U, z, whole):
    """z = h @ U on U in place: a loop vectorised over G for up to LOOP_ROWS rows, else
    BLAS: one call when ``whole`` (the caller limited BLAS to one thread), else in row
    chunks that OpenBLAS runs on the calling thread (the caller's batch blocks already
    use the cores)."""
    n, H = h.shape
    G = U.shape[1]
    rows = n if whole else max(1, BLAS_SINGLE_THREAD_WORK // max(1, H * G))
    if min(rows, n) <= LOOP_ROWS:
        for r in range(n):
            zr = z[r]
            for j in range(G):
                zr[j] = 0.0
            for k in range(H):
                hk = h[r, k]
                Uk = U[k]
                for j in range(G):
                    zr[j] += hk * Uk[j]
    else:
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            gemm(h[r0:r1], U, z[r0:r1])


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _step_product_jit(h, U, up, z):
    """z (n, G) = h @ U with ``up = panels(U, ...)``: on the panels, or on U in place
    when the call packed none."""
    if up.shape[0] > 0:
        _panel_product_jit(h, U, up, z)
    else:
        _row_product(h, U, z, False)


@nb.njit(inline="always")
def _pack_each_jit(Us):
    """Us (K, H, G) -> each U's panels, (K, G // w, H, w)."""
    K, H, G = Us.shape
    w = panel_width(Us)
    out = np.empty((K, G // w, H, w), Us.dtype)
    for g in range(K):
        out[g] = _pack_jit(Us[g])
    return out


@nb.njit(inline="always")
def _panels_each_jit(Us, rows):
    """:func:`_panels_jit` of each U of a stack (K, H, G): (K, G // w, H, w) or
    (K, 0, H, w)."""
    if rows >= PACK_MIN_ROWS or Us[0].size <= PACK_ALWAYS_ELEMENTS:
        return _pack_each_jit(Us)
    return np.empty((Us.shape[0], 0, Us.shape[1], panel_width(Us)), Us.dtype)


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _panel_product_jit(h, U, up, z):
    """z (n, G) = h (n, H) @ U (H, G), with ``up = panels(U, ...)`` (or ``pack(U)``); h
    and z with contiguous rows (a ValueError otherwise)."""
    n, H = h.shape
    G = U.shape[1]
    if n == 0:
        return
    size = h.itemsize
    if ((H > 1 and h.strides[1] != size) or z.strides[1] != size
            or (up.shape[0] > 0 and up.strides[2] != size)):
        raise ValueError("panel_product: rows must be contiguous")
    for p in range(up.shape[0]):
        for r0 in range(0, n, TILE_ROWS):
            _tile(h, r0, min(TILE_ROWS, n - r0), up, p, z)
    # Columns past the last full panel (G not a multiple of the panel width): a loop.
    c0 = up.shape[0] * up.shape[2]
    if c0 < G:
        for r in range(n):
            zr = z[r]
            for j in range(c0, G):
                zr[j] = 0.0
            for k in range(H):
                hk = h[r, k]
                Uk = U[k]
                for j in range(c0, G):
                    zr[j] += hk * Uk[j]


def _pack_numpy(U):
    return U


def _panels_numpy(U, rows):
    return U


def _step_product_numpy(h, U, up, z):
    np.matmul(h, U, out=z)


def _pack_each_numpy(Us):
    return Us


def _panels_each_numpy(Us, rows):
    return Us


def _panel_product_numpy(h, U, up, z):
    """z = h @ U by NumPy: the stand-in under ``NUMBA_DISABLE_JIT=1``, where the
    intrinsics cannot run as Python."""
    np.matmul(h, U, out=z)


if nb.config.DISABLE_JIT:
    pack, pack_each, panel_product = _pack_numpy, _pack_each_numpy, _panel_product_numpy
    panels, step_product = _panels_numpy, _step_product_numpy
    panels_each = _panels_each_numpy
else:
    pack, pack_each, panel_product = _pack_jit, _pack_each_jit, _panel_product_jit
    panels, step_product = _panels_jit, _step_product_jit
    panels_each = _panels_each_jit
