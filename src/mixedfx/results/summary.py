"""`summary()` of a fitted mixed model, printed the way lme4's `print.summary.merMod` does."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedfx.fitted.varcorr import TermCovariance
from mixedfx.fitted.varcorr_print import html_pre
from mixedfx.frame.rows import used_rows
from mixedfx.inference.contrast_tests import coefficient_table
from mixedfx.lazy import lazy_module
from mixedfx.results.residual_structures import structure_lines
from mixedfx.rformat import (
    abbreviate,
    convergence_footer,
    format_real,
    method_title,
    print_coefmat,
    print_matrix,
    print_named_vector,
    r_round,
    zapsmall,
)

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import LinearMixedFit

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

DIGITS = 4          # lme4: max(3, getOption("digits") - 3)
COR_MAX = 12        # lme4.summary.cor.max


def aic_table(m: LinearMixedFit) -> str:
    """The REML criterion line, or the AIC / BIC / logLik / deviance / df.resid table."""
    if m.REML:
        return f"REML criterion at convergence: {format_real([r_round(m.deviance, 1)], 7)[0]}"
    vals = [m.aic, m.bic, m.loglik, -2.0 * m.loglik]
    cells = [c.strip() for c in format_real(r_round(np.array([*vals, m.df_residual]), 1), 7)]
    cells[-1] = str(int(m.df_residual))
    return print_named_vector(["AIC", "BIC", "logLik", "deviance", "df.resid"], cells)


def scaled_residuals(resid: np.ndarray) -> str:
    """Quantiles of the scaled residuals (type 7, as R's `quantile`)."""
    q = np.quantile(resid, [0.0, 0.25, 0.5, 0.75, 1.0])
    q = zapsmall(q, DIGITS + 1)
    return "Scaled residuals: \n" + print_named_vector(
        ["Min", "1Q", "Median", "3Q", "Max"], [c.strip() for c in format_real(q, DIGITS)])


def _display_rows(c: TermCovariance) -> int:
    """Rows a term takes in the table: glmmTMB prints one SD for ar1 (and homcs)."""
    return 1 if c.structure in ("ar1", "homcs") else len(c.names)


def _corr_cells(c: TermCovariance, ncols: int) -> list[list[str]]:
    """The Corr cells of a term: the lower triangle (us, toep), nothing (diag, one column),
    or glmmTMB's single entry `0.84 (ar1)` / `0.50 (cs)` on the term's first row."""
    k, rows = len(c.names), _display_rows(c)
    if c.structure in ("ar1", "cs", "homcs"):
        first = format_real(r_round(np.array([c.corr[1, 0]]), 2), 7, nsmall=2)[0].strip()
        out = [[f"{first} ({c.structure})"] + [""] * (ncols - 1)]
        return out + [[""] * ncols for _ in range(rows - 1)]
    if c.structure == "diag" or k == 1:
        return [[""] * ncols for _ in range(rows)]
    cc = format_real(r_round(c.corr, 2).ravel(), 7, nsmall=2)
    cc = np.array(cc, dtype=object).reshape(k, k)
    return [[cc[i, j] if j < i else "" for j in range(ncols)] for i in range(k)]


def _corr_width(c: TermCovariance) -> int:
    if c.structure in ("ar1", "cs", "homcs"):
        return 1
    if c.structure == "diag":
        return 0
    return len(c.names) - 1


def random_effects_table(covs: list[TermCovariance], sigma: float | None) -> str:
    """lme4's `formatVC` table: Groups, Name, Variance, Std.Dev. and correlations; structured
    terms as glmmTMB's `formatVC` prints them (ar1: one SD and `ρ (ar1)`; cs: the SDs and
    `ρ (cs)`; diag: no correlations)."""
    groups, names, sds = [], [], []
    for c in covs:
        for i in range(_display_rows(c)):
            groups.append(c.group if i == 0 else "")
            names.append(c.names[i])
            sds.append(float(c.sd[i]))
    if sigma is not None:
        groups.append("Residual")
        names.append("")
        sds.append(sigma)
    sds_arr = np.asarray(sds)
    var_f = format_real(sds_arr**2, DIGITS)
    sd_f = format_real(sds_arr, DIGITS)
    corr_cols = max(max(_corr_width(c) for c in covs), 0)
    corr_rows: list[list[str]] = []
    for c in covs:
        corr_rows.extend(_corr_cells(c, corr_cols))
    while len(corr_rows) < len(groups):
        corr_rows.append([""] * corr_cols)
    header = ["Groups", "Name", "Variance", "Std.Dev."]
    header += ["Corr"] + [""] * (corr_cols - 1) if corr_cols else []
    cells = [[g, n, v, s, *cr] for g, n, v, s, cr in
             zip(groups, names, var_f, sd_f, corr_rows, strict=True)]
    return print_matrix(cells, header, [""] * len(cells))


def groups_line(nobs: int, ngrps: dict[str, int]) -> str:
    parts = "; ".join(f"{g}, {n}" for g, n in ngrps.items())
    return f"Number of obs: {nobs}, groups:  {parts}"


def fixed_correlation(vcov: pd.DataFrame) -> str:
    names = list(vcov.index)
    V = vcov.to_numpy()
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    p = len(names)
    f = np.array(format_real(r_round(C, 3).ravel(), 7, nsmall=3), dtype=object).reshape(p, p)
    cells = [[f[i, j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return "Correlation of Fixed Effects:\n" + print_matrix(
        cells, [abbreviate(n, 6) for n in names[:-1]], names[1:])


def nlme_se_factor(model: LinearMixedFit) -> float:
    """nlme's `adjustSigma` for the summary of an ML fit with an nlme residual structure
    (`weights=` variance function or `correlation=`): the fixed-effect standard errors are
    multiplied by √(N / (N − p)), N observations and p fixed effects, i.e. σ̂ is turned into a
    REML-like estimate (`summary.lme`). 1 for REML fits and for lme4-style fits, which follow
    lme4 (no adjustment); `vcov` is never adjusted (nlme's `vcov(m)` is `m$varFix`)."""
    if model.REML or (model.var_struct is None and model.cor_struct is None):
        return 1.0
    n, p = model.nobs, len(model.beta)
    return math.sqrt(n / (n - p))


def nlme_adjust_sigma(table: pd.DataFrame, model: LinearMixedFit) -> pd.DataFrame:
    """The coefficient table with nlme's ML standard errors (`nlme_se_factor`): Std. Error
    scaled, t value and Pr(>|t|) recomputed with the same df (Satterthwaite's df are
    invariant to scaling the covariance by a constant)."""
    f = nlme_se_factor(model)
    if f == 1.0:
        return table
    out = table.copy()
    out["Std. Error"] = out["Std. Error"] * f
    out["t value"] = out["Estimate"] / out["Std. Error"]
    if "Pr(>|t|)" in out:
        out["Pr(>|t|)"] = 2.0 * stats.t.sf(np.abs(out["t value"]), out["df"])
    return out


class LmmSummary:
    """Summary of a linear mixed model; `str()` prints it as lme4 does."""

    def __init__(self, model: LinearMixedFit, ddf: str | None = None,
                 correlation: bool = True) -> None:
        self.model = model
        self.correlation = correlation
        self.ddf = ddf        # None (lme4's Wald t), "Satterthwaite" or "Kenward-Roger"
        if ddf is not None:
            self.coefficients = coefficient_table(model, ddf)
        else:
            fe = model.fixef
            se = np.sqrt(np.diag(model.vcov.to_numpy()))
            self.coefficients = pd.DataFrame(
                {"Estimate": fe.to_numpy(), "Std. Error": se, "t value": fe.to_numpy() / se},
                index=fe.index)
        if ddf != "Kenward-Roger":
            self.coefficients = nlme_adjust_sigma(self.coefficients, model)

    def title(self) -> str:
        if self.ddf is not None:
            fit = "REML" if self.model.REML else "maximum likelihood "
            return method_title(f"Linear mixed model fit by {fit}. t-tests use {self.ddf}'s "
                                "method", "lmerModLmerTest")
        if self.model.REML:
            return "Linear mixed model fit by REML ['lmerMod']"
        return "Linear mixed model fit by maximum likelihood  ['lmerMod']"

    def header_lines(self) -> list[str]:
        m = self.model
        lines = [self.title(), f"Formula: {m.formula}"]
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        if m.frame.n_dropped:
            lines.append(f"   ({m.frame.n_dropped} observation"
                         f"{'s' if m.frame.n_dropped > 1 else ''} deleted due to missingness)")
        return lines

    def fixed_effects_table(self) -> str:
        return "Fixed effects:\n" + print_coefmat(self.coefficients, DIGITS)

    def __str__(self) -> str:
        m = self.model
        out = [*self.header_lines(), "", aic_table(m), ""]
        out.append(scaled_residuals(used_rows(m, m.residuals(type="pearson", scaled=True))))
        out += ["", "Random effects:", random_effects_table(m.re_covariances(), m.sigma),
                groups_line(m.nobs, m.ngrps)]
        if m.var_struct is not None or m.cor_struct is not None:
            out += ["", *structure_lines(m.var_struct, m.cor_struct)]
        if len(self.coefficients):
            out += ["", self.fixed_effects_table()]
            p = len(self.coefficients)
            if not self.correlation:
                pass
            elif 1 < p <= COR_MAX:
                out += ["", fixed_correlation(m.vcov)]
            elif p > COR_MAX:
                out += ["", f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                        "Use print(summary, correlation=TRUE)  or",
                        "    vcov(x)        if you need it"]
        info = m.optimizer_info
        out += convergence_footer(info["optimizer"], info["converged"], info["messages"])
        return "\n".join(out) + "\n"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))
