"""Models with structured terms through the whole results API (ranef with conditional
variances, predict, simulate, summary, anova, bootstrap, Satterthwaite), and the refusals:
terms a structure makes no sense for, unknown structures, Kenward–Roger and profiles."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:
    from reference import structures as refs
except ImportError:  # tests/ not on the path (pytest's importlib mode)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from reference import structures as refs

import mixedfx as mfx
from mixedfx.formula import FormulaError


@pytest.fixture(scope="module")
def pastes() -> pd.DataFrame:
    return refs.data("Pastes")


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return refs.data("sleepstudy")


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize(("formula", "message"), [
    ("Reaction ~ Days + ar1(0 + Days | Subject)", "single factor variable"),
    ("Reaction ~ Days + ar1(fDays | Subject)", r"without an intercept: write ar1\(0 \+ f"),
    ("Reaction ~ Days + ar1(0 + fDays + Days | Subject)", "single factor variable"),
    ("Reaction ~ Days + cs(1 | Subject)", r"cs\(\) needs a term with at least 2 columns"),
    ("Reaction ~ Days + homcs(0 + Days | Subject)", "at least 2 columns"),
    ("Reaction ~ Days + toep(0 + Days | Subject)", "at least 2 columns"),
    ("Reaction ~ Days + hetar1(0 + fDays | Subject)", "unknown covariance structure 'hetar1'"),
    ("Reaction ~ Days + ar1(0 + fDays || Subject)", "ar1"),
])
def test_bad_terms_refused(sleep: pd.DataFrame, formula: str, message: str) -> None:
    with pytest.raises((ValueError, FormulaError), match=message):
        mfx.lmer(formula, sleep)


def test_re_covariances_contract(pastes: pd.DataFrame) -> None:
    m = quiet(mfx.lmer, "strength ~ 1 + ar1(0 + cask | batch) + (1 | batch)", pastes)
    covs = m.re_covariances()
    assert [c.structure for c in covs] == ["ar1", "us"]
    assert [c.group for c in covs] == ["batch", "batch.1"]
    c = covs[0]
    assert c.names == ["caska", "caskb", "caskc"]
    assert isinstance(c.cov, np.ndarray) and c.cov.shape == (3, 3)
    rho = c.corr[1, 0]
    np.testing.assert_allclose(c.corr[2, 0], rho**2)
    np.testing.assert_allclose(c.sd, np.sqrt(np.diag(c.cov)))
    # covariance on the data scale: σ² T Tᵀ
    T = m._templates()[0]
    np.testing.assert_allclose(c.cov, m.sigma**2 * T @ T.T)
    # varcorr keeps its frame contract: every variance and covariance, then Residual
    vc = m.varcorr
    assert list(vc.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert len(vc) == 3 + 3 + 1 + 1 and vc.grp.iloc[-1] == "Residual"
    assert m.theta_names == ["batch.caska", "batch.rho", "batch.(Intercept)"]
    assert m.parameter_names() == ["sd_caska|batch", "cor_caskb.caska|batch",
                                   "sd_(Intercept)|batch", "sigma"]


def test_summary_prints_like_glmmtmb(pastes: pd.DataFrame) -> None:
    ar1 = quiet(mfx.lmer, "strength ~ 1 + ar1(0 + cask | batch)", pastes)
    text = str(ar1.summary())
    block = text.split("Random effects:")[1].split("Number of obs")[0]
    rows = [r for r in block.splitlines() if r.strip()]
    assert len(rows) == 3                       # header, one ar1 row, Residual
    assert rows[1].split()[:2] == ["batch", "caska"] and rows[1].endswith("(ar1)")
    cs = quiet(mfx.lmer, "strength ~ 1 + cs(0 + cask | batch)", pastes)
    block = str(cs.summary()).split("Random effects:")[1].split("Number of obs")[0]
    rows = [r for r in block.splitlines() if r.strip()]
    assert len(rows) == 5 and rows[1].endswith("(cs)") and "(cs)" not in rows[2]
    diag = quiet(mfx.lmer, "strength ~ 1 + diag(0 + cask | batch)", pastes)
    block = str(diag.summary()).split("Random effects:")[1].split("Number of obs")[0]
    assert "Corr" not in block
    toep = quiet(mfx.lmer, "strength ~ 1 + toep(0 + cask | batch)", pastes)
    block = str(toep.summary()).split("Random effects:")[1].split("Number of obs")[0]
    assert "Corr" in block and "(" not in block.split("Corr")[1].replace("(Intercept)", "")


def test_results_api_on_structured_model(pastes: pd.DataFrame) -> None:
    m = quiet(mfx.lmer, "strength ~ 1 + cs(0 + cask | batch)", pastes, REML=False)
    re = m.ranef(condvar=True)["batch"]
    assert re.shape == (10, 3)
    cv = re.attrs["condvar"][0]
    assert cv.shape == (10, 3, 3) and np.all(np.linalg.eigvalsh(cv) > 0)
    # predictions: fitted values for the data, population level for a new batch
    new = pastes.iloc[:2].copy()
    np.testing.assert_allclose(m.predict(new), m.fitted()[:2])
    new["batch"] = "ZZ"
    np.testing.assert_allclose(m.predict(new, allow_new_levels=True), m.fixef.iloc[0])
    sims = m.simulate(4, seed=3)
    assert sims.shape == (60, 4)
    # nested structures: ar1 (2 parameters) within toep (5) within us (6)
    ar1 = quiet(mfx.lmer, "strength ~ 1 + ar1(0 + cask | batch)", pastes, REML=False)
    toep = quiet(mfx.lmer, "strength ~ 1 + toep(0 + cask | batch)", pastes, REML=False)
    us = quiet(mfx.lmer, "strength ~ 1 + (0 + cask | batch)", pastes, REML=False)
    assert ar1.loglik <= toep.loglik + 1e-6 <= us.loglik + 2e-6
    tab = quiet(mfx.anova, ar1, toep)
    assert list(tab["npar"]) == [4, 7]
    assert tab["Chisq"].iloc[1] == pytest.approx(2 * (toep.loglik - ar1.loglik), abs=1e-8)


def test_inference_on_structured_model(pastes: pd.DataFrame) -> None:
    m = quiet(mfx.lmer, "strength ~ 1 + diag(0 + cask | batch)", pastes)
    coefs = m.summary().coefficients
    assert np.all(np.isfinite(coefs["df"])) and coefs["df"].iloc[0] > 1
    kr = m.summary(ddf="Kenward-Roger").coefficients["df"]
    assert np.isfinite(kr.iloc[0]) and kr.iloc[0] > 1
    with pytest.raises(ValueError, match="likelihood profiles are not available"):
        m.confint()
    wald = m.confint(method="Wald")
    assert list(wald.index) == [*m.parameter_names(), "(Intercept)"]
    boot = quiet(m.bootstrap, nsim=3, seed=1)
    frame = boot.t if hasattr(boot, "t") else boot
    assert list(frame.columns)[:3] == ["sd_caska|batch", "sd_caskb|batch", "sd_caskc|batch"]


def test_glmm_structured_through_summary() -> None:
    d = refs.data("VerbAgg_120")
    m = quiet(mfx.glmer, "r2 ~ Anger + btype + ar1(0 + btype | id)", d, family="binomial")
    text = str(m.summary())
    assert "(ar1)" in text
    assert m.re_covariances()[0].structure == "ar1"
    assert m.simulate(1, seed=2).shape == (m.nobs, 1)


def test_ranova_keeps_structures(pastes: pd.DataFrame) -> None:
    """Reduced models keep the other terms' structures; a structured term is dropped whole."""
    m = quiet(mfx.lmer, "strength ~ 1 + ar1(0 + cask | batch) + (1 | batch)", pastes)
    tab = quiet(m.ranova)
    assert list(tab.index) == ["<none>", "ar1(0 + cask | batch)", "(1 | batch)"]
    only_ar1 = quiet(mfx.lmer, "strength ~ 1 + ar1(0 + cask | batch)", pastes)
    assert tab["logLik"].iloc[2] == pytest.approx(only_ar1.loglik, abs=1e-6)
    assert list(tab["npar"]) == [5, 3, 4]
