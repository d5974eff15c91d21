"""Bad input gets a clear error that names the problem, never a deep numpy traceback."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.formula import FormulaError


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mfx.datasets.load("sleepstudy")


def fit(formula: str, data: pd.DataFrame, **kw: object) -> mfx.lmer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mfx.lmer(formula, data=data, **kw)


def test_missing_column_is_named_with_suggestion(sleep: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match=r"unknown variable 'Dayz'.*did you mean 'Days'"):
        fit("Reaction ~ Dayz + (1 | Subject)", sleep)


def test_non_numeric_response(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"response 'Subject' must be numeric"):
        fit("Subject ~ Days + (1 | Subject)", sleep)


def test_non_finite_response(sleep: pd.DataFrame) -> None:
    bad = sleep.assign(Reaction=np.where(np.arange(len(sleep)) == 3, np.inf, sleep.Reaction))
    with pytest.raises(ValueError, match=r"non-finite|infinite value"):
        fit("Reaction ~ Days + (1 | Subject)", bad)


def test_non_finite_after_transformation(sleep: pd.DataFrame) -> None:
    bad = sleep.assign(Reaction=np.where(np.arange(len(sleep)) == 0, 0.0, sleep.Reaction))
    with pytest.raises(ValueError, match=r"non-finite|infinite value"):
        fit("log(Reaction) ~ Days + (1 | Subject)", bad)


def test_empty_data(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no rows"):
        fit("Reaction ~ Days + (1 | Subject)", sleep.iloc[:0])


def test_all_rows_missing(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no observations left"):
        fit("Reaction ~ Days + (1 | Subject)", sleep.assign(Days=np.nan))


def test_grouping_factor_with_as_many_levels_as_rows(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"number of levels of each grouping factor must be < "
                                         r"number of observations \(problems: id\)"):
        fit("Reaction ~ Days + (1 | id)", sleep.assign(id=np.arange(len(sleep))))


def test_grouping_factor_with_one_level(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"grouping factors must have > 1 sampled level"):
        fit("Reaction ~ Days + (1 | one)", sleep.assign(one="a"))


def test_too_many_random_effects(sleep: pd.DataFrame) -> None:
    small = sleep[sleep.Subject.isin(["308", "309", "310", "330"])].groupby(
        "Subject", observed=True).head(2)
    with pytest.raises(ValueError, match=r"number of observations \(=8\) <= number of random "
                                         r"effects"):
        fit("Reaction ~ Days + (Days | Subject)", small.assign(
            Subject=small.Subject.cat.remove_unused_categories()))


def test_no_random_effects_term(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="No random effects terms"):
        fit("Reaction ~ Days", sleep)


@pytest.mark.parametrize("formula, message", [
    ("Reaction ~ Days + (|Subject)", "empty left side of '|'"),
    ("Reaction ~ Days + (1|)", "empty right side of '|'"),
    ("Reaction ~ Days + (1|Subject", "unbalanced parentheses"),
    ("Reaction + Days + (1|Subject)", "missing '~'"),
])
def test_malformed_formula_points_at_problem(sleep: pd.DataFrame, formula: str,
                                             message: str) -> None:
    with pytest.raises(FormulaError, match=message) as info:
        fit(formula, sleep)
    assert "^" in str(info.value)  # a caret marks the position


@pytest.mark.parametrize("formula", [
    'Reaction ~ __import__("os").system("touch {p}") + (1 | Subject)',
    "Reaction ~ Days + I(__import__('os').system('touch {p}')) + (1 | Subject)",
    'Reaction ~ eval("open(\'{p}\', \'w\')") + (1 | Subject)',
    "Reaction ~ Days.__class__ + (1 | Subject)",
    "Reaction ~ Days + (1 | Subject); open('{p}', 'w')",
])
def test_formula_with_python_code_is_refused(sleep: pd.DataFrame, tmp_path: Path,
                                             formula: str) -> None:
    target = tmp_path / "pwned"
    with pytest.raises(FormulaError):
        fit(formula.format(p=target), sleep)
    assert not target.exists()
    assert not os.path.exists("pwned")


def test_weights_must_be_positive(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="weights must be positive"):
        fit("Reaction ~ Days + (1 | Subject)", sleep, weights=np.zeros(len(sleep)))


def test_weights_wrong_length(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="one value per row"):
        fit("Reaction ~ Days + (1 | Subject)", sleep, weights=np.ones(3))


def test_na_action_fail(sleep: pd.DataFrame) -> None:
    d = sleep.copy()
    d.loc[0, "Reaction"] = np.nan
    with pytest.raises(ValueError, match="missing values in 1 row"):
        fit("Reaction ~ Days + (1 | Subject)", d, na_action="fail")


def test_data_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        mfx.lmer("y ~ x + (1 | g)", data=[1, 2, 3])


def test_unknown_control_setting(sleep: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown control setting"):
        fit("Reaction ~ Days + (1 | Subject)", sleep, control={"maxiter": 3})


def test_new_levels_in_predict_need_permission(sleep: pd.DataFrame) -> None:
    m = fit("Reaction ~ Days + (Days | Subject)", sleep)
    new = pd.DataFrame({"Days": [1.0], "Subject": ["999"]})
    with pytest.raises(ValueError, match=r"new levels detected.*allow_new_levels=True"):
        m.predict(new)
