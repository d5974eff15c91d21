"""Loading a saved model (`mixedfx.load`): validate the fields (`loading.fields`), rebuild the
model frame from the stored rows through the code a fit uses, check every stored array's shape
against the rebuilt structure before reading it, evaluate the engine at the stored estimates
(the same `*_fit_at` functions a fit ends with), and check the rebuilt β and criterion against
the stored ones (`Loader.agree`). The file format is `mixedfx.fitted.saving`'s.

A loaded model is the object its fitting function returns, with that function recorded
(`fitted_by`), so `update` refits it as it would the original.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mixedfx import residual as nlme_structures
from mixedfx.api import dense_block_size, glmer, gls, lmer, structured_frame
from mixedfx.baseline import GeneralizedLinearModel, LinearModel
from mixedfx.errors import DataError, MixedfxError
from mixedfx.families import family_from, negative_binomial
from mixedfx.fitted.model_file import ModelFileReader
from mixedfx.fitted.saving import check_path
from mixedfx.frame.model_frame import build_model_frame
from mixedfx.glmm.dispersion import DispersionObjective
from mixedfx.glmm.fit import GlmmFit, check_nagq
from mixedfx.glmm.objective import GlmmObjective
from mixedfx.glmm.pirls import Pirls
from mixedfx.glmm.response import encode_response
from mixedfx.glmm.theta_templates import ThetaTemplates
from mixedfx.gls_engine.fit import GlsCriterion, gls_fit_at
from mixedfx.lmm.deviance import deviance_from_factor, profiled_sigma
from mixedfx.lmm.fit import LmmFit, build_objective, lower_bounds
from mixedfx.lmm.solution import solve
from mixedfx.lmm.structured import StructuredDeviance, structured_fit_at
from mixedfx.loading.fields import MAX_NAGQ, Loader, structure_spec
from mixedfx.mmrm.design import build_design
from mixedfx.mmrm.fit import fit_mmrm_at
from mixedfx.mmrm.inference import METHODS, VCOVS, resolve
from mixedfx.mmrm.likelihood import NotPositiveDefiniteError
from mixedfx.mmrm.model import MmrmModel
from mixedfx.mmrm.structures import STRUCTURE_TABLE
from mixedfx.mmrm.terms import split_formula
from mixedfx.optimize.threads import blas_threads_for
from mixedfx.results.glmm_model import GeneralizedLinearMixedModel
from mixedfx.results.gls_model import GlsModel
from mixedfx.results.lmm_model import LinearMixedModel

# nlme's names of the stored structures -> their constructors
_VAR = {"varIdent": nlme_structures.var_ident, "varPower": nlme_structures.var_power,
        "varExp": nlme_structures.var_exp}
_COR = {"corAR1": nlme_structures.cor_ar1, "corCAR1": nlme_structures.cor_car1,
        "corCompSymm": nlme_structures.cor_comp_symm, "corSymm": nlme_structures.cor_symm}


def load_model(path: str | Path) -> Any:
    """Read a model written by `save` (see `mixedfx.fitted.saving`): every field validated,
    the checksum verified, the model rebuilt at the stored estimates. Any problem with the file
    raises `mixedfx.DataError` naming the field."""
    path = check_path(path)
    reader = None
    try:
        reader = ModelFileReader(path)
        return rebuild(reader)
    except MixedfxError:
        raise
    except Exception as exc:  # (whatever a damaged file provokes is the file's)
        raise DataError(f"model file {str(path)!r} cannot be loaded "
                        f"({type(exc).__name__}: {exc})") from None
    finally:
        if reader is not None and hasattr(reader, "zip"):
            reader.close()


# -- the model frame ------------------------------------------------------------------------
def _structures(ld: Loader) -> tuple[Any, Any]:
    spec = ld.meta.sub("residual", optional=True)
    if spec is None:
        return None, None
    spec.only({"weights", "correlation"})
    out = []
    for key, table in (("weights", _VAR), ("correlation", _COR)):
        s = structure_spec(spec, key, tuple(table))
        out.append(None if s is None else table[s[0]](s[1]))
    return out[0], out[1]


def _frame(ld: Loader, glm: bool, var_func: Any = None, cor: Any = None,
           structured: bool = False) -> Any:
    formula = ld.meta.text("formula")
    df, weights, offset = ld.data_frame()
    random = ld.kind in ("lmer", "glmer")
    if structured and weights is not None:
        raise ld.fail("field 'weights' is set, but a model with an nlme residual structure "
                      "has no prior weights (its weights= is the variance function)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the fit's warnings were given when it was fitted
        if structured:
            frame, residual = structured_frame(formula, df, var_func, cor, None, "omit",
                                               require_random=random)
        else:
            frame = build_model_frame(formula, df, weights=weights, glm=glm,
                                      require_random=random)
            residual = None
    if frame.n != ld.n:
        raise ld.fail(f"field 'nobs' is {ld.n} but the stored rows give a model frame of "
                      f"{frame.n} rows")
    if not random and frame.terms:
        raise ld.fail(f"field 'formula' has random-effects terms; a {ld.kind} model has none")
    frame.offset = offset          # the total offset (formula terms and offset=) as fitted
    frame.n_dropped = ld.meta.integer("n_dropped")
    frame.offset_column = ld.meta.text("offset_column", optional=True)
    return frame, residual


def rebuild(reader: ModelFileReader) -> Any:
    """The model stored in `reader`'s file (see the module docstring)."""
    ld = Loader(reader)
    data_name = ld.meta.text("data_name", optional=True)
    messages = ld.meta.texts("messages")
    try:
        model = _KINDS[ld.kind](ld, data_name, messages)
    except MixedfxError as exc:
        if str(exc).startswith("model file"):
            raise
        raise ld.fail(f"the stored data and settings do not rebuild the model: {exc}"
                      ) from None
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError,
            np.linalg.LinAlgError) as exc:
        raise ld.fail(f"the stored data and settings do not rebuild the model "
                      f"({type(exc).__name__}: {exc})") from None
    reader.verify()
    return model


def _lmer(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    reml = ld.meta.boolean("REML")
    control = ld.control()
    var_func, cor = _structures(ld)
    structured = ld.meta.raw("residual") is not None
    frame, residual = _frame(ld, False, var_func, cor, structured)
    theta = ld.theta(frame)
    ld.check_opt_keys({"stage1"})
    with blas_threads_for(dense_block_size(frame)):
        if structured:
            psi = ld.vector("psi", residual.n_params)
            opt = ld.optimization("stage1", "opt", len(theta) + len(psi))
            dev = StructuredDeviance(frame, reml, residual)
            fit = structured_fit_at(dev, theta, psi, opt, messages)
        else:
            opt = ld.optimization("stage1", "opt", len(theta))
            objective = build_objective(frame, reml)
            factor = objective.chol.factorize(theta, objective.release_workspace())
            if factor is None:
                raise ld.fail("field 'theta' does not give a positive definite system for "
                              "the stored data")
            n, p = objective.n, objective.p
            fit = LmmFit(chol=objective.chol, objective=objective, optimization=opt,
                         factor=factor, solution=solve(objective.chol, factor), theta=theta,
                         lower=lower_bounds(frame),
                         sigma=profiled_sigma(factor.pwrss, n, p, reml), reml=reml,
                         criterion=deviance_from_factor(factor, n, p, reml, objective.ldW),
                         messages=messages)
    ld.agree("beta", fit.solution.beta, ld.vector("beta", frame.X.shape[1]))
    ld.agree("criterion", fit.criterion, ld.meta.number("criterion"))
    # σ moves to first order with θ and ψ (the criterion is stationary in them)
    ld.agree("sigma", fit.sigma, ld.meta.number("sigma", positive=True))
    return LinearMixedModel(frame, fit, control, data_name=data_name, fitted_by=lmer)


def _gls(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    reml = ld.meta.boolean("REML")
    control = ld.control()
    var_func, cor = _structures(ld)
    if ld.meta.raw("residual") is None:
        raise ld.fail("field 'residual' is missing for a gls model")
    frame, residual = _frame(ld, False, var_func, cor, structured=True)
    psi = ld.vector("psi", residual.n_params)
    ld.check_opt_keys({"stage1"})
    opt = ld.optimization("stage1", "opt", len(psi))
    with blas_threads_for(frame.X.shape[1] + 1):
        fit = gls_fit_at(GlsCriterion(frame, reml, residual), psi, opt, messages)
    ld.agree("beta", fit.solution.beta, ld.vector("beta", frame.X.shape[1]))
    ld.agree("criterion", fit.criterion, ld.meta.number("criterion"))
    ld.agree("sigma", fit.sigma, ld.meta.number("sigma", positive=True))
    return GlsModel(frame, fit, control, data_name=data_name, fitted_by=gls)


def _family(ld: Loader) -> Any:
    name, link = ld.meta.text("family"), ld.meta.text("link")
    try:
        if name == "negative.binomial":
            return negative_binomial(ld.meta.number("nb_theta", positive=True), link)
        if ld.kind == "glmer" and ld.meta.raw("nb_theta") is not None:
            raise ld.fail("field 'nb_theta' is set for a family other than negative.binomial")
        family = family_from(name, link)
        if ld.kind == "glmer" and family.name == "gaussian" and family.link.name == "identity":
            raise ld.fail("fields 'family' / 'link' are gaussian / identity: that model is "
                          "an lmer, not a glmer")
        return family
    except MixedfxError as exc:
        if str(exc).startswith("model file"):
            raise
        raise ld.fail(f"fields 'family' / 'link' are not valid: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ld.fail(f"fields 'family' / 'link' are not valid: {exc}") from None


def _glmer(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    family = _family(ld)
    nagq = ld.meta.integer("nAGQ", 0, MAX_NAGQ)
    dispersion = ld.meta.number("dispersion", positive=True, optional=True)
    if dispersion is not None and (not family.has_dispersion or nagq != 1):
        raise ld.fail("field 'dispersion' (an ML dispersion) is set, but only Gamma and "
                      "inverse Gaussian fits with nAGQ = 1 have one")
    control = ld.control()
    frame, _ = _frame(ld, True)
    check_nagq(frame, nagq)
    theta = ld.theta(frame)
    p, nt = frame.X.shape[1], len(theta)
    beta = ld.vector("beta", p)
    u = [ld.r.read(f"u/{t}", (term.n_levels, term.k), "float")
         for t, term in enumerate(frame.terms)]
    if not all(np.all(np.isfinite(ut)) for ut in u):
        raise ld.fail("fields 'u/<t>' (conditional modes) have non-finite values")
    ld.check_opt_keys({"stage1", "stage2"})
    n_joint = nt + p + (dispersion is not None)
    stage1 = ld.optimization("stage1", "stage1", nt)
    if stage1 is None:
        raise ld.fail("field 'optimization.stage1' is missing")
    stage2 = ld.optimization("stage2", "stage2", n_joint)
    if (stage2 is None) != (nagq == 0):
        raise ld.fail("field 'optimization.stage2' must be stored exactly when nAGQ > 0")
    gradient = ld.vector("gradient", n_joint, False) if ld.meta.boolean("gradient") else None
    hessian = ld.matrix("hessian", n_joint) if ld.meta.boolean("hessian") else None
    if hessian is not None and not np.array_equal(hessian, hessian.T, equal_nan=True):
        raise ld.fail("field 'hessian' is not symmetric (a fit's Hessian is, by "
                      "construction)")
    resp = encode_response(frame.y, family, frame.weights)
    with blas_threads_for(dense_block_size(frame)), np.errstate(all="ignore"):
        pirls = Pirls(frame.X, frame.terms, family, resp, frame.offset)
        templates = ThetaTemplates(frame.terms)
        if dispersion is not None:
            state = pirls.evaluate(u, beta, templates(theta))
            objective: Any = DispersionObjective(pirls, templates, nt, state, resp)
            objective.set_phi(dispersion)
        eta = pirls.linear_predictor(u, beta, templates(theta))
        ld.agree("eta", eta, ld.vector("eta", frame.n))
        state = pirls.evaluate(u, beta, templates(theta), eta=ld.vector("eta", frame.n))
        state.templates = templates(theta)
        if dispersion is None:
            objective = GlmmObjective(pirls, templates, nt, nagq, state)
        else:
            objective.state = state
        value = objective.value_at(state, theta)
    stored = ld.meta.number("objective")
    ld.agree("objective", value, stored)
    # the fit's own value (PIRLS's last factor may lag the modes by a step: ≈1e-15 apart)
    fit = GlmmFit(theta=theta, beta=beta, lower=lower_bounds(frame), state=state,
                  objective_value=stored, nagq=nagq, stage1=stage1, stage2=stage2,
                  gradient=gradient, hessian=hessian, messages=messages, pirls=pirls,
                  objective=objective, dispersion=dispersion)
    return GeneralizedLinearMixedModel(frame, family, resp, fit, control,
                                       data_name=data_name, fitted_by=glmer)


def _baseline(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    call = ld.meta.text("call")
    glm = ld.kind == "glm"
    family = _family(ld) if glm else None
    frame, _ = _frame(ld, glm)
    beta = ld.vector("beta", frame.X.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if glm:
            resp = encode_response(frame.y, family, frame.weights)
            model = GeneralizedLinearModel(frame, family, resp, data_name, call)
        else:
            model = LinearModel(frame, data_name, call)
    ld.agree("beta", model.beta, beta)
    return model


def _mmrm(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    """An MMRM: the design rebuilt from the stored rows (formula, weights) through
    `mmrm.design.build_design`, the fit evaluated at the stored θ (`fit_mmrm_at`)."""
    if messages:
        raise ld.fail("field 'messages' must be empty for an mmrm model")
    if ld.meta.boolean("offset") or ld.meta.raw("offset_column") is not None:
        raise ld.fail("fields 'offset' / 'offset_column' are set; an mmrm model has no offset")
    reml = ld.meta.boolean("REML")
    method = ld.meta.text("method", choices=METHODS)
    vcov = ld.meta.text("vcov", choices=VCOVS)
    try:
        resolve(method, vcov, reml)
    except MixedfxError as exc:
        raise ld.fail(f"fields 'method' / 'vcov' / 'REML' do not go together: {exc}"
                      ) from None
    formula = ld.meta.text("formula")
    df, weights, _ = ld.data_frame()
    fixed, term = split_formula(formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the fit's warnings were given when it was fitted
        design = build_design(fixed, term, df, weights)
    if design.frame.n != ld.n:
        raise ld.fail(f"field 'nobs' is {ld.n} but the stored rows give a model frame of "
                      f"{design.frame.n} rows")
    n_subj = len(np.unique(design.subject_codes))
    design.n_subjects_data = ld.meta.integer("n_subjects_data", n_subj)
    design.frame.n_dropped = ld.meta.integer("n_dropped")
    k = design.n_groups * design_n_params(design)
    theta = ld.vector("theta", k)
    try:
        with blas_threads_for(design.frame.X.shape[1] + 1):
            fit = fit_mmrm_at(design, reml, theta)
    except NotPositiveDefiniteError:
        raise ld.fail("field 'theta' does not give positive definite covariance matrices "
                      "for the stored data") from None
    fit.n_evaluations = ld.meta.integer("evaluations")
    ld.agree("beta", fit.state.beta, ld.vector("beta", design.frame.X.shape[1]))
    ld.agree("criterion", fit.state.deviance, ld.meta.number("criterion"))
    return MmrmModel(formula, design, fit, method, vcov, data_name=data_name)


def design_n_params(design: Any) -> int:
    """Covariance parameters per group of an MMRM design."""
    return STRUCTURE_TABLE[design.term.structure].n_params(max(design.n_visits, 1))


_KINDS = {"lmer": _lmer, "gls": _gls, "glmer": _glmer, "lm": _baseline, "glm": _baseline,
          "mmrm": _mmrm}

