"""BLAS thread count per fit: from the problem alone, shared safely by concurrent fits; the
same bits in a thread pool and alone, beside an idle or a busy neighbour."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import mixedfx as mfx
from mixedfx.datasets import load
from mixedfx.lmm.fit import dense_block_size
from mixedfx.optimize import threads


def _blas_threads() -> int:
    return max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
               default=1)


def test_small_blocks_run_single_threaded_and_the_setting_is_restored() -> None:
    before = _blas_threads()
    with threads.blas_threads_for(10):
        assert _blas_threads() == 1
    assert _blas_threads() == before
    with threads.blas_threads_for(5000):
        assert _blas_threads() == before


def test_an_error_inside_leaves_no_mode_and_restores_the_count() -> None:
    before = _blas_threads()
    # the inner one nested in the outer one: still one thread
    with pytest.raises(ZeroDivisionError), threads.one_blas_thread(), \
            threads.blas_threads_for(5000):
        assert _blas_threads() == 1
        _ = 1 / 0
    assert threads._MODE.mode is None
    assert _blas_threads() == before
    with threads.blas_threads_for(10):                  # and the next fit enters at once
        assert threads._MODE.mode == threads.SINGLE


def test_a_fit_of_the_other_count_waits_until_the_running_ones_leave() -> None:
    """A large-block fit does not start while a small-block fit holds one thread (and
    would otherwise run part of its algebra on one thread); it then runs on BLAS's own
    count. Nested use in the holding thread keeps its count."""
    own = _blas_threads()
    inside, release = threading.Event(), threading.Event()
    seen: list[tuple[str, int]] = []

    def small() -> None:
        with threads.blas_threads_for(10):
            inside.set()
            with threads.blas_threads_for(5000):          # nested: keeps one thread
                seen.append(("nested", _blas_threads()))
            release.wait(10)
            seen.append(("small", _blas_threads()))

    def large() -> None:
        with threads.blas_threads_for(5000):
            seen.append(("large", _blas_threads()))

    t1 = threading.Thread(target=small)
    t1.start()
    assert inside.wait(10)
    t2 = threading.Thread(target=large)
    t2.start()
    time.sleep(0.2)
    assert [s for s, _ in seen] == ["nested"]        # the large fit is still waiting
    release.set()
    t1.join(10)
    t2.join(10)
    assert seen == [("nested", 1), ("small", 1), ("large", own)]
    assert threads._MODE.mode is None


def _simulated(n: int, n_g: int, n_h: int, seed: int) -> pd.DataFrame:
    """y ~ x + (x | g) + (1 | h) data whose true variance components are all zero."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, n_g, n).astype(str),
                      "h": rng.integers(0, n_h, n).astype(str)})
    d["y"] = 1.0 + 0.5 * d["x"] + rng.normal(size=n)
    return d


def _fits() -> list[tuple[str, str, pd.DataFrame, dict]]:
    sleep = load("sleepstudy")
    cbpp = load("cbpp")
    return [
        # 20k rows, g first (1000 levels): a dense block of 53 rows, one BLAS thread
        ("lmer", "y ~ x + (x | g) + (1 | h)", _simulated(20_000, 1000, 50, 18), {}),
        # g (500 levels) first, h's 150 levels in the dense block: BLAS's own count (with
        # OpenBLAS on 2 cores its θ differs in the last bits between 2 threads and 1, so a
        # count changed under it mid-fit shows; a block below ~128 rows is not threaded)
        ("lmer", "y ~ x + (1 | g) + (1 | h)", _simulated(1_500, 500, 150, 3), {}),
        ("lmer", "Reaction ~ Days + (Days | Subject)", sleep, {}),
        ("lmer", "Reaction ~ Days + (1 | Subject)", sleep, {"REML": False}),
        ("glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
         {"family": "binomial"}),
    ]


def _fit(spec: tuple[str, str, pd.DataFrame, dict]) -> tuple[bytes, ...]:
    kind, formula, data, kwargs = spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = getattr(mfx, kind)(formula, data, **kwargs)
    return tuple(np.ascontiguousarray(a, dtype=float).tobytes()
                 for a in (m.theta, m.fixef, [m.loglik], [m.sigma]))


@pytest.fixture(scope="module", autouse=True)
def _medium_blocks_threaded():
    """Blocks of 100+ rows on BLAS's own count, so that a small model has one (each BLAS call
    of a threaded fit costs a thread wake-up, many times more on a loaded machine), as when
    the tiled Cholesky kernel is not built (with it, large blocks run on one BLAS thread and
    their factorization on its own workers: tests/lmm/test_tiled_cholesky.py)."""
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setattr(threads, "SMALL_BLOCK", 100)
        mp_.setattr(threads, "tiles_built", lambda: False)
        yield


@pytest.fixture(scope="module")
def specs() -> list[tuple[str, str, pd.DataFrame, dict]]:
    return _fits()


@pytest.fixture(scope="module")
def alone(specs) -> list[tuple[bytes, ...]]:
    return [_fit(s) for s in specs]


def test_the_models_use_both_counts(specs) -> None:
    from mixedfx.frame.model_frame import build_model_frame

    sizes = [dense_block_size(build_model_frame(f, d, glm=k == "glmer"))
             for k, f, d, _ in specs]
    assert {threads.mode_for(s) for s in sizes} == {threads.SINGLE, threads.OWN}


def test_fits_in_a_thread_pool_equal_the_fits_alone_bit_for_bit(specs, alone) -> None:
    """Four workers, eight fits: the large-block fit runs beside small-block fits that hold
    one BLAS thread (before, the first thread to limit OpenBLAS through threadpoolctl kept
    control of it and the pool threads' limits were ignored, and fits limited and restored
    the process's count under each other)."""
    order = [0, 1, 2, 0, 3, 4, 2, 0]
    with ThreadPoolExecutor(4) as ex:
        pooled = list(ex.map(_fit, [specs[i] for i in order]))
    for i, got in zip(order, pooled, strict=True):
        assert got == alone[i], specs[i][1]


def _spin(stop: float) -> None:
    while time.time() < stop:
        pass


def test_a_busy_neighbour_changes_no_bit(specs, alone) -> None:
    """The thread count no longer depends on the machine's load (it was one thread for a
    large block when other processes kept half a core busy): the large-block fit beside a
    process spinning on another core gives the bits of the idle one."""
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_spin, args=(time.time() + 120.0,))
    proc.start()
    try:
        time.sleep(0.2)
        assert _fit(specs[1]) == alone[1]
    finally:
        proc.terminate()
        proc.join()
