"""lmer with nlme residual structures against nlme::lme fits (tests/reference gpa cases)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from cases import load_case, load_data

import mixedfx as mfx

STRUCTURES = {
    "gpa_lme_varident": {"weights": lambda: mfx.var_ident("~ 1 | occasion")},
    "gpa_lme_ar1": {"correlation": lambda: mfx.cor_ar1("~ occasion")},
}


@pytest.fixture(scope="module", params=sorted(STRUCTURES))
def fitted(request: pytest.FixtureRequest):
    case = load_case(request.param)
    data = load_data(case)
    kwargs = {k: make() for k, make in STRUCTURES[request.param].items()}
    model = mfx.lmer("gpa ~ occasion + (1 | student)", data, REML=case["REML"], **kwargs)
    return case, model


def test_likelihood_and_fixed_effects(fitted) -> None:
    case, m = fitted
    e = case["expected"]
    assert abs(m.loglik - e["loglik"]) < 1e-3
    assert abs(m.aic - e["aic"]) < 1e-3
    assert m.npar == e["df"]
    names = list(e["fixef"])
    np.testing.assert_allclose(m.fixef[names], [e["fixef"][k] for k in names], rtol=1e-4)
    se = np.sqrt(np.diag(m.vcov.loc[names, names].to_numpy()))
    np.testing.assert_allclose(se, [e["fixef_se"][k] for k in names], rtol=1e-3)
    np.testing.assert_allclose(m.vcov.loc[names, names].to_numpy().ravel(),
                               np.asarray(e["vcov"]["matrix"], dtype=float).ravel(), rtol=2e-3)


def test_variance_components(fitted) -> None:
    case, m = fitted
    e = case["expected"]
    assert m.sigma == pytest.approx(e["sigma"], rel=1e-3)
    sd = m.varcorr.set_index("grp")["sdcor"]
    assert sd["student"] == pytest.approx(e["random_sd"]["student:(Intercept)"], rel=1e-3)


def test_structure_parameters(fitted) -> None:
    case, m = fitted
    e = case["expected"]
    if e.get("varident_ratios"):
        ref = {k: v for k, v in e["varident_ratios"].items() if v != 1}
        assert m.var_struct.name == "varIdent"
        got = m.var_struct.params
        assert list(got.index) == list(ref)
        np.testing.assert_allclose(got.to_numpy(), list(ref.values()), rtol=1e-3)
        sds = m.var_struct.stratum_sds()
        np.testing.assert_allclose(sds.to_numpy(), list(e["varident_residual_sd"].values()),
                                   rtol=1e-3)
        assert m.cor_struct is None
    if e.get("cor_ar1_phi") is not None:
        assert m.cor_struct.name == "corAR1"
        assert m.cor_struct.params["Phi"] == pytest.approx(e["cor_ar1_phi"], rel=1e-3)
        assert m.var_struct is None


def test_residuals_and_fitted(fitted) -> None:
    case, m = fitted
    e = case["expected"]
    scale = float(np.std(m.frame.y))
    np.testing.assert_allclose(m.fitted()[:10], e["fitted_head"], atol=1e-3 * scale)
    np.testing.assert_allclose(m.residuals()[:10], e["resid_head"], atol=1e-3 * scale)
    np.testing.assert_allclose(m.residuals("pearson", scaled=True)[:10],
                               e["pearson_resid_head"], atol=2e-3)
    np.testing.assert_allclose(m.residuals("normalized")[:10], e["normalized_resid_head"],
                               atol=2e-3)
    np.testing.assert_allclose(m.predict(re_form="NA")[:10], e["fitted_level0_head"],
                               atol=1e-3 * scale)


def test_ranef(fitted) -> None:
    case, m = fitted
    ref = case["expected"]["ranef"]["student"]
    re = m.ranef()["student"]
    got = re.loc[ref["levels"]].to_numpy().ravel()
    np.testing.assert_allclose(got, np.asarray(ref["values"], dtype=float).ravel(),
                               atol=1e-3 * float(np.std(m.frame.y)))


def test_published_tutorial_values() -> None:
    """The gpa tutorial (Clark, Mixed Models with R): varIdent variances and the AR(1) Phi."""
    case = load_case("gpa_lme_varident")
    d = load_data(case)
    m = mfx.lmer("gpa ~ occasion + (1 | student)", d, weights=mfx.var_ident("~ 1 | occasion"))
    got = m.var_struct.stratum_variances().round(3).tolist()
    assert got == [0.138, 0.094, 0.054, 0.026, 0.017, 0.026]
    a = mfx.lmer("gpa ~ occasion + (1 | student)", d, correlation=mfx.cor_ar1("~ occasion"))
    assert round(a.cor_struct.params["Phi"], 3) == 0.418
    # explicit grouping gives the same fit as the innermost random-effect grouping
    b = mfx.lmer("gpa ~ occasion + (1 | student)", d,
                 correlation=mfx.cor_ar1("~ occasion | student"))
    assert b.loglik == pytest.approx(a.loglik, abs=1e-7)


def test_summary_prints_structures(fitted) -> None:
    _, m = fitted
    text = str(m.summary())
    if m.var_struct is not None:
        assert "Variance function:" in text
        assert " Structure: Different standard deviations per stratum" in text
    if m.cor_struct is not None:
        assert "Correlation Structure: AR(1)" in text
        assert "Phi" in text


def test_bic_follows_nlme_for_reml(fitted) -> None:
    case, m = fitted
    assert m.bic == pytest.approx(case["expected"]["bic"], abs=1e-3)


def test_satterthwaite_includes_structure_parameters(fitted) -> None:
    """The df treat ψ as a variance parameter: they differ from those with ψ held fixed,
    and stay between 1 and the residual df."""
    _, m = fitted
    coefs = m.summary().coefficients
    df = coefs["df"].to_numpy()
    assert np.all(np.isfinite(df)) and np.all(df > 1) and np.all(df <= m.nobs - 2)
    from mixedfx.inference.satterthwaite import satterthwaite_state

    st = satterthwaite_state(m)
    assert len(st.varpar) == len(m.theta) + m.npar - len(m.theta) - len(m.beta)
    if m.REML:
        kr = m.summary(ddf="Kenward-Roger").coefficients["df"].to_numpy()
        assert np.all(np.isfinite(kr)) and np.all(kr > 1) and np.all(kr <= m.nobs)


def test_update_and_influence_keep_the_residual_structure(fitted) -> None:
    _, m = fitted
    u = m.update(". ~ . - occasion")
    assert (u.var_struct is None) == (m.var_struct is None)
    assert (u.cor_struct is None) == (m.cor_struct is None)
    assert list(u.fixef.index) == ["(Intercept)"]
    same = m.update()
    assert same.loglik == pytest.approx(m.loglik, abs=1e-6)
