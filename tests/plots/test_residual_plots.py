"""Residual plots, check_model and binned residuals: the drawn numbers are the model's (whose
hat values and the lowess smoother are checked against R in tests/diagnostics)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plot_models import cbpp, orthodont, sleep
from scipy import stats

import mixedfx as mfx
from mixedfx import plots
from mixedfx.diagnostics import binned_resids, leverage, lowess, standardized_residuals

REF = json.loads((Path(__file__).parents[1] / "reference" / "extra" / "diagnostics.json")
                 .read_text())


def test_residuals_fitted_lmm():
    m = sleep()
    ax = m.plot().axes[0]
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], m.fitted(), rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], m.residuals(), rtol=1e-12)
    smooth = next(line for line in ax.lines if line.get_label() == "lowess")
    sx, sy = lowess(m.fitted(), m.residuals())
    np.testing.assert_allclose(smooth.get_ydata(), sy, rtol=1e-12)
    np.testing.assert_allclose(smooth.get_xdata(), sx, rtol=1e-12)


def test_residuals_fitted_glmm_uses_linear_predictor():
    m = cbpp()
    ax = m.plot().axes[0]
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], m.predict(type="link"), rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], m.residuals(type="pearson"), rtol=1e-12)
    assert ax.get_xlabel() == "linear predictor"


def test_scale_location_and_qq_residuals():
    m = sleep()
    h = m.hatvalues()
    rstd = m.residuals() / (m.sigma * np.sqrt(1 - h))
    pts = plots.scale_location(m).axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 1], np.sqrt(np.abs(rstd)), rtol=1e-10)
    qq = plots.qq_residuals(m).axes[0].collections[0].get_offsets()
    n = m.nobs
    np.testing.assert_allclose(qq[:, 0], stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n))
    np.testing.assert_allclose(qq[:, 1], np.sort(rstd), rtol=1e-10)


def test_glmm_leverage_is_within_unit_interval():
    m = cbpp()
    h = leverage(m)
    assert np.all((h > 0) & (h < 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.max(m.hatvalues()) > 1        # lme4's prior-weighted version is not


def test_residuals_by_group_and_predictor():
    m = sleep()
    ax = plots.residuals_by(m, "Subject").axes[0]
    r = m.residuals()
    subj = m.frame.frame["Subject"].astype(str).to_numpy()
    medians = [line.get_xdata()[0] for line in ax.lines if line.get_color() == "#c0392b"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 18
    np.testing.assert_allclose(medians, [np.median(r[subj == s]) for s in labels])
    ax2 = plots.residuals_by(m, "Days").axes[0]
    np.testing.assert_allclose(ax2.collections[0].get_offsets()[:, 0],
                               m.frame.frame["Days"].to_numpy(float))
    with pytest.raises(ValueError, match="neither a grouping factor"):
        plots.residuals_by(m, "nope")


def test_diagnostics_figure():
    fig = plots.diagnostics(sleep())
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes][:2] == ["Residuals vs fitted", "Scale-location"]


def test_check_model_lmm_panels_and_cook_contours():
    m = orthodont()
    fig = plots.check_model(m, nsim=20, seed=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[:6] == ["Posterior predictive check", "Linearity", "Homogeneity of variance",
                          "Influential observations", "Collinearity (VIF)",
                          "Normality of residuals"]
    assert titles[6] == "Normality of random effects: Subject: (Intercept)"
    ax = fig.axes[3]
    pts = np.vstack([c.get_offsets() for c in ax.collections])
    h = m.hatvalues()
    r = standardized_residuals(m)
    got = sorted(map(tuple, np.round(pts, 10)))
    assert got == sorted(zip(np.round(h, 10), np.round(r, 10), strict=True))
    p = 3
    for line in ax.lines:
        lab = line.get_label()
        if lab.startswith("Cook's D = "):
            level = float(lab.split("= ")[1])
            hh = line.get_xdata()
            np.testing.assert_allclose(line.get_ydata(),
                                       np.sqrt(level * p * (1 - hh) / hh), rtol=1e-12)
    # Cook's distance in these coordinates is lme4's cooks.distance
    np.testing.assert_allclose(r**2 * h / (p * (1 - h)), m.cooks_distance(), rtol=1e-10)
    vif_ax = fig.axes[4]
    np.testing.assert_allclose(vif_ax.collections[-1].get_offsets()[:, 1], m.vif()["VIF"])
    # posterior predictive check: the observed density is the KDE of y
    ppc = fig.axes[0]
    obs = next(line for line in ppc.lines if line.get_label() == "observed")
    kde = stats.gaussian_kde(m.frame.y)(obs.get_xdata())
    np.testing.assert_allclose(obs.get_ydata(), kde, rtol=1e-12)
    assert sum(line.get_label() != "observed" for line in ppc.lines) == 20


def test_check_model_binomial_uses_binned_residuals():
    m = cbpp()
    fig = plots.check_model(m, nsim=30, seed=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    # performance's binomial panel set (issue 23 item 13; no collinearity: one term)
    assert titles == ["Posterior predictive check", "Binned residuals",
                      "Influential observations", "Normality of random effects: herd: (Intercept)"]
    # the discrete predictive check compares proportions of observed counts
    ppc = fig.axes[0]
    obs = ppc.collections[-1].get_offsets()
    y = m.frame.y[:, 0]
    for v, prop in obs:
        assert prop == pytest.approx(np.mean(y == v))
    with pytest.raises(ValueError, match="nsim"):
        plots.check_model(m, nsim=0)


def test_binned_residuals_match_arm():
    m = cbpp()
    ref = REF["cbpp"]["binned"]
    b = binned_resids(m.fitted(), m.residuals(type="response"), nclass=10)
    np.testing.assert_array_equal(b["n"], ref["n"])
    for col in ("xbar", "ybar", "2se"):
        np.testing.assert_allclose(b[col], ref[col], rtol=5e-3, atol=2e-4)
    ax = plots.binned_residuals(m, nclass=10).axes[0]
    pts = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(pts[:, 0], b["xbar"])
    np.testing.assert_allclose(pts[:, 1], b["ybar"])
    upper = next(line for line in ax.lines if line.get_label() == "+2 SE")
    np.testing.assert_allclose(upper.get_ydata(), b["2se"])
    with pytest.raises(TypeError, match="binomial"):
        plots.binned_residuals(sleep())


CHECK_REF = Path(__file__).resolve().parents[1] / "reference" / "extra" / "check_binomial"


@pytest.fixture(scope="module")
def bernoulli():
    d = pd.read_csv(CHECK_REF / "check_binomial.csv")
    ref = json.loads((CHECK_REF / "check_binomial.json").read_text())
    return mfx.glmer("y ~ x1 + x2 + (1 | g)", d, family="binomial"), ref


def test_check_model_bernoulli_panels_and_binned_residuals_as_performance(bernoulli):
    """Issue 23 item 13: a Bernoulli GLMM's check_model has performance's binomial panels;
    the binned residuals drawn are performance::binned_residuals(m)'s (R reference), the
    VIF points check_collinearity's, and no point sits on the axes' edge."""
    m, ref = bernoulli
    np.testing.assert_allclose(m.fixef, list(ref["fixef"].values()), rtol=1e-3)
    assert "BINNED_RESID" in ref["check_model_data"]
    fig = plots.check_model(m, nsim=20, seed=1)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        "Posterior predictive check", "Binned residuals", "Influential observations",
        "Collinearity (VIF)", "Normality of random effects: g: (Intercept)"]
    binned = axes[1]
    pts = np.vstack([c.get_offsets() for c in binned.collections
                     if c.get_label() in ("within the band", "outside the band")])
    order = np.argsort(pts[:, 0])
    b = ref["binned"]
    # fitted values agree with lme4 to ~1e-4: the bins' means to that order
    np.testing.assert_allclose(pts[order, 0], b["xbar"], atol=1e-4)
    np.testing.assert_allclose(pts[order, 1], b["ybar"], atol=1e-4)
    band = next(line for line in binned.lines if line.get_label().startswith("±1.96"))
    np.testing.assert_allclose(band.get_ydata(), b["se"], atol=1e-4)
    red = next(c for c in binned.collections if c.get_label() == "outside the band")
    n_out = sum(g == "no" for g in b["group"])
    assert len(red.get_offsets()) == n_out
    vif_ax = axes[3]
    vif = vif_ax.collections[-1].get_offsets()[:, 1]
    np.testing.assert_allclose(vif, ref["vif"]["VIF"], rtol=1e-3)
    lo, hi = vif_ax.get_ylim()
    assert lo < 1.0 <= vif.min() and hi > vif.max()


def test_performance_binned_residuals_function_matches_r(bernoulli):
    from mixedfx.diagnostics import performance_binned_residuals

    m, ref = bernoulli
    out = performance_binned_residuals(m.fitted(), m.residuals(type="response"))
    assert out["n"].tolist() == ref["binned"]["n"]
    for col in ("xbar", "ybar", "se", "CI_low", "CI_high"):
        np.testing.assert_allclose(out[col], ref["binned"][col], atol=1e-4, err_msg=col)
    assert out["group"].tolist() == ref["binned"]["group"]


def test_scale_location_smoother_stays_non_negative():
    """√|residual| ≥ 0, so its smoother must not dip below 0 (lowess overshoots beside a
    step): the scale-location panel's smoother is bounded below by 0."""
    import matplotlib.pyplot as plt

    from mixedfx.plots.residuals import _scatter_smooth

    x = np.linspace(0, 1, 60)
    y = np.where(x < 0.5, 0.0, 2.0)
    y[29] = 3.0
    assert lowess(x, y)[1].min() < 0                # the raw smoother dips
    fig, ax = plt.subplots()
    _scatter_smooth(ax, x, y, True, floor=0.0)      # as scale_location draws it
    smooth = next(line for line in ax.lines if line.get_label() == "lowess")
    assert smooth.get_ydata().min() == 0.0
    plt.close(fig)
    ax = plots.scale_location(sleep()).axes[0]
    assert next(line for line in ax.lines if line.get_label() == "lowess").get_ydata().min() >= 0
