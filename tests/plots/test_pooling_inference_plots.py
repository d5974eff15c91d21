"""Shrinkage, profile and bootstrap plots: the drawn numbers are independent fits or the
model's intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plot_models import cbpp, dyestuff, orthodont, sleep

import mixedfx as mfx
from mixedfx import plots


def test_shrinkage_arrows_from_per_subject_lm_to_coef():
    m = sleep()
    d = mfx.datasets.load("sleepstudy")
    fig = plots.shrinkage(m)
    ax = fig.axes[0]
    q = next(c for c in ax.collections if c.get_label() == "shrinkage")
    coef = m.coef()["Subject"]
    levels = list(coef.index.astype(str))
    lm = {str(s): np.polyfit(g["Days"], g["Reaction"], 1)[::-1] for s, g in d.groupby(
        "Subject", observed=True)}
    start = np.array([lm[s] for s in levels])
    np.testing.assert_allclose(q.X, start[:, 0], rtol=1e-9)
    np.testing.assert_allclose(q.Y, start[:, 1], rtol=1e-9)
    np.testing.assert_allclose(q.X + q.U, coef["(Intercept)"], rtol=1e-12)
    np.testing.assert_allclose(q.Y + q.V, coef["Days"], rtol=1e-12)
    star = next(c for c in ax.collections if c.get_label() == "complete pooling")
    np.testing.assert_allclose(star.get_offsets()[0],
                               np.polyfit(d["Days"], d["Reaction"], 1)[::-1], rtol=1e-9)


def test_shrinkage_single_column_holds_other_fixed_effects():
    m = orthodont()
    d = mfx.datasets.load("Orthodont")
    b = m.fixef
    adj = d["distance"] - b["age"] * d["age"] - b["SexFemale"] * (d["Sex"] == "Female")
    means = adj.groupby(d["Subject"].astype(str)).mean()
    est = plots.pooling_estimates(m)
    np.testing.assert_allclose(est.no_pooling["(Intercept)"],
                               means.loc[list(est.no_pooling.index.astype(str))], rtol=1e-10)
    ax = plots.shrinkage(m).axes[0]
    q = next(c for c in ax.collections if c.get_label() == "shrinkage")
    order = np.argsort(est.no_pooling["(Intercept)"].to_numpy(), kind="stable")
    np.testing.assert_allclose(q.X + q.U,
                               m.coef()["Subject"]["(Intercept)"].to_numpy()[order])
    X = np.column_stack([np.ones(len(d)), d["age"], d["Sex"] == "Female"]).astype(float)
    ols = np.linalg.lstsq(X, d["distance"].to_numpy(float), rcond=None)[0]
    cp = next(line for line in ax.lines if line.get_label() == "complete pooling")
    assert cp.get_xdata()[0] == pytest.approx(ols[0])


def test_shrinkage_glmm_per_group_glm_on_link_scale():
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "diagnostics.json")
                     .read_text())["cbpp"]
    m = cbpp()
    est = plots.pooling_estimates(m)
    # R: glm(cbind(incidence, size - incidence) ~ 1, binomial, offset = X_o β_o) per herd
    # (with lme4's β_o, which differs from mixedfx's in the 4th digit) and the pooled glm
    np.testing.assert_allclose(est.no_pooling["(Intercept)"], ref["no_pooling"], rtol=2e-3,
                               atol=5e-4)
    assert est.complete_pooling["(Intercept)"] == pytest.approx(ref["complete_pooling"][0],
                                                                rel=1e-7)
    ax = plots.shrinkage(m).axes[0]
    q = next(c for c in ax.collections if c.get_label() == "shrinkage")
    order = np.argsort(est.no_pooling["(Intercept)"].to_numpy(), kind="stable")
    np.testing.assert_allclose(q.X, est.no_pooling["(Intercept)"].to_numpy()[order])
    np.testing.assert_allclose(q.X + q.U, m.coef()["herd"]["(Intercept)"].to_numpy()[order])


def test_shrinkage_refuses_unknown_terms():
    with pytest.raises(ValueError, match="unknown grouping factor"):
        plots.shrinkage(sleep(), group="nope")
    with pytest.raises(ValueError, match="terms"):
        plots.shrinkage(sleep(), terms=["nope"])


def test_profile_plot_marks_profile_intervals():
    from mixedfx.inference.profile import profile_model

    m = dyestuff()
    pr = profile_model(m)
    fig = plots.profile(pr, levels=(0.8, 0.95))
    ci95 = pr.confint(0.95)
    ci80 = pr.confint(0.8)
    for ax, name in zip(fig.axes, pr.params, strict=False):
        drawn = sorted({round(line.get_xdata()[0], 9) for line in ax.lines
                        if line.get_label().endswith("% limit")})
        want = sorted(round(v, 9) for v in [*ci95.loc[name], *ci80.loc[name]])
        assert drawn == want
        zeta = ax.lines[0]
        tab = pr.params[name].table
        np.testing.assert_allclose(np.sort(zeta.get_xdata()), np.sort(tab[name].dropna()))


def test_bootstrap_plot_densities_and_intervals():
    m = dyestuff()
    boot = m.bootstrap(nsim=40, seed=5)
    fig = plots.bootstrap(boot, level=0.9)
    ci = boot.confint(level=0.9)
    for ax, name in zip(fig.axes, boot.t.columns, strict=False):
        vals = {round(line.get_xdata()[0], 9) for line in ax.lines
                if line.get_label() == "90% percentile"}
        assert vals == {round(v, 9) for v in ci.loc[name]}
        est = next(line for line in ax.lines if line.get_label() == "estimate")
        assert est.get_xdata()[0] == pytest.approx(boot.t0[name])
        rug = next(line for line in ax.lines if line.get_label() == "replicates")
        np.testing.assert_allclose(np.sort(rug.get_xdata()),
                                   np.sort(boot.t[name].dropna().to_numpy()))
    with pytest.raises(ValueError, match="unknown statistic"):
        plots.bootstrap(boot, which="nope")


def test_plots_refuse_bad_arguments():
    with pytest.raises(ValueError):
        plots.profile(dyestuff(), levels=(1.5,))
    with pytest.raises(TypeError):
        plots.residuals_by(sleep(), by=3)
    assert isinstance(pd.DataFrame(), pd.DataFrame)


def test_profile_plot_from_profile_frame():
    m = dyestuff()
    df = m.profile()
    fig = plots.profile(df, levels=(0.95,))
    for ax, name in zip(fig.axes, df[".par"].cat.categories, strict=False):
        tab = df[df[".par"] == name]
        o = np.argsort(tab[".zeta"].to_numpy())
        z, x = tab[".zeta"].to_numpy()[o], tab[name].to_numpy()[o]
        want = sorted(round(float(np.interp(s * 1.959963984540054, z, x)), 9) for s in (-1, 1))
        drawn = sorted(round(line.get_xdata()[0], 9) for line in ax.lines
                       if line.get_label() == "95% limit")
        assert drawn == want
    with pytest.raises(ValueError, match=r"\.zeta"):
        plots.profile(pd.DataFrame({"a": [1.0]}))


def test_profile_grid_labels_clear_the_next_rows_titles():
    """Issue 23 item 14: in a grid of zeta plots the tick labels of a row end well above the
    titles of the row below (at least 10 px at 100 dpi), and no x label repeats the title."""
    fig = plots.profile(sleep(), levels=(0.95,))
    fig.set_dpi(100)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 6
    for ax in axes:
        assert ax.get_xlabel() == ""
        below = [b for b in axes if abs(b.get_position().x0 - ax.get_position().x0) < 1e-9
                 and b.get_position().y0 < ax.get_position().y0 - 1e-9]
        for b in below:
            gap = ax.xaxis.get_tightbbox(renderer).y0 - b.title.get_window_extent(renderer).y1
            assert gap >= 10, (ax.get_title(), b.get_title(), gap)
