"""Leave-one-group-out influence (lme4 ≥ 1.1-31's `influence.merMod`).

For each distinct value of `groups` (each row when `groups` is None, lme4's `.case`), the model
is refitted without those rows, starting from θ̂ (lme4: `update(m, subset = .groups != del,
start = list(theta = ...))` with `maxfun` evaluations), and the fixed effects, the variance
components and vcov(β) of the refit are recorded. Variance components are named as lme4 names
them: `sigma^2`, then per term (prefixed `group:` when the model has more than one term) the
lower triangle of the covariance, column by column: `v[a]` on the diagonal, `C[b,a]` below.

From the result (lme4's methods): `dfbeta` = β̂₍₋ᵢ₎ − β̂ (or the variance components),
`dfbetas` = dfbeta / the SEs of the refit, and the group-deletion Cook's distance
Dᵢ = dfbetaᵢᵀ V⁻¹ dfbetaᵢ (n − p)/(n p) with V the full model's vcov, n the number of deleted
groups and p the number of fixed effects.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mixedfx.errors import ArgumentError


@dataclass
class Influence:
    """lme4's `influence.merMod` value."""

    fixed_effects: pd.Series
    fixed_effects_deleted: pd.DataFrame      # one row per deleted group
    var_cov_comps: pd.Series
    var_cov_comps_deleted: pd.DataFrame
    vcov: pd.DataFrame
    vcov_deleted: dict[str, pd.DataFrame]
    groups: str
    deleted: list[str]
    converged: pd.Series
    function_evals: pd.Series
    messages: list[str] = field(default_factory=list)

    def dfbeta(self, which: str = "fixed") -> pd.DataFrame:
        """Changes on deletion: `fixed` (fixed effects) or `var.cov` (variance components)."""
        if which == "fixed":
            return self.fixed_effects_deleted - self.fixed_effects
        if which in ("var.cov", "var_cov"):
            return self.var_cov_comps_deleted - self.var_cov_comps
        raise ArgumentError("which must be 'fixed' or 'var.cov'")

    def dfbetas(self) -> pd.DataFrame:
        """dfbeta of the fixed effects divided by the refits' standard errors."""
        se = np.vstack([np.sqrt(np.diag(self.vcov_deleted[d].to_numpy()))
                        for d in self.deleted])
        return self.dfbeta() / se

    def cooks_distance(self) -> pd.Series:
        """lme4's `cooks.distance.influence.merMod`."""
        db = self.dfbeta().to_numpy()
        n, p = db.shape
        Vinv = (n - p) / (n * p) * np.linalg.inv(self.vcov.to_numpy())
        d = np.einsum("ij,jk,ik->i", db, Vinv, db)
        return pd.Series(d, index=self.deleted, name="cooks.distance")


def var_cov_components(model: Any) -> pd.Series:
    """σ² then the lower triangles of the term covariances, named as lme4's influence."""
    covs = model._covariances
    single = len(covs) == 1
    names, vals = ["sigma^2"], [model.sigma**2]
    for c in covs:
        k = len(c.names)
        for j in range(k):
            for i in range(j, k):
                e = f"v[{c.names[i]}]" if i == j else f"C[{c.names[i]},{c.names[j]}]"
                names.append(e if single else f"{c.group}:{e}")
                vals.append(float(c.cov[i, j]))
    return pd.Series(vals, index=names, dtype=float)


def _labels(values: Any) -> np.ndarray:
    from mixedfx.frame.grouping import value_labels

    return np.array([str(v) for v in value_labels(pd.Series(values))], dtype=object)


def _group_labels(model: Any, groups: Any) -> tuple[str, np.ndarray]:
    fr = model.frame
    if groups is None:
        return "case", np.array([str(i + 1) for i in range(fr.n)], dtype=object)
    if isinstance(groups, str):
        groups = [groups]
    if isinstance(groups, (list, tuple)) and all(isinstance(g, str) for g in groups):
        missing = [g for g in groups if g not in fr.frame.columns]
        if missing:
            raise ArgumentError(f"groups names column(s) {missing} not in the model frame; "
                                f"available: {list(fr.frame.columns)}")
        parts = [_labels(fr.frame[g].to_numpy()) for g in groups]
        labels = parts[0] if len(parts) == 1 else \
            np.array([".".join(t) for t in zip(*parts, strict=True)], dtype=object)
        return ".".join(groups), labels
    arr = np.asarray(groups)
    if arr.shape != (fr.n,):
        raise ArgumentError(f"groups must be column name(s) of the model frame or an array of "
                            f"{fr.n} labels, got shape {arr.shape}")
    return "groups", _labels(arr)


def _extra_offset(model: Any) -> np.ndarray | None:
    """The part of the frame's offset not written in the formula (an `offset=` argument)."""
    from mixedfx.formula import evaluate_response

    fr = model.frame
    if fr.offset is None:
        return None
    total = np.asarray(fr.offset, dtype=float).copy()
    for expr in fr.formula.offsets:
        total -= np.asarray(evaluate_response(expr, fr.frame), dtype=float)
    return None if np.allclose(total, 0.0) else total


def _refit(model: Any, keep: np.ndarray, maxfun: int) -> Any:
    """The model refitted (through its own `update`) to the rows `keep`."""
    fr = model.frame
    data = fr.frame.loc[keep].reset_index(drop=True)
    w = None if fr.weights is None else np.asarray(fr.weights)[keep]
    off = _extra_offset(model)
    off = None if off is None else off[keep]
    ctrl = replace(model._control, maxeval=maxfun)
    if hasattr(model, "family"):
        return model.update(data=data, weights=w, offset=off, control=ctrl,
                            start={"theta": model.theta})
    if model.structure_arguments():
        if w is not None:
            raise ArgumentError("influence() of a model with both prior weights and an nlme "
                                "variance function is not available")
        return model.update(data=data, offset=off, control=ctrl)
    return model.update(data=data, weights=w, offset=off, control=ctrl, start=model.theta)


def influence(model: Any, groups: Any = None, maxfun: int = 1000) -> Influence:
    """lme4's `influence(m, groups=)`: refit without each group (each row when None).

    `groups`: column name(s) of the model frame (several are pasted with "."), or an array of
    one label per row of the fit. `maxfun`: optimizer evaluations per refit."""
    if isinstance(maxfun, bool) or not isinstance(maxfun, (int, np.integer)) \
            or not 1 <= maxfun <= 2**31 - 1:
        raise ArgumentError(f"maxfun must be an integer from 1 to {2**31 - 1} (the optimizer's "
                            f"evaluation limit per refit), got {maxfun!r}")
    name, labels = _group_labels(model, groups)
    deleted = list(dict.fromkeys(labels))
    fe0 = model.fixef
    vc0 = var_cov_components(model)
    fixed, vcs, vcovs, conv, fevals, msgs = [], [], {}, [], [], []
    for d in deleted:
        keep = labels != d
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m1 = _refit(model, keep, int(maxfun))
        info = m1.optimizer_info
        ok = bool(info.get("converged", True)) and not caught and not info.get("messages")
        fe1 = m1.fixef.reindex(fe0.index)
        fixed.append(fe1.to_numpy())
        vc1 = var_cov_components(m1)
        vcs.append(vc1.to_numpy() if len(vc1) == len(vc0) else np.full(len(vc0), np.nan))
        vcovs[d] = m1.vcov.reindex(index=fe0.index, columns=fe0.index)
        conv.append(ok)
        fevals.append(int(info.get("evaluations", 0)))
        msgs.extend(f"{d}: {w.message}" for w in caught)
    return Influence(
        fixed_effects=fe0,
        fixed_effects_deleted=pd.DataFrame(np.vstack(fixed), index=deleted, columns=fe0.index),
        var_cov_comps=vc0,
        var_cov_comps_deleted=pd.DataFrame(np.vstack(vcs), index=deleted, columns=vc0.index),
        vcov=model.vcov, vcov_deleted=vcovs, groups=name, deleted=deleted,
        converged=pd.Series(conv, index=deleted), function_evals=pd.Series(fevals,
                                                                            index=deleted),
        messages=msgs)
