"""Nakagawa's R² and the ICC against performance 0.10.2 / insight 0.19.0
(tests/reference/extra/r2/make_r2.R -> r2.json): LMMs (random slopes, crossed factors, two
terms on one factor), binomial logit / probit, Poisson and negative binomial GLMMs, including
the epilepsy model (MASS's epil) whose ICC is 0.596 / 0.256.

Tolerances: LMM values agree to 1e-5 (the REML optimum of both programs to ~1e-6 relative).
GLMM values depend on lme4's Laplace optimum, which stops ~1e-4 (relative) from the exact one,
and on the refitted null model, so they agree to 2e-3; count models to 5e-3, since the
distribution variance ln(1 + 1/μ) moves with the null model's intercept (on grouseticks with
two factors mixedfx's null fit reaches logLik −1035.1901 where lme4 stops at −1035.1939, and
β₀ differs by 0.003)."""

from __future__ import annotations

import json
import math
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError
from mixedfx.inference import icc, r2, variance_parts

HERE = Path(__file__).parents[1] / "reference" / "extra" / "r2"
REF = json.loads((HERE / "r2.json").read_text())


def _data(name: str) -> pd.DataFrame:
    if name == "epil":
        d = pd.read_csv(HERE / "epil.csv")
        d["subject"] = d["subject"].astype(str)
        return d
    if name == "sleep01":
        d = mfx.datasets.load("sleepstudy")
        d["slow"] = (d["Reaction"] > 300).astype(int)
        return d
    return mfx.datasets.load(name)


@cache
def fitted(i: int) -> object:
    ref = REF[i]
    d = _data(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["family"] == "gaussian":
            return mfx.lmer(ref["formula"], d)
        if ref["family"] == "negative_binomial":
            return mfx.glmer_nb(ref["formula"], d)
        fam = mfx.families.binomial(ref.get("link", "logit")) \
            if ref["family"] == "binomial" else ref["family"]
        return mfx.glmer(ref["formula"], d, family=fam)


def _ids(ref: dict) -> str:
    return f"{ref['family']}:{ref.get('link', '')}:{ref['formula']}"


@pytest.mark.parametrize("i", range(len(REF)), ids=[_ids(r) for r in REF])
def test_r2_and_icc_match_performance(i: int) -> None:
    ref = REF[i]
    tol = {"gaussian": 1e-5, "binomial": 2e-3}.get(ref["family"], 5e-3)
    m = fitted(i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # performance's "mu ... too close to zero"
        got = r2(m)
        ic = icc(m)
    assert list(got.index) == ["conditional", "marginal"]
    assert got["conditional"] == pytest.approx(ref["conditional"], abs=tol)
    assert got["marginal"] == pytest.approx(ref["marginal"], abs=tol)
    assert ic["ICC_adjusted"] == pytest.approx(ref["ICC_adjusted"], abs=tol)
    assert ic["ICC_conditional"] == pytest.approx(ref["ICC_conditional"], abs=tol)
    by = ref.get("icc_by_group")
    if by is not None:                          # performance's icc(m, by_group = TRUE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # "Model contains random slopes ..."
            table = icc(m, by_group=True)
        assert list(table.columns) == ["Group", "ICC"]
        assert table["Group"].tolist() == by["Group"]
        # σ²_0 of a slope model is the variance at x = 0 (age 0 for Orthodont, outside the
        # data), a flat direction of the REML criterion: both optima agree to ~5e-5 there
        np.testing.assert_allclose(table["ICC"], by["ICC"], rtol=max(tol, 2e-4), atol=tol)
    scale = max(1.0, abs(ref["var_fixed"]))
    assert ic["var_fixed"] == pytest.approx(ref["var_fixed"], abs=tol * scale)
    assert ic["var_residual"] == pytest.approx(ref["var_residual"], rel=tol)


def test_epilepsy_icc_is_performance_example() -> None:
    """The Poisson epilepsy model whose performance::icc is 0.596 / 0.256."""
    i = next(j for j, r in enumerate(REF) if r["data"] == "epil" and r["family"] == "poisson"
             and "*" not in r["formula"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ic = icc(fitted(i))
    assert round(ic["ICC_adjusted"], 3) == 0.596
    assert round(ic["ICC_conditional"], 3) == 0.256


def test_count_models_warn_when_mu_small() -> None:
    i = next(j for j, r in enumerate(REF) if r["family"] == "negative_binomial")
    with pytest.warns(UserWarning, match="too close to zero"):
        variance_parts(fitted(i))


def test_distribution_variance_of_binomial_links() -> None:
    for i, ref in enumerate(REF):
        if ref["family"] == "binomial":
            expected = 1.0 if ref.get("link") == "probit" else math.pi**2 / 3
            assert variance_parts(fitted(i)).distribution == expected


def test_singular_fit_has_no_conditional_r2() -> None:
    d = mfx.datasets.load("Dyestuff2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.lmer("Yield ~ 1 + (1 | Batch)", d)
    assert m.is_singular()
    with pytest.warns(UserWarning, match="singular"):
        got = r2(m)
    assert math.isnan(got["conditional"])
    assert got["marginal"] == pytest.approx(0.0, abs=1e-12)
    with pytest.warns(UserWarning, match="singular"):
        assert math.isnan(icc(m)["ICC_adjusted"])


def test_refuses_unsupported_models() -> None:
    lm_fit = mfx.lm("Reaction ~ Days", mfx.datasets.load("sleepstudy"))
    with pytest.raises(ArgumentError, match="mixed model"):
        r2(lm_fit)
    d = mfx.datasets.load("grouseticks")
    d = d.assign(T1=d["TICKS"] + 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mfx.glmer("T1 ~ YEAR + (1 | BROOD)", d, family=mfx.families.Gamma(link="log"))
    with pytest.raises(ArgumentError, match="Gamma"):
        icc(g)
    assert np.isfinite(variance_parts(fitted(0)).fixed)


def test_icc_by_group_warns_for_random_slopes() -> None:
    m = fitted(1)                               # Reaction ~ Days + (Days | Subject)
    with pytest.warns(UserWarning, match="Model contains random slopes"):
        icc(m, by_group=True)
    with pytest.raises(ArgumentError, match="by_group"):
        icc(m, by_group="yes")
