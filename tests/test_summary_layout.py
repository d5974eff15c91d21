"""``str(m.summary())`` is laid out like lme4's ``summary()`` (sleepstudy, REML).

lme4 1.1-31 prints::

    Linear mixed model fit by REML ['lmerMod']
    Formula: Reaction ~ Days + (Days | Subject)
       Data: d

    REML criterion at convergence: 1743.6

    Scaled residuals:
        Min      1Q  Median      3Q     Max
    -3.9536 -0.4634  0.0231  0.4634  5.1793

    Random effects:
     Groups   Name        Variance Std.Dev. Corr
     Subject  (Intercept) 612.10   24.741
              Days         35.07    5.922   0.07
     Residual             654.94   25.592
    Number of obs: 180, groups:  Subject, 18

    Fixed effects:
                Estimate Std. Error t value
    (Intercept)  251.405      6.825  36.838
    Days          10.467      1.546   6.771

    Correlation of Fixed Effects:
         (Intr)
    Days -0.138

The expected lines are rebuilt here from the reference values of the case (never from mixedfx),
formatted as lme4 formats them: variances and SDs with ``format(x, digits = 4)`` (a common
number of decimals per column), correlations with two decimals, the REML criterion with one,
fixed-effect correlations with three. With Satterthwaite df lmerTest's header
(``... [lmerModLmerTest]``) and extra ``df`` / ``Pr(>|t|)`` columns are accepted as well.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:
    from reference import cases
except ImportError:  # pytest run with --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference import cases

CASE_ID = "sleepstudy_slope_reml"


@pytest.fixture(scope="module")
def case() -> dict[str, Any]:
    return cases.load_case(CASE_ID)


@pytest.fixture(scope="module")
def summary_text(case: dict[str, Any]) -> str:
    import mixedfx as mfx

    data = cases.load_data(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mfx.lmer(case["formula"], data=data, REML=True)
    text = str(m.summary())
    assert isinstance(text, str)
    return text


# --------------------------------------------------------------------------------------------
# expected lines
# --------------------------------------------------------------------------------------------
Matcher = Callable[[str], bool]


def exact(line: str) -> tuple[str, Matcher]:
    """The line, with trailing blanks ignored."""
    return line, lambda got: got.rstrip() == line.rstrip()


def tokens(*toks: str) -> tuple[str, Matcher]:
    """A line made of these blank-separated fields (column widths not checked)."""
    return " ".join(toks), lambda got: got.split() == list(toks)


def printed_close(text: str, value: float, min_sig: int) -> bool:
    """``text`` is ``value`` rounded to the printed decimals, with >= min_sig significant digits."""
    try:
        number = float(text)
        decimals = cases.printed_decimals(text)
    except ValueError:
        return False
    digits = re.sub(r"[^0-9]", "", text).lstrip("0")
    if len(digits) < min_sig:
        return False
    return abs(number - value) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


def coef_row(name: str, estimate: float, se: float) -> tuple[str, Matcher]:
    """A fixed-effects row: name, estimate, standard error, then whatever columns follow."""

    def match(got: str) -> bool:
        if not got.startswith(name):
            return False
        fields = got[len(name) :].split()
        return (
            len(fields) >= 3
            and printed_close(fields[0], estimate, 4)
            and printed_close(fields[1], se, 4)
        )

    return f"{name} {estimate:.6g} {se:.6g} ...", match


def expected_lines(case: dict[str, Any]) -> list[tuple[str, Matcher]]:
    e = case["expected"]
    vc = e["varcorr"]
    variances = cases.r_format([r["vcov"] for r in vc if r["var2"] is None], 4)
    sds = cases.r_format([r["sdcor"] for r in vc if r["var2"] is None], 4)
    var_rows = [r for r in vc if r["var2"] is None]
    corr = {(r["var1"], r["var2"]): r["sdcor"] for r in vc if r["var2"] is not None}

    # random-effects table: one line per variance row, correlations with earlier terms
    re_lines: list[tuple[str, Matcher]] = []
    previous: list[str] = []
    last_grp = None
    for row, var, sd in zip(var_rows, variances, sds, strict=True):
        if row["grp"] == "Residual":
            re_lines.append(tokens("Residual", var, sd))
            continue
        lead = [row["grp"]] if row["grp"] != last_grp else []
        if row["grp"] != last_grp:
            previous = []
        corrs = [f"{corr[(p, row['var1'])]:.2f}" for p in previous]
        re_lines.append(tokens(*lead, row["var1"], var, sd, *corrs))
        previous.append(row["var1"])
        last_grp = row["grp"]

    groups = ", ".join(f"{g}, {n}" for g, n in e["ngrps"].items())
    names = list(e["fixef"])
    fixed_rows = [coef_row(n, e["fixef"][n], e["fixef_se"][n]) for n in names]
    v = np.array(e["vcov"]["matrix"], dtype=float)
    d = np.sqrt(np.diag(v))
    fcorr = v / np.outer(d, d)
    corr_rows = [
        tokens(names[i], *(f"{fcorr[i, j]:.3f}" for j in range(i))) for i in range(1, len(names))
    ]

    return [
        exact(f"Formula: {case['formula']}"),
        exact(f"REML criterion at convergence: {e['reml_criterion']:.1f}"),
        exact("Scaled residuals:"),
        exact("Random effects:"),
        exact(" Groups   Name        Variance Std.Dev. Corr"),
        *re_lines,
        exact(f"Number of obs: {e['nobs']}, groups:  {groups}"),
        exact("Fixed effects:"),
        *fixed_rows,
        exact("Correlation of Fixed Effects:"),
        *corr_rows,
    ]


HEADER = re.compile(
    r"^Linear mixed model fit by REML\b[^\[]*\[\s*'?lmerMod(?:LmerTest)?'?\s*\]", re.MULTILINE
)


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------
def test_expected_lines_match_lme4_formatting(case: dict[str, Any]) -> None:
    """The rebuilt random-effects lines are those lme4 prints (see the module docstring)."""
    lines = [text for text, _ in expected_lines(case)]
    assert "Subject (Intercept) 612.10 24.741" in lines
    assert "Days 35.07 5.922 0.07" in lines
    assert "Residual 654.94 25.592" in lines
    assert "Days -0.138" in lines


def test_header(summary_text: str) -> None:
    first = summary_text.lstrip("\n")
    m = HEADER.match(first)
    assert m is not None, f"header not lme4's:\n{first[:200]}"


def test_sections_in_order(case: dict[str, Any], summary_text: str) -> None:
    header = HEADER.search(summary_text)
    assert header is not None, "no 'Linear mixed model fit by REML [...]' header"
    lines = summary_text[header.end() :].splitlines()
    pos = 0
    for description, match in expected_lines(case):
        for i in range(pos, len(lines)):
            if match(lines[i]):
                pos = i + 1
                break
        else:
            shown = "\n".join(lines)
            raise AssertionError(
                f"line {description!r} not found (in order) in the summary:\n{shown}"
            )
