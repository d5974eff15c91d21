"""display() against arm 1.13-1's printed output (tests/reference/extra/display/make_display.R
-> display.json) for lmer (REML and ML, slopes with a correlation, crossed factors), glmer
(binomial, Poisson), nested and uncorrelated (`||`, printed in lme4's expanded call) terms,
lm and glm (binomial, Poisson, Gaussian with its dispersion lines; user data named with
`data_name=`), each
with the defaults, `detail=True` and `digits=3`.

LMM, lm and glm lines must be identical. GLMM numbers come from lme4's Laplace optimum, which
stops ~1e-4 (relative) from the exact one, so a rounded number may differ by one unit in its
last printed digit (cbpp's period3 z value −3.495 prints −3.50 here, −3.49 in R); the rest of
those lines — widths, labels, every other character — must be identical."""

from __future__ import annotations

import json
import re
import warnings
from functools import cache
from pathlib import Path

import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError

REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "display" /
                  "display.json").read_text())
NUMBER = re.compile(r"-?\d+\.\d+")
VARIANTS = {"printed": {}, "printed_detail": {"detail": True}, "printed_digits3": {"digits": 3}}


@cache
def models() -> dict:
    ss, pen = mfx.datasets.load("sleepstudy"), mfx.datasets.load("Penicillin")
    cb, gt = mfx.datasets.load("cbpp"), mfx.datasets.load("grouseticks")
    o = mfx.datasets.load("Orthodont")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "lmer_sleep_reml": mfx.lmer("Reaction ~ Days + (Days | Subject)", ss),
            "lmer_sleep_ml": mfx.lmer("Reaction ~ Days + (1 | Subject)", ss, REML=False),
            "lmer_orth": mfx.lmer("distance ~ age * Sex + (age | Subject)", o),
            "lmer_penicillin": mfx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", pen),
            "lmer_pastes_nested": mfx.lmer("strength ~ 1 + (1 | batch / cask)",
                                           mfx.datasets.load("Pastes")),
            "lmer_sleep_uncor": mfx.lmer("Reaction ~ Days + (Days || Subject)", ss),
            "glmer_cbpp": mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                    cb, family="binomial"),
            "glmer_ticks": mfx.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", gt,
                                     family="poisson"),
            "lm_sleep": mfx.lm("Reaction ~ Days", ss),
            "lm_orth": mfx.lm("distance ~ age * Sex", o),
            "glm_cbpp": mfx.glm("cbind(incidence, size - incidence) ~ period", cb,
                                family="binomial"),
            "glm_ticks": mfx.glm("TICKS ~ YEAR + cHEIGHT", gt, family="poisson"),
            "glm_orth_gauss": mfx.glm("distance ~ age + Sex", o, family="gaussian"),
            "lm_orth_named": mfx.lm("distance ~ age + Sex", o, data_name="orth2"),
            "glm_cbpp_named": mfx.glm("cbind(incidence, size - incidence) ~ period", cb,
                                      family="binomial", data_name="herds"),
        }


def _same_up_to_last_digit(got: str, want: str) -> bool:
    if NUMBER.sub("#", got) != NUMBER.sub("#", want):
        return False
    for a, b in zip(NUMBER.findall(got), NUMBER.findall(want), strict=True):
        unit = 10.0 ** -len(b.split(".")[1])
        if abs(float(a) - float(b)) > 1.01 * unit:
            return False
    return True


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("key", list(REF))
def test_display_matches_arm(key: str, variant: str) -> None:
    got = str(mfx.display(models()[key], **VARIANTS[variant])).splitlines()
    want = REF[key][variant]
    assert len(got) == len(want)
    if key.startswith("glmer"):
        for a, b in zip(got, want, strict=True):
            assert _same_up_to_last_digit(a, b), (a, b)
    else:
        assert got == want


def test_display_refuses_other_objects() -> None:
    with pytest.raises(ArgumentError, match="lmer, glmer, lm or glm"):
        mfx.display("model")
    with pytest.raises(ArgumentError, match="lmer, glmer, lm or glm"):
        mfx.display(mfx.gls("distance ~ age", mfx.datasets.load("Orthodont")))
    with pytest.raises(ArgumentError, match="digits"):
        mfx.display(models()["lm_sleep"], digits=-1)
