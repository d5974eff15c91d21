"""Mixed models for repeated measures (MMRM) as SAS PROC MIXED computes them.

A residual-only model: y_i = X_i β + ε_i, ε_i ~ N(0, Σ_i) with Σ_i the block of one
structured covariance (mmrm's structures and parameterizations) on the visits subject i has,
fitted by REML or ML with β profiled out; Satterthwaite / Kenward–Roger / residual /
between-within df and asymptotic or sandwich covariances of β̂.

Modules: `terms` (the covariance term of the formula), `structures` (Σ(θ)), `design` (data
layout and checks), `derivatives` (∂Σ/∂θ), `likelihood` (criterion and gradient), `fit`
(optimizer, Hessian), `components` (P, Q, R), `satterthwaite`, `kenward_roger`, `empirical`,
`inference` (tests with the chosen method), `anova`, `predict` (conditional predictions),
`model` (the result and its summary printout), `api`.
"""

from mixedfx.mmrm.api import mmrm

__all__ = ["mmrm"]
