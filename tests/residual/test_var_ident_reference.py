"""nlme's reference stratum of varIdent with a correlation grouping finer than the random
effects' (issue 23 item 10): nlme's Pixel, `lme(pixel ~ day + I(day^2), random = ~ day | Dog,
correlation = corCompSymm(form = ~ 1 | Dog/Side), weights = varIdent(form = ~ 1 | Side))`.
nlme sorts the rows by Dog, then Side within Dog, so L (met first) is the reference and the
printed parameters are σ and the ratio of R. R: tests/reference/extra/pixel_varident."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

HERE = Path(__file__).resolve().parents[1] / "reference" / "extra" / "pixel_varident"
REF = json.loads((HERE / "pixel_varident.json").read_text())
FORMULA = "pixel ~ day + I(day^2) + (day | Dog)"


@pytest.fixture(scope="module")
def pixel() -> pd.DataFrame:
    d = pd.read_csv(HERE / "pixel.csv")
    d["Dog"] = pd.Categorical(d["Dog"].astype(str), categories=[str(i) for i in range(1, 11)])
    d["Side"] = pd.Categorical(d["Side"], categories=["L", "R"])
    return d


def _check(m: object, ref: dict) -> None:
    assert m.loglik == pytest.approx(ref["logLik"], abs=1e-3)          # reference README
    assert list(m.var_struct.params.index) == list(ref["var_ident"])   # "R": L is reference
    np.testing.assert_allclose(m.var_struct.params, list(ref["var_ident"].values()),
                               rtol=1e-3)
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-3)
    np.testing.assert_allclose(m.fixef, list(ref["fixef"].values()), rtol=1e-4)


@pytest.mark.parametrize("case", ["cor_finer", "cor_finer_reordered"])
def test_correlation_grouping_finer_than_random(pixel: pd.DataFrame, case: str) -> None:
    """Whatever the row order of the data (the reordered copy starts with Side R), the
    reference is the first stratum of nlme's sorted order."""
    data = pixel if case == "cor_finer" else \
        pixel.iloc[np.argsort((pixel["Side"] == "L").to_numpy(), kind="stable")]
    m = mfx.lmer(FORMULA, data, correlation=mfx.cor_comp_symm("~ 1 | Dog/Side"),
                 weights=mfx.var_ident("~ 1 | Side"))
    _check(m, REF[case])
    assert m.cor_struct.params["Rho"] == pytest.approx(REF[case]["cor"]["Rho"], rel=1e-3)


def test_nested_random_effects(pixel: pd.DataFrame) -> None:
    m = mfx.lmer("pixel ~ day + I(day^2) + (day | Dog) + (1 | Dog:Side)", pixel,
                 weights=mfx.var_ident("~ 1 | Side"))
    _check(m, REF["nested_random"])
