"""lme4's and broom.mixed's methods every fitted mixed model has, as R users know them:
broom.mixed's `tidy` / `glance` / `augment`, lme4's `getME` pieces, `print(VarCorr(m), comp=)`,
`rePCA`, `update` with dot formulas, `allFit` and notebook display. Each method delegates to
its implementation (`mixedfx.tidy`, `fitted.getme`, `.varcorr_print`, `.update`, `.all_fit`,
`.html`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mixedfx.fitted.getme import getme
from mixedfx.fitted.getme import re_pca as getme_re_pca
from mixedfx.fitted.varcorr_print import VarCorrTable
from mixedfx.results.all_fit import all_fit as all_optimizers_fit
from mixedfx.results.html import model_html
from mixedfx.results.update import update_model
from mixedfx.tidy import augment as broom_augment
from mixedfx.tidy import glance as broom_glance
from mixedfx.tidy import tidy as broom_tidy
from mixedfx.unknown_arguments import RefusesUnknownArguments


class Lme4Methods(RefusesUnknownArguments):
    """Mixin of `MixedModelBase`: methods over the fitted model's own accessors."""

    # -- tidy frames (mixedfx.tidy, broom.mixed) --------------------------------------------
    def tidy(self, effects: Any = ("fixed", "ran_pars"), conf_int: bool = False,
             conf_level: float = 0.95, conf_method: str = "Wald", **kwargs: Any
             ) -> pd.DataFrame:
        """broom.mixed's `tidy(m)`: one row per parameter, see `mixedfx.tidy.frames.tidy`."""
        return broom_tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level,
                          conf_method=conf_method, **kwargs)

    def glance(self) -> pd.DataFrame:
        """broom.mixed's `glance(m)`: one row of model statistics."""
        return broom_glance(self)

    def augment(self, newdata: Any = None) -> pd.DataFrame:
        """broom.mixed's `augment(m)`: the data with `.fitted`, `.resid`, `.hat`, ..."""
        return broom_augment(self, newdata=newdata)

    # -- lme4's getME pieces, VarCorr printing, rePCA, update (issue 9) ---------------------
    def getME(self, name: str) -> Any:
        """lme4's `getME(m, name)`: "X" (DataFrame), "Z", "Zt", "Lambda", "Lambdat"
        (scipy.sparse), "u", "b" (vectors in lme4's order), "theta", "beta", "flist",
        "cnms", "sigma", "n", "p", "q", "Tlist", "lower"."""
        return getme(self, name)

    @property
    def X(self) -> pd.DataFrame:
        """The fixed-effects model matrix with R's column names."""
        return self.getME("X")

    @property
    def Z(self) -> Any:
        """The random-effects model matrix Z (n × q, scipy.sparse CSC)."""
        return self.getME("Z")

    @property
    def Lambda(self) -> Any:
        """Λ(θ), the relative covariance factor (q × q, scipy.sparse)."""
        return self.getME("Lambda")

    @property
    def Lambdat(self) -> Any:
        """Λᵀ (lme4's `Lambdat`)."""
        return self.getME("Lambdat")

    @property
    def flist(self) -> dict[str, pd.Categorical]:
        """The grouping factors (lme4's `getME(m, "flist")`)."""
        return self.getME("flist")

    @property
    def cnms(self) -> dict[str, list[str]]:
        """Random-effect column names per term (lme4's `getME(m, "cnms")`)."""
        return self.getME("cnms")

    def model_frame(self) -> pd.DataFrame:
        """The rows and variables the fit used (R's `model.frame(m)`)."""
        return self._frame.frame.copy()

    def varcorr_table(self, comp: Any = ("Std.Dev.",), digits: int = 5) -> Any:
        """lme4's `print(VarCorr(m), comp=)`: an object whose `str()` is the table."""
        return VarCorrTable(self._covariances, self.sigma if self._has_scale else None,
                            comp=comp, digits=digits)

    def re_pca(self) -> dict[str, pd.DataFrame]:
        """lme4's `summary(rePCA(m))`: principal components of each grouping factor's
        relative covariance factor (see `mixedfx.fitted.getme.re_pca`)."""
        return getme_re_pca(self._frame.terms, self._templates(),
                      [t.group_name for t in self._frame.terms])

    def update(self, formula: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        """lme4's `update(m, formula, ...)`: refit with a formula using R's dot notation
        (". ~ . - x", "log(.) ~ .") and/or new arguments (`REML`, `control`, `family`, ...)."""
        return update_model(self, formula, data=data, **kwargs)

    def all_fit(self, optimizers: Any = None) -> pd.DataFrame:
        """lme4's `allFit(m)` (as `summary(allFit(m))` reports it): the model refitted with
        every optimizer, one row each; see `mixedfx.results.all_fit.all_fit`."""
        return all_optimizers_fit(self, optimizers)

    def _repr_html_(self) -> str:
        """Notebook display: the summary's tables as HTML (`mixedfx.results.html`)."""
        summary = self.summary()  # type: ignore[attr-defined]
        return model_html(self, summary.title(), summary.coefficients)
