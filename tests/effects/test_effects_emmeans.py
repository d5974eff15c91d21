"""effect / emmeans / pairs against R's effects and emmeans packages
(tests/reference/extra/make_effects.R -> effects.json). LMM numbers agree to 1e-8; GLMM numbers
within the documented difference of our Laplace optimum from lme4's."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "effects.json")
                 .read_text())


@cache
def models() -> dict:
    ss = mfx.datasets.load("sleepstudy")
    ss["grp"] = np.where(ss.Subject.astype(str).astype(int) < 335, "A", "B")
    ss["phase"] = np.where(ss.Days <= 4, "early", "late")
    cb = mfx.datasets.load("cbpp")
    cb["x"] = cb.herd.astype(str).astype(int) / 3
    return {
        "m": mfx.lmer("Reaction ~ Days * grp + (1 | Subject)", ss),
        "m2": mfx.lmer("Reaction ~ Days + grp + phase + (1 | Subject)", ss),
        "g": mfx.glmer("cbind(incidence, size - incidence) ~ period + x + (1 | herd)", cb,
                       family="binomial"),
    }


def compare(got: pd.DataFrame, key: str, rtol: float) -> None:
    ref = pd.DataFrame(REF[key])
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for c in ref.columns:
        if pd.api.types.is_numeric_dtype(ref[c]):
            np.testing.assert_allclose(got[c].to_numpy(float), ref[c].to_numpy(float),
                                       rtol=rtol, err_msg=c)
        elif ref[c].isna().all():                    # df = Inf is written as null
            assert np.all(np.isinf(got[c].to_numpy(float))), c
        else:
            assert got[c].astype(str).tolist() == ref[c].astype(str).tolist(), c


LMM_CASES = [
    ("eff_days", lambda M: mfx.effect(M["m"], "Days")),
    ("eff_days_xlev", lambda M: mfx.effect(M["m"], "Days", xlevels={"Days": [0, 3, 6, 9]})),
    ("eff_grp", lambda M: mfx.effect(M["m"], "grp")),
    ("eff_days_grp", lambda M: mfx.effect(M["m"], "Days:grp", xlevels={"Days": [0, 9]})),
    ("eff_m2_phase", lambda M: mfx.effect(M["m2"], "phase")),
    ("eff_m2_days_90", lambda M: mfx.effect(M["m2"], "Days", level=0.9)),
    ("emm_grp_kr", lambda M: mfx.emmeans(M["m"], "grp")),
    ("emm_grp_satt", lambda M: mfx.emmeans(M["m"], "grp", lmer_df="satterthwaite")),
    ("emm_grp_at", lambda M: mfx.emmeans(M["m"], "grp", at={"Days": 2})),
    ("emm_m2_phase_by", lambda M: mfx.emmeans(M["m2"], "phase", by="grp")),
    ("emm_m2_grp", lambda M: mfx.emmeans(M["m2"], "grp")),
    ("pairs_m2_phase", lambda M: mfx.pairs(M["m2"], "phase")),
]


@pytest.mark.parametrize(("key", "make"), LMM_CASES, ids=[c[0] for c in LMM_CASES])
def test_lmm_matches_r(key, make):
    compare(make(models()), key, rtol=1e-7)


GLMM_CASES = [
    ("eff_glmm_x", lambda M: mfx.effect(M["g"], "x")),
    ("eff_glmm_period", lambda M: mfx.effect(M["g"], "period")),
    ("emm_glmm", lambda M: mfx.emmeans(M["g"], "period")),
    ("emm_glmm_resp", lambda M: mfx.emmeans(M["g"], "period", type="response")),
    ("pairs_glmm", lambda M: mfx.pairs(M["g"], "period")),
]


@pytest.mark.parametrize(("key", "make"), GLMM_CASES, ids=[c[0] for c in GLMM_CASES])
def test_glmm_matches_r(key, make):
    compare(make(models()), key, rtol=5e-3)


def test_emmeans_pairwise_dict():
    out = mfx.emmeans(models()["m2"], "phase", pairwise=True)
    compare(out["contrasts"], "pairs_m2_phase", rtol=1e-7)
    assert out["emmeans"].attrs["df_method"] == "Kenward-Roger"


def test_bad_input():
    M = models()
    with pytest.raises(ValueError, match="not among the model's fixed-effects predictors"):
        mfx.effect(M["m"], "Dayz")
    with pytest.raises(ValueError, match="not among"):
        mfx.emmeans(M["m"], "Subject")
    with pytest.raises(ValueError, match="not focal"):
        mfx.effect(M["m"], "Days", xlevels={"grp": 2})
    with pytest.raises(ValueError, match="lmer_df"):
        mfx.emmeans(M["m"], "grp", lmer_df="containment")
    with pytest.raises(ValueError, match="lmer_df applies"):
        mfx.emmeans(M["g"], "period", lmer_df="satterthwaite")
    with pytest.raises(ValueError, match="not levels"):
        mfx.emmeans(M["m"], "grp", at={"grp": ["C"]})
    with pytest.raises(ValueError, match="adjust"):
        mfx.pairs(M["m"], "grp", adjust="mvt")
