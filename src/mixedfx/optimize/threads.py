"""BLAS threading for a fit: one thread when the dense algebra is small.

The per-θ work of a model whose trailing dense block is small consists of many small matrix
products; OpenBLAS then spends more time waking its thread pool than computing (measured 3–12×
slower on 2 cores for cbpp and VerbAgg). Large dense blocks (InstEval's 1145 × 1145 Cholesky)
keep every thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

SMALL_BLOCK = 400


@contextlib.contextmanager
def blas_threads_for(dense_block_size: int) -> Iterator[None]:
    """Limit BLAS to one thread while fitting a model with a small dense block."""
    if dense_block_size >= SMALL_BLOCK:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
