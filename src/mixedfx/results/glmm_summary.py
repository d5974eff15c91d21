"""`summary()` of a GLMM, printed as lme4's `print.summary.merMod` prints a glmerMod."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedfx.fitted.varcorr_print import html_pre
from mixedfx.frame.rows import used_rows
from mixedfx.results.summary import (
    COR_MAX,
    DIGITS,
    fixed_correlation,
    groups_line,
    random_effects_table,
    scaled_residuals,
)
from mixedfx.results.wald_table import wald_table
from mixedfx.rformat import (
    convergence_footer,
    format_real,
    method_title,
    print_coefmat,
    print_named_vector,
    r_round,
)

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import GeneralizedMixedFit


class GlmmSummary:
    """Summary of a GLMM; `str()` prints it as lme4 does."""

    def __init__(self, model: GeneralizedMixedFit, correlation: bool = True) -> None:
        self.model = model
        self.correlation = correlation
        self.coefficients = wald_table(model.fixef, model.vcov)

    def title(self) -> str:
        m = self.model
        approx = "Laplace Approximation" if m.nAGQ <= 1 else \
            f"Adaptive Gauss-Hermite Quadrature, nAGQ = {m.nAGQ}"
        text = f"Generalized linear mixed model fit by maximum likelihood ({approx})"
        return method_title(text, "glmerMod")

    def aic_table(self) -> str:
        m = self.model
        vals = [m.aic, m.bic, m.loglik, -2.0 * m.loglik, m.df_residual]
        cells = [c.strip() for c in format_real(r_round(np.array(vals), 1), 7)]
        cells[-1] = str(int(m.df_residual))
        return print_named_vector(["AIC", "BIC", "logLik", "deviance", "df.resid"], cells)

    def __str__(self) -> str:
        m = self.model
        out = [self.title(), f" Family: {m.family}", f"Formula: {m.formula}"]
        if m.data_name:
            out.append(f"   Data: {m.data_name}")
        out += ["", self.aic_table(), ""]
        out.append(scaled_residuals(used_rows(m, m.residuals(type="pearson", scaled=True))))
        ml = m.dispersion_method == "ML"
        out += ["", "Random effects:",
                random_effects_table(m.re_covariances(),
                                     m.sigma if m.has_scale and not ml else None),
                groups_line(m.nobs, m.ngrps)]
        if ml:
            phi = m.sigma**2
            out += ["", f"Dispersion estimated by maximum likelihood (as glmmTMB): sigma = "
                    f"{format_real([m.sigma], 3)[0].strip()}, "
                    f"dispersion phi = sigma^2 = {format_real([phi], 3)[0].strip()}"]
        c = self.coefficients
        if len(c):
            out += ["", "Fixed effects:\n" + print_coefmat(c, DIGITS)]
            p = len(c)
            if self.correlation and 1 < p <= COR_MAX:
                out += ["", fixed_correlation(m.vcov)]
        info = m.optimizer_info
        out += convergence_footer("bobyqa", info["converged"], info["messages"])
        return "\n".join(out) + "\n"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))
