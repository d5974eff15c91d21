"""Printing of test tables as R does: `printCoefmat` (with `zap.ind`, `na.print`, `format.pval`
and the significance legend), `print.anova`, and lmerTest's wrapped method title.

Numbers are formatted with `mixedfx.results.rformat.format_real` (R's `formatReal`); missing
values (NaN) print as `na_print`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mixedfx.results.rformat import format_real, print_matrix

EPS = 2.220446049250313e-16
LEGEND = "0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"
WIDTH = 80


def _zapsmall(x: np.ndarray, digits: int) -> np.ndarray:
    fin = x[np.isfinite(x)]
    if len(fin) == 0:
        return x
    mx = float(np.max(np.abs(fin)))
    d = max(0, int(np.floor(digits - np.log10(mx) + 0.5))) if mx > 0 else digits
    return np.round(x, d)


def _fmt(values: np.ndarray, digits: int) -> list[str]:
    """R's format(x, digits) for a numeric vector; NaN cells are left empty here."""
    values = np.asarray(values, dtype=float)
    out = [""] * len(values)
    ok = np.isfinite(values)
    if ok.any():
        cells = [c.strip() for c in format_real(values[ok], digits)]
        w = max(len(c) for c in cells)
        for i, c in zip(np.flatnonzero(ok), cells, strict=True):
            out[i] = c.rjust(w)
    return out


def format_pval(pv: Sequence[float], digits: int, eps: float = EPS) -> list[str]:
    """R's `format.pval`."""
    pv = np.asarray(pv, dtype=float)
    is0 = pv < eps
    out = [""] * len(pv)
    rr: list[str] = []
    if (~is0).any():
        vals = pv[~is0]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -3) | (vals == 0)
        rr = [""] * len(vals)
        for mask in (fixp, ~fixp):
            if mask.any():
                cells = format_real(vals[mask], digits)
                for i, c in zip(np.flatnonzero(mask), cells, strict=True):
                    rr[i] = c
        for i, c in zip(np.flatnonzero(~is0), rr, strict=True):
            out[i] = c
    if is0.any():
        d = max(1, digits - 2)
        if (~is0).any():
            nc = max(len(c) for c in rr)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + format_real([eps], d)[0].strip()
        for i in np.flatnonzero(is0):
            out[i] = text
    return out


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def print_coefmat(x: pd.DataFrame, digits: int, cs_ind: Sequence[int] | None = None,
                  tst_ind: Sequence[int] | None = None, zap_ind: Sequence[int] = (),
                  has_pvalue: bool | None = None, na_print: str = "NA",
                  signif_stars: bool = True) -> str:
    """R's `printCoefmat` for a data frame (0-based column indices)."""
    xm = x.to_numpy(dtype=float).copy()
    nr, nc = xm.shape
    cn = list(x.columns)
    if has_pvalue is None:
        has_pvalue = nc >= 4 and cn[-1][:3] in ("Pr(", "p-v")
    k = nc - int(has_pvalue) - (1 if tst_ind is None else len(tst_ind))
    cs = list(range(k)) if cs_ind is None else list(cs_ind)
    tst = [k] if tst_ind is None else list(tst_ind)
    dig_tst = max(1, min(5, digits - 1))
    cells = [["" for _ in range(nc)] for _ in range(nr)]
    ina = np.isnan(xm)
    for j in zap_ind:
        xm[:, j] = _zapsmall(xm[:, j], digits)
    if cs:
        acs = np.abs(xm[:, cs])
        fin = acs[np.isfinite(acs) & (acs != 0)]
        if np.isfinite(acs).any():
            digmin = 1 + (math.floor(math.log10(fin.min())) if len(fin) else 0)
            vals = np.round(xm[:, cs], max(1, digits - digmin))
            f = _fmt(vals.T.ravel(), digits)
            for jj, j in enumerate(cs):
                for i in range(nr):
                    cells[i][j] = f[jj * nr + i]
    if tst:
        f = _fmt(np.round(xm[:, tst], dig_tst).T.ravel(), digits)
        for jj, j in enumerate(tst):
            for i in range(nr):
                cells[i][j] = f[jj * nr + i]
    pcol = nc - 1 if has_pvalue else -1
    for j in range(nc):
        if j in cs or j in tst or j == pcol:
            continue
        f = _fmt(xm[:, j], digits)
        for i in range(nr):
            cells[i][j] = f[i]
    fix = [(i, j) for i in range(nr) for j in range(nc)
           if j not in tst and j != pcol and not ina[i, j] and cells[i][j].strip()
           and (xm[i, j] == 0) != (float(cells[i][j]) == 0)]
    if fix:
        f = _fmt(np.array([xm[i, j] for i, j in fix]), max(1, digits - 1))
        for (i, j), c in zip(fix, f, strict=True):
            cells[i][j] = c
    for i in range(nr):
        for j in range(nc):
            if ina[i, j]:
                cells[i][j] = na_print
    names = list(cn)
    show_stars = False
    if has_pvalue:
        okp = ~ina[:, pcol]
        if okp.any():
            pv = xm[:, pcol]
            f = format_pval(pv[okp], dig_tst)
            for i, c in zip(np.flatnonzero(okp), f, strict=True):
                cells[i][pcol] = c
            show_stars = signif_stars and bool(np.any(pv[okp] < 0.1))
            if show_stars:
                st = [_stars(p) if ok else "" for p, ok in zip(pv, okp, strict=True)]
                w = max(len(s) for s in st)
                for i in range(nr):
                    cells[i].append(st[i].ljust(w))
                names.append("")
    text = print_matrix(cells, names, [str(r) for r in x.index], right=True)
    if show_stars:
        text += "\n---\nSignif. codes:  " + LEGEND
    return text


def print_anova(table: pd.DataFrame, heading: Sequence[str] = (), digits: int = 5) -> str:
    """R's `print.anova`: heading lines, then printCoefmat with the statistics columns
    (`F value`, `Chisq`, ...) as test columns and `Df` columns unzapped."""
    cn = list(table.columns)
    nc = len(cn)
    has_p = cn[-1].startswith("Pr(") or cn[-1].startswith("P(")
    zap = list(range(nc - 1 if has_p else nc))
    tst = [j for j, c in enumerate(cn) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(cn) if c in ("F", "Cp", "Chisq")]
    zap = [j for j in zap if j not in tst]
    zap = [j for j in zap if not cn[j].endswith("Df")]
    body = print_coefmat(table, digits, cs_ind=[], tst_ind=tst, zap_ind=zap,
                         has_pvalue=has_p, na_print="")
    return "\n".join([*heading, body])


def method_title(title: str, cls: str, width: int = WIDTH) -> str:
    """lme4's `.prt.methTit`: 'title [class]', wrapped with cat(fill = TRUE) when long."""
    if len(title) + 5 + len(cls) <= width:
        return f"{title} ['{cls}']"
    parts = textwrap.wrap(title, width=width - 2, subsequent_indent="  ",
                          break_long_words=False, break_on_hyphens=False)
    items = [*parts, " [", cls, "]"]
    lines, cur = [], ""
    for it in items:
        if cur and len(cur) + len(it) > width:
            lines.append(cur)
            cur = it
        else:
            cur += it
    lines.append(cur)
    return "\n".join(lines)
