"""Invariances of mixed models (issue 18, part 4): row shuffles, relabelled levels that keep
R's level order, renamed columns and an unused extra column change the loglik, fixef, θ and
standard errors by ≤ 1e-10 (relative) for LMMs and ≤ 1e-7 for GLMMs: the cross-products and
PIRLS's sums are accumulated in the model's canonical row order (`lmm.row_order`).
Row-wise outputs keep the user's rows."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.lmm.row_order import canonical_rows

TOL = {"lmer": 1e-10, "glmer": 1e-7}


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _weighted() -> pd.DataFrame:
    d = mfx.datasets.load("sleepstudy").copy()
    d["w"] = np.linspace(0.5, 2.0, len(d))
    return d


MODELS = {
    "slopes": ("lmer", "Reaction ~ Days + (Days | Subject)",
               lambda: mfx.datasets.load("sleepstudy"), {}),
    "crossed": ("lmer", "diameter ~ 1 + (1 | plate) + (1 | sample)",
                lambda: mfx.datasets.load("Penicillin"), {}),
    "nested": ("lmer", "strength ~ 1 + (1 | batch/cask)", lambda: mfx.datasets.load("Pastes"),
               {}),
    "weighted": ("lmer", "Reaction ~ Days + (1 | Subject)", _weighted, {"weights": "w"}),
    "cbpp": ("glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
             lambda: mfx.datasets.load("cbpp"), {"family": "binomial"}),
    "cbpp_agq": ("glmer", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 lambda: mfx.datasets.load("cbpp"), {"family": "binomial", "nAGQ": 9}),
    "poisson": ("glmer", "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)",
                lambda: mfx.datasets.load("grouseticks"), {"family": "poisson"}),
}


def _numbers(m) -> np.ndarray:
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    return np.concatenate([[m.loglik], m.fixef.to_numpy(), m.theta, se, [m.sigma]])


def _close(a: np.ndarray, b: np.ndarray, kind: str) -> None:
    tol = TOL[kind]
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.max(np.abs(b)))


def _relabel(d: pd.DataFrame, col: str) -> pd.DataFrame:
    """Renamed levels in the same (R's) order: prefix 'L' keeps the sort order."""
    s = d[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        return d.assign(**{col: s.cat.rename_categories([f"L{c}" for c in s.cat.categories])})
    return d.assign(**{col: "L" + s.astype(str)})


@pytest.fixture(scope="module", params=list(MODELS))
def base(request):
    kind, formula, data, kw = MODELS[request.param]
    d = data()
    fit = getattr(mfx, kind)
    return kind, fit, formula, d, kw, _quiet(fit, formula, d, **kw)


def test_row_shuffles(base) -> None:
    kind, fit, formula, d, kw, m0 = base
    for seed in (1, 2):
        perm = np.random.default_rng(seed).permutation(len(d))
        m = _quiet(fit, formula, d.iloc[perm], **kw)
        _close(_numbers(m), _numbers(m0), kind)
        # row-wise results are in the user's (shuffled) rows
        fitted = pd.Series(np.asarray(m.fitted()), index=d.index[perm])
        np.testing.assert_allclose(fitted.loc[d.index].to_numpy(), np.asarray(m0.fitted()),
                                   rtol=1e-9)


def test_relabelled_levels_renamed_columns_and_an_unused_column(base) -> None:
    kind, fit, formula, d, kw, m0 = base
    groups = [c for c in d.columns if c in formula.split("|", 1)[1]]
    d2 = d
    for g in groups:
        d2 = _relabel(d2, g)
    d2 = d2.assign(unused=np.arange(len(d2)) % 7)
    rename = {c: f"{c}_new" for c in d2.columns if c != "unused"}
    d2 = d2.rename(columns=rename)
    pattern = r"\b(" + "|".join(map(re.escape, rename)) + r")\b"
    f2 = re.sub(pattern, lambda mt: rename[mt.group(1)], formula)
    kw2 = {k: rename.get(v, v) if isinstance(v, str) and k == "weights" else v
           for k, v in kw.items()}
    m = _quiet(fit, f2, d2, **kw2)
    _close(_numbers(m), _numbers(m0), kind)


def test_canonical_order_ignores_the_row_order() -> None:
    d = mfx.datasets.load("sleepstudy")
    m = _quiet(mfx.lmer, "Reaction ~ Days + (Days | Subject)", d)
    fr = m.frame
    perm = np.random.default_rng(0).permutation(len(d))
    t = fr.terms[0]
    a = canonical_rows([t], fr.X, fr.y)
    from dataclasses import replace

    b = canonical_rows([replace(t, codes=t.codes[perm], values=t.values[perm])],
                       fr.X[perm], fr.y[perm])
    np.testing.assert_array_equal(fr.y[a], fr.y[perm][b])


@pytest.mark.parametrize(("kind", "formula", "data", "col", "kw"), [
    ("lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy", "Days", {}),
    ("glmer", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "grouseticks",
     "cHEIGHT", {"family": "poisson"}),
])
def test_rescaled_covariate_moves_a_fit_only_with_a_convergence_warning(
        kind: str, formula: str, data: str, col: str, kw: dict) -> None:
    """x → 1000·x is the same model; an ill-conditioned rescaled fit may end elsewhere, but
    then with lme4's convergence warning (as lme4: 'Rescale variables?')."""
    d = mfx.datasets.load(data)
    fit = getattr(mfx, kind)
    m0 = _quiet(fit, formula, d, **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = fit(formula, d.assign(**{col: d[col] * 1e3}), **kw)
    warned = any(issubclass(w.category, mfx.ConvergenceWarning) for w in caught)
    if abs(m.loglik - m0.loglik) > TOL[kind] * abs(m0.loglik):
        assert warned


def test_lexicographic_order_is_numpys_lexsort_with_the_tied_runs() -> None:
    """Folded integer codes give lexsort's permutation (stable among full ties) whatever
    the keys: integer codes, floats with ties, constant columns, signed zeros, whole-number
    floats below and beyond the row count (taken as their own ranks below it)."""
    from mixedfx.lmm.row_order import lexicographic_order

    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        keys = []
        for kind in rng.integers(0, 8, int(rng.integers(1, 5))):
            keys.append([rng.integers(0, 4, n), rng.integers(0, 3, n) * 0.5 - 0.5,
                         np.ones(n), rng.standard_normal(n),
                         np.where(rng.random(n) < 0.5, -0.0, 0.0),
                         rng.integers(0, 2, n).astype(float), np.full(n, 3.0),
                         rng.integers(0, 2 * n + 2, n) * 1.0][kind])
        order, starts = lexicographic_order(keys)
        want = np.lexsort(keys[::-1])
        assert np.array_equal(order, want)
        K = np.column_stack([np.asarray(k, dtype=float) for k in keys])[want]
        assert np.array_equal(starts, np.r_[True, np.any(K[1:] != K[:-1], axis=1)])


def test_small_models_sort_all_keys_at_once_for_the_same_order(monkeypatch) -> None:
    """Up to SMALL_ROWS rows `canonical_rows` takes one np.lexsort; the folded codes give the
    same permutation (cbpp: codes, dummies, proportions, trials; sleepstudy: a slope)."""
    import mixedfx.lmm.row_order as ro

    for fit, formula, data, kw in [
            (mfx.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp",
             {"family": "binomial"}),
            (mfx.lmer, "Reaction ~ Days + (Days | Subject)", "sleepstudy", {})]:
        d = mfx.datasets.load(data)
        fr = _quiet(fit, formula, d, **kw).frame
        y = np.asarray(fr.y, dtype=float).reshape(len(fr.X), -1)
        cols = [y[:, j] for j in range(y.shape[1])]
        perm = np.random.default_rng(3).permutation(len(fr.X))[::-1].copy()
        from dataclasses import replace

        terms = [replace(t, codes=t.codes[perm], values=t.values[perm]) for t in fr.terms]
        args = (terms, fr.X[perm], *[c[perm] for c in cols])
        assert len(fr.X) <= ro.SMALL_ROWS
        small = ro.canonical_rows(*args)
        monkeypatch.setattr(ro, "SMALL_ROWS", 0)
        folded = ro.canonical_rows(*args)
        monkeypatch.undo()
        np.testing.assert_array_equal(small, folded)
        assert not np.array_equal(small, np.arange(len(small)))
