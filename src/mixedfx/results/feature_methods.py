"""The methods through which a fitted mixed model reaches the features: Wald, profile and
bootstrap intervals (`mixedfx.inference`), leverage, influence and collinearity
(`mixedfx.diagnostics`) and lme4's plots (`mixedfx.plots`). Each delegates to its
implementation, which reads the model through the fitted-model contract; keywords forwarded
with `**kwargs` are checked against the function they reach.

`FeatureMethods` is a mixin of `MixedModelBase`; the class supplies `_frame`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mixedfx.diagnostics.collinearity import vif as collinearity_vif
from mixedfx.diagnostics.influence import influence as group_influence
from mixedfx.diagnostics.leverage import cooks_distance as leverage_cooks_distance
from mixedfx.diagnostics.leverage import hatvalues as leverage_hatvalues
from mixedfx.frame.model_frame import ModelFrame
from mixedfx.inference.bootstrap import bootstrap as parametric_bootstrap
from mixedfx.inference.intervals import confint as model_confint
from mixedfx.inference.intervals import wald_confint as wald_intervals
from mixedfx.inference.profile import profile as likelihood_profile
from mixedfx.plots import caterpillar, residuals_fitted
from mixedfx.unknown_arguments import check_keywords
from mixedfx.validate import check_level, check_positive_int


class FeatureMethods:
    """Mixin: `confint`, `wald_confint`, `profile`, `bootstrap`, `hatvalues`,
    `cooks_distance`, `influence`, `vif`, `plot_ranef` and `plot`."""

    _frame: ModelFrame

    # -- Wald intervals -------------------------------------------------------------------
    def wald_confint(self, level: float = 0.95) -> pd.DataFrame:
        """β̂ ± z·SE for the fixed effects; NaN rows for the variance parameters (lme4), see
        `mixedfx.inference.intervals.wald_confint`."""
        return wald_intervals(self, check_level(level))

    # -- intervals, profiles, bootstrap (mixedfx.inference) ---------------------------------
    def confint(self, method: str = "profile", level: float = 0.95, **kwargs: Any
                ) -> pd.DataFrame:
        """Confidence intervals (lme4's `confint.merMod`), indexed by `parameter_names()` then
        the fixed effects: `profile` (likelihood profile, the default), `Wald` (fixed effects
        only; NaN rows for the variance parameters) or `boot` (parametric bootstrap percentile
        intervals; `nsim`, `seed`, `n_jobs`). See `mixedfx.inference.intervals`."""
        return model_confint(self, method=method, level=level, **kwargs)

    def profile(self, which: Any = None, **kwargs: Any) -> pd.DataFrame:
        """The likelihood profile (lme4's `profile`), see `mixedfx.inference.profile`."""
        return likelihood_profile(self, which=which, **kwargs)

    def bootstrap(self, func: Any = None, nsim: int = 100, seed: int | None = None,
                  n_jobs: int = 1, **kwargs: Any) -> Any:
        """Parametric bootstrap (lme4's `bootMer`) of `func(refitted model)`, see
        `mixedfx.inference.bootstrap` (default `func`: LMM sd/cor/σ and β; GLMM θ and β)."""
        check_keywords(kwargs, parametric_bootstrap, "bootstrap()", skip=("model",))
        nsim = check_positive_int(nsim, "nsim")
        n_jobs = check_positive_int(n_jobs, "n_jobs")
        return parametric_bootstrap(self, func, nsim=nsim, seed=seed, n_jobs=n_jobs, **kwargs)

    # -- diagnostics (mixedfx.diagnostics) and plots (mixedfx.plots) --------------------------
    def hatvalues(self) -> pd.Series:
        """Diagonal of the hat matrix (lme4's `hatvalues`), see `mixedfx.diagnostics`; a
        Series indexed as `fitted()`."""
        return self._frame.rowwise(leverage_hatvalues(self))

    def cooks_distance(self) -> pd.Series:
        """Cook's distances (lme4's `cooks.distance`), see `mixedfx.diagnostics`; a Series
        indexed as `fitted()`."""
        return self._frame.rowwise(leverage_cooks_distance(self))

    def influence(self, groups: Any = None, maxfun: int = 1000) -> Any:
        """Leave-one-group-out refits (lme4's `influence(m, groups=)`), see
        `mixedfx.diagnostics.influence`."""
        return group_influence(self, groups=groups, maxfun=maxfun)

    def vif(self, ci: float = 0.95) -> pd.DataFrame:
        """Variance inflation factors of the fixed-effects terms (performance's
        `check_collinearity`)."""
        return collinearity_vif(self, ci=ci)

    def plot_ranef(self, level: float = 0.95, **kwargs: Any) -> Any:
        """Caterpillar plot of the random effects (lme4's `dotplot(ranef(m, condVar=TRUE))`),
        see `mixedfx.plots.caterpillar`."""
        check_keywords(kwargs, caterpillar, "plot_ranef()", skip=("model", "level"))
        return caterpillar(self, level=level, **kwargs)

    def plot(self, **kwargs: Any) -> Any:
        """Residuals against fitted values with a lowess smoother (lme4's `plot(m)`), see
        `mixedfx.plots.residuals_fitted`."""
        check_keywords(kwargs, residuals_fitted, "plot()", skip=("model",))
        return residuals_fitted(self, **kwargs)
