"""Caterpillar, random-effect QQ and REsim plots: the drawn numbers are the model's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plot_models import cbpp, sleep
from scipy import stats

import mixedfx as mfx
from mixedfx import plots


def _segments(coll):
    return np.array([s for s in coll.get_segments()])


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_caterpillar_points_and_whiskers(level):
    m = sleep()
    fig = m.plot_ranef(level=level)
    re = m.ranef(condvar=True)["Subject"]
    sd = re.attrs["condsd"]
    z = stats.norm.ppf(0.5 + level / 2)
    order = np.argsort(re["(Intercept)"].to_numpy())       # lme4: sorted by the first term
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    for ax, term in zip(axes, ["(Intercept)", "Days"], strict=True):
        pts = ax.collections[1].get_offsets()
        b = re[term].to_numpy()[order]
        np.testing.assert_allclose(pts[:, 0], b, rtol=1e-12)
        np.testing.assert_array_equal(pts[:, 1], np.arange(18))
        seg = _segments(ax.collections[0])
        s = sd[term].to_numpy()[order]
        np.testing.assert_allclose(seg[:, 0, 0], b - z * s, rtol=1e-12)
        np.testing.assert_allclose(seg[:, 1, 0], b + z * s, rtol=1e-12)
        assert any(line.get_xdata()[0] == 0.0 for line in ax.lines)     # the zero line
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == list(re.index.astype(str)[order])


def _many_levels(n_levels: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(n_levels), 3)
    y = rng.normal(size=n_levels)[g] + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "g": [f"L{i}" for i in g]})


def test_caterpillar_thins_labels_for_many_levels():
    m = mfx.lmer("y ~ 1 + (1 | g)", _many_levels(300))
    ax = m.plot_ranef(max_labels=40).axes[0]
    assert 0 < len(ax.get_yticks()) <= 40
    assert len(ax.collections[1].get_offsets()) == 300


def test_caterpillar_drops_labels_beyond_1000_levels():
    m = mfx.lmer("y ~ 1 + (1 | g)", _many_levels(1200))
    ax = mfx.plots.caterpillar(m).axes[0]
    assert len(ax.get_yticks()) == 0
    assert "1200 levels" in ax.get_ylabel()
    assert len(ax.collections[1].get_offsets()) == 1200


def test_caterpillar_glmm_and_bad_input():
    m = cbpp()
    fig = plots.caterpillar(m, groups="herd")
    re = m.ranef(condvar=True)["herd"]
    pts = fig.axes[0].collections[1].get_offsets()
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(re["(Intercept)"]), rtol=1e-12)
    with pytest.raises(ValueError, match="level"):
        plots.caterpillar(m, level=95)
    with pytest.raises(ValueError, match="unknown grouping factor"):
        plots.caterpillar(m, groups="nope")


def test_qq_ranef_points_and_line():
    m = sleep()
    fig = plots.qq_ranef(m)
    re = m.ranef()["Subject"]
    for ax, term in zip([a for a in fig.axes if a.get_visible()], re.columns, strict=True):
        pts = ax.collections[0].get_offsets()
        n = len(re)
        expected_x = stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n)       # R's ppoints
        np.testing.assert_allclose(pts[:, 0], expected_x, rtol=1e-12)
        np.testing.assert_allclose(pts[:, 1], np.sort(re[term]), rtol=1e-12)
        # R's qqline passes through the quartiles
        q1, q3 = np.quantile(re[term], [0.25, 0.75])
        line = ax.lines[0]
        slope = np.diff(line.get_ydata())[0] / np.diff(line.get_xdata())[0]
        at = line.get_ydata()[0] + slope * (stats.norm.ppf(0.25) - line.get_xdata()[0])
        assert at == pytest.approx(q1)
        assert slope == pytest.approx((q3 - q1) / (2 * stats.norm.ppf(0.75)))


def test_re_sim_plot_matches_resim():
    m = sleep()
    fig = plots.re_sim(m, nsim=300, seed=4, level=0.9)
    sims = mfx.inference.re_sim(m, nsim=300, seed=4)
    d = sims[sims["term"] == "Days"]
    ax = fig.axes[1]
    pts = ax.collections[-1].get_offsets()
    order = np.argsort(d["median"].to_numpy(), kind="stable")
    np.testing.assert_allclose(pts[:, 1], d["median"].to_numpy()[order], rtol=1e-12)
    z = stats.norm.ppf(0.95)
    lo = d["median"].to_numpy() - z * d["sd"].to_numpy()
    hi = d["median"].to_numpy() + z * d["sd"].to_numpy()
    drawn = np.vstack([_segments(c) for c in ax.collections[:2] if len(c.get_segments())])
    got = {(round(s[0, 1], 9), round(s[1, 1], 9)) for s in drawn}
    assert got == {(round(a, 9), round(b, 9)) for a, b in zip(lo, hi, strict=True)}
    # the highlighted (red) segments are exactly those excluding zero
    sig = _segments(ax.collections[1])
    assert all((s[0, 1] > 0) or (s[1, 1] < 0) for s in sig)
    # GLMMs: arm's glmerMod simulation, effects on the link scale
    g = cbpp()
    gfig = plots.re_sim(g, nsim=200, seed=2)
    gs = mfx.inference.re_sim(g, nsim=200, seed=2)
    gpts = gfig.axes[0].collections[-1].get_offsets()
    np.testing.assert_allclose(np.sort(gpts[:, 1]), np.sort(gs["median"].to_numpy()),
                               rtol=1e-12)


def test_re_sim_shares_the_y_axis_and_takes_sigma_scale():
    """Issue 23 item 14: with two grouping factors (Penicillin's plate and sample) the panels
    share one y-axis, as merTools' facet_grid(scales = "free_x"); `sigma_scale` (merTools'
    sigmaScale) divides the drawn effects and their intervals."""
    m = mfx.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mfx.datasets.load("Penicillin"))
    sims = mfx.inference.re_sim(m, nsim=150, seed=3)
    fig = plots.re_sim(m, nsim=150, seed=3, sigma_scale=m.sigma)
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 2
    assert axes[0].get_ylim() == axes[1].get_ylim()
    z = stats.norm.ppf(0.975)
    for ax, group in zip(axes, ["plate", "sample"], strict=True):
        d = sims[sims["groupFctr"] == group]
        med = d["median"].to_numpy() / m.sigma
        sd = d["sd"].to_numpy() / m.sigma
        pts = ax.collections[-1].get_offsets()
        np.testing.assert_allclose(pts[:, 1], np.sort(med), rtol=1e-12)
        drawn = np.vstack([_segments(c) for c in ax.collections[:2] if len(c.get_segments())])
        got = sorted((round(s[0, 1], 9), round(s[1, 1], 9)) for s in drawn)
        assert got == sorted((round(a, 9), round(b, 9))
                             for a, b in zip(med - z * sd, med + z * sd, strict=True))
        lo, hi = ax.get_ylim()
        assert lo <= (med - z * sd).min() and hi >= (med + z * sd).max()
    with pytest.raises(ValueError, match="sigma_scale"):
        plots.re_sim(m, nsim=10, seed=1, sigma_scale=0)
