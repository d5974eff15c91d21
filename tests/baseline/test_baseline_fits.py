"""mixedfx.lm / mixedfx.glm against R 4.2.2's lm / glm (tests/reference/extra/make_baseline.R
-> baseline.json): coefficients, vcov, tests, likelihood, predictions, printed summaries."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

EXTRA = Path(__file__).parents[1] / "reference" / "extra"


def unbox(x):
    """R's toJSON writes scalars as one-element arrays."""
    if isinstance(x, dict):
        return {k: unbox(v) for k, v in x.items()}
    if isinstance(x, list) and len(x) == 1 and not isinstance(x[0], (list, dict)):
        return x[0]
    return x


REF = unbox(json.loads((EXTRA / "baseline.json").read_text()))


def sleep() -> pd.DataFrame:
    ss = mfx.datasets.load("sleepstudy")
    ss["w"] = 1 + (ss.Days % 3) / 2
    ss["phase"] = pd.Categorical(np.where(ss.Days <= 4, "early", "late"),
                                 categories=["early", "late"])
    return ss


@cache
def fits() -> dict:
    ss = sleep()
    gs = pd.read_csv(EXTRA / "gamma_sim.csv")
    return {
        "lm_simple": mfx.lm("Reaction ~ Days", mfx.datasets.load("sleepstudy")),
        "lm_weighted": mfx.lm("Reaction ~ Days * phase", ss, weights="w"),
        "glm_binomial": mfx.glm("cbind(incidence, size - incidence) ~ period",
                                mfx.datasets.load("cbpp"), family="binomial"),
        "glm_poisson": mfx.glm("TICKS ~ YEAR + cHEIGHT", mfx.datasets.load("grouseticks"),
                               family="poisson"),
        "glm_gamma": mfx.glm("y ~ x", gs, family=mfx.families.Gamma(link="log")),
    }


def printed_body(text: str) -> list[str]:
    """Lines from the residuals block on (the Call line names R's variables)."""
    lines = text.split("\n")
    start = next(i for i, s in enumerate(lines) if "Residuals" in s)
    body = lines[start:]
    while body and body[-1] == "":
        body.pop()
    return body


@pytest.mark.parametrize("key", ["lm_simple", "lm_weighted"])
def test_lm_matches_r(key):
    m, e = fits()[key], REF[key]
    np.testing.assert_allclose(m.fixef.to_numpy(), list(e["coef"].values()), rtol=1e-10)
    assert list(m.fixef.index) == list(e["coef"])
    np.testing.assert_allclose(m.vcov.to_numpy(), e["vcov"], rtol=1e-9)
    cm = m.summary().coefficients
    for col in ("Std. Error", "t value", "Pr(>|t|)"):
        np.testing.assert_allclose(cm[col], e["coefmat"][col], rtol=1e-8)
    np.testing.assert_allclose([m.sigma, m.r_squared, m.adj_r_squared], [
        e["sigma"], e["r_squared"], e["adj_r_squared"]], rtol=1e-10)
    np.testing.assert_allclose(m.fstatistic, e["fstatistic"], rtol=1e-10)
    np.testing.assert_allclose([m.loglik, m.loglik_at(reml=True), m.aic, m.bic],
                               [e["loglik"], e["loglik_reml"], e["aic"], e["bic"]], rtol=1e-11)
    assert m.df_residual == e["df_residual"] and m.nobs == e["nobs"]
    np.testing.assert_allclose(m.fitted()[:8], e["fitted_head"], rtol=1e-11)
    np.testing.assert_allclose(m.residuals()[:8], e["resid_head"], rtol=1e-9)
    nd = pd.DataFrame({"Days": [0, 4.5, 9], "phase": ["early", "early", "late"]})
    p = m.predict(nd, se_fit=True, interval="confidence")
    np.testing.assert_allclose(p["fit"], e["pred_fit"], rtol=1e-11)
    np.testing.assert_allclose(p["se.fit"], e["pred_se"], rtol=1e-9)
    np.testing.assert_allclose(p["lwr"], e["pred_lwr"], rtol=1e-9)
    np.testing.assert_allclose(p["upr"], e["pred_upr"], rtol=1e-9)
    pi = m.predict(nd, interval="prediction", level=0.9)
    np.testing.assert_allclose(pi["lwr"], e["pi90_lwr"], rtol=1e-9)
    np.testing.assert_allclose(pi["upr"], e["pi90_upr"], rtol=1e-9)
    ci = m.confint()
    np.testing.assert_allclose(ci["lower"], e["confint"]["2.5 %"], rtol=1e-9)
    np.testing.assert_allclose(ci["upper"], e["confint"]["97.5 %"], rtol=1e-9)
    assert printed_body(str(m.summary())) == printed_body("\n".join(e["printed"]))


@pytest.mark.parametrize("key", ["glm_binomial", "glm_poisson", "glm_gamma"])
def test_glm_matches_r(key):
    m, e = fits()[key], REF[key]
    assert list(m.fixef.index) == list(e["coef"])
    np.testing.assert_allclose(m.fixef.to_numpy(), list(e["coef"].values()), rtol=1e-9)
    np.testing.assert_allclose(m.vcov.to_numpy(), e["vcov"], rtol=1e-8)
    cm = m.summary().coefficients
    for j in range(1, 4):
        np.testing.assert_allclose(cm.iloc[:, j], list(e["coefmat"].values())[j], rtol=1e-8)
    assert list(cm.columns) == list(e["coefmat"])
    np.testing.assert_allclose(
        [m.dispersion, m.deviance, m.null_deviance, m.aic, m.bic, m.loglik],
        [e["dispersion"], e["deviance"], e["null_deviance"], e["aic"], e["bic"], e["loglik"]],
        rtol=1e-10)
    assert (m.df_null, m.df_residual, m.iterations, m.nobs) == (
        e["df_null"], e["df_residual"], e["iter"], e["nobs"])
    np.testing.assert_allclose(m.fitted()[:8], e["fitted_head"], rtol=1e-10)
    for t in ("deviance", "pearson", "working", "response"):
        np.testing.assert_allclose(m.residuals(t)[:8], e[f"resid_{t}_head"], rtol=1e-8,
                                   atol=1e-12)
    ci = m.confint()
    np.testing.assert_allclose(ci["lower"], e["confint_wald"]["2.5 %"], rtol=1e-9)
    assert printed_body(str(m.summary())) == printed_body("\n".join(e["printed"]))


def test_anova_lmer_against_lm_matches_lme4():
    ss = mfx.datasets.load("sleepstudy")
    m = mfx.lmer("Reaction ~ Days + (1 | Subject)", ss)
    t = mfx.anova(m, mfx.lm("Reaction ~ Days", ss), model_names=["m", "l"])
    e = REF["anova_lmer_lm"]
    assert list(t.index) == e["rows"]
    np.testing.assert_allclose(t["npar"], e["npar"])
    np.testing.assert_allclose(t["logLik"], e["logLik"], rtol=1e-8)
    np.testing.assert_allclose(t["AIC"], e["AIC"], rtol=1e-8)
    np.testing.assert_allclose(t["Chisq"].iloc[1], e["Chisq"][1], rtol=1e-6)
    np.testing.assert_allclose(t["Pr(>Chisq)"].iloc[1], e["p"][1], rtol=1e-4)


def test_glm_predict_response_scale_and_se():
    m = fits()["glm_binomial"]
    nd = pd.DataFrame({"period": ["1", "4"]})
    p = m.predict(nd, type="response", se_fit=True)
    eta = m.predict(nd, se_fit=True)
    mu = 1 / (1 + np.exp(-eta["fit"]))
    np.testing.assert_allclose(p["fit"], mu)
    np.testing.assert_allclose(p["se.fit"], eta["se.fit"] * mu * (1 - mu))


def test_bad_input():
    ss = mfx.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match="no random-effects terms"):
        mfx.lm("Reaction ~ Days + (1 | Subject)", ss)
    with pytest.raises(ValueError, match="interval"):
        fits()["lm_simple"].predict(ss, interval="tolerance")
    with pytest.raises(ValueError, match="Wald"):
        fits()["lm_simple"].confint(method="profile")
    with pytest.raises(ValueError, match="family"):
        mfx.glm("Reaction ~ Days", ss, family="binomail")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            mfx.glm("Reaction ~ Days", ss, family="poisson")


def test_exact_lrt_with_lm_null_model():
    """RLRsim's exactLRT(m, m0 = lm(...)): statistic 52.04456 in R (Orthodont)."""
    from mixedfx.inference import exact_lrt

    d = mfx.datasets.load("Orthodont")
    d["a11"] = d["age"] - 11
    m = mfx.lmer("distance ~ Sex * a11 + (1 | Subject)", d, REML=False)
    r = exact_lrt(m, m0=mfx.lm("distance ~ Sex + a11", d), seed=4, nsim=500)
    assert r.statistic == pytest.approx(52.04456, abs=1e-4)
    with pytest.raises(TypeError, match="m0 must be"):
        exact_lrt(m, m0=m)
