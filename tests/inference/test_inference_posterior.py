"""Posterior simulation (arm::sim), REsim, predictInterval and the ICC."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import fit_case

from mixedfx.inference.posterior import predict_interval, re_sim, sim
from mixedfx.inference.r2 import icc


def test_sim_moments_match_estimates() -> None:
    m = fit_case("sleepstudy_slope_reml").model
    s = sim(m, nsim=4000, seed=1)
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    assert np.all(np.abs(s.fixef.mean().to_numpy() - m.beta) < 4 * se / np.sqrt(4000))
    # σ* varies around σ̂, so SD(β*) ≈ SE √((n−p)/(n−p−2)) ≈ SE
    np.testing.assert_allclose(s.fixef.std(), se, rtol=0.05)
    assert np.mean(s.sigma) == pytest.approx(m.sigma, rel=0.02)
    b = m.ranef(condvar=True)["Subject"]
    arr = s.ranef["Subject"]
    assert arr.shape == (4000, 18, 2)
    np.testing.assert_allclose(arr.mean(axis=0), b.to_numpy(), atol=1.0)


def test_sim_is_reproducible() -> None:
    m = fit_case("penicillin_crossed_reml").model
    a, b = sim(m, 50, seed=9), sim(m, 50, seed=9)
    np.testing.assert_array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())
    for g in a.ranef:
        np.testing.assert_array_equal(a.ranef[g], b.ranef[g])


def test_re_sim_summary() -> None:
    m = fit_case("sleepstudy_slope_reml").model
    r = re_sim(m, nsim=3000, seed=2)
    assert list(r.columns) == ["groupFctr", "groupID", "term", "mean", "median", "sd"]
    assert len(r) == 36
    b = m.ranef(condvar=True)["Subject"]
    sd = b.attrs["condsd"]
    first = r[r["term"] == "(Intercept)"]
    np.testing.assert_allclose(first["mean"], b["(Intercept)"], atol=1.5)
    # posterior SD of b given θ̂ includes the β uncertainty: at least the conditional SD
    assert np.all(first["sd"].to_numpy() > 0.9 * sd["(Intercept)"].to_numpy())


def test_predict_interval() -> None:
    f = fit_case("sleepstudy_slope_reml")
    m = f.model
    pi = predict_interval(m, nsim=2000, seed=3)
    assert list(pi.columns) == ["fit", "upr", "lwr"]
    assert np.all(pi["lwr"] < pi["fit"]) and np.all(pi["fit"] < pi["upr"])
    np.testing.assert_allclose(pi["fit"], m.fitted(), atol=3.0)
    # 80 % interval with residual noise: width ≈ 2 × 1.2816 × √(σ² + conditional variance)
    w = (pi["upr"] - pi["lwr"]).to_numpy()
    assert np.all(w > 2 * 1.2 * m.sigma)
    again = predict_interval(m, nsim=2000, seed=3)
    np.testing.assert_array_equal(pi.to_numpy(), again.to_numpy())
    new = f.data.head(3).assign(Subject="999")
    pn = predict_interval(m, newdata=new, nsim=500, seed=4)
    np.testing.assert_allclose(pn["fit"], m.predict(new, re_form="NA"), atol=4.0)


def test_icc_intercept_model() -> None:
    m = fit_case("sleepstudy_intercept_reml").model
    r = icc(m)
    vc = m.varcorr
    tau = float(vc.loc[vc["grp"] == "Subject", "vcov"].iloc[0])
    assert r["ICC_adjusted"] == pytest.approx(tau / (tau + m.sigma**2), rel=1e-12)
    vf = float(np.var(m.frame.X @ m.beta, ddof=1))
    assert r["ICC_conditional"] == pytest.approx(tau / (tau + vf + m.sigma**2), rel=1e-12)


ICC_REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "icc.json")
                     .read_text())


@pytest.mark.parametrize("ref", ICC_REF, ids=lambda r: r["formula"])
def test_icc_matches_performance(ref: dict) -> None:
    """performance::icc values from tests/reference/extra/make_icc.R."""
    import mixedfx as mfx

    r = icc(mfx.lmer(ref["formula"], data=mfx.datasets.load(ref["data"])))
    assert r["ICC_adjusted"] == pytest.approx(ref["ICC_adjusted"], abs=1e-5)
    assert r["ICC_conditional"] == pytest.approx(ref["ICC_conditional"], abs=1e-5)
