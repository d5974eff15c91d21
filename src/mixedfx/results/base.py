"""What every fitted mixed model shares: grouping structure, variance components, random
effects and coefficients, lme4's parameter names, the JSON record and the fitted-model
contract's read-only views. The linear predictor (`.linear_predictor`) and the methods that
reach the features (`.feature_methods`) come from mixins.

Subclasses provide `_frame`, `_fit` (with `theta`, `lower`), `beta`, `sigma`, `vcov`,
`loglik`, `npar`, `_templates()`, `_random_effects()` (b per term, (levels, k)),
`_conditional_variances()` and `_has_scale`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.data_checks import numeric_vector
from mixedfx.errors import ArgumentError
from mixedfx.fitted.saving import Saveable
from mixedfx.fitted.varcorr import TermCovariance, term_covariances, varcorr_frame
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.optimize.convergence import is_singular
from mixedfx.results.accessors import FitAccessors
from mixedfx.results.feature_methods import FeatureMethods
from mixedfx.results.linear_predictor import LinearPredictor
from mixedfx.results.lme4_methods import Lme4Methods
from mixedfx.validate import check_bool


class MixedModelBase(FeatureMethods, LinearPredictor, Saveable, FitAccessors,
                     Lme4Methods):
    """Shared behaviour of fitted linear and generalized linear mixed models."""

    _frame: ModelFrame
    _fit: Any              # the engine's fit record: has `theta` and `lower`
    _has_scale: bool = True
    _data: Any = None      # the data given to the fitting function (update re-reads it)
    fitted_by: Callable[..., Any] | None = None
    """The function that fitted the model (`mixedfx.lmer`, `mixedfx.glmer`), which `update`
    calls to refit it; None for a model built otherwise (e.g. a bootstrap replicate)."""

    # -- supplied by subclasses -----------------------------------------------------------
    beta: np.ndarray
    sigma: float
    vcov: pd.DataFrame
    loglik: float
    npar: int
    deviance: float
    reml_criterion: float | None
    optimizer_info: dict[str, Any]

    def _templates(self) -> list[np.ndarray]:
        raise NotImplementedError

    def _random_effects(self) -> list[np.ndarray]:
        raise NotImplementedError

    def _conditional_variances(self) -> list[np.ndarray]:
        raise NotImplementedError

    @property
    def theta(self) -> np.ndarray:
        """The relative covariance parameters θ (lme4's `getME(m, "theta")`)."""
        return self._fit.theta.copy()

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds of θ."""
        return self._fit.lower.copy()

    def _lower(self) -> np.ndarray:
        return self._fit.lower

    # -- structure --------------------------------------------------------------------------
    @property
    def ngrps(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self._frame.terms:
            out.setdefault(t.group_name, t.n_levels)
        return out

    @property
    def theta_names(self) -> list[str]:
        return [name for t in self._frame.terms for name in t.theta_names()]

    @property
    def df_residual(self) -> int:
        return self.nobs - self.npar

    def is_singular(self, tol: float = 1e-4) -> bool:
        return is_singular(self.theta, self._lower(), tol)

    # -- variance components ------------------------------------------------------------
    @property
    def _re_scale(self) -> float:
        """The factor of the random-effect covariance: Σ = s² T Tᵀ (σ for LMMs and lme4's
        GLMMs; 1 when θ is on the absolute scale, as for ML-dispersion GLMMs)."""
        return self.sigma

    @cached_property
    def _covariances(self) -> list[TermCovariance]:
        return term_covariances(self._frame.terms, self._templates(), self._re_scale)

    @property
    def varcorr(self) -> pd.DataFrame:
        return varcorr_frame(self._covariances, self.sigma if self._has_scale else None)

    def parameter_names(self) -> list[str]:
        """lme4's `oldNames=FALSE` names of the variance parameters (then `sigma` when the
        model has a scale parameter)."""
        names = [name for name, _ in self._variance_parameters()]
        return [*names, "sigma"] if self._has_scale else names

    def _variance_parameters(self, sigma: float | None = None) -> list[tuple[str, float]]:
        """(name, value) of each term's SDs and correlations (structure-aware: a structured
        term gives its own parameters, e.g. ar1 one SD and the lag-1 correlation), on the
        scale of σ (the model's σ unless given)."""
        s = self._re_scale if sigma is None else sigma
        out: list[tuple[str, float]] = []
        for t, T in zip(self._frame.terms, self._templates(), strict=True):
            out.extend(t.covariance.parameters(s**2 * (T @ T.T), list(t.term_names),
                                               t.group_name))
        return out

    # -- random effects -----------------------------------------------------------------
    def ranef(self, condvar: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes per grouping factor (index: levels, columns: terms).

        Terms sharing a grouping factor are joined into one frame, as lme4 does. With
        `condvar=True` each frame carries `.attrs["condsd"]`, a frame of the same shape with
        the conditional standard deviations, and `.attrs["condvar"]`, the per-level
        conditional covariance matrices (levels, k, k) of each term in column order.
        """
        out: dict[str, pd.DataFrame] = {}
        sds: dict[str, list[pd.DataFrame]] = {}
        cvs: dict[str, list[np.ndarray]] = {}
        condvars = self._conditional_variances() if check_bool(condvar, "condvar") else None
        for i, (t, b) in enumerate(zip(self._frame.terms, self._random_effects(),
                                       strict=True)):
            df = pd.DataFrame(b, index=pd.Index(t.levels, name=t.group_name),
                              columns=t.term_names)
            out[t.group_name] = pd.concat([out[t.group_name], df], axis=1) \
                if t.group_name in out else df
            if condvars is not None:
                cv = condvars[i]
                sd = np.sqrt(np.clip(np.diagonal(cv, axis1=1, axis2=2), 0, None))
                sds.setdefault(t.group_name, []).append(
                    pd.DataFrame(sd, index=df.index, columns=t.term_names))
                cvs.setdefault(t.group_name, []).append(cv)
        if condvars is not None:
            for g in out:
                out[g].attrs["condsd"] = pd.concat(sds[g], axis=1)
                out[g].attrs["condvar"] = cvs[g]
        return out

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-level coefficients: fixed effects plus the level's random effects."""
        fe = self.fixef
        out = {}
        for g, re in self.ranef().items():
            cols = list(fe.index) + [c for c in re.columns if c not in fe.index]
            df = pd.DataFrame({c: np.full(len(re), fe.get(c, 0.0)) for c in cols},
                              index=re.index)
            for c in re.columns:
                df[c] = df[c] + re[c].to_numpy()
            out[g] = df
        return out

    def _new_response(self, y: Any) -> np.ndarray:
        """A new response for `refit`: one real value per row used (a vector padded to every
        row, as row-wise results are with na_action="exclude", is accepted too)."""
        arr = self._frame.rows.used(y) if self._frame.rows is not None else np.asarray(y)
        arr = numeric_vector(np.asarray(arr).ravel(), "new response (refit)")
        if arr.shape != (self.nobs,):
            raise ArgumentError(f"new response must have {self.nobs} values, got {arr.shape}")
        return arr

    # -- records ---------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        """Fields of `to_dict` that depend on the model type (REML flag, family, ...)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable record of the fit."""
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        vc = self.varcorr.astype(object).where(self.varcorr.notna(), None)
        return {
            "formula": self.formula, **self._record(), "nobs": self.nobs, "ngrps": self.ngrps,
            "fixef": {k: float(v) for k, v in self.fixef.items()},
            "fixef_se": dict(zip(self._frame.fixef_names, map(float, se), strict=True)),
            "theta": [float(v) for v in self.theta], "theta_names": self.theta_names,
            "sigma": self.sigma, "varcorr": vc.to_dict(orient="records"),
            "loglik": self.loglik, "deviance": self.deviance,
            "reml_criterion": self.reml_criterion, "aic": self.aic, "bic": self.bic,
            "df_residual": self.df_residual, "is_singular": self.is_singular(),
            "optimizer": self.optimizer_info,
        }

    # == fitted-model contract (mixedfx.fitted.protocol.MixedFit) ===========================
    # Public read-only views that the features (inference, tidy, plots, effects,
    # diagnostics) read instead of the private state above (`linear_predictor` and
    # `linear_predictor_new` come with `LinearPredictor`).
    @property
    def engine_fit(self) -> Any:
        """The engine's fit record (`lmm.fit.LmmFit` / `glmm.fit.GlmmFit`): θ, bounds, the
        objective (factorization and deviance at any θ) and the converged state."""
        return self._fit

    @property
    def control(self) -> Any:
        """The optimizer `Control` the model was fitted with (refits reuse it)."""
        return self._control

    @property
    def has_scale(self) -> bool:
        """Whether the model has a scale parameter σ (LMMs; GLMMs with a dispersion)."""
        return self._has_scale

    @property
    def re_scale(self) -> float:
        """s in Σ_t = s² T_t T_tᵀ (see `_re_scale`)."""
        return self._re_scale

    @property
    def templates(self) -> list[np.ndarray]:
        """Per random-effects term the k×k lower-triangular block T_t of Λθ."""
        return self._templates()

    @property
    def random_effects(self) -> list[np.ndarray]:
        """Per term the conditional modes b_t = T_t u_t, shape (levels, k)."""
        return self._random_effects()

    def conditional_variances(self) -> list[np.ndarray]:
        """Per term the conditional covariances of b_t, shape (levels, k, k)."""
        return self._conditional_variances()

    def variance_parameters(self, sigma: float | None = None) -> list[tuple[str, float]]:
        """(name, value) of each term's SDs and correlations (see `_variance_parameters`)."""
        return self._variance_parameters(sigma)

    @property
    def residual_structure(self) -> Any:
        """The nlme residual structure (`residual.structure.ResidualStructure`) or None."""
        return getattr(self._fit, "residual", None)

    # -- structured covariances (issue 7) -------------------------------------------------
    def re_covariances(self) -> list[TermCovariance]:
        """One object per random-effects term: `group` (R's name, repeated factors made
        unique as `student.1`), `names`, `structure` (`"us"`, `"diag"`, `"cs"`, `"homcs"`,
        `"ar1"`, `"toep"`), `cov` (on the data scale: σ²TTᵀ for an LMM), `sd`, `corr`
        (glmmTMB's `VarCorr(m)$cond`, lme4's `VarCorr(m)`)."""
        return list(self._covariances)
