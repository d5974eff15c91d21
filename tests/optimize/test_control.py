"""Evaluation budgets that scale with the problem (`Control.maxeval=None`): tiny problems end
in a bounded number of evaluations (issue 18, part 5), counted, not timed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.errors import DataError
from mixedfx.optimize import Control
from mixedfx.optimize.control import eval_budget


def test_budget_scales_with_the_parameters() -> None:
    assert [eval_budget(d) for d in (1, 2, 4, 9, 20, 40)] == \
        [1_000, 1_000, 2_500, 10_000, 44_100, 100_000]
    assert Control().maxeval is None and Control().budget(9) == 10_000
    assert Control(maxeval=123).budget(9) == 123        # the user's budget is kept
    with pytest.raises(ValueError, match="maxeval must be a positive integer"):
        Control(maxeval=0)


def _binary(seed: int = 8, n: int = 30) -> pd.DataFrame:
    """30 rows as the fuzzer builds them: a separated binary response (a fixed effect of
    the 5-level factor g drifts to −∞)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 5, n)
    f = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    x, z = rng.normal(size=n), rng.normal(size=n)
    eta = 0.5 * x + rng.normal(0, 0.7, 5)[g]
    yb = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"yb": yb, "x": x, "z": z, "g": g.astype(str), "f": f})


def test_tiny_binomial_sbplx_fit_is_bounded() -> None:
    """The fuzz case `I(yb) ~ g + (z || f) + f` with Sbplx ran lme4's 100 000 stage-2
    evaluations (96 s); now 2 θ + 7 β parameters get 10 000 and a convergence warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = mfx.glmer("I(yb) ~ g + (z || f) + f", _binary(), family="binomial",
                      control={"optimizer": "sbplx"})
    assert np.isfinite(m.loglik)
    stage1, stage2 = eval_budget(2), eval_budget(9)
    # plus the finite-difference gradient and Hessian at the end (~2 d² evaluations); a stage
    # 2 that ends singular is rerun from the boundary point and from one interior point per
    # sign pattern (optimize.restart: at most 3 runs here), each with the stage's budget
    evaluations = m.optimizer_info["evaluations"]
    singular = any("singular" in s for s in m.optimizer_info["messages"])
    restarts = 3 if singular else 0
    assert evaluations <= stage1 + (1 + restarts) * stage2 + 2 * 9 * 9 + 50
    # the objective is flat along the separated coefficient: Sbplx either runs out of its
    # budget (lme4's warning) or stops earlier where lme4's checks complain (which one
    # depends on the last bits of every evaluation, i.e. on the BLAS kernel)
    text = " ".join(str(w.message) for w in caught
                    if issubclass(w.category, mfx.ConvergenceWarning))
    if not singular and evaluations >= stage2:
        assert "maximum number of function evaluations (10000) exceeded" in text
    assert text


def test_more_random_effects_than_observations_is_refused_early() -> None:
    """lme4's check.nobs.vs.nRE ("stop"): a 4-column term on 40 × 3 groups of 200 rows."""
    rng = np.random.default_rng(0)
    n = 200
    d = pd.DataFrame({"s": rng.poisson(3, n).astype(float), "x": rng.normal(size=n),
                      "z": rng.normal(size=n), "g": rng.integers(0, 40, n).astype(str),
                      "h": rng.integers(0, 3, n)})
    with pytest.raises(DataError, match=r"number of observations \(=200\) < number of random "
                       r"effects \(=\d+\) for term \(\(Intercept\) \+ x \+ z \+ x:z \| h:g\)"):
        mfx.glmer_nb("s ~ x + (x*z | g/h)", d)
    d["y"] = rng.normal(size=n)
    with pytest.raises(DataError, match=r"number of observations \(=200\) <= number of random "
                       r"effects"):
        mfx.lmer("y ~ x + (x*z | g/h)", d)
