"""Profiles of the correlations of a three-column random-effect term that reach ρ = ±1,
against lme4 1.1 profile() / confint(method = "profile") (tests/reference/extra/
make_profile_boundary.R, data profile_boundary_sim.csv).

lme4 maps a correlation vector whose matrix is indefinite through a pivoted Cholesky factor
(its Sv_to_Cv); at ρ = ±1 the feasible set of the other two correlations is a line
(ρ₁₂ = −1 forces ρ₁₃ = −ρ₂₃), so lme4's boundary rows sit at indefinite matrices (their
smallest eigenvalue is negative, recorded by the R script) and are not the profile at ±1; the
same holds for some of its rows beyond. Such rows (and the interval ends interpolated from
them) are not compared; everything lme4 computes at genuine correlation matrices is.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.inference.profile import (
    ParameterProfile,
    Profile,
    _profiler,
    bobyqa,
    profile_model,
)

EXTRA = Path(__file__).parents[1] / "reference" / "extra"
REF = json.loads((EXTRA / "profile_boundary.json").read_text())


@pytest.fixture(scope="module")
def fitted():
    d = pd.read_csv(EXTRA / "profile_boundary_sim.csv")
    d["g"] = d["g"].astype(str)
    m = mfx.lmer(REF["formula"], d, REML=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr = profile_model(m, which="theta_")
    return m, pr


def test_fit_matches(fitted) -> None:
    m, _ = fitted
    assert m.loglik == pytest.approx(REF["logLik"], abs=1e-8)


@pytest.mark.parametrize("name", ["cor_x2.x1|g", "cor_x2.(Intercept)|g", "sd_(Intercept)|g",
                                  "sd_x2|g", "sigma"])
def test_zeta_at_lme4_points_on_genuine_correlation_matrices(fitted, name: str) -> None:
    """ζ of our profile (its interpolating spline) at lme4's rows whose correlation matrix
    is positive definite (smallest eigenvalue > 1e-3), |ζ| < 3. Observed max difference
    1.5e-5 (cor_x2.x1), 5e-5, 7.8e-4, 1.6e-4, 4e-6."""
    _, pr = fitted
    t = REF["profiles"][name]
    z, v, e = (np.array(t[k], dtype=float) for k in ("zeta", "value", "min_eigen"))
    ok = (e > 1e-3) & (np.abs(z) < 3) & (z != 0)
    assert ok.sum() >= 6
    np.testing.assert_allclose(pr.params[name].forward(v[ok]), z[ok], atol=2e-3)


@pytest.mark.parametrize("name", ["sd_x1|g", "sd_x2|g"])
def test_zeta_at_sd_zero_matches(fitted, name: str) -> None:
    _, pr = fitted
    t = REF["profiles"][name]
    z_ref = [z for z, v in zip(t["zeta"], t["value"], strict=True) if v == 0.0]
    tab = pr.params[name].table
    z = tab.loc[tab[name] == 0.0, ".zeta"].to_numpy()
    assert len(z_ref) == 1 and len(z) == 1
    assert z[0] == pytest.approx(z_ref[0], abs=1e-6)


def test_lme4_boundary_rows_are_indefinite() -> None:
    """Why lme4's ζ at ρ = ±1 is not a reference: its rows there are not correlation
    matrices (lme4's ζ: −2.609 / +2.711 for cor_x2.x1; ours −2.625 / +2.177)."""
    for name in ("cor_x2.x1|g", "cor_x1.(Intercept)|g", "cor_x2.(Intercept)|g"):
        t = REF["profiles"][name]
        at_bound = [e for v, e in zip(t["value"], t["min_eigen"], strict=True) if abs(v) == 1.0]
        assert at_bound and max(at_bound) < 0


@pytest.mark.parametrize("name,xx", [("cor_x2.x1|g", -1.0), ("cor_x2.x1|g", 1.0),
                                     ("cor_x1.(Intercept)|g", 1.0),
                                     ("cor_x2.(Intercept)|g", -1.0)])
def test_boundary_points_are_minimized(fitted, name: str, xx: float) -> None:
    """The profile's point at the bound is a minimum of the deviance over the other
    parameters: 12 BOBYQA runs from starts scattered about it (sds × e^N(0, 0.1),
    correlations + N(0, 0.1)) find nothing lower (by 1e-6 in ζ).

    Only a local minimum is a property of the method: a correlation vector that is not a
    correlation matrix stands, through the semi-definite Cholesky factor of lme4's Sv_to_Cv,
    for a matrix with other correlations, so the deviance at ρ = ±1 has many local minima
    over the others (runs from starts spread over all correlations end at a dozen different
    values, and which of them is lowest changes with the BLAS kernel)."""
    m, pr = fitted
    tab = pr.params[name].table
    z_ours = tab.loc[tab[name] == xx, ".zeta"].to_numpy()
    assert len(z_ours) == 1
    prof = _profiler(m)
    w = prof.names.index(name)
    others = [j for j in range(prof.npar1) if j != w]
    lo = np.delete(prof.lower[:prof.npar1], w)
    up = np.delete(prof.upper[:prof.npar1], w)
    ours = tab.loc[tab[name] == xx, [prof.names[j] for j in others]].to_numpy()[0]
    full = np.empty(prof.npar1)

    def fn(x: np.ndarray) -> float:
        full[others] = x
        full[w] = xx
        return prof.dd(full)

    rng = np.random.default_rng(7)
    cor = np.isfinite(up) & (up == 1.0)
    best = math.inf
    for _ in range(12):
        s = ours * np.exp(rng.normal(0, 0.1, len(ours)))
        s[cor] = ours[cor] + rng.normal(0, 0.1, cor.sum())
        best = min(best, bobyqa(fn, np.clip(s, lo, up), lo, up)[1])
    z_best = math.copysign(math.sqrt(max(best - prof.base, 0.0)), xx - prof.opt[w])
    assert abs(z_ours[0]) <= abs(z_best) + 1e-6


@pytest.mark.filterwarnings("ignore:bad spline fit")
def test_interval_ends_match_where_lme4_brackets_genuine_points(fitted) -> None:
    """Interval ends whose bracketing lme4 rows are correlation matrices: max difference
    1.8e-6 (sd_(Intercept)), 1e-7 / 7.9e-6 (cor_x1 lower, cor_x2.(Intercept) upper),
    7.2e-4 (cor_x2.x1 lower: the spline through each one's own boundary point), 2e-5
    (sd_x2), 6e-6 (sigma); sd_x1 differs by 9e-4 / 1.9e-3 (lme4's spline passes through
    its indefinite row at sd = 0 and rows on the edge of definiteness). cor_x2.(Intercept)'s
    profile is non-monotonic at rounding level near its upper end, so whether the end is read
    off the spline or (as lme4 does here) the linear interpolant depends on the BLAS kernel's
    rounding and the row order of the sums: the two interpolants differ by 5.4e-4 there, which
    sets that end's tolerance."""
    _, pr = fitted
    ci = pr.confint()
    ref = pd.DataFrame({"lower": REF["lower"], "upper": REF["upper"]}, index=REF["names"])
    exact = [("sd_(Intercept)|g", "lower", 1e-4), ("sd_(Intercept)|g", "upper", 1e-4),
             ("cor_x1.(Intercept)|g", "lower", 1e-4), ("cor_x2.(Intercept)|g", "upper", 1e-3),
             ("cor_x2.x1|g", "lower", 1.5e-3), ("sd_x2|g", "lower", 1e-4),
             ("sd_x2|g", "upper", 1e-4), ("sigma", "lower", 1e-4), ("sigma", "upper", 1e-4),
             ("sd_x1|g", "lower", 2.5e-3), ("sd_x1|g", "upper", 4e-3)]
    for name, side, tol in exact:
        assert ci.loc[name, side] == pytest.approx(ref.loc[name, side], abs=tol), (name, side)
    assert ci.loc["cor_x2.(Intercept)|g", "lower"] == -1.0 == ref.loc["cor_x2.(Intercept)|g",
                                                                      "lower"]
    # ends interpolated towards an indefinite lme4 boundary row: ours come from genuine
    # minima, inside the bracket of our own points
    for name in ("cor_x1.(Intercept)|g", "cor_x2.x1|g"):
        tab = pr.params[name].table
        z, v = tab[".zeta"].to_numpy(), tab[name].to_numpy()
        i = int(np.flatnonzero((z[:-1] - 1.96) * (z[1:] - 1.96) <= 0)[0])
        assert v[i] <= ci.loc[name, "upper"] <= v[i + 1]


def test_interval_end_outside_its_bracket_is_interpolated_linearly() -> None:
    """An end the spline puts outside the two points bracketing ±z is replaced by linear
    interpolation between them."""
    tab = pd.DataFrame({".zeta": [-3.0, -1.0, 0.0, 1.0, 2.5, 4.0],
                        "rho": [-0.9, -0.5, 0.0, 0.4, 0.8, 1.0]})

    class Bent:
        def __call__(self, zeta: np.ndarray) -> np.ndarray:
            return np.array([-0.7, 0.95])    # lower inside (-0.9, -0.5); upper bent past 0.8

    pp = ParameterProfile(name="rho", table=tab, forward=None, backward=Bent())
    prof = Profile(params={"rho": pp}, lower={"rho": -1.0}, upper={"rho": 1.0},
                   columns=[".zeta", "rho"])
    ci = prof.confint(0.95)
    z = 1.959963984540054
    assert ci.loc["rho", "lower"] == -0.7
    assert ci.loc["rho", "upper"] == pytest.approx(0.4 + (z - 1.0) * 0.4 / 1.5, abs=1e-12)
