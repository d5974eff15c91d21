"""nlme's ML standard errors in the summary of nlme-style fits (issue 23 item 11).

R: tests/reference/extra/nlme_ml_se/make_nlme_ml_se.R. `summary(lme(..., method = "ML"))`
multiplies the fixed-effect SEs by √(N/(N − p)); `vcov(m)` stays unscaled; gls's ML varBeta
already uses RSS/(N − p)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "extra" / "nlme_ml_se"
                  / "nlme_ml_se.json").read_text())
# the optimum is found to ~1e-6 relative in the variance parameters; SEs follow to ~1e-5
RTOL = 2e-5


@pytest.fixture(scope="module")
def fits() -> dict[str, object]:
    d = mfx.datasets.load("Orthodont")
    f = "distance ~ age + Sex + (1 | Subject)"
    return {
        "lme_varpower": mfx.lmer(f, d, REML=False, weights=mfx.var_power("~ age")),
        "lme_ar1": mfx.lmer(f, d, REML=False, correlation=mfx.cor_ar1("~ 1 | Subject")),
        "gls_varident": mfx.gls("distance ~ age + Sex", d, REML=False,
                                weights=mfx.var_ident("~ 1 | Sex")),
    }


@pytest.mark.parametrize("case", ["lme_varpower", "lme_ar1"])
@pytest.mark.parametrize("ddf", ["Satterthwaite", "none"])
def test_lme_ml_summary_se_is_nlmes(fits: dict, case: str, ddf: str) -> None:
    ref, m = REF[case], fits[case]
    assert m.loglik == pytest.approx(ref["logLik"], rel=1e-7)
    table = m.summary(ddf=ddf).coefficients
    assert list(table.index) == ref["names"]
    np.testing.assert_allclose(table["Std. Error"], ref["se_summary"], rtol=RTOL)
    np.testing.assert_allclose(table["t value"], ref["t_summary"], rtol=RTOL)
    # vcov is nlme's varFix, unscaled (0.8348 for the varPower intercept, 0.8466 printed)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), ref["se_vcov"], rtol=RTOL)


def test_p_values_follow_the_scaled_t(fits: dict) -> None:
    from scipy import stats

    t = fits["lme_varpower"].summary().coefficients
    np.testing.assert_allclose(t["Pr(>|t|)"], 2 * stats.t.sf(np.abs(t["t value"]), t["df"]))


def test_reml_and_lme4_style_fits_are_not_scaled() -> None:
    d = mfx.datasets.load("sleepstudy")
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    se = m.summary(ddf="none").coefficients["Std. Error"].to_numpy()
    np.testing.assert_allclose(se, np.sqrt(np.diag(m.vcov)), rtol=1e-12)


def test_gls_ml_se_is_nlmes(fits: dict) -> None:
    ref, m = REF["gls_varident"], fits["gls_varident"]
    assert m.loglik == pytest.approx(ref["logLik"], rel=1e-7)
    assert isinstance(m.coefficients, pd.DataFrame)
    np.testing.assert_allclose(m.coefficients["Std.Error"], ref["se_summary"], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), ref["se_vcov"], rtol=RTOL)
