"""Plots of fitted models (matplotlib, imported only when a plot is drawn). Each function
returns a `matplotlib.figure.Figure`."""

from mixedfx.plots.effects import effect

__all__ = ["effect"]
