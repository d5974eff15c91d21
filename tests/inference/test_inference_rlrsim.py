"""Simulated (restricted) likelihood-ratio tests for one variance component (RLRsim)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import fit_case

import mixedfx as mfx
from mixedfx.inference.rlrsim import exact_lrt, exact_rlrt, simulate_null


@pytest.fixture(scope="module")
def sleep() -> dict[str, object]:
    d = mfx.datasets.load("sleepstudy")
    d["Dc"] = d["Days"] - 4.5
    return {
        "mA": mfx.lmer("Reaction ~ Dc + (1 | Subject) + (0 + Dc | Subject)", d),
        "m0": mfx.lmer("Reaction ~ Dc + (1 | Subject)", d),
        "slope": mfx.lmer("Reaction ~ Dc + (0 + Dc | Subject)", d),
    }


def test_exact_rlrt_three_model_form(sleep: dict) -> None:
    """Statistic 2 (ℓ_R(mA) − ℓ_R(m0)) = 32.91624 (lme4 1.1-31)."""
    r = exact_rlrt(sleep["slope"], sleep["mA"], sleep["m0"], seed=1, nsim=2000)
    assert r.statistic == pytest.approx(32.91624, abs=1e-4)
    assert r.p_value == 0.0
    again = exact_rlrt(sleep["slope"], sleep["mA"], sleep["m0"], seed=1, nsim=2000)
    np.testing.assert_array_equal(r.sample, again.sample)


def test_exact_rlrt_single_component() -> None:
    m = fit_case("dyestuff_reml").model
    r = exact_rlrt(m, seed=2, nsim=3000)
    from mixedfx.inference.anova import lm_loglik

    ll0, _ = lm_loglik(m, reml=True)
    assert r.statistic == pytest.approx(2 * (m.loglik - ll0), rel=1e-8)
    assert 0 < r.p_value < 0.05


def test_null_distribution_near_chi2_mixture() -> None:
    """With many balanced groups the RLRT null is close to ½χ²₀ + ½χ²₁ (Self & Liang): at
    least half the mass at 0 (finite-sample excess) and a 95 % quantile near 2.7."""
    mu = np.ones(50)
    mu[-1] = 0.0
    s = simulate_null(mu / mu.max(), n=500, p=1, nsim=20_000, seed=3)
    assert 0.5 <= np.mean(s == 0) <= 0.7
    assert 1.8 < np.quantile(s, 0.95) < stats.chi2.ppf(0.90, 1) + 0.2


def test_exact_lrt_orthodont() -> None:
    """2 (ℓ(lmer ML) − ℓ(lm)) = 52.04456 (R) for the Sex:age and subject-intercept test."""
    d = mfx.datasets.load("Orthodont")
    d["a11"] = d["age"] - 11
    m = mfx.lmer("distance ~ Sex * a11 + (1 | Subject)", d, REML=False)
    r = exact_lrt(m, "distance ~ Sex + a11", seed=4, nsim=2000)
    assert r.statistic == pytest.approx(52.04456, abs=1e-4)
    assert r.p_value == 0.0
    assert np.all(r.sample >= 0)


def test_rlrt_needs_single_scalar_term(sleep: dict) -> None:
    with pytest.raises(ValueError, match="exactly one random-effects term"):
        exact_rlrt(sleep["mA"])
