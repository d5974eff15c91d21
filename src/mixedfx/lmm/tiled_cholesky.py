"""The Cholesky factor of a large dense Schur complement, in tiles on several threads.

A Schur complement of `SMALL_BLOCK` (2,000) rows or more (model G's 5,003) is factored by the
compiled kernel `mixedfx._native.tiled`: S is split into `TILE`-square tiles and the tile
operations of the right-looking Cholesky (POTRF of a diagonal tile, TRSM below it, SYRK /
GEMM updates of the trailing tiles; below the diagonal `GROUP` tiles of a column per call)
are taken from one queue, as soon as they are ready, by `optimize.threads.factor_workers()`
threads, each operation one single-threaded call of SciPy's BLAS / LAPACK. Each tile
receives its updates in a fixed order through calls with fixed operands, so L is the same
bits for any number of workers and any schedule (it depends on the tile sizes and the BLAS
kernel only), and a worker slowed by a busy neighbour only takes fewer tiles. The result is
LAPACK's: `dpotrf(S, lower=1, clean=1)` of the Fortran view, to rounding.
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType

import numpy as np
from scipy.linalg import cython_blas, cython_lapack

from mixedfx.native import kernel
from mixedfx.optimize.threads import SMALL_BLOCK, factor_workers

# 256-row tiles, below-diagonal solves and updates 8 tiles (2,048 rows) per BLAS call.
# Measured (one worker, CPU time, G's r = 5,003; machine shared): LAPACK's dpotrf on one
# thread 0.93–0.94 s; tiles of 256 with one tile per call 1.17–1.26 s (the 256³ products
# are OpenBLAS's least efficient), 8 per call 0.98–1.02 s; tiles of 512, 4 per call
# 0.97–0.98 s (fewer tiles: less to share between workers). r = 2,003: 0.07 s either way.
# Per kind (G's S, one worker, OpenBLAS's SkylakeX kernel): the 229 GEMM updates 0.77–0.85 s,
# 190 SYRK 0.09 s, 33 TRSM 0.12–0.15 s (Haswell kernel: 0.08 s), 20 POTRF 0.006 s; GEMM for
# the diagonal tiles (0.15 s) or TRSM through the inverted diagonal tile (SkylakeX 0.10 s,
# Haswell 0.13 s) gain nothing overall. GROUP is part of the bits like TILE (the SkylakeX
# kernel's results depend on how many rows a call takes), the worker count is not.
# `benchmarks/bench_tiled.py` times the factorization by worker count, idle and busy.
TILE, GROUP = 256, 8


@lru_cache(maxsize=1)
def _bound() -> ModuleType | None:
    """The tiled kernel with SciPy's dgemm, dsyrk, dtrsm and dpotrf bound, or None when it is
    not built."""
    mod = kernel("tiled")
    if mod is None:
        return None
    blas, lapack = cython_blas.__pyx_capi__, cython_lapack.__pyx_capi__
    mod.bind(blas["dgemm"], blas["dsyrk"], blas["dtrsm"], lapack["dpotrf"])
    return mod


def factor_in_place(P: np.ndarray, clean: bool = True) -> int | None:
    """The lower Cholesky factor of S, given as the upper triangle of the C-ordered P, in
    place: afterwards P.T is LAPACK's `dpotrf(P.T, lower=1, clean=int(clean))` factor. Returns
    LAPACK's info (0, or the order of the first leading minor that is not positive
    definite), or None when the tiled kernel does not serve: fewer than `SMALL_BLOCK` rows,
    the kernel not built, or BLAS not held at one thread by this thread (a call outside a
    fit's BLAS mode), where LAPACK's dpotrf factors S instead."""
    r = P.shape[0]
    if r < SMALL_BLOCK or not P.flags.c_contiguous or P.dtype != np.float64:
        return None
    workers = factor_workers()
    if workers == 0:
        return None
    mod = _bound()
    if mod is None:
        return None
    return int(mod.potrf(P, TILE, GROUP, workers, clean))
