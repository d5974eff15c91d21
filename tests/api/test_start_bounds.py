"""θ start values outside the optimizer's bounds are refused, as lme4 refuses them.

Reference: tests/reference/extra/start_bounds/make_start_bounds.R (lme4 1.1.31): lmer stops
with nloptr's "at least one element in x0 < lb" and glmer with bobyqa's "Starting values
violate bounds" for a negative diagonal element of θ; a negative off-diagonal element and a
start on the bound 0 are accepted, and those fits reach lme4's θ.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedfx as mfx
from mixedfx.errors import ArgumentError

R = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "start_bounds"
                / "start_bounds.json").read_text())
SL = mfx.datasets.load("sleepstudy")
CB = mfx.datasets.load("cbpp")
CBF = "cbind(incidence, size - incidence) ~ period + (1 | herd)"

CASES = {
    "lmer_negative": lambda: mfx.lmer("Reaction ~ Days + (1 | Subject)", SL, start=[-1.0]),
    "lmer_slope_negative_diagonal": lambda: mfx.lmer(
        "Reaction ~ Days + (Days | Subject)", SL, start=[1.0, -0.5, -1.0]),
    "lmer_slope_negative_offdiagonal": lambda: mfx.lmer(
        "Reaction ~ Days + (Days | Subject)", SL, start=[1.0, -0.5, 1.0]),
    "lmer_zero": lambda: mfx.lmer("Reaction ~ Days + (1 | Subject)", SL, start=[0.0]),
    "glmer_negative": lambda: mfx.glmer(CBF, CB, family="binomial", start={"theta": [-1.0]}),
    "glmer_zero": lambda: mfx.glmer(CBF, CB, family="binomial", start={"theta": [0.0]}),
}


def test_every_reference_case_is_run() -> None:
    assert set(CASES) == set(R) - {"lme4"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_start_refused_or_accepted_as_in_lme4(case: str) -> None:
    expected = R[case]
    if expected["refused"]:
        with pytest.raises(ArgumentError, match=r"start(\['theta'\]| \(theta\)) must lie within "
                           r"the bounds of theta.* is below its lower bound 0"):
            CASES[case]()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = CASES[case]()
    # θ̂ agrees with lme4's to the reference tolerance of θ (tests/reference/README.md: 1e-3
    # relative; a GLMM's θ̂ is found to glmm_xtol_abs 1e-4)
    np.testing.assert_allclose(m.theta, np.atleast_1d(expected["theta"]), rtol=1e-3, atol=1e-4)


def test_the_message_names_each_element_outside_its_bounds() -> None:
    with pytest.raises(ArgumentError) as info:
        mfx.lmer("Reaction ~ Days + (Days | Subject)", SL, start=[-2.0, -0.5, -1.0])
    msg = str(info.value)
    assert "start (theta)[0] = -2 is below its lower bound 0" in msg
    assert "start (theta)[2] = -1 is below its lower bound 0" in msg
    assert "start (theta)[1]" not in msg              # the off-diagonal is unbounded
    assert "lower bounds [0.0, -inf, 0.0], upper bounds [inf, inf, inf]" in msg
