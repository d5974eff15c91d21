"""Kenward–Roger t tests (summary(ddf="Kenward-Roger"), lmerTest + pbkrtest 0.5.2).

Tolerances: df and adjusted SE relative 1e-3 (README), t relative 1e-4; p must equal
2 P(T_df > |t|) for our t and df and match the reference within 1e-3 relative or, for
p < 1e-8, within 5 % (tails that steep move by per cents for a 1e-4 change of t).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import by_name, fit_case, lmer_cases_with

CASES = lmer_cases_with("kenward_roger")


@pytest.mark.parametrize("case_id", CASES)
def test_kenward_roger_table(case_id: str) -> None:
    f = fit_case(case_id)
    m = f.model
    ref = f.expected["kenward_roger"]
    names = list(m.fixef.index)
    tab = m.summary(ddf="Kenward-Roger").coefficients
    k = f.flat_factor
    for nm, v in by_name(ref["df"], names).items():
        assert tab.loc[nm, "df"] == pytest.approx(v, rel=1e-3 * k), nm
    for nm, v in by_name(ref["se"], names).items():
        assert tab.loc[nm, "Std. Error"] == pytest.approx(v, rel=1e-3 * k), nm
    for nm, v in by_name(ref["t"], names).items():
        assert tab.loc[nm, "t value"] == pytest.approx(v, rel=1e-4 * k), nm
    for nm, v in by_name(ref["p"], names).items():
        got = tab.loc[nm, "Pr(>|t|)"]
        own = 2 * stats.t.sf(abs(tab.loc[nm, "t value"]), tab.loc[nm, "df"])
        assert got == pytest.approx(own, rel=1e-9)
        assert got == pytest.approx(v, rel=5e-2 if v < 1e-8 else 1e-3 * k), nm


def test_kenward_roger_needs_reml() -> None:
    m = fit_case("sleepstudy_slope_ml").model
    with pytest.raises(ValueError, match="REML"):
        m.summary(ddf="Kenward-Roger")


def test_kenward_roger_f_tests_orthodont() -> None:
    """anova(m, ddf = "Kenward-Roger") on distance ~ age * Sex + (1 | Subject) (lmerTest)."""
    import mixedfx as mfx

    m = mfx.lmer("distance ~ age * Sex + (1 | Subject)", mfx.datasets.load("Orthodont"))
    t = m.anova(ddf="Kenward-Roger")
    np.testing.assert_allclose(t["DenDF"], [79.00, 103.9864, 79.00], rtol=1e-4)
    np.testing.assert_allclose(t["F value"], [108.3559, 0.4506714, 6.302709], rtol=1e-5)


def test_adjusted_vcov_is_symmetric_and_larger() -> None:
    from mixedfx.inference.kenward_roger import kenward_roger

    kr = kenward_roger(fit_case("pupils_crossed_reml").model)
    np.testing.assert_allclose(kr.vcov_adj, kr.vcov_adj.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(kr.vcov_adj - kr.vcov) > -1e-12)


def test_weighted_model_matches_unweighted_with_unit_weights() -> None:
    import mixedfx as mfx

    d = mfx.datasets.load("sleepstudy")
    a = mfx.lmer("Reaction ~ Days + (Days | Subject)", d)
    b = mfx.lmer("Reaction ~ Days + (Days | Subject)", d, weights=np.ones(len(d)))
    ta = a.summary(ddf="Kenward-Roger").coefficients
    tb = b.summary(ddf="Kenward-Roger").coefficients
    np.testing.assert_allclose(ta.to_numpy(), tb.to_numpy(), rtol=1e-6)
