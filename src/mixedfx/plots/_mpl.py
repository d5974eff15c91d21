"""matplotlib access for the plots: imported on first use, never when mixedfx is imported.

Without matplotlib every plot raises `PlotDependencyError` (an ImportError) saying how to
install it. Shared drawing helpers: figure grids, reference lines, label thinning, QQ points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from mixedfx.lazy import lazy_module

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

INSTALL_HINT = ("plotting needs the package matplotlib, which is not installed: "
                "pip install matplotlib (or, installing mixedfx from PyPI, "
                "pip install \"mixedfx[plot]\"; from a checkout, pip install \".[plot]\")")
POINT = "#1f4e79"         # observed points
MODEL = "#c0392b"         # model / smoother / reference lines
GREY = "#7f7f7f"

T = TypeVar("T")


class PlotDependencyError(ImportError):
    """matplotlib is not installed (install the `plot` extra)."""


def pyplot() -> Any:
    """matplotlib.pyplot, or PlotDependencyError."""
    try:
        import matplotlib.pyplot as plt  # optional dependency (plot extra): on first plot
    except ImportError as exc:
        raise PlotDependencyError(INSTALL_HINT) from exc
    return plt


def subplots(nrows: int, ncols: int, width: float, height: float, **kwargs: Any
             ) -> tuple[Any, np.ndarray]:
    """A figure with an nrows × ncols grid of axes (always a 2-D array)."""
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                             layout="constrained", **kwargs)
    return fig, axes


def panel_grid(items: Sequence[T], width: float, height: float, ncols: int = 3,
               **kwargs: Any) -> tuple[Any, int, list[tuple[int, Any, T]]]:
    """One panel per item, at most `ncols` a row (`width` × `height` inches each, plus a
    0.4-inch margin), the unused panels hidden: (figure, columns, [(index, axes, item)])."""
    ncols = min(ncols, len(items))
    nrows = -(-len(items) // ncols)
    fig, axes = subplots(nrows, ncols, width * ncols + 0.4, height * nrows, **kwargs)
    panels = []
    for i, ax in enumerate(axes.flat):
        if i < len(items):
            panels.append((i, ax, items[i]))
        else:
            ax.set_visible(False)
    return fig, ncols, panels


def style(ax: Any, title: str | None = None, xlabel: str | None = None,
          ylabel: str | None = None) -> None:
    if title:
        ax.set_title(title, fontsize=10)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    ax.grid(True, color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def marker_size(n: int) -> float:
    """Point size (points²) that stays readable from 10 to 100 000 points."""
    return float(np.clip(40.0 / math.sqrt(max(n, 1) / 20.0), 1.0, 30.0))


def thin_labels(n: int, max_labels: int) -> np.ndarray:
    """Positions of at most `max_labels` evenly spaced labels among n (none when 0)."""
    if max_labels <= 0 or n == 0:
        return np.zeros(0, dtype=int)
    step = max(1, math.ceil(n / max_labels))
    return np.arange(0, n, step)


def ppoints(n: int) -> np.ndarray:
    """R's ppoints: (i − a)/(n + 1 − 2a), a = 3/8 for n ≤ 10 else 1/2."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theoretical normal quantiles, sorted values, sort order) as R's qqnorm."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    return stats.norm.ppf(ppoints(len(v))), v[order], order


def qq_line(values: np.ndarray) -> tuple[float, float]:
    """R's qqline: the line through the first and third quartiles, (intercept, slope)."""
    v = np.asarray(values, dtype=float)
    y = np.quantile(v, [0.25, 0.75], method="linear")   # R's type 7
    x = stats.norm.ppf([0.25, 0.75])
    slope = (y[1] - y[0]) / (x[1] - x[0])
    return float(y[0] - slope * x[0]), float(slope)


def draw_qq(ax: Any, values: np.ndarray, title: str, ylabel: str = "Sample quantiles",
            size: float | None = None) -> None:
    """Normal QQ points with R's qqline."""
    x, y, _ = qq_points(values)
    ax.scatter(x, y, s=marker_size(len(y)) if size is None else size, color=POINT,
               alpha=0.8, linewidths=0, label="points")
    a, b = qq_line(values)
    xx = np.array([x.min(), x.max()]) if len(x) else np.array([-2.0, 2.0])
    ax.plot(xx, a + b * xx, color=MODEL, linewidth=1.2, label="qqline")
    style(ax, title, "Standard normal quantiles", ylabel)
