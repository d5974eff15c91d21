"""`summary()` of `lm` and `glm` fits, printed as R 4.2's `print.summary.lm` and
`print.summary.glm` (digits = max(3, getOption("digits") − 3) = 4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixedfx.baseline.base import FixedEffectsModel
from mixedfx.fitted.varcorr_print import html_pre
from mixedfx.frame.rows import used_rows
from mixedfx.lazy import lazy_module
from mixedfx.results.wald_table import wald_table
from mixedfx.rformat import format_pval, format_real, print_coefmat, zapsmall

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

DIGITS = 4
QUANTILE_NAMES = ["Min", "1Q", "Median", "3Q", "Max"]


def named_vector(names: Sequence[str], cells: Sequence[str], gap: int = 1) -> str:
    """R's print of a named vector with `print.gap` spaces after each column."""
    w = max([len(n) for n in names] + [len(c) for c in cells])
    sep = " " * gap
    return (sep.join(n.rjust(w) for n in names) + sep + "\n"
            + sep.join(c.rjust(w) for c in cells) + sep)


def _quantiles(r: np.ndarray) -> np.ndarray:
    return zapsmall(np.quantile(r, [0.0, 0.25, 0.5, 0.75, 1.0]), DIGITS + 1)


def format_c(x: float, digits: int = DIGITS) -> str:
    """R's `formatC(x, digits=)` (C's %g)."""
    return f"{x:.{digits}g}"


def _signif(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def _missing_note(n: int) -> list[str]:
    return [f"  ({n} observation{'s' if n > 1 else ''} deleted due to missingness)"] if n \
        else []


class LmSummary:
    """Summary of a linear model; `coefficients` holds the t-test table."""

    def __init__(self, model: FixedEffectsModel) -> None:
        self.model = model
        self.coefficients = wald_table(model.fixef, model.vcov, model.df_residual)
        self.sigma = model.sigma
        self.r_squared = model.r_squared
        self.adj_r_squared = model.adj_r_squared
        self.fstatistic = model.fstatistic

    def __str__(self) -> str:
        m = self.model
        weighted = m.frame.weights is not None
        out = ["", "Call:", m._call, ""]
        r = used_rows(m, m.residuals("pearson"))[m.prior_weights != 0]
        out.append("Weighted Residuals:" if weighted else "Residuals:")
        if m.df_residual > 5:
            q = _quantiles(r)
            out.append(named_vector(QUANTILE_NAMES, [c.strip() for c in format_real(q, DIGITS)]))
        else:
            out.append(named_vector([str(i + 1) for i in range(len(r))],
                                    [c.strip() for c in format_real(r, DIGITS)]))
        out += ["", "Coefficients:", print_coefmat(self.coefficients, DIGITS), ""]
        out.append(f"Residual standard error: "
                   f"{format_real([_signif(self.sigma, DIGITS)], 7)[0].strip()} on "
                   f"{m.df_residual} degrees of freedom")
        out += _missing_note(m.frame.n_dropped)
        if self.fstatistic is not None:
            F, d1, d2 = self.fstatistic
            p = float(stats.f.sf(F, d1, d2))
            out.append(f"Multiple R-squared:  {format_c(self.r_squared)},\tAdjusted R-squared:  "
                       f"{format_c(self.adj_r_squared)} ")
            out.append(f"F-statistic: {format_c(F)} on {d1} and {d2} DF,  p-value: "
                       f"{format_pval([p], DIGITS)[0].strip()}")
        return "\n".join(out) + "\n"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))


class GlmSummary:
    """Summary of a generalized linear model; `coefficients` holds the z or t tests."""

    def __init__(self, model: FixedEffectsModel) -> None:
        self.model = model
        # z tests when the dispersion is known (φ = 1), t tests on n − p df when estimated
        self.coefficients = wald_table(model.fixef, model.vcov, model.df_residual
                                       if model.family.has_dispersion else None)
        self.dispersion = model.dispersion

    def __str__(self) -> str:
        m = self.model
        out = ["", "Call:", m._call, "", "Deviance Residuals: "]
        r = used_rows(m, m.residuals("deviance"))
        if m.df_residual > 5:
            names, vals = QUANTILE_NAMES, _quantiles(r)
        else:
            names, vals = [str(i + 1) for i in range(len(r))], zapsmall(r, DIGITS + 1)
        out.append(named_vector(names, [c.strip() for c in format_real(vals, DIGITS)], gap=2))
        out += ["", "Coefficients:", print_coefmat(self.coefficients, DIGITS), ""]
        disp = format_real([self.dispersion], 7)[0].strip()
        out.append(f"(Dispersion parameter for {m.family.name} family taken to be {disp})")
        out.append("")
        devs = [c.strip() for c in format_real([m.null_deviance, m.deviance], 5)]
        dw = max(len(c) for c in devs)
        dfs = [str(m.df_null), str(m.df_residual)]
        fw = max(len(c) for c in dfs)
        for label, d, f in zip(("    Null", "Residual"), devs, dfs, strict=True):
            out.append(f"{label} deviance: {d.rjust(dw)}  on {f.rjust(fw)}  degrees of freedom")
        out += _missing_note(m.frame.n_dropped)
        out.append(f"AIC: {format_real([m.aic], 5)[0].strip()}")
        out += ["", f"Number of Fisher Scoring iterations: {m.iterations}", ""]
        return "\n".join(out) + "\n"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))
