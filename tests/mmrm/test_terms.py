"""The covariance term of an MMRM formula."""

from __future__ import annotations

import pytest

from mixedfx.errors import FormulaError
from mixedfx.mmrm.terms import CovarianceTerm, split_formula


def test_plain_term():
    fixed, term = split_formula("FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)")
    assert fixed == "FEV1 ~ RACE + ARMCD * AVISIT"
    assert term == CovarianceTerm("us", ("AVISIT",), "USUBJID", None)


def test_grouped_and_first_position():
    fixed, term = split_formula("y ~ ar1h(V | ARM / ID) + x")
    assert fixed == "y ~ x"
    assert term.group == "ARM" and term.subject == "ID" and term.structure == "ar1h"


def test_spatial_coordinates_and_intercept_only():
    fixed, term = split_formula("y ~ sp_exp(t1, t2 | id)")
    assert fixed == "y ~ 1"
    assert term.visits == ("t1", "t2") and term.spatial
    assert term.text() == "sp_exp(t1, t2 | id)"


@pytest.mark.parametrize("formula, message", [
    ("y ~ x", "exactly one covariance term"),
    ("y ~ us(v | id) + ar1(v | id)", "exactly one covariance term"),
    ("y ~ us(v, w | id)", "one visit factor"),
    ("y ~ us(v)", "structure(visit | subject)"),
    ("y ~ us(v | a / b / c)", "group / subject"),
    ("y ~ us(log(v) | id)", "must be a column name"),
    ("us(v | id)", "needs a response"),
])
def test_bad_terms(formula, message):
    with pytest.raises(FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_formula(formula)
