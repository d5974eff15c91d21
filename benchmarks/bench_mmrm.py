"""Time `mfx.mmrm` on mmrm's two example data sets (prints times; no claims in the docs
until measured on an idle machine).

    fev_data   FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), REML, Kenward-Roger
    bcva_data  BCVA_CHG ~ BCVA_BL + ARMCD * AVISIT + us(AVISIT | USUBJID), REML, Satterthwaite
               (8,605 rows, 10 visits, 55 covariance parameters)

mmrm's authors report 3.4 s for the BCVA fit with mmrm and 36 s with SAS on their machine.
The data are the bundled `mfx.datasets.load("fev_data")` / `("bcva_data")`.
Run from the repository root: `python benchmarks/bench_mmrm.py [repeats]`.
"""

from __future__ import annotations

import sys
import time
import warnings

import mixedfx as mfx


def fit_and_table(fit):
    """One fit followed by its coefficient table (the df computations)."""
    model = fit()
    model.coef_table()
    return model


def best_of(repeats: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(repeats: int = 3) -> None:
    warnings.simplefilter("ignore")
    fev, bcva = mfx.datasets.load("fev_data"), mfx.datasets.load("bcva_data")
    cases = [
        ("fev us REML KR (fit + coef table)", lambda: mfx.mmrm(
            "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", fev,
            method="Kenward-Roger")),
        ("bcva us REML Satterthwaite (fit + coef table)", lambda: mfx.mmrm(
            "BCVA_CHG ~ BCVA_BL + ARMCD * AVISIT + us(AVISIT | USUBJID)", bcva)),
    ]
    for label, fit in cases:
        t, model = best_of(repeats, lambda f=fit: fit_and_table(f))
        print(f"{label:48s} {t * 1000:9.1f} ms   (-2 log L {model.deviance:.4f}, "
              f"{model.nobs} rows, {model.n_theta} covariance parameters)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
