"""The fitted MMRM (`mfx.mmrm`): estimates, criteria, coefficient table, intervals, Type III
F tests, the covariance estimate and LS-means support, with SAS PROC MIXED's conventions
(ML standard errors without nlme's N/(N − p) rescaling; AIC counts the covariance parameters
for REML and covariance plus fixed-effects parameters for ML; AICC uses n − p observations
for REML; BIC's penalty uses the log of the number of subjects in the data); `summary()`
prints mmrm's layout (`MmrmSummary`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError
from mixedfx.fitted.saving import Saveable
from mixedfx.lazy import lazy_module
from mixedfx.mmrm.anova import term_contrasts
from mixedfx.mmrm.design import MmrmDesign
from mixedfx.mmrm.fit import MmrmFit
from mixedfx.mmrm.inference import MmrmInference
from mixedfx.mmrm.predict import predict as conditional_predict
from mixedfx.mmrm.structures import DESCRIPTIONS, spatial_sigma
from mixedfx.rformat import format_real, print_coefmat, print_matrix, print_named_vector
from mixedfx.validate import check_bool, check_level

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


class MmrmModel(Saveable):
    """A fitted mixed model for repeated measures (see `mixedfx.mmrm.api.mmrm`)."""

    kind = "mmrm"   # fitted-model contract (mixedfx.fitted.protocol): an MMRM fit

    def __init__(self, formula: str, design: MmrmDesign, fit: MmrmFit, method: str,
                 vcov: str, data_name: str | None = None) -> None:
        self.formula = formula
        self._design = design
        self._frame = design.frame                 # read by the emmeans reference grid
        self._fit = fit
        self._inf = MmrmInference(design, fit, method, vcov)
        self.method = method
        self.vcov_method = vcov
        self.data_name = data_name

    # == fitted-model contract (mixedfx.fitted.protocol.MmrmFit) ============================
    @property
    def frame(self) -> Any:
        """The model frame of the fixed effects (the emmeans reference grid reads it)."""
        return self._frame

    @property
    def engine_fit(self) -> MmrmFit:
        """The engine's fit record (`mmrm.optimum.MmrmFit`): the state at the optimum, the
        Hessian of −2ℓ and the optimizer's facts."""
        return self._fit

    @property
    def n_subjects_data(self) -> int:
        """Subjects in the data before rows with missing values were dropped (SAS's BIC
        counts them)."""
        return int(self._design.n_subjects_data)

    # -- estimates --------------------------------------------------------------------
    @property
    def REML(self) -> bool:
        return self._fit.reml

    @property
    def structure(self) -> str:
        return self._design.term.structure

    @property
    def beta(self) -> np.ndarray:
        return self._fit.state.beta.copy()

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=self._names)

    @property
    def _names(self) -> list[str]:
        return list(self._design.frame.fixef_names)

    @property
    def theta(self) -> np.ndarray:
        """The covariance parameters on mmrm's scale (log SDs, unconstrained correlations)."""
        return self._fit.state.theta.copy()

    @property
    def theta_vcov(self) -> np.ndarray:
        """Asymptotic covariance of θ̂ (inverse observed information)."""
        return self._fit.theta_vcov.copy()

    @property
    def vcov(self) -> pd.DataFrame:
        return pd.DataFrame(self._inf.vcov, index=self._names, columns=self._names)

    @property
    def vcov_asymptotic(self) -> pd.DataFrame:
        return pd.DataFrame(self._inf.phi, index=self._names, columns=self._names)

    @property
    def deviance(self) -> float:
        """−2 log-likelihood (the −2 REML log-likelihood for REML fits), as SAS reports."""
        return float(self._fit.state.deviance)

    @property
    def loglik(self) -> float:
        return -0.5 * self.deviance

    @property
    def n_theta(self) -> int:
        return int(self._fit.smap.n_theta)

    @property
    def nobs(self) -> int:
        return int(self._design.frame.n)

    @property
    def n_subjects(self) -> int:
        return len(np.unique(self._design.subject_codes))

    @property
    def df_residual(self) -> int:
        return self.nobs - len(self._names)

    @property
    def npar(self) -> int:
        """Parameters counted by SAS's criteria: the covariance parameters, plus the fixed
        effects for ML fits."""
        return self.n_theta + (0 if self.REML else len(self._names))

    @property
    def aic(self) -> float:
        return self.deviance + 2.0 * self.npar

    @property
    def aicc(self) -> float:
        k = self.npar
        n = self.nobs - (len(self._names) if self.REML else 0)
        return self.aic + 2.0 * k * (k + 1) / (n - k - 1)

    @property
    def bic(self) -> float:
        """SAS's BIC: the penalty uses the number of subjects in the data, including those
        whose rows all lack the response (SAS's "Subjects" dimension)."""
        return self.deviance + self.npar * math.log(self._design.n_subjects_data)

    # -- inference ----------------------------------------------------------------------
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, df, t value, Pr(>|t|) with the fit's method and vcov."""
        rows = [self._inf.t_test(np.eye(len(self._names))[j]) for j in range(len(self._names))]
        return pd.DataFrame(rows, index=self._names,
                            columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])

    def confint(self, level: float = 0.95, parm: Any = None) -> pd.DataFrame:
        """t intervals β̂ ± t_{df} SE with the method's df."""
        level = check_level(level)
        tab = self.coef_table()
        if parm is not None:
            parm = [parm] if isinstance(parm, str) else list(parm)
            bad = [p for p in parm if p not in tab.index]
            if bad:
                raise ArgumentError(f"parm {bad} are not coefficients {list(tab.index)}")
            tab = tab.loc[parm]
        q = stats.t.ppf(0.5 + level / 2, tab["df"].to_numpy())
        a = (1 - level) / 2 * 100
        cols = [f"{float(f'{a:.3g}'):g} %", f"{float(f'{100 - a:.3g}'):g} %"]
        est, se = tab["Estimate"].to_numpy(), tab["Std. Error"].to_numpy()
        return pd.DataFrame({cols[0]: est - q * se, cols[1]: est + q * se}, index=tab.index)

    def contrast(self, L: Any) -> pd.DataFrame:
        """t tests of the rows of L (one row per contrast) or an F test if `joint`."""
        L = np.atleast_2d(np.asarray(L, float))
        if L.shape[1] != len(self._names):
            raise ArgumentError(f"contrast needs {len(self._names)} columns, got {L.shape[1]}")
        rows = [self._inf.t_test(row) for row in L]
        return pd.DataFrame(rows, columns=["Estimate", "Std. Error", "df", "t value",
                                           "Pr(>|t|)"])

    def f_test(self, L: Any) -> pd.Series:
        """F test of Lβ = 0: NumDF, DenDF, F value, Pr(>F)."""
        L = np.atleast_2d(np.asarray(L, float))
        if L.shape[1] != len(self._names):
            raise ArgumentError(f"L needs {len(self._names)} columns, got {L.shape[1]}")
        r, ddf, F, p = self._inf.f_test(L)
        return pd.Series({"NumDF": r, "DenDF": ddf, "F value": F, "Pr(>F)": p})

    def contrast_se_df(self, L: np.ndarray, ddf: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """SE and df of the rows of L with the fit's method (used by `mfx.emmeans`)."""
        if ddf is not None:
            raise ArgumentError("an MMRM's df method is chosen when it is fitted "
                                "(mfx.mmrm(method=...)); lmer_df does not apply")
        V = self._inf.vcov
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        return se, np.array([self._inf.df_1d(row) for row in L])

    def anova(self, type: int | str = 3) -> pd.DataFrame:
        """F tests of the fixed-effects terms: Type III (SAS's, as lmerTest builds them) or
        Type II (SAS's); columns NumDF, DenDF, F value, Pr(>F)."""
        out = {}
        for term, L in term_contrasts(self._design.frame, type).items():
            r, ddf, F, p = self._inf.f_test(L)
            out[term] = {"NumDF": r, "DenDF": ddf, "F value": F, "Pr(>F)": p}
        return pd.DataFrame.from_dict(out, orient="index")

    def predict(self, newdata: Any = None, conditional: bool = True, se_fit: bool = True,
                weights: Any = None) -> pd.DataFrame | pd.Series:
        """Predictions conditional on each subject's observed visits (SAS OUTP=): a frame
        with `fit` and `se` (SAS's StdErrPred), or the `fit` Series when `se_fit=False`;
        `newdata` rows with a missing response are the visits predicted (default: the rows
        used in the fit). See `mixedfx.mmrm.predict`."""
        out = conditional_predict(self._design, self._fit, self._inf, newdata,
                                  check_bool(conditional, "conditional"), weights)
        return out if check_bool(se_fit, "se_fit") else out["fit"]

    # -- covariance ---------------------------------------------------------------------
    def _sigma_frame(self, g: int) -> pd.DataFrame:
        d, smap, th = self._design, self._fit.smap, self._fit.state.theta
        if d.term.spatial:
            S = spatial_sigma(d.term.structure, th[smap.group_slice(g)],
                              np.array([[0.0, 1.0], [1.0, 0.0]]))
            return pd.DataFrame(S, index=["0", "1"], columns=["0", "1"])
        return pd.DataFrame(smap.full(th, g), index=d.visit_levels, columns=d.visit_levels)

    def cov_matrix(self) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """Σ̂ (visits × visits); a dict by group level when grouped; spatial: Σ at distance 1."""
        d = self._design
        if d.term.group:
            return {lev: self._sigma_frame(g) for g, lev in enumerate(d.group_levels)}
        return self._sigma_frame(0)

    # -- printing -------------------------------------------------------------------------
    def summary(self) -> Any:
        return MmrmSummary(self)

    def tidy(self, conf_int: bool = False, conf_level: float = 0.95) -> pd.DataFrame:
        """broom-style coefficient frame: term, estimate, std.error, df, statistic, p.value."""
        tab = self.coef_table()
        out = pd.DataFrame({"term": tab.index, "estimate": tab["Estimate"].to_numpy(),
                            "std.error": tab["Std. Error"].to_numpy(),
                            "df": tab["df"].to_numpy(), "statistic": tab["t value"].to_numpy(),
                            "p.value": tab["Pr(>|t|)"].to_numpy()})
        if conf_int:
            ci = self.confint(conf_level).to_numpy()
            out["conf.low"], out["conf.high"] = ci[:, 0], ci[:, 1]
        return out

    def glance(self) -> pd.DataFrame:
        return pd.DataFrame([{"AIC": self.aic, "BIC": self.bic, "logLik": self.loglik,
                              "deviance": self.deviance, "nobs": self.nobs,
                              "n_subjects": self.n_subjects}])

    def __repr__(self) -> str:
        return (f"<MmrmModel {self.formula!r}: {self.structure}, "
                f"{'REML' if self.REML else 'ML'}, {self.method}>")


# -- mmrm's summary() layout: formula, data, covariance, method, model selection criteria,
# the coefficient table (R's printCoefmat) and the covariance estimate ------------------
def _matrix(frame: pd.DataFrame) -> str:
    vals = np.round(frame.to_numpy(), 4)
    cells = format_real(vals.ravel(), 7)
    w = len(frame.columns)
    rows = [list(cells[i * w:(i + 1) * w]) for i in range(len(frame))]
    return print_matrix(rows, list(map(str, frame.columns)), list(map(str, frame.index)),
                        right=True)


class MmrmSummary:
    """Printable summary; `.coefficients` is the coefficient table."""

    def __init__(self, model: MmrmModel) -> None:
        self.model = model
        self.coefficients = model.coef_table()

    def __str__(self) -> str:
        m = self.model
        d = m._design
        data = m.data_name or "data"
        n_visits = max(np.bincount(d.subject_codes))
        lines = ["mmrm fit", "",
                 f"Formula:     {m.formula}",
                 f"Data:        {data} (used {m.nobs} observations from {m.n_subjects} "
                 f"subjects with maximum {n_visits} timepoints)",
                 f"Covariance:  {DESCRIPTIONS[m.structure]} ({m.n_theta} variance parameters"
                 + (f" of {d.n_groups} groups" if d.term.group else "") + ")",
                 f"Method:      {m.method}",
                 f"Vcov Method: {m.vcov_method}",
                 f"Inference:   {'REML' if m.REML else 'ML'}", "",
                 "Model selection criteria:"]
        crit = [m.aic, m.bic, m.loglik, m.deviance]
        lines.append(print_named_vector(["AIC", "BIC", "logLik", "deviance"],
                                        format_real(np.round(crit, 1), 7)))
        lines += ["", "Coefficients: ", print_coefmat(self.coefficients, digits=4), "",
                  "Covariance estimate:"]
        cov = m.cov_matrix()
        if isinstance(cov, dict):
            for lev, frame in cov.items():
                lines += [f"Group: {lev}", _matrix(frame), ""]
        else:
            lines += [_matrix(cov), ""]
        return "\n".join(lines)

    __repr__ = __str__
