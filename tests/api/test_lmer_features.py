"""lmer features beyond the shared reference cases, checked against lme4 1.1-31.

Expected numbers come from tests/reference/extra/make_extra_lmer.R (R's own fits of the same
data, built identically here); tolerances follow tests/reference's README.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.frame.model_frame import MissingDataWarning, RankDeficiencyWarning

EXTRA = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "extra_lmer.json")
                   .read_text())
CASES = {c["id"]: c for c in EXTRA}


def sleep_frame() -> pd.DataFrame:
    ss = mfx.datasets.load("sleepstudy")
    ss["w"] = 1 + (ss.Days % 3) / 2
    ss["off"] = ss.Days * 2
    ss["phase"] = pd.Categorical(np.where(ss.Days <= 4, "early", "late"),
                                 categories=["early", "late"])
    ss["Days2"] = 2 * ss.Days
    return ss


def fit_case(cid: str) -> tuple[mfx.lmer, dict, list[str]]:
    c = CASES[cid]
    ss = sleep_frame()
    kw: dict = {"REML": c["REML"]}
    if cid.startswith("weights"):
        kw["weights"] = "w"
    if cid.startswith("offset"):
        kw["offset"] = "off"
    if cid == "missing_rows_reml":
        ss.loc[[0, 4, 76], "Reaction"] = np.nan
    data = mfx.datasets.load("Penicillin") if cid.startswith("penicillin") else ss
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = mfx.lmer(c["formula"], data=data, **kw)
    return m, c, [str(w.message) for w in caught]


FIT_IDS = [c["id"] for c in EXTRA if "deviance" in c]


@pytest.mark.parametrize("cid", FIT_IDS)
def test_matches_lme4(cid: str) -> None:
    m, c, _ = fit_case(cid)
    assert m.nobs == c["nobs"]
    assert abs(m.deviance - c["deviance"]) < 1e-3
    assert abs(m.loglik - c["loglik"]) < 1e-3
    assert abs(m.aic - c["aic"]) < 1e-3 and abs(m.bic - c["bic"]) < 1e-3
    assert list(m.fixef.index) == list(c["fixef"])
    ref = np.array(list(c["fixef"].values()))
    se = np.array(list(c["fixef_se"].values()))
    np.testing.assert_allclose(m.fixef.to_numpy(), ref, rtol=1e-4, atol=1e-4 * se.max())
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), se, rtol=1e-3)
    np.testing.assert_allclose(m.theta, c["theta"], rtol=1e-3, atol=1e-4)
    assert m.sigma == pytest.approx(c["sigma"], rel=1e-3)
    vc = m.varcorr
    assert list(vc.grp) == [r["grp"] for r in c["varcorr"]]
    np.testing.assert_allclose(vc.sdcor, [r["sdcor"] for r in c["varcorr"]], rtol=2e-3,
                               atol=1e-4)
    np.testing.assert_allclose(m.fitted()[:10], c["fitted_head"], rtol=1e-5)
    scale = np.std(m.frame.y, ddof=1)
    for g, first in c["ranef_first"].items():
        got = m.ranef()[g].iloc[0]
        for term, value in first.items():
            assert got[term] == pytest.approx(value, abs=1e-3 * scale)


def test_missing_rows_are_dropped_and_reported() -> None:
    m, _, warned = fit_case("missing_rows_reml")
    assert m.nobs == 177
    assert any("3 observation(s) deleted due to missingness" in w for w in warned)
    assert "(3 observations deleted due to missingness)" in str(m.summary())


def test_rank_deficient_column_dropped_as_lme4() -> None:
    m, _, warned = fit_case("rank_deficient_reml")
    assert list(m.fixef.index) == ["(Intercept)", "Days"]
    assert any("rank deficient so dropping 1 column / coefficient (Days2)" in w
               for w in warned)


def test_missing_data_warning_category() -> None:
    ss = sleep_frame()
    ss.loc[0, "Days"] = np.nan
    with pytest.warns(MissingDataWarning):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", data=ss)
    ss2 = sleep_frame()
    with pytest.warns(RankDeficiencyWarning):
        mfx.lmer("Reaction ~ Days + Days2 + (1 | Subject)", data=ss2)


def test_re_form_selects_terms() -> None:
    c = CASES["penicillin_reform"]
    m = mfx.lmer(c["formula"], data=mfx.datasets.load("Penicillin"))
    nd = pd.DataFrame(c["newdata"])
    got = m.predict(nd, re_form="~ (1 | sample)")
    np.testing.assert_allclose(got, c["re_form_sample"], rtol=1e-5)
    new = nd.assign(plate=["a", "b", "zz"])
    with pytest.raises(ValueError, match="new levels"):
        m.predict(new)
    full = m.predict(new, allow_new_levels=True)
    fe = m.fixef.iloc[0]
    re = m.ranef()
    assert full[0] == pytest.approx(fe + re["plate"].loc["a"].iloc[0]
                                    + re["sample"].loc["A"].iloc[0])
    assert full[2] == pytest.approx(fe + re["sample"].loc["B"].iloc[0])  # plate 'zz' is new


def test_predict_without_newdata_and_re_form_na() -> None:
    m, _, _ = fit_case("weights_reml")
    np.testing.assert_allclose(m.predict(), m.fitted())
    X = np.column_stack([np.ones(m.nobs), m.frame.X[:, 1]])
    np.testing.assert_allclose(m.predict(re_form="NA"), X @ m.beta)
    np.testing.assert_allclose(m.predict(re_form="~0"), X @ m.beta)


def test_coef_adds_fixed_and_random() -> None:
    m, _, _ = fit_case("double_bar_reml")
    co = m.coef()["Subject"]
    re = m.ranef()["Subject"]
    assert list(co.columns) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(co["Days"], m.fixef["Days"] + re["Days"])


def test_residual_types() -> None:
    m, _, _ = fit_case("weights_ml")
    r = m.residuals()
    np.testing.assert_allclose(r, m.frame.y - m.fitted())
    np.testing.assert_allclose(m.residuals(type="pearson"), r * np.sqrt(m.frame.weights))
    np.testing.assert_allclose(m.residuals(type="pearson", scaled=True),
                               r * np.sqrt(m.frame.weights) / m.sigma)
    with pytest.raises(ValueError, match="type must be"):
        m.residuals(type="bogus")


def test_simulate_is_reproducible_and_has_the_model_moments() -> None:
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=mfx.datasets.load("sleepstudy"))
    a = m.simulate(nsim=3, seed=42)
    b = m.simulate(nsim=3, seed=42)
    assert a.shape == (180, 3)
    np.testing.assert_array_equal(a, b)
    sims = m.simulate(nsim=4000, seed=1)
    # marginal variance of a row with Days = 0: var(intercept) + sigma^2
    vc = m.varcorr
    var0 = vc.vcov.iloc[0] + m.sigma**2
    row0 = sims[m.frame.X[:, 1] == 0]
    assert row0.mean() == pytest.approx(m.fixef.iloc[0], abs=3 * np.sqrt(var0 / row0.size) * 5)
    assert row0.var() == pytest.approx(var0, rel=0.1)


def test_refit_with_own_response_reproduces_fit_and_refit_ml() -> None:
    df = mfx.datasets.load("sleepstudy")
    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=df)
    again = m.refit(df.Reaction.to_numpy())
    assert again.deviance == pytest.approx(m.deviance, abs=1e-6)
    ml = m.refit_ml()
    direct = mfx.lmer("Reaction ~ Days + (Days | Subject)", data=df, REML=False)
    assert not ml.REML
    assert ml.deviance == pytest.approx(direct.deviance, abs=1e-6)
    y2 = m.simulate(seed=3)[:, 0]
    m2 = m.refit(y2)
    direct2 = mfx.lmer("y2 ~ Days + (Days | Subject)", data=df.assign(y2=y2))
    assert m2.deviance == pytest.approx(direct2.deviance, abs=1e-5)


def test_condvar_attribute_shapes() -> None:
    m, _, _ = fit_case("interaction_two_terms_ml")
    re = m.ranef(condvar=True)["Subject"]
    sd = re.attrs["condsd"]
    assert sd.shape == re.shape and list(sd.columns) == ["(Intercept)", "Days"]
    assert (sd.to_numpy() > 0).all()


def test_to_dict_is_json_serializable() -> None:
    m, _, _ = fit_case("factor_slope_reml")
    record = json.loads(json.dumps(m.to_dict()))
    assert record["fixef"]["phaselate"] == pytest.approx(m.fixef["phaselate"])
    assert record["varcorr"][-1]["grp"] == "Residual"
    assert record["varcorr"][-1]["var1"] is None


def test_polars_and_dict_data() -> None:
    df = mfx.datasets.load("Dyestuff")
    m1 = mfx.lmer("Yield ~ 1 + (1 | Batch)", data=df)
    m2 = mfx.lmer("Yield ~ 1 + (1 | Batch)", data={"Yield": df.Yield.to_numpy(),
                                                    "Batch": df.Batch.astype(str).to_numpy()})
    assert m2.deviance == pytest.approx(m1.deviance, abs=1e-9)


class _ToPandas:
    """Stands in for polars / pyarrow tables, which expose `to_pandas()`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def to_pandas(self) -> pd.DataFrame:
        return self._frame.copy()


class _Interchange:
    """An object offering only the dataframe interchange protocol."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def __dataframe__(self, nan_as_null: bool = False, allow_copy: bool = True):
        return self._frame.__dataframe__(nan_as_null=nan_as_null, allow_copy=allow_copy)


def test_dataframe_like_inputs() -> None:
    df = mfx.datasets.load("Dyestuff")
    plain = df.assign(Batch=df.Batch.astype(str))
    ref = mfx.lmer("Yield ~ 1 + (1 | Batch)", data=df)
    for wrapped in (_ToPandas(plain), _Interchange(plain)):
        m = mfx.lmer("Yield ~ 1 + (1 | Batch)", data=wrapped)
        assert m.deviance == pytest.approx(ref.deviance, abs=1e-9)
        assert list(m.ranef()["Batch"].index) == list(ref.ranef()["Batch"].index)
