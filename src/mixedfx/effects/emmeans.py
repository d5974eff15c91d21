"""emmeans' estimated marginal means and pairwise contrasts.

Reference grid: every fixed-effects predictor crossed, factors at all their levels (or the
levels given in `at`), numeric predictors at their means (or the values in `at`); rows with
the first predictor varying fastest. The EMM of a combination of the `specs` (within each
`by` group) is the equally weighted average of the grid rows having it: L = mean of their
model-matrix rows, EMM = Lβ̂.

Inference: LMMs use Kenward–Roger (pbkrtest's adjusted covariance Φ_A and df; emmeans'
default when pbkrtest is present and n ≤ 3000) or Satterthwaite (lmerTest's df, vcov(β̂)), or
`lmer_df="asymptotic"`; GLMMs and GLMs without dispersion are asymptotic (df = Inf, normal
quantiles: columns asymp.LCL / asymp.UCL); `lm` fits use the residual df.
`type="response"` back-transforms GLMM means (named `prob`, `rate` or `response`) and the means
of a linear model of log(y), log10(y), log2(y) or sqrt(y) (`response`), SE by the delta method,
limits by the inverse (`effects.response_scale`).
Contrasts (`pairs`): every pair i < j of EMMs in a by-group, L_i − L_j, with t (or z) tests
and, within each by group, Tukey's adjustment over the k means of the group (p =
P(Q_{k,df} > √2 |t|)) or emmeans' other `adjust=` methods (`effects.adjust`: sidak, scheffe,
holm, hochberg, hommel, bonferroni, BH / fdr, BY, none); one pair is left unadjusted, as
emmeans. With
`type="response"` and a logit or log link the contrasts are ratios exp(L_i − L_j)β̂ (odds
ratios, rate ratios), SE by the delta method, tests on the link scale.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedfx.effects.adjust import adjust_family, match_adjust
from mixedfx.effects.design import (
    family_of,
    grid_offset,
    is_lmm,
    model_matrix,
    parse_focal,
    predictors,
)
from mixedfx.effects.response_scale import response_scale
from mixedfx.errors import ArgumentError, ArgumentTypeError
from mixedfx.inference.kenward_roger import kenward_roger
from mixedfx.inference.satterthwaite import satterthwaite_state
from mixedfx.lazy import lazy_module
from mixedfx.unknown_arguments import refuse_unknown_arguments
from mixedfx.validate import check_choice, check_level

if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FittedModel

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here

LMER_DF = {"kenward-roger": "Kenward-Roger", "kenward_roger": "Kenward-Roger",
           "kr": "Kenward-Roger", "satterthwaite": "Satterthwaite",
           "asymptotic": "asymptotic"}


def _names(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    if not isinstance(x, (list, tuple)) or not all(isinstance(v, str) for v in x):
        raise ArgumentTypeError(f"specs / by must be a column name or a list of names, got "
                                f"{x!r} ({type(x).__name__})")
    return list(x)


class _Inference:
    """SE and df of linear combinations lᵀβ̂ for one model and df method."""

    def __init__(self, model: FittedModel, lmer_df: str | None) -> None:
        self.model = model
        self.method = "asymptotic"
        self.V = model.vcov.to_numpy()
        if callable(getattr(model, "contrast_se_df", None)):
            # models that compute their own df: mfx.mmrm (the fit's method; lmer_df refused)
            # and mfx.gls (lmer_df="satterthwaite"; default: the residual df)
            self.method, self._ddf = "model", lmer_df
            return
        if is_lmm(model):
            if lmer_df is None:
                key = "kenward-roger" if model.nobs <= 3000 else "asymptotic"
            else:
                key = str(lmer_df).lower()
                if key not in LMER_DF:
                    raise ArgumentError("lmer_df must be 'kenward-roger', 'satterthwaite' or "
                                        f"'asymptotic', got {lmer_df!r}")
            self.method = LMER_DF[key]
            if self.method == "Kenward-Roger":
                self._kr = kenward_roger(model)
                self.V = self._kr.vcov_adj
            elif self.method == "Satterthwaite":
                self._st = satterthwaite_state(model)
        else:
            if lmer_df is not None:
                raise ArgumentError("lmer_df applies to linear mixed models only")
            fam = family_of(model)
            if fam is None or fam.has_dispersion:
                self.method = "residual"

    def se_df(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.method == "model":
            return self.model.contrast_se_df(L, ddf=self._ddf)
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, self.V, L))
        if self.method == "Kenward-Roger":
            df = np.array([self._kr.df(row[None, :]) for row in L])
        elif self.method == "Satterthwaite":
            df = np.array([self._st.df(row) for row in L])
        elif self.method == "residual":
            df = np.full(len(L), float(self.model.df_residual))
        else:
            df = np.full(len(L), np.inf)
        return se, df


def _grid(model: FittedModel, at: dict[str, Any] | None) -> tuple[pd.DataFrame, np.ndarray]:
    preds = predictors(model)
    if at is not None and not isinstance(at, dict):
        raise ArgumentTypeError(f"at must be a dict of predictor values such as {{'x': [1, 2]}}, "
                                f"got {type(at).__name__}")
    at = dict(at or {})
    unknown = [k for k in at if k not in preds.names]
    if unknown:
        raise ArgumentError(f"at names {unknown} that are not predictors {preds.names}")
    values = []
    for name in preds.names:
        if name in at:
            v = at[name]
            vals = list(v) if isinstance(v, (list, tuple, np.ndarray, pd.Series)) else [v]
            if preds.is_factor(name):
                vals = [str(x) for x in vals]
                bad = [x for x in vals if x not in preds.factors[name]]
                if bad:
                    raise ArgumentError(f"at: {bad} are not levels of {name!r}")
            values.append(vals)
        elif preds.is_factor(name):
            values.append(list(preds.factors[name]))
        else:
            values.append([preds.mean(name)])
    combos = [tuple(reversed(c)) for c in itertools.product(*reversed(values))]
    grid = pd.DataFrame(combos, columns=preds.names)
    return grid, model_matrix(model, grid)


def _cells(model: FittedModel, specs: list[str], by: list[str], at: dict[str, Any] | None
           ) -> tuple[pd.DataFrame, np.ndarray]:
    grid, X = _grid(model, at)
    keys = specs + by
    order = by[::-1] + specs[::-1]          # slowest first: by groups, then specs
    cells = grid[keys].drop_duplicates()
    cells = cells.sort_values(order, key=lambda s: s.map(
        {v: i for i, v in enumerate(pd.unique(grid[s.name]))}), kind="stable")
    L = []
    for _, row in cells.iterrows():
        mask = np.all([grid[k].to_numpy() == row[k] for k in keys], axis=0)
        L.append(X[mask].mean(axis=0))
    return cells.reset_index(drop=True), np.array(L)


@refuse_unknown_arguments
def emmeans(model: FittedModel, specs: str | Sequence[str], by: str | Sequence[str] | None = None,
            at: dict[str, Any] | None = None, level: float = 0.95, type: str = "link",
            lmer_df: str | None = None, pairwise: bool = False
            ) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """emmeans' `summary(emmeans(model, specs, by=, at=, type=, lmer.df=))` as a frame: the
    specs and by columns, `emmean` (or `prob` / `rate` / `response`), `SE`, `df` and
    `lower.CL`, `upper.CL` (`asymp.LCL`, `asymp.UCL` when df = Inf). With `pairwise=True`
    a dict {"emmeans": ..., "contrasts": pairs(...)} (R's `emmeans(m, pairwise ~ f)`)."""
    type = check_choice(type, "type", ("link", "response"))
    level = check_level(level)
    preds = predictors(model)
    sp = parse_focal(_names(specs), preds, "emmeans specs")
    bys = parse_focal(_names(by), preds, "emmeans by") if by is not None else []
    if set(sp) & set(bys):
        raise ArgumentError("a predictor cannot be in both specs and by")
    cells, L = _cells(model, sp, bys, at)
    inf = _Inference(model, lmer_df)
    est = L @ model.beta + grid_offset(model)
    se, df = inf.se_df(L)
    q = np.where(np.isfinite(df), stats.t.ppf(0.5 + level / 2, np.where(np.isfinite(df),
                                                                          df, 1)),
                 stats.norm.ppf(0.5 + level / 2))
    lo, hi = est - q * se, est + q * se
    name = "emmean"
    scale = response_scale(model) if type == "response" else None
    if scale is not None:
        se = se * np.abs(scale.derivative(est))
        a, b = scale.inverse(lo), scale.inverse(hi)
        est, lo, hi = scale.inverse(est), np.minimum(a, b), np.maximum(a, b)
        name = scale.name
    out = cells.copy()
    asym = not np.all(np.isfinite(df))
    out[name], out["SE"], out["df"] = est, se, df
    out["asymp.LCL" if asym else "lower.CL"] = lo
    out["asymp.UCL" if asym else "upper.CL"] = hi
    out.attrs["df_method"] = inf.method
    if pairwise:
        return {"emmeans": out, "contrasts": pairs(model, specs, by=by, at=at,
                                                   lmer_df=lmer_df, type=type)}
    return out


PARENS = re.compile(r"-|\+|/|\*")       # emmeans' option parens: levels wrapped in ( )


def _numeric_label(v: str) -> bool:
    """R's `!is.na(as.numeric(v))`."""
    if "_" in v:
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def _level_labels(cells: pd.DataFrame, specs: list[str]) -> list[str]:
    """emmeans' contrast level labels: the specs' levels pasted with " "; a predictor whose
    levels are all numeric-looking gets its name in front of each ("period1"); a label
    containing + - * / is wrapped in parentheses ("(3+)")."""
    cols = []
    for s in specs:
        vals = cells[s].astype(str).tolist()
        if all(_numeric_label(v) for v in vals):
            vals = [f"{s}{v}" for v in vals]
        cols.append(vals)
    labels = [" ".join(parts) for parts in zip(*cols, strict=True)]
    return [f"({lb})" if PARENS.search(lb) else lb for lb in labels]


@refuse_unknown_arguments
def pairs(model: FittedModel, specs: str | Sequence[str], by: str | Sequence[str] | None = None,
          at: dict[str, Any] | None = None, adjust: str = "tukey",
          lmer_df: str | None = None, type: str = "link") -> pd.DataFrame:
    """emmeans' `summary(pairs(emmeans(model, specs, by=), type=))`: columns `contrast`
    ("a - b", labels as `_level_labels`), the by columns, `estimate`, `SE`, `df`, `t.ratio`
    (`z.ratio` when df = Inf) and `p.value`.

    `type="response"` with a logit or log link (or a linear model of log(y), log10(y),
    log2(y)) gives ratios: b^dᵢⱼ for the link-scale difference dᵢⱼ (b = e, 10, 2), labelled
    "a / b", named `odds.ratio` (logit) or `ratio`, SE by the delta method b^dᵢⱼ·ln b·SE(dᵢⱼ),
    a `null` column of 1, and the test and its adjustment on the link scale. Other scales keep
    link-scale differences, as emmeans ("contrasts are still on the probit scale").

    `adjust`: emmeans' multiplicity adjustment within each by group (`effects.adjust`):
    "tukey" (default), "sidak", "scheffe", "holm", "hochberg", "hommel", "bonferroni",
    "BH" / "fdr", "BY" or "none"; a unique prefix suffices, as R's `pmatch`."""
    adjust = match_adjust(adjust)
    if type not in ("link", "response"):
        raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
    scale = response_scale(model) if type == "response" else None
    ratio = scale.ratio_name if scale is not None else None
    preds = predictors(model)
    sp = parse_focal(_names(specs), preds, "pairs specs")
    bys = parse_focal(_names(by), preds, "pairs by") if by is not None else []
    cells, L = _cells(model, sp, bys, at)
    inf = _Inference(model, lmer_df)
    groups = cells.groupby(bys, sort=False).indices if bys else {(): np.arange(len(cells))}
    labels = _level_labels(cells, sp)
    sep = " / " if ratio else " - "
    rows, Ls, families = [], [], []
    for _key, idx in groups.items():
        idx = np.asarray(idx)
        first = len(Ls)
        for a, b in itertools.combinations(idx, 2):
            row = {"contrast": f"{labels[a]}{sep}{labels[b]}"}
            for bname in bys:
                row[bname] = cells.iloc[a][bname]
            rows.append(row)
            Ls.append(L[a] - L[b])
        families.append((np.arange(first, len(Ls)), len(idx)))
    if not Ls:
        raise ArgumentError("pairs needs at least two estimated marginal means per group")
    Lc = np.array(Ls)
    est = Lc @ model.beta
    se, df = inf.se_df(Lc)
    stat = est / se
    finite = np.isfinite(df)
    p_raw = np.where(finite, 2 * stats.t.sf(np.abs(stat), np.where(finite, df, 1)),
                     2 * stats.norm.sf(np.abs(stat)))
    p = p_raw.copy()
    for rows_f, k in families:
        if len(rows_f):
            rank = int(np.linalg.matrix_rank(Lc[rows_f], tol=1e-8 * max(1.0, np.abs(Lc).max())))
            p[rows_f] = adjust_family(stat[rows_f], df[rows_f], p_raw[rows_f], adjust, k, rank)
    out = pd.DataFrame(rows)
    if ratio:
        r = np.power(scale.base, est)
        out[ratio], out["SE"], out["df"], out["null"] = r, r * math.log(scale.base) * se, df, 1.0
    else:
        out["estimate"], out["SE"], out["df"] = est, se, df
    out["z.ratio" if not np.all(finite) else "t.ratio"] = stat
    out["p.value"] = p
    return out
