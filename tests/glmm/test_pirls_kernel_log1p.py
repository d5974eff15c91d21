"""The compiled PIRLS kernel's own log1p on [0, 1] (_native/pirls.c `log1p_01`): the logit
rows of a prior weight other than 1 add wt·log(1 + e), e = exp(−|η|), to the log-likelihood
kernel, once per row and PIRLS iteration. Checked against 60-digit decimal arithmetic (within
0.502 ulp), against the C library's log1p (at most one ulp apart, in few values), vector blocks
against the scalar tail (the same bits), and the kernel's rows at a linear predictor reaching
past ±30 (the rows the kernel sends to the general link code) against the NumPy path, for
weighted rows alone, mixed with rows of weight 1, and rows of weight 1 only."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.native import kernel

pytestmark = pytest.mark.skipif(kernel("pirls") is None,
                                reason="the compiled PIRLS kernel is not built")


def _log1p(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    kernel("pirls").log1p(np.ascontiguousarray(x), out)
    return out


def _points(n: int, seed: int) -> np.ndarray:
    """x in [0, 1]: uniform, exp(−|η|) for |η| ≤ 30 (down to 9.4e-14), small values (the
    table's first row), the table's points j/128 and the midpoints between them (the rounding
    of j = round(128 x)) with their neighbours, and the ends."""
    rng = np.random.default_rng(seed)
    j = np.arange(129) / 128.0
    mid = (np.arange(128) + 0.5) / 128.0
    return np.concatenate([rng.random(n // 3), np.exp(-30.0 * rng.random(n // 3)),
                           rng.random(n // 3) * 2.0 ** -8, j, mid, np.nextafter(mid, 0.0),
                           np.nextafter(mid, 1.0), [0.0, 1.0, math.exp(-30.0), 2.0 ** -43]])


def test_log1p_is_within_half_an_ulp() -> None:
    """The kernel's log1p: the table's log(1 + j/128) as a double-double, the reduced
    argument v = (x − j/128)/(1 + j/128) carried to about 2^-105 and log(1 + j/128) + v
    summed exactly, so only the final addition rounds a value of the result's size: within
    0.502 ulp of log(1 + x) (here: 60-digit decimal arithmetic); log1p(0) = 0 and
    log1p(1) = the double nearest log 2."""
    x = _points(6000, 11)
    got = _log1p(x)
    with localcontext() as ctx:
        ctx.prec = 60
        worst = Decimal(0)
        for g, v in zip(got.tolist(), x.tolist(), strict=True):
            if v == 0.0:
                assert g == 0.0
                continue
            exact = (Decimal(v) + 1).ln()
            worst = max(worst, abs(Decimal(g) - exact) / Decimal(math.ulp(float(exact))))
    assert worst <= Decimal("0.502")
    assert got[x == 1.0][0] == math.log(2.0)


def test_log1p_agrees_with_libm_to_one_ulp() -> None:
    """Against the C library's log1p (within about an ulp itself) the kernel's log1p differs
    by at most one ulp, in a few per cent of the values (most of them small); the vector
    blocks and the scalar tail give the same bits (one value dropped shifts every value's
    place in its block)."""
    x = _points(200_000, 12)
    got = _log1p(x)
    ref = np.array([math.log1p(v) for v in x.tolist()])
    pos = ref > 0
    ulps = np.abs(got[pos] - ref[pos]) / np.spacing(ref[pos])
    assert ulps.max() <= 1.0 and np.mean(ulps > 0) < 0.05
    np.testing.assert_array_equal(_log1p(x[1:]), got[1:])
    np.testing.assert_array_equal(_log1p(x[2:7]), got[2:7])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        _log1p(np.array([0.5, -0.25]))


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(21)
    n = 600                                   # three blocks of the kernel's 256 rows
    g = rng.integers(0, 25, n)
    x = rng.standard_normal(n)
    eta = 0.2 + 0.8 * x + rng.normal(0, 0.7, 25)[g]
    w = rng.integers(1, 4, n).astype(float)
    return pd.DataFrame({"g": g.astype(str), "x": x,
                         "y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "w": w, "w2": w + 1,
                         "w1": np.ones(n)})


def _kernel_sum(pl, eta: np.ndarray) -> float:
    """Σ wt (y log μ + (1 − y) log(1 − μ)) at η, exactly summed (math.fsum): rows with
    |η| ≤ 30 as −wt (log1p(exp(−|η|)) + y max(−η, 0) + (1 − y) max(η, 0)) in libm (the stable
    form), the others from the family at the clamped μ, as both paths form them."""
    y, wt = pl.resp.y, pl.resp.wt
    inside = np.abs(eta) <= 30
    terms = [-w * (math.log1p(math.exp(-abs(e))) + yy * max(-e, 0.0) + (1 - yy) * max(e, 0.0))
             for e, yy, w in zip(eta[inside].tolist(), y[inside].tolist(),
                                 wt[inside].tolist(), strict=True)]
    mu = pl.family.link.linkinv(eta[~inside])
    terms += pl.family.kernel(y[~inside], mu, wt[~inside]).tolist()
    return math.fsum(terms)


@pytest.mark.parametrize("weights", ["w", "w2", "w1"])
def test_logit_rows_at_any_linear_predictor(weights: str) -> None:
    """At the fit's η and at η stretched 40-fold (rows beyond ±30 go to the general link
    code, the others to the weighted block pass, the run loop over rows of weight 1, or
    both) the kernel's log-likelihood kernel is the exactly summed stable sum to rounding,
    and at the fit's η its deviance and μ are the NumPy path's."""
    d = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.glmer("y ~ x + (1 | g)", d, family="binomial", weights=d[weights], nAGQ=0)
    pl, fit = m._fit.pirls, m._fit
    templates = fit.objective.templates(fit.theta)
    stretched = np.asarray(fit.state.eta) * 40.0
    assert np.mean(np.abs(stretched) > 30) > 0.1 and np.mean(np.abs(stretched) <= 30) > 0.1
    for eta in (stretched, np.asarray(fit.state.eta)):
        c = pl.evaluate(fit.state.u, fit.beta, templates, eta)
        exact = _kernel_sum(pl, np.asarray(c.eta))
        assert c.loglik_kernel == pytest.approx(exact, rel=1e-13)
    native = pl.native
    pl.native = None
    try:
        p = pl.evaluate(fit.state.u, fit.beta, templates, eta)
    finally:
        pl.native = native
    assert c.dev_resid_sum == pytest.approx(p.dev_resid_sum, rel=1e-12)
    np.testing.assert_allclose(c.mu, p.mu, rtol=1e-15, atol=0)
