"""Invariances of models with nlme residual structures (issue 18, part 4): `lmer` with
`weights=`/`correlation=` (lmm.structured) and `gls` (gls_engine) give the same loglik, fixef,
θ, structure parameters, SEs and σ to 1e-10 (relative) when the rows are shuffled the way R
treats as the same model, the levels are relabelled in the same (R's) order, the columns are
renamed and an unused column is added: the criterion runs over the rows in the canonical order
of `lmm.row_order.structured_rows`. For a correlation form with a time covariate every
shuffle is the same model; for an order-based form (`~ 1 | g`) nlme takes the rows of a group
in the data's order, so only shuffles that keep each group's order (groups shuffled and
interleaved) are."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx

TOL = 1e-10


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _orthodont() -> pd.DataFrame:
    d = mfx.datasets.load("Orthodont").copy()
    d["occasion"] = (d["age"] - 6) / 2              # 1, 2, 3, 4
    return d


# name: (function, formula, keyword -> structure maker taking the column renaming,
#        correlation form is order-based)
MODELS = {
    "lmer_ar1_time_ident": (
        "lmer", "distance ~ age + Sex + (1 | Subject)",
        lambda r: {"weights": mfx.var_ident(f"~ 1 | {r('Sex')}"),
                   "correlation": mfx.cor_ar1(f"~ {r('occasion')} | {r('Subject')}")}, False),
    "lmer_ar1_order": (
        "lmer", "distance ~ age + (1 | Subject)",
        lambda r: {"correlation": mfx.cor_ar1(f"~ 1 | {r('Subject')}")}, True),
    "lmer_power": (
        "lmer", "distance ~ age + (age | Subject)",
        lambda r: {"weights": mfx.var_power(f"~ {r('age')}")}, False),
    "gls_car1_ident": (
        "gls", "distance ~ age * Sex",
        lambda r: {"weights": mfx.var_ident(f"~ 1 | {r('Sex')}"),
                   "correlation": mfx.cor_car1(f"~ {r('age')} | {r('Subject')}")}, False),
    "gls_cs_order": (
        "gls", "distance ~ age + Sex",
        lambda r: {"correlation": mfx.cor_comp_symm(f"~ 1 | {r('Subject')}")}, True),
    "gls_symm": (
        "gls", "distance ~ age",
        lambda r: {"correlation": mfx.cor_symm(f"~ {r('occasion')} | {r('Subject')}"),
                   "weights": mfx.var_ident(f"~ 1 | {r('Sex')}")}, False),
}


def _structure_params(m) -> list[float]:
    out: list[float] = []
    for name in ("var_struct", "cor_struct"):
        s = getattr(m, name)
        s = s() if callable(s) else s
        if s is not None:
            out += list(s.params.to_numpy())
    return out


def _numbers(m) -> np.ndarray:
    se = np.sqrt(np.diag(np.asarray(m.vcov, dtype=float)))
    theta = list(getattr(m, "theta", []))
    fixef = getattr(m, "fixef", None)
    beta = (fixef if fixef is not None else m.coef).to_numpy()
    return np.concatenate([[m.loglik], beta, theta, _structure_params(m), se, [m.sigma]])


def _fit(kind: str, formula: str, d: pd.DataFrame, kw: dict):
    return _quiet(getattr(mfx, kind), formula, d, **kw)


def _close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL * np.max(np.abs(b)))


def _group_order_keeping_shuffle(groups: pd.Series, seed: int) -> np.ndarray:
    """A permutation of the rows that shuffles and interleaves the groups but keeps the
    order of the rows within each group."""
    rng = np.random.default_rng(seed)
    slots = rng.permutation(len(groups))
    codes = pd.factorize(groups)[0]
    for c in np.unique(codes):
        rows = np.flatnonzero(codes == c)
        slots[rows] = np.sort(slots[rows])
    return np.argsort(slots)


@pytest.fixture(scope="module", params=list(MODELS))
def base(request):
    kind, formula, structures, order_based = MODELS[request.param]
    d = _orthodont()
    kw = structures(lambda c: c)
    return kind, formula, structures, order_based, d, _fit(kind, formula, d, kw)


def test_row_shuffles(base) -> None:
    kind, formula, structures, order_based, d, m0 = base
    for seed in (1, 2):
        if order_based:
            perm = _group_order_keeping_shuffle(d["Subject"], seed)
        else:
            perm = np.random.default_rng(seed).permutation(len(d))
        assert not np.array_equal(perm, np.arange(len(d)))
        m = _fit(kind, formula, d.iloc[perm], structures(lambda c: c))
        _close(_numbers(m), _numbers(m0))
        fitted = pd.Series(np.asarray(m.fitted()), index=d.index[perm])
        np.testing.assert_allclose(fitted.loc[d.index].to_numpy(), np.asarray(m0.fitted()),
                                   rtol=1e-9)


def test_relabelled_levels_renamed_columns_and_an_unused_column(base) -> None:
    kind, formula, structures, _, d, m0 = base
    d2 = d.copy()
    for g in ("Subject", "Sex"):
        s = d2[g]
        d2[g] = s.cat.rename_categories([f"L{c}" for c in s.cat.categories])
    d2 = d2.assign(unused=np.arange(len(d2)) % 7)
    rename = {c: f"{c}_new" for c in d2.columns if c != "unused"}
    d2 = d2.rename(columns=rename)
    pattern = r"\b(" + "|".join(map(re.escape, rename)) + r")\b"
    f2 = re.sub(pattern, lambda mt: rename[mt.group(1)], formula)
    m = _fit(kind, f2, d2, structures(lambda c: rename[c]))
    a, b = _numbers(m), _numbers(m0)
    _close(a, b)


def test_a_shuffle_within_an_order_based_group_is_another_model() -> None:
    """For `~ 1 | g` the within-group order is part of the model (nlme's positions): the
    canonical order keeps it, so swapping each subject's first two rows changes the AR(1)
    fit."""
    d = _orthodont()
    kw = {"correlation": mfx.cor_ar1("~ 1 | Subject")}
    m0 = _fit("gls", "distance ~ age", d, kw)
    swapped = np.arange(len(d)).reshape(-1, 4)[:, [1, 0, 2, 3]].ravel()
    m = _fit("gls", "distance ~ age", d.iloc[swapped], kw)
    assert abs(m.loglik - m0.loglik) > 1e-6 * abs(m0.loglik)
