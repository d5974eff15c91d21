"""Notebook display (issue 23 item 9): a fitted model's `_repr_html_` holds the summary's
tables — fit statistics, random effects, fixed effects with df and p — and the numbers in
the cells are R's (reference cases recorded with lme4 1.1-31 / lmerTest), to the digits shown.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

import mixedfx as mfx

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


class _Tables(HTMLParser):
    """caption -> list of rows (lists of cell texts) of every <table>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self._rows = []
        elif tag == "caption":
            self._in_caption, self._caption = True, ""
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self.tables[self._caption or ""] = self._rows

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self._caption = (self._caption or "") + data
        elif self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[dict[str, str]]]:
    p = _Tables()
    p.feed(html)
    out = {}
    for caption, rows in p.tables.items():
        head = rows[0]
        out[caption] = [dict(zip(head, r, strict=True)) for r in rows[1:]]
    return out


def close(cell: str, value: float, digits: int = 4) -> bool:
    """The cell shows `value` to the significant digits displayed (at least `digits`)."""
    shown = float(cell)
    return abs(shown - value) <= 0.51 * 10 ** (len(str(abs(int(value)))) - digits) or \
        abs(shown - value) <= 5e-4 * abs(value)


@pytest.fixture(scope="module")
def sleep_case() -> tuple[str, dict]:
    case = json.loads((REFERENCE / "sleepstudy_slope_reml.json").read_text())
    m = mfx.lmer(case["formula"], mfx.datasets.load("sleepstudy"))
    return m._repr_html_(), case["expected"]


def test_lmm_fixed_effects_with_df_and_p(sleep_case: tuple[str, dict]) -> None:
    html, exp = sleep_case
    rows = {r[""]: r for r in tables(html)["Fixed effects"]}
    assert list(rows) == list(exp["fixef"])
    st = exp["satterthwaite"]
    for name, row in rows.items():
        assert close(row["Estimate"], exp["fixef"][name])
        assert close(row["Std. Error"], exp["fixef_se"][name])
        assert float(row["df"]) == pytest.approx(st["df"][name], abs=0.006)
        assert close(row["t value"], st["t"][name])
    assert rows["(Intercept)"]["Pr(>|t|)"] == "< 2e-16"          # p = 1.2e-17 in R
    assert float(rows["Days"]["Pr(>|t|)"]) == pytest.approx(st["p"]["Days"], rel=5e-3)


def test_lmm_random_effects_and_fit_statistics(sleep_case: tuple[str, dict]) -> None:
    html, exp = sleep_case
    t = tables(html)
    re_rows = t["Random effects"]
    vc = exp["varcorr"]
    assert [r["Groups"] for r in re_rows] == ["Subject", "", "Residual"]
    assert [r["Name"] for r in re_rows] == ["(Intercept)", "Days", ""]
    for row, ref in zip(re_rows, [vc[0], vc[1], vc[3]], strict=True):
        assert close(row["Variance"], ref["vcov"])
        assert close(row["Std.Dev."], ref["sdcor"])
    assert re_rows[1]["Corr"] == f"{vc[2]['sdcor']:.2f}"        # 0.07, as lme4 prints
    fit = t["Fit statistics"][0]
    assert float(fit["REML criterion"]) == pytest.approx(exp["reml_criterion"], abs=1e-3)
    assert float(fit["AIC"]) == pytest.approx(exp["aic"], abs=1e-3)
    assert float(fit["BIC"]) == pytest.approx(exp["bic"], abs=1e-3)
    assert int(fit["df.resid"]) == exp["df_residual"]
    assert "Data: sleepstudy" in html and "Number of obs: 180, groups: Subject, 18" in html


def test_glmm_z_table() -> None:
    case = json.loads((REFERENCE / "cbpp_binomial_laplace.json").read_text())
    g = mfx.glmer(case["formula"], mfx.datasets.load("cbpp"), family="binomial")
    t = tables(g._repr_html_())
    exp = case["expected"]
    rows = {r[""]: r for r in t["Fixed effects"]}
    assert list(next(iter(rows.values()))) == ["", "Estimate", "Std. Error", "z value",
                                                "Pr(>|z|)"]
    for name, row in rows.items():
        assert close(row["Estimate"], exp["fixef"][name])
        assert close(row["z value"], exp["fixef_t"][name])
        # SEs agree with lme4 to ~1e-3 (its GLMM objective is inexact): p to 1 %
        assert float(row["Pr(>|z|)"]) == pytest.approx(exp["fixef_p"][name], rel=1e-2)
    fit = t["Fit statistics"][0]
    assert float(fit["deviance"]) == pytest.approx(exp["minus2loglik"], abs=1e-3)


def test_gls_and_structures_shown() -> None:
    d = mfx.datasets.load("Orthodont")
    m = mfx.gls("distance ~ age", d, weights=mfx.var_ident("~ 1 | Sex"))
    t = tables(m._repr_html_())
    assert "Random effects" not in t
    assert [r["Parameter"] for r in t["Residual structure"]] == list(m.var_struct.params.index)
    rows = {r[""]: r for r in t["Fixed effects"]}
    assert close(rows["age"]["Value"], float(m.coefficients.loc["age", "Value"]))
