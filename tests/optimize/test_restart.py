"""Restarting singular fits (optimize.restart): the interior starts and the keep-the-better
rule, and the simulated case where BOBYQA plus lme4's restart_edge stop worse."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.optimize.restart import INTERIOR_MIN_SD, interior_point, restart_singular


def test_interior_point_is_positive_definite_with_free_signs() -> None:
    # (x | g) at T₁₁ = 0 with T₂₁ = −0.03, then a scalar term at 0
    theta = np.array([0.0, -0.03, 0.004, 0.0])
    lower = np.array([0.0, -np.inf, 0.0, 0.0])
    out = interior_point(theta, lower, [(0, 2)])
    assert out[0] > 0 and out[2] > 0 and out[3] == INTERIOR_MIN_SD
    assert out[1] == pytest.approx(0.0, abs=1e-12)       # TTᵀ had no covariance
    plus = interior_point(theta, lower, [(0, 2)], rho=0.5)
    minus = interior_point(theta, lower, [(0, 2)], rho=-0.5)
    assert plus[1] > 0 > minus[1]
    # the covariance is kept and c²R added: T Tᵀ + c² R
    T = np.array([[plus[0], 0], [plus[1], plus[2]]])
    c2 = INTERIOR_MIN_SD ** 2
    np.testing.assert_allclose(T @ T.T, [[c2, 0.5 * c2], [0.5 * c2, 0.03**2 + 0.004**2 + c2]])


def test_a_restart_must_gain_more_than_the_tolerance() -> None:
    x = np.array([0.0, 1.0])
    moved = np.array([0.1, 1.0])
    keep = restart_singular(lambda s: (moved, 10.0 - 1e-9, "NLOPT_FTOL_REACHED"), x, 10.0,
                            [("interior", moved)], 1e-8)
    assert keep[0] is x and keep[2] is None and len(keep[3]) == 2
    take = restart_singular(lambda s: (moved, 9.0, "NLOPT_XTOL_REACHED"), x, 10.0,
                            [("interior", moved)], 1e-8)
    assert take[1] == 9.0 and take[2] == "NLOPT_XTOL_REACHED"


def _sim(seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, 50, n).astype(str),
                      "h": rng.integers(0, 10, n).astype(str)})
    d["y"] = 1 + 0.5 * d["x"] + rng.normal(size=n)
    return d


def test_singular_fit_is_restarted_to_the_better_optimum() -> None:
    """All true variances zero. BOBYQA alone stops at a singular θ whose (x | g) block has
    T₂₂ = 0 and T₁₁ ≈ 0 or T₂₁ of the wrong sign: the one-sided slope into the zero
    coordinate is ≥ 0 (the gradient of Σ = TTᵀ in T vanishes at T = 0, and the sign of the
    column below a zero diagonal is free), so restart_edge does not move it."""
    d = _sim(18)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = mfx.lmer("y ~ x + (x | g) + (1 | h)", d, control={"restart_singular": False})
        new = mfx.lmer("y ~ x + (x | g) + (1 | h)", d)
        cob = mfx.lmer("y ~ x + (x | g) + (1 | h)", d, control={"optimizer": "cobyla"})
    assert old.deviance - cob.deviance > 0.5              # what the issue reports
    assert new.deviance <= cob.deviance + 1e-6 * abs(cob.deviance)
    assert new.deviance < old.deviance - 0.5


def test_signed_interior_starts_only_below_a_zero_diagonal() -> None:
    from mixedfx.optimize.restart import interior_points

    lower = np.array([0.0, -np.inf, 0.0, 0.0])
    singular_block = interior_points(np.array([0.0, -0.03, 0.004, 0.5]), lower, [(0, 2)])
    assert [label for label, _ in singular_block] == \
        ["interior", "interior rho=+0.5", "interior rho=-0.5"]
    other_term = interior_points(np.array([0.3, -0.03, 0.2, 0.0]), lower, [(0, 2)])
    assert [label for label, _ in other_term] == ["interior"]
