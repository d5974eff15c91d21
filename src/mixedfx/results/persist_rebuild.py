"""Rebuilding a saved model (`results.persist`): validate the fields, rebuild the model frame
from the stored rows through the code a fit uses, check every stored array's shape against
the rebuilt structure before reading it, evaluate the engine at the stored estimates (the
same `*_fit_at` functions a fit ends with), and check the rebuilt β and criterion against the
stored ones.

Agreement is tested to RTOL: the rebuilt numbers are the stored estimates run through the
same deterministic evaluation, equal to the last bits on the machine that saved them and to
rounding (≈1e-12 relative) elsewhere; a tampered value moves them by far more.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import MixedfxError
from mixedfx.results.model_file import ModelFileReader
from mixedfx.results.persist_fields import (
    MAX_NAGQ,
    Fields,
    column_specs,
    opt_record,
    structure_spec,
)

RTOL = 1e-7
_COMMON = {"format", "version", "mixedfx_version", "kind", "formula", "nobs", "columns",
           "data_name", "n_dropped", "offset_column", "weights", "offset", "messages"}
_KIND_FIELDS = {
    "lmer": {"control", "REML", "criterion", "residual", "optimization"},
    "gls": {"control", "REML", "criterion", "residual", "optimization"},
    "glmer": {"control", "family", "link", "nb_theta", "nAGQ", "objective", "dispersion",
              "gradient", "hessian", "optimization"},
    "lm": {"call"},
    "glm": {"call", "family", "link"},
}
_VAR = {"varIdent": "var_ident", "varPower": "var_power", "varExp": "var_exp"}
_COR = {"corAR1": "cor_ar1", "corCAR1": "cor_car1", "corCompSymm": "cor_comp_symm",
        "corSymm": "cor_symm"}


class Loader:
    """One model file being rebuilt: the reader, the validated header and what is read."""

    def __init__(self, reader: ModelFileReader) -> None:
        from mixedfx.results.persist import FORMAT, FORMAT_VERSION, KINDS

        self.r = reader
        self.fail = reader.fail
        meta = Fields(reader.meta(), "", self.fail)
        if meta.data.get("format") != FORMAT:
            raise self.fail(f"is not a mixedfx model file (field 'format' is "
                            f"{meta.data.get('format')!r}, expected {FORMAT!r})")
        version = meta.integer("version", 1, 2**31)
        if version > FORMAT_VERSION:
            raise self.fail(f"has format version {version}; this mixedfx reads versions up "
                            f"to {FORMAT_VERSION} (upgrade mixedfx)")
        if version < FORMAT_VERSION:
            raise self.fail(f"has format version {version}, written by an older mixedfx "
                            f"before files were checksummed; refit and save again (this "
                            f"mixedfx reads version {FORMAT_VERSION})")
        self.kind = meta.text("kind", choices=KINDS)
        meta.only(_COMMON | _KIND_FIELDS[self.kind])
        meta.text("mixedfx_version")
        self.meta = meta
        self.n = meta.integer("nobs", 1)

    # -- arrays ------------------------------------------------------------------------------
    def vector(self, name: str, length: int | None, finite: bool = True) -> np.ndarray:
        arr = self.r.read(name, (length,), "float")
        if finite and not np.all(np.isfinite(arr)):
            raise self.fail(f"field {name!r} has non-finite values (NaN or infinite)")
        return arr

    def matrix(self, name: str, size: int) -> np.ndarray:
        return self.r.read(name, (size, size), "float")

    def data_frame(self) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
        """The stored rows as a DataFrame, prior weights and total offset."""
        data = {}
        for i, c in enumerate(column_specs(self.meta, self.n)):
            kind = {"category": "int"}.get(c["kind"], c["kind"])
            arr = self.r.read(f"col/{i}", (self.n,), kind, f"col/{i} ({c['name']})")
            if c["kind"] == "category":
                if np.any(arr < -1) or np.any(arr >= len(c["categories"])):
                    raise self.fail(f"field 'col/{i}' ({c['name']}) has category codes "
                                    f"outside [-1, {len(c['categories'])})")
                data[c["name"]] = pd.Categorical.from_codes(
                    arr, categories=pd.Index(c["categories"], dtype=object
                                             if any(isinstance(v, str) for v in
                                                    c["categories"]) else None),
                    ordered=c["ordered"])
            elif c["kind"] == "str":
                data[c["name"]] = pd.Series(arr.tolist(), dtype=object)
            else:
                data[c["name"]] = arr
        weights = offset = None
        if self.meta.boolean("weights"):
            weights = self.vector("weights", self.n)
            if np.any(weights < 0):
                raise self.fail("field 'weights' has negative prior weights")
        if self.meta.boolean("offset"):
            offset = self.vector("offset", self.n)
        return pd.DataFrame(data), weights, offset

    def control(self) -> Any:
        from mixedfx.optimize import Control

        raw = self.meta.sub("control")
        try:
            return Control.from_user(dict(raw.data))
        except (TypeError, ValueError) as exc:
            raise self.fail(f"field 'control' is not valid: {exc}") from None

    def optimization(self, key: str, prefix: str, length: int) -> Any:
        from mixedfx.optimize import OptimizationResult

        rec = opt_record(self.meta.sub("optimization"), key)
        if rec is None:
            return None
        x = self.vector(f"{prefix}/x", length, finite=False)
        g = self.vector(f"{prefix}/gradient", length, False) if rec["gradient"] else None
        H = self.matrix(f"{prefix}/hessian", length) if rec["hessian"] else None
        return OptimizationResult(x=x, fun=rec["fun"], evaluations=rec["evaluations"],
                                  optimizer=rec["optimizer"], return_code=rec["return_code"],
                                  converged=rec["converged"], gradient=g, hessian=H,
                                  messages=rec["messages"])

    def check_opt_keys(self, allowed: set[str]) -> None:
        self.meta.sub("optimization").only(allowed)

    def agree(self, what: str, rebuilt: Any, stored: Any) -> None:
        """The rebuilt value equals the stored one (to RTOL, see the module docstring)."""
        a, b = np.asarray(rebuilt, dtype=float), np.asarray(stored, dtype=float)
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=RTOL * scale):
            raise self.fail(f"field {what!r} does not match the model rebuilt from the stored "
                            "data and estimates: the file is corrupted or was edited")

    def theta(self, frame: Any) -> np.ndarray:
        from mixedfx.lmm.fit import lower_bounds, upper_bounds

        lower, upper = lower_bounds(frame), upper_bounds(frame)
        theta = self.vector("theta", len(lower))
        if np.any(theta < lower) or np.any(theta > upper):
            raise self.fail("field 'theta' lies outside the parameter's bounds for this "
                            "model's random-effects terms")
        return theta


# -- the model frame ------------------------------------------------------------------------
def _structures(ld: Loader) -> tuple[Any, Any]:
    import mixedfx.residual as res

    spec = ld.meta.sub("residual", optional=True)
    if spec is None:
        return None, None
    spec.only({"weights", "correlation"})
    out = []
    for key, table in (("weights", _VAR), ("correlation", _COR)):
        s = structure_spec(spec, key, tuple(table))
        out.append(None if s is None else getattr(res, table[s[0]])(s[1]))
    return out[0], out[1]


def _frame(ld: Loader, glm: bool, var_func: Any = None, cor: Any = None,
           structured: bool = False) -> Any:
    from mixedfx.fitters import fitter
    from mixedfx.frame.model_frame import build_model_frame

    formula = ld.meta.text("formula")
    df, weights, offset = ld.data_frame()
    random = ld.kind in ("lmer", "glmer")
    if structured and weights is not None:
        raise ld.fail("field 'weights' is set, but a model with an nlme residual structure "
                      "has no prior weights (its weights= is the variance function)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the fit's warnings were given when it was fitted
        if structured:
            frame, residual = fitter("structured_frame")(
                formula, df, var_func, cor, None, "omit", require_random=random)
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
    from mixedfx.lmm.deviance import deviance_from_factor
    from mixedfx.lmm.fit import LmmFit, build_objective, lower_bounds
    from mixedfx.lmm.solution import solve
    from mixedfx.lmm.structured import StructuredDeviance, structured_fit_at
    from mixedfx.optimize.threads import blas_threads_for
    from mixedfx.results.lmm_model import LinearMixedModel

    reml = ld.meta.boolean("REML")
    control = ld.control()
    var_func, cor = _structures(ld)
    structured = ld.meta.raw("residual") is not None
    frame, residual = _frame(ld, False, var_func, cor, structured)
    theta = ld.theta(frame)
    ld.check_opt_keys({"stage1"})
    dense = sum(t.q for t in frame.terms[1:]) + frame.X.shape[1] + 1
    with blas_threads_for(dense):
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
                         sigma=math.sqrt(factor.pwrss / (n - p if reml else n)), reml=reml,
                         criterion=deviance_from_factor(factor, n, p, reml, objective.ldW),
                         messages=messages)
    ld.agree("beta", fit.solution.beta, ld.vector("beta", frame.X.shape[1]))
    ld.agree("criterion", fit.criterion, ld.meta.number("criterion"))
    return LinearMixedModel(frame, fit, control, data_name=data_name)


def _gls(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    from mixedfx.gls_engine.fit import GlsCriterion, gls_fit_at
    from mixedfx.optimize.threads import blas_threads_for
    from mixedfx.results.gls_model import GlsModel

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
    return GlsModel(frame, fit, control, data_name=data_name)


def _family(ld: Loader) -> Any:
    from mixedfx.families import family_from, negative_binomial

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
    from mixedfx.glmm.fit import GlmmFit, ThetaTemplates, check_nagq
    from mixedfx.glmm.objective import GlmmObjective
    from mixedfx.glmm.pirls import Pirls
    from mixedfx.glmm.response import encode_response
    from mixedfx.lmm.fit import lower_bounds
    from mixedfx.optimize.threads import blas_threads_for
    from mixedfx.results.glmm_model import GeneralizedLinearMixedModel

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
    dense = sum(t.q for t in frame.terms[1:]) + p + 1
    with blas_threads_for(dense), np.errstate(all="ignore"):
        pirls = Pirls(frame.X, frame.terms, family, resp, frame.offset)
        templates = ThetaTemplates(frame.terms)
        if dispersion is not None:
            from mixedfx.glmm.dispersion import DispersionObjective

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
                                       data_name=data_name)


def _baseline(ld: Loader, data_name: str | None, messages: list[str]) -> Any:
    from mixedfx.baseline import GeneralizedLinearModel, LinearModel
    from mixedfx.glmm.response import encode_response

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


_KINDS = {"lmer": _lmer, "gls": _gls, "glmer": _glmer, "lm": _baseline, "glm": _baseline}

