"""Printed layout of the lmerTest summary and the anova tables (R 4.2.2 output)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_refs import fit_case

import mixedfx as mfx
from mixedfx.rformat import format_pval, method_title, print_coefmat

SLEEP_FIXED = "\n".join([
    'Fixed effects:',
    '            Estimate Std. Error      df t value Pr(>|t|)    ',
    '(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***',
    'Days          10.467      1.546  17.000   6.771 3.26e-06 ***',
    '---',
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1',
])

ORTHO_ANOVA = "\n".join([
    "Type III Analysis of Variance Table with Satterthwaite's method",
    '         Sum Sq Mean Sq NumDF  DenDF  F value Pr(>F)    ',
    'age     208.266 208.266     1  79.00 108.3559 <2e-16 ***',
    'Sex       0.866   0.866     1 103.99   0.4507 0.5035    ',
    'age:Sex  12.114  12.114     1  79.00   6.3027 0.0141 *  ',
    '---',
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1',
])

ORTHO_TYPE1 = "\n".join([
    "Type I Analysis of Variance Table with Satterthwaite's method",
    '         Sum Sq Mean Sq NumDF DenDF  F value    Pr(>F)    ',
    'age     235.356 235.356     1    79 122.4502 < 2.2e-16 ***',
    'Sex      17.860  17.860     1    25   9.2921  0.005375 ** ',
    'age:Sex  12.114  12.114     1    79   6.3027  0.014097 *  ',
    '---',
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1',
])

LRT_TABLE = "\n".join([
    'Data: sleepstudy',
    'Models:',
    'm0: Reaction ~ Days + (1 | Subject)',
    'm1: Reaction ~ Days + (Days | Subject)',
    '   npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)    ',
    'm0    4 1802.1 1814.8 -897.04   1794.1                         ',
    'm1    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 ***',
    '---',
    'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1',
])


def test_summary_title_and_fixed_effects() -> None:
    m = fit_case("sleepstudy_slope_reml").model
    text = str(m.summary())
    assert text.startswith("Linear mixed model fit by REML. t-tests use Satterthwaite's "
                           "method [\nlmerModLmerTest]\n")
    assert SLEEP_FIXED in text
    kr = str(m.summary(ddf="Kenward-Roger"))
    assert kr.startswith("Linear mixed model fit by REML. t-tests use Kenward-Roger's")
    plain = m.summary(ddf="none")
    assert list(plain.coefficients.columns) == ["Estimate", "Std. Error", "t value"]
    assert str(plain).startswith("Linear mixed model fit by REML ['lmerMod']")


def test_ml_title_wraps_like_r() -> None:
    m = fit_case("sleepstudy_slope_ml").model
    assert m.summary().title() == ("Linear mixed model fit by maximum likelihood . t-tests use "
                                   "Satterthwaite's\n  method [lmerModLmerTest]")
    assert method_title("short", "cls") == "short ['cls']"


def test_anova_tables_print_like_r() -> None:
    m = mfx.lmer("distance ~ age * Sex + (1 | Subject)", mfx.datasets.load("Orthodont"))
    assert str(m.anova()) == ORTHO_ANOVA
    assert str(m.anova(type=1)) == ORTHO_TYPE1


def test_lrt_table_prints_like_lme4() -> None:
    d = mfx.datasets.load("sleepstudy")
    m0 = mfx.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    m1 = mfx.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    assert str(mfx.anova(m0, m1)) == LRT_TABLE


def test_format_pval() -> None:
    assert format_pval([1e-20], 3) == ["<2e-16"]
    assert format_pval([1.2e-17, 3.2638e-06], 3) == ["< 2e-16", "3.26e-06"]
    assert format_pval([0.0141, 1.7e-16, 0.5035], 4) == ["0.0141", "<2e-16", "0.5035"]


def test_print_coefmat_na_and_zap() -> None:
    t = pd.DataFrame({"x": [1.0, np.nan], "Pr(>F)": [0.5, np.nan]}, index=["a", "b"])
    out = print_coefmat(t, 5, cs_ind=[], tst_ind=[], zap_ind=[0], na_print="")
    assert out.splitlines()[2].strip() == "b"
