"""`mfx.mmrm`: fit a mixed model for repeated measures as SAS PROC MIXED (REPEATED with
TYPE=, GROUP=, WEIGHT, DDFM=, EMPIRICAL) and the R package mmrm compute it."""

from __future__ import annotations

from typing import Any

from mixedfx.mmrm.design import build_design
from mixedfx.mmrm.fit import fit_mmrm
from mixedfx.mmrm.inference import resolve
from mixedfx.mmrm.model import MmrmModel
from mixedfx.mmrm.terms import split_formula
from mixedfx.optimize.threads import blas_threads_for
from mixedfx.validate import check_bool


def mmrm(formula: str, data: Any, reml: bool = True, weights: Any = None,
         method: str = "Satterthwaite", vcov: str | None = None) -> MmrmModel:
    """Fit an MMRM: fixed effects plus one covariance term of the visits within subjects.

    `formula`: e.g. "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)". Covariance
    terms (mmrm's names): us, toep, toeph, ar1, ar1h, ad, adh, cs, csh (a factor of visits),
    sp_exp, sp_gau (numeric coordinates, `sp_exp(VISITN, VISITN2 | USUBJID)`); separate
    parameters per group with `us(AVISIT | ARMCD / USUBJID)` (SAS GROUP=). Visits a subject
    misses are absent rows (rows with missing values are dropped).
    `reml`: REML (default) or ML. `weights`: a column name or array (SAS WEIGHT:
    Var(y_ij) = Σ_jj / w_ij). `method`: "Satterthwaite", "Kenward-Roger",
    "Kenward-Roger-Linear", "Residual", "Between-Within". `vcov`: None (the method's
    default: asymptotic, or the Kenward–Roger adjusted covariance), "Asymptotic",
    "Empirical", "Empirical-Jackknife", "Empirical-Bias-Reduced".
    """
    reml = check_bool(reml, "reml")
    method, vcov = resolve(method, vcov, reml)
    fixed, term = split_formula(formula)
    design = build_design(fixed, term, data, weights)
    with blas_threads_for(design.frame.X.shape[1] + 1):
        fit = fit_mmrm(design, reml)
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    return MmrmModel(formula, design, fit, method, vcov, data_name=name)
