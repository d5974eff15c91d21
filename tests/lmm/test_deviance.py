"""σ̂ profiled out of the deviance (`lmm.deviance.profiled_sigma`) against lme4's own
`getME(m, "devcomp")$cmp` of every lmer reference case: from lme4's pwrss, n and p it gives
lme4's sigmaML = √(pwrss / n) and sigmaREML = √(pwrss / (n − p))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixedfx.lmm.deviance import profiled_sigma

REFERENCE = Path(__file__).parents[1] / "reference"
CASES = [c for c in (json.loads(p.read_text()) for p in sorted(REFERENCE.glob("*.json")))
         if c.get("engine") == "lme4::lmer" and c["expected"].get("devcomp_cmp")]


def test_there_are_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_profiled_sigma_is_lme4s(case: dict) -> None:
    e = case["expected"]
    cmp, n, p = e["devcomp_cmp"], e["nobs"], len(e["fixef"])
    assert profiled_sigma(cmp["pwrss"], n, p, reml=False) == pytest.approx(cmp["sigmaML"],
                                                                           rel=1e-12)
    assert profiled_sigma(cmp["pwrss"], n, p, reml=True) == pytest.approx(cmp["sigmaREML"],
                                                                          rel=1e-12)


def test_a_pwrss_rounded_below_zero_gives_zero() -> None:
    assert profiled_sigma(-1e-300, 10, 2, reml=True) == 0.0
