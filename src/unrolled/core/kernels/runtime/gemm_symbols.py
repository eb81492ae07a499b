"""Which BLAS the compiled loops call for their matrix products, found without numba.

numba's own ``np.dot`` goes through SciPy's BLAS (``scipy.linalg.cython_blas``). A NumPy
wheel brings a second OpenBLAS, and the two are not equally fast on the products a
recurrent step makes: on (16, 128)·(128, 512), 100 calls took 3.8 ms through NumPy's
OpenBLAS 0.3.31 and 7.4 ms through SciPy's 0.3.30 (single-threaded, same process, same
machine; (4, 64)·(64, 256): 0.33 against 1.20 ms). So the kernels call the Fortran
``?gemm`` of the BLAS NumPy itself uses when it is an OpenBLAS we can see (threadpoolctl
lists it), else SciPy's, as numba would.

The compiled code calls the symbols ``unrolled_sgemm`` and ``unrolled_dgemm``; this
module finds the addresses they stand for (:func:`find`), and ``_numba_gemm`` registers
them with LLVM before anything is compiled or loaded from numba's cache. The cache stores
only the names, so it stays valid when the library changes.

Integer arguments are passed as pointers to 64-bit integers. That is the ILP64 interface
(NumPy's ``scipy_sgemm_64_``); an LP64 library (SciPy's, 32-bit integers) reads the low
half, which on a little-endian CPU is the same number (every size here is below 2³¹).
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys
from dataclasses import dataclass

# Fortran symbol names of single/double gemm, most specific first: the scipy-openblas
# wheels NumPy ships (ILP64, prefixed and suffixed), then plain OpenBLAS ILP64, then LP64.
_NAMES = (("scipy_sgemm_64_", "scipy_dgemm_64_"), ("sgemm_64_", "dgemm_64_"),
          ("scipy_sgemm_", "scipy_dgemm_"), ("sgemm_", "dgemm_"))


@dataclass(frozen=True)
class Gemm:
    """The two addresses and where they come from (what ``unrolled info`` prints)."""

    sgemm: int
    dgemm: int
    source: str          # e.g. "NumPy's OpenBLAS 0.3.31 (scipy_sgemm_64_)"


def _numpy_openblas() -> tuple[str, str] | None:
    """(file, version) of the OpenBLAS that NumPy itself links, if threadpoolctl sees one."""
    try:
        import numpy as np  # noqa: PLC0415
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - default dependency
    except ImportError:
        return None
    numpy_dir = os.path.realpath(os.path.dirname(np.__file__))
    homes = (numpy_dir, numpy_dir + ".libs")        # numpy/.libs, numpy/.dylibs, numpy.libs
    try:
        libraries = threadpool_info()
    except Exception:  # noqa: BLE001 - an odd library it cannot inspect: use SciPy's BLAS
        return None
    for lib in libraries:
        path = os.path.realpath(lib.get("filepath") or "")
        if lib.get("internal_api") == "openblas" and path.startswith(homes):
            return path, str(lib.get("version"))
    return None


def _from_library(path: str) -> tuple[int, int, str] | None:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for s_name, d_name in _NAMES:
        try:
            s, d = getattr(lib, s_name), getattr(lib, d_name)
        except AttributeError:
            continue
        as_int = ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(d, ctypes.c_void_p).value
        return as_int[0], as_int[1], s_name
    return None


def _from_scipy() -> tuple[int, int] | None:
    try:
        from numba.extending import get_cython_function_address  # noqa: PLC0415
        s = get_cython_function_address("scipy.linalg.cython_blas", "sgemm")
        d = get_cython_function_address("scipy.linalg.cython_blas", "dgemm")
    except (ImportError, ValueError, AttributeError):
        return None
    return s, d


@functools.lru_cache(maxsize=1)
def find() -> Gemm | None:
    """The gemm the compiled loops will call, or None when there is none we can call
    correctly here (then the compiled kernels are not used). ``UNROLLED_GEMM=scipy``
    skips NumPy's OpenBLAS (to compare the two)."""
    little = sys.byteorder == "little"     # else only ILP64 reads our integers right
    if os.environ.get("UNROLLED_GEMM", "").strip().lower() != "scipy":
        found = _numpy_openblas()
        symbols = None if found is None else _from_library(found[0])
        if symbols is not None and (little or symbols[2].endswith("64_")):
            return Gemm(symbols[0], symbols[1], f"NumPy's OpenBLAS {found[1]} ({symbols[2]})")
    scipy = _from_scipy() if little else None
    if scipy is None:
        return None
    return Gemm(scipy[0], scipy[1], "SciPy's BLAS (scipy.linalg.cython_blas, as numba's np.dot)")
