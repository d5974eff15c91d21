"""Number and table formatting that reproduces R's printing: `format`, `format.pval`,
`printCoefmat`, `print.anova`, `abbreviate` and lme4's title wrapping.

`format_real` follows R's `formatReal`: every element of a vector gets the same number of
decimals, the fewest that show each element with `digits` significant digits (after dropping
trailing zeros), unless scientific notation is narrower.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd


def _sig_and_exponent(x: float, digits: int) -> tuple[int, int]:
    """(number of significant digits needed ≤ digits, decimal exponent) of x rounded."""
    if x == 0:
        return 1, 0
    mant, exp = f"{abs(x):.{digits - 1}e}".split("e")
    kpower = int(exp)
    d = mant.replace(".", "").rstrip("0")
    return max(1, len(d)), kpower


def format_real(values: Sequence[float] | np.ndarray, digits: int = 7, nsmall: int = 0,
                width: int = 0) -> list[str]:
    """R's `format(x, digits=digits, nsmall=nsmall)` for a numeric vector (common format)."""
    arr = np.asarray(values, dtype=float).ravel()
    finite = arr[np.isfinite(arr)]
    if len(finite) == 0:
        out = [_nonfinite(v) for v in arr]
        w = max([width] + [len(s) for s in out])
        return [s.rjust(w) for s in out]
    rgt = 0
    left = 1
    neg = 0
    max_sig = 1
    min_e, max_e = 0, 0
    for v in finite:
        sig, kp = _sig_and_exponent(float(v), digits)
        max_sig = max(max_sig, sig)
        min_e, max_e = min(min_e, kp), max(max_e, kp)
        rgt = max(rgt, sig - kp - 1)
        left = max(left, kp + 1 if kp >= 0 else 1)
        if v < 0:
            neg = 1
    rgt = max(rgt, 0)
    fixed_width = neg + left + (rgt + 1 if rgt > 0 else 0)
    exp_digits = 3 if max(abs(min_e), abs(max_e)) >= 100 else 2
    sci_width = neg + (max_sig + 1 if max_sig > 1 else max_sig) + 2 + exp_digits
    if fixed_width > sci_width:
        out = []
        for v in arr:
            if not math.isfinite(v):
                out.append(_nonfinite(v))
                continue
            s = f"{v:.{max_sig - 1}e}"
            mant, e = s.split("e")
            out.append(f"{mant}e{int(e):+0{exp_digits + 1}d}")
    else:
        dec = max(rgt, nsmall)
        out = [f"{v:.{dec}f}" if math.isfinite(v) else _nonfinite(v) for v in arr]
        out = [("0" + s[2:] if s.startswith("-0") and float(s) == 0 else s) for s in out]
    w = max([width] + [len(s) for s in out])
    return [s.rjust(w) for s in out]


def _nonfinite(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    return "Inf" if v > 0 else "-Inf"


def r_round(x: np.ndarray | float, digits: int) -> np.ndarray:
    """R's round: half to even on the decimal representation (close enough to numpy's)."""
    return np.round(np.asarray(x, dtype=float), digits)


def print_named_vector(names: Sequence[str], cells: Sequence[str]) -> str:
    """R's print of a named vector: common width, right-justified, trailing blank."""
    w = max([len(n) for n in names] + [len(c) for c in cells])
    top = " ".join(n.rjust(w) for n in names) + " "
    bottom = " ".join(c.rjust(w) for c in cells) + " "
    return top + "\n" + bottom


def print_matrix(cells: list[list[str]], colnames: Sequence[str], rownames: Sequence[str],
                 right: bool = False) -> str:
    """R's print of a character matrix with quote=FALSE (left-justified unless right)."""
    ncol = len(colnames)
    rw = max([len(r) for r in rownames] + [0])
    widths = [max([len(colnames[j])] + [len(row[j]) for row in cells]) for j in range(ncol)]
    just = (lambda s, w: s.rjust(w)) if right else (lambda s, w: s.ljust(w))
    lines = [" " * rw + "".join(" " + just(colnames[j], widths[j]) for j in range(ncol))]
    for name, row in zip(rownames, cells, strict=True):
        lines.append(name.ljust(rw) + "".join(" " + just(row[j], widths[j])
                                              for j in range(ncol)))
    return "\n".join(lines)


def format_pval(p: Sequence[float], digits: int, eps: float = 2.220446049250313e-16
                ) -> list[str]:
    """R's format.pval: p-values ≥ 1e-4 (1e-3 when digits = 1) formatted together in fixed
    notation, smaller ones together, values below eps as '<eps' (with a blank when the other
    cells are wide)."""
    pv = np.asarray(p, dtype=float)
    out = ["NA"] * len(pv)
    ok = np.isfinite(pv)
    is0 = ok & (pv < eps)
    rest = ok & ~is0
    if rest.any():
        vals = pv[rest]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1))
        cells = np.empty(len(vals), dtype=object)
        for group in (fixp, ~fixp):
            if group.any():
                cells[group] = [c.strip() for c in format_real(vals[group], digits)]
        for i, c in zip(np.flatnonzero(rest), cells, strict=True):
            out[i] = c
    if is0.any():
        d = max(1, digits - 2)
        if rest.any():
            nc = max(len(out[i]) for i in np.flatnonzero(rest))
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + format_real([eps], d)[0].strip()
        for i in np.flatnonzero(is0):
            out[i] = text
    return out


_VOWELS = set("aeiou")


def abbreviate(name: str, minlength: int = 6) -> str:
    """R's abbreviate(): drop lower-case vowels, then lower-case letters, from the right
    (never the first character of a word) until the name fits."""
    chars = list(name.strip())
    if len(chars) <= minlength:
        return "".join(chars)

    def droppable(i: int, pool: set[str] | None) -> bool:
        if i == 0 or chars[i - 1] == " ":
            return False
        c = chars[i]
        return c in _VOWELS if pool is not None else c.islower()

    for pool in (_VOWELS, None):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if droppable(i, pool):
                del chars[i]
            i -= 1
    if len(chars) > minlength:
        chars = [c for c in chars if c != " "]
    return "".join(chars[:max(minlength, 0)] if len(chars) > minlength else chars)


EPS = float(np.finfo(float).eps)
LEGEND = "0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"
WIDTH = 80


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R 4.2's `zapsmall`: round to digits − log10(max |x|) decimals (R rounds that count
    half up); non-finite values are ignored for the maximum."""
    x = np.asarray(x, dtype=float)
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
        xm[:, j] = zapsmall(xm[:, j], digits)
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


LME4_OPTIMIZER_NAMES = {"bobyqa": "nloptwrap", "nelder_mead": "Nelder_Mead"}


def convergence_footer(optimizer: str, converged: bool, messages: list[str]) -> list[str]:
    """lme4's `.prt.warn` lines under a summary: the optimizer's convergence code, then the
    convergence and singularity messages (nothing when there are none)."""
    if not messages and converged:
        return []
    name = LME4_OPTIMIZER_NAMES.get(optimizer, optimizer)
    code = "0 (OK)" if converged else "1 (failure)"
    return [f"optimizer ({name}) convergence code: {code}", *messages]
