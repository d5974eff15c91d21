"""hatvalues, cooks.distance, influence, VIF and Wald prediction SEs against lme4 /
performance (tests/reference/extra/make_diagnostics.R -> diagnostics.json)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "diagnostics.json")
                 .read_text())


def _fit(key: str):
    r = REF[key]
    data = mfx.datasets.load(r["data"])
    if key == "cbpp":
        return mfx.glmer(r["formula"], data, family="binomial")
    return mfx.lmer(r["formula"], data)


@pytest.fixture(scope="module")
def models():
    return {k: _fit(k) for k in ("sleepstudy", "orthodont", "penicillin", "cbpp")}


# LMMs agree with lme4 to the optimizer's precision; the cbpp GLMM's estimates differ from
# lme4's in the 4th digit (mixedfx reaches a slightly higher likelihood), and so do its hat
# values and Cook's distances.
TOL = {"sleepstudy": 1e-6, "orthodont": 1e-6, "penicillin": 1e-5, "cbpp": 2e-3}


@pytest.mark.parametrize("key", ["sleepstudy", "orthodont", "penicillin", "cbpp"])
def test_hatvalues_and_cooks(models, key):
    m, r = models[key], REF[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = m.hatvalues()
    np.testing.assert_allclose(h, r["hat"], rtol=TOL[key], atol=TOL[key] * 1e-2)
    c = m.cooks_distance()
    scale = np.max(np.abs(r["cooks"]))
    assert np.max(np.abs(c - r["cooks"])) <= 50 * TOL[key] * scale


def test_glmm_hatvalues_warn(models):
    with pytest.warns(UserWarning, match="may not make sense"):
        models["cbpp"].hatvalues()


def test_hatvalues_sum_to_trace():
    # trace of the LMM hat matrix: the effective number of parameters, p ≤ tr(H) ≤ p + q
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", mfx.datasets.load("sleepstudy"))
    tr = m.hatvalues().sum()
    assert 2 < tr < 2 + 36


@pytest.mark.parametrize("key", ["sleepstudy", "orthodont", "cbpp"])
def test_influence(models, key):
    m, ri = models[key], REF[key]["influence"]
    inf = m.influence(groups=ri["groups"])
    assert inf.deleted == ri["deleted"]
    assert list(inf.var_cov_comps.index) == list(ri["vc"])
    tol = TOL[key]
    fd = np.array(ri["fixed_deleted"])
    np.testing.assert_allclose(inf.fixed_effects_deleted.to_numpy(), fd,
                               rtol=max(tol, 1e-5), atol=1e-6)
    vd = np.array(ri["vc_deleted"])
    scale = np.max(np.abs(vd), axis=0)
    # variance components of the refits: the deviance is flat in them, and two BOBYQA runs
    # (lme4's and ours) stop within ~1e-3 relative of each other
    assert np.max(np.abs(inf.var_cov_comps_deleted.to_numpy() - vd) / scale) < 2e-3
    np.testing.assert_allclose(inf.cooks_distance().to_numpy(), ri["cooks"],
                               rtol=max(tol, 1e-5))
    # dfbetas = (β̂ − β̂₍ᵢ₎) / SE₍ᵢ₎: each refit's β̂₍ᵢ₎ is found to the optimizer's tolerance
    # (~1e-6 relative), i.e. ~4e-5 in these units for sleepstudy's intercept (251, SE 6.8)
    np.testing.assert_allclose(inf.dfbetas().to_numpy(), np.array(ri["dfbetas"]),
                               atol=max(tol, 5e-5))


def test_influence_refuses_unknown_group(models):
    with pytest.raises(ValueError, match="not in the model frame"):
        models["sleepstudy"].influence(groups="nope")
    with pytest.raises(ValueError, match="maxfun"):
        models["sleepstudy"].influence(groups="Subject", maxfun=0)


@pytest.mark.filterwarnings("ignore::mixedfx.ConvergenceWarning")
def test_vif_matches_performance():
    r = REF["orthodont_vif"]
    m = mfx.lmer(r["formula"], mfx.datasets.load(r["data"]))
    v = m.vif()
    assert list(v["Term"]) == r["Term"]
    np.testing.assert_allclose(v["VIF"], r["VIF"], rtol=1e-5)
    np.testing.assert_allclose(v["VIF_CI_low"], r["VIF_CI_low"], rtol=1e-5)
    np.testing.assert_allclose(v["VIF_CI_high"], r["VIF_CI_high"], rtol=1e-5)


def test_predict_se_lmm(models):
    m, r = models["sleepstudy"], REF["sleepstudy"]
    nd = pd.DataFrame({"Days": np.arange(10), "Subject": "308"})
    plain = m.predict(nd)
    assert isinstance(plain, pd.Series) and plain.index.equals(nd.index)
    fx = m.predict(nd, re_form="NA", se_fit=True)
    full = m.predict(nd, se_fit=True, interval="confidence", level=0.9)
    assert list(full.columns) == ["fit", "se_fit", "lower", "upper"]
    np.testing.assert_allclose(fx["fit"], r["pred_fixed"]["eta"], rtol=1e-6)
    np.testing.assert_allclose(fx["se_fit"], r["pred_fixed"]["se"], rtol=1e-5)
    np.testing.assert_allclose(full["fit"], r["pred_full"]["eta"], rtol=1e-6)
    z = 1.6448536269514722
    np.testing.assert_allclose(full["upper"] - full["fit"], z * full["se_fit"], rtol=1e-12)
    np.testing.assert_allclose(full["fit"], plain, rtol=1e-12)


def test_predict_se_glmm_response_scale(models):
    m, r = models["cbpp"], REF["cbpp"]
    nd = pd.DataFrame({"period": ["1", "2", "3", "4"], "herd": "1"})
    link = m.predict(nd, se_fit=True)
    resp = m.predict(nd, type="response", se_fit=True)
    np.testing.assert_allclose(link["fit"], r["pred_link"]["eta"], rtol=2e-3)
    np.testing.assert_allclose(link["se_fit"], r["pred_link"]["se"], rtol=2e-3)
    np.testing.assert_allclose(resp["fit"], r["pred_response"]["mu"], rtol=2e-3)
    mu = resp["fit"].to_numpy()
    # delta method: se(μ) = μ(1 − μ) se(η) for the logit link; interval: inverse link of
    # the link-scale interval
    np.testing.assert_allclose(resp["se_fit"], mu * (1 - mu) * link["se_fit"], rtol=1e-12)
    np.testing.assert_allclose(resp["lower"], 1 / (1 + np.exp(-link["lower"])), rtol=1e-12)


def test_predict_refuses_bad_interval(models):
    with pytest.raises(ValueError, match="interval"):
        models["sleepstudy"].predict(interval="prediction")
    with pytest.raises(ValueError, match="level"):
        models["sleepstudy"].predict(se_fit=True, level=1.5)


def test_influence_case_deletion_default():
    m = mfx.lmer("Yield ~ 1 + (1 | Batch)", mfx.datasets.load("Dyestuff"))
    inf = m.influence()
    assert inf.groups == "case"
    assert inf.deleted == [str(i) for i in range(1, 31)]
    # deleting one row: the refit's intercept equals a fit on the data without that row
    d = mfx.datasets.load("Dyestuff").drop(index=4).reset_index(drop=True)
    m5 = mfx.lmer("Yield ~ 1 + (1 | Batch)", d)
    assert inf.fixed_effects_deleted.loc["5", "(Intercept)"] == pytest.approx(
        m5.fixef["(Intercept)"], rel=1e-7)
    np.testing.assert_allclose(inf.dfbeta().loc["5"], m5.fixef - m.fixef, rtol=1e-6)
