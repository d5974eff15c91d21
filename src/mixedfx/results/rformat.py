"""Number and table formatting that reproduces R's printing (format, printCoefmat, abbreviate).

`format_real` follows R's `formatReal`: every element of a vector gets the same number of
decimals, the fewest that show each element with `digits` significant digits (after dropping
trailing zeros), unless scientific notation is narrower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


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


def signif_stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def print_coefmat(table: np.ndarray, rownames: Sequence[str], colnames: Sequence[str],
                  digits: int = 4, has_pvalue: bool = False, signif_legend: bool = True,
                  n_cs: int = 2, tst_ind: Sequence[int] | None = None) -> str:
    """R's printCoefmat: estimate/SE columns, test-statistic column(s) and optional p-values."""
    table = np.asarray(table, dtype=float)
    nr, nc = table.shape
    dig_tst = max(1, min(5, digits - 1))
    cells = [["" for _ in range(nc)] for _ in range(nr)]
    cs = table[:, :n_cs]
    acs = np.abs(cs[np.isfinite(cs) & (cs != 0)])
    digmin = 1 + (math.floor(math.log10(acs.min())) if len(acs) else 0)
    rounded = r_round(cs, max(1, digits - digmin))
    formatted = format_real(rounded.T.ravel(), digits)
    for j in range(n_cs):
        for i in range(nr):
            cells[i][j] = formatted[j * nr + i]
    pcol = nc - 1 if has_pvalue else None
    tst = list(tst_ind) if tst_ind is not None else [n_cs]
    for j in range(nc):
        if j < n_cs or j == pcol:
            continue
        col = table[:, j]
        col_f = format_real(r_round(col, dig_tst), digits) if j in tst else format_real(col, digits)
        for i in range(nr):
            cells[i][j] = col_f[i]
    for i in range(nr):
        for j in range(n_cs):
            v = table[i, j]
            if v != 0 and np.isfinite(v) and float(cells[i][j]) == 0:
                cells[i][j] = format_real([v], max(1, digits - 1))[0]
    names = list(colnames)
    if has_pvalue:
        pv = format_pval(table[:, pcol], dig_tst)
        w = max(len(s) for s in pv)
        for i in range(nr):
            cells[i][pcol] = pv[i].rjust(w)
        stars = [signif_stars(v) for v in table[:, pcol]]
        if any(s.strip() for s in stars):
            for i in range(nr):
                cells[i].append(stars[i])
            names.append("")
    for j in range(len(names)):
        w = max(len(cells[i][j]) for i in range(nr)) if nr else 0
        for i in range(nr):
            cells[i][j] = cells[i][j].rjust(w) if j < nc else cells[i][j].ljust(w)
    text = print_matrix(cells, names, rownames, right=True)
    if has_pvalue and signif_legend and len(names) > nc:
        text += ("\n---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    return text


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
