"""The fitting entry points: `lmer`, `glmer`, `gls` and (from `mixedfx.mmrm`) `mmrm`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mixedfx.baseline.base import data_name as baseline_data_name
from mixedfx.distributed import is_distributed_data
from mixedfx.distributed.glmer import dask_glmer
from mixedfx.distributed.lmer import dask_lmer
from mixedfx.errors import ArgumentError, ArgumentTypeError, DataError
from mixedfx.families import Family
from mixedfx.families.family import family_from  # (unwrapped: glmer's wrapper checks)
from mixedfx.frame.grouping import grouping_factor
from mixedfx.frame.model_frame import ModelFrame, build_model_frame
from mixedfx.glmm.dispersion import check_dispersion, fit_glmm_ml_dispersion
from mixedfx.glmm.fit import fit_glmm
from mixedfx.glmm.negbin import poisson_control, search_theta
from mixedfx.glmm.response import encode_response
from mixedfx.gls_engine.fit import fit_gls
from mixedfx.lmm.fit import dense_block_size, fit_lmm, lower_bounds, upper_bounds
from mixedfx.lmm.structured import fit_structured_lmm
from mixedfx.mmrm import mmrm
from mixedfx.optimize import Control
from mixedfx.optimize.threads import SINGLE, blas_threads_for, mode_for, one_blas_thread
from mixedfx.residual import CorStruct, ResidualStructure, VarFunc, bind_structures
from mixedfx.residual.structure import check_structure_types
from mixedfx.residual.variance import check_no_empty_strata
from mixedfx.results.glmm_model import GeneralizedLinearMixedModel
from mixedfx.results.gls_model import GlsModel
from mixedfx.results.lmm_model import LinearMixedModel
from mixedfx.unknown_arguments import refuse_unknown_arguments
from mixedfx.validate import (
    check_bool,
    check_choice,
    check_nagq,
    check_number,
    check_start,
    check_vector,
)

__all__ = ["glmer", "glmer_nb", "gls", "lmer", "mmrm", "structured_frame"]


@refuse_unknown_arguments
def lmer(formula: str, data: Any, REML: bool = True, weights: Any = None, offset: Any = None,
         na_action: str = "omit", control: Control | dict[str, Any] | None = None,
         start: np.ndarray | None = None, correlation: CorStruct | None = None,
         client: Any = None, progress: bool = False, data_name: str | None = None
         ) -> LinearMixedModel:
    """Fit a linear mixed model with lme4's formula syntax.

    Parameters mirror `lme4::lmer`: `REML` (default True), prior `weights` and an `offset`
    (column names or arrays), `na_action` ("omit" drops incomplete rows and says how many,
    "exclude" drops them too but pads row-wise results to every row with NaN, as R's
    `na.exclude`, "fail" refuses them), `control` (a `mixedfx.optimize.Control` or a dict
    of its fields) and `start` (θ start values, lme4's order).

    As in nlme, `weights=` also takes a variance function (`mixedfx.var_ident("~ 1 | g")`,
    `var_power("~ v")`, `var_exp("~ v")`) and `correlation=` a within-group correlation
    structure (`cor_ar1`, `cor_car1`, `cor_comp_symm`, `cor_symm`); a form without `| g`
    uses the innermost random-effect grouping factor. See `mixedfx.residual`.

    `data` may be a Dask DataFrame or a Parquet path / glob (`mixedfx[dask]`): the fit then
    runs on the Dask cluster `client=` (a Client or a scheduler address; None starts a local
    cluster). See `mixedfx.distributed`. `progress=True` shows Dask's progress bar for each
    pass over the data and a running count of the optimizer's evaluations.

    `data_name` is the data's name for the summary's `Data:` line and `m.call` (R prints the
    name of the data argument; Python cannot see it): by default `data.attrs["name"]`, which
    `mixedfx.datasets.load` sets; without either the line is left out.
    """
    reml = check_bool(REML, "REML")
    name = _data_name(data, data_name)
    check_choice(na_action, "na_action", ("omit", "exclude", "fail"))
    if _distributed(data, client, progress):
        if correlation is not None or isinstance(weights, VarFunc):
            raise ArgumentError("nlme residual structures are not available for Dask data")
        fitted = dask_lmer(formula, data, client=client, REML=reml, weights=weights,
                           offset=offset, na_action=na_action, control=control, start=start,
                           progress=progress)
        fitted.data_name = name or fitted.data_name
        fitted.fitted_by = lmer
        return fitted
    ctrl = Control.from_user(control)
    var_func = weights if isinstance(weights, VarFunc) else None
    if var_func is not None or correlation is not None:
        frame, residual = structured_frame(formula, data, var_func, correlation, offset,
                                           na_action)
        if start is not None:       # θ (bounded as in lme4), then optionally ψ (unbounded)
            start, nt = check_vector(start, "start"), len(lower_bounds(frame))
            check_start(start[:nt], "start (theta)", lower_bounds(frame), upper_bounds(frame))
        with blas_threads_for(dense_block_size(frame)):
            fit = fit_structured_lmm(frame, bool(REML), ctrl, residual, start=start)
        return LinearMixedModel(frame, fit, ctrl, data_name=name, fitted_by=lmer)
    def fit_frame(frame: ModelFrame) -> Any:
        theta0 = start if start is None else check_start(start, "start (theta)",
                                                          lower_bounds(frame),
                                                          upper_bounds(frame))
        return fit_lmm(frame, reml, ctrl, start=theta0)

    frame, fit = _build_and_fit(lambda: build_model_frame(
        formula, data, weights=weights, offset=offset, na_action=na_action), fit_frame)
    return LinearMixedModel(frame, fit, ctrl, data_name=name, fitted_by=lmer, data=data)


def _build_and_fit(build: Callable[[], ModelFrame], fit: Callable[[ModelFrame], Any]
                   ) -> tuple[ModelFrame, Any]:
    """The model frame built on one BLAS thread (its few BLAS calls, the rank check, are
    never contended), then `fit(frame)` under the thread count of its dense block
    (`blas_threads_for`). A small model's fit needs one thread too and runs in the same
    hold, without setting and restoring BLAS's thread count a second time."""
    with one_blas_thread():
        frame = build()
        if mode_for(dense_block_size(frame)) == SINGLE:
            return frame, fit(frame)
    with blas_threads_for(dense_block_size(frame)):
        return frame, fit(frame)


def _data_name(data: Any, data_name: Any) -> str | None:
    """`data_name` if given (a non-empty str), else the data's `attrs["name"]`, else None."""
    return baseline_data_name(data, data_name)


def _distributed(data: Any, client: Any, progress: Any = False) -> bool:
    """Whether the fit runs on Dask (Dask data); `client=` or `progress=True` without Dask
    data is refused."""
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    if is_distributed_data(data):
        return True
    if progress:
        raise ArgumentError("progress= is for Dask data (a dask DataFrame or a Parquet path); "
                            "in-memory fits run without a progress display")
    if client is not None:
        raise ArgumentError("client= is for Dask data (a dask DataFrame or a Parquet path); "
                            "in-memory data is fitted locally")
    return False


def structured_frame(formula: str, data: Any, var_func: VarFunc | None,
                     correlation: CorStruct | None, offset: Any, na_action: str,
                     require_random: bool = True) -> tuple[ModelFrame, ResidualStructure]:
    """The model frame (with the structures' columns) and the bound residual structure."""
    check_structure_types(var_func, correlation)
    if var_func is not None and hasattr(data, "columns"):
        check_no_empty_strata(var_func, data)
    extra = tuple(dict.fromkeys(
        c for s in (var_func, correlation) if s is not None for c in s.form.columns))
    frame = build_model_frame(formula, data, offset=offset, na_action=na_action,
                              require_random=require_random, extra_variables=extra)
    inner = frame.terms[0].codes if frame.terms else None
    cor_groups = (grouping_factor(frame.frame, correlation.form.groups)[0]
                  if correlation is not None and correlation.form.groups else None)
    if inner is not None and cor_groups is not None:
        # nlme orders the rows by every grouping level, outer to inner; a correlation
        # grouping finer than the random effects' (corCompSymm(~ 1 | Dog/Side) with
        # random = ~ day | Dog) is the innermost level, so the first stratum met (varIdent's
        # reference) is read in that order. lexsort: last key primary, stable.
        row_order = np.lexsort((cor_groups, inner))
    elif inner is not None:
        row_order = np.argsort(inner, kind="stable")
    elif cor_groups is not None:
        row_order = np.argsort(cor_groups, kind="stable")
    else:
        row_order = np.arange(frame.n)
    residual = bind_structures(frame.frame, var_func, correlation, inner, row_order)
    return frame, residual


@refuse_unknown_arguments
def gls(formula: str, data: Any, weights: VarFunc | None = None,
        correlation: CorStruct | None = None, REML: bool = True, offset: Any = None,
        na_action: str = "omit", control: Control | dict[str, Any] | None = None,
        data_name: str | None = None) -> Any:
    """Generalized least squares with nlme's residual structures and no random effects
    (nlme's `gls(model, data, weights=varFunc, correlation=corStruct, method="REML")`):
    `weights` a variance function (`var_ident`, `var_power`, `var_exp`), `correlation` a
    correlation structure whose form names its groups (`cor_symm("~ visit | Subject")`; without
    `| g` the whole data set is one group, as in nlme)."""
    if not isinstance(REML, bool):
        raise ArgumentTypeError(f"REML must be True or False, got {REML!r}")
    if weights is not None and not isinstance(weights, VarFunc):
        raise ArgumentTypeError("gls weights must be a variance function (mixedfx.var_ident, "
                                "var_power, var_exp); for prior weights use mixedfx.lm")
    ctrl = Control.from_user(control)
    frame, residual = structured_frame(formula, data, weights, correlation, offset,
                                       na_action, require_random=False)
    if frame.terms:
        raise ArgumentError("gls takes no random-effect terms; use mixedfx.lmer with "
                            "weights= / correlation= for a mixed model")
    with blas_threads_for(frame.X.shape[1] + 1):
        fit = fit_gls(frame, REML, ctrl, residual)
    return GlsModel(frame, fit, ctrl, data_name=_data_name(data, data_name), fitted_by=gls)


@refuse_unknown_arguments
def glmer(formula: str, data: Any, family: str | Family = "binomial", nAGQ: int = 1,
          weights: Any = None, offset: Any = None, na_action: str = "omit",
          control: Control | dict[str, Any] | None = None, start: dict | None = None,
          link: str | None = None, dispersion: str = "ML", client: Any = None,
          progress: bool = False, data_name: str | None = None) -> Any:
    """Fit a generalized linear mixed model with lme4's formula syntax (lme4's `glmer`).

    `family` is a name ("binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian") or a
    `mixedfx.families` object (e.g. `families.Gamma(link="log")`); `link` overrides the link
    of a named family. `nAGQ=1` is the Laplace approximation, `nAGQ>1` adaptive Gauss–Hermite
    quadrature (one scalar random-effects term only), `nAGQ=0` optimizes θ with β estimated
    inside PIRLS. Binomial responses: 0/1, a two-level factor or boolean, proportions with
    `weights=` giving the trials, or `cbind(successes, failures)`. `offset=` and `offset(...)`
    terms in the formula are added on the link scale.

    `dispersion` (Gamma and inverse Gaussian): "ML" (default) estimates the dispersion φ by
    maximum likelihood jointly with θ and β, as glmmTMB does (θ then gives the random
    effects' SDs on the link scale and `sigma` is √φ); "lme4" reproduces lme4, which fits
    with φ = 1 inside PIRLS and estimates φ from the residuals afterwards.

    `data` may be a Dask DataFrame or a Parquet path / glob, fitted on the Dask cluster
    `client=` (binomial, poisson, negative_binomial(θ); nAGQ 0 or 1): see
    `mixedfx.distributed`; `progress=True` shows Dask's progress bar for the first passes
    and a running count of the PIRLS passes.

    `start`: {"theta": [...]} starts both stages at θ; {"theta": [...], "fixef": [...]}
    (lme4's `start = list(theta =, fixef =)`, nAGQ >= 1) starts the joint (θ, β) stage there
    with a smaller trust region and skips the θ-only stage, e.g. from a nearby fit.
    """
    if isinstance(weights, VarFunc):
        raise ArgumentTypeError("glmer weights must be prior weights (a column name or an array); "
                                "nlme variance functions (var_ident, ...) are for lmer and gls")
    fam = family_from(family, link)
    if fam.name == "gaussian" and fam.link.name == "identity":
        raise ArgumentError("family gaussian with identity link is a linear mixed model: "
                            "use mixedfx.lmer")
    nAGQ = check_nagq(nAGQ)
    check_choice(na_action, "na_action", ("omit", "exclude", "fail"))
    if start is not None and not isinstance(start, dict):
        raise ArgumentTypeError("glmer start must be a dict such as {'theta': [...]}, got "
                                f"{type(start).__name__}")
    if start:
        unknown = sorted(set(start) - {"theta", "fixef"})
        if unknown:
            raise ArgumentError(f"unknown start component(s) {unknown}; glmer accepts "
                                "{'theta': [...]} and, with it, 'fixef': [...]")
        if "fixef" in start and ("theta" not in start or int(nAGQ) == 0):
            raise ArgumentError("glmer start 'fixef' needs 'theta' too and nAGQ >= 1 (with "
                                "nAGQ=0 the fixed effects are estimated inside PIRLS)")
    if _distributed(data, client, progress):
        if start and "fixef" in start:
            raise ArgumentError("glmer start 'fixef' is not available for Dask data; give "
                                "start={'theta': [...]}")

        fitted = dask_glmer(formula, data, fam, nAGQ=int(nAGQ), client=client,
                            weights=weights, offset=offset, na_action=na_action,
                            control=control, start=start, progress=progress)
        fitted.data_name = _data_name(data, data_name) or fitted.data_name
        fitted.fitted_by = glmer
        return fitted
    ctrl = Control.from_user(control)

    def fit_frame(frame: ModelFrame) -> tuple[Any, Any]:
        method = check_dispersion(dispersion, fam, int(nAGQ))
        resp = encode_response(frame.y, fam, frame.weights,
                               frame.formula.response or "response")
        start0 = start
        if start and "theta" in start:
            start0 = {"theta": check_start(start["theta"], "start['theta']",
                                           lower_bounds(frame), upper_bounds(frame)),
                      **({"fixef": check_vector(start["fixef"], "start['fixef']",
                                                frame.X.shape[1])} if "fixef" in start else {})}
        if method == "ML":
            return resp, fit_glmm_ml_dispersion(frame, fam, resp, ctrl, start=start0)
        return resp, fit_glmm(frame, fam, resp, int(nAGQ), ctrl, start=start0)

    frame, (resp, fit) = _build_and_fit(lambda: build_model_frame(
        formula, data, weights=weights, offset=offset, na_action=na_action, glm=True),
        fit_frame)
    return GeneralizedLinearMixedModel(frame, fam, resp, fit, ctrl,
                                       data_name=_data_name(data, data_name),
                                       fitted_by=glmer, data=data)


@refuse_unknown_arguments
def glmer_nb(formula: str, data: Any, nAGQ: int = 1, weights: Any = None, offset: Any = None,
             na_action: str = "omit", control: Control | dict[str, Any] | None = None,
             link: str = "log", tol: float = 5e-5, data_name: str | None = None) -> Any:
    """Negative binomial GLMM with its shape θ estimated (lme4's `glmer.nb`).

    Fits the Poisson GLMM, starts θ at MASS's `theta.ml` for its fitted means, then minimizes
    −2 log-likelihood over log θ ∈ log θ₀ ± 3 (Brent, tolerance `tol`), refitting at each θ.
    The result's family is `negative_binomial(θ̂)`; `model.nb_theta` holds θ̂.
    """
    check_number(tol, "tol", 0.0)
    if not isinstance(link, str):
        raise ArgumentTypeError(f"link must be a link name such as 'log', got {link!r}")
    if _distributed(data, None):
        raise ArgumentError("glmer_nb is not available for Dask data (its θ search needs the "
                            "rows); use glmer with family=negative_binomial(theta)")

    common = {"nAGQ": nAGQ, "weights": weights, "offset": offset, "na_action": na_action,
              "control": control, "data_name": data_name}
    try:
        poisson_fit = glmer(formula, data, family="poisson", link=link,
                            **{**common, "control": poisson_control(control)})
    except DataError as exc:      # the counts are checked by the Poisson start fit
        if "the poisson family needs" not in str(exc):
            raise
        raise DataError("glmer_nb: " + str(exc).replace(
            "the poisson family", "the negative binomial family of glmer_nb")) from None

    def refit(family: Family, start: dict[str, Any] | None, ctrl: Control) -> Any:
        return glmer(formula, data, family=family, start=start, **{**common, "control": ctrl})

    resp = poisson_fit._resp
    return search_theta(refit, poisson_fit, resp.y, poisson_fit._state.mu,
                        resp.prior_weights, link=link, nAGQ=nAGQ, control=control, tol=tol)

