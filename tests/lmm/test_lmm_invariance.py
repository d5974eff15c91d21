"""Invariances a mixed-model fit must respect, and bitwise determinism across processes
(log-likelihoods to 1e-8 relative; θ and the modes agree to the optimizer's tolerance).

Row order and factor labels do not change the model; y → c·y + d multiplies σ and β by c
(shifting the intercept by d) and the ML log-likelihood by −n log|c|, with θ unchanged; a
covariate x → k·x divides its coefficient by k (with random intercepts only, θ unchanged)."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

SL = mfx.datasets.load("sleepstudy")
CB = mfx.datasets.load("cbpp")
REL = 1e-8


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.fixture(scope="module")
def base():
    return _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL, REML=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_row_order(base, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(len(SL))
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL.iloc[perm], REML=False)
    assert m.loglik == pytest.approx(base.loglik, rel=REL)
    np.testing.assert_allclose(m.fixef.to_numpy(), base.fixef.to_numpy(), rtol=REL)
    np.testing.assert_allclose(m.theta, base.theta, atol=1e-4)   # the optimizer's tolerance
    re, re0 = m.ranef()["Subject"], base.ranef()["Subject"]
    pd.testing.assert_frame_equal(re.loc[re0.index], re0, rtol=1e-3)


def test_relabelled_levels(base) -> None:
    labels = {s: f"id_{i:02d}" for i, s in enumerate(reversed(SL["Subject"].cat.categories))}
    d = SL.assign(Subject=SL["Subject"].map(labels).astype(str))
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", d, REML=False)
    assert m.loglik == pytest.approx(base.loglik, rel=REL)
    np.testing.assert_allclose(m.fixef.to_numpy(), base.fixef.to_numpy(), rtol=REL)
    re, re0 = m.ranef()["Subject"], base.ranef()["Subject"]
    np.testing.assert_allclose(re.loc[[labels[s] for s in re0.index]].to_numpy(),
                               re0.to_numpy(), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(("c", "d"), [(2.0, 0.0), (-3.0, 100.0), (1e-3, 5.0), (1e3, -7.0)])
def test_affine_response(c: float, d: float) -> None:
    """Both fits Newton-polished: σ̂(θ) is not stationary at θ̂, so BOBYQA's stopping point
    (rounding-dependent: y·1e-3 moved σ by 4.5e-6 on one OpenBLAS kernel) would otherwise
    enter σ at first order; polished, the fits differ by at most 7e-8 on three kernels."""
    polish = {"polish": True, "calc_derivs": True}
    base = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", SL, REML=False,
                  control=polish)
    data = SL.assign(Reaction=SL["Reaction"] * c + d)
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", data, REML=False,
               control=polish)
    n = len(SL)
    assert m.loglik == pytest.approx(base.loglik - n * math.log(abs(c)), rel=REL)
    b0 = base.fixef.to_numpy()
    np.testing.assert_allclose(m.fixef.to_numpy(), [b0[0] * c + d, b0[1] * c], rtol=1e-6)
    assert m.sigma == pytest.approx(base.sigma * abs(c), rel=1e-6)
    np.testing.assert_allclose(np.abs(m.theta), np.abs(base.theta), atol=1e-4)


@pytest.mark.parametrize("k", [1e-3, 1e3, 7.0])
def test_rescaled_covariate(k: float) -> None:
    m0 = _quiet(mfx.lmer, "Reaction ~ Days + (1 | Subject)", SL, REML=False)
    m = _quiet(mfx.lmer, "Reaction ~ Days + (1 | Subject)", SL.assign(Days=SL["Days"] * k),
               REML=False)
    assert m.loglik == pytest.approx(m0.loglik, rel=REL)
    np.testing.assert_allclose(m.fixef.to_numpy(), m0.fixef.to_numpy() / [1.0, k], rtol=1e-6)
    np.testing.assert_allclose(m.theta, m0.theta, atol=1e-4)


def test_glmm_row_order() -> None:
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    m0 = _quiet(mfx.glmer, f, CB)
    perm = np.random.default_rng(5).permutation(len(CB))
    m = _quiet(mfx.glmer, f, CB.iloc[perm])
    assert m.loglik == pytest.approx(m0.loglik, rel=REL)
    np.testing.assert_allclose(m.fixef.to_numpy(), m0.fixef.to_numpy(), rtol=1e-5)


_SCRIPT = """
import warnings; warnings.simplefilter("ignore")
import mixedfx as mfx
sl = mfx.datasets.load("sleepstudy"); cb = mfx.datasets.load("cbpp")
m = mfx.lmer("Reaction ~ Days + (Days | Subject)", sl)
g = mfx.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb)
vals = [m.loglik, *m.theta, *m.beta, m.sigma, g.loglik, *g.theta, *g.beta,
        *g.vcov.to_numpy().ravel()]
print(" ".join(float(v).hex() for v in vals))
"""


def test_bitwise_determinism_across_processes() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}
    runs = [subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                           env=env, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].strip()
