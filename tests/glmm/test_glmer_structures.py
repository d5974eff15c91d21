"""glmer with structured covariance terms and with the ML dispersion, against glmmTMB 1.1.5
(tests/reference/extra/make_structures_tmb.R): a diag and an ar1 term in a binomial GLMM
(VerbAgg, first 120 respondents) and Gamma GLMMs (log and inverse links, and a diag term)
whose dispersion glmmTMB estimates by maximum likelihood."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

try:
    from reference import structures as refs
except ImportError:  # tests/ not on the path (pytest's importlib mode)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from reference import structures as refs

import mixedfx as mfx

GLMM_IDS = sorted(i for i, f in refs.fits().items() if f["family"] != "gaussian")
_FITS: dict[str, object] = {}


def fit(fid: str):
    if fid not in _FITS:
        f = refs.fits()[fid]
        fam = mfx.families.Gamma(link=f["link"]) if f["family"] == "Gamma" else f["family"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[fid] = mfx.glmer(f["formula"], refs.data(f["data"]), family=fam)
    return _FITS[fid], refs.fits()[fid]


@pytest.mark.parametrize("fid", GLMM_IDS)
def test_glmm_matches_glmmtmb(fid: str) -> None:
    m, f = fit(fid)
    assert m.nobs == f["nobs"]
    assert m.npar == f["df"]
    assert m.loglik == pytest.approx(f["loglik"], abs=1e-3)
    np.testing.assert_allclose(m.fixef.to_numpy(), list(f["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov.to_numpy())),
                               list(f["fixef_se"].values()), rtol=1e-3)
    assert m.sigma == pytest.approx(f["sigma"], rel=1e-3)
    ours = m.re_covariances()
    for comp in f["varcorr"]:
        c = next(c for c in ours if c.names == comp["terms"])
        assert c.structure == comp["structure"]
        np.testing.assert_allclose(c.sd, comp["sd"], rtol=1e-3)
        np.testing.assert_allclose(c.corr, np.asarray(comp["corr"]), atol=1e-3)
    for group, ref in f["ranef"].items():
        got = m.ranef()[group].loc[ref["levels"], ref["terms"]].to_numpy()
        np.testing.assert_allclose(got, np.asarray(ref["values"]), atol=1e-3)


def test_ml_dispersion_is_the_default_and_differs_from_lme4() -> None:
    m, _ = fit("gamma_log_ml")
    d = refs.data("gamma_sim")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lme4 = mfx.glmer("y ~ x + (1 | g)", d, family=mfx.families.Gamma(link="log"),
                         dispersion="lme4")
    assert m.dispersion_method == "ML" and lme4.dispersion_method == "lme4"
    # lme4's φ (from the residuals) and its random-effect SD differ from the ML ones
    assert m.sigma != pytest.approx(lme4.sigma, rel=1e-2)
    assert m.re_covariances()[0].sd[0] != pytest.approx(lme4.re_covariances()[0].sd[0],
                                                        rel=1e-2)
    text = str(m.summary())
    assert "Dispersion estimated by maximum likelihood" in text
    assert "Dispersion estimated" not in str(lme4.summary())
    assert m.to_dict()["dispersion"] == "ML"
    assert mfx.glmer("r2 ~ Anger + (1 | id)", refs.data("VerbAgg_120"),
                     family="binomial").dispersion_method == "none"


def test_ml_dispersion_results_api() -> None:
    m, _ = fit("gamma_log_ml")
    # random-effect covariance on the link scale (θ absolute), not scaled by σ
    T = m._templates()[0]
    assert m.re_covariances()[0].cov[0, 0] == pytest.approx(T[0, 0] ** 2)
    re = m.ranef(condvar=True)["g"]
    assert np.all(re.attrs["condsd"].to_numpy() > 0)
    sims = m.simulate(3, seed=1)
    assert sims.shape == (m.nobs, 3) and np.all(sims > 0)
    refit = m.refit(sims[:, 0])
    assert refit.dispersion_method == "ML"
    assert np.isfinite(refit.loglik)
    assert list(m.parameter_names()) == ["sd_(Intercept)|g", "sigma"]


def test_bad_dispersion_arguments() -> None:
    d = refs.data("gamma_sim")
    gam = mfx.families.Gamma(link="log")
    with pytest.raises(ValueError, match="dispersion must be 'ML'"):
        mfx.glmer("y ~ x + (1 | g)", d, family=gam, dispersion="REML")
    with pytest.raises(ValueError, match="nAGQ=1"):
        mfx.glmer("y ~ x + (1 | g)", d, family=gam, nAGQ=5)


def test_nagq_refused_with_structured_term() -> None:
    d = refs.data("VerbAgg_120")
    with pytest.raises(ValueError, match=r"structured covariance term|single, scalar"):
        mfx.glmer("r2 ~ Anger + diag(0 + btype | id)", d, family="binomial", nAGQ=3)
    with pytest.raises(ValueError, match="structured covariance term"):
        mfx.glmer("r2 ~ Anger + diag(1 | id)", d, family="binomial", nAGQ=3)


def test_ml_dispersion_deviance_is_unscaled() -> None:
    """deviance() is Σ dev.resids with the prior weights, whatever φ̂ PIRLS ran at."""
    m, _ = fit("gamma_log_ml")
    mu = m.fitted()
    y = refs.data("gamma_sim").y.to_numpy()
    dev = float(np.sum(m.family.dev_resids(y, mu, np.ones_like(y))))
    assert m.deviance == pytest.approx(dev, rel=1e-10)


def test_inverse_gaussian_ml_dispersion_recovers_simulation() -> None:
    """No glmmTMB reference (1.1.5 has no inverse-Gaussian family): simulated data with
    dispersion 0.05 and random-intercept SD 0.3 on the log scale; the estimates land near the
    truth and the objective is stationary in log φ at the optimum."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(40), 10)
    x = np.tile(np.linspace(0, 1, 10), 40)
    mu = np.exp(0.5 + 0.4 * x + rng.normal(0, 0.3, 40)[g])
    y = rng.wald(mu, 1 / 0.05 * np.ones_like(mu))
    import pandas as pd

    d = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g.astype(str))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer("y ~ x + (1 | g)", d, family="inverse_gaussian", link="log")
    assert m.dispersion_method == "ML"
    assert m.sigma**2 == pytest.approx(0.05, rel=0.25)
    assert m.re_covariances()[0].sd[0] == pytest.approx(0.3, rel=0.35)
    assert m.fixef["x"] == pytest.approx(0.4, abs=0.15)
    obj = m._fit.objective
    x0 = np.concatenate([m.theta, m.beta, [np.log(m.sigma**2)]])
    h = 1e-4
    up, down = x0.copy(), x0.copy()
    up[-1] += h
    down[-1] -= h
    assert abs(obj(up) - obj(down)) / (2 * h) < 1e-2
    obj(x0)
