"""Small dense triangular solves through LAPACK directly, and BLAS thread control for workers.

scipy's `solve_triangular` costs ~0.15 ms per call on a 2×2 system (argument checks and
dispatch), which dominates the many tiny solves of the derivative and profile loops; `dtrtrs` /
`dtrtri` cost about a microsecond.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack


def lower_solve(L: np.ndarray, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """x with L x = b (or Lᵀ x = b) for lower-triangular L."""
    if L.shape[0] == 0:
        return np.zeros_like(b, dtype=float)
    x, info = lapack.dtrtrs(L, b, lower=1, trans=1 if transpose else 0)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular system")
    return x


def lower_inverse(L: np.ndarray) -> np.ndarray:
    """L⁻¹ for lower-triangular L."""
    if L.shape[0] == 0:
        return np.zeros((0, 0))
    Li, info = lapack.dtrtri(L, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular matrix")
    return Li


_BLAS_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_",
                 "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
                 "MKL_Set_Num_Threads")


def single_threaded_blas() -> None:
    """Worker initializer: one BLAS thread per process (workers already use every core)."""
    try:
        from threadpoolctl import threadpool_limits  # optional dependency (fallback below)

        threadpool_limits(1)
        return
    except ImportError:
        pass
    import ctypes

    try:
        with open("/proc/self/maps") as fh:
            libs = {ln.split()[-1] for ln in fh if "blas" in ln.lower() or "mkl" in ln.lower()}
    except OSError:
        return
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            if hasattr(handle, name):
                getattr(handle, name)(1)
