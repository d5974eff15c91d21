"""Data checks of the MMRM design (clear MixedfxErrors for bad input)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError, DataError, MixedfxError
from mixedfx.mmrm.design import build_design
from mixedfx.mmrm.terms import split_formula


def _design(formula, data, weights=None):
    fixed, term = split_formula(formula)
    return build_design(fixed, term, data, weights)


def test_blocks_group_subjects_by_visit_pattern(fev):
    d = _design("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", fev.dropna(subset=["FEV1"]))
    assert sum(b.X.shape[0] * b.X.shape[1] for b in d.blocks) == d.frame.n
    assert sum(b.X.shape[0] for b in d.blocks) == len(np.unique(d.subject_codes))
    assert len({tuple(b.visits) for b in d.blocks}) == len(d.blocks)


def test_duplicated_visit(fev):
    bad = pd.concat([fev, fev.iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match="more than once"):
        mfx.mmrm("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", bad)


def test_visit_level_without_observations(fev):
    bad = fev.copy()
    bad["AVISIT"] = bad["AVISIT"].cat.add_categories(["VIS5"])
    with pytest.raises(DataError, match="VIS5"):
        mfx.mmrm("FEV1 ~ ARMCD + us(AVISIT | USUBJID)", bad)


@pytest.mark.parametrize("structure", ["us", "toep", "ar1"])
def test_numeric_visit_refused(fev, structure):
    with pytest.raises(DataError, match="must be a factor"):
        mfx.mmrm(f"FEV1 ~ ARMCD + {structure}(VISITN | USUBJID)", fev)


def test_too_few_subjects():
    rng = np.random.default_rng(1)
    few = pd.DataFrame({"id": np.repeat(["a", "b", "c"], 4),
                        "v": pd.Categorical(np.tile(["t1", "t2", "t3", "t4"], 3)),
                        "y": rng.normal(size=12)})
    with pytest.raises(DataError, match="too few subjects"):
        mfx.mmrm("y ~ us(v | id)", few)
    with pytest.raises(DataError, match="too few observations"):
        mfx.mmrm("y ~ us(v | id)", few.iloc[:10])


@pytest.mark.parametrize("w", [0.0, -1.0, np.inf])
def test_non_positive_weights(fev, w):
    weights = np.ones(len(fev))
    weights[5] = w
    with pytest.raises(DataError, match="positive"):
        mfx.mmrm("FEV1 ~ ARMCD + ar1(AVISIT | USUBJID)", fev, weights=weights)


def test_weights_length_and_column(fev):
    with pytest.raises(ArgumentError, match="length"):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, weights=np.ones(3))
    with pytest.raises(ArgumentError, match="not in data"):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, weights="nope")


def test_unknown_columns_and_arguments(fev):
    with pytest.raises(DataError, match="not in data"):
        mfx.mmrm("FEV1 ~ ar1(VISIT | USUBJID)", fev)
    with pytest.raises(ArgumentError, match="method"):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, method="KR")
    with pytest.raises(ArgumentError, match="vcov"):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, vcov="sandwich")
    with pytest.raises(ArgumentError, match="REML"):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, reml=False, method="Kenward-Roger")
    with pytest.raises(TypeError):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, REML=False)
    with pytest.raises(MixedfxError):
        mfx.mmrm("FEV1 ~ ar1(AVISIT | USUBJID)", fev, reml="yes")


def test_subject_in_two_groups(fev):
    bad = fev.copy()
    bad.loc[1, "ARMCD"] = "PBO" if bad.loc[1, "ARMCD"] == "TRT" else "TRT"
    with pytest.raises(DataError, match="more than one level"):
        mfx.mmrm("FEV1 ~ cs(AVISIT | ARMCD / USUBJID)", bad)


def test_non_convergence_suggests_a_simpler_structure():
    # visit b repeats visit a exactly: the unstructured Σ is singular at the optimum
    rng = np.random.default_rng(3)
    y1, y3 = rng.normal(size=30), rng.normal(size=30)
    d = pd.DataFrame({"id": np.repeat(np.arange(30).astype(str), 3),
                      "v": np.tile(["a", "b", "c"], 30),
                      "y": np.column_stack([y1, y1, y3]).ravel()})
    with pytest.raises(mfx.ConvergenceError, match=r"did not converge.*simpler covariance"):
        mfx.mmrm("y ~ us(v | id)", d)
