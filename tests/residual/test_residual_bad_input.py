"""Clear errors for residual structures that make no sense for the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mfx.datasets.load("sleepstudy")


def test_ar1_needs_integer_times(sleep: pd.DataFrame) -> None:
    d = sleep.assign(t=sleep["Days"] + 0.5 * (sleep.index % 2))
    with pytest.raises(ValueError, match="must be integer-valued"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", d, correlation=mfx.cor_ar1("~ t"))


def test_ar1_refuses_duplicated_times(sleep: pd.DataFrame) -> None:
    d = sleep.assign(t=sleep["Days"] // 2)
    with pytest.raises(ValueError, match="unique within each group"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", d, correlation=mfx.cor_ar1("~ t"))


def test_car1_needs_a_time_covariate(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="cor_car1 needs a continuous time covariate"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep, correlation=mfx.cor_car1("~ 1"))


def test_correlation_groups_must_nest_in_grouping_factors() -> None:
    pen = mfx.datasets.load("Penicillin")
    pen = pen.assign(t=pen.groupby("plate", observed=True).cumcount())
    with pytest.raises(ValueError, match="not nested within the grouping factor"):
        mfx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", pen,
                 correlation=mfx.cor_ar1("~ t | plate"))


def test_unknown_columns_and_malformed_forms(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not found in data"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep,
                 weights=mfx.var_ident("~ 1 | nosuch"))
    with pytest.raises(ValueError, match="must be one-sided"):
        mfx.var_ident("1 | Subject")
    with pytest.raises(ValueError, match="is not a column name"):
        mfx.var_power("~ log(Days)")
    with pytest.raises(ValueError, match="takes no covariate"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=mfx.var_ident("~ Days"))
    with pytest.raises(ValueError, match="needs a stratum"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=mfx.var_ident("~ 1"))


def test_var_power_refuses_zero_covariate(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="has zero values"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=mfx.var_power("~ Days"))


def test_glmer_and_gls_refuse_misplaced_structures(sleep: pd.DataFrame) -> None:
    cbpp = mfx.datasets.load("cbpp")
    with pytest.raises(TypeError, match="are for lmer and gls"):
        mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                  family="binomial", weights=mfx.var_ident("~ 1 | period"))
    with pytest.raises(ValueError, match="gls takes no random-effect terms"):
        mfx.gls("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(TypeError, match="variance function"):
        mfx.gls("Reaction ~ Days", sleep, weights=np.ones(len(sleep)))
    with pytest.raises(TypeError, match="correlation must come from"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep, correlation="ar1")


def test_profile_refused_with_a_residual_structure(sleep: pd.DataFrame) -> None:
    m = mfx.lmer("Reaction ~ Days + (1 | Subject)", sleep, correlation=mfx.cor_ar1())
    with pytest.raises(ValueError, match="likelihood profiles are not available"):
        m.confint()
    assert m.confint(method="Wald").loc["Days"].notna().all()


def test_var_ident_stratum_with_no_rows(sleep: pd.DataFrame) -> None:
    d = sleep.assign(phase=pd.Categorical(np.where(sleep["Days"] < 5, "early", "late"),
                                          categories=["early", "late", "follow-up"]))
    with pytest.raises(ValueError,
                       match=r"var_ident stratum with no rows: phase = \['follow-up'\]"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", d, weights=mfx.var_ident("~ 1 | phase"))
