"""anova(lm) and anova(glm, test=) against R 4.2.2's stats
(tests/reference/extra/baseline_anova/make_baseline_anova.R -> baseline_anova.json): values
to 1e-7 (least squares) / 1e-6 (IRLS convergence, ε = 1e-8 on the deviance) and the printed
tables line by line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError

HERE = Path(__file__).parents[1] / "reference" / "extra" / "baseline_anova"
REF = json.loads((HERE / "baseline_anova.json").read_text())


def _data(name: str) -> pd.DataFrame:
    if name == "epil":
        d = pd.read_csv(HERE.parent / "pairs_response" / "epil_visits.csv", dtype={"visit": str})
        d["subject"] = d["subject"].astype(str)
        return d
    d = mfx.datasets.load(name)
    if name == "sleepstudy":
        d["phase"] = np.where(d.Days <= 4, "early", "late")
        d["w"] = d.Days + 1.0
    return d


def _fit(case: dict) -> object:
    d = _data(case["data"])
    if case["fun"] == "lm":
        return mfx.lm(case["formula"], d, weights=case.get("weights"))
    return mfx.glm(case["formula"], d, family=case["family"])


@pytest.mark.parametrize("key", list(REF))
def test_anova_matches_r(key: str) -> None:
    ref = REF[key]
    case = ref["case"]
    fit = _fit(case)
    if case.get("test") == "F" and case["family"] in ("poisson", "binomial"):
        with pytest.warns(UserWarning, match="F test with a .* family is inappropriate"):
            got = mfx.anova(fit, test="F")     # Pr(>F) on (Df, Inf) df, as R
    else:
        got = mfx.anova(fit, test=case["test"]) if "test" in case else mfx.anova(fit)
    assert list(got.index) == ref["rows"]
    assert list(got.columns) == ref["columns"]
    rtol = 1e-7 if case["fun"] == "lm" else 1e-6
    for col in ref["columns"]:
        want = np.array([np.nan if v is None else v for v in ref["values"][col]], dtype=float)
        np.testing.assert_allclose(got[col].to_numpy(float), want, rtol=rtol, err_msg=col)
    assert str(got).splitlines() == ref["printed"]


def test_method_and_errors() -> None:
    fit = _fit(REF["glm_cbpp_chisq"]["case"])
    assert fit.anova(test="LRT").equals(mfx.anova(fit, test="Chisq"))
    with pytest.raises(ArgumentError, match="test must be"):
        fit.anova(test="Rao")
    with pytest.warns(UserWarning, match="F test with a 'binomial' family is inappropriate"):
        fit.anova(test="F")
    lm_fit = _fit(REF["lm_sleep"]["case"])
    with pytest.raises(ArgumentError, match="single glm"):
        mfx.anova(lm_fit, test="Chisq")
