"""arm's `display()`: the compact printout of a fitted model (Gelman & Hill), for lmer / glmer
fits and the lm / glm baselines, line for line as arm 1.13 prints it.

Every model: the call, then the coefficients as `coef.est` / `coef.se` rounded to `digits`
and formatted together (`detail=True` adds the test columns). Then
* lmer / glmer: "Error terms:" (groups, names, standard deviations with the residual's and
  the correlations of each term below the diagonal), the numbers of observations and groups,
  AIC (of the fit's own criterion, REML or ML), DIC = 2·D − D̂ with D the deviance of the ML
  refit (lme4's `deviance`, a GLMM's as lme4 defines it) and D̂ = −2 log L of the fit, and D;
* lm: n, k (the rank), the residual sd and R²;
* glm: n, k, the residual and null deviances and their difference, and the dispersion when
  it is not 1 ("overdispersion parameter"; for the Gaussian family also its square root).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mixedfx.errors import ArgumentError
from mixedfx.formula.call_text import call_text_lines
from mixedfx.lazy import lazy_module
from mixedfx.rformat import print_matrix, print_named_vector

stats = lazy_module("scipy.stats")  # scipy.stats costs ~0.4 s at import; only needed here
if TYPE_CHECKING:     # contract types annotate only: not loaded by `import mixedfx`
    from mixedfx.fitted.protocol import FramedFit


def fround(x: Any, digits: int) -> list[str]:
    """arm's `fround`: `format(round(x, digits), nsmall = digits)` — fixed notation with
    `digits` decimals, right-justified to a common width."""
    vals = np.round(np.atleast_1d(np.asarray(x, dtype=float)), digits) + 0.0   # no "-0.00"
    cells = [f"{v:.{digits}f}" for v in vals]
    w = max(len(c) for c in cells)
    return [c.rjust(w) for c in cells]


def _coef_block(names: list[str], columns: dict[str, np.ndarray], digits: int,
                drop: bool = False) -> str:
    """pfround(coefs, digits): one formatted character matrix (with `drop`, as arm's merMod
    method, a one-row matrix of the two columns `coefs[, 1:2]` drops to a named vector)."""
    colnames = list(columns)
    flat = fround(np.column_stack(list(columns.values())).ravel(order="F"), digits)
    n = len(names)
    cells = [[flat[j * n + i] for j in range(len(colnames))] for i in range(n)]
    if drop and n == 1 and len(colnames) == 2:
        return print_named_vector(colnames, cells[0])
    return print_matrix(cells, colnames, names)


def _call(model: FramedFit, mixed: bool) -> list[str]:
    text = getattr(model, "call", None)
    if not isinstance(text, str):
        fn = "glmer" if hasattr(model, "family") else "lmer"
        args = [f"formula = {model.formula}", f"data = {model.data_name or 'data'}"]
        if fn == "glmer":
            args.append(f"family = {model.family.name}")
        elif mixed and not model.REML:
            args.append("REML = FALSE")
        text = f"{fn}({', '.join(args)})"
    return call_text_lines(text, list(model.frame.frame.columns))


def _error_terms(model: FramedFit, digits: int) -> str:
    """arm's `as.matrix.VarCorr` without its Variance column."""
    covs = model.re_covariances()
    sds = np.concatenate([np.asarray(c.sd, dtype=float) for c in covs] + [[model.sigma]])
    sd_cells = fround(sds, digits)
    maxlen = max(len(c.names) for c in covs)
    rows: list[list[str]] = []
    pos = 0
    for c in covs:
        k = len(c.names)
        corr = np.asarray(c.corr, dtype=float)
        cc = np.array(fround(corr.ravel(), digits), dtype=object).reshape(k, k)
        for i in range(k):
            corr_cells = [cc[i, j] if j < i else "" for j in range(k)] + [""] * (maxlen - k)
            rows.append([c.group if i == 0 else "", c.names[i], sd_cells[pos], *corr_cells]
                        if maxlen > 1 else [c.group if i == 0 else "", c.names[i],
                                            sd_cells[pos]])
            pos += 1
    rows.append(["Residual", "", sd_cells[pos]] + ([""] * maxlen if maxlen > 1 else []))
    colnames = ["Groups", "Name", "Std.Dev."] + (["Corr"] + [""] * (maxlen - 1)
                                                  if maxlen > 1 else [])
    return print_matrix(rows, colnames, [""] * len(rows))


def _mixed(model: FramedFit, digits: int, detail: bool) -> list[str]:
    fe = model.fixef
    se = np.sqrt(np.diag(model.vcov.to_numpy()))
    cols = {"coef.est": fe.to_numpy(), "coef.se": se}
    if detail:
        z = fe.to_numpy() / se
        if hasattr(model, "family"):
            cols |= {"z value": z, "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}
        else:
            cols |= {"t value": z}
    lines = [_coef_block(list(fe.index), cols, digits, drop=True), "", "Error terms:",
             _error_terms(model, digits), "---"]
    groups = "; ".join(f"{g}, {n}" for g, n in model.ngrps.items())
    lines.append(f"number of obs: {model.nobs}, groups: {groups}")
    refit = model.refit_ml() if getattr(model, "REML", False) else model
    dev = float(refit.deviance)
    dic = 2.0 * dev + 2.0 * float(model.loglik)
    lines.append(f"AIC = {round(float(model.aic), 1):g}, DIC = {round(dic, 1):.7g}")
    lines.append(f"deviance = {fround(dev, 1)[0]} ")
    return lines


def _lm(model: FramedFit, digits: int, detail: bool) -> list[str]:
    coefs = model.summary().coefficients
    cols = {"coef.est": coefs.iloc[:, 0].to_numpy(), "coef.se": coefs.iloc[:, 1].to_numpy()}
    if detail:
        cols |= {c: coefs[c].to_numpy() for c in coefs.columns[2:]}
    lines = [_coef_block(list(coefs.index), cols, digits), "---"]
    k = len(coefs)
    if hasattr(model, "family"):
        dev, null = float(model.deviance), float(model.null_deviance)
        lines += [f"  n = {model.df_residual + k}, k = {k}",
                  f"  residual deviance = {fround(dev, 1)[0]}, null deviance = "
                  f"{fround(null, 1)[0]} (difference = {fround(null - dev, 1)[0]})"]
        phi = float(model.dispersion)
        if phi != 1:
            lines.append(f"  overdispersion parameter = {fround(phi, 1)[0]}")
            if model.family.name == "gaussian":
                lines.append("  residual sd is sqrt(overdispersion) = "
                             f"{fround(np.sqrt(phi), digits)[0]}")
        return lines
    lines += [f"n = {model.df_residual + k}, k = {k}",
              f"residual sd = {fround(model.sigma, digits)[0]}, R-Squared = "
              f"{fround(model.r_squared, 2)[0]}"]
    return lines


class Display(str):
    """The printed text of `display` (a str that prints as arm's output)."""

    def __repr__(self) -> str:
        return str(self)


def display(model: FramedFit, digits: int = 2, detail: bool = False) -> Display:
    """arm's `display(model, digits = 2, detail = FALSE)` for lmer / glmer / lm / glm fits
    (see the module docstring); returns the text (print it)."""
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ArgumentError(f"digits must be a non-negative integer, got {digits!r}")
    if not isinstance(detail, bool):
        raise ArgumentError(f"detail must be True or False, got {detail!r}")
    mixed = hasattr(model, "re_covariances") and bool(model.frame.terms)
    if not mixed and not hasattr(model, "r_squared") and not hasattr(model, "null_deviance"):
        raise ArgumentError("display needs an lmer, glmer, lm or glm fit, got "
                            f"{type(model).__name__}")
    body = _mixed(model, digits, detail) if mixed else _lm(model, digits, detail)
    return Display("\n".join(_call(model, mixed) + body))
