"""Residual diagnostics: residuals against fitted values (lme4's `plot(m, type = c("p",
"smooth"))`), scale-location, normal QQ plots, residuals against a predictor or by group, a 2×2
summary and arm's binned residual plot for binomial models.

Scales: for an LMM the x axis is the fitted value and the residuals are Pearson residuals (the
response residuals scaled by √weights); for a GLMM the x axis is the linear predictor η̂ (as R's
`plot.glm`) and the residuals are Pearson residuals. Standardized residuals are Pearson
residuals / (σ√(1 − h)), h the hat values. The smoother is R's `lowess`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.diagnostics.binned import binned_resids
from mixedfx.diagnostics.leverage import standardized_residuals
from mixedfx.diagnostics.smooth import lowess
from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.frame.rows import used_rows
from mixedfx.plots._mpl import GREY, MODEL, POINT, draw_qq, marker_size, style, subplots

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit


def fitted_axis(model: FramedFit) -> tuple[np.ndarray, str]:
    """(x values, label): fitted values for an LMM, the linear predictor for a GLMM."""
    if hasattr(model, "family"):
        return used_rows(model, model.predict(type="link")), "linear predictor"
    return used_rows(model, model.fitted()), "fitted values"


def _new_ax(ax: Any, width: float = 5.2, height: float = 4.0) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, axes = subplots(1, 1, width, height)
    return fig, axes[0, 0]


def _scatter_smooth(ax: Any, x: np.ndarray, y: np.ndarray, smooth: bool,
                    floor: float | None = None) -> None:
    """Points and a lowess smoother; `floor` bounds the smoother below (a smoother of
    √|residual| that dips under 0 would show an impossible value)."""
    ax.scatter(x, y, s=marker_size(len(x)), color=POINT, alpha=0.6, linewidths=0,
               label="points")
    if smooth and len(x) > 2:
        sx, sy = lowess(x, y)
        if floor is not None:
            sy = np.maximum(sy, floor)
        ax.plot(sx, sy, color=MODEL, linewidth=1.6, label="lowess")


def residuals_fitted(model: FramedFit, smooth: bool = True, ax: Any = None) -> Any:
    """Pearson residuals against fitted values (LMM) or the linear predictor (GLMM), a zero
    line and a lowess smoother."""
    fig, ax = _new_ax(ax)
    x, xlab = fitted_axis(model)
    r = used_rows(model, model.residuals(type="pearson"))
    ax.axhline(0.0, color=GREY, linewidth=0.9, linestyle="--")
    _scatter_smooth(ax, x, r, smooth)
    style(ax, "Residuals vs fitted", xlab, "Pearson residuals")
    return fig


def scale_location(model: FramedFit, smooth: bool = True, ax: Any = None) -> Any:
    """√|standardized residual| against fitted values, with a lowess smoother."""
    fig, ax = _new_ax(ax)
    x, xlab = fitted_axis(model)
    y = np.sqrt(np.abs(standardized_residuals(model)))
    _scatter_smooth(ax, x, y, smooth, floor=0.0)
    style(ax, "Scale-location", xlab, "√|standardized residuals|")
    return fig


def qq_residuals(model: FramedFit, ax: Any = None) -> Any:
    """Normal QQ plot of the standardized residuals with R's qqline."""
    fig, ax = _new_ax(ax)
    draw_qq(ax, standardized_residuals(model), "Normal QQ of residuals",
            "standardized residuals")
    return fig


def residuals_by(model: FramedFit, by: str, ax: Any = None) -> Any:
    """Pearson residuals by the levels of a grouping factor or categorical column (boxplots,
    lme4's `plot(m, g ~ resid(.))`), or against a numeric column with a lowess smoother."""
    fr = model.frame
    if not isinstance(by, str):
        raise ArgumentTypeError("by must be a column name of the model frame or a grouping factor")
    r = used_rows(model, model.residuals(type="pearson"))
    term = next((t for t in fr.terms if t.group_name == by), None)
    if term is not None:
        labels = np.asarray(term.levels, dtype=object)[term.codes]
        levels = list(term.levels)
    elif by in fr.frame.columns:
        col = fr.frame[by]
        if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
            fig, ax = _new_ax(ax)
            ax.axhline(0.0, color=GREY, linewidth=0.9, linestyle="--")
            _scatter_smooth(ax, col.to_numpy(dtype=float), r, True)
            style(ax, f"Residuals vs {by}", by, "Pearson residuals")
            return fig
        labels = col.astype(str).to_numpy(dtype=object)
        levels = list(col.cat.categories.astype(str)) if isinstance(
            col.dtype, pd.CategoricalDtype) else sorted(set(labels))
    else:
        raise ArgumentError(f"{by!r} is neither a grouping factor nor a column of the model frame; "
                            f"columns: {list(fr.frame.columns)}")
    groups = [r[labels == lv] for lv in levels]
    keep = [i for i, g in enumerate(groups) if len(g)]
    fig, ax = _new_ax(ax, 5.2, float(np.clip(0.22 * len(keep) + 1.2, 3.0, 12.0)))
    ax.axvline(0.0, color=GREY, linewidth=0.9, linestyle="--")
    import matplotlib  # optional dependency (plot extra): imported when a plot is drawn

    horizontal = {"orientation": "horizontal"} if tuple(
        int(v) for v in matplotlib.__version__.split(".")[:2]) >= (3, 10) else {"vert": False}
    ax.boxplot([groups[i] for i in keep], widths=0.6, flierprops={"markersize": 3},
               medianprops={"color": MODEL}, **horizontal)
    ax.set_yticks(np.arange(1, len(keep) + 1))
    ax.set_yticklabels([levels[i] for i in keep], fontsize=8 if len(keep) <= 40 else 5)
    style(ax, f"Residuals by {by}", "Pearson residuals", by)
    return fig


def diagnostics(model: FramedFit) -> Any:
    """A 2×2 figure: residuals vs fitted, scale-location, QQ of the residuals, QQ of the first
    random-effect column."""
    fig, axes = subplots(2, 2, 9.5, 7.6)
    residuals_fitted(model, ax=axes[0, 0])
    scale_location(model, ax=axes[0, 1])
    qq_residuals(model, ax=axes[1, 0])
    g, re = next(iter(model.ranef().items()))
    draw_qq(axes[1, 1], re.iloc[:, 0].to_numpy(), f"Normal QQ of {g}: {re.columns[0]}",
            "conditional modes")
    fig.suptitle(f"Diagnostics: {model.formula}", fontsize=11)
    return fig


def binned_response(model: FramedFit) -> tuple[np.ndarray, np.ndarray]:
    """(fitted probabilities, response residuals y/n − μ̂) of a binomial model."""
    if getattr(getattr(model, "family", None), "name", None) != "binomial":
        raise ArgumentTypeError("binned residuals are for binomial GLMMs")
    mu = used_rows(model, model.fitted())
    return mu, used_rows(model, model.residuals(type="response"))


def binned_residuals(model: FramedFit, nclass: int | None = None, ax: Any = None) -> Any:
    """arm's `binnedplot(fitted(m), resid(m, type = "response"))`: mean residual per bin of
    fitted probabilities with ±2 SE bounds (about 95% of the points should fall inside)."""
    fig, ax = _new_ax(ax)
    mu, r = binned_response(model)
    b = binned_resids(mu, r, nclass)
    ax.axhline(0.0, color=GREY, linewidth=0.9, linestyle="--")
    ax.plot(b["xbar"], b["2se"], color=GREY, linewidth=1.0, label="+2 SE")
    ax.plot(b["xbar"], -b["2se"], color=GREY, linewidth=1.0, label="-2 SE")
    inside = np.abs(b["ybar"].to_numpy()) <= b["2se"].to_numpy()
    ax.scatter(b["xbar"], b["ybar"], s=22, color=np.where(inside, POINT, MODEL), zorder=3,
               label="binned residuals")
    style(ax, "Binned residual plot", "expected values (fitted probability)",
          "average residual")
    return fig
