"""BLAS threading for a fit: the thread count comes from the problem alone, and concurrent
fits never run under each other's count.

A BLAS call's result depends on the number of threads it runs with (a threaded GEMV, SYRK
or POTRF splits its sums differently), so the count a fit's dense algebra runs with is part
of its numbers. It is chosen from the problem only — never from the machine's load:

- a trailing dense block of fewer than `SMALL_BLOCK` rows runs on one thread. Small blocks'
  many small products cost OpenBLAS more to wake its thread pool than to compute (3–12×
  slower on 2 cores for cbpp and VerbAgg); a medium block gains little from a second core
  even when it is idle (InstEval's 1145 × 1145 Cholesky: 2.57 s on two threads, 2.87 s on
  one) and loses 2–8× beside a busy neighbour, where OpenBLAS's threads spin against it
  (a 436-row block on a machine loaded ten times over: 37 s on two threads, 0.65 s on one);
- a larger block is factored in tiles by `factor_workers()` threads of its own, each tile
  operation a single-threaded BLAS call (`lmm.tiled_cholesky`), so BLAS runs on one thread
  here too. The workers take the ready tiles from one queue and wait without spinning, so a
  worker that a busy neighbour slows down takes fewer tiles (OpenBLAS's threaded Cholesky
  splits each step evenly and spins at its barriers: G's 5,003-row block took 2.3× its idle
  time beside one busy process), and the factor is the same bits for any number of workers.
  Their number is BLAS's own count, the one in effect while no fit runs (the library's
  default, or what the user set, e.g. with threadpoolctl or OPENBLAS_NUM_THREADS — the way
  to keep a large fit off a busy machine's other cores). Without the compiled kernel a larger
  block runs on BLAS's own count (LAPACK's threaded dpotrf).

OpenBLAS's thread count is one setting for the whole process. Fits running concurrently in
threads therefore share a *mode* (`_BlasMode`): a fit enters when no fit runs or the running
ones use its count, and otherwise waits until they have all left; the first fit of a mode
sets the count, the last one restores the setting it found. While a fit waits for the other
count, newcomers of the running count wait too, so neither kind starves. A fit in a thread
pool thus runs its BLAS calls with exactly the count it has alone, and gives the same bits.
Nested use in one thread (an inner fit inside an outer one) runs under the count the thread
already holds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter

from threadpoolctl import ThreadpoolController

from mixedfx.native import kernel

SMALL_BLOCK = 2000
EXTRA_WORKER = 3    # tiled factorizations: workers beyond BLAS's count (`factor_workers`)

#: the two modes: one BLAS thread, or BLAS's own count
SINGLE, OWN = 1, 0

_CONTROLLER: ThreadpoolController | None = None


def _controller() -> ThreadpoolController:
    """One ThreadpoolController per process: building it scans the loaded libraries, which
    cost more than a small fit (about 1 ms idle) when done at every call."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


_OPENBLAS_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_",
                     "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_")


def _own_symbol(lib, names: tuple[str, ...]):
    """The first of `names` that OpenBLAS (not built on OpenMP, where the count is per
    thread) exports, as a ctypes function, or None."""
    dynlib = getattr(lib, "dynlib", None)       # (threadpoolctl < 3.6: no such policy)
    if dynlib is not None and lib.internal_api == "openblas" \
            and getattr(lib, "threading_layer", "") != "openmp":
        for name in names:
            fn = getattr(dynlib, name, None)
            if fn is not None:
                return fn
    return None


def _setter(lib):
    """The library's own thread-count setter. threadpoolctl (≥ 3.6) lets only the first
    Python thread that limited OpenBLAS change it while that thread lives, and silently
    ignores the others — a fit in a pool thread would keep the count of the main thread —
    so OpenBLAS's process-wide setter is called directly (`_BlasMode` owns it meanwhile)."""
    return _own_symbol(lib, _OPENBLAS_SETTERS) or lib.set_num_threads


def _getter(lib):
    """The library's thread-count getter: OpenBLAS's own (one C call; threadpoolctl looks
    the symbol up at every call), else threadpoolctl's."""
    own = _own_symbol(lib, tuple(n.replace("_set_", "_get_") for n in _OPENBLAS_SETTERS))
    return own or lib.get_num_threads


_BLAS_LIBS: list[tuple] | None = None


def _blas_libs() -> list[tuple]:
    """(getter, setter) of every BLAS library, found once per process (looking them up
    costs more than calling them; a small fit sets and restores the count)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        _BLAS_LIBS = [(_getter(lib), _setter(lib)) for lib in _controller().lib_controllers
                      if lib.user_api == "blas"]
    return _BLAS_LIBS


def _set_blas_threads(counts: list[int] | int) -> list[int]:
    """Set every BLAS library's thread count (one count, or one per library as returned);
    returns the counts they had (a library already at its count is left alone)."""
    libs = _BLAS_LIBS if _BLAS_LIBS is not None else _blas_libs()
    before = []
    if isinstance(counts, int):         # one count for all (a fit's hold: one C call each)
        for get, setter in libs:
            had = int(get() or 1)
            before.append(had)
            if had != counts:
                setter(counts)
        return before
    for (get, setter), n in zip(libs, counts, strict=True):
        had = int(get() or 1)
        before.append(had)
        if n != had:
            setter(n)
    return before


def _restore_blas_threads(counts: list[int]) -> None:
    """Give every BLAS library back the count `_set_blas_threads(1)` found (a library that
    had one thread was not changed)."""
    for (_, setter), n in zip(_BLAS_LIBS if _BLAS_LIBS is not None else _blas_libs(), counts,
                              strict=True):
        if n != 1:
            setter(n)


def mode_for(dense_block_size: int) -> int:
    """`SINGLE` for a dense block of fewer than `SMALL_BLOCK` rows, and for a larger one when
    its factorization runs in tiles on this module's workers (`factor_workers`: the compiled
    kernel `mixedfx._native.tiled` is built), else `OWN`."""
    if dense_block_size < SMALL_BLOCK or tiles_built():
        return SINGLE
    return OWN


def tiles_built() -> bool:
    """Whether the tiled Cholesky kernel (`mixedfx._native.tiled`) is built."""
    return kernel("tiled") is not None


def factor_workers() -> int:
    """Worker threads for a dense factorization divided into tiles (`lmm.tiled_cholesky`),
    or 0 when this thread does not hold BLAS at one thread (the tiles' BLAS calls must not
    start threads of their own). The count n is BLAS's own, as it was when the first running
    fit set one thread (the library's default, or what the user set, e.g. with
    threadpoolctl or OPENBLAS_NUM_THREADS), at most the CPUs this process may run on; with
    n ≥ 2 three workers more (`EXTRA_WORKER`): the workers never spin and take ready tiles
    from one queue, so alone they use at most the n cores, and beside busy processes, where
    the scheduler gives each runnable thread an equal share, they get (n + 3)/(n + 4) of the
    cores instead of n/(n + 1) (n = 2 beside one busy process: 1.67 cores instead of 1.33).
    Measured on a quiet 2-core machine (`benchmarks/bench_tiled.py`, G's 5,003 rows, median
    of 7): 3, 4 and 5 workers 0.49–0.50 s idle (0.97–1.00 CPU-s); beside one busy process
    0.65, 0.62 and 0.58 s (busy / idle 1.31, 1.22, 1.17). The factor
    is the same bits for any count; only the time changes."""
    saved = _MODE.saved
    if _MODE.mode != SINGLE or not _MODE.held_here() or not saved:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = max(1, min(max(saved), cpus or 1))
    return n + EXTRA_WORKER if n > 1 else n


class _BlasMode:
    """The process-wide BLAS mode of the running fits, reference-counted (see the module
    docstring)."""

    def __init__(self) -> None:
        # the condition's lock, taken directly where no one waits (its C-level context
        # manager: the Condition's own `with` is a Python call on top)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._mode: int | None = None        # mode of the running fits (None: none runs)
        self._users = 0
        self._waiting: Counter[int] = Counter()
        self._n_waiting = 0                  # sum of _waiting: no one to wake when 0
        self._saved: list[int] | None = None   # the counts to restore, in SINGLE mode
        self._local = threading.local()

    @property
    def mode(self) -> int | None:
        return self._mode

    @property
    def saved(self) -> list[int] | None:
        """The BLAS counts found by the first fit of the running SINGLE mode."""
        return self._saved

    def held_here(self) -> bool:
        """Whether the calling thread holds the mode (runs inside `hold`)."""
        return getattr(self._local, "depth", 0) > 0

    def _may_enter(self, mode: int) -> bool:
        if self._mode is None:
            return True
        others_wait = any(n for m, n in self._waiting.items() if m != mode)
        return self._mode == mode and not others_wait

    def enter(self, mode: int) -> None:
        """Join the running fits in `mode`, waiting while fits of the other mode run or
        wait (nested in this thread: keep its mode)."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth:
            local.depth = depth + 1
            return
        with self._lock:
            if self._n_waiting or not (self._mode is None or self._mode == mode):
                self._waiting[mode] += 1
                self._n_waiting += 1
                try:
                    self._cond.wait_for(lambda: self._may_enter(mode))
                finally:
                    self._waiting[mode] -= 1
                    self._n_waiting -= 1
            if self._mode is None:
                if mode == SINGLE:
                    self._saved = _set_blas_threads(1)
                self._mode = mode
            self._users += 1
            if self._n_waiting:
                self._cond.notify_all()      # the waiting counts changed
        local.depth = 1

    def leave(self) -> None:
        """Leave the running fits; the last one restores the counts it found."""
        local = self._local
        if local.depth > 1:
            local.depth -= 1
            return
        local.depth = 0
        with self._lock:
            self._users -= 1
            if self._users == 0:
                if self._saved is not None:
                    _restore_blas_threads(self._saved)
                    self._saved = None
                self._mode = None
            if self._n_waiting:
                self._cond.notify_all()


_MODE = _BlasMode()


class _Hold:
    """The context manager of `blas_threads_for` and `one_blas_thread` (a class: a
    generator-based one costs more than a small fit's whole BLAS bookkeeping)."""

    __slots__ = ("_held", "_mode")

    def __init__(self, mode: int) -> None:
        self._mode = mode
        self._held: _BlasMode | None = None

    def __enter__(self) -> None:
        self._held = _MODE          # the instance of this process (see _reset_in_child)
        self._held.enter(self._mode)

    def __exit__(self, *exc: object) -> None:
        self._held.leave()


def _reset_in_child() -> None:
    """A forked child has one thread: the fits that held the mode in the parent's other
    threads do not exist there (its workers set their own count, e.g. one thread)."""
    global _MODE
    _MODE = _BlasMode()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def blas_threads_for(dense_block_size: int) -> contextlib.AbstractContextManager[None]:
    """Run the block under the BLAS thread count of a problem whose trailing dense block has
    `dense_block_size` rows: one thread below `SMALL_BLOCK`, else BLAS's own count; waits
    while concurrent fits run under the other count (see the module docstring)."""
    return _Hold(mode_for(dense_block_size))


def one_blas_thread() -> contextlib.AbstractContextManager[None]:
    """Run the block on one BLAS thread (in the shared mode): for work that also runs in
    single-threaded worker processes (profiles, bootstrap replicates), so that its numbers do
    not depend on how many processes share it."""
    return _Hold(SINGLE)
