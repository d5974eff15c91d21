"""Generalized least squares with nlme residual structures (nlme's `gls`)."""
