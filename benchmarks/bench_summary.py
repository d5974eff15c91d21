#!/usr/bin/env python
"""Benchmark: the cost of summary(), anova() and confint(method="Wald") against the fit, on a
large crossed model (issue 18: they must cost at most about the fit).

Model::

    y ~ x + (1 | g1) + (1 | g2)     n rows, g1 with L1 levels, g2 with L2 levels, crossed

simulated with σ = 1, sd(g1) = 0.5, sd(g2) = 0.3 (seeded). The dense block left after g1 has
L2 + 3 rows, so every evaluation of the profiled deviance factors an (L2 + 3)-square matrix.

Usage::

    python benchmarks/bench_summary.py [--rows N] [--levels1 L1] [--levels2 L2] [--seed S]
                                       [--json FILE]

Defaults: 1,000,000 rows, 50,000 × 5,000 levels (the fit of issue 18: 64 s; its summary took
253 s). Each operation runs on the fitted model in the order of the table. The Satterthwaite
ingredients are computed once per fitted model and shared, so "anova" after "summary" reuses
them; the "fresh" rows clear that cache first and show each operation's own cost. Printed:
wall seconds, the ratio to the fit, and the number of factorizations of the blocked system
(the unit of cost of a fit) each operation made.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def simulate(rows: int, levels1: int, levels2: int, seed: int) -> pd.DataFrame:
    """y = 1 + 0.5 x + b1[g1] + b2[g2] + ε with crossed g1, g2 (every level used)."""
    rng = np.random.default_rng(seed)
    g1 = np.concatenate([np.arange(levels1), rng.integers(0, levels1, rows - levels1)])
    g2 = np.concatenate([np.arange(levels2), rng.integers(0, levels2, rows - levels2)])
    x = rng.normal(size=rows)
    y = (1.0 + 0.5 * x + rng.normal(0, 0.5, levels1)[g1] + rng.normal(0, 0.3, levels2)[g2]
         + rng.normal(size=rows))
    return pd.DataFrame({"y": y, "x": x, "g1": pd.Categorical(g1), "g2": pd.Categorical(g2)})


class FactorCounter:
    """Counts the Cholesky factorizations of the dense block (BlockedCholesky._schur: one per
    evaluation of the profiled deviance, in the fit and in the derivatives alike)."""

    def __init__(self) -> None:
        from mixedfx.lmm import factorization

        self.cls = factorization.BlockedCholesky
        self.original = self.cls._schur
        self.calls = 0
        counter = self

        def counted(chol: Any, *args: Any, **kwargs: Any) -> Any:
            counter.calls += 1
            return counter.original(chol, *args, **kwargs)

        self.cls._schur = counted

    def take(self) -> int:
        n, self.calls = self.calls, 0
        return n


def clear_inference_cache(model: Any) -> None:
    """Forget the per-model Satterthwaite ingredients (weakly keyed caches)."""
    import gc

    from mixedfx.inference import cache

    for obj in gc.get_objects():
        if isinstance(obj, cache.weakref.WeakKeyDictionary):
            obj.pop(model, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--levels1", type=int, default=50_000)
    ap.add_argument("--levels2", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args()
    if not args.rows >= max(args.levels1, args.levels2) > 0:
        ap.error("--rows must be at least the number of levels of each factor")

    import mixedfx as mfx

    data = simulate(args.rows, args.levels1, args.levels2, args.seed)
    counter = FactorCounter()
    rows: list[dict[str, Any]] = []

    def timed(name: str, fn: Any) -> Any:
        clock = time.perf_counter()
        out = fn()
        rows.append({"operation": name, "seconds": time.perf_counter() - clock,
                     "factorizations": counter.take()})
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = timed("fit", lambda: mfx.lmer("y ~ x + (1 | g1) + (1 | g2)", data))
        timed("summary()", lambda: str(m.summary()))
        timed("anova() (after summary)", m.anova)
        timed("confint(method='Wald')", lambda: m.confint(method="Wald"))
        clear_inference_cache(m)
        timed("anova() (fresh)", m.anova)
        clear_inference_cache(m)
        timed("confint(method='Wald') (fresh)", lambda: m.confint(method="Wald"))
    fit_s = rows[0]["seconds"]
    print(f"y ~ x + (1 | g1) + (1 | g2): {args.rows:,} rows, {args.levels1:,} x "
          f"{args.levels2:,} levels (dense block {args.levels2 + 3:,} rows), seed {args.seed}")
    print(f"{'operation':<34}{'seconds':>10}{'/ fit':>8}{'factorizations':>16}")
    for r in rows:
        r["ratio_to_fit"] = r["seconds"] / fit_s
        print(f"{r['operation']:<34}{r['seconds']:>10.2f}{r['ratio_to_fit']:>8.2f}"
              f"{r['factorizations']:>16d}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
