"""glmer_nb on counts without overdispersion (fuzz harness hangs, seeds 20261129 / 20261130),
against lme4 1.1 (tests/reference/extra/make_nb_underdispersed.R).

MASS's theta.ml reaches its iteration limit with θ still growing; lme4 warns "iteration limit
reached" and its Brent search over log θ₀ ± 3 ends at the upper end. mixedfx refits there
(checked against the centre) instead of ~25 refits, which took minutes on the 60-row model.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
import mixedfx.api as api
from mixedfx.glmm.negbin import theta_ml

EXTRA_DIR = Path(__file__).parents[1] / "reference" / "extra"
REF = json.loads((EXTRA_DIR / "nb_underdispersed.json").read_text())


def load(name: str) -> pd.DataFrame:
    d = pd.read_csv(EXTRA_DIR / REF[name]["file"])
    d["g"] = d["g"].astype(str)
    return d


def fit_counting(name: str, monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []
    orig = api.glmer

    def counted(*args, **kwargs):
        calls.append(str(kwargs.get("family")))
        return orig(*args, **kwargs)

    monkeypatch.setattr(api, "glmer", counted)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = mfx.glmer_nb(REF[name]["formula"], load(name))
    return m, calls, {str(x.message) for x in w}


def test_small_underdispersed_matches_lme4_in_five_fits(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    ref = REF["small"]
    m, calls, msgs = fit_counting("small", monkeypatch)
    # Poisson; the upper end log θ₀ + 3, the centre and the lower end (without derivatives);
    # the upper end with derivatives: no Brent search
    assert len(calls) == 5
    assert "iteration limit reached" in msgs and "iteration limit reached" in ref["warnings"]
    assert m.loglik == pytest.approx(ref["logLik"], abs=1e-4)
    # lme4's Brent stops within its tolerance (5e-5 on log θ) of the upper end
    assert math.log(m.nb_theta) == pytest.approx(math.log(ref["nb_theta"]), abs=2e-4)
    assert m.nb_theta == pytest.approx(ref["theta0"] * math.exp(3), rel=2e-4)
    np.testing.assert_allclose(m.fixef.to_numpy(), list(ref["fixef"].values()), atol=1e-4)
    # the two (1 | g) terms share their variance: only the sum of squares is identified
    assert float(np.sum(m.theta ** 2)) == pytest.approx(float(np.sum(np.square(ref["theta"]))),
                                                        rel=1e-3)


def test_theta_ml_reports_divergence_and_warns() -> None:
    rng = np.random.default_rng(1)
    mu = np.full(200, 3.0)
    y = np.clip(np.round(mu + rng.uniform(-1, 1, 200)), 0, None)   # underdispersed
    report: dict[str, bool] = {}
    with pytest.warns(UserWarning, match="iteration limit reached"):
        t = theta_ml(y, mu, np.ones(200), report=report)
    assert report == {"limit_reached": True, "diverging": True} and t > 1e3
    yo = rng.negative_binomial(2.0, 2.0 / (2.0 + mu))                # overdispersed
    report = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = theta_ml(yo.astype(float), mu, np.ones(200), report=report)
    assert report == {"limit_reached": False, "diverging": False} and 1 < t < 4


@pytest.mark.slow
def test_degenerate_model_finishes_with_lme4_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz hang (> 60 s; lme4 takes ~100 s): 59 observation-level intercepts and a
    6-column (f*x | g) term. lme4 does not converge either (it warns, and its log-likelihood
    is below ours); both end at θ̂ = θ₀·e³, θ₀ from each one's Poisson fit."""
    ref = REF["degenerate"]
    m, calls, msgs = fit_counting("degenerate", monkeypatch)
    assert len(calls) == 5
    assert "iteration limit reached" in msgs and "iteration limit reached" in ref["warnings"]
    assert m.nb_theta > 1e4 and ref["nb_theta"] > 1e4
    assert m.loglik >= ref["logLik"] - 1e-3
    assert m.loglik - ref["logLik"] < 1.0
    assert np.all(np.isfinite(m.fixef.to_numpy()))


def test_slopes_underdispersed_matches_lme4(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fuzz seed 20261201 case 5 (a hang > 60 s before the shortcut and warm starts).

    lme4's fit ends singular with T₁₁ = 0 and the column below it of one sign; the restarts
    of the singular fits (optimize.restart) find the higher optimum with the other sign,
    which glmer reaches at lme4's θ̂ from a start of that sign
    (extra/glmm_restart/make_glmm_restart.R, nb_slopes)."""
    ref = REF["slopes"]
    better = json.loads((EXTRA_DIR / "glmm_restart" / "glmm_restart.json").read_text()
                        )["nb_slopes"]["signed_start"]
    m, calls, msgs = fit_counting("slopes", monkeypatch)
    assert len(calls) == 5
    assert "iteration limit reached" in msgs and "iteration limit reached" in ref["warnings"]
    assert m.loglik > ref["logLik"] + 0.1
    assert m.loglik == pytest.approx(better["loglik"], abs=1e-4)
    # θ̂ = θ₀·e³ with θ₀ from each one's Poisson fit, whose restart also finds the other
    # sign here: its means, so θ₀, differ by 4 % from lme4's (θ̂ ≈ 2.4e5: a Poisson model)
    assert m.nb_theta == pytest.approx(ref["nb_theta"], rel=0.05)
    np.testing.assert_allclose(m.fixef.to_numpy(), better["fixef"], atol=2e-3)
