"""Formula conveniences on fitted models (issue 23 item 7), against lme4:
`.` and relevel() fits, `m.call` as R prints `m@call`, `m.formula` and the `Data:` line.
R: tests/reference/extra/formula_conveniences/make_formula_conveniences.R."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

HERE = Path(__file__).resolve().parents[1] / "reference" / "extra" / "formula_conveniences"
REF = json.loads((HERE / "formula_conveniences.json").read_text())


@pytest.fixture(scope="module")
def dot_data() -> pd.DataFrame:
    d = pd.read_csv(HERE / "dot_data.csv")
    d["Subject"] = pd.Categorical(d["Subject"].astype(str))     # a factor, as in R
    return d


def _formula(call: str) -> str:
    return re.search(r"formula = (.*?), data = ", call).group(1)


CASES = {"dot": ["Reaction", "Days", "f", "x", "Subject"],
         "dot_plus": ["Reaction", "Days", "f", "x", "Subject"],
         "relevel_pos": None, "relevel_ref": None}


@pytest.mark.parametrize("case", list(CASES))
def test_fit_matches_lme4(dot_data: pd.DataFrame, case: str) -> None:
    ref = REF[case]
    data = dot_data if CASES[case] is None else dot_data[CASES[case]]
    m = mfx.lmer(_formula(ref["call"]), data)
    assert list(m.fixef.index) == ref["fixef_names"]
    np.testing.assert_allclose(m.fixef, ref["fixef"], rtol=1e-4)      # reference README
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), ref["se"], rtol=1e-3)
    assert m.deviance == pytest.approx(ref["deviance"], rel=1e-7)
    assert m.formula == ref["formula"]                       # formula(m): the dot kept


def test_dot_includes_the_grouping_variable_as_lme4(dot_data: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # singular: Subject twice
        m = mfx.lmer("Reaction ~ . + (1 | Subject)", dot_data[CASES["dot"]])
    assert list(m.fixef.index) == REF["dot_all_names"]


@pytest.mark.parametrize("case", ["lm_log_dot", "glm_cbind_dot"])
def test_lm_glm_dot_leaves_out_the_response_columns(dot_data: pd.DataFrame, case: str) -> None:
    """R's lm / glm: `log(y) ~ .` and `cbind(s, f) ~ .` leave out the columns the response
    names (lme4 would not; mfx.lmer refuses those formulas)."""
    data = dot_data[CASES["dot"]]
    if case == "lm_log_dot":
        m = mfx.lm("log(Reaction) ~ . - Subject", data)
    else:
        m = mfx.glm("cbind(Days, 9 - Days) ~ . - Subject", data, family="binomial")
    assert list(m.fixef.index) == REF[case]["fixef_names"]
    np.testing.assert_allclose(m.fixef, REF[case]["fixef"], rtol=1e-6)


def test_relevel_emmeans_in_the_relevelled_order(dot_data: pd.DataFrame) -> None:
    """emmeans / pairs of `relevel(f, ref = "c")` list c first, as emmeans does for the
    relevelled column (same model, same numbers)."""
    m = mfx.lmer("Reaction ~ Days * relevel(f, ref = \"c\") + (1 | Subject)", dot_data)
    for got, want in ((mfx.emmeans(m, "f"), REF["relevel_emmeans"]["emmeans"]),
                      (mfx.pairs(m, "f"), REF["relevel_emmeans"]["pairs"])):
        want = pd.DataFrame(want)
        assert list(got.columns) == list(want.columns)
        key = "contrast" if "contrast" in want else "f"
        assert got[key].astype(str).tolist() == want[key].tolist()
        for col in want.columns.drop(key):
            np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                       rtol=1e-4, err_msg=col)


def test_dot_model_survives_save_and_load(dot_data: pd.DataFrame, tmp_path: Path) -> None:
    m = mfx.lmer("Reaction ~ x + . - Subject + f:Days + (1 | Subject)",
                 dot_data[CASES["dot"]])
    back = mfx.load(m.save(tmp_path / "m.npz"))
    assert back.formula == m.formula
    pd.testing.assert_series_equal(back.fixef, m.fixef)


@pytest.mark.parametrize("case", ["ml_call", "glmer_call", "sqrt_call", "gls_call"])
def test_call_prints_as_r(case: str) -> None:
    want = REF[case]["call"].replace("nlme::", "")
    if case == "ml_call":
        m = mfx.lmer("Reaction ~ Days + (Days | Subject)", mfx.datasets.load("sleepstudy"),
                     REML=False)
    elif case == "glmer_call":
        m = mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                      mfx.datasets.load("cbpp"), family="binomial")
    elif case == "sqrt_call":
        m = mfx.glmer("TICKS ~ YEAR + (1 | BROOD)", mfx.datasets.load("grouseticks"),
                      family=mfx.families.poisson(link="sqrt"))
    else:
        m = mfx.gls("distance ~ age", mfx.datasets.load("Orthodont"), REML=False)
    assert m.call == want


def test_glmer_nb_call_as_r() -> None:
    m = mfx.glmer_nb("TICKS ~ YEAR + (1 | BROOD)", mfx.datasets.load("grouseticks"))
    want = REF["nb_call"]["call"]
    head, theta = re.match(r"(.*theta = )([0-9.]+)\)\)$", want).groups()
    got = re.match(r"(.*theta = )([0-9.]+)\)\)$", m.call)
    assert got is not None and got.group(1) == head
    assert float(got.group(2)) == pytest.approx(float(theta), rel=1e-3)   # θ̂ to optimizer tol


def test_data_line_and_data_name() -> None:
    s = mfx.datasets.load("sleepstudy")
    m = mfx.lmer("Reaction ~ Days + (1 | Subject)", s)
    assert REF["data_line"] in str(m.summary()).splitlines()      # "   Data: sleepstudy"
    plain = pd.DataFrame(s)
    plain.attrs = {}
    anon = mfx.lmer("Reaction ~ Days + (1 | Subject)", plain)
    assert "Data:" not in str(anon.summary())                        # name unknown: omitted
    assert anon.call.startswith("lmer(formula = Reaction ~ Days + (1 | Subject), data = data")
    named = mfx.lmer("Reaction ~ Days + (1 | Subject)", plain, data_name="sleep2")
    assert "   Data: sleep2" in str(named.summary()).splitlines()
    assert "data = sleep2" in named.call
    with pytest.raises(TypeError, match="data_name must be a non-empty string"):
        mfx.lmer("Reaction ~ Days + (1 | Subject)", plain, data_name="")
    assert mfx.lm("Reaction ~ Days", plain, data_name="sleep2").call == \
        "lm(formula = Reaction ~ Days, data = sleep2)"
    assert mfx.lm("Reaction ~ Days", plain).call.endswith("data = data)")
    with pytest.raises(TypeError, match="data_name must be a non-empty string"):
        mfx.glm("Reaction ~ Days", plain, data_name=3)
