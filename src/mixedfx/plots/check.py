"""performance's `check_model` for mixed models: one figure with its panels.

* Posterior predictive check: the density of the observed response against the densities of
  `nsim` responses simulated from the fitted model (`m.simulate`); for a discrete response the
  observed proportion of each value against the simulated proportions' 2.5–97.5% range.
* Linearity: Pearson residuals against fitted values (the linear predictor for a GLMM), lowess.
* Homogeneity of variance: √|standardized residual| against the same x, lowess.
* Influential observations: standardized residuals against leverage (hat values; for a GLMM
  those of the working IRLS model, `mixedfx.diagnostics.leverage`) with the
  Cook's distance contours r* = ±√(D p (1 − h)/h) at D = 0.5 and 1; points beyond 0.5 in red.
* Collinearity: VIFs of the fixed-effects terms with their intervals (bands at 5 and 10).
* Normality of residuals: normal QQ of the standardized residuals.
* Normality of random effects: normal QQ of each random-effect column.

Binomial models get performance's binomial panel set instead: posterior predictive check,
binned residuals (performance's `binned_residuals`: mean response residual per bin of
fitted probabilities with its ±1.96·sd/√n band, bins outside the band in red), influential
observations, collinearity and normality of random effects — no linearity, homogeneity or
residual-QQ panels, which mean nothing for 0/1 outcomes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mixedfx.diagnostics.binned import performance_binned_residuals
from mixedfx.diagnostics.leverage import leverage, standardized_residuals
from mixedfx.errors import ArgumentError
from mixedfx.lazy import lazy_module
from mixedfx.plots._mpl import GREY, MODEL, POINT, draw_qq, marker_size, style, subplots
from mixedfx.plots.residuals import binned_response, residuals_fitted, scale_location

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here
if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit

COOK_LEVELS = (0.5, 1.0)
DISCRETE = ("binomial", "poisson", "negative.binomial")


def observed_response(model: FramedFit) -> np.ndarray:
    """The response on the scale `simulate` draws it (successes for cbind responses)."""
    y = model.frame.y
    if y.ndim == 2:
        return np.asarray(y[:, 0], dtype=float)
    if hasattr(model, "_resp"):
        return np.asarray(model.response.y, dtype=float)
    return np.asarray(y, dtype=float)


def cook_contour(h: np.ndarray, level: float, p: int) -> np.ndarray:
    """The standardized residual at which Cook's distance equals `level` for leverage h."""
    return np.sqrt(level * p * (1.0 - h) / h)


def _ppc(ax: Any, model: FramedFit, nsim: int, seed: int | None) -> None:
    y = observed_response(model)
    sims = model.simulate(nsim=nsim, seed=seed)
    fam = getattr(getattr(model, "family", None), "name", "gaussian")
    if fam in DISCRETE and np.allclose(y, np.round(y)):
        values = np.unique(np.concatenate([y, sims.ravel()]))
        if len(values) > 40:
            values = np.arange(values.min(), np.quantile(values, 0.99) + 1)
        obs = np.array([np.mean(y == v) for v in values])
        sim = np.array([[np.mean(sims[:, j] == v) for v in values] for j in range(nsim)])
        lo, hi = np.quantile(sim, [0.025, 0.975], axis=0)
        ax.vlines(values, lo, hi, color=MODEL, linewidth=3, alpha=0.5,
                  label="model-predicted (95%)")
        ax.scatter(values, obs, color=POINT, s=18, zorder=3, label="observed")
        style(ax, "Posterior predictive check", "response value", "proportion")
    else:
        lo = min(y.min(), sims.min())
        hi = max(y.max(), sims.max())
        pad = 0.05 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 256)
        for j in range(nsim):
            ax.plot(grid, stats.gaussian_kde(sims[:, j])(grid), color=MODEL, alpha=0.15,
                    linewidth=0.8, label="model-predicted" if j == 0 else "_sim")
        ax.plot(grid, stats.gaussian_kde(y)(grid), color=POINT, linewidth=2,
                label="observed")
        style(ax, "Posterior predictive check", "response", "density")
    ax.legend(fontsize=7, loc="best")


def _influence(ax: Any, model: FramedFit) -> None:
    h = leverage(model)
    r = standardized_residuals(model)
    p = int(np.linalg.matrix_rank(model.frame.X))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = r**2 * h / (p * (1.0 - h))
    out = d > COOK_LEVELS[0]
    ax.axhline(0.0, color=GREY, linewidth=0.8, linestyle="--")
    ax.scatter(h[~out], r[~out], s=marker_size(len(h)), color=POINT, alpha=0.6,
               linewidths=0, label="points")
    if out.any():
        ax.scatter(h[out], r[out], s=24, color=MODEL, zorder=3, label="Cook's D > 0.5")
    top = float(np.nanmax(np.abs(r))) * 1.25 + 0.5
    hh = np.linspace(max(float(np.nanmin(h)) * 0.9, 1e-6), min(float(np.nanmax(h)) * 1.1,
                                                               0.999), 200)
    for lev, ls in zip(COOK_LEVELS, ("--", ":"), strict=True):
        c = cook_contour(hh, lev, p)
        for sign in (1, -1):
            ax.plot(hh, sign * c, color=MODEL, linestyle=ls, linewidth=1,
                    label=f"Cook's D = {lev:g}" if sign == 1 else "_contour")
    ax.set_ylim(-top, top)
    style(ax, "Influential observations", "leverage (hat values)",
          "standardized residuals")
    ax.legend(fontsize=7, loc="best")


def _binned(ax: Any, model: FramedFit) -> None:
    """performance's binned residuals: bins within their ±se band blue, outside red."""
    mu, r = binned_response(model)
    b = performance_binned_residuals(mu, r)
    inside = (b["group"] == "yes").to_numpy()
    ax.axhline(0.0, color=GREY, linewidth=0.9, linestyle="--")
    ax.plot(b["xbar"], b["se"], color=GREY, linewidth=1.0, label="±1.96 sd/√n")
    ax.plot(b["xbar"], -b["se"], color=GREY, linewidth=1.0, label="_band")
    for mask, color, label in ((inside, POINT, "within the band"),
                               (~inside, MODEL, "outside the band")):
        if mask.any():
            ax.vlines(b["xbar"][mask], b["CI_low"][mask], b["CI_high"][mask], color=color,
                      linewidth=1.0, label="_ci")
            ax.scatter(b["xbar"][mask], b["ybar"][mask], s=22, color=color, zorder=3,
                       label=label)
    style(ax, "Binned residuals", "estimated probability of the response",
          "average residual")
    ax.legend(fontsize=7, loc="best")


def vif_limits(v: Any) -> tuple[float, float]:
    """y-limits of the collinearity panel: from a margin below 1 (the smallest VIF) to 10 %
    above the largest finite VIF or interval end, at least 12 (the bands at 5 and 10 show)."""
    vals = np.concatenate([np.asarray(v["VIF"], dtype=float),
                           np.asarray(v["VIF_CI_high"], dtype=float)])
    vals = vals[np.isfinite(vals)]
    top = max(12.0, 1.1 * float(vals.max())) if len(vals) else 12.0
    return 1.0 - 0.05 * (top - 1.0), top


def _collinearity(ax: Any, v: Any) -> None:
    x = np.arange(len(v))
    bottom, top = vif_limits(v)
    ax.axhspan(1, 5, color="#d5f0d5", zorder=0)
    ax.axhspan(5, 10, color="#fbe8c8", zorder=0)
    ax.axhspan(10, top, color="#f6d0d0", zorder=0)
    ax.vlines(x, v["VIF_CI_low"], np.minimum(v["VIF_CI_high"], top), color=POINT,
              linewidth=1.5, label="interval")
    ax.scatter(x, v["VIF"], color=POINT, s=30, zorder=3, label="VIF")
    ax.set_xticks(x)
    ax.set_xticklabels(v["Term"], rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(v) - 0.4)
    ax.set_ylim(bottom, top)
    style(ax, "Collinearity (VIF)", None, "variance inflation factor")


def check_model(model: FramedFit, nsim: int = 50, seed: int | None = 1) -> Any:
    """performance's `check_model(m)`: see the module docstring for the panels (the
    collinearity panel is left out when the model has fewer than two fixed-effects terms)."""
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ArgumentError("nsim must be a positive integer")
    try:
        vifs = model.vif()
    except ValueError:
        vifs = None
    binomial = getattr(getattr(model, "family", None), "name", None) == "binomial"
    re = model.ranef()
    panels: list[Any] = [lambda ax: _ppc(ax, model, int(nsim), seed)]
    if binomial:                                  # performance's binomial panel set
        panels += [lambda ax: _binned(ax, model), lambda ax: _influence(ax, model)]
    else:
        panels += [
            lambda ax: (residuals_fitted(model, ax=ax), ax.set_title("Linearity", fontsize=10)),
            lambda ax: (scale_location(model, ax=ax),
                        ax.set_title("Homogeneity of variance", fontsize=10)),
            lambda ax: _influence(ax, model),
        ]
    if vifs is not None:
        panels.append(lambda ax: _collinearity(ax, vifs))
    if not binomial:
        panels.append(lambda ax: draw_qq(ax, standardized_residuals(model),
                                         "Normality of residuals", "standardized residuals"))
    for g, df in re.items():
        for c in df.columns:
            panels.append(lambda ax, g=g, c=c: draw_qq(
                ax, re[g][c].to_numpy(), f"Normality of random effects: {g}: {c}",
                "conditional modes"))
    nrows = math.ceil(len(panels) / 2)
    fig, axes = subplots(nrows, 2, 10.0, 3.3 * nrows)
    for i, ax in enumerate(axes.flat):
        if i < len(panels):
            panels[i](ax)
        else:
            ax.set_visible(False)
    fig.suptitle(f"Model checks: {model.formula}", fontsize=11)
    return fig
