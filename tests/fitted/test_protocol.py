"""The fitted-model contract (mixedfx.fitted.protocol): every result class implements the
protocol of its kind, and the public members the features read agree with the model's own
user-facing results (ranef, fitted, VarCorr) and with their defining formulas."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx.fitted.protocol import (
    FIT_KINDS,
    FixedEffectsFit,
    GeneralizedMixedFit,
    GlsFit,
    LinearMixedFit,
    MixedFit,
    MmrmFit,
)


@pytest.fixture(scope="module")
def lmm():
    return mfx.lmer("Reaction ~ Days + (Days | Subject)", mfx.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def glmm():
    d = mfx.datasets.load("cbpp")
    return mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
                     family="binomial")


def test_each_fit_implements_the_protocol_of_its_kind(lmm, glmm):
    sl = mfx.datasets.load("sleepstudy")
    orth = mfx.datasets.load("Orthodont")
    orth["Subject"] = orth["Subject"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {
            "lmer": (lmm, LinearMixedFit),
            "glmer": (glmm, GeneralizedMixedFit),
            "gls": (mfx.gls("distance ~ Sex + age", orth,
                            correlation=mfx.cor_ar1("~ 1 | Subject")), GlsFit),
            "lm": (mfx.lm("Reaction ~ Days", sl), FixedEffectsFit),
            "glm": (mfx.glm("cbind(incidence, size - incidence) ~ period",
                            mfx.datasets.load("cbpp"), family="binomial"), FixedEffectsFit),
            "mmrm": (mfx.mmrm("FEV1 ~ ARMCD + us(AVISIT | USUBJID)",
                              mfx.datasets.load("fev_data")), MmrmFit),
        }
    assert set(fits) == set(FIT_KINDS)
    for kind, (fit, protocol) in fits.items():
        assert fit.kind == kind
        assert isinstance(fit, protocol), kind
    # the mixed protocols are not claimed by the fixed-effects-only fits
    assert not isinstance(fits["lm"][0], MixedFit)
    assert not isinstance(fits["gls"][0], MixedFit)


def test_random_effects_are_the_templates_times_the_spherical_modes(lmm, glmm):
    for m in (lmm, glmm):
        for b, u, T in zip(m.random_effects, m.u, m.templates, strict=True):
            np.testing.assert_allclose(b, u @ T.T, rtol=1e-12, atol=1e-12)
        re = m.ranef(condvar=True)
        for t, b, cv in zip(m.frame.terms, m.random_effects, m.conditional_variances(),
                            strict=True):
            np.testing.assert_allclose(re[t.group_name][list(t.term_names)].to_numpy(), b)
            sd = re[t.group_name].attrs["condsd"][list(t.term_names)].to_numpy()
            np.testing.assert_allclose(np.sqrt(np.diagonal(cv, axis1=1, axis2=2)), sd)


def test_templates_give_the_variance_components(lmm):
    # Σ = σ² T Tᵀ: the Subject block of VarCorr (SDs and correlation)
    (T,) = lmm.templates
    S = lmm.re_scale**2 * (T @ T.T)
    vc = lmm.re_covariances()[0]
    np.testing.assert_allclose(S, vc.cov, rtol=1e-12)
    sds = dict(lmm.variance_parameters())
    assert sds["sd_(Intercept)|Subject"] == pytest.approx(np.sqrt(S[0, 0]), rel=1e-12)
    assert sds["cor_Days.(Intercept)|Subject"] == pytest.approx(
        S[0, 1] / np.sqrt(S[0, 0] * S[1, 1]), rel=1e-12)
    assert lmm.has_scale and lmm.re_scale == lmm.sigma


def test_linear_predictor_is_the_fitted_values(lmm, glmm):
    np.testing.assert_allclose(lmm.linear_predictor(), lmm.fitted().to_numpy(), rtol=1e-12)
    fixed = lmm.frame.X @ lmm.beta
    np.testing.assert_allclose(lmm.linear_predictor(set()), fixed, rtol=1e-12)
    np.testing.assert_allclose(lmm.linear_predictor_new(None, "NA", False), fixed, rtol=1e-12)
    mu = glmm.family.link.linkinv(glmm.linear_predictor())
    np.testing.assert_allclose(mu, glmm.fitted().to_numpy(), rtol=1e-10)


def test_glmm_response_and_working_weights(glmm):
    # binomial with the canonical logit: W = wt μ(1 − μ), wt the number of trials
    d = mfx.datasets.load("cbpp")
    np.testing.assert_allclose(glmm.response.wt, d["size"].to_numpy(dtype=float))
    np.testing.assert_allclose(glmm.response.y, (d["incidence"] / d["size"]).to_numpy())
    mu = glmm.pirls_state.mu
    np.testing.assert_allclose(glmm.working_weights, glmm.response.wt * mu * (1 - mu),
                               rtol=1e-12)
    assert not glmm.has_scale and glmm.residual_structure is None


def test_engine_fit_is_the_fit_the_model_reports(lmm):
    fit = lmm.engine_fit
    np.testing.assert_array_equal(fit.theta, lmm.theta)
    assert fit.objective.at(lmm.theta, reml=True) == pytest.approx(lmm.deviance, rel=1e-12)
    assert lmm.control is not None and lmm.residual_structure is None


FEATURES = ("inference", "tidy", "plots", "effects", "diagnostics", "fitted")


def test_features_touch_no_private_attribute():
    """The features read fits through the contract: no `x._name` on anything but `self` /
    `cls` (dunders aside) anywhere in the feature packages or the contract itself."""
    root = Path(mfx.__file__).parent
    found = []
    for pkg in FEATURES:
        for path in sorted((root / pkg).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                        and not (node.attr.startswith("__") and node.attr.endswith("__")) \
                        and not (isinstance(node.value, ast.Name)
                                 and node.value.id in ("self", "cls")):
                    found.append(f"{pkg}/{path.name}:{node.lineno} .{node.attr}")
    assert found == []
