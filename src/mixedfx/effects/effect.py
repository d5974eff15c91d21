"""The effects package's `effect(term, mod)`: fitted values over the focal predictors' values,
the other predictors held at typical values.

Grid: the focal predictors crossed (first one varying fastest); a numeric focal predictor takes
`xlevels` values (default: five values `nice(seq(min, max, length.out = 5))`, each rounded
to one significant digit as effects' `nice`), a factor all its levels. Other numeric
predictors are set to their means; then, as effects' `Fixup.model.matrix`, every model-matrix
column of a term without focal predictors that involves a factor is replaced by its mean over
the data (the factor averaged over its observed proportions), and interaction columns whose
components are columns are recomputed as their products.
fit = xᵀβ̂, se = √(xᵀVx); interval fit ± q·se with q the t quantile on n − p df for linear
(mixed) models and the normal quantile for GLMs and GLMMs; `type="response"` maps fit and
limits through the inverse link and se by |dμ/dη| (the delta method).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.effects.design import Predictors, family_of, model_matrix, parse_focal, predictors
from mixedfx.errors import ArgumentError
from mixedfx.lazy import lazy_module
from mixedfx.unknown_arguments import refuse_unknown_arguments
from mixedfx.validate import check_choice, check_level

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here


def nice(x: float) -> float:
    """effects' `nice(x)`: x rounded to one leading digit (R's round: half to even)."""
    if x == 0:
        return 0.0
    p = math.floor(math.log10(abs(x)))
    return float(math.copysign(np.round(abs(x) / 10**p) * 10**p, x))


def default_levels(values: np.ndarray, n: int) -> list[float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    return [nice(v) for v in np.linspace(lo, hi, n)]


def _focal_values(name: str, preds: Predictors, xlevels: Any) -> list[Any]:
    if preds.is_factor(name):
        return list(preds.factors[name])
    spec = xlevels.get(name, 5) if isinstance(xlevels, dict) else xlevels
    if spec is None:
        spec = 5
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec < 2:
            raise ArgumentError(f"xlevels for {name!r} must ask for at least 2 values")
        return default_levels(preds.data[name].to_numpy(dtype=float), int(spec))
    vals = np.asarray(spec, dtype=float).ravel()
    if vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ArgumentError(f"xlevels for {name!r} must be finite numbers")
    return vals.tolist()


def _quantile(model: FramedFit, level: float) -> float:
    a = 0.5 + level / 2
    fam = family_of(model)
    if fam is None or (fam.name == "gaussian" and fam.link.name == "identity"):
        frame = model.frame
        return float(stats.t.ppf(a, frame.n - frame.X.shape[1]))
    return float(stats.norm.ppf(a))


@refuse_unknown_arguments
def effect(model: FramedFit, term: str | list[str], xlevels: Any = None, level: float = 0.95,
           type: str = "response") -> pd.DataFrame:
    """effects' `as.data.frame(effect(term, model, xlevels=, confidence.level=))`.

    `term`: a predictor ("Days") or an interaction of predictors ("Days:grp"); `xlevels`: an
    int (values per numeric focal predictor) or a dict {name: list of values or int};
    `type`: "response" (GLM(M)s: inverse-link scale, as effects' data frame) or "link".
    Returns the focal columns, then `fit`, `se`, `lower`, `upper`.
    """
    type = check_choice(type, "type", ("response", "link"))
    level = check_level(level)
    preds = predictors(model)
    focal = parse_focal(term, preds, "effect")
    if isinstance(xlevels, dict):
        extra = [k for k in xlevels if k not in focal]
        if extra:
            raise ArgumentError(f"xlevels names {extra} that are not focal predictors {focal}")
    values = [_focal_values(f, preds, xlevels) for f in focal]
    combos = list(itertools.product(*reversed(values)))       # first focal fastest
    grid = pd.DataFrame([tuple(reversed(c)) for c in combos], columns=focal)
    full = grid.copy()
    for name in preds.names:
        if name in focal:
            continue
        full[name] = preds.factors[name][0] if preds.is_factor(name) else preds.mean(name)
    X = model_matrix(model, full)
    means = model.frame.X.mean(axis=0)
    focal_set = set(focal)
    for j, (vars_j, fac) in enumerate(zip(preds.column_vars, preds.column_is_factor,
                                          strict=True)):
        if fac and not (vars_j & focal_set):
            X[:, j] = means[j]
    index = {c: j for j, c in enumerate(preds.column_names)}
    for j, name in enumerate(preds.column_names):
        comps = [c for c in name.split(":") if c in index]
        if len(comps) > 1:
            X[:, j] = np.prod(X[:, [index[c] for c in comps]], axis=1)
    V = model.vcov.to_numpy()
    fit = X @ model.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
    q = _quantile(model, level)
    lower, upper = fit - q * se, fit + q * se
    fam = family_of(model)
    if type == "response" and fam is not None and fam.link.name != "identity":
        link = fam.link
        se = se * np.abs(link.mu_eta(fit))
        lo, hi = link.linkinv(lower), link.linkinv(upper)
        fit, lower, upper = link.linkinv(fit), np.minimum(lo, hi), np.maximum(lo, hi)
    out = grid.copy()
    out["fit"], out["se"], out["lower"], out["upper"] = fit, se, lower, upper
    return out
