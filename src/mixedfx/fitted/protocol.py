"""The fitted-model contract: what the features (inference, tidy, plots, effects,
diagnostics) may read from a fit.

The result classes (`results/`, `baseline/`, `mmrm/`) implement these protocols; the features
are typed against them and never import a result class, test `isinstance` on one or read a
private attribute. A feature that needs to know what kind of fit it holds reads `kind`
("lmer", "glmer", "gls", "lm", "glm", "mmrm"; the names of the saved-model format); an
optional capability (a Dask fit's cluster hooks) is a documented member tested with
`getattr(model, name, None)`. Refits go through the public `refit` (new response),
`refit_ml` and `update` (new formula, data or arguments).

The model (lme4's notation): y = Xβ + Zb + ε, b = Λθ u, u ~ N(0, s² I), ε ~ N(0, σ² W⁻¹)
with prior weights W (an nlme residual structure replaces σ² W⁻¹ by σ² V(ψ)); Λθ is block
diagonal with one k×k lower-triangular template T_t per term t, repeated over its levels,
so Σ_t = s² T_t T_tᵀ (s = σ for LMMs and lme4's GLMMs, 1 for ML-dispersion GLMMs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mixedfx.families import Family
from mixedfx.fitted.varcorr import TermCovariance
from mixedfx.optimize import Control

if TYPE_CHECKING:     # annotations only: `import mixedfx` does not load the GLMM engine
    from mixedfx.glmm.fit import GlmmFit
    from mixedfx.glmm.response import GlmResponse
    from mixedfx.lmm.fit import LmmFit

FIT_KINDS = ("lmer", "glmer", "gls", "lm", "glm", "mmrm")


@runtime_checkable
class FittedModel(Protocol):
    """Every fit: the fixed-effects estimates, their covariance and the likelihood."""

    #: "lmer", "glmer", "gls", "lm", "glm" or "mmrm" (see `FIT_KINDS`).
    kind: str

    @property
    def formula(self) -> str:
        """The model formula as written."""

    @property
    def nobs(self) -> int:
        """n, the number of rows used."""

    @property
    def beta(self) -> np.ndarray:
        """β̂ (p,)."""

    @property
    def fixef(self) -> pd.Series:
        """β̂ named by the columns of X (R's coefficient names)."""

    @property
    def vcov(self) -> pd.DataFrame:
        """Cov(β̂): σ² (XᵀV⁻¹X)⁻¹ for an LMM (σ² R_X⁻¹R_X⁻ᵀ from the blocked factor)."""

    @property
    def loglik(self) -> float:
        """ℓ(θ̂, β̂, σ̂): the REML criterion's −½ for REML fits, else the log-likelihood."""

    @property
    def npar(self) -> int:
        """Number of estimated parameters (the df of `loglik`)."""

    @property
    def df_residual(self) -> int:
        """Residual degrees of freedom (n − p for an lm; n − npar for a mixed model)."""

    @property
    def aic(self) -> float:
        """−2ℓ + 2 npar."""

    @property
    def bic(self) -> float:
        """−2ℓ + npar log n."""


@runtime_checkable
class FramedFit(FittedModel, Protocol):
    """A fit that keeps its model frame (every kind)."""

    @property
    def frame(self) -> Any:
        """The model frame (`frame.model_frame.ModelFrame`; mmrm's own): rows used, X (n×p)
        and its encoding (`fixed_design`), y, weights, offset, random-effects terms."""


@runtime_checkable
class MixedFit(FramedFit, Protocol):
    """A mixed model (lmer or glmer): random-effects terms, θ, and the engine's fit record."""

    data_name: str | None

    @property
    def REML(self) -> bool:
        """Whether the criterion is REML (always False for a GLMM)."""

    @property
    def sigma(self) -> float:
        """σ̂ (1 for binomial and Poisson GLMMs)."""

    @property
    def theta(self) -> np.ndarray:
        """θ̂, the lower-triangular entries of the T_t column-wise, term after term."""

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds of θ (0 on the diagonal entries of T_t, −∞ elsewhere)."""

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of the θ entries."""

    @property
    def ngrps(self) -> dict[str, int]:
        """Number of levels per grouping factor."""

    @property
    def deviance(self) -> float:
        """−2ℓ (the REML criterion for REML fits)."""

    @property
    def has_scale(self) -> bool:
        """Whether σ is estimated (LMMs; GLMMs with a dispersion parameter)."""

    @property
    def re_scale(self) -> float:
        """s in Σ_t = s² T_t T_tᵀ."""

    @property
    def templates(self) -> list[np.ndarray]:
        """T_t (k×k, lower triangular) per term at θ̂: Λθ = ⊕_t (I_levels ⊗ T_t)."""

    @property
    def random_effects(self) -> list[np.ndarray]:
        """b̂_t = T_t û_t per term, shape (levels, k)."""

    @property
    def u(self) -> list[np.ndarray]:
        """û_t per term, shape (levels, k) (spherical modes: b = Λθ u)."""

    @property
    def control(self) -> Control:
        """The optimizer control the model was fitted with."""

    @property
    def residual_structure(self) -> Any:
        """The nlme residual structure (`residual.structure.ResidualStructure`: `var`,
        `cor`, whitening factors of V(ψ)) or None."""

    @property
    def engine_fit(self) -> LmmFit | GlmmFit:
        """The engine's fit record: `theta`, `lower`, `objective` (the deviance at any θ and
        its blocked Cholesky factorization `objective.chol`), the converged state."""

    def conditional_variances(self) -> list[np.ndarray]:
        """Cov(b_t | y) per term at the estimates: s² Λ(ΛᵀZᵀWZΛ + I)⁻¹Λᵀ blocks, shape
        (levels, k, k)."""

    def variance_parameters(self, sigma: float | None = None) -> list[tuple[str, float]]:
        """(name, value) of every term's standard deviations and correlations (a structured
        term's own parameters), on the scale of `sigma` (default: the model's)."""

    def parameter_names(self) -> list[str]:
        """lme4's names of the variance parameters, then "sigma" when `has_scale`."""

    def re_covariances(self) -> list[TermCovariance]:
        """Per term: group, names, structure, Σ_t on the data scale, SDs, correlations."""

    def linear_predictor(self, include: set[str] | None = None) -> np.ndarray:
        """η = Xβ̂ + offset + Σ_{t: group ∈ include} Z_t b̂_t (all terms when None)."""

    def linear_predictor_new(self, newdata: object, re_form: str | None,
                             allow_new_levels: bool) -> np.ndarray:
        """η for new data with the random effects that `re_form` keeps (new levels: 0)."""

    def ranef(self, condvar: bool = False) -> dict[str, pd.DataFrame]:
        """b̂ per grouping factor (levels × terms)."""

    def fitted(self) -> pd.Series:
        """μ̂ = g⁻¹(η) per row."""

    def residuals(self, type: str = ..., scaled: bool = False) -> pd.Series:
        """Residuals of the given type per row."""

    def predict(self, newdata: object = None, re_form: str | None = None,
                allow_new_levels: bool = False, type: str = "link", **kwargs: Any) -> Any:
        """Predictions (see the result classes)."""

    def simulate(self, nsim: int = 1, seed: int | None = None,
                 use_u: bool = False) -> np.ndarray:
        """Responses drawn from the fitted model, shape (nobs, nsim)."""

    def refit(self, y: Any) -> MixedFit:
        """The same model fitted to a new response (started at these estimates)."""

    def refit_ml(self) -> MixedFit:
        """The model refitted by maximum likelihood (itself when already ML)."""

    def update(self, formula: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        """lme4's `update`: refit with a new formula (R's dot notation), data or arguments."""


@runtime_checkable
class LinearMixedFit(MixedFit, Protocol):
    """An lmer fit (kind "lmer"): the profiled Gaussian likelihood."""

    @property
    def engine_fit(self) -> LmmFit:
        """`lmm.fit.LmmFit`: `objective` (profiled deviance d(θ), `objective.chol` the blocked
        Cholesky of ΛᵀZᵀZΛ + I, `objective.n`/`.p`), `factor` (at θ̂: templates, pwrss,
        ldL2), `solution` (β̂, û, b̂, R_X⁻¹), `residual`/`psi` (nlme structure)."""

    @property
    def deviance_ml(self) -> float:
        """−2 × the ML log-likelihood at these estimates."""


@runtime_checkable
class GeneralizedMixedFit(MixedFit, Protocol):
    """A glmer fit (kind "glmer"): Laplace / adaptive Gauss-Hermite likelihood."""

    @property
    def family(self) -> Family:
        """The response distribution and link g."""

    @property
    def nAGQ(self) -> int:
        """Quadrature points (1: Laplace; 0: β from PIRLS only)."""

    @property
    def dispersion_method(self) -> str:
        """"ML", "lme4" or "none" (see the GLMM class)."""

    @property
    def response(self) -> GlmResponse:
        """The encoded response: `y` (proportions for binomial) and prior weights `wt`."""

    @property
    def pirls_state(self) -> Any:
        """The converged PIRLS state (`mu`, `eta`, `u`, `ussq`)."""

    @property
    def working_weights(self) -> np.ndarray:
        """The final PIRLS weights W = wt (dμ/dη)² / V(μ)."""

    @property
    def engine_fit(self) -> GlmmFit:
        """`glmm.fit.GlmmFit`: `objective` (Laplace deviance of (θ, β)), `pirls`, `state`,
        `hessian`, `dispersion`."""


@runtime_checkable
class GlsFit(FramedFit, Protocol):
    """A gls fit (kind "gls"): y = Xβ + ε, ε ~ N(0, σ² V(ψ)) with nlme's residual structure."""

    @property
    def REML(self) -> bool:
        """Whether the criterion is REML."""

    @property
    def sigma(self) -> float:
        """σ̂."""


@runtime_checkable
class MmrmFit(FramedFit, Protocol):
    """An mmrm fit (kind "mmrm"): y = Xβ + ε, ε_i ~ N(0, Σ(θ)) per subject."""

    def contrast_se_df(self, L: np.ndarray, ddf: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """SE √(lᵀVl) and denominator df of each contrast row l of L (the fit's df method:
        Satterthwaite / Kenward-Roger / residual / between-within)."""


@runtime_checkable
class FixedEffectsFit(FramedFit, Protocol):
    """An lm or glm fit (kind "lm" / "glm")."""

    @property
    def has_intercept(self) -> bool:
        """Whether X has R's "(Intercept)" column."""

    def summary(self) -> Any:
        """R's `summary.lm` / `summary.glm` (its `coefficients` frame)."""

    def confint(self, level: float = 0.95, method: str = "Wald") -> pd.DataFrame:
        """Confidence intervals of β."""


class DistributedCapabilities(Protocol):
    """Optional members of a Dask fit (test with `getattr(model, name, None)`): where a
    feature's work runs on the fit's cluster instead of in memory."""

    #: Bootstrap replicates on the cluster: (func, nsim=, seed=, n_jobs=, use_u=) -> BootResult.
    distributed_bootstrap: Callable[..., Any]

    def cluster_map(self) -> Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]] | None:
        """`profile`'s mapper (one parameter per task), or None to profile locally."""

    def profile_objective(self) -> Any:
        """A context manager giving the deviance of (θ, β) evaluated over the distributed
        rows (a GLMM whose rows live on the cluster)."""


MixedModel = LinearMixedFit | GeneralizedMixedFit
