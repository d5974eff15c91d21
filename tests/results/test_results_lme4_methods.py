"""R conveniences of fitted models against lme4 1.1-31 / performance 0.10.2
(tests/reference/extra/make_conveniences.R -> conveniences.json): partial re.form
predictions, confint(parm=, oldNames=TRUE), VarCorr printing, rePCA, update with dots,
getME pieces, GLMM icc, sim / re_sim / predict_interval for GLMMs, notebook display."""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mixedfx as mfx
from mixedfx import inference

REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "conveniences.json")
                 .read_text())
ND = pd.DataFrame({"Days": [0, 9, 9, 4], "Subject": ["308", "308", "309", "372"]})


@cache
def lmm():
    return mfx.lmer("Reaction ~ Days + (Days | Subject)", mfx.datasets.load("sleepstudy"))


@cache
def glmm():
    return mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     mfx.datasets.load("cbpp"), family="binomial")


def test_partial_re_form_uses_only_named_columns():
    m = lmm()
    np.testing.assert_allclose(m.predict(ND, re_form="~(1 | Subject)"),
                               REF["pred_re_intercept"], rtol=1e-9)
    np.testing.assert_allclose(m.predict(ND, re_form="~(0 + Days | Subject)"),
                               REF["pred_re_slope"], rtol=1e-9)
    np.testing.assert_allclose(m.predict(ND), REF["pred_full"], rtol=1e-9)
    np.testing.assert_allclose(m.predict(re_form="~(1 | Subject)")[:12],
                               REF["fitted_re_intercept_head"], rtol=1e-9)
    with pytest.raises(ValueError, match="does not have"):
        m.predict(ND, re_form="~(1 + log(Days + 1) | Subject)")


def test_confint_parm_and_old_names():
    m = lmm()
    e = REF["confint_wald_old"]
    w = m.confint(method="Wald", old_names=True)
    assert list(w.index) == e["rows"] and list(w.columns) == e["cols"]
    np.testing.assert_allclose(w.iloc[4:, 0], e["lower"][4:], rtol=1e-9)
    assert w.iloc[:4].isna().all().all()
    w90 = m.confint(method="Wald", level=0.9, parm="beta_", old_names=True)
    e = REF["confint_wald90_beta"]
    assert list(w90.index) == e["rows"] and list(w90.columns) == e["cols"]
    np.testing.assert_allclose(w90.iloc[:, 0], e["lower"], rtol=1e-9)
    e = REF["confint_profile_parm"]
    p = m.confint(parm=[".sig01", "Days"], old_names=True)
    assert list(p.index) == e["rows"]
    np.testing.assert_allclose(p.iloc[:, 0], e["lower"], rtol=1e-4)
    np.testing.assert_allclose(p.iloc[:, 1], e["upper"], rtol=1e-4)
    e = REF["confint_profile_pos"]                   # R's parm = 2:3 is [1, 2] here
    p = m.confint(parm=[1, 2])
    assert list(p.index) == ["cor_Days.(Intercept)|Subject", "sd_Days|Subject"]
    np.testing.assert_allclose(p["lower"], e["lower"], rtol=1e-4)
    with pytest.raises(ValueError, match="unknown parameter"):
        m.confint(method="Wald", parm="sd_Dayz|Subject")
    with pytest.raises(ValueError, match="out of range"):
        m.confint(method="Wald", parm=[9])


@pytest.mark.slow
def test_confint_profile_theta_old_names():
    e = REF["confint_profile_theta_old"]
    p = lmm().confint(parm="theta_", old_names=True)
    assert list(p.index) == e["rows"]
    np.testing.assert_allclose(p.iloc[:, 0], e["lower"], rtol=1e-4)


def test_varcorr_print_matches_lme4():
    m = lmm()
    assert str(m.varcorr_table()).split("\n") == REF["varcorr_print"]
    assert str(m.varcorr_table(comp=("Variance", "Std.Dev."))).split("\n") == \
        REF["varcorr_print_both"]
    assert str(m.varcorr_table(comp="Variance")).split("\n") == REF["varcorr_print_var"]
    mc = mfx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mfx.datasets.load("Penicillin"))
    got = str(mc.varcorr_table(comp=("Variance", "Std.Dev."))).split("\n")
    ref = REF["varcorr_print_crossed"]      # lme4 stops 1e-4 short of this optimum (flat)
    assert got[0] == ref[0] and [len(x) for x in got] == [len(x) for x in ref]
    for a, b in zip(got[1:], ref[1:], strict=True):
        assert a.split()[:-2] == b.split()[:-2]
        np.testing.assert_allclose([float(v) for v in a.split()[-2:]],
                                   [float(v) for v in b.split()[-2:]], rtol=2e-4)
    with pytest.raises(ValueError, match="comp"):
        m.varcorr_table(comp=("SD",))


def test_re_pca():
    r = lmm().re_pca()["Subject"]
    np.testing.assert_allclose(r.to_numpy(), REF["repca"]["Subject"]["importance"], rtol=1e-5,
                               atol=1e-7)


def test_update_with_dots():
    m = lmm()
    e = REF["update_drop_days"]
    mu = m.update(". ~ . - Days")
    assert mu.formula == e["formula"]
    np.testing.assert_allclose(mu.fixef, [e["fixef"]], rtol=1e-6)
    np.testing.assert_allclose(mu.deviance, e["deviance"], rtol=1e-8)
    e = REF["update_add_ml"]
    mu = m.update(". ~ . + I(Days^2)", REML=False)
    assert mu.formula == e["formula"] and not mu.REML
    np.testing.assert_allclose(mu.fixef, e["fixef"], rtol=1e-5)
    np.testing.assert_allclose(mu.loglik, e["loglik"], rtol=1e-8)
    e = REF["update_lhs"]
    mu = m.update("log(.) ~ .")
    assert mu.formula == e["formula"]
    np.testing.assert_allclose(mu.fixef, e["fixef"], rtol=1e-5)
    with pytest.raises(ValueError, match="drop the response"):
        m.update("NULL ~ .")
    with pytest.raises(TypeError, match="unexpected argument"):
        m.update(". ~ .", nAGQ=2)
    g = glmm().update(". ~ . - period")
    assert g.formula == "cbind(incidence, size - incidence) ~ (1 | herd)"
    assert g.family.name == "binomial"


def test_update_refits_through_the_fitting_function():
    """`update` calls the function that fitted the model (`fitted_by`, kept by refits); a
    model built without one says so."""
    m = lmm()
    assert m.fitted_by is mfx.lmer and glmm().fitted_by is mfx.glmer
    assert m.refit_ml().fitted_by is mfx.lmer
    assert m.update(REML=False).fitted_by is mfx.lmer
    bare = type(m)(m.frame, m._fit, m._control)
    with pytest.raises(mfx.MixedfxError, match="needs the function that fitted the model"):
        bare.update(". ~ . - Days")


def test_getme_pieces():
    m, e = lmm(), REF["getme"]
    Z = m.Z
    assert sp.issparse(Z) and list(Z.shape) == e["Z_dim"]
    assert Z.sum() == e["Z_sum"] and Z.nnz == e["Z_nnz"]
    np.testing.assert_allclose(m.Lambda.diagonal()[:4], e["Lambda_diag_head"], rtol=1e-6)
    np.testing.assert_allclose(m.Lambdat[0, 1], e["Lambdat_21"], rtol=1e-5)
    np.testing.assert_allclose(m.getME("u")[:4], e["u_head"], rtol=1e-6)
    np.testing.assert_allclose(m.getME("b")[:4], e["b_head"], rtol=1e-6)
    assert m.cnms == e["cnms"] and list(m.X.columns) == e["X_cols"]
    np.testing.assert_allclose(Z @ m.getME("b"), m.fitted() - m.X.to_numpy() @ m.beta)
    assert list(m.flist["Subject"].categories[:2]) == ["308", "309"]
    assert list(m.model_frame().columns) == ["Reaction", "Days", "Subject"]
    with pytest.raises(ValueError, match="unknown getME name"):
        m.getME("Ztlist2")


def test_glmm_icc_matches_performance():
    i = inference.icc(glmm())
    e = REF["icc_glmm"]
    np.testing.assert_allclose([i["ICC_adjusted"], i["ICC_conditional"]],
                               [e["ICC_adjusted"], e["ICC_conditional"]], rtol=2e-3)
    ss = mfx.datasets.load("sleepstudy")
    ss["y"] = (ss.Reaction > 300).astype(int)
    g2 = mfx.glmer("y ~ Days + (1 | Subject)", ss, family="binomial", link="probit")
    i2, e2 = inference.icc(g2), REF["icc_glmm_probit"]
    np.testing.assert_allclose([i2["ICC_adjusted"], i2["ICC_conditional"]],
                               [e2["ICC_adjusted"], e2["ICC_conditional"]], rtol=5e-3)
    gp = mfx.glmer("TICKS ~ YEAR + (1 | BROOD)", mfx.datasets.load("grouseticks"),
                   family="poisson")
    with pytest.warns(UserWarning, match="too close to zero"):    # Poisson: now available
        ip = inference.icc(gp)
    assert 0 < ip["ICC_conditional"] < ip["ICC_adjusted"] < 1


def test_glmm_simulation_helpers():
    g = glmm()
    s = inference.sim(g, nsim=400, seed=2)
    assert s.fixef.shape == (400, 4) and s.ranef["herd"].shape == (400, 15, 1)
    assert np.all(np.isnan(s.sigma))                  # arm: NA for GLMMs
    # arm draws (u, β) jointly from the penalized information at the PIRLS weights: the β
    # margin is (R_XᵀR_X)⁻¹, the b margin at least the conditional variance
    se = np.sqrt(np.diag(g._rx_vcov))
    np.testing.assert_allclose(s.fixef.std(ddof=1), se, rtol=0.15)
    r = inference.re_sim(g, nsim=400, seed=3)
    re = g.ranef(condvar=True)["herd"]
    np.testing.assert_allclose(r["mean"], re["(Intercept)"], atol=0.12)
    assert np.all(r["sd"].to_numpy() > 0.85 * re.attrs["condsd"]["(Intercept)"].to_numpy())
    pi = inference.predict_interval(g, nsim=500, seed=4, type="probability")
    assert np.all((pi["lwr"] < pi["fit"]) & (pi["fit"] < pi["upr"]))
    assert np.all((pi["lwr"] > 0) & (pi["upr"] < 1))
    np.testing.assert_allclose(pi["fit"], g.fitted(), rtol=0.2)
    with pytest.raises(ValueError, match="type"):
        inference.predict_interval(g, type="odds")


def test_summary_without_correlation_and_html():
    m = lmm()
    assert "Correlation of Fixed Effects" in str(m.summary())
    assert "Correlation of Fixed Effects" not in str(m.summary(correlation=False))
    assert "Correlation of Fixed Effects" not in str(glmm().summary(correlation=False))
    for model in (m, glmm()):         # fitted models: the summary's tables (test_html.py)
        assert "<caption>Fixed effects</caption>" in model._repr_html_()
    for obj in (m.summary(), glmm().summary(), m.varcorr_table(),
                mfx.anova(m, m.update(". ~ . - Days")), mfx.lm("Reaction ~ Days", m.model_frame()),
                mfx.lm("Reaction ~ Days", m.model_frame()).summary()):
        out = obj._repr_html_()
        text = repr(obj) if hasattr(obj, "fixef") else str(obj)
        assert out == f"<pre>{html.escape(text)}</pre>"
