"""Parametric bootstrap (bootMer) and bootstrap intervals."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import fit_case

from mixedfx.inference.bootstrap import boot_interval, norm_inter

X = np.array([3.1, 0.4, 2.2, 5.9, 1.7, 4.4, 2.8, 0.9, 3.6, 1.1, 2.5, 4.8, 0.2, 3.3, 2.0, 1.4,
              3.9, 2.7, 0.6, 5.1])


def test_norm_inter_matches_boot() -> None:
    """boot:::norm.inter and boot:::basic.ci (boot 1.3-28) on a fixed sample."""
    np.testing.assert_allclose(norm_inter(X, np.array([0.025, 0.975])), [0.2, 5.9])
    np.testing.assert_allclose(norm_inter(X, np.array([0.1, 0.9])),
                               [0.422864250717285, 5.065703623924072], rtol=1e-12)
    np.testing.assert_allclose(boot_interval(X, 2.5, 0.9, "basic"),
                               [-0.847580644164152, 4.78689516104104], rtol=1e-12)


def test_bootstrap_is_reproducible_and_parallel_safe() -> None:
    m = fit_case("sleepstudy_slope_reml").model
    a = m.bootstrap(nsim=6, seed=11)
    b = m.bootstrap(nsim=6, seed=11)
    c = m.bootstrap(nsim=6, seed=11, n_jobs=2)
    d = m.bootstrap(nsim=6, seed=12)
    np.testing.assert_array_equal(a.t.to_numpy(), b.t.to_numpy())
    np.testing.assert_allclose(a.t.to_numpy(), c.t.to_numpy(), rtol=1e-10)
    assert not np.allclose(a.t.to_numpy(), d.t.to_numpy())
    assert list(a.t.columns) == [*m.parameter_names(), *m.fixef.index]
    assert a.t.shape == (6, 6) and a.n_failed == 0
    np.testing.assert_allclose(a.t0[m.fixef.index], m.beta)


def test_bootstrap_custom_function_and_lambda_in_workers() -> None:
    m = fit_case("dyestuff_reml").model
    r = m.bootstrap(lambda fit: {"sigma": fit.sigma, "mean": float(fit.beta[0])}, nsim=4,
                    seed=3, n_jobs=2)
    assert list(r.t.columns) == ["sigma", "mean"]
    assert r.t0["sigma"] == pytest.approx(m.sigma)
    assert np.all(np.isfinite(r.t.to_numpy()))


def test_boot_confint_shape() -> None:
    m = fit_case("dyestuff_reml").model
    ci = m.confint(method="boot", nsim=20, seed=5)
    assert list(ci.index) == [*m.parameter_names(), "(Intercept)"]
    assert np.all(ci["lower"] < ci["upper"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bootstrap_intervals_approach_profile_intervals() -> None:
    """3000 replicates on sleepstudy: percentile limits close to the profile limits, relative
    to the profile interval's width (fixed effects and σ 10 %, SDs 15 %; the correlation's
    bootstrap distribution is skewed towards +1, so 30 %); bootstrap SDs of β̂ match the SEs."""
    m = fit_case("sleepstudy_slope_reml").model
    res = m.bootstrap(nsim=3000, seed=20240501, n_jobs=2)
    boot = res.confint()
    prof = m.confint()
    width = prof["upper"] - prof["lower"]
    rel = (boot - prof).abs().div(width, axis=0).max(axis=1)
    limits = {"sd_(Intercept)|Subject": 0.15, "cor_Days.(Intercept)|Subject": 0.3,
              "sd_Days|Subject": 0.15, "sigma": 0.1, "(Intercept)": 0.1, "Days": 0.1}
    for name, lim in limits.items():
        assert rel[name] < lim, (name, rel[name])
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    np.testing.assert_allclose(res.t[list(m.fixef.index)].std(), se, rtol=0.05)
