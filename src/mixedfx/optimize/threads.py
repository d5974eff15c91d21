"""BLAS threading for a fit: one thread unless the dense algebra is large and the machine's
other cores are idle.

The per-θ work of a model whose trailing dense block is small consists of many small matrix
products; OpenBLAS then spends more time waking its thread pool than computing (measured 3–12×
slower on 2 cores for cbpp and VerbAgg). Large dense blocks (InstEval's 1145 × 1145 Cholesky)
gain from more threads only while the other cores are free: beside a CPU-bound neighbour,
OpenBLAS's threads spin against it and a fit became 2–8× slower than with one thread. So a
large-block fit first samples the machine (`other_cores_busy`): the CPU time every process
but this one used over a short window, from /proc/stat and this process's own CPU time. If
the others keep at least half a core busy, the fit runs on one BLAS thread.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

SMALL_BLOCK = 400
SAMPLE_SECONDS = 0.05
BUSY_CORES = 0.5


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)      # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def other_cores_busy(window: float = SAMPLE_SECONDS) -> float | None:
    """Cores kept busy by other processes over `window` seconds (None where unknown)."""
    start = _busy_jiffies()
    if start is None:
        return None
    own0, t0 = time.process_time(), time.perf_counter()
    time.sleep(window)
    end = _busy_jiffies()
    own1, t1 = time.process_time(), time.perf_counter()
    if end is None:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy_seconds = (end[0] - start[0]) / hz - (own1 - own0)
    return max(0.0, busy_seconds / max(t1 - t0, 1e-9))


_CONTROLLER: ThreadpoolController | None = None


def _controller() -> ThreadpoolController:
    """One ThreadpoolController per process: building it scans the loaded libraries, which
    cost more than a small fit (about 1 ms idle) when done at every call."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def blas_threads_for(dense_block_size: int) -> Iterator[None]:
    """One BLAS thread for a small dense block, or when other processes keep the machine's
    other cores busy; otherwise BLAS's own thread count."""
    if dense_block_size >= SMALL_BLOCK:
        busy = other_cores_busy()
        if busy is None or busy < BUSY_CORES:
            yield
            return
    with _controller().limit(limits=1, user_api="blas"):
        yield
