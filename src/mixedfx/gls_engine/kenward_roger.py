"""Full Kenward–Roger (SAS DDFM=KR) for `gls` fits through the equivalent MMRM.

A gls model whose errors are correlated within groups g by an nlme structure on times t, with
at most visit-specific variances, is one of SAS's REPEATED structures, which `mfx.mmrm` fits
in SAS's parameterization for the Kenward–Roger second-order term:

    gls correlation (times t | g)       weights                 MMRM (SAS TYPE=)
    cor_symm                            var_ident(~ 1 | v)      us      (UN)
    cor_ar1                             none / var_ident        ar1 / ar1h   (AR(1) / ARH(1))
    cor_comp_symm                       none / var_ident        cs / csh     (CS / CSH)
    cor_car1                            none                    sp_exp  (SP(EXP)(t))

with the visits the distinct times t (for ~ 1 | g nlme's positions 1, 2, … within a group)
and the variance strata v in one-to-one correspondence with them; for cor_ar1 the times
must be consecutive integers (the lag in visits is then |tᵢ − tⱼ|). Compound symmetry does
not depend on the times: with var_ident its visits are the strata v (at most one row per
stratum and group). The MMRM is fitted by REML
to the gls rows (the same likelihood, so the same optimum: β̂ and Φ = (XᵀΩ̂⁻¹X)⁻¹ are checked
against the gls fit's) and its Kenward–Roger covariance, df and F scale are used
(`mixedfx.mmrm.kenward_roger`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError, ConvergenceError
from mixedfx.mmrm.design import build_design
from mixedfx.mmrm.fit import fit_mmrm
from mixedfx.mmrm.inference import MmrmInference
from mixedfx.mmrm.kenward_roger import kr_df
from mixedfx.mmrm.terms import split_formula

_BY_CORRELATION = {("corSymm", True): "us", ("corAR1", False): "ar1",
                   ("corAR1", True): "ar1h", ("corCompSymm", False): "cs",
                   ("corCompSymm", True): "csh", ("corCAR1", False): "sp_exp"}
_SUPPORTED = ("cor_symm with var_ident by visit (us), cor_ar1 (ar1; with var_ident: ar1h), "
              "cor_comp_symm (cs; with var_ident: csh), cor_car1 (sp_exp)")


def _refuse(why: str) -> ArgumentError:
    return ArgumentError(f"ddf='Kenward-Roger' for gls maps the model onto a SAS / mmrm "
                         f"covariance structure, and {why}; mapped: {_SUPPORTED}. Use "
                         "ddf='Kenward-Roger-Linear' (any structure) or 'Satterthwaite'")


def mmrm_structure(residual: Any) -> str:
    """The MMRM structure equivalent to a bound gls residual structure (or ArgumentError)."""
    cor, var = residual.cor, residual.var
    if cor is None:
        raise _refuse("this model has no correlation structure")
    if var is not None and var.func.name != "varIdent":
        raise _refuse(f"its variance function {var.func.name} is not var_ident")
    key = (cor.struct.name, var is not None)
    if key not in _BY_CORRELATION:
        what = "with" if var is not None else "without"
        raise _refuse(f"{cor.struct.name} {what} var_ident has no such structure")
    structure = _BY_CORRELATION[key]
    times = cor.times
    levels = np.unique(times)
    if var is not None and structure == "csh":
        if pd.DataFrame({"g": cor.group_codes, "v": var.codes}).duplicated().any():
            raise _refuse("a group has two rows in one var_ident stratum (csh needs one "
                          "row per visit and subject)")
    elif var is not None:
        pairs = pd.DataFrame({"t": times, "v": var.codes}).drop_duplicates()
        if pairs["t"].duplicated().any() or pairs["v"].duplicated().any():
            raise _refuse("its var_ident strata are not one per time of the correlation "
                          "structure (visit-specific variances)")
    if structure in ("ar1", "ar1h") and np.any(np.diff(levels) != 1):
        raise _refuse("the cor_ar1 times are not consecutive integers")
    return structure


def mmrm_equivalent(formula: str, frame: Any, residual: Any) -> tuple[str, pd.DataFrame]:
    """The MMRM formula and data equivalent to a gls model (see the module docstring)."""
    structure = mmrm_structure(residual)
    cor = residual.cor
    data = frame.frame.copy()
    visit, subject = "kr_visit_", "kr_subject_"
    while visit in data.columns or subject in data.columns:
        visit, subject = visit + "_", subject + "_"
    data[subject] = pd.Categorical(cor.group_codes)
    if structure == "sp_exp":
        data[visit] = cor.times
    elif structure == "csh":
        var = residual.var
        data[visit] = pd.Categorical.from_codes(var.codes, [str(s) for s in var.strata])
    else:
        levels = np.unique(cor.times)
        data[visit] = pd.Categorical.from_codes(np.searchsorted(levels, cor.times),
                                                [f"t{v:g}" for v in levels])
    fixed = formula.split("~", 1)
    return f"{fixed[0]}~{fixed[1]} + {structure}({visit} | {subject})", data


class GlsKenwardRoger:
    """SAS's Kenward–Roger for a REML gls fit, through the equivalent MMRM."""

    def __init__(self, formula: str, frame: Any, fit: Any) -> None:
        if not fit.reml:
            raise ArgumentError("Kenward-Roger needs a REML fit (REML=True)")
        mformula, data = mmrm_equivalent(formula, frame, fit.residual)
        fixed, term = split_formula(mformula)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            design = build_design(fixed, term, data, None)
            mfit = fit_mmrm(design, True)
        self.inf = MmrmInference(design, mfit, "Kenward-Roger", "Kenward-Roger")
        self._check(fit, mfit)
        self.vcov = self.inf.vcov

    @staticmethod
    def _check(fit: Any, mfit: Any) -> None:
        """The two fits are one REML optimum: β̂ within 1e-4 SE, Φ within 1e-3 relative
        (both optimizers stop at gradients of ≈1e-6, moving β̂ and Φ far less)."""
        beta, phi = fit.solution.beta, mfit.state.A_inv
        se = np.sqrt(np.diag(phi))
        R = fit.solution.R
        Ri = np.linalg.inv(R)
        phi_gls = fit.sigma ** 2 * (Ri @ Ri.T)
        if (np.max(np.abs(beta - mfit.state.beta) / se) > 1e-4 or
                not np.allclose(phi_gls, phi, rtol=1e-3, atol=1e-3 * float(se.max() ** 2))):
            raise ConvergenceError("the gls fit and its equivalent MMRM (for Kenward-Roger) "
                                   "reach different REML optima; check the gls fit's "
                                   "convergence")

    def df(self, L: np.ndarray) -> tuple[float, float]:
        """(df, F scale λ) of the contrast rows L."""
        res = kr_df(self.inf.phi, self.inf.fit.theta_vcov, self.inf.P, np.atleast_2d(L))
        return res.df, res.scale
