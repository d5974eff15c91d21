"""Simulated (restricted) likelihood-ratio tests for one variance component (RLRsim)."""

from __future__ import annotations

import json
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


_PRINT_REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "extra"
                         / "rlrsim_print" / "rlrsim_print.json").read_text())


@pytest.fixture(scope="module")
def sleep_intercept() -> dict[str, object]:
    d = mfx.datasets.load("sleepstudy")
    return {"reml": mfx.lmer("Reaction ~ Days + (1 | Subject)", d),
            "ml": mfx.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)}


def test_rlrt_prints_as_rlrsim(sleep_intercept: dict) -> None:
    """print(exactRLRT(m, nsim = 1000)): no simulated value beats 107.2, so R's print.htest
    writes `p-value < 2.2e-16`; the layout (tab-indented method, `data:` line) is R's."""
    r = exact_rlrt(sleep_intercept["reml"], seed=1, nsim=1000)
    assert r.statistic == pytest.approx(_PRINT_REF["rlrt_statistic"], rel=1e-7)
    assert r.p_value == _PRINT_REF["rlrt_p"] == 0
    assert repr(r) == _PRINT_REF["rlrt_print"]


def test_lrt_prints_as_rlrsim(sleep_intercept: dict) -> None:
    """exactLRT(m_ML, lm(Reaction ~ 1)): statistic 166.97, wrapped method line as R's."""
    r = exact_lrt(sleep_intercept["ml"], "Reaction ~ 1", seed=1, nsim=1000)
    assert r.statistic == pytest.approx(_PRINT_REF["lrt_ml_statistic"], rel=1e-7)
    assert repr(r) == _PRINT_REF["lrt_ml_print"]


def test_lrt_on_reml_fit_warns_as_rlrsim(sleep_intercept: dict) -> None:
    """RLRsim evaluates the ML likelihood at the REML estimates and says to refit by ML."""
    with pytest.warns(UserWarning, match="likelihood evaluated at REML estimators") as rec:
        r = exact_lrt(sleep_intercept["reml"], "Reaction ~ 1", seed=1, nsim=200)
    assert any("refit" in str(w.message) for w in rec)
    assert r.statistic == pytest.approx(_PRINT_REF["lrt_reml_statistic"], rel=1e-7)
    assert "Please refit" in _PRINT_REF["lrt_reml_messages"][1]


def test_lrt_without_fixed_restrictions_says_reml_preferable(sleep_intercept: dict) -> None:
    with pytest.warns(UserWarning, match="REML-based inference preferable"):
        exact_lrt(sleep_intercept["ml"], seed=1, nsim=200)


def test_nonzero_p_prints_with_equals() -> None:
    from mixedfx.inference.rlrsim import SimulatedTest

    t = SimulatedTest(statistic=1.5, p_value=0.0123, method="m", sample=np.zeros(3))
    assert repr(t).endswith("RLRT = 1.5, p-value = 0.0123\n")
