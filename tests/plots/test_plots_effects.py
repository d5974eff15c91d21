"""The effect plot draws effect()'s Wald band."""

from __future__ import annotations

import numpy as np
import pytest

import mixedfx as mfx

pytest.importorskip("matplotlib")


def test_ribbon_is_the_wald_interval():
    from matplotlib.collections import PolyCollection

    m = mfx.lmer("Reaction ~ Days + (Days | Subject)", mfx.datasets.load("sleepstudy"))
    fig = mfx.plots.effect(m, "Days", group_lines=True, n_points=20)
    ax = fig.axes[0]
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 1
    verts = polys[0].get_paths()[0].vertices
    e = mfx.effect(m, "Days", xlevels={"Days": np.linspace(0, 9, 20).tolist()})
    for x, lo, hi in zip(e["Days"], e["lower"], e["upper"], strict=True):
        at = verts[np.isclose(verts[:, 0], x)][:, 1]
        assert np.isclose(at.min(), lo) and np.isclose(at.max(), hi)
    fit_line = next(ln for ln in ax.lines if ln.get_linewidth() == 2)
    np.testing.assert_allclose(fit_line.get_ydata(), e["fit"])
    assert len(ax.lines) == 1 + 18 + 1     # the effect line, one per subject and the rug
    # lower/upper are fit ∓ t(n − p) SE (effects' Wald interval for a linear model)
    from scipy import stats
    q = stats.t.ppf(0.975, m.nobs - 2)
    np.testing.assert_allclose(e["upper"] - e["fit"], q * e["se"])


def test_factor_and_interaction_plots():
    ss = mfx.datasets.load("sleepstudy")
    ss["phase"] = np.where(ss.Days <= 4, "early", "late")
    m = mfx.lmer("Reaction ~ Days * phase + (1 | Subject)", ss)
    fig = mfx.plots.effect(m, "phase")
    assert fig.axes[0].get_xlabel() == "phase"
    fig = mfx.plots.effect(m, "Days:phase")
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="not among"):
        mfx.plots.effect(m, "Dose")


def test_rug_marks_the_observed_values():
    """Issue 23 item 14: a rug of the focal predictor's observed values (the model's rows)
    along the x-axis, as effects' plot(..., rug = TRUE); none for a factor or rug=False."""
    d = mfx.datasets.load("Orthodont")
    m = mfx.lmer("distance ~ age + Sex + (1 | Subject)", d)
    ax = mfx.plots.effect(m, "age").axes[0]
    rug = [ln for ln in ax.lines if ln.get_marker() == "|"]
    assert len(rug) == 1
    np.testing.assert_array_equal(np.sort(rug[0].get_xdata()), np.sort(d["age"].to_numpy()))
    # along the bottom of the axes (y in axes coordinates)
    assert rug[0].get_transform() == ax.get_xaxis_transform()
    assert np.all((rug[0].get_ydata() > 0) & (rug[0].get_ydata() < 0.1))
    assert not [ln for ln in mfx.plots.effect(m, "age", rug=False).axes[0].lines
                if ln.get_marker() == "|"]
    assert not [ln for ln in mfx.plots.effect(m, "Sex").axes[0].lines
                if ln.get_marker() == "|"]
