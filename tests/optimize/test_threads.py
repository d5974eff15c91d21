"""BLAS thread choice: one thread for small blocks and beside a busy neighbour."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time

import pytest
from threadpoolctl import threadpool_info

from mixedfx.optimize import threads


def _blas_threads() -> int:
    return max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
               default=1)


def test_small_blocks_run_single_threaded() -> None:
    with threads.blas_threads_for(10):
        assert _blas_threads() == 1


def _spin(stop: float) -> None:
    while time.time() < stop:
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_busy_neighbour_is_seen_and_limits_blas() -> None:
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_spin, args=(time.time() + 3.0,))
    proc.start()
    try:
        time.sleep(0.3)
        busy = threads.other_cores_busy(0.3)
        assert busy is not None and busy >= threads.BUSY_CORES
        with threads.blas_threads_for(5000):
            assert _blas_threads() == 1
    finally:
        proc.terminate()
        proc.join()
