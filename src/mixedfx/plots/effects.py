"""The effects package's effect plot: the fitted line of `mixedfx.effects.effect` with its
confidence band (a shaded ribbon between `lower` and `upper`), points with error bars for a
factor, one line per level of a second focal factor, a rug of the observed values of a
numeric focal predictor along the x-axis (as `plot(effect(...))` draws with `rug = TRUE`);
optionally the group-specific fitted lines of the first grouping factor beneath
(`group_lines=True`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixedfx.effects import effect as effect_frame
from mixedfx.effects.design import parse_focal, predictors
from mixedfx.errors import ArgumentError
from mixedfx.frame.rows import used_rows

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit

RUG_Y = 0.03          # height of the rug's centre, as a fraction of the axes


def effect(model: FramedFit, term: str, xlevels: Any = None, level: float = 0.95,
           type: str = "response", group_lines: bool = False, ax: Any = None,
           n_points: int = 50, rug: bool = True) -> Any:
    """Effect plot of `term` ("x" or "x:f"); numeric x uses `n_points` grid values unless
    `xlevels` gives them; `rug` marks the observed x values (the model's rows) along the
    x-axis. Returns the Figure."""
    from matplotlib.figure import Figure  # optional dependency (plot extra): when drawn

    preds = predictors(model)
    focal = parse_focal(term, preds, "effect plot")
    if len(focal) > 2:
        raise ArgumentError("effect plots show one or two focal predictors")
    x = focal[0]
    if xlevels is None and not preds.is_factor(x):
        v = preds.data[x].to_numpy(dtype=float)
        xlevels = {x: np.linspace(v.min(), v.max(), n_points).tolist()}
    frame = effect_frame(model, term, xlevels=xlevels, level=level, type=type)
    if ax is None:
        fig = Figure(figsize=(6, 4.5))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    if group_lines:
        _group_lines(model, x, preds, ax, type)
    panels = [(None, frame)] if len(focal) == 1 else \
        [(lv, frame[frame[focal[1]] == lv]) for lv in preds.factors.get(focal[1], [])] \
        or [(lv, frame[frame[focal[1]] == lv]) for lv in frame[focal[1]].unique()]
    for label, part in panels:
        name = None if label is None else f"{focal[1]} = {label}"
        if preds.is_factor(x):
            pos = np.arange(len(part))
            err = np.vstack([part["fit"] - part["lower"], part["upper"] - part["fit"]])
            ax.errorbar(pos, part["fit"], yerr=err, fmt="o-", capsize=4, label=name)
            ax.set_xticks(pos, [str(v) for v in part[x]])
        else:
            line = ax.plot(part[x], part["fit"], lw=2, label=name)[0]
            ax.fill_between(part[x].to_numpy(dtype=float), part["lower"].to_numpy(),
                            part["upper"].to_numpy(), alpha=0.25, color=line.get_color(),
                            lw=0, label="_ribbon")
    if rug and not preds.is_factor(x):
        observed = preds.data[x].to_numpy(dtype=float)
        # ticks standing on the bottom of the axes (x in data, y in axes coordinates)
        ax.plot(observed, np.full_like(observed, RUG_Y), "|", color="0.2", markersize=12,
                markeredgewidth=1.0, alpha=0.7, transform=ax.get_xaxis_transform(),
                label="_rug")
    ax.set_xlabel(x)
    ax.set_ylabel(model.frame.formula.response or "fit")
    ax.set_title(f"{':'.join(focal)} effect plot")
    if len(focal) == 2:
        ax.legend(frameon=False)
    return fig


def _group_lines(model: FramedFit, x: str, preds: Any, ax: Any, type: str) -> None:
    """Fitted values of each level of the first grouping factor, joined along x."""
    frame = model.frame
    if not getattr(frame, "terms", None):
        return
    term = frame.terms[0]
    fitted = used_rows(model, model.predict(type=type) if hasattr(model, "family")
                       else model.predict())
    xs = preds.data[x].to_numpy(dtype=float) if not preds.is_factor(x) else None
    if xs is None:
        return
    for code in range(term.n_levels):
        rows = np.flatnonzero(term.codes == code)
        order = rows[np.argsort(xs[rows], kind="stable")]
        ax.plot(xs[order], fitted[order], color="0.7", lw=0.8, zorder=0)
