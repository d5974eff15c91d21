"""Satterthwaite t tests (summary) and type III F tests (anova) against lmerTest 3.1-3.

Tolerances (reference README): df relative 1e-3; t relative 1e-4 (t = β̂/SE, both within
1e-4); F relative 2e-4. A p-value is a steep function of t (F) and df, so it must lie in the
band of p-values reachable from the reference t and df within those tolerances (and equal
2 P(T_df > |t|) for our own t and df). Cases where our REML/ML optimum is lower than lme4's
get the fit-dependent tolerances 5× looser (see `Fitted.flat_factor`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import by_name, fit_case, lmer_cases_with

CASES = lmer_cases_with("satterthwaite")


def in_band(p: float, pfun: Callable[[float, float], float], stat: float, df: float,
            rel_stat: float, rel_df: float) -> bool:
    """p within the range of pfun over stat·(1 ± rel_stat) × df·(1 ± rel_df) (p is monotone
    in each argument, so the corners bound it)."""
    corners = [pfun(stat * (1 + a * rel_stat), df * (1 + b * rel_df))
               for a in (-1, 1) for b in (-1, 1)]
    lo, hi = min(corners), max(corners)
    return lo * (1 - 1e-9) <= p <= hi * (1 + 1e-9)


def p_t(t: float, df: float) -> float:
    return float(2 * stats.t.sf(abs(t), df))


@pytest.mark.parametrize("case_id", CASES)
def test_coefficient_tests(case_id: str) -> None:
    f = fit_case(case_id)
    m = f.model
    ref = f.expected["satterthwaite"]
    names = list(m.fixef.index)
    tab = m.summary().coefficients
    assert list(tab.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    k = f.flat_factor
    for nm, df in by_name(ref["df"], names).items():
        assert tab.loc[nm, "df"] == pytest.approx(df, rel=1e-3 * k), nm
    for nm, t in by_name(ref["t"], names).items():
        assert tab.loc[nm, "t value"] == pytest.approx(t, rel=1e-4 * k), nm
    ref_t, ref_df = by_name(ref["t"], names), by_name(ref["df"], names)
    for nm, p in by_name(ref["p"], names).items():
        got = tab.loc[nm, "Pr(>|t|)"]
        assert got == pytest.approx(p_t(tab.loc[nm, "t value"], tab.loc[nm, "df"]), rel=1e-9)
        assert p == pytest.approx(p_t(ref_t[nm], ref_df[nm]), rel=1e-6)
        assert in_band(got, p_t, ref_t[nm], ref_df[nm], 1e-4 * k, 1e-3 * k), (nm, got, p)


@pytest.mark.parametrize("case_id", CASES)
def test_anova_type3(case_id: str) -> None:
    f = fit_case(case_id)
    rows = f.expected["satterthwaite"].get("anova_type3") or []
    if not rows:
        pytest.skip("no fixed-effects terms")
    table = f.model.anova()
    assert list(table.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    assert list(table.index) == [r["term"] for r in rows]
    k = f.flat_factor
    for r in rows:
        got = table.loc[r["term"]]
        assert got["NumDF"] == r["NumDF"]
        assert got["DenDF"] == pytest.approx(r["DenDF"], rel=1e-3 * k), r["term"]
        assert got["F value"] == pytest.approx(r["F"], rel=2e-4 * k), r["term"]
        p_f = lambda F, d, r=r: float(stats.f.sf(F, r["NumDF"], d))  # noqa: E731
        assert in_band(got["Pr(>F)"], p_f, r["F"], r["DenDF"], 2e-4 * k, 1e-3 * k), r["term"]


def test_sum_of_squares_is_f_times_sigma2() -> None:
    m = fit_case("nurses_nested_wardid_reml").model
    t = m.anova()
    np.testing.assert_allclose(t["Mean Sq"], t["F value"] * m.sigma**2, rtol=1e-12)
    np.testing.assert_allclose(t["Sum Sq"], t["Mean Sq"] * t["NumDF"], rtol=1e-12)


def test_type1_and_marginal_tables() -> None:
    """lmerTest 3.1-3 on Orthodont, distance ~ age * Sex + (1 | Subject)."""
    import mixedfx as mfx

    m = mfx.lmer("distance ~ age * Sex + (1 | Subject)", mfx.datasets.load("Orthodont"))
    t1 = m.anova(type=1)
    np.testing.assert_allclose(t1["Sum Sq"], [235.356, 17.860, 12.114], atol=1e-3)
    np.testing.assert_allclose(t1["DenDF"], [79, 25, 79], rtol=1e-4)
    t3 = m.anova()
    np.testing.assert_allclose(t3["DenDF"], [79.00, 103.9864, 79.00], rtol=1e-4)
    np.testing.assert_allclose(t3["F value"], [108.3559140, 0.4506714, 6.3027089], rtol=1e-5)
    d = m.drop1()
    assert list(d.index) == ["age:Sex"]
    assert d.loc["age:Sex", "F value"] == pytest.approx(6.3027089, rel=1e-5)


def test_unknown_ddf_is_refused() -> None:
    m = fit_case("sleepstudy_slope_reml").model
    with pytest.raises(ValueError, match="ddf"):
        m.summary(ddf="containment")


@pytest.mark.parametrize(("formula", "dataset", "reml"), [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    ("Reaction ~ Days + (1 | Subject)", "sleepstudy", False),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin", True),
])
def test_closed_form_sigma_derivatives_equal_numderiv_on_all_parameters(
        formula: str, dataset: str, reml: bool) -> None:
    """The Hessian of devfun_vp and ∂vcov(β)/∂φ with σ in closed form equal lmerTest's
    numDeriv derivatives over (θ, σ) (Richardson error level: 1e-11 and 3e-8 seen)."""
    import mixedfx as mfx
    from mixedfx.inference import satterthwaite as sw
    from mixedfx.inference.numderiv import hessian, jacobian

    m = mfx.lmer(formula, mfx.datasets.load(dataset), REML=reml)
    system = sw.VarparSystem(m)
    varpar, _ = sw.optimum(m)
    H0 = hessian(lambda x: sw.varpar_deviance(system, x, reml), varpar)
    p = len(m.beta)
    J0 = jacobian(lambda x: sw.covbeta(system, x).ravel(), varpar)
    J0 = np.stack([J0[:, i].reshape(p, p) for i in range(J0.shape[1])])
    H, J = sw.varpar_derivatives(system, varpar, reml)
    assert np.max(np.abs(H - H0)) <= 1e-9 * np.max(np.abs(H0))
    assert np.max(np.abs(J - J0)) <= 1e-6 * np.max(np.abs(J0))


def test_derivatives_factor_each_point_once(monkeypatch) -> None:
    """Two θ on a crossed model: 1 + 4k(k + 1) = 25 factorizations of the blocked system for
    the Hessian and the Jacobian (numDeriv over (θ, σ) with a separate Jacobian takes 73)."""
    import mixedfx as mfx
    from mixedfx.inference import satterthwaite as sw
    from mixedfx.lmm.factorization import BlockedCholesky

    m = mfx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mfx.datasets.load("Penicillin"))
    system = sw.VarparSystem(m)
    varpar, _ = sw.optimum(m)
    calls = [0]
    factorize = BlockedCholesky.factorize

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return factorize(self, *args, **kwargs)

    monkeypatch.setattr(BlockedCholesky, "factorize", counted)
    sw.varpar_derivatives(system, varpar, m.REML)
    assert calls[0] == 25
