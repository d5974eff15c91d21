"""Tidy frames against broom.mixed 0.2.9.4 (tests/reference/extra/make_tidy.R -> tidy.json).

LMM numbers agree to optimizer precision; GLMM numbers to the documented difference between
our Laplace optimum and lme4's (rtol 3e-3; Cook's distance 5e-2 on rows with leverage near 1,
where (1 − h)⁻² magnifies it).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "tidy.json").read_text())


@cache
def lmm(reml: bool = True, random: str = "(Days | Subject)"):
    return mfx.lmer(f"Reaction ~ Days + {random}", mfx.datasets.load("sleepstudy"), REML=reml)


@cache
def glmm():
    return mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     mfx.datasets.load("cbpp"), family="binomial")


# Satterthwaite df are derivatives at the optimum: lmerTest takes them where lme4's optimizer
# stopped (sleepstudy: 16.99973), mixedfx at the Newton-polished optimum (17.000002); the
# reference README's tolerance for df is 1e-3 relative. A p-value far in the t tail moves
# with the df (1.6e-5 in the df is 6e-4 in a p-value of 1e-17).
COLUMN_RTOL = {"df": 1e-3, "p.value": 2e-3}


def compare(got: pd.DataFrame, key: str, rtol: float, atol: float = 0.0) -> None:
    ref = pd.DataFrame(REF[key])
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for c in ref.columns:
        if not (pd.api.types.is_numeric_dtype(ref[c]) or ref[c].isna().all()) \
                or got[c].dtype == object:
            r = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                 for v in ref[c]]
            assert [None if v is None else str(v) for v in got[c]] == r, c
        else:
            np.testing.assert_allclose(got[c].to_numpy(dtype=float),
                                       ref[c].to_numpy(dtype=float),
                                       rtol=max(rtol, COLUMN_RTOL.get(c, 0.0)), atol=atol,
                                       err_msg=c)


def test_lmm_tidy_wald_matches_lmertest_broom():
    compare(lmm().tidy(conf_int=True), "lmm_tidy_wald", rtol=1e-5)
    compare(lmm().tidy(effects="fixed", conf_int=True, conf_level=0.9), "lmm_tidy_wald90",
            rtol=1e-5)


def test_lmm_tidy_profile_matches_lme4():
    compare(lmm().tidy(conf_int=True, conf_method="profile", ddf=None), "lmm_tidy_profile",
            rtol=1e-4)


def test_lmm_ran_vals_and_coefs():
    compare(lmm().tidy(effects="ran_vals", conf_int=True), "lmm_ran_vals", rtol=1e-5,
            atol=1e-6)
    compare(lmm().tidy(effects="ran_coefs"), "lmm_ran_coefs", rtol=1e-6)


def test_glance():
    compare(lmm().glance(), "lmm_glance", rtol=1e-8)
    compare(lmm(reml=False).glance(), "lmm_ml_glance", rtol=1e-5)
    compare(glmm().glance(), "glmm_glance", rtol=1e-4)


def test_lmm_augment():
    a = lmm().augment()
    ref = pd.DataFrame(REF["lmm_augment"])
    assert list(a.columns) == list(ref.columns)
    for c in ref.columns[3:]:
        np.testing.assert_allclose(a[c], ref[c], rtol=1e-6, atol=1e-7, err_msg=c)


def test_glmm_tidy_and_augment():
    compare(glmm().tidy(conf_int=True), "glmm_tidy", rtol=3e-3, atol=1e-3)
    compare(glmm().tidy(effects="fixed", conf_int=True, exponentiate=True), "glmm_tidy_exp",
            rtol=3e-3, atol=1e-3)
    compare(glmm().tidy(effects="ran_vals"), "glmm_ran_vals", rtol=5e-3, atol=2e-3)
    a = glmm().augment()
    ref = pd.DataFrame(REF["glmm_augment"])
    for c in ref.columns[2:]:
        tol = 5e-2 if c == ".cooksd" else 3e-3
        np.testing.assert_allclose(a[c], ref[c], rtol=tol, atol=1e-3, err_msg=c)


def test_augment_newdata():
    nd = pd.DataFrame({"Days": [0, 9], "Subject": ["308", "309"]})
    a = lmm().augment(newdata=nd)
    np.testing.assert_allclose(a[".fitted"], lmm().predict(nd))
    np.testing.assert_allclose(a[".fixed"], lmm().fixef.iloc[0] + lmm().fixef.iloc[1] * nd.Days)


def test_aic_table_matches_r():
    ms = [lmm(False, "(1 | Subject)"), lmm(False), lmm(True, "(1 | Subject)"), lmm()]
    t = mfx.aic_table(*ms, names=["m1ml", "mml", "m1", "m"])
    ref = REF["aic_table"]
    assert list(t.index) == ref["model"]
    assert list(t["df"]) == ref["df"]
    np.testing.assert_allclose(t["AIC"], ref["AIC"], rtol=1e-8)
    np.testing.assert_allclose(t["BIC"], ref["BIC"], rtol=1e-8)
    d = np.array(ref["AIC"]) - min(ref["AIC"])
    np.testing.assert_allclose(t["weight"], np.exp(-d / 2) / np.exp(-d / 2).sum(), rtol=1e-6)
    assert abs(t["weight"].sum() - 1) < 1e-12


def test_bad_input():
    with pytest.raises(ValueError, match="unknown effect"):
        lmm().tidy(effects="random")
    with pytest.raises(ValueError, match="conf_method"):
        lmm().tidy(conf_int=True, conf_method="bayes")
    with pytest.raises(ValueError, match="only Wald"):
        lmm().tidy(effects="ran_vals", conf_int=True, conf_method="profile")
    with pytest.raises(TypeError, match="unexpected keyword"):
        lmm().tidy(nsim=10)
    with pytest.raises(ValueError, match="same number of observations"):
        ss = mfx.datasets.load("sleepstudy")
        mfx.aic_table(lmm(), mfx.lmer("Reaction ~ Days + (1 | Subject)", ss.iloc[:100]))
    with pytest.raises(TypeError, match="fitted models"):
        mfx.aic_table(lmm(), "m2")


def test_baseline_tidy_and_glance_match_broom():
    ss = mfx.datasets.load("sleepstudy")
    lm = mfx.lm("Reaction ~ Days", ss)
    compare(lm.tidy(conf_int=True), "lm_tidy", rtol=1e-9)
    compare(lm.glance(), "lm_glance", rtol=1e-9)
    gl = mfx.glm("cbind(incidence, size - incidence) ~ period", mfx.datasets.load("cbpp"),
                 family="binomial")
    compare(gl.tidy(), "glm_tidy", rtol=1e-8)
    compare(gl.glance(), "glm_glance", rtol=1e-9)


def test_ddf_refused_for_glmm():
    with pytest.raises(ValueError, match="ddf applies to linear mixed models"):
        glmm().tidy(ddf="Kenward-Roger")


def test_boot_intervals_are_confint_boot():
    m = lmm(True, "(1 | Subject)")
    t = m.tidy(conf_int=True, conf_method="boot", nsim=30, seed=5)
    ci = m.confint(method="boot", nsim=30, seed=5)
    np.testing.assert_allclose(t["conf.low"], ci["lower"].loc[
        [*m.fixef.index, *m.parameter_names()]].to_numpy())
    assert np.all(t["conf.low"] < t["estimate"]) and np.all(t["estimate"] < t["conf.high"])


def test_weighted_lmm_augment():
    ss = mfx.datasets.load("sleepstudy")
    ss["w"] = 1 + (ss.Days % 3) / 2
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", ss, weights="w")
    a, ref = m.augment(), pd.DataFrame(REF["lmm_weighted_augment"])
    # the weighted fit agrees with lme4's to ~1e-5 (fitted values within 3e-3)
    tol = {".hat": (1e-4, 0), ".cooksd": (3e-3, 1e-6), ".weights": (0, 0)}
    for c in ref.columns:
        rtol, atol = tol.get(c, (0, 5e-3))
        np.testing.assert_allclose(a[c], ref[c], rtol=rtol, atol=atol, err_msg=c)
