"""Per-evaluation cost of the LMM profiled deviance: compiled kernel (`mixedfx._native.lmm`)
against the NumPy path, in one process, plus whole-fit and refit times.

    python benchmarks/bench_lmm_kernel.py [sleepstudy Penicillin InstEval]

Times are CPU seconds of this process (`time.process_time`, best of `--repeat`), so a busy
machine's time slicing does not enter them; BLAS runs on one thread (as a fit of these sizes
does, `optimize.threads`). Compare the ratios of one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

import mixedfx as mfx
from mixedfx.lmm import compiled

MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", True, 2000),
    "Penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", True, 2000),
    "InstEval": ("y ~ service + (1 | s) + (1 | d) + (1 | dept)", False, 3),
}


def best_time(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best CPU time of one call over `repeat` runs of `number` calls."""
    fn()
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - t0) / number)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    real = compiled.evaluator
    print(f"{'model':<11} {'path':<7} {'eval':>10} {'fit':>10} {'refit':>10} {'evals':>6}")
    for name in args.models:
        formula, reml, number = MODELS[name]
        data = mfx.datasets.load(name)
        fits = max(1, number // 100)
        for path in ("numpy", "C"):
            compiled.evaluator = real if path == "C" else (lambda chol: None)
            m = mfx.lmer(formula, data, REML=reml)
            obj = m._fit.objective
            n_evals = m._fit.optimization.evaluations
            theta = np.asarray(m.theta)
            y = np.asarray(m.frame.y)
            with threadpool_limits(1):
                per_eval = best_time(partial(obj, theta), number, args.repeat)
            fit = best_time(partial(mfx.lmer, formula, data, REML=reml), fits, args.repeat)
            refit = best_time(partial(m.refit, y), fits, args.repeat)
            print(f"{name:<11} {path:<7} {per_eval * 1e6:8.1f}us {fit * 1e3:8.2f}ms "
                  f"{refit * 1e3:8.2f}ms {n_evals:6d}")
    compiled.evaluator = real


if __name__ == "__main__":
    main()
